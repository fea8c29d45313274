"""Fixtures of the integration tests: real Redis Clusters (see tests/support/redis_lab.py)."""

from tests.support.redis_lab import lab, make_lab, shared_lab

__all__ = ["lab", "make_lab", "shared_lab"]
