"""The CrossGuard policy pack's program: only assembles the pack (its constructor serves gRPC).

Run by `pulumi up --policy-pack policies --policy-pack-config policies/config/<stack>.json`.
Enforcement comes from that config file: advisory in dev, mandatory in prod.
"""

import os
import sys

# The pack runs with policies/ as its working directory; make the project importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.registry import ALL_POLICIES

PolicyPack(
    name="cache-platform",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=ALL_POLICIES,
)
