"""A real Redis Cluster on this machine, run through the same scripts as the pods.

`primaries x (1 + replicas)` redis-server processes listen on loopback addresses (127.0.0.x),
each with its own data directory. Every node is started by `scripts/start.sh`, the containers'
entrypoint, and the cluster is formed by `scripts/bootstrap.sh`, the bootstrap Job's script: what
the lab proves about them holds for the pods.

What differs from a pod, on purpose:
- maxmemory: the rendered file sizes it for the production container (gigabytes); the lab passes
  `--maxmemory <memory>` after it (start.sh appends extra arguments last, so they win), and a
  1 MiB replication backlog, which counts toward maxmemory.
- name resolution: the nodes announce stable host names like in Kubernetes, but there is no DNS
  for them here. The lab writes them into a hosts file and points REDIS_HOSTS_FILE at it; the
  scripts read that file before asking the system resolver. Python clients get the addresses
  through redis-py's `address_remap`. The command line (`python -m lab`) makes the
  nodes redirect clients to IPs instead (`cluster-preferred-endpoint-type ip`) so that a plain
  `redis-cli -c` can follow redirects.

As a library (tests, benchmarks): `with RedisLab(conf_text) as lab: ...` starts the cluster and
removes every process and file on exit. A lab can also outlive its process: `lab.save()` writes
its state (`lab.json`) into its directory and `RedisLab.load(directory)` takes the running nodes
over by their pids — what the command line (`python -m lab`, lab/__main__.py) does between calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, cast

import redis
from redis.cluster import RedisCluster

from cachectl.topology import ClusterEntry, key_in_ranges, parse_cluster_nodes
from components.redis.acl import OPERATOR, USERS, render_acl_rules
from stackconfig import adr
from stackconfig.sharding import SLOT_COUNT

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "components" / "redis" / "scripts"
BUS_PORT_OFFSET = 10000
_PORT_RANGE = (20000, 30000)
STATE_FILE = "lab.json"
"""The lab's state in its directory: options, nodes, addresses and pids."""
_STATE_VERSION = 1


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says what and includes the node's log."""


class NodeProcess(Protocol):
    """What the lab needs of a node's process: a child it started (subprocess.Popen) or one an
    earlier lab process started (AdoptedProcess)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class AdoptedProcess:
    """A redis-server started by another process (an earlier `python -m lab` call), by pid.

    It is not this process's child, so liveness comes from the system: the pid exists, is not a
    zombie, and still runs redis-server (a recycled pid is someone else's process).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._exited = False

    def _alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return False
        if not Path("/proc/self").exists():
            return True  # no procfs to look closer: the pid exists
        proc = Path("/proc") / str(self.pid)
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (proc / "cmdline").read_bytes()
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X") and b"redis-server" in command

    def poll(self) -> int | None:
        if not self._exited and not self._alive():
            self._exited = True
        return -1 if self._exited else None

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
            time.sleep(0.02)
        return -1


@dataclass
class LabNode:
    """One redis-server of the lab."""

    index: int
    hostname: str
    """The stable name the node announces (its pod DNS name in Kubernetes)."""
    host: str
    """The loopback address it listens on now; `restart(node, host=...)` changes it."""
    port: int
    data_dir: Path
    runtime_dir: Path
    log_path: Path
    process: NodeProcess | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        """The redis-server process id while it runs (start.sh execs into redis-server)."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    @property
    def dir(self) -> Path:
        """The node's data directory (AOF, RDB, nodes.conf): what a pod's volume holds."""
        return self.data_dir

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def name(self) -> str:
        """host name and port, as the bootstrap Job lists the node."""
        return f"{self.hostname}:{self.port}"

    @property
    def pod_name(self) -> str:
        """`redis-<index>`, the name of the pod this node stands for."""
        return self.hostname.split(".", 1)[0]


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_node_port(host: str = "127.0.0.1", taken: Collection[int] = ()) -> int:
    """A client port that is free on `host` together with its cluster bus port (port + 10000)."""
    generator = secrets.SystemRandom()
    for _ in range(200):
        port = generator.randrange(*_PORT_RANGE)
        if port in taken:
            continue
        if _port_is_free(host, port) and _port_is_free(host, port + BUS_PORT_OFFSET):
            return port
    raise LabError(f"no free port pair found on {host} in {_PORT_RANGE}")


def _find_tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/usr/local/bin")
    if found is None:
        raise LabError(f"'{name}' is not installed; the lab needs redis-server and redis-cli")
    return found


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class RedisLab:
    """A local Redis Cluster started through start.sh and formed by bootstrap.sh."""

    def __init__(
        self,
        conf_text: str,
        *,
        primaries: int = 3,
        replicas: int = 1,
        memory: str | None = "64mb",
        base_dir: Path | None = None,
        require_password: bool = True,
        client_endpoint: Literal["hostname", "ip"] = "hostname",
        extra_args: Sequence[str] = (),
        first_host: str = "127.0.0.1",
        ports: Sequence[int] | None = None,
        acl_users: bool = False,
    ) -> None:
        """`memory` overrides maxmemory (None keeps the file's); `extra_args` are appended to
        every node's redis-server command line (e.g. `--appendonly no` for a comparison);
        `require_password=False` starts the nodes without one, for tools such as
        redis-benchmark that can only take a password on their command line; `ports` (one per
        node) instead of free ones picked now.
        `acl_users=True`
        runs the pods' ACL mode: `default` off, one user per kind of client (components/redis/
        acl.py) with its own password file; the lab's clients and scripts connect as `operator`."""
        if primaries < 1 or replicas < 0:
            raise ValueError("primaries must be >= 1 and replicas >= 0")
        self.conf_text = conf_text
        self.primaries = primaries
        self.replicas = replicas
        self.memory = memory
        self.require_password = require_password
        self.client_endpoint = client_endpoint
        self.extra_args = tuple(extra_args)
        self._owns_dir = base_dir is None
        self.base_dir = (
            Path(tempfile.mkdtemp(prefix="redis-lab-")) if base_dir is None else base_dir
        )
        self.conf_path = self.base_dir / "redis.conf"
        self.acl_users = acl_users
        self.users_dir = self.base_dir / "users"
        self.acl_rules_path = self.base_dir / "users.acl"
        self.password_path = (
            self.users_dir / OPERATOR.name if acl_users else self.base_dir / "password"
        )
        self.hosts_path = self.base_dir / "hosts"
        self._sh = _find_tool("sh")
        self._redis_server = _find_tool("redis-server")
        self._redis_cli = _find_tool("redis-cli")
        self._lock = threading.Lock()
        node_count = primaries * (1 + replicas)
        if ports is not None and len(ports) != node_count:
            raise ValueError(f"need {node_count} ports, got {len(ports)}")
        taken: set[int] = set()
        self.nodes: list[LabNode] = []
        for index in range(node_count):
            port = free_node_port(first_host, taken) if ports is None else ports[index]
            taken.add(port)
            node_dir = self.base_dir / f"node-{index}"
            self.nodes.append(
                LabNode(
                    index=index,
                    hostname=f"redis-{index}.redis-lab.invalid",
                    host=first_host,
                    port=port,
                    data_dir=node_dir / "data",
                    runtime_dir=node_dir / "run",
                    log_path=self.base_dir / "logs" / f"node-{index}.log",
                )
            )
        self._started = False

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, bootstrap_timeout: float = 60) -> RedisLab:
        """Write the files, start every node and form the cluster; returns self."""
        if self._started:
            return self
        self._started = True
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            (self.base_dir / "logs").mkdir(exist_ok=True)
            self.conf_path.write_text(self.conf_text)
            if self.acl_users:
                self.users_dir.mkdir(mode=0o700, exist_ok=True)
                self.acl_rules_path.write_text(render_acl_rules())
                for user in USERS:
                    _write_private(self.users_dir / user.name, secrets.token_urlsafe(24))
            elif self.require_password:
                _write_private(self.password_path, secrets.token_urlsafe(24))
            for node in self.nodes:
                node.data_dir.mkdir(parents=True, exist_ok=True)
            self._write_hosts()
            for node in self.nodes:
                self._spawn(node)
            for node in self.nodes:
                self._wait_answering(node)
            self.bootstrap(timeout=bootstrap_timeout)
            self.wait_cluster_ok(timeout=bootstrap_timeout)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every node (SIGKILL: nothing is kept) and remove the lab's files if it made them."""
        self.stop_all(signal.SIGKILL)
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> RedisLab:
        return self.start()

    # ---- state between processes -----------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.base_dir / STATE_FILE

    def save(self) -> None:
        """Write the lab's state (options, nodes, addresses, pids) into its directory, so that
        `RedisLab.load` in another process can take the nodes over."""
        state = {
            "version": _STATE_VERSION,
            "primaries": self.primaries,
            "replicas": self.replicas,
            "memory": self.memory,
            "require_password": self.require_password,
            "client_endpoint": self.client_endpoint,
            "extra_args": list(self.extra_args),
            "nodes": [
                {"index": n.index, "host": n.host, "port": n.port, "pid": n.pid} for n in self.nodes
            ],
        }
        staging = self.state_path.with_suffix(".new")
        staging.write_text(json.dumps(state, indent=2) + "\n")
        staging.replace(self.state_path)

    @classmethod
    def load(cls, base_dir: Path) -> RedisLab:
        """The lab saved in `base_dir`, its running nodes adopted by pid; LabError when there
        is none or its state is unreadable. Closing it stops the nodes but keeps the files."""
        path = base_dir / STATE_FILE
        try:
            state = cast(dict[str, Any], json.loads(path.read_text()))
            if state.get("version") != _STATE_VERSION:
                raise ValueError(f"version {state.get('version')!r}, expected {_STATE_VERSION}")
            nodes = cast(list[dict[str, Any]], state["nodes"])
            lab = cls(
                (base_dir / "redis.conf").read_text(),
                primaries=int(state["primaries"]),
                replicas=int(state["replicas"]),
                memory=state["memory"],
                base_dir=base_dir,
                require_password=bool(state["require_password"]),
                client_endpoint=state["client_endpoint"],
                extra_args=[str(arg) for arg in state["extra_args"]],
                ports=[int(node["port"]) for node in nodes],
            )
            for node, saved in zip(lab.nodes, nodes, strict=True):
                node.host = str(saved["host"])
                if saved.get("pid") is not None:
                    node.process = AdoptedProcess(int(saved["pid"]))
        except FileNotFoundError:
            raise LabError(f"{base_dir} holds no lab (no {STATE_FILE})") from None
        except (ValueError, KeyError, TypeError) as error:
            raise LabError(f"{path} is not a lab state file: {error}") from None
        lab._started = True
        return lab

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ---- nodes -----------------------------------------------------------------------------

    def node_env(self, node: LabNode) -> dict[str, str]:
        """The environment the scripts get for `node`: the pod's env contract, lab values."""
        env = {
            "PATH": os.pathsep.join(
                {str(Path(self._redis_cli).parent), str(Path(self._redis_server).parent)}
            )
            + os.pathsep
            + os.environ.get("PATH", "/usr/bin:/bin"),
            "REDIS_CONF": str(self.conf_path),
            "REDIS_PORT": str(node.port),
            "REDIS_BIND": node.host,
            "REDIS_HOST": node.host,
            "REDIS_DATA_DIR": str(node.data_dir),
            "REDIS_RUNTIME_DIR": str(node.runtime_dir),
            "REDIS_ANNOUNCE_HOSTNAME": node.hostname,
            "REDIS_ANNOUNCE_IP": node.host,
            "REDIS_HOSTS_FILE": str(self.hosts_path),
            "REDIS_REPLICAS_PER_PRIMARY": str(self.replicas),
            "REDIS_PRIMARIES": str(self.primaries),
            "REDIS_NODES": " ".join(n.name for n in self.nodes),
            "REDIS_SCALE_MAX_FILL_PERCENT": str(round(adr.MEMORY_WARNING * 100)),
        }
        if self.acl_users:
            env["REDIS_ACL_RULES"] = str(self.acl_rules_path)
            env["REDIS_USERS_DIR"] = str(self.users_dir)
            env["REDIS_USER"] = OPERATOR.name
            env["REDIS_PASSWORD_FILE"] = str(self.password_path)
        elif self.require_password:
            env["REDIS_PASSWORD_FILE"] = str(self.password_path)
        else:
            env["REDIS_ALLOW_NO_PASSWORD"] = "yes"
        return env

    def _server_args(self) -> list[str]:
        args: list[str] = []
        if self.memory is not None:
            # The backlog counts toward maxmemory (Redis 7 shares it with the replicas' output
            # buffer): the production 128 MiB would leave a lab-sized node no room for keys.
            args += ["--maxmemory", self.memory, "--repl-backlog-size", "1mb"]
        if self.client_endpoint == "ip":
            args += ["--cluster-preferred-endpoint-type", "ip"]
        return args + list(self.extra_args)

    def _write_hosts(self) -> None:
        text = "".join(f"{node.host} {node.hostname}\n" for node in self.nodes)
        staging = self.hosts_path.with_suffix(".new")
        staging.write_text(text)
        staging.replace(self.hosts_path)

    def _spawn(self, node: LabNode) -> None:
        if node.running:
            raise LabError(f"node {node.index} is already running (pid {node.pid})")
        node.data_dir.mkdir(parents=True, exist_ok=True)
        with node.log_path.open("ab") as log:
            node.process = subprocess.Popen(
                [self._sh, str(SCRIPTS_DIR / "start.sh"), *self._server_args()],
                env=self.node_env(node),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_answering(self, node: LabNode, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        client = self.node_client(node, socket_timeout=1)
        # redis-py's command methods are not fully typed; Any keeps the strict checker honest here.
        untyped_client: Any = client
        try:
            while True:
                if not node.running:
                    raise LabError(
                        f"node {node.index} exited while starting:\n{_tail(node.log_path)}"
                    )
                try:
                    untyped_client.ping()
                    return
                except redis.BusyLoadingError:
                    pass
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise LabError(
                        f"node {node.index} does not answer after {timeout}s:\n"
                        f"{_tail(node.log_path)}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self, node: LabNode, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        """Send `sig` to the node's redis-server and wait until it has exited."""
        self._signal_and_wait([node], sig, timeout)

    def stop_all(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Stop every running node (all signalled first, so they shut down in parallel)."""
        self._signal_and_wait([node for node in self.nodes if node.running], sig, timeout)

    def _signal_and_wait(self, nodes: Iterable[LabNode], sig: int, timeout: float) -> None:
        """Signal every node, then wait for all. The signal is repeated while a node runs:
        redis-server drops a SIGTERM that arrives while it writes its first AOF after a full
        sync ("Writing initial AOF, can't exit"). SIGKILL after `timeout`, as the kubelet does."""
        victims = [node.process for node in nodes if node.process is not None]
        deadline = time.monotonic() + timeout
        while True:
            alive = [process for process in victims if process.poll() is None]
            if not alive:
                return
            if time.monotonic() > deadline:
                for process in alive:
                    process.kill()
                    process.wait()
                return
            for process in alive:
                process.send_signal(sig)
            for process in alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.5)

    def add_node(self, host: str | None = None) -> LabNode:
        """Start one more node, empty and alone, with the next index (as a StatefulSet that
        grows gets its next ordinal); joining it to the cluster is bootstrap.sh's job."""
        index = max((node.index for node in self.nodes), default=-1) + 1
        host = host or (self.nodes[0].host if self.nodes else "127.0.0.1")
        port = free_node_port(host, {node.port for node in self.nodes})
        node_dir = self.base_dir / f"node-{index}"
        node = LabNode(
            index=index,
            hostname=f"redis-{index}.redis-lab.invalid",
            host=host,
            port=port,
            data_dir=node_dir / "data",
            runtime_dir=node_dir / "run",
            log_path=self.base_dir / "logs" / f"node-{index}.log",
        )
        self.nodes.append(node)
        self._write_hosts()
        self._spawn(node)
        self._wait_answering(node)
        return node

    def remove_node(self, node: LabNode) -> None:
        """Stop the node and delete its files, as a StatefulSet that shrinks deletes its pod
        (the lab drops the volume too). The cluster must have let it go first."""
        if node.running:
            self.kill(node, signal.SIGTERM)
        self.nodes.remove(node)
        shutil.rmtree(node.data_dir.parent, ignore_errors=True)
        self._write_hosts()

    def start_node(self, node: LabNode, host: str | None = None) -> None:
        """Start a stopped node from its data directory, optionally on another loopback address."""
        if host is not None and host != node.host:
            node.host = host
            self._write_hosts()
        self._spawn(node)
        self._wait_answering(node)

    def restart(self, node: LabNode, host: str | None = None, sig: int = signal.SIGTERM) -> None:
        """Stop the node (if running) with `sig` and start it again, on `host` if given."""
        if node.running:
            self.kill(node, sig)
        self.start_node(node, host)

    def restart_all(self, hosts: Sequence[str] | None = None) -> None:
        """SIGTERM every node, then start them all again, on `hosts` (one per node) if given."""
        self.stop_all(signal.SIGTERM)
        if hosts is not None:
            if len(hosts) != len(self.nodes):
                raise ValueError(f"need {len(self.nodes)} hosts, got {len(hosts)}")
            for node, host in zip(self.nodes, hosts, strict=True):
                node.host = host
            self._write_hosts()
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            self._wait_answering(node)

    def rolling_restart(
        self, conf_text: str | None = None, ready_timeout: float = 90
    ) -> list[LabNode]:
        """What a StatefulSet rolling update does, one pod at a time from the highest ordinal:
        preStop (prestop.sh), SIGTERM, start again (with `conf_text` when given: the changed
        config), and the next pod only once readiness.sh passes for this one. Returns the nodes
        in the order they were restarted; LabError when a node does not become ready."""
        if conf_text is not None:
            self.conf_text = conf_text
            staging = self.conf_path.with_suffix(".new")
            staging.write_text(conf_text)
            staging.replace(self.conf_path)
        order = sorted(self.nodes, key=lambda node: node.index, reverse=True)
        for node in order:
            self.run_script("prestop.sh", node, timeout=60)
            self.kill(node, signal.SIGTERM)
            self.start_node(node)
            deadline = time.monotonic() + ready_timeout
            while True:
                probe = self.run_script("readiness.sh", node, timeout=10)
                if probe.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise LabError(f"{node.name} not ready after restart: {probe.stdout.strip()}")
                time.sleep(0.2)
        return order

    def wipe(self, node: LabNode) -> None:
        """Lose the node's volume: stop it, delete its data directory, start it empty."""
        if node.running:
            self.kill(node, signal.SIGKILL)
        shutil.rmtree(node.data_dir, ignore_errors=True)
        self.start_node(node)

    # ---- scripts ---------------------------------------------------------------------------

    def run_script(
        self,
        script: str,
        node: LabNode | None = None,
        timeout: float = 120,
        env_changes: Mapping[str, str | None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one of the lifecycle scripts with `node`'s environment (default: the first),
        changed by `env_changes` (None removes a variable)."""
        env = self.node_env(node or self.nodes[0])
        for name, value in (env_changes or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return subprocess.run(
            [self._sh, str(SCRIPTS_DIR / script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def bootstrap(self, timeout: float = 60) -> str:
        """Run bootstrap.sh as the Job does; its log on success, LabError with it on failure."""
        env = self.node_env(self.nodes[0])
        env["REDIS_BOOTSTRAP_TIMEOUT"] = str(int(timeout))
        result = subprocess.run(
            [self._sh, str(SCRIPTS_DIR / "bootstrap.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            check=False,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise LabError(f"bootstrap.sh failed ({result.returncode}):\n{output}")
        return output

    # ---- clients and state -----------------------------------------------------------------

    @property
    def password(self) -> str | None:
        if self.acl_users or self.require_password:
            return self.password_path.read_text()
        return None

    @property
    def username(self) -> str | None:
        """The ACL user the lab's clients use (`operator`), None for the `default` user."""
        return OPERATOR.name if self.acl_users else None

    def user_password(self, user: str) -> str:
        """The password of one ACL user (acl_users labs only)."""
        if not self.acl_users:
            raise LabError("this lab runs without ACL users")
        return (self.users_dir / user).read_text()

    def address_of(self, hostname: str) -> str:
        """Current address of a node's announced host name (what DNS answers in Kubernetes)."""
        for node in self.nodes:
            if node.hostname == hostname:
                return node.host
        return hostname

    def _remap(self, address: tuple[str, int]) -> tuple[str, int]:
        return self.address_of(address[0]), address[1]

    def client(self, **kwargs: object) -> RedisCluster:
        """A redis-py cluster client; names the nodes announce are mapped to their addresses."""
        node = next((n for n in self.nodes if n.running), self.nodes[0])
        options: dict[str, object] = {
            "socket_timeout": 2.0,
            "socket_connect_timeout": 1.0,
            "decode_responses": True,
            **kwargs,
        }
        return RedisCluster(
            host=node.host,
            port=node.port,
            username=self.username,
            password=self.password,
            address_remap=self._remap,
            **options,  # pyright: ignore[reportArgumentType]
        )

    def node_client(self, node: LabNode, **kwargs: object) -> redis.Redis:
        """A plain client of one node (CLUSTER, INFO, ROLE...)."""
        options: dict[str, object] = {
            "socket_timeout": 2.0,
            "socket_connect_timeout": 1.0,
            "decode_responses": True,
            **kwargs,
        }
        return redis.Redis(
            host=node.host,
            port=node.port,
            username=self.username,
            password=self.password,
            **options,  # pyright: ignore[reportArgumentType]
        )

    def _command(self, node: LabNode, *args: str) -> str:
        client: Any = self.node_client(node)
        try:
            reply: object = client.execute_command(*args)
        finally:
            client.close()
        if isinstance(reply, bytes):
            return reply.decode()
        return str(reply)

    def cluster_nodes(self, node: LabNode) -> list[ClusterEntry]:
        return parse_cluster_nodes(self._command(node, "CLUSTER", "NODES"))

    def cluster_nodes_text(self, node: LabNode) -> str:
        return self._command(node, "CLUSTER", "NODES")

    def cluster_info(self, node: LabNode) -> dict[str, str]:
        text = self._command(node, "CLUSTER", "INFO")
        pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return {name: value.strip() for name, value in pairs}

    def node_id(self, node: LabNode) -> str:
        return self._command(node, "CLUSTER", "MYID")

    def node_by_id(self, node_id: str) -> LabNode:
        for node in self.nodes:
            if node.running and self.node_id(node) == node_id:
                return node
        raise LabError(f"no running node has id {node_id}")

    def role(self, node: LabNode) -> str:
        """'master' or 'slave', as the node itself says."""
        client: Any = self.node_client(node)
        try:
            reply: list[object] = client.execute_command("ROLE")
        finally:
            client.close()
        return str(reply[0])

    def primaries_now(self) -> list[LabNode]:
        """Running nodes that are slot-serving primaries, in node order."""
        view = self._view()
        serving = {entry.node_id for entry in view if entry.is_primary and entry.slots}
        return [n for n in self.nodes if n.running and self.node_id(n) in serving]

    def replicas_of(self, primary: LabNode) -> list[LabNode]:
        """Running nodes replicating from `primary`."""
        primary_id = self.node_id(primary)
        ids = {entry.node_id for entry in self._view() if entry.primary_id == primary_id}
        return [n for n in self.nodes if n.running and self.node_id(n) in ids]

    def _view(self) -> list[ClusterEntry]:
        node = next((n for n in self.nodes if n.running), None)
        if node is None:
            raise LabError("no node is running")
        return self.cluster_nodes(node)

    def slots_of(self, primary: LabNode) -> tuple[tuple[int, int], ...]:
        """The slot ranges `primary` serves now, as the cluster sees it."""
        primary_id = self.node_id(primary)
        return next(e.slots for e in self._view() if e.node_id == primary_id)

    def key_in_slots_of(self, primary: LabNode, prefix: str = "lab") -> str:
        """A key whose slot `primary` serves now."""
        ranges = self.slots_of(primary)
        for number in range(1_000_000):
            key = f"{prefix}:{number}"
            if key_in_ranges(key, ranges):
                return key
        raise LabError(f"node {primary.index} serves no slot")

    def cluster_problems(self) -> list[str]:
        """What keeps the cluster from being fully up, from every running node's point of view.

        Fully up: cluster_state:ok on every running node, all 16384 slots served by primaries no
        running node sees failing, every running node seen healthy and linked (bus connected) by
        every other, and every node's role seen by the others as the node states it. With
        cluster-require-full-coverage off, cluster_state alone stays ok while a shard is down;
        and for node-timeout after a restart, peers that cannot be reached carry no failure
        flag yet, only a disconnected link.
        """
        problems: list[str] = []
        running = [node for node in self.nodes if node.running]
        views: dict[int, list[ClusterEntry]] = {}
        ids: dict[int, str] = {}
        for node in running:
            try:
                ids[node.index] = self.node_id(node)
            except redis.RedisError as error:
                problems.append(f"node {node.index}: {error}")
        for node in running:
            try:
                state = self.cluster_info(node).get("cluster_state")
                view = self.cluster_nodes(node)
            except redis.RedisError as error:
                problems.append(f"node {node.index}: {error}")
                continue
            if state != "ok":
                problems.append(f"node {node.index}: cluster_state:{state}")
            served = sum(e.slot_count for e in view if e.is_primary and e.healthy)
            if served != SLOT_COUNT:
                problems.append(f"node {node.index} sees {served} of {SLOT_COUNT} slots served")
            reachable = {entry.node_id for entry in view if entry.healthy and entry.connected}
            for other_index, other_id in ids.items():
                if other_id not in reachable:
                    problems.append(
                        f"node {node.index} does not see node {other_index} healthy and connected"
                    )
            views[node.index] = view
        # Converged: every node's role as it states it itself is what every other node sees.
        selves = {e.node_id: e for view in views.values() for e in view if "myself" in e.flags}
        for index, view in views.items():
            for entry in view:
                own = selves.get(entry.node_id)
                if own is not None and (own.is_primary, own.primary_id) != (
                    entry.is_primary,
                    entry.primary_id,
                ):
                    problems.append(f"node {index} has a stale role for {entry.node_id}")
        return problems

    def wait_cluster_ok(self, timeout: float = 30) -> float:
        """Wait until `cluster_problems()` is empty; returns the seconds waited."""
        start = time.monotonic()
        problems = self.cluster_problems()
        while problems:
            if time.monotonic() - start > timeout:
                raise LabError(f"cluster not ok after {timeout}s: {'; '.join(problems)}")
            time.sleep(0.1)
            problems = self.cluster_problems()
        return time.monotonic() - start


def acked_set(
    cluster: RedisCluster, key: str, value: str, replicas: int = 1, timeout_ms: int = 1000
) -> tuple[bool, bool]:
    """SET on the key's primary, then WAIT for `replicas` on the same connection.

    Returns (written, acknowledged): written when SET answered OK, acknowledged when WAIT also
    reported at least `replicas` replicas (with `replicas=0` no WAIT is sent). On any failure
    the client's slot map is refreshed, so the next call finds a promoted replica.
    """
    try:
        # redis-py's cluster internals are not fully typed.
        untyped_cluster: Any = cluster
        node: Any = untyped_cluster.get_node_from_key(key)
        connection: Any = node.redis_connection if node is not None else None
        if connection is None:
            raise redis.ConnectionError(f"no connection for {key}")
        pipe: Any = connection.pipeline(transaction=False)
        pipe.set(key, value)
        if replicas > 0:
            pipe.wait(replicas, timeout_ms)
        written, *acked = pipe.execute()
    except (redis.RedisError, OSError):
        with contextlib.suppress(redis.RedisError, OSError):
            cluster.nodes_manager.initialize()
        return False, False
    return written is True, written is True and int(acked[0] if acked else 0) >= replicas


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class SteadyWriter:
    """A thread writing keys at a steady pace with SET + WAIT 1, recording which writes were
    answered (SET OK) and which acknowledged (WAIT saw a replica) — the writes a client may rely
    on. Use as a context manager around what should not lose them."""

    def __init__(self, cluster: RedisCluster, prefix: str, interval_s: float = 0.005) -> None:
        self.cluster = cluster
        self.prefix = prefix
        self.interval_s = interval_s
        self.attempted = 0
        self.answered = 0
        self.acknowledged: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"writer-{prefix}", daemon=True)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            key, value = f"{self.prefix}:{number}", f"value-{number}"
            written, acked = acked_set(self.cluster, key, value)
            self.attempted += 1
            self.answered += written
            if acked:
                self.acknowledged[key] = value
            number += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> SteadyWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def lost(self, cluster: RedisCluster) -> list[str]:
        """Acknowledged keys that do not read back with their value."""
        return [key for key, value in self.acknowledged.items() if cluster.get(key) != value]
