"""RedisBackups: daily RDB snapshots of the Redis Cluster's primaries to an encrypted S3 bucket.

Config in (RedisBackupsArgs), resources out: a KMS key; an S3 bucket that is private, versioned,
encrypted with that key, TLS-only and expires its snapshots; an IAM role only the backup job's
Kubernetes service account can assume (IRSA), allowed to read and write the backup sets and
nothing else; the service account; and the CronJob running `cachectl.backup_cli backup` from the
tools image (this repo's Dockerfile).

AWS resources use the AWS provider passed in `opts` (or inherited from a parent), whose region must
be `settings.region`: the job is told that region.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.backups.documents import (
    bucket_policy,
    job_policy,
    key_policy,
    lifecycle_plan,
    parse_oidc_provider_arn,
    trust_policy,
)
from components.redis.acl import BACKUP
from components.tools_image import TOOLS_UID
from components.workloads import restricted_container, restricted_pod
from stackconfig.config import BackupsConfig
from stackconfig.quantity import quantity_bytes

BACKUP_PREFIX = "redis"
"""Key prefix of the backup sets in the bucket; the role may touch nothing outside it."""
SCRATCH_MOUNT = "/scratch"
REDIS_AUTH_MOUNT = "/etc/redis-auth"
PASSWORD_FILE = "password"
KEY_DELETION_WINDOW_DAYS = 30
"""The longest KMS allows: a key scheduled for deletion by mistake can be rescued for a month,
and every snapshot encrypted with it would be lost without it."""
JOB_DEADLINE_SECONDS = 4 * 3600
"""A stuck run is killed (and shows as a failed Job) long before the next daily one."""
STARTING_DEADLINE_SECONDS = 3600
"""A run missed while the controller was down still starts within the hour, not a day later."""
JOB_RETRIES = 1


@dataclass(frozen=True)
class RedisBackupsArgs:
    """Inputs of RedisBackups."""

    settings: BackupsConfig
    """The `cache-platform:backups` config: region, bucket prefix, schedule, retention, IRSA
    provider, service account and image."""
    redis_namespace: str
    """Namespace of the Redis Cluster; the job and its service account run there."""
    redis_peer_labels: pulumi.Input[Mapping[str, str]]
    """Labels the cluster's NetworkPolicy admits (RedisCluster.peer_labels): the job's pods carry
    them to reach the nodes."""
    redis_secret_name: pulumi.Input[str]
    """Kubernetes Secret holding the cluster's password (RedisCluster.secret_name)."""
    redis_secret_key: pulumi.Input[str]
    """Key of the password in that Secret (RedisCluster.secret_key)."""
    redis_nodes: pulumi.Input[str]
    """host:port of one or more cluster nodes (space separated); the job discovers every primary
    from them."""
    scratch_size: str
    """Size of the scratch volume that holds one primary's RDB at a time: the memory of one Redis
    container (an RDB is no bigger than the dataset, which maxmemory keeps below that)."""
    tags: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    """Tags of every taggable AWS resource (Environment is required by the policy pack)."""
    labels: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    """Labels added to every Kubernetes object (environment, part-of)."""
    namespace_output: pulumi.Input[str] | None = None
    """`redis_namespace` as the resource creating it outputs it: the service account takes it, so
    it is created after the namespace (a component's depends_on does not reach its children)."""


def job_labels(stack_labels: Mapping[str, str], peer_labels: Mapping[str, str]) -> dict[str, str]:
    """Labels of the backup objects and pods: the stack's, the cluster's peer labels (which its
    NetworkPolicy admits) and the backup component's own."""
    return {**stack_labels, **peer_labels, "app.kubernetes.io/component": "backup"}


def _to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True)


class RedisBackups(pulumi.ComponentResource):
    """Daily RDB snapshots of every primary to a private, KMS-encrypted, expiring S3 bucket."""

    bucket_name: pulumi.Output[str]
    """Name of the backup bucket (BACKUP_BUCKET of `cachectl.backup_cli` restores)."""
    bucket_arn: pulumi.Output[str]
    """ARN of the backup bucket."""
    kms_key_arn: pulumi.Output[str]
    """ARN of the KMS key encrypting every snapshot."""
    role_arn: pulumi.Output[str]
    """ARN of the IAM role the backup job assumes."""
    cronjob_name: pulumi.Output[str]
    """Name of the backup CronJob (`kubectl create job --from=cronjob/<name>` runs one now)."""

    def __init__(
        self, name: str, args: RedisBackupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cache-platform:backups:RedisBackups", name, None, opts)
        settings = args.settings
        if settings.oidc_provider_arn is None:
            raise ValueError("backups.oidcProviderArn: required for the backup job's IAM role")
        provider = parse_oidc_provider_arn(settings.oidc_provider_arn)
        lifecycle = lifecycle_plan(settings.retention_days, settings.infrequent_access_after_days)
        quantity_bytes(args.scratch_size)  # a malformed size fails here, not at deploy time
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the Redis backup snapshots of {args.redis_namespace}",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=_to_json(key_policy(provider)),
            tags=tags,
            opts=child,
        )

        bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket_prefix=settings.bucket_prefix, tags=tags, opts=child
        )
        in_bucket = pulumi.ResourceOptions(parent=self, depends_on=[bucket])
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=in_bucket,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=in_bucket,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=in_bucket,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    # One data key per bucket instead of one KMS call per object and part.
                    bucket_key_enabled=True,
                )
            ],
            opts=in_bucket,
        )
        transitions = (
            [
                aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                    days=lifecycle.infrequent_access_after_days, storage_class="STANDARD_IA"
                )
            ]
            if lifecycle.infrequent_access_after_days is not None
            else None
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="backup-sets",
                    status="Enabled",
                    # An empty prefix: every object (the bucket holds only backup sets).
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=transitions,
                    # With Days set, S3 also removes the delete markers left once the old
                    # versions are gone.
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=lifecycle.expire_after_days
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=lifecycle.noncurrent_versions_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=lifecycle.abort_multipart_after_days
                    ),
                )
            ],
            # Noncurrent-version rules need versioning on first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(
                lambda arns: _to_json(bucket_policy(arns[0], arns[1]))
            ),
            # S3 rejects a bucket policy while ownership or the public access block is changing.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ownership, public_access]),
        )

        role = aws.iam.Role(
            f"{name}-role",
            description=(
                f"Redis backup job ({args.redis_namespace}/{settings.service_account}), via IRSA"
            ),
            assume_role_policy=_to_json(
                trust_policy(provider, args.redis_namespace, settings.service_account)
            ),
            tags=tags,
            opts=child,
        )
        access = aws.iam.RolePolicy(
            f"{name}-access",
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(
                lambda arns: _to_json(job_policy(arns[0], arns[1], BACKUP_PREFIX, settings.region))
            ),
            opts=child,
        )

        stack_labels = dict(args.labels)
        labels = pulumi.Output.from_input(args.redis_peer_labels).apply(
            lambda peer: job_labels(stack_labels, peer)
        )
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=settings.service_account,
                namespace=args.namespace_output or args.redis_namespace,
                labels=labels,
                annotations={"eks.amazonaws.com/role-arn": role.arn},
            ),
            opts=child,
        )

        def env(variable: str, value: pulumi.Input[str]) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(name=variable, value=value)

        container = k8s.core.v1.ContainerArgs(
            name="backup",
            image=settings.image,
            # Explicit, so the job does not depend on the image's entrypoint.
            command=["python", "-m", "cachectl.backup_cli"],
            args=["backup"],
            env=[
                env("REDIS_NODES", args.redis_nodes),
                # The `backup` ACL user (components/redis/acl.py); its password is a file.
                env("REDIS_USER", BACKUP.name),
                env("REDIS_PASSWORD_FILE", f"{REDIS_AUTH_MOUNT}/{PASSWORD_FILE}"),
                env("BACKUP_BUCKET", bucket.bucket),
                env("BACKUP_PREFIX", BACKUP_PREFIX),
                env("BACKUP_KMS_KEY_ID", key.arn),
                env("AWS_REGION", settings.region),
                env("BACKUP_WORK_DIR", SCRATCH_MOUNT),
                # Anything else that wants a temporary file: the root filesystem is read-only.
                env("TMPDIR", SCRATCH_MOUNT),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                # The RDB streams to disk and uploads in 64 MiB parts, four at a time.
                requests={
                    "cpu": "100m",
                    "memory": "256Mi",
                    "ephemeral-storage": args.scratch_size,
                },
                limits={"memory": "1Gi", "ephemeral-storage": args.scratch_size},
            ),
            security_context=restricted_container(TOOLS_UID),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="scratch", mount_path=SCRATCH_MOUNT),
                k8s.core.v1.VolumeMountArgs(
                    name="redis-auth", mount_path=REDIS_AUTH_MOUNT, read_only=True
                ),
            ],
        )
        pod = k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
            spec=k8s.core.v1.PodSpecArgs(
                service_account_name=settings.service_account,
                # A failed run is a failed Job (kube-state-metrics, alerts), not a pod restarting
                # in place.
                restart_policy="Never",
                # Owning its volumes lets the non-root user read the projected IRSA token.
                security_context=restricted_pod(TOOLS_UID),
                containers=[container],
                volumes=[
                    k8s.core.v1.VolumeArgs(
                        name="scratch",
                        empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                            size_limit=args.scratch_size
                        ),
                    ),
                    k8s.core.v1.VolumeArgs(
                        name="redis-auth",
                        secret=k8s.core.v1.SecretVolumeSourceArgs(
                            secret_name=args.redis_secret_name,
                            # The kubelet adds group read for fs_group (the job's own group):
                            # 0440, root:TOOLS_UID, no one else.
                            default_mode=0o400,
                            items=[
                                k8s.core.v1.KeyToPathArgs(
                                    key=args.redis_secret_key, path=PASSWORD_FILE
                                )
                            ],
                        ),
                    ),
                ],
            ),
        )
        cronjob = k8s.batch.v1.CronJob(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, namespace=args.redis_namespace, labels=labels
            ),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=settings.schedule,
                time_zone="Etc/UTC",
                concurrency_policy="Forbid",
                starting_deadline_seconds=STARTING_DEADLINE_SECONDS,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=JOB_RETRIES,
                        active_deadline_seconds=JOB_DEADLINE_SECONDS,
                        template=pod,
                    ),
                ),
            ),
            # The first run must find its identity and permissions in place.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[service_account, access]),
        )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.kms_key_arn = key.arn
        self.role_arn = role.arn
        self.cronjob_name = cronjob.metadata.apply(lambda metadata: metadata.name or name)
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "kms_key_arn": self.kms_key_arn,
                "role_arn": self.role_arn,
                "cronjob_name": self.cronjob_name,
            }
        )
