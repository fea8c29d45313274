"""RedisBackups under Pulumi mocks, its policy documents, and the tools image it runs.

What a `pulumi up` would create is checked after every child is registered: the bucket is private,
encrypted with the component's own key and TLS-only; the job's role is least-privilege and only
its service account can assume it; the CronJob speaks the backup program's env contract and its
pods are admitted by the Redis NetworkPolicy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import typer.main

from cachectl import backup_cli
from components.backups.component import (
    BACKUP_PREFIX,
    TOOLS_UID,
    RedisBackups,
    RedisBackupsArgs,
)
from components.backups.documents import (
    STANDARD_IA_MINIMUM_DAYS,
    LifecyclePlan,
    lifecycle_plan,
    parse_oidc_provider_arn,
)
from components.redis.cluster import RedisCluster, RedisClusterArgs
from plan.mocks import ResourceRecord
from plan.verdicts import judge
from policies.security import denies_insecure_transport
from stackconfig.config import BackupsConfig, RedisConfig
from tests.support.mocking import of_type, one, when_registered
from tests.support.tools_image import canonical, dockerfile, image_libraries, missing_libraries

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
OIDC_ARN = f"arn:aws:iam::210987654321:oidc-provider/{ISSUER}"
NAMESPACE = "cache"
SECRET_NAME = "redis-auth"
PEER_LABELS = {"app.kubernetes.io/name": "redis-cluster", "app.kubernetes.io/instance": "redis"}
SEED = "redis-0.redis-headless.cache.svc.cluster.local:6379"
LABELS = {"cache-platform/environment": "prod", "app.kubernetes.io/part-of": "cache-platform"}
TAGS = {"Project": "cache-platform", "Environment": "prod", "ManagedBy": "pulumi"}

KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
CRONJOB = "kubernetes:batch/v1:CronJob"


def settings(**overrides: Any) -> BackupsConfig:
    return BackupsConfig(**{"oidc_provider_arn": OIDC_ARN, **overrides})


def build(
    config: BackupsConfig | None = None,
    name: str = "redis-backup",
    cluster: RedisCluster | None = None,
) -> RedisBackups:
    """The backups of `cluster` (wired as __main__.py does), or of a cluster named "redis" whose
    outputs are given as literals."""
    return RedisBackups(
        name,
        RedisBackupsArgs(
            settings=config or settings(),
            redis_namespace=NAMESPACE,
            redis_peer_labels=cluster.peer_labels if cluster else PEER_LABELS,
            redis_secret_name=cluster.secret_name if cluster else SECRET_NAME,
            redis_secret_key=cluster.secret_key if cluster else "password",
            redis_nodes=SEED,
            scratch_size="8Gi",
            tags=TAGS,
            labels=LABELS,
        ),
    )


def after_registration(
    backups: RedisBackups, check: Callable[[dict[str, Any]], None]
) -> pulumi.Output[Any]:
    """Runs `check(outputs)` once every child is registered; outputs include the component urn."""
    outputs = pulumi.Output.all(
        urn=backups.urn,
        bucket_name=backups.bucket_name,
        bucket_arn=backups.bucket_arn,
        kms_key_arn=backups.kms_key_arn,
        role_arn=backups.role_arn,
        cronjob_name=backups.cronjob_name,
    )
    return pulumi.Output.all(outputs, when_registered(backups, lambda: None)).apply(
        lambda values: check(values[0])
    )


def document(record: ResourceRecord, prop: str) -> dict[str, Any]:
    text = record.inputs[prop]
    assert isinstance(text, str), f"{record.urn}: {prop} is not a JSON string"
    return json.loads(text)


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    found = [s for s in policy["Statement"] if s.get("Sid") == sid]
    assert len(found) == 1, f"expected one statement {sid}, found {policy['Statement']}"
    return found[0]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def pod_spec(records: list[ResourceRecord]) -> dict[str, Any]:
    cron = one(records, CRONJOB)
    return cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def backup_container(records: list[ResourceRecord]) -> dict[str, Any]:
    (container,) = pod_spec(records)["containers"]
    return container


# --- the bucket ------------------------------------------------------------------------------


@pulumi.runtime.test
def test_bucket_encrypts_with_the_components_own_rotating_key(monitor: Any) -> Any:
    backups = build()

    def check(out: dict[str, Any]) -> None:
        key = one(monitor.records, KEY)
        assert key.inputs["enableKeyRotation"] is True, key.urn
        assert key.inputs["deletionWindowInDays"] == 30, key.urn
        encryption = one(monitor.records, ENCRYPTION)
        assert encryption.inputs["bucket"] == out["bucket_name"], encryption.urn
        (rule,) = encryption.inputs["rules"]
        default = rule["applyServerSideEncryptionByDefault"]
        assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": out["kms_key_arn"]}
        assert rule["bucketKeyEnabled"] is True, encryption.urn

    return after_registration(backups, check)


@pulumi.runtime.test
def test_key_policy_lets_the_account_manage_the_key_and_nobody_else(monitor: Any) -> Any:
    backups = build()

    def check(_: dict[str, Any]) -> None:
        policy = document(one(monitor.records, KEY), "policy")
        (only,) = policy["Statement"]
        assert only["Effect"] == "Allow"
        assert only["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}

    return after_registration(backups, check)


@pulumi.runtime.test
def test_bucket_is_private_versioned_and_acl_free(monitor: Any) -> Any:
    backups = build()

    def check(out: dict[str, Any]) -> None:
        bucket = one(monitor.records, BUCKET)
        assert bucket.inputs["bucketPrefix"] == "cache-platform-redis-backups", bucket.urn
        assert out["bucket_name"].startswith("cache-platform-redis-backups")
        block = one(monitor.records, PUBLIC_ACCESS)
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"):
            assert block.inputs[flag] is True, f"{block.urn}: {flag}"
        assert block.inputs["restrictPublicBuckets"] is True, block.urn
        ownership = one(monitor.records, OWNERSHIP)
        assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        versioning = one(monitor.records, VERSIONING)
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
        for companion in (block, ownership, versioning):
            assert companion.inputs["bucket"] == out["bucket_name"], companion.urn

    return after_registration(backups, check)


@pulumi.runtime.test
def test_bucket_policy_refuses_requests_without_tls(monitor: Any) -> Any:
    backups = build()

    def check(out: dict[str, Any]) -> None:
        record = one(monitor.records, BUCKET_POLICY)
        assert record.inputs["bucket"] == out["bucket_name"], record.urn
        policy = document(record, "policy")
        tls = statement(policy, "DenyInsecureTransport")
        assert tls["Effect"] == "Deny" and tls["Principal"] == "*"
        assert tls["Action"] == "s3:*"
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        arn = out["bucket_arn"]
        assert sorted(tls["Resource"]) == [arn, f"{arn}/*"]
        # The policy pack's own check agrees.
        assert denies_insecure_transport(record.inputs["policy"])

    return after_registration(backups, check)


@pulumi.runtime.test
def test_bucket_policy_refuses_uploads_naming_another_encryption(monitor: Any) -> Any:
    backups = build()

    def check(out: dict[str, Any]) -> None:
        policy = document(one(monitor.records, BUCKET_POLICY), "policy")
        algorithm = statement(policy, "DenyUploadsNotEncryptedWithKms")
        assert algorithm["Effect"] == "Deny" and algorithm["Action"] == "s3:PutObject"
        header = "s3:x-amz-server-side-encryption"
        assert algorithm["Condition"]["StringNotEquals"] == {header: "aws:kms"}
        # Only when the header is sent: UploadPart requests carry none.
        assert algorithm["Condition"]["Null"] == {header: "false"}
        other_key = statement(policy, "DenyUploadsWithAnotherKey")
        key_header = "s3:x-amz-server-side-encryption-aws-kms-key-id"
        assert other_key["Condition"]["StringNotEquals"] == {key_header: out["kms_key_arn"]}
        assert other_key["Condition"]["Null"] == {key_header: "false"}

    return after_registration(backups, check)


def lifecycle_rule(records: list[ResourceRecord]) -> dict[str, Any]:
    (rule,) = one(records, LIFECYCLE).inputs["rules"]
    return rule


@pytest.mark.parametrize(
    ("retention", "infrequent_after", "transition"),
    [(35, 30, 30), (30, 30, None), (90, 60, 60), (31, 45, None)],
)
def test_lifecycle_moves_to_standard_ia_only_before_expiry(
    monitor: Any, retention: int, infrequent_after: int, transition: int | None
) -> None:
    @pulumi.runtime.test
    def run() -> Any:
        backups = build(
            settings(retention_days=retention, infrequent_access_after_days=infrequent_after)
        )

        def check(out: dict[str, Any]) -> None:
            record = one(monitor.records, LIFECYCLE)
            assert record.inputs["bucket"] == out["bucket_name"], record.urn
            rule = lifecycle_rule(monitor.records)
            assert rule["status"] == "Enabled"
            assert rule["filter"] == {"prefix": ""}, "the rule must cover every object"
            assert rule["expiration"] == {"days": retention}
            expected = [{"days": transition, "storageClass": "STANDARD_IA"}] if transition else None
            assert rule.get("transitions") == expected
            assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 7}
            assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}

        return after_registration(backups, check)

    run()


def test_lifecycle_plan_refuses_what_s3_would() -> None:
    assert lifecycle_plan(35, 30) == LifecyclePlan(35, 30)
    with pytest.raises(ValueError, match=r"backups\.infrequentAccessAfterDays"):
        lifecycle_plan(90, STANDARD_IA_MINIMUM_DAYS - 1)
    with pytest.raises(ValueError, match=r"backups\.retentionDays"):
        lifecycle_plan(0, 30)


# --- the job's identity ----------------------------------------------------------------------


def test_oidc_provider_arn_is_split_into_account_and_issuer() -> None:
    provider = parse_oidc_provider_arn(OIDC_ARN)
    assert (provider.partition, provider.account_id, provider.issuer) == (
        "aws",
        "210987654321",
        ISSUER,
    )
    china = parse_oidc_provider_arn(f"arn:aws-cn:iam::210987654321:oidc-provider/{ISSUER}")
    assert china.partition == "aws-cn"
    with pytest.raises(ValueError, match=r"backups\.oidcProviderArn"):
        parse_oidc_provider_arn("arn:aws:iam::210987654321:role/not-a-provider")


@pulumi.runtime.test
def test_only_the_jobs_service_account_can_assume_the_role(monitor: Any) -> Any:
    backups = build(settings(service_account="nightly-backup"))

    def check(_: dict[str, Any]) -> None:
        trust = document(one(monitor.records, ROLE), "assumeRolePolicy")
        (only,) = trust["Statement"]
        assert only["Effect"] == "Allow"
        assert only["Principal"] == {"Federated": OIDC_ARN}
        assert only["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert only["Condition"] == {
            "StringEquals": {
                f"{ISSUER}:sub": "system:serviceaccount:cache:nightly-backup",
                f"{ISSUER}:aud": "sts.amazonaws.com",
            }
        }

    return after_registration(backups, check)


@pulumi.runtime.test
def test_role_may_only_read_and_write_backup_sets_with_the_key(monitor: Any) -> Any:
    backups = build(settings(region="eu-west-1"))

    def check(out: dict[str, Any]) -> None:
        record = one(monitor.records, ROLE_POLICY)
        policy = document(record, "policy")
        granted = {
            (action, resource)
            for s in policy["Statement"]
            for action in as_list(s["Action"])
            for resource in as_list(s["Resource"])
        }
        bucket, objects = out["bucket_arn"], f"{out['bucket_arn']}/{BACKUP_PREFIX}/*"
        key = out["kms_key_arn"]
        assert granted == {
            ("s3:ListBucket", bucket),
            ("s3:PutObject", objects),
            ("s3:GetObject", objects),
            ("s3:AbortMultipartUpload", objects),
            ("s3:ListMultipartUploadParts", objects),
            ("kms:Decrypt", key),
            ("kms:GenerateDataKey", key),
        }
        assert all(s["Effect"] == "Allow" for s in policy["Statement"])
        for action, resource in granted:
            assert "*" not in action, f"{record.urn}: wildcard action {action}"
            assert resource != "*", f"{record.urn}: {action} on every resource"
        kms = statement(policy, "UseTheBackupKeyThroughS3")
        assert kms["Condition"] == {
            "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
        }

    return after_registration(backups, check)


@pulumi.runtime.test
def test_service_account_is_annotated_with_the_role(monitor: Any) -> Any:
    backups = build()

    def check(out: dict[str, Any]) -> None:
        account = one(monitor.records, SERVICE_ACCOUNT)
        meta = account.inputs["metadata"]
        assert (meta["name"], meta["namespace"]) == ("redis-backup", NAMESPACE), account.urn
        assert meta["annotations"] == {"eks.amazonaws.com/role-arn": out["role_arn"]}
        assert pod_spec(monitor.records)["serviceAccountName"] == meta["name"]

    return after_registration(backups, check)


# --- the CronJob -----------------------------------------------------------------------------


@pulumi.runtime.test
def test_cronjob_runs_the_backup_on_schedule_and_fails_visibly(monitor: Any) -> Any:
    backups = build(settings(schedule="30 2 * * *"))

    def check(out: dict[str, Any]) -> None:
        cron = one(monitor.records, CRONJOB)
        spec = cron.inputs["spec"]
        assert out["cronjob_name"] == cron.inputs["metadata"]["name"] == "redis-backup"
        assert cron.inputs["metadata"]["namespace"] == NAMESPACE
        assert spec["schedule"] == "30 2 * * *"
        assert spec["timeZone"] == "Etc/UTC"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["successfulJobsHistoryLimit"] >= 1
        assert spec["failedJobsHistoryLimit"] >= 1
        job = spec["jobTemplate"]["spec"]
        assert 0 <= job["backoffLimit"] <= 3
        assert 0 < job["activeDeadlineSeconds"] < 24 * 3600
        assert "ttlSecondsAfterFinished" not in job, "failed Jobs must stay for the alerts"
        assert pod_spec(monitor.records)["restartPolicy"] == "Never"
        container = backup_container(monitor.records)
        assert container["image"] == "ghcr.io/acme/cache-platform-tools:0.1.0"
        assert container["command"] + container["args"] == [
            "python",
            "-m",
            "cachectl.backup_cli",
            "backup",
        ]

    return after_registration(backups, check)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container["env"]}


@pulumi.runtime.test
def test_job_env_names_the_bucket_key_region_and_seed(monitor: Any) -> Any:
    backups = build(settings(region="eu-central-1"))

    def check(out: dict[str, Any]) -> None:
        env = {
            name: e.get("value") for name, e in env_of(backup_container(monitor.records)).items()
        }
        assert env["BACKUP_BUCKET"] == out["bucket_name"]
        assert env["BACKUP_PREFIX"] == BACKUP_PREFIX
        assert env["BACKUP_KMS_KEY_ID"] == out["kms_key_arn"]
        assert env["AWS_REGION"] == "eu-central-1"
        assert env["REDIS_NODES"] == SEED

    return after_registration(backups, check)


@pulumi.runtime.test
def test_password_reaches_the_job_only_through_the_secret(monitor: Any) -> Any:
    backups = build()

    def check(_: dict[str, Any]) -> None:
        container = backup_container(monitor.records)
        env = env_of(container)
        # A file from the Secret, never an environment variable (`kubectl exec env`).
        assert "REDISCLI_AUTH" not in env
        assert env["REDIS_USER"]["value"] == "backup"
        mount = next(m for m in container["volumeMounts"] if m["name"] == "redis-auth")
        assert env["REDIS_PASSWORD_FILE"]["value"] == f"{mount['mountPath']}/password"
        volume = next(v for v in pod_spec(monitor.records)["volumes"] if v["name"] == "redis-auth")
        assert volume["secret"]["secretName"] == SECRET_NAME
        assert volume["secret"]["items"] == [{"key": "password", "path": "password"}]
        for name, entry in env.items():
            assert "secretKeyRef" not in entry.get("valueFrom", {}), name
            if re.search(r"PASSWORD$|AUTH|SECRET|TOKEN$", name):
                assert "value" not in entry, name

    return after_registration(backups, check)


def backup_command_env_vars() -> set[str]:
    """Every variable `python -m cachectl.backup_cli backup` reads (its options' envvars)."""
    group = typer.main.get_command(backup_cli.app)
    command = group.commands["backup"]  # pyright: ignore[reportAttributeAccessIssue]
    names: set[str] = set()
    for param in command.params:
        envvar = getattr(param, "envvar", None)
        names.update(as_list(envvar) if envvar else [])
    return names


@pulumi.runtime.test
def test_job_env_is_the_backup_programs_contract(monitor: Any) -> Any:
    """Fails when the program renames a variable the CronJob sets, or stops reading one."""
    backups = build()

    def check(_: dict[str, Any]) -> None:
        read = backup_command_env_vars()
        assert {"BACKUP_BUCKET", "BACKUP_KMS_KEY_ID", "REDIS_NODES", "AWS_REGION"} <= read
        # Read outside the options: the password by `read_password`, TMPDIR by tempfile.
        # REDIS_USER: the ACL user, read by cachectl's credential reader.
        read |= {"REDISCLI_AUTH", "REDIS_PASSWORD_FILE", "REDIS_USER", "TMPDIR"}
        set_here = set(env_of(backup_container(monitor.records)))
        assert set_here <= read, f"set but never read: {sorted(set_here - read)}"

    return after_registration(backups, check)


@pulumi.runtime.test
def test_job_runs_non_root_read_only_with_a_scratch_volume(monitor: Any) -> Any:
    backups = build()

    def check(_: dict[str, Any]) -> None:
        spec = pod_spec(monitor.records)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == TOOLS_UID
        assert spec["securityContext"]["fsGroup"] == TOOLS_UID
        container = backup_container(monitor.records)
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        volume = next(v for v in spec["volumes"] if "emptyDir" in v)
        assert volume["emptyDir"] == {"sizeLimit": "8Gi"}
        mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
        env = {name: e.get("value") for name, e in env_of(container).items()}
        assert env["BACKUP_WORK_DIR"] == mount["mountPath"] == env["TMPDIR"]
        requests = container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests)
        assert requests["ephemeral-storage"] == "8Gi", "scheduled only where the RDB fits"

    return after_registration(backups, check)


@pulumi.runtime.test
def test_redis_network_policy_admits_the_job_to_6379(monitor: Any) -> Any:
    cluster = RedisCluster("redis", RedisClusterArgs(settings=RedisConfig(), labels=LABELS))
    backups = build(cluster=cluster)

    def check(_: dict[str, Any]) -> None:
        policy = one(monitor.records, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
        cron = next(r for r in of_type(monitor.records, CRONJOB) if r.name == "redis-backup")
        pod_labels = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        admitting = [
            rule
            for rule in policy.inputs["spec"]["ingress"]
            if any(p["port"] == 6379 for p in rule["ports"])
            and any(
                peer.get("podSelector", {}).get("matchLabels", {}).items() <= pod_labels.items()
                and "namespaceSelector" not in peer
                for peer in rule["from"]
            )
        ]
        assert admitting, f"no ingress rule of {policy.urn} admits pods labelled {pod_labels}"
        server = one(monitor.records, "kubernetes:apps/v1:StatefulSet").inputs["spec"]["selector"]
        assert not server["matchLabels"].items() <= pod_labels.items(), (
            "the job's pods must not pass for Redis servers"
        )

    # The check reads the cluster's records too: run it only once both are registered.
    return when_registered(cluster, lambda: None).apply(
        lambda _: after_registration(backups, check)
    )


@pulumi.runtime.test
def test_policy_pack_finds_nothing_to_change(monitor: Any) -> Any:
    """The pack's own policies (public access, KMS, TLS, tags, labels, plain credentials, budget)
    over the backups and the cluster they back up (the budget sizes snapshots from it)."""
    cluster = RedisCluster("redis", RedisClusterArgs(settings=RedisConfig(), labels=LABELS))
    backups = build(cluster=cluster)

    def check(_: dict[str, Any]) -> None:
        violations = judge(monitor.records, {})
        assert not violations, "\n".join(f"{v.policy}: {v.message}" for v in violations)

    # The check reads the cluster's records too: run it only once both are registered.
    return when_registered(cluster, lambda: None).apply(
        lambda _: after_registration(backups, check)
    )


# --- conventions -----------------------------------------------------------------------------


EXPECTED_CHILDREN = {
    (KEY, "redis-backup-key"),
    (BUCKET, "redis-backup-bucket"),
    (OWNERSHIP, "redis-backup-ownership"),
    (PUBLIC_ACCESS, "redis-backup-public-access"),
    (VERSIONING, "redis-backup-versioning"),
    (ENCRYPTION, "redis-backup-encryption"),
    (LIFECYCLE, "redis-backup-lifecycle"),
    (BUCKET_POLICY, "redis-backup-policy"),
    (ROLE, "redis-backup-role"),
    (ROLE_POLICY, "redis-backup-access"),
    (SERVICE_ACCOUNT, "redis-backup-service-account"),
    (CRONJOB, "redis-backup"),
}


@pulumi.runtime.test
def test_children_keep_their_urns(monitor: Any) -> Any:
    """Renaming a child or changing its type replaces it in every stack: add an alias first."""
    backups = build()

    def check(out: dict[str, Any]) -> None:
        children = {(r.type, r.name) for r in monitor.records if r.parent == out["urn"]}
        assert children == EXPECTED_CHILDREN

    return after_registration(backups, check)


@pulumi.runtime.test
def test_every_resource_is_a_child_of_the_component(monitor: Any) -> Any:
    backups = build()

    def check(out: dict[str, Any]) -> None:
        orphans = [r.urn for r in monitor.records if r.urn != out["urn"] and r.parent != out["urn"]]
        assert not orphans, f"not parented to the component: {orphans}"

    return after_registration(backups, check)


@pulumi.runtime.test
def test_aws_resources_are_tagged_and_kubernetes_objects_labelled(monitor: Any) -> Any:
    backups = build()

    def check(_: dict[str, Any]) -> None:
        taggable = [r for r in monitor.records if r.type in {KEY, BUCKET, ROLE}]
        assert len(taggable) == 3
        for record in taggable:
            assert record.inputs["tags"]["Environment"] == "prod", record.urn
        for record in of_type(monitor.records, SERVICE_ACCOUNT) + of_type(monitor.records, CRONJOB):
            labels = record.inputs["metadata"]["labels"]
            assert labels["cache-platform/environment"] == "prod", record.urn
        pod_labels = one(monitor.records, CRONJOB).inputs["spec"]["jobTemplate"]["spec"][
            "template"
        ]["metadata"]["labels"]
        assert pod_labels["cache-platform/environment"] == "prod"

    return after_registration(backups, check)


# --- the tools image -------------------------------------------------------------------------


def pinned_requirements() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            pins[canonical(match[1])] = match[3]
    return pins


def test_image_libraries_are_pinned_by_requirements() -> None:
    pins = pinned_requirements()
    libraries = image_libraries()
    assert {"boto3", "redis", "typer", "rich"} <= {canonical(n) for n in libraries}
    unpinned = [name for name in libraries if canonical(name) not in pins]
    assert not unpinned, f"installed in the image but not pinned in requirements.txt: {unpinned}"


def test_image_has_every_library_cachectl_imports() -> None:
    missing = missing_libraries((ROOT / "cachectl").rglob("*.py"))
    assert not missing, f"cachectl imports what the image does not install: {missing}"


def test_image_runs_the_backup_program_as_the_jobs_non_root_user() -> None:
    text = dockerfile()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-\w+$", text, re.M), "pin the base image"
    redis_image = re.search(r"^COPY --from=(redis:\S+) .*redis-server.*redis-cli", text, re.M)
    assert redis_image, "the program runs redis-cli and (to load) redis-server"
    assert redis_image.group(1) == RedisConfig().image, (
        "the tools' Redis must read the cluster's RDB"
    )
    assert re.search(rf"^USER {TOOLS_UID}(:{TOOLS_UID})?$", text, re.M)
    assert 'ENTRYPOINT ["python", "-m", "cachectl.backup_cli"]' in text
    assert "pip install --no-deps ." in text
