"""The endpoints the Deployment's probes ask, and the secret files as Kubernetes mounts them.

A Secret volume with an fsGroup is 0440, owned by root and the pod's group: the service must
accept that (it refused every group bit before, so it could not start in its own pod) and still
refuse a file others, or another group, may read.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis

from cachectl.credentials import private_enough
from invalidator.__main__ import EXIT_USAGE, main
from invalidator.metrics import InvalidatorMetrics
from invalidator.webhook import SecretFileError, Verifier, WebhookServer, read_secret


class Stream:
    """A client whose stream answers, or fails like an unreachable node."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.asked: list[str] = []

    def xlen(self, stream: str) -> int:
        self.asked.append(stream)
        if self.error is not None:
            raise self.error
        return 3


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def serve(client: Any) -> WebhookServer:
    verifier = Verifier(b"s" * 32, lambda signature, ttl: True)
    return WebhookServer(verifier, client, InvalidatorMetrics(), stream="events").start()


def test_ready_while_the_streams_node_answers() -> None:
    client = Stream()
    server = serve(client)
    try:
        assert get(server.url + "/readyz") == (200, "ready\n")
        assert client.asked == ["events"]
        assert get(server.url + "/healthz")[0] == 200
    finally:
        server.close()


@pytest.mark.parametrize(
    "error", [redis.ConnectionError("refused"), redis.TimeoutError("timed out")]
)
def test_not_ready_but_alive_when_redis_is_unreachable(error: Exception) -> None:
    """Readiness takes the replica out of the Service; liveness does not restart it for an
    outage a restart cannot fix."""
    server = serve(Stream(error))
    try:
        status, body = get(server.url + "/readyz")
        assert status == 503 and type(error).__name__ in body
        assert get(server.url + "/healthz")[0] == 200
    finally:
        server.close()


def test_an_unknown_path_is_404_not_healthy() -> None:
    server = serve(Stream())
    try:
        assert get(server.url + "/ready")[0] == 404
    finally:
        server.close()


def test_a_secret_volume_file_with_the_pods_fsgroup_is_accepted(tmp_path: Path) -> None:
    secret = tmp_path / "webhook-secret"
    secret.write_text("w" * 40)
    secret.chmod(0o440)  # what the kubelet writes for defaultMode 0400 and an fsGroup
    assert os.stat(secret).st_gid in {os.getegid(), *os.getgroups()}
    assert read_secret(secret) == b"w" * 40


@pytest.mark.parametrize("mode", [0o444, 0o460, 0o604, 0o450])
def test_a_file_others_may_read_or_group_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "webhook-secret"
    secret.write_text("w" * 40)
    secret.chmod(mode)
    with pytest.raises(SecretFileError, match="readable by others"):
        read_secret(secret)


def test_group_read_is_refused_for_a_group_the_process_is_not_in() -> None:
    foreign = max({os.getegid(), *os.getgroups()}) + 1
    assert not private_enough(0o100440, foreign)
    assert private_enough(0o100440, os.getegid())
    assert private_enough(0o100400, foreign)


def test_a_cloudflare_token_file_others_may_read_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"redis": "pw", "webhook": "w" * 40, "token": "cf-token-value"}
    paths = {}
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        path.chmod(0o600)
        paths[name] = str(path)
    os.chmod(paths["token"], 0o644)
    code = main(
        [
            "--node",
            "127.0.0.1:1",
            "--zone-id",
            "zone",
            "--redis-password-file",
            paths["redis"],
            "--webhook-secret-file",
            paths["webhook"],
            "--cloudflare-token-file",
            paths["token"],
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.strip().splitlines() == [
        f"invalidator: --cloudflare-token-file {paths['token']}: readable by others (mode 644); "
        "chmod 600"
    ]
    assert "cf-token-value" not in err
