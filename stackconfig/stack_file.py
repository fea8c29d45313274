"""Reading the stack's `cache-platform:*` config from the Pulumi engine (the one impure step)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import pulumi
from pulumi.runtime import config as runtime_config

from stackconfig.config import (
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


def load_stack_config() -> StackConfig:
    """The validated stack config; InvalidStackConfig listing every problem otherwise."""
    try:
        return parse_stack_config(raw_stack_config())
    except ConfigError as error:
        raise InvalidStackConfig(error) from None


def alerting_secrets() -> pulumi.Output[Mapping[str, str]]:
    """`cache-platform:alertingSecrets` as one secret Output (receiver name -> credential)."""
    value = pulumi.Config(NAMESPACE).get_secret_object("alertingSecrets")
    if value is None:
        return pulumi.Output.secret(cast(Mapping[str, str], {}))
    return cast(pulumi.Output[Mapping[str, str]], value)


def cloudflare_analytics_token() -> pulumi.Output[str]:
    """`cache-platform:cloudflareAnalyticsToken` as a secret Output (checked set by the loader)."""
    return pulumi.Config(NAMESPACE).require_secret(CLOUDFLARE_TOKEN_KEY)
