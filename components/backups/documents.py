"""The backups' policy documents and lifecycle as pure functions of plain strings and numbers.

The component serialises these with `json.dumps` inside an `apply`, so a test can check the exact
document a deploy sends: who may assume the job's role, what that role may do, what the bucket
refuses, and when snapshots move and expire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

POLICY_VERSION = "2012-10-17"
STS_AUDIENCE = "sts.amazonaws.com"

OBJECT_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)
"""What the backup program does to objects: uploads (multipart for large RDB files), reads back
(HeadObject is authorised as GetObject) and cleans up an interrupted multipart upload. No
DeleteObject: an old set only ever goes by the lifecycle, never by a job holding these rights."""
BUCKET_ACTIONS = ("s3:ListBucket",)
KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
"""What S3 asks KMS on the caller's behalf: GenerateDataKey to write an SSE-KMS object, Decrypt to
read one or to finish a multipart upload. S3 never calls kms:Encrypt: the role does not get it."""

STANDARD_IA_MINIMUM_DAYS = 30
"""S3 refuses a transition to STANDARD_IA earlier than 30 days after creation."""
NONCURRENT_VERSION_DAYS = 7
"""How long an overwritten or expired snapshot version survives: a week to notice a bad overwrite
(the job may PutObject over a key) before the old bytes are gone."""
ABORT_MULTIPART_DAYS = 1
"""A crashed job's incomplete multipart upload is billed storage until aborted."""

_OIDC_PROVIDER_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>[0-9]{12}):oidc-provider/(?P<issuer>\S+)"
)


@dataclass(frozen=True)
class OidcProvider:
    """The parts of an IAM OIDC provider ARN the policies need."""

    arn: str
    partition: str
    account_id: str
    issuer: str
    """Host and path of the issuer, e.g. `oidc.eks.eu-west-1.amazonaws.com/id/ABC`: the prefix of
    its condition keys (`<issuer>:sub`)."""


def parse_oidc_provider_arn(arn: str) -> OidcProvider:
    """Split `arn:aws:iam::<account>:oidc-provider/<issuer>`; ValueError when it is not one."""
    match = _OIDC_PROVIDER_ARN.fullmatch(arn)
    if match is None:
        raise ValueError(
            f"backups.oidcProviderArn: {arn!r} is not an IAM OIDC provider ARN "
            "(arn:aws:iam::<account>:oidc-provider/<issuer host and path>)"
        )
    return OidcProvider(
        arn=arn,
        partition=match["partition"],
        account_id=match["account"],
        issuer=match["issuer"].rstrip("/"),
    )


def service_account_subject(namespace: str, service_account: str) -> str:
    """The `sub` claim of a Kubernetes service account token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def trust_policy(provider: OidcProvider, namespace: str, service_account: str) -> dict[str, Any]:
    """Only pods running as `namespace/service_account` in this cluster may assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "BackupJobServiceAccount",
                "Effect": "Allow",
                "Principal": {"Federated": provider.arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{provider.issuer}:sub": service_account_subject(
                            namespace, service_account
                        ),
                        f"{provider.issuer}:aud": STS_AUDIENCE,
                    }
                },
            }
        ],
    }


def objects_arn(bucket_arn: str, prefix: str) -> str:
    """ARN pattern of every object under `prefix/` in the bucket."""
    return f"{bucket_arn}/{prefix.strip('/')}/*"


def job_policy(bucket_arn: str, key_arn: str, prefix: str, region: str) -> dict[str, Any]:
    """What the backup job may do: its own objects under `prefix/`, through S3 with this key."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                # Not narrowed by s3:prefix: the bucket holds nothing but backup sets, and the
                # program tells a missing object (S3 answers 404 only to a caller that may list)
                # from a refused one.
                "Sid": "ListBackupSets",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": bucket_arn,
            },
            {
                "Sid": "ReadAndWriteBackupSets",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": objects_arn(bucket_arn, prefix),
            },
            {
                "Sid": "UseTheBackupKeyThroughS3",
                "Effect": "Allow",
                "Action": list(KEY_ACTIONS),
                "Resource": key_arn,
                # The key serves S3 only: the role's credentials cannot decrypt anything with it
                # directly.
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ],
    }


def key_policy(provider: OidcProvider) -> dict[str, Any]:
    """The key's own policy: the account administers it and IAM policies grant its use.

    This is KMS's default key policy. Without it a key can become unmanageable; with it, use of the
    key is granted by IAM policies, here the job role's (S3 only).
    """
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministersTheKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{provider.partition}:iam::{provider.account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def bucket_policy(bucket_arn: str, key_arn: str) -> dict[str, Any]:
    """What the bucket refuses whoever asks: plain HTTP, and uploads naming weaker encryption.

    Uploads that name no encryption get the bucket's default (SSE-KMS with the backup key). The
    encryption headers are only checked when present: UploadPart requests never carry them, so
    denying their absence would break multipart uploads.
    """
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyUploadsNotEncryptedWithKms",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                    "Null": {"s3:x-amz-server-side-encryption": "false"},
                },
            },
            {
                "Sid": "DenyUploadsWithAnotherKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn},
                    "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
                },
            },
        ],
    }


@dataclass(frozen=True)
class LifecyclePlan:
    """When snapshots change storage class and go away (days after upload)."""

    expire_after_days: int
    infrequent_access_after_days: int | None
    """None: expiry comes first, a transition would only add a request charge."""
    noncurrent_versions_days: int = NONCURRENT_VERSION_DAYS
    abort_multipart_after_days: int = ABORT_MULTIPART_DAYS


def lifecycle_plan(retention_days: int, infrequent_access_after_days: int) -> LifecyclePlan:
    """Expire after `retention_days`; move to STANDARD_IA first only when that comes earlier."""
    if retention_days < 1:
        raise ValueError(f"backups.retentionDays: {retention_days} is not a positive day count")
    if infrequent_access_after_days < STANDARD_IA_MINIMUM_DAYS:
        raise ValueError(
            f"backups.infrequentAccessAfterDays: {infrequent_access_after_days} is below the "
            f"{STANDARD_IA_MINIMUM_DAYS} days S3 requires before STANDARD_IA"
        )
    transition = (
        infrequent_access_after_days if infrequent_access_after_days < retention_days else None
    )
    return LifecyclePlan(expire_after_days=retention_days, infrequent_access_after_days=transition)
