"""The load harness without servers: scenarios and their scale, the figures and verdicts a
report computes from request records and samples, the CLI's argument checks, and the README's
generated summary (drift test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import readme
from loadtest.__main__ import main as loadtest_main
from loadtest.harness import RunRecord, Sample, harness_thresholds
from loadtest.report import Request, build_report, compute_figures, judge, percentile
from loadtest.scenarios import FULL, SCENARIOS, SHORT, Scale
from stackconfig import adr

ROOT = Path(__file__).resolve().parents[2]


def test_scenarios_take_their_users_durations_and_marks_from_the_adr() -> None:
    assert SCENARIOS["baseline"].marks == adr.BASELINE_MARKS
    assert SCENARIOS["peak"].marks == adr.PEAK_MARKS
    assert SCENARIOS["cold-start"].marks == adr.COLD_START_MARKS
    assert SCENARIOS["failover"].marks == adr.FAILOVER_MARKS
    assert SCENARIOS["peak"].users == adr.PEAK_USERS == adr.SPIKE_MULTIPLIER * adr.BASELINE_USERS
    # The peak is 10x the baseline at every scale.
    for scale in (FULL, SHORT):
        ratio = SCENARIOS["peak"].users_at(scale) / SCENARIOS["baseline"].users_at(scale)
        assert ratio == adr.SPIKE_MULTIPLIER


def test_the_catalog_scales_with_the_requests_so_hit_rates_compare() -> None:
    baseline = SCENARIOS["baseline"]
    per_product = {
        scale.name: baseline.users_at(scale)
        * baseline.seconds_at(scale)
        / baseline.catalog_at(scale)
        for scale in (FULL, SHORT)
    }
    assert per_product["full"] == pytest.approx(per_product["short"], rel=0.05)


def test_short_runs_stay_ci_sized() -> None:
    total = sum(SCENARIOS[n].seconds_at(SHORT) for n in ("baseline", "cold-start", "failover"))
    assert total <= 90
    assert all(SCENARIOS[n].seconds_at(SHORT) < 60 for n in SCENARIOS)


@pytest.mark.parametrize("users,time", [(0, 0.5), (1.5, 0.5), (0.5, 0), (0.5, 2)])
def test_a_scale_outside_zero_to_one_is_refused(users: float, time: float) -> None:
    with pytest.raises(ValueError, match="scale"):
        Scale(users=users, time=time)


def test_the_harness_prometheus_shortens_only_the_alerts_waiting() -> None:
    thresholds = harness_thresholds()
    assert thresholds.hit_rate_critical == adr.HIT_RATE_CRITICAL
    assert thresholds.hit_rate_critical_for_seconds < adr.HIT_RATE_CRITICAL_FOR_SECONDS


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([], 0.95) == 0.0


def _sample(t: float, hits: float, misses: float, db: float) -> Sample:
    return Sample(t, db, hits, misses, 0.0, 0.3, 0.0, [])


def failover_record(tmp_path: Path) -> tuple[RunRecord, list[Request]]:
    start = 1000.0
    record = RunRecord(SCENARIOS["failover"], SHORT, 100, 40.0, start, tmp_path / "r.csv")
    record.chaos_at, record.recovered_at = start + 20, start + 26
    record.samples = [_sample(start + t, 10.0 * t, 1.0 * t, 2.0 * t) for t in range(0, 41)]
    requests = [Request(start + t / 10, "product", 0.010, True) for t in range(0, 200)]
    requests += [Request(start + 20 + t / 10, "product", 0.030, t % 50 != 0) for t in range(60)]
    requests += [Request(start + 30 + t / 10, "product", 0.010, True) for t in range(100)]
    return record, requests


def test_failover_figures_come_from_the_records_around_the_kill(tmp_path: Path) -> None:
    record, requests = failover_record(tmp_path)
    figures = compute_figures(record, requests)
    assert figures["failover_seconds"] == pytest.approx(6.0)
    assert figures["failed_requests"] == 2
    assert figures["availability"] == pytest.approx(358 / 360)
    assert figures["p95_before_seconds"] == pytest.approx(0.010)
    assert figures["p95_during_seconds"] == pytest.approx(0.030)
    assert figures["p95_degradation"] == pytest.approx(2.0)
    assert figures["hit_rate"] == pytest.approx(10 / 11)
    verdicts = judge(figures, adr.FAILOVER_MARKS)
    assert verdicts["availability"]["pass"] is True
    assert verdicts["failover_seconds"]["pass"] is True
    assert verdicts["failover_seconds"]["goal_met"] is True
    assert verdicts["p95_degradation"]["pass"] is False


def test_a_missing_figure_fails_its_mark() -> None:
    assert (
        judge({"failover_seconds": None}, {"failover_seconds": 30.0})["failover_seconds"]["pass"]
        is False
    )


def test_a_bad_scenario_or_argument_is_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert loadtest_main(["no-such"]) == 2
    assert loadtest_main(["baseline", "--db-latency-ms", "80-20"]) == 2
    assert loadtest_main(["baseline", "--conf", "/nonexistent/redis.conf"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert "'no-such' is not a scenario; allowed: baseline, peak" in lines[0]
    assert "--db-latency-ms='80-20'" in lines[1]


def test_the_makefile_check_names_the_scenarios_with_the_stdlib_alone() -> None:
    result = subprocess.run(
        [sys.executable, "-S", "-m", "loadtest.scenarios", "nope"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "allowed: baseline, peak, cold-start, failover, memory-pressure, partition" in (
        result.stderr
    )


def test_the_readme_summary_is_generated_from_the_committed_reports() -> None:
    text = (ROOT / "README.md").read_text()
    assert text == readme.updated_readme(text, readme.render_summary(readme.load_reports()))


def test_publish_copies_only_full_length_runs(tmp_path: Path) -> None:
    record, requests = failover_record(tmp_path)
    runs, validation = tmp_path / "runs", tmp_path / "validation"
    for scale, name in ((FULL, "failover"), (SHORT, "baseline")):
        record.scale = scale
        record.scenario = SCENARIOS[name]
        (runs / name).mkdir(parents=True)
        report = build_report(record, requests)
        (runs / name / "report.json").write_text(json.dumps(report))
        (runs / name / "timeline.png").write_bytes(b"png")
    assert readme.publish(runs, validation) == ["failover"]
    published = json.loads((validation / "failover" / "report.json").read_text())
    assert published["marks"]["availability"]["pass"] is True
    assert "| availability | 99.44 % | > 99.00 % (goal 99.90 %) | yes |" in (
        (validation / "failover" / "report.md").read_text()
    )
    assert not (validation / "baseline").exists()
    summary = readme.render_summary(readme.load_reports(validation))
    assert "[failover](docs/validation/failover/report.md)" in summary
