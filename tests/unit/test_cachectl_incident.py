"""cachectl under an incident, without a server: wording, refusals, exit codes, partial results.

Each case was a defect: "1 keys", "purged 1 files", an edge purge --dry-run that passed without
a zone or token, a malformed --node exiting 1, completionLimitMinutes: NaN accepted, no checklist
at all when the cluster or Prometheus could not be read, Redis's HELLO text instead of "no
password given".
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import redis
from typer.testing import Result

from cachectl import health, warm
from cachectl.cli import app
from cachectl.edge import PurgeRequest
from cachectl.errors import redis_auth_message
from cachectl.wording import count, count_plural
from tests.support.cli import invoke
from tests.support.tools import free_port

CLEAN_ENV = {
    "CACHECTL_NODE": "",
    "REDISCLI_AUTH": "",
    "REDIS_PASSWORD_FILE": "",
    "REDIS_USER": "",
    "REDIS_USER_FILE": "",
    "CLOUDFLARE_ZONE_ID": "",
    "CLOUDFLARE_API_TOKEN": "",
}


def run(*args: str, **env: str) -> Result:
    return invoke(app, args, env={**CLEAN_ENV, **env})


def test_counts_read_as_english() -> None:
    assert count(1, "key") == "1 key"
    assert count(0, "key") == "0 keys"
    assert count(5000, "key") == "5000 keys"
    assert count_plural(1, "files") == "1 file"
    assert count_plural(2, "prefixes") == "2 prefixes"
    assert PurgeRequest("files", ("https://a/x",)).describe() == "1 file: https://a/x"


@pytest.mark.parametrize(
    ("env", "missing"),
    [({}, "no zone"), ({"CLOUDFLARE_ZONE_ID": "zone"}, "CLOUDFLARE_API_TOKEN")],
)
def test_an_edge_dry_run_without_zone_or_token_is_refused(
    env: dict[str, str], missing: str
) -> None:
    result = run("invalidate", "--edge-tag", "product-1", "--dry-run", **env)
    assert result.exit_code == 1, result.output
    assert missing in result.stderr and "would purge" not in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("health", "--node", "redis"),
        ("health", "--node", "redis:0"),
        ("failover", "--node", "10.0.0.1:0"),
        ("health", "--node", "redis:٣"),  # a non-ASCII digit: int() takes it, ports do not
    ],
)
def test_a_malformed_node_is_a_usage_error(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: bad node address") and "Traceback" not in result.output


@pytest.mark.parametrize("limit", [math.nan, math.inf, -1, 0, True, "30"])
def test_a_completion_limit_must_be_a_positive_finite_number(limit: object) -> None:
    data = {"completionLimitMinutes": limit, "tiers": {"hot": [{"post": "http://a/"}]}}
    with pytest.raises(Exception, match="completionLimitMinutes"):
        warm.parse_plan(data, Path())


def test_a_nan_limit_in_a_plan_file_is_exit_2(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("completionLimitMinutes: .nan\ntiers:\n  hot:\n    - post: http://a/\n")
    result = run("warm", "--plan", str(plan))
    assert result.exit_code == 2, result.output
    assert f"{plan}: completionLimitMinutes" in result.stderr


def test_health_of_an_unreachable_cluster_still_writes_the_checklist_as_json() -> None:
    port = free_port()
    result = run("health", "--json", "--node", f"127.0.0.1:{port}")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and f"127.0.0.1:{port}" in report["error"]
    assert len(report["checks"]) == len(health.evaluate([]))
    assert {check["status"] for check in report["checks"]} == {"unknown"}
    assert all("cannot reach the cluster" in check["detail"] for check in report["checks"])
    assert len(result.stderr.strip().splitlines()) == 1


def test_prometheus_down_makes_only_the_hit_rate_unknown() -> None:
    checks = health.evaluate([], service_hit_rates="Prometheus at http://p is unreachable")
    unknown = [check for check in checks if check.status is health.Status.UNKNOWN]
    assert [check.name for check in unknown] == ["cache hit rate above 95 %"]
    assert "rerun without --prometheus" in unknown[0].detail
    assert unknown[0].line.startswith("? cache hit rate")


@pytest.mark.parametrize(
    "reply",
    [
        "NOAUTH Authentication required.",
        "HELLO must be called with the client already authenticated, otherwise the HELLO "
        "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
        "protocol version at the same time",
    ],
)
def test_no_password_reads_as_such(reply: str) -> None:
    message = redis_auth_message(redis.ResponseError(reply), "")
    assert message is not None and message.startswith("no password given: set REDISCLI_AUTH")


def test_a_refused_password_names_its_file_not_redescli_auth() -> None:
    error = redis.AuthenticationError("invalid username-password pair or user is disabled.")
    message = redis_auth_message(error, "the password file /run/secrets/redis", None)
    assert message is not None
    assert "the password file /run/secrets/redis" in message
    assert "REDISCLI_AUTH" not in message


class Recorder(warm.Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def step_done(self, label: str, summary: str) -> None:
        self.lines.append(f"✓ {label}: {summary}")

    def step_failed(self, label: str, reason: str) -> None:
        self.lines.append(f"✗ {label}: {reason}")


def test_a_failed_warm_step_is_reported_as_failed(tmp_path: Path) -> None:
    data = {"tiers": {"hot": [{"post": "http://a/"}, {"post": "http://b/"}]}}
    plan = warm.parse_plan(data, tmp_path)
    reporter = Recorder()

    def post(step: warm.PostStep) -> str:
        if step.url == "http://b/":
            raise warm.WarmError("answered HTTP 503")
        return "HTTP 200"

    result = warm.run_plan(plan, lambda records: None, reporter, post=post)
    assert reporter.lines == [
        "✓ hot 1: POST http://a/: HTTP 200",
        "✗ hot 2: POST http://b/: answered HTTP 503",
    ]
    assert result.failure is not None


def test_every_variable_cachectl_reads_is_in_the_operations_doc() -> None:
    import typer.main

    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    command = typer.main.get_command(app)
    variables: set[str] = set()

    def collect(group: object) -> None:
        for sub in getattr(group, "commands", {}).values():
            collect(sub)
        for param in getattr(group, "params", []):
            envvar = getattr(param, "envvar", None)
            names = [envvar] if isinstance(envvar, str) else list(envvar or [])
            variables.update(names)

    collect(command)
    backup_only = {"REDIS_NODES", "BACKUP_BUCKET", "BACKUP_PREFIX", "AWS_REGION",
                   "AWS_DEFAULT_REGION", "BACKUP_KMS_KEY_ID", "BACKUP_WORK_DIR",
                   "BACKUP_SNAPSHOT_TIMEOUT"}  # fmt: skip
    assert "CLOUDFLARE_BASE_URL" in variables
    missing = sorted(name for name in variables - backup_only if f"`{name}`" not in doc)
    assert not missing, f"not in docs/operations.md: {missing}"


# ---- inputs found by fuzzing cachectl that ended in "unexpected <Error>" ----------------


def test_a_port_of_thousands_of_digits_is_a_usage_error_not_a_value_error() -> None:
    result = run("health", "--node", "redis:" + "9" * 5000)
    assert result.exit_code == 2 and "bad node address" in result.stderr
    assert "unexpected" not in result.stderr


def test_a_host_with_a_control_character_is_a_usage_error() -> None:
    result = run("health", "--node", "re\x00dis:6379")
    assert result.exit_code == 2 and "bad node address" in result.stderr


def test_a_key_file_name_with_a_nul_byte_is_a_plan_error(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"tiers": {"hot": [{"keys": "a\u0000b"}]}}))
    result = run("warm", "--plan", str(plan))
    assert result.exit_code == 2 and "tiers.hot[0].keys" in result.stderr
    assert "unexpected" not in result.stderr


@pytest.mark.parametrize("timeout", [".inf", "1.0e+400", "-.inf", ".nan", "100000"])
def test_an_infinite_post_timeout_is_a_plan_error(tmp_path: Path, timeout: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"tiers:\n  hot:\n    - post: http://a/\n      timeoutSeconds: {timeout}\n")
    result = run("warm", "--plan", str(plan))
    assert result.exit_code == 2 and "timeoutSeconds" in result.stderr, result.output


def test_a_key_file_that_is_not_utf8_fails_its_step_by_name(tmp_path: Path) -> None:
    (tmp_path / "bad.tsv").write_bytes(b"shop:item:1:v1 \xff\xfe 60\n")
    plan = warm.parse_plan({"tiers": {"hot": [{"keys": "bad.tsv"}]}}, tmp_path)
    result = warm.run_plan(plan, lambda records: None, Recorder())
    assert result.failure is not None and "bad.tsv is not UTF-8" in result.failure


def test_a_deeply_nested_key_record_is_a_bad_line(tmp_path: Path) -> None:
    (tmp_path / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    plan = warm.parse_plan({"tiers": {"hot": [{"keys": "deep.jsonl"}]}}, tmp_path)
    result = warm.run_plan(plan, lambda records: None, Recorder())
    assert result.failure is not None and "deep.jsonl line 1: nested too deeply" in result.failure


@pytest.mark.parametrize("text", ["a: " + "[" * 5000 + "]" * 5000, "tiers: \udcff"])
def test_a_deep_or_undecodable_plan_is_a_plan_error(tmp_path: Path, text: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(text.encode(errors="surrogateescape"))
    result = run("warm", "--plan", str(plan))
    assert result.exit_code == 2 and str(plan) in result.stderr
    assert "unexpected" not in result.stderr
