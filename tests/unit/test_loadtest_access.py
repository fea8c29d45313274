"""The load's access model and the measured database load reduction (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.generator import PAGE_SIZE, list_path
from loadtest.harness import NoCachePass, RunRecord, Sample
from loadtest.report import compute_figures, judge, read_requests, scenario_marks
from loadtest.scenarios import FULL, SCENARIOS, SHORT
from stackconfig import adr


@pytest.mark.parametrize("catalog", [25, 300, 50_000])
def test_list_pages_scale_with_the_catalogue(catalog: int) -> None:
    pages = {list_path(rank) for rank in range(catalog)}
    assert len(pages) == -(-catalog // PAGE_SIZE)


def test_the_most_popular_products_share_the_first_list_page() -> None:
    assert {list_path(rank) for rank in range(PAGE_SIZE)} == {list_path(0)}
    assert list_path(PAGE_SIZE) != list_path(0)


def test_the_full_cold_start_runs_the_adr_s_ten_minutes() -> None:
    assert SCENARIOS["cold-start"].seconds_at(FULL) == SCENARIOS["cold-start"].seconds
    assert SCENARIOS["cold-start"].seconds_at(SHORT) < 60


def _write_requests(path: Path, count: int, start: float) -> None:
    lines = ["end_time,name,milliseconds,ok"]
    lines += [f"{start + n / 10:.3f},product,{5 + n % 10},1" for n in range(count)]
    path.write_text("\n".join(lines) + "\n")


def test_the_reduction_is_measured_against_the_pass_without_the_cache(tmp_path: Path) -> None:
    start = 1000.0
    record = RunRecord(SCENARIOS["baseline"], SHORT, 10, 20.0, start, tmp_path / "cached.csv")
    _write_requests(record.requests_csv, 200, start)
    # 200 requests with the cache cost 30 queries; without it, 180 requests cost 240 (lists and
    # writes cost more than one).
    record.samples = [Sample(start + t, 1.5 * t, 0, 0, 0, 0.1, 0, []) for t in range(21)]
    _write_requests(tmp_path / "plain.csv", 180, start + 30)
    record.no_cache = NoCachePass(tmp_path / "plain.csv", 240.0, 20.0)
    figures = compute_figures(record, read_requests(record.requests_csv))
    assert figures["db_queries_per_second"] == pytest.approx(1.5)
    assert figures["db_queries_per_second_without_cache"] == pytest.approx(12.0)
    assert figures["db_queries_per_request_with_cache"] == pytest.approx(30 / 200)
    assert figures["db_queries_per_request_without_cache"] == pytest.approx(240 / 180)
    assert figures["db_load_reduction"] == pytest.approx(1 - (30 / 200) / (240 / 180))
    assert "db_load_reduction_estimated" not in figures
    verdict = judge(figures, scenario_marks(record))["db_load_reduction"]
    assert verdict["mark"] == adr.DATABASE_LOAD_REDUCTION[0]
    assert verdict["pass"] is True


def test_without_a_pass_the_reduction_is_labelled_an_estimate(tmp_path: Path) -> None:
    start = 1000.0
    record = RunRecord(SCENARIOS["failover"], SHORT, 10, 20.0, start, tmp_path / "cached.csv")
    _write_requests(record.requests_csv, 200, start)
    record.samples = [Sample(start + t, 1.0 * t, 0, 0, 0, 0.1, 0, []) for t in range(21)]
    figures = compute_figures(record, read_requests(record.requests_csv))
    assert "db_load_reduction" not in figures
    assert figures["db_load_reduction_estimated"] == pytest.approx(1 - 20 / 200)


def test_the_edge_hit_ratio_counts_what_the_edge_answered_itself(tmp_path: Path) -> None:
    start = 1000.0
    record = RunRecord(SCENARIOS["failover"], SHORT, 10, 20.0, start, tmp_path / "edge.csv")
    verdicts = ["HIT"] * 6 + ["STALE", "REVALIDATED", "MISS", "BYPASS"]
    lines = ["end_time,name,milliseconds,ok,edge"]
    lines += [f"{start + n},product,5,1,{verdict}" for n, verdict in enumerate(verdicts)]
    record.requests_csv.write_text("\n".join(lines) + "\n")
    figures = compute_figures(record, read_requests(record.requests_csv))
    assert figures["edge_hit_ratio"] == pytest.approx(0.8)
    _write_requests(tmp_path / "plain.csv", 10, start)  # no edge: no such figure
    assert "edge_hit_ratio" not in compute_figures(record, read_requests(tmp_path / "plain.csv"))
