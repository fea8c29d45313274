"""The signed webhook: `POST /v1/events` with an event's JSON, published to the stream.

The sender signs `<timestamp>.<body>` with HMAC-SHA256 and the shared secret, and sends
`X-Invalidation-Timestamp: <Unix seconds>` and `X-Invalidation-Signature: sha256=<hex>`. Refused:
a missing or wrong signature (401), a timestamp further than `tolerance` seconds from now (401:
an old request replayed later), a signature seen already within the tolerance window (409: the
same request replayed at once), a body that is not a valid event (400). Nothing is applied here:
an accepted event goes to the stream and is applied by the consumers, like every other.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import stat
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cachectl.credentials import private_enough
from cachekit.events import DEFAULT_STREAM, InvalidEvent, parse_event, publish
from invalidator.metrics import InvalidatorMetrics

TIMESTAMP_HEADER = "X-Invalidation-Timestamp"
SIGNATURE_HEADER = "X-Invalidation-Signature"
SIGNATURE_SCHEME = "sha256="
DEFAULT_TOLERANCE = 300
REPLAY_PREFIX = "cache-invalidation:webhook-signature:"
MAX_BODY = 64 * 1024


class SecretFileError(Exception):
    pass


def read_secret(path: Path) -> bytes:
    """The shared secret in `path`; refused when others may read it, or it is short.

    Group read is allowed for the process's own group only (cachectl's rule for every secret
    file): a Kubernetes Secret volume with an fsGroup is 0440, owned by the pod's group.
    """
    try:
        status = path.stat()
        secret = path.read_bytes().strip()
    except OSError as error:
        raise SecretFileError(f"{path}: cannot read the secret ({error.strerror})") from None
    if not private_enough(status.st_mode, status.st_gid):
        raise SecretFileError(
            f"{path}: readable by others (mode {stat.S_IMODE(status.st_mode):o}); chmod 600"
        )
    if len(secret) < 32:
        raise SecretFileError(f"{path}: the secret has {len(secret)} bytes; at least 32 allowed")
    return secret


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_SCHEME + digest


class Refused(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason


class Verifier:
    """Checks a request's signature and timestamp; `first_use(signature, ttl)` says whether a
    signature is new (and remembers it), shared by every replica through Redis."""

    def __init__(
        self,
        secret: bytes,
        first_use: Callable[[str, int], bool],
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.first_use = first_use
        self.tolerance = tolerance
        self.clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        signature = headers.get(SIGNATURE_HEADER, "")
        if not timestamp.isdigit() or not signature.startswith(SIGNATURE_SCHEME):
            raise Refused(401, "unsigned", f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} required")
        if not hmac.compare_digest(sign(self.secret, timestamp, body), signature):
            raise Refused(401, "bad_signature", "the signature does not match")
        if abs(self.clock() - int(timestamp)) > self.tolerance:
            raise Refused(401, "stale", f"timestamp more than {self.tolerance} s from now")
        if not self.first_use(signature, 2 * self.tolerance):
            raise Refused(409, "replay", "this request was received already")


def redis_first_use(client: Any) -> Callable[[str, int], bool]:
    def first_use(signature: str, ttl: int) -> bool:
        return bool(client.set(REPLAY_PREFIX + signature, "1", nx=True, ex=ttl))

    return first_use


class WebhookServer:
    """Serves POST /v1/events, GET /metrics, GET /healthz and GET /readyz on (host, port) in a
    thread.

    /healthz (liveness) answers while the process serves; /readyz (readiness) only while the
    stream can be reached, so a replica cut off from Redis gets no webhook traffic (its events
    would be refused with 503) and is not restarted for an outage a restart cannot fix.
    """

    def __init__(
        self,
        verifier: Verifier,
        client: Any,
        metrics: InvalidatorMetrics,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stream: str = DEFAULT_STREAM,
    ) -> None:
        outer = self
        self.verifier = verifier
        self.client = client
        self.metrics = metrics
        self.stream = stream

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, document: object) -> None:
                self._reply(status, json.dumps(document).encode(), "application/json")

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._reply(200, generate_latest(outer.metrics.registry), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    self._reply(200, b"ok\n", "text/plain")
                elif self.path == "/readyz":
                    ready, detail = outer.ready()
                    self._reply(200 if ready else 503, detail.encode() + b"\n", "text/plain")
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                if self.path != "/v1/events":
                    self._json(404, {"error": "not found"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    outer.metrics.webhook_refused.labels("too_large").inc()
                    self._json(413, {"error": f"body over {MAX_BODY} bytes"})
                    return
                body = self.rfile.read(length)
                status, document = outer.handle({k: v for k, v in self.headers.items()}, body)
                self._json(status, document)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        # close() (on SIGTERM) waits for the accept loop to notice: at most this long, not
        # serve_forever's default half second; ten idle wakeups a second cost nothing.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, object]:
        try:
            self.verifier.verify(_canonical(headers), body)
            event = parse_event(body)
        except Refused as refused:
            self.metrics.webhook_refused.labels(refused.reason).inc()
            return refused.status, {"error": str(refused)}
        except InvalidEvent as error:
            self.metrics.webhook_refused.labels("invalid").inc()
            return 400, {"error": str(error)}
        try:
            entry = publish(self.client, event, stream=self.stream)
        except redis.RedisError as error:
            # Not accepted: forget the signature so that the sender's retry is not a "replay".
            with contextlib.suppress(redis.RedisError):
                self.client.delete(REPLAY_PREFIX + _canonical(headers)[SIGNATURE_HEADER])
            self.metrics.webhook_refused.labels("unavailable").inc()
            return 503, {"error": f"the stream cannot be written: {type(error).__name__}"}
        self.metrics.received.labels("webhook", event.kind).inc()
        return 202, {"id": event.id, "entry": entry}

    def ready(self) -> tuple[bool, str]:
        """Whether the stream's node answers (XLEN: one cheap command on the stream's slot)."""
        try:
            self.client.xlen(self.stream)
        except redis.RedisError as error:
            return False, f"the stream cannot be read: {type(error).__name__}"
        return True, "ready"

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def close(self) -> None:
        # shutdown() waits for serve_forever to return: it would wait forever if never started.
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


def _canonical(headers: Mapping[str, str]) -> dict[str, str]:
    wanted = {
        TIMESTAMP_HEADER.lower(): TIMESTAMP_HEADER,
        SIGNATURE_HEADER.lower(): SIGNATURE_HEADER,
    }
    return {wanted[k.lower()]: v for k, v in headers.items() if k.lower() in wanted}
