"""The policy fixtures are what the SDKs register: each non-Kubernetes factory of
tests/support/policy_fixtures.py registered through the real SDK under mocks, compared property by
property, so a renamed property fails here rather than silently passing a policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi

from plan.mocks import ResourceRecord
from policies.evaluate import evaluate
from tests.support.policy_fixtures import (
    ACCOUNT_ID,
    BUCKET,
    KEY_ARN,
    TAGS,
    ZONE_ID,
    Props,
    bucket,
    bucket_policy,
    cache_ruleset,
    encryption,
    happy_stack,
    kms_key,
    lifecycle,
    messages,
    monitoring_release,
    public_access_block,
    tls_only_document,
    workers_script,
    zone,
    zone_setting,
    zone_subscription,
)

# --- the fixtures' property names are the SDKs' ----------------------------------------------

Registered = tuple[list[pulumi.CustomResource], list[tuple[str, Props]]]


def _register_cloudflare() -> Registered:
    import pulumi_cloudflare as cloudflare

    ruleset = cache_ruleset()
    script = workers_script()

    def action(parameters: Props) -> cloudflare.RulesetRuleActionParametersArgs:
        edge = parameters.get("edgeTtl")
        return cloudflare.RulesetRuleActionParametersArgs(
            cache=parameters["cache"],
            edge_ttl=cloudflare.RulesetRuleActionParametersEdgeTtlArgs(
                mode=edge["mode"], default=edge["default"]
            )
            if edge
            else None,
            browser_ttl=cloudflare.RulesetRuleActionParametersBrowserTtlArgs(
                mode="override_origin", default=60
            )
            if "browserTtl" in parameters
            else None,
        )

    resources: list[pulumi.CustomResource] = [
        cloudflare.Zone("zone", account={"id": ACCOUNT_ID}, name="shop.example.com", type="full"),
        cloudflare.ZoneSubscription(
            "plan", zone_id=ZONE_ID, frequency="monthly", rate_plan={"id": "pro"}
        ),
        cloudflare.ZoneSetting("tls", zone_id=ZONE_ID, setting_id="min_tls_version", value="1.2"),
        cloudflare.Ruleset(
            "cache",
            zone_id=ZONE_ID,
            kind="zone",
            name=ruleset["name"],
            phase="http_request_cache_settings",
            rules=[
                cloudflare.RulesetRuleArgs(
                    ref=rule["ref"],
                    description=rule["description"],
                    expression=rule["expression"],
                    action=rule["action"],
                    action_parameters=action(rule["actionParameters"]),
                )
                for rule in ruleset["rules"]
            ],
        ),
        cloudflare.WorkersScript(
            "worker",
            account_id=ACCOUNT_ID,
            script_name=script["scriptName"],
            main_module=script["mainModule"],
            content=script["content"],
            bindings=[cloudflare.WorkersScriptBindingArgs(**b) for b in script["bindings"]],
        ),
    ]
    return resources, [
        ("cloudflare:index/zone:Zone", zone()),
        ("cloudflare:index/zoneSubscription:ZoneSubscription", zone_subscription()),
        ("cloudflare:index/zoneSetting:ZoneSetting", zone_setting()),
        ("cloudflare:index/ruleset:Ruleset", ruleset),
        ("cloudflare:index/workersScript:WorkersScript", script),
    ]


def _register_aws() -> Registered:
    import pulumi_aws as aws

    s3 = aws.s3
    resources: list[pulumi.CustomResource] = [
        s3.Bucket(
            "bucket", bucket_prefix="cache-platform-redis-backups-", force_destroy=False, tags=TAGS
        ),
        s3.BucketPublicAccessBlock(
            "public",
            bucket=BUCKET,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        ),
        s3.BucketServerSideEncryptionConfiguration(
            "encryption",
            bucket=BUCKET,
            rules=[
                s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="aws:kms", kms_master_key_id=KEY_ARN
                        )
                    ),
                    bucket_key_enabled=True,
                )
            ],
        ),
        s3.BucketPolicy("tls", bucket=BUCKET, policy=json.dumps(tls_only_document())),
        s3.BucketLifecycleConfiguration(
            "lifecycle",
            bucket=BUCKET,
            rules=[
                s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-snapshots",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=30),
                )
            ],
        ),
        aws.kms.Key(
            "key",
            description="cache-platform Redis backups",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=TAGS,
        ),
    ]
    return resources, [
        ("aws:s3/bucket:Bucket", bucket()),
        ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", public_access_block()),
        (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            encryption(),
        ),
        ("aws:s3/bucketPolicy:BucketPolicy", bucket_policy()),
        ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", lifecycle()),
        ("aws:kms/key:Key", kms_key()),
    ]


def _register_helm() -> Registered:
    import pulumi_kubernetes as k8s

    release = monitoring_release()
    resources: list[pulumi.CustomResource] = [
        k8s.helm.v3.Release(
            "monitoring",
            chart=release["chart"],
            version=release["version"],
            name=release["name"],
            namespace=release["namespace"],
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=release["repositoryOpts"]["repo"]),
            values=release["values"],
        )
    ]
    return resources, [("kubernetes:helm.sh/v3:Release", release)]


def _compare(records: list[ResourceRecord], expected: list[tuple[str, Props]]) -> None:
    for type_token, props in expected:
        found = [r for r in records if r.type == type_token]
        assert len(found) == 1, f"expected one {type_token}, got {[r.urn for r in found]}"
        registered = found[0].inputs
        for key, value in props.items():
            # Through JSON: the SDK sends ints as floats; the fixtures' JSON numbers compare equal.
            assert json.loads(json.dumps(registered.get(key))) == value, (
                f"{found[0].urn}: {key} registers as {registered.get(key)!r}, fixture has {value!r}"
            )


def _registered_as_fixtures(monitor: Any, register: Callable[[], Registered]) -> Any:
    resources, expected = register()
    return pulumi.Output.all(*[r.urn for r in resources]).apply(
        lambda _: _compare(monitor.records, expected)
    )


@pulumi.runtime.test
def test_cloudflare_fixtures_are_what_the_sdk_registers(monitor: Any) -> Any:
    return _registered_as_fixtures(monitor, _register_cloudflare)


@pulumi.runtime.test
def test_aws_fixtures_are_what_the_sdk_registers(monitor: Any) -> Any:
    return _registered_as_fixtures(monitor, _register_aws)


@pulumi.runtime.test
def test_helm_release_fixture_is_what_the_sdk_registers(monitor: Any) -> Any:
    return _registered_as_fixtures(monitor, _register_helm)


def test_the_happy_stack_violates_no_policy() -> None:
    from policies.registry import ALL_POLICIES

    found = evaluate(happy_stack(), {"all": "mandatory"}, ALL_POLICIES)
    assert not found, messages(found)
