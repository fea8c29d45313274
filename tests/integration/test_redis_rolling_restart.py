"""A config change rolls the pods as the StatefulSet does (one at a time, highest ordinal first,
preStop hands a primary over, the next pod waits for readiness): under a steady write load with
WAIT, no acknowledged write is lost."""

from __future__ import annotations

import pytest

from lab.cluster import RedisLab, SteadyWriter
from tests.support.redis_lab import lab_conf

pytestmark = pytest.mark.integration


def test_rolling_restart_with_a_changed_config_loses_no_acknowledged_write(lab: RedisLab) -> None:
    changed = lab_conf(maxmemory_policy="allkeys-lfu")
    assert changed != lab.conf_text
    client = lab.client()
    with SteadyWriter(client, "roll") as writer:
        order = lab.rolling_restart(changed)
    assert [node.index for node in order] == sorted((n.index for n in lab.nodes), reverse=True)
    assert writer.acknowledged, "no write was acknowledged during the roll"
    assert writer.lost(client) == []
    # Every node runs the changed config, and the cluster is whole again.
    for node in lab.nodes:
        policy = lab.node_client(node).config_get("maxmemory-policy")
        assert policy == {"maxmemory-policy": "allkeys-lfu"}, node.name
    assert lab.cluster_info(lab.nodes[0])["cluster_state"] == "ok"
    client.close()
