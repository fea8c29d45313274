"""The invalidation Deployment's container contract, run as a process against a real cluster.

The environment is the one the component renders (`service_environment`), the secrets are files
as a Secret volume with an fsGroup writes them (0440, the process's own group), and the probes
ask the paths the Deployment's probes ask: the pod becomes ready once the stream's node answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.invalidation.pod import (
    CLOUDFLARE_TOKEN_FILE,
    LIVENESS_PATH,
    READINESS_PATH,
    REDIS_PASSWORD_FILE,
    WEBHOOK_SECRET_FILE,
    ServiceSettings,
    service_environment,
)
from lab.cluster import RedisLab, free_node_port
from tests.support import redis_lab as redis_lab_fixtures
from tests.support.invalidator_support import TOKEN, ZONE, FakeCloudflare

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def acl_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisLab]:
    redis_lab_fixtures.require_redis_tools()
    lab = RedisLab(
        redis_lab_fixtures.lab_conf(),
        primaries=3,
        replicas=0,
        base_dir=tmp_path_factory.mktemp("invalidation-deployment"),
        acl_users=True,  # the pods' ACL mode: the service connects as `operator`
    )
    try:
        yield lab.start()
    finally:
        lab.close()


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_the_rendered_container_starts_with_mounted_secret_files_and_becomes_ready(
    acl_lab: RedisLab, tmp_path: Path
) -> None:
    mount = tmp_path / "etc-invalidator"
    mount.mkdir()
    files = {
        REDIS_PASSWORD_FILE: acl_lab.password or "",
        WEBHOOK_SECRET_FILE: "w" * 64,
        CLOUDFLARE_TOKEN_FILE: TOKEN,
    }
    for name, text in files.items():
        (mount / name).write_text(text)
        # What the kubelet writes for defaultMode 0400 with the pod's fsGroup.
        (mount / name).chmod(0o440)
    node = acl_lab.nodes[0]
    port = free_node_port()
    environment = service_environment(
        ServiceSettings(
            redis_nodes=f"{node.host}:{node.port}",
            redis_user="operator",
            zone_id=ZONE,
            plan="pro",
            replicas=2,
            claim_idle_seconds=30,
        )
    )
    # The files live here instead of the mount path; the service listens on loopback only.
    for key, value in list(environment.items()):
        if value.startswith("/etc/invalidator/"):
            environment[key] = str(mount / Path(value).name)
    environment["INVALIDATOR_LISTEN"] = f"127.0.0.1:{port}"
    cloudflare = FakeCloudflare()
    environment["INVALIDATOR_CLOUDFLARE_BASE_URL"] = cloudflare.base_url
    process = subprocess.Popen(
        [sys.executable, "-m", "invalidator"],
        cwd=ROOT,
        env={**environment, "PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while status_of(url + READINESS_PATH) != 200 and time.monotonic() < deadline:
            if process.poll() is not None:
                assert process.stderr is not None
                pytest.fail(f"exited {process.returncode}: {process.stderr.read()}")
            time.sleep(0.2)
        assert status_of(url + READINESS_PATH) == 200
        assert status_of(url + LIVENESS_PATH) == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        cloudflare.close()
