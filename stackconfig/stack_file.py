"""Reading the stack's `cache-platform:*` config from the Pulumi engine (the one impure step)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pulumi
import yaml
from pulumi.runtime import config as runtime_config

from stackconfig.config import (
    CLOUDFLARE_PURGE_TOKEN_KEY,
    CLOUDFLARE_TOKEN_KEY,
    SECRET_KEYS,
    SECTIONS,
    ConfigError,
    StackConfig,
    parse_stack_config,
)
from stackconfig.settings import NAMESPACE


class InvalidStackConfig(pulumi.RunError):
    """Raised before any resource is registered; Pulumi prints it without a traceback."""

    def __init__(self, error: ConfigError) -> None:
        super().__init__("invalid stack config:\n" + "\n".join(error.problems))
        self.problems = error.problems


def raw_stack_config() -> dict[str, Any]:
    """Every `cache-platform:` key the engine passed, objects decoded, secrets' values not read."""
    engine_config: Mapping[str, Any] = {
        **runtime_config.get_config_env(),
        **runtime_config.CONFIG.get(),
    }
    raw: dict[str, Any] = {}
    for full_key, value in engine_config.items():
        namespace, _, key = str(full_key).partition(":")
        if namespace != NAMESPACE:
            continue
        if key in SECTIONS or key in SECRET_KEYS:
            try:
                raw[key] = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                raw[key] = value
        else:
            raw[key] = value
    return raw


def other_stack_zones(stack_file: Path) -> list[str]:
    """`cdn.zoneName` of every other stack file beside `stack_file` (Pulumi.<stack>.yaml)."""
    zones: list[str] = []
    for other in sorted(stack_file.parent.glob("Pulumi.*.yaml")):
        if other.resolve() == stack_file.resolve():
            continue
        try:
            document: Any = yaml.safe_load(other.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue  # that stack's own run reports its file
        config: Any = (
            cast(dict[str, Any], document).get("config") if isinstance(document, dict) else None
        )
        cdn: Any = (
            cast(dict[str, Any], config).get(f"{NAMESPACE}:cdn")
            if isinstance(config, dict)
            else None
        )
        zone: Any = cast(dict[str, Any], cdn).get("zoneName") if isinstance(cdn, dict) else None
        if isinstance(zone, str):
            zones.append(zone)
    return zones


def plaintext_secret_keys() -> list[str]:
    """Keys of SECRET_KEYS the engine holds but not as secrets (set without `--secret`)."""
    engine_keys = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret = {*runtime_config.get_config_secret_keys_env(), *runtime_config._SECRET_KEYS.get()}  # pyright: ignore[reportPrivateUsage]
    return [
        f"{NAMESPACE}:{name}"
        for name in SECRET_KEYS
        if f"{NAMESPACE}:{name}" in engine_keys and f"{NAMESPACE}:{name}" not in secret
    ]


def load_stack_config() -> StackConfig:
    """The validated stack config; InvalidStackConfig listing every problem otherwise."""
    stack_file = Path.cwd() / f"Pulumi.{pulumi.get_stack()}.yaml"
    plaintext = [
        f"{key}: is in plain text; set each credential with "
        f"`pulumi config set --secret --path '{key}.<name>'`"
        for key in plaintext_secret_keys()
    ]
    try:
        config = parse_stack_config(raw_stack_config(), other_zones=other_stack_zones(stack_file))
    except ConfigError as error:
        raise InvalidStackConfig(ConfigError([*plaintext, *error.problems])) from None
    if plaintext:
        raise InvalidStackConfig(ConfigError(plaintext))
    return config


def alerting_secrets() -> pulumi.Output[Mapping[str, str]]:
    """`cache-platform:alertingSecrets` as one secret Output (receiver name -> credential)."""
    value = pulumi.Config(NAMESPACE).get_secret_object("alertingSecrets")
    if value is None:
        return pulumi.Output.secret(cast(Mapping[str, str], {}))
    return cast(pulumi.Output[Mapping[str, str]], value)


def cloudflare_analytics_token() -> pulumi.Output[str]:
    """`cache-platform:cloudflareAnalyticsToken` as a secret Output (checked set by the loader)."""
    return pulumi.Config(NAMESPACE).require_secret(CLOUDFLARE_TOKEN_KEY)


def cloudflare_purge_token() -> pulumi.Output[str]:
    """`cache-platform:cloudflarePurgeToken` as a secret Output (checked set by the loader)."""
    return pulumi.Config(NAMESPACE).require_secret(CLOUDFLARE_PURGE_TOKEN_KEY)
