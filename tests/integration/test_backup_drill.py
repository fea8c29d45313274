"""`make drill-backup` in small: backup -> wipe -> restore -> load on the lab through the backup
program's own command line, against the local S3 (moto's server mode on 127.0.0.1)."""

from __future__ import annotations

import pytest

from lab.backup_drill import drill
from tests.support.redis_lab import require_redis_tools

pytestmark = pytest.mark.integration


def test_the_drill_brings_every_key_back(capsys: pytest.CaptureFixture[str]) -> None:
    require_redis_tools()
    assert drill(keys=600)
    out = capsys.readouterr().out
    assert "✓ every key back (600 of 600)" in out and "✗" not in out
    assert "HTTP/1.1" not in out
