"""Every input of the offline plan read and checked before the program runs (fast, no Pulumi).

A hostile or careless input — a path in the stack name, a duplicated section, tab indentation, a
policy level in the wrong case, a credential in plain text — ends the plan with exit 2 and one
line per problem naming the file and the key, never a traceback and never after the 10-second
program run.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from stackconfig.config import SECRET_KEYS
from stackconfig.settings import NAMESPACE
from stackconfig.strict_yaml import NestingError, describe_yaml_error, load_strict_yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent

STACK_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62})")
"""A stack name is part of a path (build/<stack>, Pulumi.<stack>.yaml): no '/', '.', or spaces."""

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "disabled")
"""pulumi-policy's levels as `--policy-pack-config` takes them; `remediate` is left out: the pack
has no remediations, and the plan could not tell whether it blocks."""

PLAN_MARKER = "plan.md"
"""Every plan output folder has it: a folder without it is not ours to replace."""


class InputError(Exception):
    """Inputs the plan refuses; `problems` holds one line per problem, each naming file and key."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def check_stack_name(stack: str) -> None:
    if not STACK_NAME.fullmatch(stack):
        raise InputError(
            [
                f"--stack: {stack!r} is not allowed; a stack name is 1-63 lowercase letters, "
                "digits and '-' (it names build/<stack> and Pulumi.<stack>.yaml)"
            ]
        )


def check_out_dir(out_dir: Path) -> None:
    """Refuse to replace anything but a folder an earlier plan wrote (or nothing)."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise InputError([f"--out: {out_dir} is not a folder; refusing to replace it"])
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / PLAN_MARKER).is_file():
        raise InputError(
            [
                f"--out: {out_dir} is not empty and holds no {PLAN_MARKER}: it is not a plan "
                "output folder; refusing to replace it"
            ]
        )


# --- YAML ------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    """The document of `path`; InputError naming the line and what is wrong otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError([f"{path.name}: cannot be read: {error}"]) from None
    try:
        return load_strict_yaml(text)
    except yaml.YAMLError as error:
        suffix = "; not a stack file" if isinstance(error, NestingError) else ""
        raise InputError([f"{path.name}: {describe_yaml_error(error)}{suffix}"]) from None
    except RecursionError:
        raise InputError([f"{path.name}: nested too deeply; not a stack file"]) from None


# --- the stack file --------------------------------------------------------------------------


@dataclass(frozen=True)
class StackFile:
    config: dict[str, Any]
    """`config:` as written, `secure:` values kept as they are."""
    secure_paths: tuple[str, ...]
    """Keys (and `.sub.keys`) whose value is `{secure: ...}`."""

    def engine_config(self, placeholder: str) -> dict[str, Any]:
        """`config` with every secure value replaced by `placeholder` (nothing is decrypted)."""
        return {key: _replace_secure(value, placeholder) for key, value in self.config.items()}

    def project_config(self, placeholder: str) -> dict[str, Any]:
        """The `cache-platform:` keys of `engine_config`, without their prefix."""
        return project_raw_config(self.engine_config(placeholder))


def project_raw_config(engine_config: Mapping[str, Any]) -> dict[str, Any]:
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix) :]: v for k, v in engine_config.items() if k.startswith(prefix)}


def _replace_secure(value: Any, placeholder: str) -> Any:
    if _is_secure(value):
        return placeholder
    if isinstance(value, Mapping):
        mapping = cast(Mapping[str, Any], value)
        return {k: _replace_secure(v, placeholder) for k, v in mapping.items()}
    if isinstance(value, list):
        return [_replace_secure(v, placeholder) for v in cast(list[Any], value)]
    return value


def _is_secure(value: Any) -> bool:
    return isinstance(value, Mapping) and set(cast(Mapping[str, Any], value)) == {"secure"}


def _secure_paths(value: Any, path: str, found: list[str]) -> None:
    if _is_secure(value):
        found.append(path)
    elif isinstance(value, Mapping):
        for key, item in cast(Mapping[str, Any], value).items():
            _secure_paths(item, f"{path}.{key}", found)
    elif isinstance(value, list):
        for index, item in enumerate(cast(list[Any], value)):
            _secure_paths(item, f"{path}[{index}]", found)


def read_stack_file(path: Path) -> StackFile:
    """The stack file's `config:`; InputError when its shape or a secret's form is wrong."""
    document = load_yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise InputError(
            [f"{path.name}: expected a map with a `config:` key, found a list or value"]
        )
    config = cast(dict[str, Any], document).get("config") or {}
    if not isinstance(config, dict):
        raise InputError([f"{path.name}: config: expected a map of `project:key: value`"])
    secure: list[str] = []
    for key, value in cast(dict[str, Any], config).items():
        _secure_paths(value, key, secure)
    problems = [
        f"{path.name}: {line}" for line in plaintext_secret_problems(cast(dict[str, Any], config))
    ]
    if problems:
        raise InputError(problems)
    return StackFile(cast(dict[str, Any], config), tuple(secure))


def plaintext_secret_problems(config: Mapping[str, Any]) -> list[str]:
    """A credential written in plain text is a config error: it would sit in git and the state."""
    problems: list[str] = []
    for name in SECRET_KEYS:
        key = f"{NAMESPACE}:{name}"
        value = config.get(key)
        if value is None or _is_secure(value):
            continue
        if not isinstance(value, Mapping):
            problems.append(
                f"{key}: is in plain text; set each credential with "
                f"`pulumi config set --secret --path '{key}.<name>'`"
            )
            continue
        for entry, item in cast(Mapping[str, Any], value).items():
            if not _is_secure(item):
                problems.append(
                    f"{key}.{entry}: is in plain text; remove it from the file and run "
                    f"`pulumi config set --secret --path '{key}.{entry}'`"
                )
    return problems


# --- the policy pack config ------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_policy_config(path: Path) -> dict[str, Any]:
    """The pack config: a JSON object of policy name -> level or {enforcementLevel, ...}."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError([f"{path.name}: cannot be read: {error}"]) from None
    if not text.strip():
        raise InputError(
            [f'{path.name}: is empty; expected a JSON object such as {{"all": "mandatory"}}']
        )
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise InputError([f"{path.name}: nested too deeply"]) from None
    except ValueError as error:
        raise InputError([f"{path.name}: malformed JSON: {error}"]) from None
    if not isinstance(document, dict):
        raise InputError(
            [
                f"{path.name}: expected a JSON object of policy name -> settings, "
                f"found {type(document).__name__}"
            ]
        )
    problems: list[str] = []
    for name, entry in cast(dict[str, Any], document).items():
        level = entry if isinstance(entry, str) else None
        if isinstance(entry, dict):
            level = cast(dict[str, Any], entry).get("enforcementLevel", "advisory")
        elif not isinstance(entry, str):
            problems.append(f"{path.name}: {name}: expected a level or an object")
            continue
        if level not in ENFORCEMENT_LEVELS:
            problems.append(
                f"{path.name}: {name}.enforcementLevel: {level!r} is not allowed; expected one of "
                + ", ".join(ENFORCEMENT_LEVELS)
                + " (lowercase)"
            )
    if problems:
        raise InputError(problems)
    return cast(dict[str, Any], document)


_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "string": (str,),
}


def check_policy_names(
    path: Path, pack_config: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]]
) -> None:
    """Every entry names a policy of the pack and sets only properties of its schema, typed.

    `schemas` maps each policy name to its config schema's properties.
    """
    problems: list[str] = []
    for name, entry in pack_config.items():
        if name == "all":
            continue
        if name not in schemas:
            close = difflib.get_close_matches(name, list(schemas), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "see docs/policies.md"
            problems.append(f"{path.name}: {name}: unknown policy; {hint}")
            continue
        if not isinstance(entry, Mapping):
            continue
        properties = schemas[name]
        for key, value in cast(Mapping[str, Any], entry).items():
            if key == "enforcementLevel":
                continue
            spec = properties.get(key)
            if spec is None:
                known = ", ".join(sorted(properties)) or "none"
                problems.append(f"{path.name}: {name}.{key}: unknown setting; known: {known}")
                continue
            expected = cast(Mapping[str, Any], spec).get("type")
            allowed = _JSON_TYPES.get(str(expected))
            is_bool = isinstance(value, bool)
            wrong_type = allowed is not None and (
                not isinstance(value, allowed) or (is_bool and bool not in allowed)
            )
            not_finite = isinstance(value, float) and not math.isfinite(value)
            if wrong_type or not_finite:
                problems.append(
                    f"{path.name}: {name}.{key}: {value!r} is not allowed; expected a finite "
                    f"{expected}"
                )
    if problems:
        raise InputError(problems)
