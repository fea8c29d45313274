"""Every JSON example in docs/invalidation.md is a valid event for the consumer's parser, and
the purge limits the page lists are the plan table's."""

from __future__ import annotations

import re
from pathlib import Path

from cachekit.events import parse_event
from stackconfig.cloudflare_plans import PLANS

DOC = Path(__file__).resolve().parents[2] / "docs" / "invalidation.md"


def test_every_json_example_parses() -> None:
    examples = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)
    kinds = [parse_event(example).kind for example in examples]
    assert kinds == ["price_change", "product_update", "category_rebuild"]


def test_the_purge_limits_table_matches_the_plan_table() -> None:
    text = DOC.read_text()
    for plan, row in PLANS.items():
        line = next(line for line in text.splitlines() if line.startswith(f"| {plan} |"))
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[2] == str(row.purge_bucket)
        assert cells[3] == str(row.purge_urls_per_second)
        assert cells[4] == str(row.purge_items_per_request)
