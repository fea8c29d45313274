"""README tables (config, policies, cache tiers) match the code: the users' contract."""

from __future__ import annotations

from plan.readme import README, render


def test_generated_tables_are_current() -> None:
    current = README.read_text()
    assert render(current) == current, "README.md is stale: run `.venv/bin/python -m plan.readme`"


def test_every_config_section_is_documented() -> None:
    text = README.read_text()
    for key in (
        "redis.memory",
        "cdn.tiers.short.edgeTtl",
        "monitoring.retention",
        "backups.schedule",
        "traffic.services",
        "alertingSecrets",
    ):
        assert f"`cache-platform:{key}" in text, key
