"""A change of `redis.primaries` in the offline plan: the pods, the Jobs, the cost, the verdict,
and the sentence plan.md says about the change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.redis.scaling import scaling_summary
from stackconfig.config import RedisConfig
from stackconfig.sharding import SLOT_COUNT, scale_in_fits, slots_moved_by
from tests.support.documents import read_yaml
from tests.support.plans import run_plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("before", "after", "moved"),
    [(3, 3, 0), (3, 4, 4096), (4, 3, 4096), (3, 5, 6554), (5, 3, 6554), (1, 2, 8192)],
)
def test_slots_moved_by_a_change_of_primaries(before: int, after: int, moved: int) -> None:
    assert slots_moved_by(before, after) == moved
    assert slots_moved_by(before, after) <= SLOT_COUNT


def test_scale_in_fits_only_below_the_fill_limit() -> None:
    assert scale_in_fits(used_bytes=9e9, primaries_after=3, maxmemory_bytes=6e9, fill=0.8)
    assert not scale_in_fits(used_bytes=9e9, primaries_after=1, maxmemory_bytes=6e9, fill=0.8)


def test_plan_sentence_for_scale_out_scale_in_and_no_change() -> None:
    assert scaling_summary(RedisConfig(primaries=4)) is None
    assert scaling_summary(RedisConfig(primaries=3, deployed_primaries=3)) is None
    out = scaling_summary(RedisConfig(primaries=4, deployed_primaries=3))
    assert out is not None and out.startswith("scale-out 3 → 4 primaries: 4096 slots move")
    back = scaling_summary(RedisConfig(primaries=3, deployed_primaries=4))
    assert back is not None and back.startswith("scale-in 4 → 3 primaries: drain first")
    assert "redis-6, redis-7" in back


def test_prod_with_four_primaries_plans_eight_pods_the_jobs_and_the_fourth_shard(
    tmp_path: Path,
) -> None:
    document = read_yaml(ROOT / "Pulumi.prod.yaml")
    document["config"]["cache-platform:redis"].update(primaries=4, deployedPrimaries=3)
    stack_file = tmp_path / "Pulumi.scaled.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    out = tmp_path / "plan"

    result = run_plan("prod", out, stack_file=stack_file)

    # The fourth shard puts Redis over its budget: the pack blocks the deploy (exit 1).
    assert result.returncode == 1, result.stderr
    plan_md = (out / "plan.md").read_text()
    assert "scale-out 3 → 4 primaries: 4096 slots move" in plan_md
    statefulset = read_yaml(out / "manifests" / "cache-statefulset-redis.yaml")
    assert statefulset["spec"]["replicas"] == 8
    assert (out / "manifests" / "cache-job-redis-reconcile-p4-r1.yaml").is_file()
    assert (out / "manifests" / "cache-job-redis-drain-p4-r1.yaml").is_file()
    cost = json.loads((out / "cost.json").read_text())
    nodes = next(i for i in cost["components"]["redis"]["items"] if i["name"] == "redis nodes")
    assert nodes["detail"].startswith("8 ×")
    verdicts = json.loads((out / "policy.json").read_text())
    assert "stack-cost-stay-within-budget" in json.dumps(verdicts)
