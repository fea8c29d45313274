"""Security policies: one compliant stack, one property changed per test."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from policies.security import (
    config_forbid_plaintext_credentials,
    credential_env_name,
    credential_key,
    denies_insecure_transport,
)
from tests.support.policy_assertions import assert_no_violations
from tests.support.policy_fixtures import (
    happy_stack,
    messages,
    props_of,
    public_access_block,
    redis_conf,
    redis_config_map,
    replace,
    tls_only_document,
    violations_of,
    without,
    zone_setting,
)

AUTH = "redis-auth-require-secret-password"
NETWORK = "redis-pods-require-network-policy"
PUBLIC = "s3-buckets-block-public-access"
KMS = "s3-buckets-require-kms-encryption"
TLS_ONLY = "s3-buckets-require-tls"
EDGE_TLS = "cdn-zone-require-tls-1-2"
CREDENTIALS = "config-forbid-plaintext-credentials"
ALL = (AUTH, NETWORK, PUBLIC, KMS, TLS_ONLY, EDGE_TLS, CREDENTIALS)


@pytest.mark.parametrize("policy", ALL)
def test_the_happy_stack_complies(policy: str) -> None:
    assert_no_violations(policy, happy_stack())


@pytest.mark.parametrize("policy", ALL)
def test_an_empty_stack_reports_nothing(policy: str) -> None:
    assert_no_violations(policy, [])


# --- Redis AUTH ------------------------------------------------------------------------------


def redis_env(stack: list[Any]) -> list[dict[str, Any]]:
    return props_of(stack, "redis")["spec"]["template"]["spec"]["containers"][0]["env"]


def redis_pod(stack: list[Any]) -> dict[str, Any]:
    return props_of(stack, "redis")["spec"]["template"]["spec"]


def test_redis_without_a_password_from_a_secret() -> None:
    stack = happy_stack()
    redis_pod(stack)["containers"][0]["volumeMounts"] = []
    found = violations_of(AUTH, stack)
    assert len(found) == 1 and "without AUTH" in found[0].message


def test_a_password_passed_as_an_environment_variable() -> None:
    """`kubectl exec env` showed the password: it must reach containers as a file."""
    stack = happy_stack()
    redis_pod(stack)["containers"][1]["env"].append(
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "x", "key": "p"}}}
    )
    found = violations_of(AUTH, stack)
    assert len(found) == 1 and "as an environment variable" in found[0].message
    assert "'exporter'" in found[0].message


def test_a_plaintext_password_in_the_secret() -> None:
    stack = happy_stack()
    props_of(stack, "redis-auth")["stringData"]["password"] = "hunter2hunter2"
    found = violations_of(AUTH, stack)
    assert len(found) == 1 and "plain value in the program" in found[0].message
    assert "hunter2" not in found[0].message  # the message never repeats the value


def test_the_engine_marks_secrets_through_additional_secret_outputs() -> None:
    """In the engine the value arrives unwrapped; the resource options tell it was secret."""
    from pulumi_policy import PolicyResource, StackValidationArgs

    from policies.registry import ALL_POLICIES

    policy = next(p for p in ALL_POLICIES if p.name == AUTH)

    def options(secret_outputs: list[str]) -> PolicyResourceOptions:
        return PolicyResourceOptions(
            False, [], None, [], PolicyCustomTimeouts(0, 0, 0), secret_outputs
        )

    def run(secret_outputs: list[str]) -> list[str]:
        stack = happy_stack()
        props_of(stack, "redis-auth")["stringData"]["password"] = "generated-value"
        resources = [
            PolicyResource(
                r.type,
                r.props,
                r.urn,
                r.name,
                options(secret_outputs if r.name == "redis-auth" else []),
                None,
                None,
                [],
                {},
            )
            for r in stack
        ]
        reported: list[str] = []
        policy.validate(  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue]
            StackValidationArgs(resources, {}), lambda message, urn=None: reported.append(message)
        )
        return reported

    assert run(["stringData", "data"]) == []
    assert run([]) != []


def test_a_secret_without_the_referenced_key() -> None:
    stack = happy_stack()
    props_of(stack, "redis-auth")["stringData"] = {"other": "[secret]"}
    assert "has no key 'password'" in messages(violations_of(AUTH, stack))


def test_a_password_in_the_redis_conf_config_map() -> None:
    text = redis_conf() + "requirepass sesame\n"
    stack = replace(happy_stack(), "redis-config", redis_config_map(text))
    found = violations_of(AUTH, stack)
    assert len(found) == 1 and "requirepass" in found[0].message


def test_a_secret_managed_outside_the_stack_is_not_judged() -> None:
    assert_no_violations(AUTH, without(happy_stack(), "redis-auth"))


# --- NetworkPolicy ---------------------------------------------------------------------------


def test_missing_network_policy() -> None:
    found = violations_of(NETWORK, without(happy_stack(), "redis-network"))
    assert len(found) == 1 and "No NetworkPolicy" in found[0].message


def test_a_rule_without_sources_isolates_nothing() -> None:
    stack = happy_stack()
    props_of(stack, "redis-network")["spec"]["ingress"].append({"ports": [{"port": 6379.0}]})
    assert violations_of(NETWORK, stack) != []


def test_a_network_policy_for_other_pods_does_not_count() -> None:
    stack = happy_stack()
    props_of(stack, "redis-network")["spec"]["podSelector"] = {"matchLabels": {"app": "web"}}
    assert violations_of(NETWORK, stack) != []


# --- S3 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag", ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]
)
def test_every_public_access_flag_is_required(flag: str) -> None:
    block = public_access_block()
    block[flag] = False
    found = violations_of(PUBLIC, replace(happy_stack(), "backups-public", block))
    assert len(found) == 1 and flag in found[0].message


def test_missing_public_access_block() -> None:
    found = violations_of(PUBLIC, without(happy_stack(), "backups-public"))
    assert "no public access block" in messages(found)


def test_a_second_bucket_needs_its_own_block() -> None:
    stack = happy_stack()
    extra = next(r for r in stack if r.name == "backups")
    from policies.evaluate import ResourceInput

    stack.append(
        ResourceInput(extra.urn + "-logs", extra.type, "logs", {"bucket": "cache-platform-logs"})
    )
    found = violations_of(PUBLIC, stack)
    assert len(found) == 1 and "cache-platform-logs" in found[0].message


def test_aes256_is_not_kms() -> None:
    stack = happy_stack()
    rule = props_of(stack, "backups-encryption")["rules"][0]
    rule["applyServerSideEncryptionByDefault"] = {"sseAlgorithm": "AES256"}
    found = violations_of(KMS, stack)
    assert len(found) == 1 and "found AES256" in found[0].message


def test_no_encryption_configuration() -> None:
    assert violations_of(KMS, without(happy_stack(), "backups-encryption")) != []


def test_inline_bucket_encryption_counts() -> None:
    stack = without(happy_stack(), "backups-encryption")
    props_of(stack, "backups")["serverSideEncryptionConfiguration"] = {
        "rule": {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}
        }
    }
    assert_no_violations(KMS, stack)


def test_a_bucket_policy_without_the_tls_statement() -> None:
    document = tls_only_document()
    document["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"] = "true"
    stack = happy_stack()
    props_of(stack, "backups-tls")["policy"] = json.dumps(document)
    found = violations_of(TLS_ONLY, stack)
    assert len(found) == 1 and "without TLS" in found[0].message


def test_no_bucket_policy() -> None:
    assert violations_of(TLS_ONLY, without(happy_stack(), "backups-tls")) != []


@pytest.mark.parametrize(
    ("change", "denies"),
    [
        ({}, True),
        ({"Principal": {"AWS": "*"}}, True),
        ({"Action": ["s3:GetObject"]}, False),
        ({"Effect": "Allow"}, False),
        ({"Principal": {"AWS": "arn:aws:iam::123456789012:root"}}, False),
    ],
)
def test_what_counts_as_denying_insecure_transport(change: dict[str, Any], denies: bool) -> None:
    document = tls_only_document()
    document["Statement"][0].update(change)
    assert denies_insecure_transport(document) is denies
    assert denies_insecure_transport(json.dumps(document)) is denies


# --- edge TLS --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "violates"), [("1.0", True), ("1.1", True), ("1.3", False)])
def test_min_tls_version(value: str, violates: bool) -> None:
    stack = replace(happy_stack(), "edge-min-tls", zone_setting(value=value))
    assert bool(violations_of(EDGE_TLS, stack)) is violates


def test_a_zone_without_the_setting_keeps_tls_1_0() -> None:
    found = violations_of(EDGE_TLS, without(happy_stack(), "edge-min-tls"))
    assert len(found) == 1 and "default minimum TLS version" in found[0].message


def test_another_zone_setting_does_not_count() -> None:
    stack = replace(happy_stack(), "edge-min-tls", zone_setting("always_use_https", "on"))
    assert violations_of(EDGE_TLS, stack) != []


# --- plaintext credentials -------------------------------------------------------------------


def test_a_literal_password_env_var() -> None:
    stack = happy_stack()
    redis_env(stack).append({"name": "ADMIN_PASSWORD", "value": "s3cr3t"})
    found = violations_of(CREDENTIALS, stack)
    assert len(found) == 1 and "env ADMIN_PASSWORD" in found[0].message
    assert "s3cr3t" not in found[0].message


def test_a_literal_api_key_in_a_cronjob() -> None:
    stack = happy_stack()
    job = props_of(stack, "backups-job")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    job["containers"][0]["env"].append({"name": "STRIPE_API_KEY", "value": "sk_live_x"})
    assert "STRIPE_API_KEY" in messages(violations_of(CREDENTIALS, stack))


def test_a_literal_password_in_helm_values() -> None:
    stack = happy_stack()
    props_of(stack, "monitoring")["values"]["grafana"]["adminPassword"] = "admin"
    found = violations_of(CREDENTIALS, stack)
    assert len(found) == 1 and "values.grafana.adminPassword" in found[0].message


def test_a_secret_output_in_helm_values_is_fine() -> None:
    stack = happy_stack()
    props_of(stack, "monitoring")["values"]["grafana"]["adminPassword"] = "[secret]"
    assert_no_violations(CREDENTIALS, stack)


def test_a_literal_routing_key_in_alertmanager_config() -> None:
    stack = happy_stack()
    receivers = props_of(stack, "monitoring")["values"]["alertmanager"]["config"]["receivers"]
    receivers[0]["pagerduty_configs"][0] = {"routing_key": "R0UT1NG"}
    assert "routing_key" in messages(violations_of(CREDENTIALS, stack))


def test_a_credential_in_a_config_map() -> None:
    stack = happy_stack()
    props_of(stack, "redis-config")["data"]["api-token"] = "abc"
    assert "data.api-token" in messages(violations_of(CREDENTIALS, stack))


def test_a_credential_as_a_plain_text_worker_binding() -> None:
    stack = happy_stack()
    props_of(stack, "edge-worker")["bindings"].append(
        {"name": "ORIGIN_TOKEN", "type": "plain_text", "text": "t0k3n"}
    )
    assert "plain_text binding ORIGIN_TOKEN" in messages(violations_of(CREDENTIALS, stack))
    props_of(stack, "edge-worker")["bindings"][-1]["type"] = "secret_text"
    assert_no_violations(CREDENTIALS, stack)


def test_the_resource_policy_reads_additional_secret_outputs() -> None:
    values = {"grafana": {"adminPassword": "unwrapped-by-the-sdk"}}

    def run(secret_outputs: list[str]) -> list[str]:
        reported: list[str] = []
        args = ResourceValidationArgs(
            "kubernetes:helm.sh/v3:Release",
            {"chart": "kube-prometheus-stack", "values": values},
            "urn:x",
            "monitoring",
            PolicyResourceOptions(
                False, [], None, [], PolicyCustomTimeouts(0, 0, 0), secret_outputs
            ),
            None,
            {},
        )
        config_forbid_plaintext_credentials.validate(  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue]
            args, lambda message, urn=None: reported.append(message)
        )
        return reported

    assert run([]) != []
    assert run(["values"]) == []


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("REDIS_PASSWORD", True),
        ("REDISCLI_AUTH", True),
        ("GITHUB_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("API_KEY", True),
        ("REDIS_KEY_PREFIX", False),
        ("KMS_KEY_ID", False),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", False),
        ("REDIS_NODES", False),
        ("PWD", False),
    ],
)
def test_credential_env_names(name: str, credential: bool) -> None:
    assert credential_env_name(name) is credential


@pytest.mark.parametrize(
    ("key", "credential"),
    [
        ("adminPassword", True),
        ("password", True),
        ("routing_key", True),
        ("bearerToken", True),
        ("existingSecret", False),
        ("passwordKey", False),
        ("secretName", False),
        ("routing_key_file", False),
        ("retention", False),
    ],
)
def test_credential_keys(key: str, credential: bool) -> None:
    assert credential_key(key) is credential


def test_flags_are_not_credentials() -> None:
    stack = happy_stack()
    redis_env(stack).append({"name": "REDIS_AUTH_ENABLED", "value": "true"})
    redis_env(stack).append({"name": "CACHE_AUTH", "value": "true"})
    assert_no_violations(CREDENTIALS, stack)
