"""RedisCluster under Pulumi mocks: what a `pulumi up` would create, checked after registration."""

from __future__ import annotations

from typing import Any

import pulumi

from components.redis.acl import USERS
from components.redis.cluster import RedisCluster, RedisClusterArgs
from components.redis.conf import parse_redis_conf
from plan.mocks import ResourceRecord
from stackconfig.config import RedisConfig
from stackconfig.settings import Quantity
from tests.support.mocking import of_type, one, when_registered

LABELS = {"cache-platform/environment": "prod", "app.kubernetes.io/part-of": "cache-platform"}


def build(settings: RedisConfig | None = None) -> RedisCluster:
    return RedisCluster(
        "redis",
        RedisClusterArgs(settings=settings or RedisConfig(), labels=LABELS),
    )


def pod_spec(records: list[ResourceRecord]) -> dict[str, Any]:
    statefulset = one(records, "kubernetes:apps/v1:StatefulSet")
    return statefulset.inputs["spec"]["template"]["spec"]


def container(records: list[ResourceRecord], name: str) -> dict[str, Any]:
    return next(c for c in pod_spec(records)["containers"] if c["name"] == name)


@pulumi.runtime.test
def test_prod_has_six_pods_of_8gi_with_volumes(monitor: Any) -> Any:
    cluster = build()

    def check() -> None:
        statefulset = one(monitor.records, "kubernetes:apps/v1:StatefulSet")
        spec = statefulset.inputs["spec"]
        assert spec["replicas"] == 6, statefulset.urn
        assert spec["podManagementPolicy"] == "Parallel"
        redis = container(monitor.records, "redis")
        assert redis["image"] == "redis:7.2.6"
        assert redis["resources"]["requests"]["memory"] == "8Gi"
        assert redis["resources"]["limits"]["memory"] == "8Gi"
        assert "cpu" in redis["resources"]["requests"]
        claim = spec["volumeClaimTemplates"][0]["spec"]
        assert claim["resources"]["requests"]["storage"] == "32Gi"
        assert claim["accessModes"] == ["ReadWriteOnce"]

    return when_registered(cluster, check)


@pulumi.runtime.test
def test_tiny_dev_cluster_of_one_primary_and_no_replica(monitor: Any) -> Any:
    cluster = build(RedisConfig(primaries=1, replicas_per_primary=0, memory=Quantity("256Mi")))

    def check(count: int) -> None:
        assert count == 1
        statefulset = one(monitor.records, "kubernetes:apps/v1:StatefulSet")
        assert statefulset.inputs["spec"]["replicas"] == 1
        env = {e["name"]: e.get("value") for e in container(monitor.records, "redis")["env"]}
        assert env["REDIS_REPLICAS_PER_PRIMARY"] == "0"
        assert len(env["REDIS_NODES"].split()) == 1

    return pulumi.Output.all(cluster.node_count, when_registered(cluster, lambda: None)).apply(
        lambda values: check(values[0])
    )


@pulumi.runtime.test
def test_one_pod_per_node_and_spread_across_zones(monitor: Any) -> Any:
    cluster = build()

    def check() -> None:
        spec = pod_spec(monitor.records)
        terms = spec["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
        pod_labels = one(monitor.records, "kubernetes:apps/v1:StatefulSet").inputs["spec"][
            "template"
        ]["metadata"]["labels"]
        selector = terms[0]["labelSelector"]["matchLabels"]
        assert selector.items() <= pod_labels.items(), "anti-affinity must select the Redis pods"
        # Only servers repel servers: jobs sharing the instance label must not block a node.
        assert selector["app.kubernetes.io/component"] == "server"
        for job in of_type(monitor.records, "kubernetes:batch/v1:Job"):
            job_labels = job.inputs["spec"]["template"]["metadata"]["labels"]
            assert not selector.items() <= job_labels.items(), job.urn
        assert "nodeSelector" not in spec
        spread = spec["topologySpreadConstraints"][0]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["maxSkew"] == 1

    return when_registered(cluster, check)


@pulumi.runtime.test
def test_chosen_node_type_is_pinned(monitor: Any) -> Any:
    cluster = build(RedisConfig(node_type="r6g.large"))

    def check() -> None:
        assert pod_spec(monitor.records)["nodeSelector"] == {
            "node.kubernetes.io/instance-type": "r6g.large"
        }

    return when_registered(cluster, check)


@pulumi.runtime.test
def test_pdb_allows_one_disruption_at_a_time(monitor: Any) -> Any:
    cluster = build()

    def check() -> None:
        pdb = one(monitor.records, "kubernetes:policy/v1:PodDisruptionBudget")
        assert pdb.inputs["spec"]["maxUnavailable"] == 1
        pod_labels = one(monitor.records, "kubernetes:apps/v1:StatefulSet").inputs["spec"][
            "template"
        ]["metadata"]["labels"]
        assert pdb.inputs["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    return when_registered(cluster, check)


@pulumi.runtime.test
def test_network_policy_admits_only_peers_clients_and_monitoring(monitor: Any) -> Any:
    cluster = build()

    def check() -> None:
        policy = one(monitor.records, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
        spec = policy.inputs["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        rules = spec["ingress"]
        ports = [sorted(p["port"] for p in rule["ports"]) for rule in rules]
        assert ports == [[6379, 16379], [6379], [9121]]
        peers, clients, monitoring = (rule["from"][0] for rule in rules)
        assert "podSelector" in peers and "namespaceSelector" not in peers
        assert clients["namespaceSelector"]["matchLabels"] == {"cache-platform/client": "true"}
        # The metrics port: the Prometheus pods of the monitoring namespace, not the namespace.
        assert monitoring["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }
        assert monitoring["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
        # Egress: the peers (Redis and bus ports) and DNS, nothing else.
        egress = spec["egress"]
        ports_of = [
            sorted((p["port"], p.get("protocol", "TCP")) for p in rule["ports"]) for rule in egress
        ]
        assert ports_of == [
            [(6379, "TCP"), (16379, "TCP")],
            [(53, "TCP"), (53, "UDP")],
        ]
        assert all(rule["to"] for rule in egress), "a rule without `to` allows every address"
        assert egress[1]["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}

    return when_registered(cluster, check)


@pulumi.runtime.test
def test_probes_prestop_grace_and_non_root(monitor: Any) -> Any:
    cluster = build()

    def check() -> None:
        spec = pod_spec(monitor.records)
        redis = container(monitor.records, "redis")
        assert redis["readinessProbe"]["exec"]["command"][-1].endswith("readiness.sh")
        assert redis["livenessProbe"]["exec"]["command"][-1].endswith("liveness.sh")
        assert redis["lifecycle"]["preStop"]["exec"]["command"][-1].endswith("prestop.sh")
        assert spec["terminationGracePeriodSeconds"] >= 30
        assert spec["securityContext"]["runAsNonRoot"] is True
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, c["name"]
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], c["name"]

    return when_registered(cluster, check)


@pulumi.runtime.test
def test_exporter_sidecar_and_service_monitor(monitor: Any) -> Any:
    cluster = build()

    def check() -> None:
        exporter = container(monitor.records, "exporter")
        assert exporter["image"].startswith("oliver006/redis_exporter:")
        assert exporter["ports"][0]["containerPort"] == 9121
        monitor_record = one(monitor.records, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
        endpoint = monitor_record.inputs["spec"]["endpoints"][0]
        assert endpoint["port"] == "metrics"
        headless = next(
            s
            for s in of_type(monitor.records, "kubernetes:core/v1:Service")
            if s.inputs["spec"].get("clusterIP") == "None"
        )
        assert {"name": "metrics", "port": 9121} in headless.inputs["spec"]["ports"]
        wanted = monitor_record.inputs["spec"]["selector"]["matchLabels"]
        assert wanted.items() <= headless.inputs["metadata"]["labels"].items()
        assert headless.inputs["spec"]["publishNotReadyAddresses"] is True

    return when_registered(cluster, check)


@pulumi.runtime.test
def test_password_is_generated_kept_secret_and_passed_by_reference(monitor: Any) -> Any:
    cluster = build()

    def check(secret_name: str) -> None:
        passwords = of_type(monitor.records, "random:index/randomPassword:RandomPassword")
        secrets = of_type(monitor.records, "kubernetes:core/v1:Secret")
        assert len(passwords) == len(secrets) == len(USERS), "one password per ACL user"
        for secret in secrets:
            assert set(secret.inputs["stringData"]) <= {"password", "exporter-passwords.json"}
            assert "stringData" in secret.secret_paths
        app = next(s for s in secrets if s.name == "redis-auth")
        assert app.inputs["metadata"]["name"] == secret_name
        # Files, never environment variables (`kubectl exec env` shows those).
        spec = pod_spec(monitor.records)
        for c in spec["containers"]:
            for env in c.get("env", []):
                assert "secretKeyRef" not in env.get("valueFrom", {}), f"{c['name']}.{env['name']}"
        redis = container(monitor.records, "redis")
        env = {e["name"]: e.get("value") for e in redis["env"]}
        assert env["REDIS_USER"] == "operator"
        assert env["REDIS_PASSWORD_FILE"] == "/etc/redis-users/operator"
        users = next(v for v in spec["volumes"] if v["name"] == "users")
        paths = [s["secret"]["items"][0]["path"] for s in users["projected"]["sources"]]
        assert paths == [user.name for user in USERS]
        assert spec["automountServiceAccountToken"] is False
        exporter = container(monitor.records, "exporter")
        assert "--disable-scrape-endpoint" in exporter["args"]
        exporter_env = {e["name"]: e.get("value") for e in exporter["env"]}
        assert exporter_env["REDIS_USER"] == "monitor"
        assert exporter["readinessProbe"]["httpGet"]["path"] == "/health"
        assert exporter["livenessProbe"]["httpGet"]["path"] == "/health"
        config_map = one(monitor.records, "kubernetes:core/v1:ConfigMap")
        assert "user default off" in config_map.inputs["data"]["users.acl"]
        conf = parse_redis_conf(config_map.inputs["data"]["redis.conf"])
        assert "requirepass" not in conf and "masterauth" not in conf
        assert "mock-secret-" not in repr([r.inputs for r in monitor.records])

    return pulumi.Output.all(cluster.secret_name, when_registered(cluster, lambda: None)).apply(
        lambda values: check(values[0])
    )


@pulumi.runtime.test
def test_redis_conf_follows_the_config(monitor: Any) -> Any:
    cluster = build(RedisConfig(node_timeout_ms=4000, maxmemory_percent=70))

    def check() -> None:
        config_map = one(monitor.records, "kubernetes:core/v1:ConfigMap")
        conf = parse_redis_conf(config_map.inputs["data"]["redis.conf"])
        assert conf["cluster-enabled"] == ["yes"]
        assert conf["appendonly"] == ["yes"]
        assert conf["maxmemory-policy"] == ["allkeys-lru"]
        assert conf["cluster-node-timeout"] == ["4000"]
        assert int(conf["maxmemory"][0]) == 8 * 2**30 * 70 // 100
        for script in ("start.sh", "bootstrap.sh", "readiness.sh", "liveness.sh", "prestop.sh"):
            assert script in config_map.inputs["data"], script

    return when_registered(cluster, check)


def job(records: list[ResourceRecord], logical_name: str) -> ResourceRecord:
    return next(r for r in of_type(records, "kubernetes:batch/v1:Job") if r.name == logical_name)


def job_env(record: ResourceRecord) -> dict[str, str | None]:
    pod = record.inputs["spec"]["template"]["spec"]
    return {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}


@pulumi.runtime.test
def test_bootstrap_job_and_repair_cronjob_run_the_same_script(monitor: Any) -> Any:
    cluster = build()

    def check() -> None:
        reconcile = job(monitor.records, "redis-bootstrap")
        cron = one(monitor.records, "kubernetes:batch/v1:CronJob")
        job_container = reconcile.inputs["spec"]["template"]["spec"]["containers"][0]
        cron_container = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"][
            "containers"
        ][0]
        assert job_container["command"] == cron_container["command"]
        assert job_container["command"][-1].endswith("bootstrap.sh")
        assert cron.inputs["spec"]["concurrencyPolicy"] == "Forbid"
        env = job_env(reconcile)
        assert len(env["REDIS_NODES"].split()) == 6  # type: ignore[union-attr]
        assert env["REDIS_REPLICAS_PER_PRIMARY"] == "1"
        assert env["REDIS_PRIMARIES"] == "3"
        assert env["REDIS_RECONCILE_MODE"] == "converge"
        # The CronJob only repairs: an old schedule firing mid-change must not undo a reshape.
        cron_env = {e["name"]: e.get("value") for e in cron_container["env"]}
        assert cron_env["REDIS_RECONCILE_MODE"] == "repair"

    return when_registered(cluster, check)


EXPECTED_CHILDREN = {
    ("kubernetes:core/v1:Namespace", "redis-namespace"),
    ("random:index/randomPassword:RandomPassword", "redis-password"),
    ("kubernetes:core/v1:Secret", "redis-auth"),
    *(
        (kind, f"redis-{user}-{suffix}")
        for user in ("operator", "monitor", "backup", "replication")
        for kind, suffix in (
            ("random:index/randomPassword:RandomPassword", "password"),
            ("kubernetes:core/v1:Secret", "auth"),
        )
    ),
    ("kubernetes:core/v1:ConfigMap", "redis-config"),
    ("kubernetes:core/v1:Service", "redis-headless"),
    ("kubernetes:core/v1:Service", "redis"),
    ("kubernetes:apps/v1:StatefulSet", "redis"),
    ("kubernetes:policy/v1:PodDisruptionBudget", "redis-pdb"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "redis-network"),
    ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "redis-metrics"),
    ("kubernetes:batch/v1:Job", "redis-bootstrap"),
    ("kubernetes:batch/v1:Job", "redis-drain"),
    ("kubernetes:batch/v1:CronJob", "redis-repair"),
}


@pulumi.runtime.test
def test_children_keep_their_urns(monitor: Any) -> Any:
    """Renaming a child or changing its type replaces it in every stack: add an alias first."""
    cluster = build()

    def check() -> None:
        children = {(r.type, r.name) for r in monitor.records if r.parent == cluster_urn[0]}
        assert children == EXPECTED_CHILDREN

    cluster_urn: list[str] = []
    return cluster.urn.apply(lambda urn: cluster_urn.append(urn)).apply(
        lambda _: when_registered(cluster, check)
    )
