"""Pulumi mocks that record every registration, for the offline plan and the unit tests.

`RecordingMonitor` sees each RegisterResource request before the SDK's mock monitor unwraps its
secrets, so the record keeps a secret as `"[secret]"` and never its value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from policies.props import REDACTED_SECRET

# The policy pack recognises a secret in the plan by this very value.
SECRET_PLACEHOLDER = REDACTED_SECRET
_SECRET_SIG = rpc._special_secret_sig  # pyright: ignore[reportPrivateUsage]
_SIG_KEY = rpc._special_sig_key  # pyright: ignore[reportPrivateUsage]


@dataclass
class ResourceRecord:
    """One registered resource as the engine would see it."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    """Inputs with secrets replaced by "[secret]"; safe to write anywhere."""
    secret_paths: list[str] = field(default_factory=lambda: list[str]())
    raw_inputs: dict[str, Any] = field(default_factory=lambda: dict[str, Any](), repr=False)
    """Inputs with secret values unwrapped; for mock outputs only, never written out."""
    dependencies: list[str] = field(default_factory=lambda: list[str]())
    """URNs the resource waits for (explicit `depends_on` and property dependencies)."""


def _mask_secrets(value: Any, path: str, secret_paths: list[str]) -> Any:
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            secret_paths.append(path)
            return _redact(value.get("value"))
        return {
            k: _mask_secrets(v, f"{path}.{k}" if path else k, secret_paths)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask_secrets(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    return value


def _redact(value: Any) -> Any:
    """A secret's shape with every value replaced: a Secret's keys stay visible, never its data."""
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items() if k != _SIG_KEY}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return SECRET_PLACEHOLDER


def _unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _unwrap_secrets(value.get("value"))
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, plus a record of every registration in order."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[ResourceRecord] = []

    def RegisterResource(self, request: Any) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            wrapped = rpc.deserialize_properties(request.object, keep_unknowns=True)
            secret_paths: list[str] = []
            masked = _mask_secrets(wrapped, "", secret_paths)
            self.records.append(
                ResourceRecord(
                    urn=self.make_urn(request.parent, request.type, request.name),
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    custom=bool(request.custom),
                    inputs=masked,
                    secret_paths=secret_paths,
                    raw_inputs=_unwrap_secrets(wrapped),
                    dependencies=list(request.dependencies),
                )
            )
        return super().RegisterResource(request)


def fake_id(kind: str, name: str, length: int = 32) -> str:
    """A stable, fake identifier derived from a resource's type and name."""
    return hashlib.sha256(f"{kind}/{name}".encode()).hexdigest()[:length]


class PlanMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs, plus the computed outputs our components read.

    Unknown function calls fail loudly: a component that starts invoking a data source must say
    here what the plan should answer.
    """

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        resource_id = fake_id(args.typ, args.name)
        if args.typ == "random:index/randomPassword:RandomPassword":
            length = int(outputs.get("length", 32))
            # A recognisable fake: tests grep every artifact for it to prove secrets never leak.
            outputs["result"] = ("mock-secret-" + fake_id(args.typ, args.name))[:length]
        elif args.typ.startswith("aws:"):
            service = args.typ.split(":")[1].split("/")[0]
            outputs.setdefault("arn", f"arn:aws:{service}:eu-west-1:123456789012:{args.name}")
            if args.typ == "aws:s3/bucketV2:BucketV2" or args.typ == "aws:s3/bucket:Bucket":
                bucket = (
                    outputs.get("bucket")
                    or f"{outputs.get('bucketPrefix', args.name)}{resource_id[:8]}"
                )
                outputs["bucket"] = bucket
                outputs["arn"] = f"arn:aws:s3:::{bucket}"
                resource_id = bucket
            if args.typ == "aws:kms/key:Key":
                outputs["keyId"] = resource_id
            if args.typ == "aws:iam/role:Role":
                outputs["arn"] = f"arn:aws:iam::123456789012:role/{args.name}"
                outputs.setdefault("name", args.name)
        elif args.typ.startswith("kubernetes:"):
            metadata = dict(outputs.get("metadata") or {})
            metadata.setdefault("name", args.name)
            outputs["metadata"] = metadata
        elif args.typ == "cloudflare:index/zone:Zone":
            outputs.setdefault("nameServers", ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"])
        return resource_id, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise NotImplementedError(
            f"the offline plan has no answer for the function call {args.token!r}; "
            "add one to plan/mocks.py or avoid the call"
        )
