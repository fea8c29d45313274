"""The price sheet: every price carries its source page and the date it was read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cost.prices import PRICE_SHEET, load_price_sheet, parse_price_sheet

READ = "2026-11-25"


def price_entries(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "source" in node or "usd" in node or "value" in node:
            return [(path, node)]
        return [e for k, v in node.items() for e in price_entries(v, f"{path}.{k}".lstrip("."))]
    return []


DOCUMENT = json.loads(PRICE_SHEET.read_text())
ENTRIES = price_entries({k: v for k, v in DOCUMENT.items() if isinstance(v, dict)})


def test_the_sheet_has_prices() -> None:
    assert len(ENTRIES) > 40


@pytest.mark.parametrize(("path", "entry"), ENTRIES, ids=[path for path, _ in ENTRIES])
def test_every_price_names_its_source_and_read_date(path: str, entry: dict[str, Any]) -> None:
    assert str(entry.get("source", "")).startswith("https://"), path
    assert entry.get("read") == READ, path


def test_instance_types_are_the_graviton_families_the_brief_lists() -> None:
    sheet = load_price_sheet()
    for family in ("r6g", "r7g", "m6g", "m7g"):
        for size in ("large", "xlarge", "2xlarge"):
            instance = sheet.instances[f"{family}.{size}"]
            assert instance.hourly_usd > 0 and instance.memory_gib > 0 and instance.max_pods > 0
    # r-family doubles memory per vCPU: the same price buys twice the GiB of an m of equal vCPU.
    assert sheet.instances["r6g.large"].memory_gib == 2 * sheet.instances["m6g.large"].memory_gib


def test_enterprise_has_no_list_price() -> None:
    plans = load_price_sheet().cloudflare_plans
    assert plans["enterprise"] is None
    assert plans["free"] == 0 and plans["pro"] and plans["business"]


def test_a_malformed_sheet_is_refused() -> None:
    broken = json.loads(PRICE_SHEET.read_text())
    del broken["ebs"]["gp3"]["usd"]
    with pytest.raises(KeyError):
        parse_price_sheet(broken)
