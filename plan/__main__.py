"""`python -m plan --stack <name>`: the offline plan (see README, "Offline plan").

Exit status: 0 fine (advisory violations allowed), 1 a mandatory policy violation, 2 invalid config.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from plan.runner import PROJECT_ROOT
from stackconfig.config import ConfigError

EXIT_OK, EXIT_MANDATORY, EXIT_INVALID_CONFIG = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plan", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--stack-file", type=Path, help="stack file (default Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--policy-config", type=Path, help="pack config (default policies/config/<stack>.json)"
    )
    parser.add_argument("--out", type=Path, help="output directory (default build/<stack>)")
    args = parser.parse_args(argv)

    stack_file = args.stack_file or PROJECT_ROOT / f"Pulumi.{args.stack}.yaml"
    policy_file = args.policy_config or PROJECT_ROOT / "policies" / "config" / f"{args.stack}.json"
    out_dir: Path = args.out or PROJECT_ROOT / "build" / args.stack
    for path in (stack_file, policy_file):
        if not path.is_file():
            print(f"plan: {path} does not exist", file=sys.stderr)
            return EXIT_INVALID_CONFIG
    # A stale plan must never pass for this run's result.
    shutil.rmtree(out_dir, ignore_errors=True)

    # Imported here so `--help` and config errors stay fast.
    from plan.artifacts import extract_all, sections
    from plan.report import write_report
    from plan.runner import run_program
    from plan.verdicts import cost_of, dashboard_cost_note, judge
    from policies.budget import DEFAULT_TOTAL_LIMIT

    try:
        run = run_program(args.stack, stack_file)
    except ConfigError as error:
        print(f"plan: invalid config in {stack_file.name}:", file=sys.stderr)
        for line in error.problems:
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID_CONFIG

    pack_config = json.loads(policy_file.read_text())
    violations = judge(run.records, pack_config)
    cost = cost_of(run.records)
    write_report(out_dir, run, extract_all(run.records), cost, violations, sections(run.records))

    mandatory = [v for v in violations if v.enforcement == "mandatory"]
    for violation in violations:
        print(
            f"plan: {violation.enforcement} violation of {violation.policy}: {violation.message}",
            file=sys.stderr,
        )
    if run.config.monitoring.enabled:
        note = dashboard_cost_note(
            run.config.monitoring.monthly_cost_usd, cost["totalMonthlyUsd"], DEFAULT_TOTAL_LIMIT
        )
        if note:
            print(f"plan: {note}", file=sys.stderr)
    print(
        f"plan: wrote {out_dir} ({len(run.records)} resources, "
        f"${cost['totalMonthlyUsd']:,.2f}/month, {len(violations)} violation(s))"
    )
    return EXIT_MANDATORY if mandatory else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
