"""`python -m plan --stack <name>`: the offline plan (see README, "Offline plan").
`python -m plan diff BASE_DIR HEAD_DIR`: what `pulumi up` would do between two plans.

Exit status: 0 fine (advisory violations allowed), 1 a mandatory policy violation, 2 invalid config.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from plan.inputs import (
    PROJECT_ROOT,
    InputError,
    check_out_dir,
    check_policy_names,
    check_stack_name,
    read_policy_config,
    read_stack_file,
)
from stackconfig.config import ConfigError, parse_stack_config

EXIT_OK, EXIT_MANDATORY, EXIT_INVALID_CONFIG = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["diff"]:
        from plan.changes import main as diff_main

        return diff_main(arguments[1:])
    parser = argparse.ArgumentParser(prog="python -m plan", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--stack-file", type=Path, help="stack file (default Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--policy-config", type=Path, help="pack config (default policies/config/<stack>.json)"
    )
    parser.add_argument("--out", type=Path, help="output directory (default build/<stack>)")
    args = parser.parse_args(arguments)

    try:
        check_stack_name(args.stack)
    except InputError as error:
        return _refuse(error.problems)
    stack_file: Path = args.stack_file or PROJECT_ROOT / f"Pulumi.{args.stack}.yaml"
    policy_file: Path = (
        args.policy_config or PROJECT_ROOT / "policies" / "config" / f"{args.stack}.json"
    )
    out_dir: Path = args.out or PROJECT_ROOT / "build" / args.stack
    for path in (stack_file, policy_file):
        if not path.is_file():
            return _refuse([f"{path} does not exist"])

    # Every input is read and checked before the (slow) program runs.
    try:
        parse_stack_config(
            read_stack_file(stack_file).project_config("[secret]"), require_secrets=False
        )
    except InputError as error:
        return _refuse(error.problems)
    except ConfigError as error:
        return _refuse([f"{stack_file.name}: {line}" for line in error.problems])
    try:
        pack_config = read_policy_config(policy_file)
        check_out_dir(out_dir)
    except InputError as error:
        return _refuse(error.problems)

    # Imported here so `--help` and input errors stay fast.
    from plan.artifacts import extract_all, sections
    from plan.report import write_report
    from plan.runner import run_program
    from plan.verdicts import cost_of, dashboard_cost_note, judge, policy_schemas
    from policies.budget import DEFAULT_TOTAL_LIMIT

    try:
        check_policy_names(policy_file, pack_config, policy_schemas())
    except InputError as error:
        return _refuse(error.problems)

    # A stale plan must never pass for this run's result; check_out_dir made sure it is one.
    shutil.rmtree(out_dir, ignore_errors=True)
    try:
        run = run_program(args.stack, stack_file)
    except ConfigError as error:
        return _refuse([f"{stack_file.name}: {line}" for line in error.problems])

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


def _refuse(problems: list[str]) -> int:
    for line in problems:
        print(f"plan: {line}", file=sys.stderr)
    return EXIT_INVALID_CONFIG


if __name__ == "__main__":
    sys.exit(main())
