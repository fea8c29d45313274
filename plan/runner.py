"""Run the real program (`__main__.py`) under Pulumi mocks with a stack file as its config.

Nothing here decrypts anything: `secure:` values of the stack file, and secrets the program needs
but the file does not set yet, become the placeholder "[secret]" and are marked secret, exactly as
the engine marks decrypted values. The program cannot tell the difference, which is the point.
"""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
from pulumi.runtime import mocks as runtime_mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await  # pyright: ignore[reportPrivateUsage]

from plan import inputs
from plan.mocks import SECRET_PLACEHOLDER, PlanMocks, RecordingMonitor, ResourceRecord
from stackconfig.config import (
    CLOUDFLARE_PURGE_TOKEN_KEY,
    CLOUDFLARE_TOKEN_KEY,
    StackConfig,
    needs_cloudflare_token,
    parse_stack_config,
    receivers_needing_secrets,
)
from stackconfig.settings import NAMESPACE
from stackconfig.stack_file import other_stack_zones

PROJECT_ROOT = inputs.PROJECT_ROOT
PROGRAM = PROJECT_ROOT / "__main__.py"


@dataclass
class SecretStatus:
    key: str
    set_in_stack_file: bool


@dataclass
class PlanRun:
    stack: str
    config: StackConfig
    records: list[ResourceRecord]
    outputs: dict[str, Any]
    secrets: list[SecretStatus] = field(default_factory=lambda: list[SecretStatus]())


def read_stack_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The stack file's `config:` with secure values replaced, and the paths that were secure.

    Raises InputError when the file is malformed or holds a credential in plain text.
    """
    stack_file = inputs.read_stack_file(path)
    return stack_file.engine_config(SECRET_PLACEHOLDER), list(stack_file.secure_paths)


def prepare_config(
    stack_file: Path,
) -> tuple[dict[str, Any], list[str], StackConfig, list[SecretStatus]]:
    """Engine config (key -> value), secret keys, the validated config and the secrets' status.

    Raises ConfigError when the stack file's config is invalid.
    """
    engine_config, secure_paths = read_stack_file(stack_file)
    raw = inputs.project_raw_config(engine_config)
    config = parse_stack_config(
        raw, require_secrets=False, other_zones=other_stack_zones(stack_file)
    )

    secret_keys = {path.split(".")[0].split("[")[0] for path in secure_paths}
    statuses: list[SecretStatus] = []
    if config.monitoring.enabled:
        present = cast(dict[str, Any], dict(raw.get("alertingSecrets") or {}))
        for name in receivers_needing_secrets(config.monitoring):
            key = f"{NAMESPACE}:alertingSecrets.{name}"
            statuses.append(SecretStatus(key, set_in_stack_file=name in present))
            present.setdefault(name, SECRET_PLACEHOLDER)
        if present:
            engine_config[f"{NAMESPACE}:alertingSecrets"] = present
            secret_keys.add(f"{NAMESPACE}:alertingSecrets")
    tokens = [
        (CLOUDFLARE_TOKEN_KEY, needs_cloudflare_token(config.cdn, config.monitoring)),
        (CLOUDFLARE_PURGE_TOKEN_KEY, config.invalidation.enabled),
    ]
    for name, needed in tokens:
        if needed:
            key = f"{NAMESPACE}:{name}"
            statuses.append(SecretStatus(key, set_in_stack_file=key in secure_paths))
            engine_config.setdefault(key, SECRET_PLACEHOLDER)
            secret_keys.add(key)
    token_keys = {f"{NAMESPACE}:{name}" for name, _ in tokens}
    for path in secure_paths:
        if not path.startswith(f"{NAMESPACE}:alertingSecrets") and path not in token_keys:
            statuses.append(SecretStatus(path, set_in_stack_file=True))

    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in engine_config.items()}
    return encoded, sorted(secret_keys), config, statuses


def run_program(stack: str, stack_file: Path, program: Path = PROGRAM) -> PlanRun:
    """Run `program` under mocks with `stack_file` as its config; ConfigError when invalid."""
    engine_config, secret_keys, config, statuses = prepare_config(stack_file)

    mocks = PlanMocks()
    monitor = RecordingMonitor(mocks)
    set_all_config(engine_config, secret_keys)
    # set_mocks keeps an existing root Stack: a second program in one process (the tests plan
    # several) would parent its resources to the first one's stack and export its outputs too.
    runtime_settings.ROOT.set(None)
    runtime_mocks.set_mocks(mocks, project=NAMESPACE, stack=stack, preview=False, monitor=monitor)
    # What `pulumi.runtime.test` does before each test: no leftovers from an earlier program.
    runtime_settings.SETTINGS.rpc_manager.clear()  # pyright: ignore[reportAttributeAccessIssue]
    runtime_settings.SETTINGS.outputs.clear()  # pyright: ignore[reportAttributeAccessIssue]

    def program_body() -> None:
        runpy.run_path(str(program), run_name="__main__")

    _sync_await(run_pulumi_func(program_body))
    outputs = _stack_outputs()
    # The monitor hears registrations in the order their inputs resolve and the SDK's RPC threads
    # finish, which changes from run to run; the plan is reviewed as a diff in pull requests.
    records = sorted(monitor.records, key=lambda record: record.urn)
    return PlanRun(stack, config, records, outputs, statuses)


def _stack_outputs() -> dict[str, Any]:
    root = runtime_settings.get_root_resource()
    exported = cast(dict[str, Any], getattr(root, "outputs", {}) or {})
    resolved: dict[str, Any] = {}
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        is_secret = _sync_await(output.is_secret())
        resolved[key] = SECRET_PLACEHOLDER if is_secret else _sync_await(output.future())
    return resolved
