"""`python -m invalidator`: run the consumer and the webhook until SIGTERM.

Every secret comes from a file (mounted from a Kubernetes Secret): the Redis password of the
operator user, the webhook's shared secret, the Cloudflare API token. A bad option or file exits
with status 2 and one line naming it.
"""

from __future__ import annotations

import argparse
import os
import socket
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from cachectl.connection import CachectlError, ConnectionSettings, parse_endpoint
from cachectl.credentials import private_enough
from invalidator.consumer import DEFAULT_MAX_DELIVERIES, ConsumerSettings
from invalidator.metrics import InvalidatorMetrics
from invalidator.options import (
    EXIT_USAGE,
    UsageError,
    positive,
    redis_connection,
    required_file,
    stop_on_signals,
)
from invalidator.webhook import (
    DEFAULT_TOLERANCE,
    SecretFileError,
    Verifier,
    WebhookServer,
    read_secret,
    redis_first_use,
)
from stackconfig.cloudflare_plans import PLANS


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m invalidator", description=__doc__)
    parser.add_argument("--node", default=env("INVALIDATOR_REDIS_NODES", ""))
    parser.add_argument("--redis-user", default=env("INVALIDATOR_REDIS_USER", "operator"))
    parser.add_argument("--redis-password-file", default=env("INVALIDATOR_REDIS_PASSWORD_FILE"))
    parser.add_argument("--zone-id", default=env("INVALIDATOR_CLOUDFLARE_ZONE_ID", ""))
    parser.add_argument("--cloudflare-token-file", default=env("INVALIDATOR_CLOUDFLARE_TOKEN_FILE"))
    parser.add_argument("--cloudflare-base-url", default=env("INVALIDATOR_CLOUDFLARE_BASE_URL"))
    parser.add_argument("--plan", default=env("INVALIDATOR_CLOUDFLARE_PLAN", "free"))
    parser.add_argument("--replicas", default=env("INVALIDATOR_REPLICAS", "2"))
    parser.add_argument("--webhook-secret-file", default=env("INVALIDATOR_WEBHOOK_SECRET_FILE"))
    parser.add_argument("--listen", default=env("INVALIDATOR_LISTEN", "0.0.0.0:8080"))
    parser.add_argument("--claim-idle", default=env("INVALIDATOR_CLAIM_IDLE_SECONDS", "30"))
    parser.add_argument(
        "--max-deliveries",
        default=env("INVALIDATOR_MAX_DELIVERIES", str(DEFAULT_MAX_DELIVERIES)),
        help="deliveries of one entry before it goes to the dead-letter stream",
    )
    parser.add_argument("--name", default=env("HOSTNAME") or socket.gethostname())
    return parser


def _token(path: Path) -> str:
    try:
        status = path.stat()
        token = path.read_text().strip()
    except OSError as error:
        raise UsageError(f"--cloudflare-token-file {path}: {error.strerror}") from None
    if not private_enough(status.st_mode, status.st_gid):
        mode = stat.S_IMODE(status.st_mode)
        raise UsageError(
            f"--cloudflare-token-file {path}: readable by others (mode {mode:o}); chmod 600"
        )
    if not token:
        raise UsageError(f"--cloudflare-token-file {path}: empty")
    return token


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        if options.plan not in PLANS:
            raise UsageError(f"--plan {options.plan!r}: one of {', '.join(PLANS)}")
        replicas = int(positive(options.replicas, "--replicas", integer=True))
        claim_idle = positive(options.claim_idle, "--claim-idle")
        max_deliveries = int(positive(options.max_deliveries, "--max-deliveries", integer=True))
        if not options.zone_id:
            raise UsageError("--zone-id: required (the Cloudflare zone to purge)")
        listen = parse_endpoint(options.listen)
        connection = redis_connection(options.node, options.redis_user, options.redis_password_file)
        secret = read_secret(required_file(options.webhook_secret_file, "--webhook-secret-file"))
        token = _token(required_file(options.cloudflare_token_file, "--cloudflare-token-file"))
    except (UsageError, CachectlError, SecretFileError) as error:
        print(f"invalidator: {error}", file=sys.stderr)
        return EXIT_USAGE
    settings = ConsumerSettings(claim_idle=claim_idle, max_deliveries=max_deliveries)
    return _serve(options, connection, secret, token, replicas, settings, listen.host, listen.port)


def _serve(
    options: argparse.Namespace,
    connection: ConnectionSettings,
    secret: bytes,
    token: str,
    replicas: int,
    settings: ConsumerSettings,
    host: str,
    port: int,
) -> int:
    from invalidator.consumer import Consumer
    from invalidator.purge import EdgePurger, PurgeLimits

    metrics = InvalidatorMetrics()
    purger = EdgePurger(
        options.zone_id,
        token,
        PurgeLimits.for_plan(options.plan, share=1 / replicas),
        metrics,
        base_url=options.cloudflare_base_url,
    )
    try:
        consumer = Consumer(options.name, connection, purger, metrics, settings)
    except CachectlError as error:
        print(f"invalidator: {error}", file=sys.stderr)
        return 1
    server = WebhookServer(
        Verifier(secret, redis_first_use(consumer.client), tolerance=DEFAULT_TOLERANCE),
        consumer.client,
        metrics,
        host=host,
        port=port,
    ).start()
    stopping = stop_on_signals()
    try:
        while not stopping.is_set():
            try:
                consumer.run_once()
            except Exception as error:  # a Redis outage: keep serving, retry the next round
                print(f"invalidator: {type(error).__name__}: {error}", file=sys.stderr)
                stopping.wait(1.0)
    finally:
        server.close()
        consumer.close()
        purger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
