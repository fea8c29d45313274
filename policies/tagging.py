"""Every Kubernetes object and AWS resource says which environment it belongs to."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policies.props import as_mapping, get_path

ENVIRONMENT_LABEL = "cache-platform/environment"
ENVIRONMENT_TAG = "Environment"

# AWS resources of this project that accept tags (the others, e.g. bucket policies, do not).
TAGGABLE_AWS_TYPES = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:kms/key:Key",
        "aws:iam/role:Role",
        "aws:iam/policy:Policy",
    }
)


def _validate_environment_label(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type.startswith("kubernetes:") and "metadata" in args.props:
        labels = as_mapping(get_path(args.props, "metadata", "labels"))
        if not labels.get(ENVIRONMENT_LABEL):
            report(
                f"Kubernetes object '{args.name}' has no '{ENVIRONMENT_LABEL}' label; "
                "build its metadata from the component's labels (StackConfig.labels).",
                None,
            )
    elif args.resource_type in TAGGABLE_AWS_TYPES:
        tags = as_mapping(args.props.get("tags"))
        if not tags.get(ENVIRONMENT_TAG):
            report(
                f"AWS resource '{args.name}' has no '{ENVIRONMENT_TAG}' tag; "
                "pass the component's tags (StackConfig.tags).",
                None,
            )


resources_require_environment_label = ResourceValidationPolicy(
    name="resources-require-environment-label",
    description=(
        "Every Kubernetes object carries the 'cache-platform/environment' label and every taggable "
        "AWS resource the 'Environment' tag, so cost and incidents can be traced to a stack."
    ),
    validate=_validate_environment_label,
    enforcement_level=EnforcementLevel.ADVISORY,
)
