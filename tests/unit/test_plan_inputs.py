"""Hostile and careless inputs to the offline plan: exit 2, one line naming file and key, no trace.

Every case here was found by trying the plan as a hostile or careless user would (issue 14); each
used to give a traceback, exit 0/1, or touch a file outside build/<stack>.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from plan.__main__ import main
from tests.support.documents import read_yaml

ROOT = Path(__file__).resolve().parents[2]
PROD_POLICY = ROOT / "policies" / "config" / "prod.json"


def _prod_config() -> dict[str, Any]:
    return read_yaml(ROOT / "Pulumi.prod.yaml")


def _secrets(config: dict[str, Any]) -> None:
    config["config"]["cache-platform:alertingSecrets"] = {
        name: {"secure": "v1:notreal=="} for name in ("oncall", "senior", "manager", "team")
    }


def _section(name: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["config"][f"cache-platform:{name}"].update(values)

    return edit


def run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    stack_text: str | None = None,
    policy_text: str | None = None,
    stack: str = "prod",
) -> tuple[int, list[str]]:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(stack_text if stack_text is not None else yaml.safe_dump(_prod_config()))
    policy_file = tmp_path / "prod.json"
    policy_file.write_text(policy_text if policy_text is not None else PROD_POLICY.read_text())
    argv = ["--stack", stack, "--stack-file", str(stack_file), "--policy-config", str(policy_file)]
    code = main([*argv, "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.splitlines()
    return code, lines


def edited(edit: Callable[[dict[str, Any]], None]) -> str:
    config = _prod_config()
    _secrets(config)
    edit(config)
    return yaml.safe_dump(config)


PROD_TEXT = (ROOT / "Pulumi.prod.yaml").read_text()

STACK_FILE_CASES: list[tuple[str, str, str]] = [
    # (case, stack file text, what the one line must name)
    ("malformed YAML", PROD_TEXT + "  cache-platform:cdn: [unclosed\n", "Pulumi.prod.yaml: line"),
    ("tab indentation", PROD_TEXT.replace("    primaries: 3", "\tprimaries: 3"), "tabs"),
    ("document is a list", "- config\n- 1\n", "expected a map with a `config:` key"),
    ("config is a list", "config:\n  - a\n  - b\n", "config: expected a map"),
    (
        "list where a section map belongs",
        edited(lambda c: c["config"].__setitem__("cache-platform:redis", [1, 2])),
        "cache-platform:redis: a list is not allowed; expected an object",
    ),
    (
        "non-string key",
        PROD_TEXT.replace("    primaries: 3", "    primaries: 3\n    1: 2"),
        "the key 1 is not a string",
    ),
    (
        "mixed integer and string unknown keys",
        PROD_TEXT.replace("    primaries: 3", "    primaries: 3\n    7: x\n    bogus: y"),
        "the key 7 is not a string",
    ),
    (
        "memory 1e9999999",
        edited(_section("redis", memory="1e9999999")),
        "cache-platform:redis.memory: '1e9999999' is not allowed",
    ),
    ("very deep nesting", "config:\n  x: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    (
        "duplicated section",
        PROD_TEXT + "  cache-platform:redis:\n    primaries: 1\n",
        "the key 'cache-platform:redis' is given twice",
    ),
    (
        "duplicated key in a section",
        PROD_TEXT.replace("    primaries: 3", "    primaries: 3\n    primaries: 30"),
        "the key 'primaries' is given twice",
    ),
    (
        "plain-text alerting credential",
        edited(
            lambda c: c["config"]["cache-platform:alertingSecrets"].__setitem__(
                "oncall", "pd-routing-key-in-clear"
            )
        ),
        "pulumi config set --secret --path 'cache-platform:alertingSecrets.oncall'",
    ),
    (
        "plain-text alerting credentials as one string",
        edited(lambda c: c["config"].__setitem__("cache-platform:alertingSecrets", "abc")),
        "cache-platform:alertingSecrets: is in plain text",
    ),
    (
        "monthlyEgressGb .inf",
        PROD_TEXT.replace("monthlyEgressGb: 3000", "monthlyEgressGb: .inf"),
        "cache-platform:cdn.monthlyEgressGb: inf is not allowed; expected a finite number",
    ),
    (
        "monthlyEgressGb .nan",
        PROD_TEXT.replace("monthlyEgressGb: 3000", "monthlyEgressGb: .nan"),
        "cache-platform:cdn.monthlyEgressGb: nan is not allowed; expected a finite number",
    ),
    (
        "monthlyEgressGb beyond any sane traffic",
        edited(_section("cdn", monthlyEgressGb=1e300)),
        "cache-platform:cdn.monthlyEgressGb: 1e+300 is not allowed; must be between 0 and",
    ),
    (
        "longExtensions empty",
        edited(_section("cdn", longExtensions=[])),
        "cache-platform:cdn.longExtensions: a list is not allowed; must not be empty",
    ),
    (
        "bypassPaths empty",
        edited(_section("cdn", bypassPaths=[])),
        "cache-platform:cdn.bypassPaths: a list is not allowed; must not be empty",
    ),
    (
        "cron out of range",
        edited(_section("backups", schedule="99 99 99 99 99")),
        "cache-platform:backups.schedule: '99 99 99 99 99' is not allowed",
    ),
    (
        "100,000 primaries",
        edited(_section("redis", primaries=100_000)),
        "cache-platform:redis.primaries: 100000 is not allowed; must be between 1 and 100",
    ),
    (
        "node timeout of a day",
        edited(_section("redis", nodeTimeoutMs=86_400_000)),
        "cache-platform:redis.nodeTimeoutMs: 86400000 is not allowed",
    ),
    (
        "memory of a petabyte",
        edited(_section("redis", memory="1Pi")),
        "cache-platform:redis.memory: '1Pi' is not allowed; must be between 64Mi and 1Ti",
    ),
    (
        "control character in grafanaAdminUser",
        edited(_section("monitoring", grafanaAdminUser="adm\x1b[2Jin")),
        "cache-platform:monitoring.grafanaAdminUser:",
    ),
    (
        "bidi mark in grafanaAdminUser",
        edited(_section("monitoring", grafanaAdminUser="admin\u202egnp.exe")),
        "U+202E",
    ),
    (
        "bidi mark in a receiver name",
        edited(
            lambda c: c["config"]["cache-platform:monitoring"].__setitem__(
                "receivers", {"team\u2066": {"type": "webhook", "url": "https://x.example"}}
            )
        ),
        "U+2066",
    ),
]


@pytest.mark.parametrize(
    ("text", "named"),
    [(text, named) for _, text, named in STACK_FILE_CASES],
    ids=[case for case, _, _ in STACK_FILE_CASES],
)
def test_bad_stack_file_exits_2_with_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    code, lines = run(tmp_path, capsys, stack_text=text)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("plan: Pulumi.prod.yaml"), lines
    assert named in lines[0], lines
    assert not (tmp_path / "out").exists()


POLICY_CASES: list[tuple[str, str, str]] = [
    ("capital M", '{"all": "Mandatory"}', "all.enforcementLevel: 'Mandatory' is not allowed"),
    ("typo", '{"all": "mandtory"}', "all.enforcementLevel: 'mandtory' is not allowed"),
    (
        "typo inside a policy entry",
        '{"stack-cost-stay-within-budget": {"enforcementLevel": "MANDATORY"}}',
        "stack-cost-stay-within-budget.enforcementLevel: 'MANDATORY' is not allowed",
    ),
    ("malformed", '{"all": ', "prod.json: malformed JSON"),
    ("empty", "", "prod.json: is empty"),
    ("list-shaped", '["mandatory"]', "prod.json: expected a JSON object"),
    ("level of the wrong type", '{"all": 1}', "prod.json: all: expected a level or an object"),
    (
        "unknown policy",
        '{"all": "mandatory", "stack-cost-stay-within-budgets": "mandatory"}',
        "did you mean 'stack-cost-stay-within-budget'?",
    ),
    (
        "infinite limit",
        '{"stack-cost-stay-within-budget": {"totalMonthlyUsd": 1e999}}',
        "stack-cost-stay-within-budget.totalMonthlyUsd: inf is not allowed",
    ),
    (
        "NaN limit",
        '{"stack-cost-stay-within-budget": {"totalMonthlyUsd": NaN}}',
        "NaN is not a number JSON allows",
    ),
    (
        "limit of the wrong type",
        '{"stack-cost-stay-within-budget": {"totalMonthlyUsd": "1000"}}',
        "'1000' is not allowed; expected a finite number",
    ),
]


@pytest.mark.parametrize(
    ("text", "named"),
    [(text, named) for _, text, named in POLICY_CASES],
    ids=[case for case, _, _ in POLICY_CASES],
)
def test_bad_policy_config_exits_2_before_the_program_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    code, lines = run(tmp_path, capsys, stack_text=edited(lambda c: None), policy_text=text)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("plan: prod.json"), lines
    assert named in lines[0], lines
    assert not (tmp_path / "out").exists(), "the program must not have run"


@pytest.mark.parametrize(
    "stack", ["../../somewhere/important", "/etc", "prod/../dev", "Prod", "dev ", "", "a" * 64]
)
def test_stack_name_that_is_not_an_identifier_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stack: str
) -> None:
    code, lines = run(tmp_path, capsys, stack=stack)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("plan: --stack:"), lines


def test_a_path_in_the_stack_name_touches_nothing_outside(tmp_path: Path) -> None:
    """The old plan deleted build/<stack> first, so `--stack ../../x` deleted a folder outside."""
    victim = tmp_path / "important"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    stack = os.path.relpath(victim, ROOT / "build")  # build/<stack> is the victim
    result = subprocess.run(
        [sys.executable, "-m", "plan", "--stack", stack],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert (victim / "keep.txt").read_text() == "precious"


def test_out_folder_that_is_not_a_plan_is_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code, lines = run(tmp_path, capsys, stack_text=edited(lambda c: None))
    assert code == 2
    assert lines == [lines[0]] and "is not a plan output folder" in lines[0]
    assert (out / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("stack", ["prod;touch pwned", "prod$(touch pwned)", "dev touch", "../x"])
def test_make_refuses_a_stack_that_is_not_an_identifier(tmp_path: Path, stack: str) -> None:
    """`make plan STACK='prod;touch pwned'` ran the injected command (STACK was unquoted)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), "plan", f"STACK={stack}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "STACK must be" in result.stderr
    assert not (ROOT / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_make_passes_a_valid_stack_quoted() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), "plan", "STACK=dev"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--stack 'dev'" in result.stdout


def test_the_engine_refuses_alerting_credentials_not_set_as_secrets() -> None:
    from pulumi.runtime.config import set_all_config

    from stackconfig.stack_file import plaintext_secret_keys

    config = {"cache-platform:alertingSecrets": '{"oncall": "pd-key-in-clear"}'}
    try:
        set_all_config(config, [])
        assert plaintext_secret_keys() == ["cache-platform:alertingSecrets"]
        set_all_config(config, ["cache-platform:alertingSecrets"])
        assert plaintext_secret_keys() == []
    finally:
        set_all_config({}, [])


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("key", "image", "allowed"),
    [
        ("image", f"redis:7.2.6@{DIGEST}", True),
        ("image", f"registry.example.com:5000/team/redis:7.2.6@{DIGEST}", True),
        ("image", f"redis@{DIGEST}", True),
        ("image", "redis@sha256:abc", False),
        ("image", f"redis:7.2.6@sha256:{'0' * 63}G", False),
        ("image", "redis:latest", False),
        ("image", "redis", False),
        ("exporterImage", "oliver006/redis_exporter:v1.88.0", True),
        ("exporterImage", f"oliver006/redis_exporter:v1.83.0@{DIGEST}", True),
        ("exporterImage", f"oliver006/redis_exporter@{DIGEST}", True),
        ("exporterImage", "oliver006/redis_exporter:v1.62.0", False),
        ("exporterImage", "oliver006/redis_exporter:v1.82.9-alpine", False),
    ],
)
def test_images_pinned_by_tag_or_digest_and_an_exporter_without_the_scrape_leak(
    key: str, image: str, allowed: bool
) -> None:
    from stackconfig.config import ConfigError, parse_stack_config

    raw = {"environment": "dev", "redis": {key: image}, "cdn": {"enabled": False}}
    raw["monitoring"] = {"enabled": False}
    raw["backups"] = {"enabled": False}
    if allowed:
        assert (
            getattr(parse_stack_config(raw).redis, "image" if key == "image" else "exporter_image")
            == image
        )
        return
    with pytest.raises(ConfigError) as error:
        parse_stack_config(raw)
    assert error.value.problems[0].startswith(f"cache-platform:redis.{key}: '{image}'")
