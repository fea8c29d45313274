# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""Purging Cloudflare's edge cache: `POST /zones/<zone id>/purge_cache`.

One request purges one kind of target (Cloudflare rejects a body that mixes files, prefixes and
tags), so `purge_requests` splits the operator's targets into one request per kind and per batch
of at most the zone plan's items per call (stackconfig.cloudflare_plans); without a plan, the
smallest plan's, so the same command works on every zone. Targets are checked by the rule the
invalidation events use (cachekit.events: `edge_url`, `edge_prefix`, `edge_tag`): prefixes are
host and path without a scheme (`www.example.com/css`), which is how the API takes them; a
prefix given with a scheme is stripped of it.

The token comes from CLOUDFLARE_API_TOKEN only (a flag would show in `ps`); the API's base URL
can be changed (CLOUDFLARE_BASE_URL, `--cloudflare-base-url`) so tests talk to a fake API.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from cachectl.connection import CachectlError
from cachectl.errors import UsageError
from cachectl.wording import count_plural
from cachekit.events import InvalidEdgeTarget, edge_prefix, edge_tag, edge_url
from stackconfig.cloudflare_plans import PLANS

SMALLEST_PURGE_BATCH = min(row.purge_items_per_request for row in PLANS.values())
"""Items per purge call that every plan accepts: the batch when the zone's plan is not given."""
PLAN_ENV = "CLOUDFLARE_PLAN"
TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
ZONE_ENV = "CLOUDFLARE_ZONE_ID"
BASE_URL_ENV = "CLOUDFLARE_BASE_URL"


@dataclass(frozen=True)
class PurgeRequest:
    """The JSON body of one purge_cache call."""

    kind: str
    """files, prefixes, tags or purge_everything."""
    items: tuple[str, ...] = ()

    @property
    def body(self) -> dict[str, Any]:
        if self.kind == "purge_everything":
            return {"purge_everything": True}
        return {self.kind: list(self.items)}

    def describe(self) -> str:
        if self.kind == "purge_everything":
            return "everything"
        return f"{count_plural(len(self.items), self.kind)}: {', '.join(self.items)}"


def purge_batch(plan: str | None) -> int:
    """Items per purge call on the zone's `plan` (any plan's limit when None)."""
    if plan is None:
        return SMALLEST_PURGE_BATCH
    if plan not in PLANS:
        raise UsageError(f"--cloudflare-plan {plan!r}: one of {', '.join(PLANS)}")
    return PLANS[plan].purge_items_per_request


def _checked(check: Callable[[str], str], option: str, values: Sequence[str]) -> list[str]:
    checked: list[str] = []
    for value in values:
        try:
            checked.append(check(value))
        except InvalidEdgeTarget as error:
            raise UsageError(f"{option} {value!r}: {error}") from None
    return checked


def _batches(kind: str, items: Sequence[str], size: int) -> list[PurgeRequest]:
    unique = list(dict.fromkeys(item for item in items if item))
    return [
        PurgeRequest(kind, tuple(unique[start : start + size]))
        for start in range(0, len(unique), size)
    ]


def purge_requests(
    *,
    urls: Sequence[str] = (),
    prefixes: Sequence[str] = (),
    tags: Sequence[str] = (),
    everything: bool = False,
    batch: int = SMALLEST_PURGE_BATCH,
) -> list[PurgeRequest]:
    """The calls that purge these targets. Everything excludes the other kinds: a zone-wide
    purge already covers them, and asking for both is more likely a mistake than a wish."""
    if batch < 1:
        raise CachectlError("the purge batch size must be at least 1")
    if everything and (urls or prefixes or tags):
        raise CachectlError("--edge-everything purges the whole zone: give it alone")
    if everything:
        return [PurgeRequest("purge_everything")]
    return (
        _batches("files", _checked(edge_url, "--edge-url", urls), batch)
        + _batches("prefixes", _checked(edge_prefix, "--edge-prefix", prefixes), batch)
        + _batches("tags", _checked(edge_tag, "--edge-tag", tags), batch)
    )


def zone_and_token(
    zone_id: str | None, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    env = os.environ if environ is None else environ
    zone = zone_id or env.get(ZONE_ENV, "")
    if not zone:
        raise CachectlError(
            f"no zone: pass --zone-id or set {ZONE_ENV} (also for --dry-run, which checks "
            "what a purge needs before you need it)"
        )
    token = env.get(TOKEN_ENV, "")
    if not token:
        raise CachectlError(
            f"no API token: set {TOKEN_ENV} to a token with the Cache Purge permission on the "
            "zone (also for --dry-run)"
        )
    return zone, token


def send_purges(
    requests: Sequence[PurgeRequest], zone_id: str, token: str, base_url: str | None = None
) -> list[str]:
    """Send every request through the Cloudflare SDK; the purge ids Cloudflare returned."""
    # The SDK is imported here: it is large and most commands never purge.
    import cloudflare

    client = cloudflare.Cloudflare(api_token=token, base_url=base_url or None, max_retries=2)
    ids: list[str] = []
    try:
        for request in requests:
            sdk: Any = client.cache
            try:
                result: Any = sdk.purge(zone_id=zone_id, **request.body)
            except cloudflare.APIStatusError as error:
                raise CachectlError(
                    f"Cloudflare refused the purge of {request.describe()}: "
                    f"HTTP {error.status_code} {_api_errors(error.body)}"
                ) from None
            except cloudflare.APIError as error:
                raise CachectlError(f"Cloudflare API: {error.message}") from None
            ids.append(str(getattr(result, "id", "")))
    finally:
        client.close()
    return ids


def _api_errors(body: object) -> str:
    errors: Any = cast(dict[str, Any], body).get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        items: list[Any] = cast(list[Any], errors)
        return "; ".join(_api_error_message(item) for item in items)
    return f"{body}"[:200]


def _api_error_message(item: Any) -> str:
    if isinstance(item, dict):
        return str(cast(dict[str, Any], item).get("message", item))
    return str(item)
