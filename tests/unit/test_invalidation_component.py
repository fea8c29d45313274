"""InvalidationService under Pulumi mocks, wired to a real RedisCluster as __main__.py wires it.

Every check runs once the component's children (and the cluster's) are registered, and reads what
the engine would be sent: the replicas and disruption budget, the NetworkPolicy's selectors
against the Redis pods' labels, secrets only as files, the ServiceMonitor against the Service,
and probes against the endpoints the service really serves.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from components.invalidation.component import InvalidationService, InvalidationServiceArgs
from components.invalidation.pod import CLOUDFLARE_API_BLOCKS, HTTP_PORT
from components.redis.cluster import REDIS_PORT, RedisCluster, RedisClusterArgs
from components.tools_image import TOOLS_UID
from cost.model import INVALIDATION_APP, estimate_cost
from invalidator.metrics import InvalidatorMetrics
from invalidator.webhook import Verifier, WebhookServer
from plan.mocks import ResourceRecord
from plan.verdicts import judge
from stackconfig.config import CloudflarePlan, InvalidationConfig, RedisConfig
from tests.support.mocking import of_type, one, when_registered

ROOT = Path(__file__).resolve().parents[2]
LABELS = {"cache-platform/environment": "prod", "app.kubernetes.io/part-of": "cache-platform"}
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
PURGE_TOKEN = "purge-token-CANARY-must-never-be-written-out"
CLIENT_LABEL = "cache-platform/client"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
PASSWORD = "random:index/randomPassword:RandomPassword"
COMPONENT_TYPE = "cache-platform:invalidation:InvalidationService"


def build(
    settings: InvalidationConfig | None = None,
) -> tuple[RedisCluster, InvalidationService]:
    cluster = RedisCluster("redis", RedisClusterArgs(settings=RedisConfig(), labels=LABELS))
    service = InvalidationService(
        "invalidation",
        InvalidationServiceArgs(
            settings=settings or InvalidationConfig(enabled=True),
            namespace=cluster.namespace_name,
            redis_peer_labels=cluster.peer_labels,
            redis_nodes=cluster.client_endpoint,
            redis_secret_name=cluster.operator_secret_name,
            redis_secret_key=cluster.secret_key,
            zone_id=ZONE,
            cloudflare_plan=CloudflarePlan.PRO,
            purge_token=pulumi.Output.secret(PURGE_TOKEN),
            webhook_namespace_label=CLIENT_LABEL,
            labels=LABELS,
        ),
    )
    return cluster, service


def after_registration(
    cluster: RedisCluster,
    service: InvalidationService,
    check: Callable[[dict[str, Any]], None],
) -> pulumi.Output[Any]:
    """Runs `check(outputs)` once both components' children are registered; the outputs are
    the service's and the cluster's peer labels."""
    outputs = pulumi.Output.all(
        urn=service.urn,
        deployment_name=service.deployment_name,
        service_name=service.service_name,
        webhook_url=service.webhook_url,
        credentials_secret_name=service.credentials_secret_name,
        peer_labels=cluster.peer_labels,
    )
    registered = pulumi.Output.all(
        when_registered(cluster, lambda: None), when_registered(service, lambda: None)
    )
    return pulumi.Output.all(outputs, registered).apply(lambda values: check(values[0]))


def ours(records: list[ResourceRecord], type_token: str) -> ResourceRecord:
    found = [r for r in of_type(records, type_token) if r.name.startswith("invalidation")]
    assert len(found) == 1, f"expected one {type_token} of the service: {[r.urn for r in found]}"
    return found[0]


def pod_template(records: list[ResourceRecord]) -> dict[str, Any]:
    return ours(records, DEPLOYMENT).inputs["spec"]["template"]


def container(records: list[ResourceRecord]) -> dict[str, Any]:
    containers = pod_template(records)["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


# --- availability ------------------------------------------------------------------------------


@pulumi.runtime.test
def test_two_replicas_never_more_during_a_rollout(monitor: Any) -> Any:
    cluster, service = build()

    def check(outputs: dict[str, Any]) -> None:
        deployment = ours(monitor.records, DEPLOYMENT)
        spec = deployment.inputs["spec"]
        assert spec["replicas"] >= 2, deployment.urn
        # Each replica paces purges at 1/replicas of the account's rate.
        assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
        env = {e["name"]: e.get("value") for e in container(monitor.records)["env"]}
        assert env["INVALIDATOR_REPLICAS"] == str(spec["replicas"])
        assert selects(
            spec["selector"]["matchLabels"], pod_template(monitor.records)["metadata"]["labels"]
        )
        assert outputs["deployment_name"] == "invalidation"

    return after_registration(cluster, service, check)


@pulumi.runtime.test
def test_replicas_come_from_config(monitor: Any) -> Any:
    cluster, service = build(InvalidationConfig(enabled=True, replicas=4))

    def check(_: dict[str, Any]) -> None:
        assert ours(monitor.records, DEPLOYMENT).inputs["spec"]["replicas"] == 4
        env = {e["name"]: e.get("value") for e in container(monitor.records)["env"]}
        assert env["INVALIDATOR_REPLICAS"] == "4"

    return after_registration(cluster, service, check)


@pulumi.runtime.test
def test_disruption_budget_keeps_one_replica_and_only_covers_the_service(monitor: Any) -> Any:
    cluster, service = build()

    def check(_: dict[str, Any]) -> None:
        pdb = ours(monitor.records, PDB)
        spec = pdb.inputs["spec"]
        replicas = ours(monitor.records, DEPLOYMENT).inputs["spec"]["replicas"]
        allowed_down = spec.get("maxUnavailable", replicas - spec.get("minAvailable", replicas))
        assert allowed_down == 1 and replicas - allowed_down >= 1, pdb.urn
        selector = spec["selector"]["matchLabels"]
        assert selects(selector, pod_template(monitor.records)["metadata"]["labels"]), pdb.urn
        redis_pods = one(monitor.records, STATEFULSET).inputs["spec"]["template"]["metadata"]
        assert not selects(selector, redis_pods["labels"]), "the PDB must not count Redis pods"

    return after_registration(cluster, service, check)


# --- network -----------------------------------------------------------------------------------


@pulumi.runtime.test
def test_network_policy_reaches_exactly_the_redis_pods_client_port(monitor: Any) -> Any:
    cluster, service = build()

    def check(outputs: dict[str, Any]) -> None:
        policy = ours(monitor.records, NETWORK_POLICY)
        spec = policy.inputs["spec"]
        pods = pod_template(monitor.records)["metadata"]["labels"]
        assert selects(spec["podSelector"]["matchLabels"], pods), policy.urn
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
        redis_rules = [
            rule
            for rule in spec["egress"]
            if any("podSelector" in peer and "namespaceSelector" not in peer for peer in rule["to"])
        ]
        assert len(redis_rules) == 1, policy.urn
        (rule,) = redis_rules
        assert [peer["podSelector"]["matchLabels"] for peer in rule["to"]] == [
            outputs["peer_labels"]
        ], "egress goes to the pods RedisCluster.peer_labels select"
        assert [port["port"] for port in rule["ports"]] == [REDIS_PORT]
        redis_pods = one(monitor.records, STATEFULSET).inputs["spec"]["template"]["metadata"]
        assert selects(outputs["peer_labels"], redis_pods["labels"]), (
            "the peer labels must select the Redis server pods"
        )

    return after_registration(cluster, service, check)


@pulumi.runtime.test
def test_redis_network_policy_admits_the_service_on_the_client_port(monitor: Any) -> Any:
    cluster, service = build()

    def check(_: dict[str, Any]) -> None:
        redis_policy = next(
            r for r in of_type(monitor.records, NETWORK_POLICY) if r.name == "redis-network"
        )
        pods = pod_template(monitor.records)["metadata"]["labels"]
        admitting = [
            rule
            for rule in redis_policy.inputs["spec"]["ingress"]
            if any(p["port"] == REDIS_PORT for p in rule["ports"])
            and any(
                "namespaceSelector" not in peer
                and selects(peer.get("podSelector", {}).get("matchLabels", {}), pods)
                for peer in rule["from"]
            )
        ]
        assert admitting, f"{redis_policy.urn} admits no pod labelled {pods}"
        server = one(monitor.records, STATEFULSET).inputs["spec"]["selector"]["matchLabels"]
        assert not selects(server, pods), "the service's pods must not pass for Redis servers"

    return after_registration(cluster, service, check)


@pulumi.runtime.test
def test_network_policy_admits_senders_and_prometheus_and_lets_out_dns_and_https(
    monitor: Any,
) -> Any:
    cluster, service = build()

    def check(_: dict[str, Any]) -> None:
        spec = ours(monitor.records, NETWORK_POLICY).inputs["spec"]
        for rule in spec["ingress"]:
            assert [p["port"] for p in rule["ports"]] == [HTTP_PORT]
        peers = [peer for rule in spec["ingress"] for peer in rule["from"]]
        assert {"namespaceSelector": {"matchLabels": {CLIENT_LABEL: "true"}}} in peers
        prometheus = [p for p in peers if "podSelector" in p]
        assert prometheus == [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }
        ]
        dns = [r for r in spec["egress"] if any(p["port"] == 53 for p in r["ports"])]
        assert len(dns) == 1 and {p["protocol"] for p in dns[0]["ports"]} == {"UDP", "TCP"}
        https = [r for r in spec["egress"] if any(p["port"] == 443 for p in r["ports"])]
        assert len(https) == 1
        blocks = {peer["ipBlock"]["cidr"]: peer["ipBlock"]["except"] for peer in https[0]["to"]}
        assert "169.254.0.0/16" in blocks["0.0.0.0/0"], "never the instance-metadata endpoint"
        assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(blocks["0.0.0.0/0"])
        assert blocks == {cidr: list(excluded) for cidr, excluded in CLOUDFLARE_API_BLOCKS}
        assert len(spec["egress"]) == 3, "Redis, DNS and HTTPS, nothing else"

    return after_registration(cluster, service, check)


# --- secrets -----------------------------------------------------------------------------------


@pulumi.runtime.test
def test_secrets_reach_the_pod_only_as_files(monitor: Any) -> Any:
    cluster, service = build()

    def check(outputs: dict[str, Any]) -> None:
        spec = pod_template(monitor.records)["spec"]
        main = container(monitor.records)
        for variable in main["env"]:
            assert "valueFrom" not in variable, f"{variable['name']}: a secret as env"
        env = {e["name"]: e["value"] for e in main["env"]}
        (volume,) = spec["volumes"]
        sources = volume["projected"]["sources"]
        files = {
            item["path"]: (source["secret"]["name"], item["key"])
            for source in sources
            for item in source["secret"]["items"]
        }
        assert files == {
            "redis-password": ("redis-operator-auth", "password"),
            "webhook-secret": (outputs["credentials_secret_name"], "webhook-secret"),
            "cloudflare-token": (outputs["credentials_secret_name"], "cloudflare-token"),
        }
        (mount,) = main["volumeMounts"]
        assert mount["readOnly"] is True
        for variable, file in (
            ("INVALIDATOR_REDIS_PASSWORD_FILE", "redis-password"),
            ("INVALIDATOR_WEBHOOK_SECRET_FILE", "webhook-secret"),
            ("INVALIDATOR_CLOUDFLARE_TOKEN_FILE", "cloudflare-token"),
        ):
            assert env[variable] == f"{mount['mountPath']}/{file}"
        # 0400; the kubelet adds group read for the pod's own fsGroup, which the service accepts.
        assert volume["projected"]["defaultMode"] == 0o400
        assert spec["securityContext"]["fsGroup"] == TOOLS_UID
        assert env["INVALIDATOR_REDIS_USER"] == "operator"

    return after_registration(cluster, service, check)


@pulumi.runtime.test
def test_no_secret_is_written_out_in_plain_text(monitor: Any) -> Any:
    cluster, service = build()

    def check(_: dict[str, Any]) -> None:
        secret = ours(monitor.records, SECRET)
        assert "stringData" in secret.secret_paths, secret.urn
        deployment = ours(monitor.records, DEPLOYMENT)
        assert not deployment.secret_paths, f"{deployment.urn} holds a secret: a leak into env?"
        webhook = ours(monitor.records, PASSWORD)
        # PlanMocks give a RandomPassword this result: it must appear nowhere in plain text.
        generated = raw_result(webhook)
        written = json.dumps([r.inputs for r in monitor.records])
        assert PURGE_TOKEN not in written
        assert generated not in written
        assert secret.inputs["stringData"] == {
            "webhook-secret": "[secret]",
            "cloudflare-token": "[secret]",
        }

    return after_registration(cluster, service, check)


def raw_result(record: ResourceRecord) -> str:
    from plan.mocks import fake_id

    length = int(record.inputs["length"])
    return ("mock-secret-" + fake_id(record.type, record.name))[:length]


@pulumi.runtime.test
def test_webhook_secret_output_is_secret_and_long_enough(monitor: Any) -> Any:
    cluster, service = build()

    def check(values: list[Any]) -> None:
        is_secret, _ = values
        assert is_secret, "webhook_secret must stay a Pulumi secret"
        webhook = ours(monitor.records, PASSWORD)
        assert webhook.inputs["length"] >= 32, "the service refuses a secret under 32 bytes"

    return pulumi.Output.all(
        pulumi.Output.from_input(service.webhook_secret.is_secret()),
        after_registration(cluster, service, lambda _: None),
    ).apply(check)


# --- metrics and probes ------------------------------------------------------------------------


@pulumi.runtime.test
def test_service_monitor_scrapes_the_services_metrics_port(monitor: Any) -> Any:
    cluster, service = build()

    def check(outputs: dict[str, Any]) -> None:
        monitor_spec = ours(monitor.records, SERVICE_MONITOR).inputs["spec"]
        svc = ours(monitor.records, SERVICE).inputs
        assert selects(monitor_spec["selector"]["matchLabels"], svc["metadata"]["labels"])
        assert monitor_spec["namespaceSelector"] == {"matchNames": [svc["metadata"]["namespace"]]}
        port_names = {p["name"] for p in svc["spec"]["ports"]}
        (endpoint,) = monitor_spec["endpoints"]
        assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"
        assert selects(svc["spec"]["selector"], pod_template(monitor.records)["metadata"]["labels"])
        redis_monitor = next(
            r for r in of_type(monitor.records, SERVICE_MONITOR) if r.name == "redis-metrics"
        )
        assert not selects(
            redis_monitor.inputs["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]
        ), "the Redis ServiceMonitor must not scrape the service a second time"
        assert outputs["webhook_url"] == (
            f"http://{outputs['service_name']}.cache.svc.cluster.local:{HTTP_PORT}/v1/events"
        )

    return after_registration(cluster, service, check)


class ReachableStream:
    def xlen(self, stream: str) -> int:
        return 0


@pulumi.runtime.test
def test_probes_ask_endpoints_the_service_serves(monitor: Any) -> Any:
    """The rendered probes, sent to a real WebhookServer: 200, not 404."""
    cluster, service = build()

    def check(_: dict[str, Any]) -> None:
        main = container(monitor.records)
        ports = {p["name"]: p["containerPort"] for p in main["ports"]}
        probes = [main["readinessProbe"], main["livenessProbe"]]
        server = WebhookServer(
            Verifier(b"s" * 32, lambda signature, ttl: True),
            ReachableStream(),
            InvalidatorMetrics(),
        ).start()
        try:
            for probe in probes:
                assert probe["httpGet"]["port"] in ports
                with urllib.request.urlopen(server.url + probe["httpGet"]["path"], timeout=10) as r:
                    assert r.status == 200, probe
        finally:
            server.close()
        assert main["readinessProbe"]["httpGet"]["path"] != main["livenessProbe"]["httpGet"]["path"]
        env = {e["name"]: e["value"] for e in main["env"]}
        assert env["INVALIDATOR_LISTEN"].endswith(f":{ports['http']}")

    return after_registration(cluster, service, check)


# --- the pod -----------------------------------------------------------------------------------


@pulumi.runtime.test
def test_pod_is_hardened(monitor: Any) -> Any:
    cluster, service = build()

    def check(_: dict[str, Any]) -> None:
        spec = pod_template(monitor.records)["spec"]
        assert spec["automountServiceAccountToken"] is False
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == TOOLS_UID
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        main = container(monitor.records)
        security = main["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        resources = main["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"])
        assert resources["limits"]["memory"] == resources["requests"]["memory"]
        assert main["command"] == ["python", "-m", "invalidator"]

    return after_registration(cluster, service, check)


def invalidator_env_vars() -> set[str]:
    """Every INVALIDATOR_* variable `python -m invalidator` reads."""
    source = (ROOT / "invalidator" / "__main__.py").read_text()
    return set(re.findall(r"\"(INVALIDATOR_[A-Z_]+)\"", source))


@pulumi.runtime.test
def test_env_is_the_services_contract(monitor: Any) -> Any:
    """Fails when the service renames a variable the Deployment sets."""
    cluster, service = build()

    def check(_: dict[str, Any]) -> None:
        read = invalidator_env_vars()
        assert "INVALIDATOR_REDIS_NODES" in read
        env = {e["name"]: e["value"] for e in container(monitor.records)["env"]}
        assert set(env) <= read, f"set but never read: {sorted(set(env) - read)}"
        assert env["INVALIDATOR_CLOUDFLARE_ZONE_ID"] == ZONE
        assert env["INVALIDATOR_CLOUDFLARE_PLAN"] == "pro"
        assert env["INVALIDATOR_REDIS_NODES"] == "redis.cache.svc.cluster.local:6379"

    return after_registration(cluster, service, check)


# --- policies, cost, conventions ---------------------------------------------------------------


@pulumi.runtime.test
def test_policy_pack_finds_nothing_to_change(monitor: Any) -> Any:
    cluster, service = build()

    def check(_: dict[str, Any]) -> None:
        violations = judge(monitor.records, {})
        assert not violations, "\n".join(f"{v.policy}: {v.message}" for v in violations)

    return after_registration(cluster, service, check)


@pulumi.runtime.test
def test_cost_model_prices_the_replicas(monitor: Any) -> Any:
    cluster, service = build(InvalidationConfig(enabled=True, replicas=3))

    def check(_: dict[str, Any]) -> None:
        deployment = ours(monitor.records, DEPLOYMENT)
        assert deployment.inputs["metadata"]["labels"]["app.kubernetes.io/name"] == INVALIDATION_APP
        estimate = estimate_cost([(r.type, r.inputs) for r in monitor.records])
        items = estimate.components["invalidation"].items
        assert len(items) == 1 and "3 replicas" in items[0].name
        assert items[0].monthly_usd > 0

    return after_registration(cluster, service, check)


EXPECTED_CHILDREN = {
    (PASSWORD, "invalidation-webhook-secret"),
    (SECRET, "invalidation-credentials"),
    (DEPLOYMENT, "invalidation"),
    (SERVICE, "invalidation"),
    (PDB, "invalidation-pdb"),
    (NETWORK_POLICY, "invalidation-network"),
    (SERVICE_MONITOR, "invalidation-metrics"),
}


@pulumi.runtime.test
def test_child_names_and_types_are_stable(monitor: Any) -> Any:
    """A renamed child is a replaced resource (a new URN): add an alias before changing one."""
    cluster, service = build()

    def check(outputs: dict[str, Any]) -> None:
        component_urn = outputs["urn"]
        children = {(r.type, r.name) for r in monitor.records if r.parent == component_urn}
        assert children == EXPECTED_CHILDREN
        assert one(monitor.records, COMPONENT_TYPE).name == "invalidation"

    return after_registration(cluster, service, check)
