"""Security policies: Redis AUTH, network isolation, the backup bucket, edge TLS, no plain secrets.

How secretness is judged: the Python policy SDK hands policies secret values unwrapped, so a policy
cannot tell a secret from a literal by the value. What survives is checked instead — the offline
plan's redaction ("[secret]" where the program passed a secret Output) and, in the engine, the
resource's `additionalSecretOutputs` naming the property. A credential-named value that is neither
a reference (secretKeyRef, existingSecret, …) nor marked secret either way is reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.redis.conf import SECRET_DIRECTIVES, parse_redis_conf
from cost.inventory import (
    CLOUDFLARE_WORKERS_SCRIPT,
    CLOUDFLARE_ZONE,
    CLOUDFLARE_ZONE_SETTING,
    CONFIGMAP,
    HELM_RELEASE,
    NETWORK_POLICY,
    S3_BUCKET_POLICY,
    S3_BUCKET_TYPES,
    S3_ENCRYPTION_TYPES,
    S3_PUBLIC_ACCESS_BLOCK,
    SECRET,
    WORKLOAD_TYPES,
    containers,
    name_of,
    namespace_of,
    pod_spec,
    redis_clusters,
)
from policies.props import (
    as_bool,
    as_list,
    as_mapping,
    as_str,
    get_path,
    is_sequence,
    marked_secret,
    stack_props,
)

PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
MIN_TLS_SETTING = "min_tls_version"
MIN_TLS_VERSION = (1, 2)

# Env var names are split on "_"; a name is a credential when a token says so, or when it ends in
# KEY (API_KEY, AWS_SECRET_ACCESS_KEY) — REDIS_KEY_PREFIX does not.
_CREDENTIAL_TOKENS = frozenset(
    {"PASSWORD", "PASSWD", "TOKEN", "SECRET", "APIKEY", "CREDENTIALS", "AUTH"}
)
# ...unless the last token says it names where one is: AWS_WEB_IDENTITY_TOKEN_FILE, KMS_KEY_ID.
_REFERENCE_TOKENS = frozenset({"FILE", "PATH", "DIR", "NAME", "REF", "ARN", "ID", "ENABLED"})
_CREDENTIAL_KEY_WORDS = ("password", "passwd", "secret", "token", "apikey", "privatekey")
# Alertmanager receiver fields that are credentials although they end like references.
_CREDENTIAL_KEYS = frozenset({"api_key", "routing_key", "service_key", "slack_api_url"})
_NOT_CREDENTIALS = frozenset({"true", "false", "yes", "no", "on", "off"})
# Keys that name where a credential is, not the credential: existingSecret, passwordKey, ...
_REFERENCE_SUFFIXES = ("name", "ref", "key", "file", "path", "enabled", "env", "keys", "secretref")
_REFERENCE_WORDS = ("existing", "secretkeyref", "valuefrom")


def credential_env_name(name: str) -> bool:
    """Whether an env var (or binding) name says it holds a credential itself."""
    tokens = [token for token in re.split(r"[^A-Z0-9]+", name.upper()) if token]
    if not tokens or tokens[-1] in _REFERENCE_TOKENS:
        return False
    return any(token in _CREDENTIAL_TOKENS for token in tokens) or tokens[-1] == "KEY"


def credential_key(key: str) -> bool:
    """Whether a config/values key holds a credential itself (not a reference to one)."""
    lowered = key.lower()
    if lowered in _CREDENTIAL_KEYS:
        return True
    if not any(word in lowered for word in _CREDENTIAL_KEY_WORDS):
        return False
    if any(word in lowered for word in _REFERENCE_WORDS):
        return False
    return not lowered.endswith(_REFERENCE_SUFFIXES)


def _opts(resource: PolicyResource | ResourceValidationArgs) -> PolicyResourceOptions | None:
    return getattr(resource, "opts", None)


# --- Redis AUTH ------------------------------------------------------------------------------


def _mounted_secret_refs(
    container: Mapping[str, Any], pod: Mapping[str, Any]
) -> list[tuple[str, str | None]]:
    """(Secret name, key) of every Secret the container mounts as files (secret or projected
    volumes; key None when the whole Secret is mounted)."""
    mounted = {as_str(as_mapping(m).get("name")) for m in as_list(container.get("volumeMounts"))}
    refs: list[tuple[str, str | None]] = []
    for volume in as_list(pod.get("volumes")):
        volume = as_mapping(volume)
        if as_str(volume.get("name")) not in mounted:
            continue
        sources = [as_mapping(volume.get("secret"))] if volume.get("secret") else []
        for source in as_list(get_path(volume, "projected", "sources")):
            if as_mapping(source).get("secret"):
                sources.append(as_mapping(as_mapping(source).get("secret")))
        for source in sources:
            name = as_str(source.get("secretName")) or as_str(source.get("name"))
            if not name:
                continue
            items = as_list(source.get("items"))
            keys = [as_str(as_mapping(item).get("key")) for item in items] or [None]
            refs.extend((name, key) for key in keys)
    return refs


def _secret_refs(container: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(Secret name, key) of every credential the container reads from a Secret as env vars."""
    refs: list[tuple[str, str | None]] = []
    for entry in as_list(container.get("env")):
        entry = as_mapping(entry)
        ref = as_mapping(get_path(entry, "valueFrom", "secretKeyRef"))
        name = as_str(ref.get("name"))
        if name and credential_env_name(as_str(entry.get("name")) or ""):
            refs.append((name, as_str(ref.get("key"))))
    for source in as_list(container.get("envFrom")):
        name = as_str(get_path(as_mapping(source), "secretRef", "name"))
        if name:
            refs.append((name, None))
    return refs


def _secret_value(secret: Mapping[str, Any], key: str | None) -> tuple[str, Any] | None:
    """(property, value) of `key` in a Secret's stringData or data; any key when None."""
    for prop in ("stringData", "data"):
        values = as_mapping(secret.get(prop))
        if key is None and values:
            return prop, next(iter(values.values()))
        if key is not None and key in values:
            return prop, values[key]
    return None


def _validate_redis_auth(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_props(args.resources)
    secrets = [r for r in args.resources if r.resource_type == SECRET]
    for cluster in redis_clusters(resources):
        env_refs = _secret_refs(cluster.redis_container)
        refs = env_refs + _mounted_secret_refs(cluster.redis_container, cluster.spec)
        if not refs:
            report(
                f"Redis cluster '{cluster.name}' runs without AUTH: its Redis container reads no "
                "password from a Secret; mount the users' Secrets as files (REDIS_USERS_DIR, "
                "start.sh writes the ACL users from them).",
                None,
            )
        for container in containers(cluster.spec):
            for secret_name, _ in _secret_refs(as_mapping(container)):
                report(
                    f"Container '{as_str(as_mapping(container).get('name'))}' of Redis cluster "
                    f"'{cluster.name}' gets a credential from Secret '{secret_name}' as an "
                    "environment variable (readable with `kubectl exec env`): mount it as a "
                    "file instead.",
                    None,
                )
        if cluster.conf_text is not None:
            try:
                literal = sorted(SECRET_DIRECTIVES & set(parse_redis_conf(cluster.conf_text)))
            except ValueError:
                literal = []
            if literal:
                report(
                    f"The redis.conf of cluster '{cluster.name}' holds {', '.join(literal)} in a "
                    "ConfigMap, readable by anyone who can read ConfigMaps: set them at start "
                    "from the Secret instead.",
                    None,
                )
        for secret_name, key in refs:
            declared = [
                s
                for s in secrets
                if name_of(s.props) == secret_name and namespace_of(s.props) == cluster.namespace
            ]
            if not declared:
                continue  # a Secret managed outside this stack: its value is not ours to see
            found = _secret_value(declared[0].props, key)
            if found is None:
                report(
                    f"Secret '{secret_name}' has no key '{key}', so Redis cluster "
                    f"'{cluster.name}' starts without a password: add the key.",
                    declared[0].urn,
                )
                continue
            prop, value = found
            if not marked_secret(value, prop, _opts(declared[0])):
                report(
                    f"The Redis password in Secret '{secret_name}' is a plain value in the "
                    "program: generate it (RandomPassword) and pass it as a secret Output, with "
                    f"additional_secret_outputs=['stringData', 'data'] on the Secret.",
                    declared[0].urn,
                )


redis_auth_require_secret_password = StackValidationPolicy(
    name="redis-auth-require-secret-password",
    description=(
        "Every Redis cluster has AUTH on: its Redis container reads the password from a "
        "Kubernetes Secret (secretKeyRef), its redis.conf ConfigMap holds no requirepass or "
        "masterauth, and a Secret declared in this stack holds the password as a secret value."
    ),
    validate=_validate_redis_auth,
    enforcement_level=EnforcementLevel.ADVISORY,
)


# --- NetworkPolicy ---------------------------------------------------------------------------


def _isolates(policy: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    spec = as_mapping(policy.get("spec"))
    wanted = as_mapping(get_path(spec, "podSelector", "matchLabels"))
    if not all(labels.get(k) == v for k, v in wanted.items()):
        return False
    types = [as_str(t) for t in as_list(spec.get("policyTypes"))]
    ingress = as_list(spec.get("ingress"))
    if "Ingress" not in types and not ingress:
        return False
    # A rule without `from` admits every source: the policy would isolate nothing.
    return all(as_list(as_mapping(rule).get("from")) for rule in ingress)


def _validate_network_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_props(args.resources)
    policies = [props for kind, props in resources if kind == NETWORK_POLICY]
    for cluster in redis_clusters(resources):
        labels = as_mapping(get_path(cluster.template, "metadata", "labels"))
        if not any(
            namespace_of(policy) == cluster.namespace and _isolates(policy, labels)
            for policy in policies
        ):
            report(
                f"No NetworkPolicy restricts who reaches the pods of Redis cluster "
                f"'{cluster.name}': add one in namespace '{cluster.namespace}' selecting them, "
                "with Ingress rules that each name their sources (peers, client namespaces, "
                "monitoring).",
                None,
            )


redis_pods_require_network_policy = StackValidationPolicy(
    name="redis-pods-require-network-policy",
    description=(
        "Every Redis StatefulSet's pods are selected by a NetworkPolicy in their namespace that "
        "restricts ingress, with every ingress rule naming its sources."
    ),
    validate=_validate_network_policy,
    enforcement_level=EnforcementLevel.ADVISORY,
)


# --- S3 --------------------------------------------------------------------------------------


def _bucket_label(props: Mapping[str, Any], fallback: str) -> str:
    return as_str(props.get("bucket")) or as_str(props.get("bucketPrefix")) or fallback


def _belongs(bucket: Mapping[str, Any], reference: Any, only_bucket: bool) -> bool:
    """Whether a companion resource's `bucket` names this bucket."""
    if only_bucket:
        return True
    ref = as_str(reference)
    if ref is None:
        return False
    names = {as_str(bucket.get(key)) for key in ("bucket", "id", "arn")} - {None}
    prefix = as_str(bucket.get("bucketPrefix"))
    return ref in names or (prefix is not None and ref.startswith(prefix))


def _buckets(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in S3_BUCKET_TYPES]


def _companions(
    resources: Sequence[PolicyResource], bucket: PolicyResource, types: Iterable[str]
) -> list[Mapping[str, Any]]:
    only = len(_buckets(resources)) == 1
    wanted = set(types)
    return [
        r.props
        for r in resources
        if r.resource_type in wanted and _belongs(bucket.props, r.props.get("bucket"), only)
    ]


def _validate_public_access(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in _buckets(args.resources):
        blocks = _companions(args.resources, bucket, [S3_PUBLIC_ACCESS_BLOCK])
        label = _bucket_label(bucket.props, bucket.name)
        if not blocks:
            report(
                f"Bucket '{label}' has no public access block: add a BucketPublicAccessBlock "
                "with all four settings true.",
                bucket.urn,
            )
            continue
        off = [flag for flag in PUBLIC_ACCESS_FLAGS if as_bool(blocks[0].get(flag)) is not True]
        if off:
            report(
                f"Bucket '{label}' may become public: set {', '.join(off)} to true on its "
                "BucketPublicAccessBlock.",
                bucket.urn,
            )


s3_buckets_block_public_access = StackValidationPolicy(
    name="s3-buckets-block-public-access",
    description=(
        "Every S3 bucket has a public access block with blockPublicAcls, blockPublicPolicy, "
        "ignorePublicAcls and restrictPublicBuckets all true."
    ),
    validate=_validate_public_access,
    enforcement_level=EnforcementLevel.ADVISORY,
)


def _encryption_defaults(
    resources: Sequence[PolicyResource], bucket: PolicyResource
) -> list[Mapping[str, Any]]:
    rules = [
        as_mapping(rule)
        for props in _companions(resources, bucket, S3_ENCRYPTION_TYPES)
        for rule in as_list(props.get("rules"))
    ]
    inline = as_mapping(get_path(bucket.props, "serverSideEncryptionConfiguration", "rule"))
    if inline:
        rules.append(inline)
    return [as_mapping(rule.get("applyServerSideEncryptionByDefault")) for rule in rules]


def _validate_kms(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in _buckets(args.resources):
        label = _bucket_label(bucket.props, bucket.name)
        defaults = _encryption_defaults(args.resources, bucket)
        if not any(
            as_str(d.get("sseAlgorithm")) in KMS_ALGORITHMS and d.get("kmsMasterKeyId")
            for d in defaults
        ):
            found = ", ".join(sorted({as_str(d.get("sseAlgorithm")) or "?" for d in defaults}))
            report(
                f"Bucket '{label}' is not encrypted with a KMS key"
                + (f" (found {found})" if defaults else "")
                + ": add a server-side encryption rule with sseAlgorithm 'aws:kms' and the "
                "backups' kmsMasterKeyId.",
                bucket.urn,
            )


s3_buckets_require_kms_encryption = StackValidationPolicy(
    name="s3-buckets-require-kms-encryption",
    description=(
        "Every S3 bucket encrypts objects by default with SSE-KMS (aws:kms) under a named KMS key."
    ),
    validate=_validate_kms,
    enforcement_level=EnforcementLevel.ADVISORY,
)


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    statements = as_mapping(document).get("Statement")
    if isinstance(statements, Mapping):
        return [cast(Mapping[str, Any], statements)]
    return [as_mapping(s) for s in as_list(statements)]


def _values(value: Any) -> list[Any]:
    return as_list(value) if is_sequence(value) else [value]


def denies_insecure_transport(document: Any) -> bool:
    """Whether a bucket policy denies every request made without TLS."""
    for statement in _statements(document):
        if statement.get("Effect") != "Deny":
            continue
        principal = statement.get("Principal")
        everyone = principal == "*" or "*" in _values(as_mapping(principal).get("AWS"))
        actions = {as_str(a) for a in _values(statement.get("Action"))}
        condition = as_mapping(get_path(statement, "Condition", "Bool"))
        insecure = [str(v).lower() for v in _values(condition.get("aws:SecureTransport"))]
        if everyone and actions & {"s3:*", "*"} and insecure == ["false"]:
            return True
    return False


def _validate_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in _buckets(args.resources):
        label = _bucket_label(bucket.props, bucket.name)
        documents = [
            props.get("policy") for props in _companions(args.resources, bucket, [S3_BUCKET_POLICY])
        ]
        documents.append(bucket.props.get("policy"))
        if not any(denies_insecure_transport(d) for d in documents if d):
            report(
                f"Bucket '{label}' accepts requests without TLS: add a bucket policy statement "
                "denying s3:* to every principal when aws:SecureTransport is false.",
                bucket.urn,
            )


s3_buckets_require_tls = StackValidationPolicy(
    name="s3-buckets-require-tls",
    description=(
        "Every S3 bucket's policy denies all S3 actions to every principal on requests where "
        "aws:SecureTransport is false, so data only travels over TLS."
    ),
    validate=_validate_tls_only,
    enforcement_level=EnforcementLevel.ADVISORY,
)


# --- edge TLS --------------------------------------------------------------------------------


def _tls_version(value: Any) -> tuple[int, ...] | None:
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", text):
        return None
    return tuple(int(part) for part in text.split("."))


def _validate_min_tls(args: StackValidationArgs, report: ReportViolation) -> None:
    zone_settings = [r for r in args.resources if r.resource_type == CLOUDFLARE_ZONE_SETTING]
    tls_settings = [r for r in zone_settings if r.props.get("settingId") == MIN_TLS_SETTING]
    zones = [r for r in args.resources if r.resource_type == CLOUDFLARE_ZONE]
    zone_ids = {
        as_str(r.props.get("zoneId"))
        for r in args.resources
        if r.resource_type.startswith("cloudflare:")
    } - {None}
    for setting in tls_settings:
        version = _tls_version(setting.props.get("value"))
        if version is None or version < MIN_TLS_VERSION:
            report(
                f"Zone setting '{setting.name}' lets clients connect with TLS "
                f"{setting.props.get('value')!r}: set min_tls_version to '1.2' or higher.",
                setting.urn,
            )
    covered = {as_str(s.props.get("zoneId")) for s in tls_settings}
    for zone_id in sorted(z for z in zone_ids - covered if z):
        report(
            f"Cloudflare zone '{zone_id}' keeps the default minimum TLS version (1.0): add a "
            "ZoneSetting min_tls_version '1.2'.",
            None,
        )
    if zones and not tls_settings and not zone_ids:
        report(
            "The Cloudflare zone keeps the default minimum TLS version (1.0): add a ZoneSetting "
            "min_tls_version '1.2'.",
            zones[0].urn,
        )


cdn_zone_require_tls_1_2 = StackValidationPolicy(
    name="cdn-zone-require-tls-1-2",
    description=(
        "Every Cloudflare zone the stack manages sets min_tls_version to 1.2 or higher, so the "
        "edge refuses TLS 1.0 and 1.1 clients."
    ),
    validate=_validate_min_tls,
    enforcement_level=EnforcementLevel.ADVISORY,
)


# --- plaintext credentials -------------------------------------------------------------------


def _literal(value: Any) -> bool:
    """A value that could be a credential written out: not empty, not a flag."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    return str(value).strip().lower() not in _NOT_CREDENTIALS | {""}


def _plain_values(value: Any, path: str, secret: Callable[[Any], bool]) -> Iterable[str]:
    """Paths of credential-named keys holding a literal (not `secret`) anywhere in `value`."""
    if isinstance(value, Mapping):
        for key, child in cast(Mapping[str, Any], value).items():
            where = f"{path}.{key}" if path else str(key)
            if credential_key(str(key)) and _literal(child) and not secret(child):
                yield where
            else:
                yield from _plain_values(child, where, secret)
    elif is_sequence(value):
        for index, child in enumerate(as_list(value)):
            yield from _plain_values(child, f"{path}[{index}]", secret)


def _env_literals(kind: str, props: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for container in containers(pod_spec(kind, props)):
        for entry in as_list(container.get("env")):
            entry = as_mapping(entry)
            name = as_str(entry.get("name")) or ""
            if credential_env_name(name) and _literal(entry.get("value")):
                found.append(f"container '{container.get('name')}' env {name}")
    return found


def _plain_credentials(
    kind: str, props: Mapping[str, Any], opts: PolicyResourceOptions | None
) -> list[str]:
    if kind in WORKLOAD_TYPES:
        return _env_literals(kind, props)
    if kind == HELM_RELEASE:
        # Helm keeps values in its release Secret; a value the program marked secret is fine.
        def secret(value: Any) -> bool:
            return marked_secret(value, "values", opts)

        return [f"values.{path}" for path in _plain_values(props.get("values"), "", secret)]
    if kind == CONFIGMAP:
        # A ConfigMap is plain text to anyone who may read it, marked secret or not.
        return [
            f"data.{key}"
            for key, value in as_mapping(props.get("data")).items()
            if credential_key(key) and _literal(value)
        ]
    if kind == CLOUDFLARE_WORKERS_SCRIPT:
        return [
            f"plain_text binding {as_str(as_mapping(b).get('name'))}"
            for b in as_list(props.get("bindings"))
            if as_mapping(b).get("type") == "plain_text"
            and credential_env_name(as_str(as_mapping(b).get("name")) or "")
        ]
    return []


def _validate_plain_credentials(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where in _plain_credentials(args.resource_type, args.props, _opts(args)):
        report(
            f"'{args.name}' holds a credential in plain config ({where}): read it from a "
            "Kubernetes Secret (valueFrom.secretKeyRef, existingSecret), a secret_text binding or "
            "a secret Output instead of a literal.",
            None,
        )


config_forbid_plaintext_credentials = ResourceValidationPolicy(
    name="config-forbid-plaintext-credentials",
    description=(
        "No credential sits in plain configuration: no workload env var named like a password, "
        "token, secret or key has a literal value, no Helm value or ConfigMap entry named like "
        "one holds a literal unless it is marked secret, and no Worker gets one as plain_text."
    ),
    validate=_validate_plain_credentials,
    enforcement_level=EnforcementLevel.ADVISORY,
)
