"""`python -m lab`: a local Redis Cluster that tests, benchmarks and people drive the same way.

    python -m lab up --stack S [--memory 64mb] [--dir D]   start it; print one JSON object
                     [--stack-file F] [--timeout SECONDS]
    python -m lab status [--dir D]                          nodes, roles, pids, up/down, problems
    python -m lab kill [--signal KILL|TERM] --node N [--dir D]   crash (or stop) one node
    python -m lab restart --node N [--dir D]                start it again through start.sh
    python -m lab wipe --node N [--leave-empty] [--dir D]   lose its volume; bootstrap.sh re-adds it
    python -m lab repair [--dir D]                          run bootstrap.sh, as the repair CronJob
    python -m lab down [--dir D]                            stop every node, remove the lab
    python -m lab run --stack S [--memory 64mb] [--dir D]   `make lab`: up, print, wait for Ctrl-C

`up` renders the stack's redis.conf as the pods get it (the stack file's validated config through
components.redis.conf), starts `primaries x (1 + replicas)` nodes through the pods' start.sh,
forms the cluster with the bootstrap Job's bootstrap.sh and returns while the nodes keep running;
the lab's state (`lab.json`), files and logs stay in D (default build/lab). `--node` takes a
node's name (`redis-3`) or index (`3`). Every command but `run` prints one JSON object on stdout.

Exit status: 0 done; 1 the lab failed (the message carries the node's log); 2 a usage error (one
line naming the option, the value and what is allowed).

Adding a command (`scale`, lab/scaling.py): write its `configure(parser)` and `run(options)` and
add one `Command` to COMMANDS below; that tuple is the only dispatch point.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import redis

from lab import scaling
from lab.cluster import STATE_FILE, LabError, LabNode, RedisLab
from stackconfig.config import ConfigError, RedisConfig

PROG = "python -m lab"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = PROJECT_ROOT / "build" / "lab"
DEFAULT_MEMORY = "64mb"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ROLES = {"master": "primary", "slave": "replica"}
_MEMORY = re.compile(r"^([1-9][0-9]*)(b|k|kb|m|mb|g|gb)?$", re.IGNORECASE)
_UNIT_BYTES = {"": 1, "b": 1, "k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20}
_UNIT_BYTES |= {"g": 10**9, "gb": 2**30}
MIN_MEMORY_BYTES = 4 * 2**20
"""The lab's 1 MiB replication backlog counts toward maxmemory; below 4 MiB a node has no room."""
_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LAB_FILES = {STATE_FILE, "redis.conf", "password", "hosts", "hosts.new", "logs"}
"""What a lab writes into its directory (plus node-<index>/): all `down` and `up` remove."""


class UsageError(Exception):
    """A bad option or a directory that does not fit the command: exit 2, one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


# ---- option values -----------------------------------------------------------------------


def memory_option(value: str) -> str:
    """A Redis memory size (`64mb`, `1gb`), as redis-server reads `--maxmemory`."""
    match = _MEMORY.match(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Redis memory size (a number with b, kb, mb or gb)"
        )
    size = int(match[1]) * _UNIT_BYTES[(match[2] or "").lower()]
    if size < MIN_MEMORY_BYTES:
        raise argparse.ArgumentTypeError(
            f"{value!r} is below the lab's minimum of 4mb (its replication backlog "
            "alone takes 1mb of maxmemory)"
        )
    return value.strip().lower()


def stack_option(value: str) -> str:
    if not _STACK_NAME.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a stack name")
    return value


def stack_redis_config(stack: str, stack_file: Path | None = None) -> RedisConfig:
    """The stack file's validated `cache-platform:redis` config, read as the plan reads it."""
    if stack_file is not None:
        if not stack_file.is_file():
            raise UsageError(f"{PROG}: --stack-file {stack_file} does not exist")
    else:
        stack_file = PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    # Only `up` and `run` read a stack: the plan's loader (and the Pulumi SDK it imports) would
    # double the start-up of every other command.
    import yaml

    from plan.runner import prepare_config

    if not stack_file.is_file():
        known = sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in _stack_files())
        raise UsageError(
            f"{PROG}: --stack {stack}: {stack_file.name} does not exist (stacks: "
            f"{', '.join(known)})"
        )
    try:
        config = prepare_config(stack_file)[2]
    except ConfigError as error:
        raise UsageError(
            f"{PROG}: invalid config in {stack_file.name}: {'; '.join(error.problems)}"
        ) from None
    except (yaml.YAMLError, OSError) as error:
        raise UsageError(f"{PROG}: {stack_file.name} is not readable: {error}") from None
    return config.redis


def _stack_files() -> list[Path]:
    return [p for p in PROJECT_ROOT.glob("Pulumi.*.yaml") if p.name.count(".") == 2]


def lab_conf(redis_config: RedisConfig) -> str:
    """The redis.conf the stack's pods mount (the lab overrides maxmemory on the command line)."""
    from components.redis.conf import redis_conf_spec, render_redis_conf

    return render_redis_conf(redis_conf_spec(redis_config))


# ---- the lab directory -------------------------------------------------------------------


def load_lab(directory: Path) -> RedisLab:
    if not (directory / STATE_FILE).is_file():
        raise UsageError(f"{PROG}: --dir {directory} holds no lab (start one with `up`)")
    return RedisLab.load(directory)


def _is_lab_entry(path: Path) -> bool:
    return path.name in _LAB_FILES or re.fullmatch(r"node-[0-9]+", path.name) is not None


def clear_lab_dir(directory: Path) -> None:
    """Make `directory` ready for a new lab: it may be missing, empty or hold a stopped lab;
    a running lab or files that are not a lab's are usage errors."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise UsageError(f"{PROG}: --dir {directory} is a file, not a directory")
    if (directory / STATE_FILE).is_file():
        running = [node.pod_name for node in RedisLab.load(directory).nodes if node.running]
        if running:
            raise UsageError(
                f"{PROG}: --dir {directory} already runs a lab ({', '.join(running)} up); "
                f"stop it with `{PROG} down --dir {directory}` first"
            )
    foreign = sorted(entry.name for entry in directory.iterdir() if not _is_lab_entry(entry))
    if foreign:
        raise UsageError(
            f"{PROG}: --dir {directory} is not empty and holds no lab ({', '.join(foreign)}); "
            "choose an empty or new directory"
        )
    remove_lab_files(directory)


def remove_lab_files(directory: Path) -> None:
    for entry in directory.iterdir():
        if not _is_lab_entry(entry):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if not any(directory.iterdir()):
        directory.rmdir()


def find_node(lab: RedisLab, wanted: str) -> LabNode:
    for node in lab.nodes:
        if wanted in (node.pod_name, str(node.index)):
            return node
    names = ", ".join(node.pod_name for node in lab.nodes)
    raise UsageError(f"{PROG}: --node {wanted!r} is not a node of this lab (nodes: {names})")


# ---- what the commands print ---------------------------------------------------------------


def role_of(lab: RedisLab, node: LabNode) -> str | None:
    """`primary` or `replica` as the node says it; None when it is down or does not answer."""
    if not node.running:
        return None
    try:
        said = lab.role(node)
    except redis.RedisError:
        return None
    return ROLES.get(said, said)


def node_view(lab: RedisLab, node: LabNode, *, with_state: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": node.pod_name,
        "host": node.host,
        "port": node.port,
        "role": role_of(lab, node),
        "pid": node.pid,
    }
    if with_state:
        view["state"] = "up" if node.running else "down"
    return view


def status_view(lab: RedisLab) -> dict[str, Any]:
    """Every node, and what keeps the cluster from being fully up (empty when it is)."""
    down = [f"{node.pod_name} is down" for node in lab.nodes if not node.running]
    running = len(down) < len(lab.nodes)
    return {
        "nodes": [node_view(lab, node, with_state=True) for node in lab.nodes],
        "problems": down + (lab.cluster_problems() if running else []),
    }


def emit(document: dict[str, Any]) -> None:
    print(json.dumps(document))
    sys.stdout.flush()


# ---- commands ------------------------------------------------------------------------------


def start_lab(options: argparse.Namespace) -> RedisLab:
    redis_config = stack_redis_config(options.stack, options.stack_file)
    directory: Path = options.dir
    clear_lab_dir(directory)
    lab = RedisLab(
        lab_conf(redis_config),
        primaries=redis_config.primaries,
        replicas=redis_config.replicas_per_primary,
        memory=options.memory,
        base_dir=directory,
        # Plain `redis-cli -c` follows redirects only to addresses it can reach.
        client_endpoint="ip",
    )
    lab.start(bootstrap_timeout=options.timeout)
    lab.save()
    return lab


def run_up(options: argparse.Namespace) -> int:
    lab = start_lab(options)
    emit({"nodes": [node_view(lab, node) for node in lab.nodes], "password": lab.password})
    return EXIT_OK


def run_status(options: argparse.Namespace) -> int:
    emit(status_view(load_lab(options.dir)))
    return EXIT_OK


def run_kill(options: argparse.Namespace) -> int:
    lab = load_lab(options.dir)
    node = find_node(lab, options.node)
    lab.kill(node, signal.SIGKILL if options.signal == "KILL" else signal.SIGTERM)
    lab.save()
    emit(node_view(lab, node, with_state=True))
    return EXIT_OK


def run_restart(options: argparse.Namespace) -> int:
    lab = load_lab(options.dir)
    node = find_node(lab, options.node)
    lab.restart(node)
    lab.save()
    emit(node_view(lab, node, with_state=True))
    return EXIT_OK


def run_wipe(options: argparse.Namespace) -> int:
    lab = load_lab(options.dir)
    node = find_node(lab, options.node)
    lab.wipe(node)
    lab.save()
    if not options.leave_empty:
        print(lab.bootstrap(timeout=options.timeout), end="", file=sys.stderr)
    emit(node_view(lab, node, with_state=True))
    return EXIT_OK


def run_repair(options: argparse.Namespace) -> int:
    lab = load_lab(options.dir)
    print(lab.bootstrap(timeout=options.timeout), end="", file=sys.stderr)
    emit(status_view(lab))
    return EXIT_OK


def run_down(options: argparse.Namespace) -> int:
    directory: Path = options.dir
    lab = load_lab(directory)
    stopped = [node.pod_name for node in lab.nodes if node.running]
    lab.stop_all(signal.SIGKILL)
    remove_lab_files(directory)
    emit({"stopped": stopped})
    return EXIT_OK


def run_interactive(options: argparse.Namespace) -> int:
    """`make lab`: a lab in the foreground that people rehearse on, removed on Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    lab = start_lab(options)
    try:
        directory = options.dir
        first = lab.nodes[0]
        print(f"Redis Cluster lab of stack {options.stack}: {len(lab.nodes)} nodes in {directory}")
        for node in lab.nodes:
            role = role_of(lab, node) or "?"
            print(f"  {node.pod_name}  {node.address}  {role:<8} pid {node.pid}")
        print("Connect (the password stays in a 0600 file of the lab):")
        print(f'  export REDISCLI_AUTH="$(cat {lab.password_path})"')
        print(f"  redis-cli -c -h {first.host} -p {first.port}")
        print(f"Rehearse: {PROG} status|kill|restart|wipe|repair --dir {directory} --node redis-N")
        print("Stop: Ctrl-C here, or kill -TERM", os.getpid())
        sys.stdout.flush()
        stop.wait()
        print("stopping the lab")
    finally:
        lab.stop_all(signal.SIGKILL)
        # Nodes restarted by other commands meanwhile are in the saved state, not in `lab`.
        if (options.dir / STATE_FILE).is_file():
            RedisLab.load(options.dir).stop_all(signal.SIGKILL)
        remove_lab_files(options.dir)
    return EXIT_OK


# ---- dispatch ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=lambda value: Path(value).resolve(),
        default=DEFAULT_DIR,
        help=f"the lab's directory (default {DEFAULT_DIR.relative_to(PROJECT_ROOT)})",
    )


def _timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=60,
        help="seconds bootstrap.sh may wait for nodes, failovers and cluster_state:ok",
    )


def _node(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node", required=True, help="node name (redis-3) or index (3)")
    _dir(parser)


def _up(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack", required=True, type=stack_option, help="reads Pulumi.<stack>.yaml"
    )
    parser.add_argument("--stack-file", type=Path, help="stack file (default Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--memory",
        type=memory_option,
        default=DEFAULT_MEMORY,
        help=f"maxmemory of each node instead of the production size (default {DEFAULT_MEMORY})",
    )
    _dir(parser)
    _timeout(parser)


def _kill(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--signal",
        choices=("KILL", "TERM"),
        default="KILL",
        help="KILL: a crash (default); TERM: a graceful stop, as the kubelet sends",
    )
    _node(parser)


def _wipe(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--leave-empty",
        action="store_true",
        help="start the node empty without re-adding it (then rehearse `repair`)",
    )
    _node(parser)
    _timeout(parser)


def _repair(parser: argparse.ArgumentParser) -> None:
    _dir(parser)
    _timeout(parser)


COMMANDS: tuple[Command, ...] = (
    Command("up", "start a lab from a stack's redis.conf, print it as JSON", _up, run_up),
    Command("status", "nodes, roles, pids, up/down and problems as JSON", _dir, run_status),
    Command("kill", "stop one node with SIGKILL (or SIGTERM)", _kill, run_kill),
    Command("restart", "stop one node and start it again through start.sh", _node, run_restart),
    Command("wipe", "lose one node's data; bootstrap.sh re-adds it empty", _wipe, run_wipe),
    Command("repair", "run bootstrap.sh as the repair CronJob does", _repair, run_repair),
    Command("down", "stop every node and remove the lab", _dir, run_down),
    Command(
        "scale",
        "reshape to --primaries N [--replicas R] through bootstrap.sh, as the Jobs do",
        scaling.configure,
        scaling.run,
    ),
    Command("run", "`make lab`: up, print the nodes, wait for Ctrl-C, down", _up, run_interactive),
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="A local Redis Cluster run through the pods' scripts.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = build_parser().parse_args(argv)
        return options.handler(options)
    except UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except LabError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
