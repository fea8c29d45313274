# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""`cachectl warm --plan FILE`: populate the cache tier by tier (ADR-011 "Cache Population").

A plan (YAML or JSON) lists steps under the tiers `hot`, `warm` and `cold`, run in that order:

    completionLimitMinutes: 30        # optional; ADR-011: warming completes in < 30 min
    tiers:
      hot:
        - post: http://catalog.shop.svc/api/cache/warm/products   # the service fills its keys
          timeoutSeconds: 600                                     # optional (default 600)
        - keys: hot-sessions.tsv      # a key source, relative to the plan file
      warm:
        - keys: preferences.jsonl
      cold: []

A `post` step is a service's warm endpoint: an HTTP POST (optional `body`, sent as JSON) that
must answer 2xx. A `keys` step writes keys itself, with SET ... EX: a `.jsonl`/`.ndjson` file
holds one `{"key": ..., "value": ..., "ttl": seconds}` object a line (a non-string value is
stored as JSON); any other file holds `key value ttl` lines, value in the middle (it may contain
spaces; the key may not). Blank lines and lines starting with # are skipped. Every key must
follow ADR-011's `{service}:{entity}:{id}:{version}` (or its hash-tagged form) and have a TTL.

The run stops at the first failing step; what ran before stays written.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import redis
import yaml

from cachectl.connection import CachectlError, ClusterView, info, keyspace_keys
from cachectl.errors import UsageError
from cachectl.wording import count
from cachekit.keys import InvalidKeySegment, cache_key
from stackconfig.strict_yaml import describe_yaml_error, load_strict_yaml

TIERS = ("hot", "warm", "cold")
COMPLETION_LIMIT_MINUTES = 30.0
"""ADR-011 checklist: cache warming completion time within SLA (< 30 minutes)."""
DEFAULT_POST_TIMEOUT = 600.0
MAX_POST_TIMEOUT = 86400.0
"""A day: beyond it a timeout is a typo (and the socket layer overflows on infinity)."""
WRITE_BATCH = 500

KeyFormat = Literal["lines", "jsonl"]


class WarmError(CachectlError):
    """A step failed; the message names the tier, the step and, for key files, the line."""


@dataclass(frozen=True)
class PostStep:
    url: str
    timeout: float = DEFAULT_POST_TIMEOUT
    body: Mapping[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"POST {self.url}"


@dataclass(frozen=True)
class KeysStep:
    path: Path
    format: KeyFormat

    @property
    def label(self) -> str:
        return f"keys from {self.path.name}"


Step = PostStep | KeysStep


@dataclass(frozen=True)
class WarmPlan:
    tiers: Mapping[str, Sequence[Step]]
    completion_limit_minutes: float = COMPLETION_LIMIT_MINUTES

    def steps(self) -> Iterator[tuple[str, int, Step]]:
        for tier in TIERS:
            for number, step in enumerate(self.tiers.get(tier, ()), start=1):
                yield tier, number, step


def _key_format(path: Path, declared: object, where: str) -> KeyFormat:
    if declared is None:
        return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "lines"
    if declared not in ("lines", "jsonl"):
        raise CachectlError(f"{where}.format: 'lines' or 'jsonl', got {declared!r}")
    return declared


def _step(raw: object, where: str, base_dir: Path) -> Step:
    if not isinstance(raw, dict):
        raise CachectlError(f"{where}: a step is a mapping with 'post' or 'keys'")
    item = cast(dict[str, Any], raw)
    kinds = [kind for kind in ("post", "keys") if kind in item]
    if len(kinds) != 1:
        raise CachectlError(f"{where}: give exactly one of 'post' (a URL) or 'keys' (a file)")
    known = {"post": {"post", "timeoutSeconds", "body"}, "keys": {"keys", "format"}}[kinds[0]]
    unknown = sorted(set(item) - known)
    if unknown:
        raise CachectlError(f"{where}: unknown field(s) {', '.join(unknown)}")
    if kinds[0] == "post":
        url = item["post"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise CachectlError(f"{where}.post: an http(s) URL, got {url!r}")
        timeout = item.get("timeoutSeconds", DEFAULT_POST_TIMEOUT)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or not 0 < timeout <= MAX_POST_TIMEOUT
        ):
            raise CachectlError(
                f"{where}.timeoutSeconds: a number of seconds in (0, {MAX_POST_TIMEOUT:g}], "
                f"got {timeout!r}"
            )
        body = item.get("body")
        if body is not None and not isinstance(body, dict):
            raise CachectlError(f"{where}.body: a mapping (sent as JSON), got {body!r}")
        return PostStep(url, float(timeout), cast(dict[str, Any] | None, body))
    name = item["keys"]
    if not isinstance(name, str) or not name or "\0" in name:
        raise CachectlError(f"{where}.keys: a file name, got {name!r}")
    try:
        path = (base_dir / name).resolve()
    except (OSError, RuntimeError) as error:
        raise CachectlError(f"{where}.keys: cannot resolve {name!r}: {error}") from None
    return KeysStep(path, _key_format(path, item.get("format"), where))


def parse_plan(data: object, base_dir: Path) -> WarmPlan:
    """A plan from its parsed YAML/JSON; CachectlError naming the offending field."""
    if not isinstance(data, dict):
        raise CachectlError("plan: a mapping with 'tiers' (hot, warm, cold)")
    document = cast(dict[str, Any], data)
    unknown = sorted(set(document) - {"tiers", "completionLimitMinutes"})
    if unknown:
        raise CachectlError(f"plan: unknown field(s) {', '.join(unknown)}")
    limit = document.get("completionLimitMinutes", COMPLETION_LIMIT_MINUTES)
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int | float)
        or not math.isfinite(limit)
        or limit <= 0
    ):
        raise CachectlError(f"completionLimitMinutes: a positive finite number, got {limit!r}")
    raw_tiers = document.get("tiers")
    if not isinstance(raw_tiers, dict) or not raw_tiers:
        raise CachectlError("tiers: a mapping of hot, warm and/or cold to lists of steps")
    tiers_in = cast(dict[str, Any], raw_tiers)
    unknown_tiers = sorted(set(tiers_in) - set(TIERS))
    if unknown_tiers:
        raise CachectlError(f"tiers: unknown tier(s) {', '.join(unknown_tiers)} (hot, warm, cold)")
    tiers: dict[str, list[Step]] = {}
    for tier in TIERS:
        steps: object = tiers_in.get(tier) or []
        if not isinstance(steps, list):
            raise CachectlError(f"tiers.{tier}: a list of steps")
        tiers[tier] = [
            _step(raw, f"tiers.{tier}[{index}]", base_dir)
            for index, raw in enumerate(cast(list[object], steps))
        ]
    if not any(tiers.values()):
        raise CachectlError("tiers: the plan has no step")
    return WarmPlan(tiers, float(limit))


def load_plan(path: Path) -> WarmPlan:
    """The plan at `path`; a malformed plan is a UsageError (exit 2) naming the file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read the plan {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; save the plan as UTF-8") from None
    try:
        data: object = json.loads(text) if path.suffix == ".json" else load_strict_yaml(text)
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not valid YAML: {describe_yaml_error(error)}") from None
    except (ValueError, RecursionError) as error:
        kind = path.suffix.lstrip(".") or "YAML"
        first = (
            " ".join(str(error).split())[:200]
            if not isinstance(error, RecursionError)
            else "nested too deeply"
        )
        raise UsageError(f"{path}: not valid {kind}: {first}") from None
    try:
        return parse_plan(data, path.parent)
    except WarmError:
        raise
    except CachectlError as error:
        raise UsageError(f"{path}: {error}") from None


@dataclass(frozen=True)
class KeyRecord:
    key: str
    value: str
    ttl: int


def check_key(key: str) -> None:
    """Raise InvalidKeySegment unless `key` is an ADR-011 key (plain or hash-tagged)."""
    tagged = key.startswith("{")
    body = key.replace("{", "", 1).replace("}", "", 1) if tagged else key
    parts = body.split(":")
    if len(parts) != 4:
        raise InvalidKeySegment("key", key, "service:entity:id:version, e.g. product:catalog:1:v1")
    if cache_key(*parts, hash_tag=tagged) != key:
        raise InvalidKeySegment("key", key, "hash tag must wrap service:entity:id exactly")


def _ttl(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("ttl must be whole seconds")
    seconds = int(value) if isinstance(value, int | str) else None
    if seconds is None or seconds <= 0:
        raise ValueError(f"ttl must be a positive number of seconds, got {value!r}")
    return seconds


def _split_line(text: str) -> tuple[str, str, str]:
    """`key value ttl`: tab-separated, or the first and last words around the value."""
    if "\t" in text:
        fields = [field_.strip() for field_ in text.split("\t")]
        if len(fields) != 3:
            raise ValueError("expected 3 tab-separated fields: key, value, ttl")
        key, value, ttl = fields
    else:
        key, _, rest = text.partition(" ")
        value, _, ttl = rest.strip().rpartition(" ")
        value = value.strip()
    if not key or not value or not ttl:
        raise ValueError("expected 'key value ttl'")
    return key, value, ttl


def parse_key_line(line: str, key_format: KeyFormat) -> KeyRecord | None:
    """One line of a key source; None for blank and comment lines; ValueError when bad."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if key_format == "jsonl":
        try:
            item: object = json.loads(text)
        except RecursionError:
            raise ValueError("nested too deeply to be a key record") from None
        if not isinstance(item, dict):
            raise ValueError('expected {"key": ..., "value": ..., "ttl": ...}')
        record = cast(dict[str, Any], item)
        missing = [name for name in ("key", "value", "ttl") if name not in record]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        key, raw_value, ttl = record["key"], record["value"], record["ttl"]
        if not isinstance(key, str):
            raise ValueError(f"key must be a string, got {key!r}")
        value = raw_value if isinstance(raw_value, str) else json.dumps(raw_value)
    else:
        key, value, ttl = _split_line(text)
    check_key(key)
    return KeyRecord(key, value, _ttl(ttl))


def count_records(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip() and not line.lstrip().startswith("#"))


@dataclass
class ClusterFigures:
    """What the primaries hold and have served, summed, plus the fullest node."""

    keys: int = 0
    used_memory: int = 0
    maxmemory: int = 0
    highest_memory_ratio: float = 0.0
    hits: int = 0
    misses: int = 0

    @property
    def hit_rate(self) -> float | None:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None


def cluster_figures(view: ClusterView) -> ClusterFigures:
    figures = ClusterFigures()
    for entry in view.entries:
        client = view.node_client(entry)
        try:
            details = info(client)
        except (redis.RedisError, OSError):
            continue
        finally:
            client.close()
        figures.hits += int(details.get("keyspace_hits", 0))
        figures.misses += int(details.get("keyspace_misses", 0))
        if entry not in view.primaries:
            continue
        figures.keys += keyspace_keys(details)
        used, limit = int(details.get("used_memory", 0)), int(details.get("maxmemory", 0))
        figures.used_memory += used
        figures.maxmemory += limit
        if limit:
            figures.highest_memory_ratio = max(figures.highest_memory_ratio, used / limit)
    return figures


class Reporter:
    """How the runner tells of its progress (a rich progress bar, plain lines, or a test)."""

    def step_started(self, label: str, total: int | None) -> None: ...
    def advance(self, amount: int) -> None: ...
    def step_done(self, label: str, summary: str) -> None: ...
    def step_failed(self, label: str, reason: str) -> None: ...


@dataclass
class WarmResult:
    steps_done: list[str] = field(default_factory=list[str])
    keys_written: int = 0
    failure: str | None = None


def post_step(step: PostStep) -> str:
    data = json.dumps(dict(step.body) if step.body is not None else {}).encode()
    request = urllib.request.Request(
        step.url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=step.timeout) as response:
            status = int(response.status)
            response.read()
    except urllib.error.HTTPError as error:
        raise WarmError(f"{step.label} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise WarmError(f"{step.label} failed: {reason}") from None
    return f"HTTP {status} in {time.monotonic() - started:.1f} s"


def keys_step(step: KeysStep, write: Callable[[list[KeyRecord]], None], reporter: Reporter) -> int:
    pending: list[KeyRecord] = []
    written = 0
    try:
        handle = step.path.open(encoding="utf-8")
    except OSError as error:
        raise WarmError(f"cannot read {step.path}: {error.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = parse_key_line(line, step.format)
            except (ValueError, InvalidKeySegment) as error:
                raise WarmError(f"{step.path.name} line {number}: {error}") from None
            if record is None:
                continue
            pending.append(record)
            if len(pending) >= WRITE_BATCH:
                write(pending)
                written += len(pending)
                reporter.advance(len(pending))
                pending = []
    if pending:
        write(pending)
        written += len(pending)
        reporter.advance(len(pending))
    return written


def cluster_writer(client: Any) -> Callable[[list[KeyRecord]], None]:
    """SET ... EX for a batch through a cluster pipeline (grouped by slot owner)."""

    def write(records: list[KeyRecord]) -> None:
        pipe: Any = client.pipeline()
        for record in records:
            pipe.set(record.key, record.value, ex=record.ttl)
        try:
            pipe.execute()
        except redis.RedisError as error:
            raise WarmError(f"writing {len(records)} keys failed: {error}") from None

    return write


def run_plan(
    plan: WarmPlan,
    write: Callable[[list[KeyRecord]], None],
    reporter: Reporter,
    post: Callable[[PostStep], str] = post_step,
) -> WarmResult:
    """Run every step in tier order; stop at the first failure (recorded, not raised)."""
    result = WarmResult()
    for tier, number, step in plan.steps():
        label = f"{tier} {number}: {step.label}"
        try:
            if isinstance(step, PostStep):
                reporter.step_started(label, None)
                summary = post(step)
            else:
                try:
                    total = count_records(step.path)
                except OSError as error:
                    raise WarmError(f"cannot read {step.path}: {error.strerror}") from None
                except UnicodeDecodeError as error:
                    raise WarmError(
                        f"{step.path.name} is not UTF-8 (byte {error.start}); save it as UTF-8"
                    ) from None
                reporter.step_started(label, total)
                written = keys_step(step, write, reporter)
                result.keys_written += written
                summary = f"{count(written, 'key')} written"
        except CachectlError as error:
            result.failure = f"{label}: {error}"
            reporter.step_failed(label, str(error))
            return result
        reporter.step_done(label, summary)
        result.steps_done.append(label)
    return result
