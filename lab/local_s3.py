# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""A local S3 (and KMS) on 127.0.0.1 for rehearsing the backup runbook: moto's server mode.

    python -m lab.local_s3 [--port 0] [--bucket redis-backups-drill]

prints the variables that point `cachectl backup` at it (AWS_ENDPOINT_URL_S3, a throw-away
access key, BACKUP_BUCKET, BACKUP_KMS_KEY_ID) and serves until Ctrl-C. Everything lives in
memory and is gone when it stops. `LocalS3` is the same server for programs (the backup drill).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

REGION = "eu-west-1"
DEFAULT_BUCKET = "redis-backups-drill"
# moto accepts any key; these only keep boto3 from looking for real credentials.
_FAKE_KEY_ID = "drill-access-key"
_FAKE_SECRET = "drill-secret-key"


@dataclass
class LocalS3:
    """moto's threaded server on 127.0.0.1 with one bucket and one KMS key."""

    bucket: str = DEFAULT_BUCKET
    port: int = 0
    endpoint: str = ""
    kms_key_id: str = ""
    _server: Any = field(default=None, repr=False)

    def start(self) -> LocalS3:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as error:  # flask / flask-cors missing: moto's server extra
            raise SystemExit(
                f"moto's server mode needs {error.name}: run `make setup` (requirements.txt)"
            ) from None
        # One access-log line per request would bury the drill's figures.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.port = int(port)
        self.endpoint = f"http://{host}:{port}"
        self.kms_key_id = self._create_bucket_and_key()
        return self

    def _client(self, service: str) -> Any:
        import boto3

        client = cast(Any, boto3.client)(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=_FAKE_KEY_ID,
            aws_secret_access_key=_FAKE_SECRET,
        )
        return client

    def _create_bucket_and_key(self) -> str:
        self._client("s3").create_bucket(
            Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        key: dict[str, Any] = self._client("kms").create_key(Description="backup drill")
        return str(key["KeyMetadata"]["Arn"])

    def environment(self) -> Mapping[str, str]:
        """What `cachectl backup` needs to use this S3 instead of AWS."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": _FAKE_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": _FAKE_SECRET,
            "AWS_REGION": REGION,
            "BACKUP_BUCKET": self.bucket,
            "BACKUP_KMS_KEY_ID": self.kms_key_id,
        }

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.local_s3", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    options = parser.parse_args()
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with LocalS3(bucket=options.bucket, port=options.port) as s3:
        for name, value in s3.environment().items():
            print(f"export {name}={value}")
        print(f"# local S3 on {s3.endpoint}; stop with Ctrl-C or kill -TERM {os.getpid()}")
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
