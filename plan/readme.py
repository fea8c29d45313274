"""The generated tables of README.md (config reference, policies, cache tiers) and
docs/policies.md (policies), kept true by a test: one writer for every generated block.

`python -m plan.readme` rewrites them in place; `python -m plan.readme --check` fails on drift.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackconfig.config import (
    CLOUDFLARE_PURGE_TOKEN_KEY,
    CLOUDFLARE_TOKEN_KEY,
    SECTIONS,
    Environment,
)
from stackconfig.settings import NAMESPACE, camel, info_of

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
POLICIES_DOC = ROOT / "docs" / "policies.md"


def _type(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return _type(args[0]) + " \\| null"
    if origin is tuple:
        return f"list of {_type(args[0])}"
    if origin in (Mapping, dict):
        return f"map of {_type(typing.get_args(hint)[1])}"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "enum"
    if dataclasses.is_dataclass(hint):
        return "object"
    return (
        getattr(hint, "__name__", str(hint))
        .replace("Quantity", "quantity")
        .replace("Duration", "duration")
    )


def _default(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    if isinstance(value, Mapping) or dataclasses.is_dataclass(value):
        return "see below"
    return f"`{value}`"


def _allowed(hint: Any) -> str:
    """The closed set of an enum setting (optional or not); empty for open types."""
    candidates = [hint, *typing.get_args(hint)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return ", ".join(f"`{m.value}`" for m in candidate)
    return ""


def config_rows(cls: type[Any], prefix: str) -> list[str]:
    rows: list[str] = []
    hints = typing.get_type_hints(cls)
    instance = cls()
    for f in dataclasses.fields(instance):
        info = info_of(f)
        key = f"{prefix}.{camel(f.name)}"
        hint = hints[f.name]
        default = getattr(instance, f.name)
        what = f"{info.doc} {info.why}".strip()
        rows.append(
            f"| `{key}` | {_type(hint)} | {_default(default)} | {_allowed(hint)} | {what} |"
        )
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            rows += config_rows(type(default), key)
        elif isinstance(default, Mapping) and default:
            first = next(iter(default.values()))
            if dataclasses.is_dataclass(first):
                for name, value in default.items():
                    entry_hints = typing.get_type_hints(type(value))
                    for g in dataclasses.fields(value):
                        rows.append(
                            f"| `{key}.{name}.{camel(g.name)}` | {_type(entry_hints[g.name])} "
                            f"| {_default(getattr(value, g.name))} | | {info_of(g).doc} |"
                        )
    return rows


def config_reference() -> str:
    lines = [
        "| key | type | default | allowed | what and why |",
        "|---|---|---|---|---|",
        f"| `{NAMESPACE}:environment` | enum | (required) | "
        + ", ".join(f"`{e.value}`" for e in Environment)
        + " | Which stack this is; prod makes every policy mandatory. |",
    ]
    for section, cls in SECTIONS.items():
        lines += config_rows(cls, f"{NAMESPACE}:{section}")
    lines.append(
        f"| `{NAMESPACE}:alertingSecrets.<receiver>` | secret string | — | | Credential of each "
        "pagerduty/slack receiver (routing key, webhook URL); set with `pulumi config set "
        "--secret --path`. |"
    )
    lines.append(
        f"| `{NAMESPACE}:{CLOUDFLARE_TOKEN_KEY}` | secret string | — | with cdn and monitoring | "
        "Cloudflare API token with Analytics:Read only, for the Cloudflare exporter; mounted as "
        "a file, never in an env var of the pod spec. |"
    )
    lines.append(
        f"| `{NAMESPACE}:{CLOUDFLARE_PURGE_TOKEN_KEY}` | secret string | — | with invalidation | "
        "Cloudflare API token with Cache Purge on the zone only, for the invalidation service; "
        "mounted as a file, never in an env var of the pod spec. |"
    )
    return "\n".join(lines)


def policy_reference() -> str:
    from policies.docs import load_configs, policy_table

    return policy_table(load_configs())


def cache_tiers() -> str:
    from components.cdn.cache_rules import render_cache_rules, rules_table
    from stackconfig.config import CdnConfig

    return rules_table(render_cache_rules(CdnConfig()))


GENERATED = {
    "config-reference": config_reference,
    "policy-reference": policy_reference,
    "cache-tiers": cache_tiers,
}


DOCUMENTS: dict[Path, tuple[str, ...]] = {
    README: ("config-reference", "policy-reference", "cache-tiers"),
    POLICIES_DOC: ("policy-reference",),
}
"""Which generated blocks each document holds, between `<!-- name:start -->` and `:end` markers."""


def render(text: str, blocks: tuple[str, ...] = DOCUMENTS[README], where: str = "README.md") -> str:
    for name in blocks:
        generate = GENERATED[name]
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start not in text or end not in text:
            raise SystemExit(f"{where} lacks the markers {start} ... {end}")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{generate()}\n{end}{tail}"
    return text


def main() -> int:
    stale: list[str] = []
    for document, blocks in DOCUMENTS.items():
        where = str(document.relative_to(ROOT))
        current = document.read_text()
        wanted = render(current, blocks, where)
        if current == wanted:
            continue
        if "--check" in sys.argv:
            stale.append(where)
        else:
            document.write_text(wanted)
    if stale:
        print(
            f"generated tables are stale in {', '.join(stale)}: run `python -m plan.readme`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
