"""`cache-platform:invalidation` and `cloudflarePurgeToken`: every bad value is refused up front,
by the plan with exit 2 and one line naming the file, the key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plan.__main__ import main
from plan.runner import prepare_config
from stackconfig.config import (
    TOOLS_IMAGE,
    BackupsConfig,
    ConfigError,
    InvalidationConfig,
    parse_stack_config,
)
from tests.support.documents import read_yaml

ROOT = Path(__file__).resolve().parents[2]
PROD_POLICY = ROOT / "policies" / "config" / "prod.json"


def prod_stack(**invalidation: Any) -> dict[str, Any]:
    document = read_yaml(ROOT / "Pulumi.prod.yaml")
    document["config"]["cache-platform:invalidation"] = invalidation
    return document


def plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any
) -> tuple[int, list[str]]:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    code = main(
        [
            "--stack",
            "prod",
            "--stack-file",
            str(stack_file),
            "--policy-config",
            str(PROD_POLICY),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    return code, capsys.readouterr().err.splitlines()


CASES: list[tuple[dict[str, Any], str]] = [
    # (the section as written, what the one line must say after the file name)
    (
        {"enabled": True, "replicas": 1},
        "cache-platform:invalidation.replicas: 1 is not allowed; must be between 2 and 20",
    ),
    (
        {"enabled": True, "replicas": "two"},
        "cache-platform:invalidation.replicas: 'two' is not allowed; expected an integer",
    ),
    (
        {"enabled": "yes"},
        "cache-platform:invalidation.enabled: 'yes' is not allowed; expected a boolean",
    ),
    (
        {"enabled": True, "image": "ghcr.io/acme/cache-platform-tools:latest"},
        "cache-platform:invalidation.image: 'ghcr.io/acme/cache-platform-tools:latest' is not "
        "allowed; must be pinned to a version",
    ),
    (
        {"enabled": True, "image": "ghcr.io/acme/cache-platform-tools"},
        "cache-platform:invalidation.image: 'ghcr.io/acme/cache-platform-tools' is not allowed; "
        "must be pinned",
    ),
    (
        {"enabled": True, "claimIdleSeconds": 0},
        "cache-platform:invalidation.claimIdleSeconds: 0 is not allowed; must be between 5 and 600",
    ),
    (
        {"enabled": True, "memory": "12XB"},
        "cache-platform:invalidation.memory: '12XB' is not allowed; expected a Kubernetes quantity",
    ),
    (
        {"enabled": True, "memory": "16Mi"},
        "cache-platform:invalidation.memory: '16Mi' is not allowed; must be between 64Mi and 4Gi",
    ),
    (
        {"enabled": True, "cpu": "0"},
        "cache-platform:invalidation.cpu: '0' is not allowed; must be greater than zero",
    ),
    (
        {"enabled": True, "webhookNamespaceLabel": "has space"},
        "cache-platform:invalidation.webhookNamespaceLabel: 'has space' is not allowed; expected "
        "a label key",
    ),
    (
        {"enabled": True, "replica": 3},
        "cache-platform:invalidation.replica: 3 is not allowed; unknown key; did you mean "
        "'replicas'?",
    ),
]


@pytest.mark.parametrize(("section", "line"), CASES, ids=[c[1].split(":")[2] for c in CASES])
def test_a_bad_value_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: dict[str, Any], line: str
) -> None:
    code, lines = plan(tmp_path, capsys, prod_stack(**section))
    assert code == 2, lines
    assert lines == [f"plan: Pulumi.prod.yaml: {line}"] or (
        len(lines) == 1 and lines[0].startswith(f"plan: Pulumi.prod.yaml: {line}")
    ), lines
    assert not (tmp_path / "out").exists(), "nothing may run on an invalid config"


def test_invalidation_without_the_edge_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = prod_stack(enabled=True)
    document["config"]["cache-platform:cdn"] = {"enabled": False}
    code, lines = plan(tmp_path, capsys, document)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "plan: Pulumi.prod.yaml: cache-platform:invalidation.enabled: true is not allowed; "
    ), lines
    assert "cdn.enabled" in lines[0]


def test_a_purge_token_in_plain_text_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = prod_stack(enabled=True)
    document["config"]["cache-platform:cloudflarePurgeToken"] = "a-real-token-in-git"
    code, lines = plan(tmp_path, capsys, document)
    assert code == 2
    assert len(lines) == 1 and "cache-platform:cloudflarePurgeToken: is in plain text" in lines[0]
    assert "a-real-token-in-git" not in lines[0]


def test_the_engine_refuses_to_deploy_without_the_purge_token() -> None:
    raw = {
        "environment": "dev",
        "cdn": {
            "zoneName": "shop.example.com",
            "accountId": "0123456789abcdef0123456789abcdef",
            "originHost": "origin.example.net",
        },
        "monitoring": {"enabled": False},
        "backups": {"enabled": False},
        "invalidation": {"enabled": True},
    }
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    assert [line for line in caught.value.problems if "cloudflarePurgeToken" in line] == [
        "cache-platform:cloudflarePurgeToken: is required; the invalidation service purges the "
        "edge with an API token allowed Cache Purge on the zone: pulumi config set --secret "
        "cache-platform:cloudflarePurgeToken <token>"
    ]
    config = parse_stack_config({**raw, "cloudflarePurgeToken": "[secret]"})
    assert config.invalidation.enabled


def test_the_plan_lists_the_purge_token_as_a_secret_to_set(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(prod_stack(enabled=True)))
    engine, secret_keys, config, statuses = prepare_config(stack_file)
    key = "cache-platform:cloudflarePurgeToken"
    assert config.invalidation.enabled
    assert key in secret_keys and engine[key] == "[secret]"
    assert [s.set_in_stack_file for s in statuses if s.key == key] == [False]
    stack_file.write_text(yaml.safe_dump(prod_stack(enabled=False)))
    _, secret_keys, _, statuses = prepare_config(stack_file)
    assert key not in secret_keys and all(s.key != key for s in statuses)


def test_defaults_are_safe_and_shared_with_the_backups_image() -> None:
    defaults = InvalidationConfig()
    assert defaults.enabled is False, "an existing stack keeps deploying without a purge token"
    assert defaults.replicas >= 2
    assert defaults.image == BackupsConfig().image == TOOLS_IMAGE
