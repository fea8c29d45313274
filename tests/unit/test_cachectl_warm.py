"""Warming plans and key sources: parsing, validation, and the runner's order and stop rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachectl.connection import CachectlError
from cachectl.warm import (
    COMPLETION_LIMIT_MINUTES,
    KeyRecord,
    KeysStep,
    PostStep,
    Reporter,
    WarmError,
    WarmPlan,
    check_key,
    load_plan,
    parse_key_line,
    parse_plan,
    run_plan,
)
from cachekit.keys import InvalidKeySegment


def test_a_plan_runs_hot_then_warm_then_cold_whatever_the_file_order(tmp_path: Path) -> None:
    data = {
        "tiers": {
            "cold": [{"keys": "old.jsonl"}],
            "hot": [
                {"post": "http://catalog.shop.svc/api/cache/warm/products", "timeoutSeconds": 30},
                {"keys": "sessions.tsv"},
            ],
            "warm": [{"keys": "prefs.txt", "format": "jsonl"}],
        }
    }
    plan = parse_plan(data, tmp_path)
    assert [(tier, number) for tier, number, _ in plan.steps()] == [
        ("hot", 1),
        ("hot", 2),
        ("warm", 1),
        ("cold", 1),
    ]
    steps = [step for _, _, step in plan.steps()]
    assert steps[0] == PostStep("http://catalog.shop.svc/api/cache/warm/products", 30.0)
    assert steps[1] == KeysStep((tmp_path / "sessions.tsv").resolve(), "lines")
    assert steps[2] == KeysStep((tmp_path / "prefs.txt").resolve(), "jsonl")
    assert steps[3] == KeysStep((tmp_path / "old.jsonl").resolve(), "jsonl")
    assert plan.completion_limit_minutes == COMPLETION_LIMIT_MINUTES == 30


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a mapping with 'tiers'"),
        ({"tiers": {}}, "tiers: a mapping"),
        ({"tiers": {"lukewarm": []}}, "unknown tier"),
        ({"tiers": {"hot": []}}, "no step"),
        ({"tiers": {"hot": {"keys": "a"}}}, "tiers.hot: a list"),
        ({"tiers": {"hot": [{"keys": "a", "post": "http://x/"}]}}, r"tiers.hot\[0\]: give exactly"),
        ({"tiers": {"hot": [{"post": "ftp://x/"}]}}, "an http"),
        ({"tiers": {"hot": [{"post": "http://x/", "timeoutSeconds": 0}]}}, "timeoutSeconds"),
        ({"tiers": {"hot": [{"keys": "a", "format": "csv"}]}}, "format"),
        ({"tiers": {"hot": [{"keys": "a", "ttl": 3}]}}, "unknown field"),
        ({"tiers": {"hot": [{"keys": "a"}]}, "completionLimitMinutes": -1}, "positive"),
    ],
)
def test_bad_plans_name_the_field(data: object, message: str, tmp_path: Path) -> None:
    with pytest.raises(CachectlError, match=message):
        parse_plan(data, tmp_path)


def test_load_plan_reads_yaml_and_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "plan.yaml"
    good.write_text("tiers:\n  hot:\n    - keys: hot.tsv\n")
    assert isinstance(load_plan(good), WarmPlan)
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers:\n  hot: [\n")
    with pytest.raises(CachectlError, match=r"bad\.yaml: not valid YAML: line 3"):
        load_plan(bad)
    with pytest.raises(CachectlError, match="cannot read the plan"):
        load_plan(tmp_path / "missing.yaml")


def test_key_lines_take_the_middle_as_the_value() -> None:
    line = "product:catalog:1:v1  a value with spaces  3600\n"
    assert parse_key_line(line, "lines") == KeyRecord(
        "product:catalog:1:v1", "a value with spaces", 3600
    )
    assert parse_key_line('user:session:abc:v2\t{"a": 1}\t900', "lines") == KeyRecord(
        "user:session:abc:v2", '{"a": 1}', 900
    )
    assert parse_key_line("   ", "lines") is None
    assert parse_key_line("# comment", "lines") is None


def test_jsonl_values_that_are_not_strings_are_stored_as_json() -> None:
    line = '{"key": "{product:catalog:7}:v3", "value": {"price": 10}, "ttl": 60}'
    assert parse_key_line(line, "jsonl") == KeyRecord("{product:catalog:7}:v3", '{"price": 10}', 60)


@pytest.mark.parametrize(
    ("line", "key_format", "error"),
    [
        ("product:catalog:1:v1 value", "lines", ValueError),
        ("product:catalog:1:v1 value 0", "lines", ValueError),
        ("product:catalog:1:v1 value soon", "lines", ValueError),
        ("catalog:1:v1 value 60", "lines", InvalidKeySegment),
        ("Product:catalog:1:v1 value 60", "lines", InvalidKeySegment),
        ("product:catalog:1:1 value 60", "lines", InvalidKeySegment),
        ('{"key": "product:catalog:1:v1", "value": "x"}', "jsonl", ValueError),
        ('{"key": "product:catalog:1:v1", "value": "x", "ttl": true}', "jsonl", ValueError),
        ('["product:catalog:1:v1", "x", 60]', "jsonl", ValueError),
        ("not json", "jsonl", ValueError),
    ],
)
def test_bad_key_lines_are_refused(line: str, key_format: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_key_line(line, key_format)  # type: ignore[arg-type]


def test_check_key_accepts_only_the_convention() -> None:
    check_key("order:details:67890:v1")
    check_key("{order:details:67890}:v1")
    for bad in ("{order:details}:67890:v1", "order:details:67890:v1:extra", "order:details:6 7:v1"):
        with pytest.raises(InvalidKeySegment):
            check_key(bad)


class RecordingReporter(Reporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def step_started(self, label: str, total: int | None) -> None:
        self.events.append(("start", (label, total)))

    def advance(self, amount: int) -> None:
        self.events.append(("advance", amount))

    def step_done(self, label: str, summary: str) -> None:
        self.events.append(("done", (label, summary)))


def test_the_runner_writes_in_batches_reports_progress_and_stops_at_the_first_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "hot.tsv").write_text(
        "".join(f"product:catalog:{n}:v1 value-{n} 600\n" for n in range(1200))
    )
    (tmp_path / "warm.tsv").write_text("user:prefs:1:v1 dark 600\nbroken line\n")
    (tmp_path / "cold.tsv").write_text("order:details:1:v1 x 600\n")
    plan = parse_plan(
        {
            "tiers": {
                "hot": [{"post": "http://svc/warm"}, {"keys": "hot.tsv"}],
                "warm": [{"keys": "warm.tsv"}],
                "cold": [{"keys": "cold.tsv"}],
            }
        },
        tmp_path,
    )
    batches: list[list[KeyRecord]] = []
    posts: list[str] = []

    def post(step: PostStep) -> str:
        posts.append(step.url)
        return "HTTP 204"

    reporter = RecordingReporter()
    result = run_plan(plan, batches.append, reporter, post=post)
    assert posts == ["http://svc/warm"]
    assert [len(batch) for batch in batches] == [500, 500, 200]
    assert result.keys_written == 1200
    assert result.steps_done == ["hot 1: POST http://svc/warm", "hot 2: keys from hot.tsv"]
    assert result.failure is not None
    assert result.failure.startswith("warm 1: keys from warm.tsv: warm.tsv line 2:")
    assert ("start", ("hot 2: keys from hot.tsv", 1200)) in reporter.events
    assert [e for e in reporter.events if e[0] == "advance"] == [
        ("advance", 500),
        ("advance", 500),
        ("advance", 200),
    ]
    assert all("cold" not in str(event) for event in reporter.events)


def test_a_failing_post_stops_before_the_next_step(tmp_path: Path) -> None:
    (tmp_path / "hot.tsv").write_text("product:catalog:1:v1 x 60\n")
    plan = parse_plan(
        {"tiers": {"hot": [{"post": "http://svc/warm"}, {"keys": "hot.tsv"}]}}, tmp_path
    )

    def post(step: PostStep) -> str:
        raise WarmError("POST http://svc/warm answered HTTP 503 Service Unavailable")

    writes: list[list[KeyRecord]] = []
    result = run_plan(plan, writes.append, RecordingReporter(), post=post)
    assert writes == []
    assert (
        result.failure
        == "hot 1: POST http://svc/warm: POST http://svc/warm answered HTTP 503 Service Unavailable"
    )
