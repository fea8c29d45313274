"""The GitHub workflows: valid against GitHub's schema, and the delivery invariants hold.

Each invariant is a checker returning the problems it finds. Every checker runs on the real
workflows (no problem allowed) and on a copy broken on purpose (the problem must be reported), so
a checker that stopped looking fails here too. The scripts the workflows call are tested in
test_plan_comment.py and test_post_plan_comments.py.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.documents import read_yaml
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
SCRIPTS_DIR = ROOT / ".github" / "scripts"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

Workflow = dict[Any, Any]
Workflows = dict[str, Workflow]
Checker = Callable[[Workflows], list[str]]

STACKS = ("dev", "prod")
FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository"
PINNED_SHA = re.compile(r"^[0-9a-f]{40}$")
EXACT_TAG = re.compile(r"^v?\d+\.\d+\.\d+$")
COMMENT_API = re.compile(r"createComment|updateComment|post-plan-comments")


# --- reading workflows -----------------------------------------------------------------------
def load_workflows(directory: Path = WORKFLOWS_DIR) -> Workflows:
    return {path.name: read_yaml(path) for path in sorted(directory.glob("*.yml"))}


def triggers(workflow: Workflow) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True.
    value = workflow.get("on", workflow.get(True))
    if isinstance(value, str):
        return {value: None}
    if isinstance(value, list):
        return {str(name): None for name in value}
    return dict(value or {})


def jobs(workflows: Workflows) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for file_name, workflow in workflows.items():
        for job_id, job in (workflow.get("jobs") or {}).items():
            yield file_name, job_id, job


def steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def action_of(step: Mapping[str, Any]) -> str:
    """`owner/repo[/path]` of a step's `uses`, without the ref ('' for a `run` step)."""
    return str(step.get("uses", "")).split("@")[0]


def effective_permissions(workflow: Workflow, job: Mapping[str, Any]) -> Any:
    return job["permissions"] if "permissions" in job else workflow.get("permissions")


def grants(permissions: Any, scope: str, level: str = "write") -> bool:
    if permissions == f"{level}-all":
        return True
    return isinstance(permissions, dict) and permissions.get(scope) == level


def is_read_only(permissions: Any) -> bool:
    if permissions == "read-all" or permissions == {}:
        return True
    return isinstance(permissions, dict) and all(
        v in ("read", "none") for v in permissions.values()
    )


def posts_comment(job: Mapping[str, Any]) -> bool:
    for step in steps(job):
        options = step.get("with") or {}
        if action_of(step) == "pulumi/actions" and str(options.get("comment-on-pr")) == "True":
            return True
        if action_of(step) == "actions/github-script" and COMMENT_API.search(
            str(options.get("script", ""))
        ):
            return True
    return False


def assumes_cloud_role(job: Mapping[str, Any]) -> bool:
    return any(
        action_of(step) == "aws-actions/configure-aws-credentials"
        and "role-to-assume" in (step.get("with") or {})
        for step in steps(job)
    )


def pulumi_steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [step for step in steps(job) if action_of(step) == "pulumi/actions"]


def deploy_jobs(workflow: Workflow) -> dict[str, tuple[str, dict[str, Any]]]:
    """Stack name -> (job id, job) of every job that runs `pulumi up`."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for job_id, job in (workflow.get("jobs") or {}).items():
        for step in pulumi_steps(job):
            options = step.get("with") or {}
            if options.get("command") in ("up", "update"):
                found[str(options.get("stack-name"))] = (job_id, job)
    return found


def run_scripts(workflows: Workflows) -> Iterator[tuple[str, str, str]]:
    for file_name, job_id, job in jobs(workflows):
        for step in steps(job):
            if "run" in step:
                yield file_name, job_id, str(step["run"])


def requirement_pin(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in requirements.txt")


# --- the invariants ----------------------------------------------------------------------------
def check_ci_runs_make_test(workflows: Workflows) -> list[str]:
    ci = workflows.get("ci.yml")
    if ci is None:
        return ["ci.yml is missing"]
    problems = [
        f"ci.yml is not triggered on {event}"
        for event in ("push", "pull_request")
        if event not in triggers(ci)
    ]
    commands = [
        line.strip() for _, _, script in run_scripts({"ci.yml": ci}) for line in script.splitlines()
    ]
    if "make test" not in commands:
        problems.append("ci.yml never runs `make test`")
    cached = {
        str((step.get("with") or {}).get("path")): str((step.get("with") or {}).get("key"))
        for _, _, job in jobs({"ci.yml": ci})
        for step in steps(job)
        if action_of(step) == "actions/cache"
    }
    for path, lock_file in (("~/.cache/pip", "requirements.txt"), ("~/.npm", "package-lock.json")):
        if lock_file not in cached.get(path, ""):
            problems.append(f"ci.yml does not cache {path} keyed on {lock_file}")
    return problems


def check_permissions_declared(workflows: Workflows) -> list[str]:
    problems: list[str] = []
    for file_name, job_id, job in jobs(workflows):
        top = workflows[file_name].get("permissions")
        if "permissions" not in job and (top is None or not is_read_only(top)):
            problems.append(f"{file_name}:{job_id} declares no permissions and inherits {top!r}")
    return problems


def check_pull_requests_write_only_to_comment(workflows: Workflows) -> list[str]:
    problems: list[str] = []
    for file_name, job_id, job in jobs(workflows):
        writes = grants(effective_permissions(workflows[file_name], job), "pull-requests")
        if writes and not posts_comment(job):
            problems.append(f"{file_name}:{job_id} may write pull requests but posts no comment")
        if posts_comment(job) and not writes:
            problems.append(f"{file_name}:{job_id} posts a comment without pull-requests: write")
    return problems


def check_id_token_only_for_cloud_roles(workflows: Workflows) -> list[str]:
    problems: list[str] = []
    for file_name, job_id, job in jobs(workflows):
        token = grants(effective_permissions(workflows[file_name], job), "id-token")
        if token and not assumes_cloud_role(job):
            problems.append(f"{file_name}:{job_id} has id-token: write but assumes no role")
        if assumes_cloud_role(job) and not token:
            problems.append(f"{file_name}:{job_id} assumes a role without id-token: write")
    return problems


def check_fork_runs_are_read_only(workflows: Workflows) -> list[str]:
    """Jobs that run pull-request code from forks get read-only tokens and no secrets."""
    problems: list[str] = []
    for file_name, job_id, job in jobs(workflows):
        on = triggers(workflows[file_name])
        if "pull_request" not in on and "pull_request_target" not in on:
            continue
        guarded = FORK_GUARD in str(job.get("if", ""))
        uses_secrets = "secrets." in json.dumps(job)
        permissions = effective_permissions(workflows[file_name], job)
        if (uses_secrets or not is_read_only(permissions)) and not guarded:
            problems.append(
                f"{file_name}:{job_id} has secrets or write access but also runs for forks"
            )
    return problems


def check_prod_waits_for_dev_and_approval(workflows: Workflows) -> list[str]:
    deploy = workflows.get("deploy.yml")
    if deploy is None:
        return ["deploy.yml is missing"]
    on = triggers(deploy)
    problems: list[str] = []
    if set(on) != {"push"} or (on["push"] or {}).get("branches") != ["main"]:
        problems.append(f"deploy.yml must run on push to main only, runs on {on!r}")
    deploys = deploy_jobs(deploy)
    if set(deploys) != set(STACKS):
        return [*problems, f"deploy.yml deploys {sorted(deploys)}, expected {list(STACKS)}"]
    dev_id, _ = deploys["dev"]
    prod_id, prod = deploys["prod"]
    needs = prod.get("needs", [])
    if dev_id not in ([needs] if isinstance(needs, str) else needs):
        problems.append(f"deploy.yml:{prod_id} does not need {dev_id}")
    environment = prod.get("environment")
    name = environment.get("name") if isinstance(environment, dict) else environment
    if name != "production":
        problems.append(f"deploy.yml:{prod_id} is not behind the `production` environment")
    return problems


def check_one_deploy_per_stack(workflows: Workflows) -> list[str]:
    problems: list[str] = []
    groups: dict[str, str] = {}
    for file_name, workflow in workflows.items():
        for stack, (job_id, job) in deploy_jobs(workflow).items():
            concurrency = job.get("concurrency")
            if not isinstance(concurrency, dict):
                problems.append(f"{file_name}:{job_id} has no concurrency group")
                continue
            group = str(concurrency.get("group", ""))
            if stack not in group:
                problems.append(f"{file_name}:{job_id}: group {group!r} does not name {stack}")
            if concurrency.get("cancel-in-progress") is not False:
                problems.append(f"{file_name}:{job_id} may cancel a running deploy")
            if group in groups and groups[group] != stack:
                problems.append(f"{file_name}:{job_id} shares group {group!r} with another stack")
            groups[group] = stack
    return problems


def check_pulumi_runs_the_policy_pack(workflows: Workflows) -> list[str]:
    problems: list[str] = []
    cli_version = requirement_pin("pulumi")
    for file_name, job_id, job in jobs(workflows):
        for step in pulumi_steps(job):
            options = step.get("with") or {}
            stack = str(options.get("stack-name"))
            where = f"{file_name}:{job_id} ({options.get('command')} {stack})"
            if options.get("policyPacks") != "policies":
                problems.append(f"{where} does not run the policy pack in policies/")
            if options.get("policyPackConfigs") != f"policies/config/{stack}.json":
                problems.append(f"{where} does not use policies/config/{stack}.json")
            if options.get("command") in ("up", "update") and options.get("refresh") is not True:
                problems.append(f"{where} does not refresh before up")
            if str(options.get("pulumi-version")) != cli_version:
                problems.append(
                    f"{where} pins the CLI to {options.get('pulumi-version')}, "
                    f"the SDK is {cli_version}"
                )
    return problems


def check_actions_pinned(workflows: Workflows, raw: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    for file_name, job_id, job in jobs(workflows):
        for step in steps(job):
            uses = step.get("uses")
            if uses is None or str(uses).startswith("./"):
                continue
            _, _, ref = str(uses).partition("@")
            if not (PINNED_SHA.match(ref) or EXACT_TAG.match(ref)):
                problems.append(f"{file_name}:{job_id} uses {uses}: not a commit SHA or exact tag")
    for file_name, text in raw.items():
        for line in text.splitlines():
            match = re.search(r"uses:\s*(\S+@[0-9a-f]{40})(.*)$", line)
            if match and not re.search(r"#\s*v?\d+\.\d+\.\d+", match.group(2)):
                problems.append(f"{file_name}: {match.group(1)} has no `# vX.Y.Z` comment")
    return problems


def check_no_secret_in_scripts(workflows: Workflows, raw: Mapping[str, str]) -> list[str]:
    problems = [
        f"{file_name} echoes a secret"
        for file_name, text in raw.items()
        if re.search(r"(echo|printf)[^\n]*\$\{\{\s*secrets\.", text)
    ]
    for file_name, job_id, script in run_scripts(workflows):
        # Secrets reach commands through `env:` (masked), never pasted into the script text;
        # event fields likewise, so a crafted branch name or title cannot become shell code.
        if re.search(r"\$\{\{[^}]*secrets\.", script):
            problems.append(f"{file_name}:{job_id} pastes a secret into a run script")
        if re.search(r"\$\{\{[^}]*github\.event\.", script):
            problems.append(f"{file_name}:{job_id} pastes event data into a run script")
    return problems


def check_workflow_run_is_safe(workflows: Workflows) -> list[str]:
    problems: list[str] = []
    names = {str(w.get("name")) for w in workflows.values()}
    for file_name, workflow in workflows.items():
        on = triggers(workflow)
        privileged = "workflow_run" in on or "pull_request_target" in on
        if not privileged:
            continue
        for watched in (on.get("workflow_run") or {}).get("workflows", []):
            if watched not in names:
                problems.append(f"{file_name} waits for workflow {watched!r}, which does not exist")
        for _, job_id, job in jobs({file_name: workflow}):
            for step in steps(job):
                options = step.get("with") or {}
                if action_of(step) == "actions/checkout" and (
                    "ref" in options or options.get("allow-unsafe-pr-checkout")
                ):
                    problems.append(f"{file_name}:{job_id} checks out a ref in a privileged run")
                if "run" in step:
                    problems.append(f"{file_name}:{job_id} runs a shell in a privileged run")
    return problems


def make_targets(script: str) -> Iterator[str]:
    for line in script.splitlines():
        # Redirections and further commands are not make's arguments.
        words = re.split(r"[0-9]*[<>|;&]", line, maxsplit=1)[0].split()
        while words and words[0] == "sudo":
            words = words[1:]
        if not words or words[0] != "make":
            continue
        rest = iter(words[1:])
        for word in rest:
            if word in ("-C", "-f"):
                next(rest, None)
            elif not word.startswith("-") and "=" not in word:
                yield word


def makefile_targets() -> set[str]:
    """The targets the Makefile defines, from make's own database (`-q`: nothing is run)."""
    database = subprocess.run(
        ["make", "-p", "-q", "-C", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.splitlines()
    targets: set[str] = set()
    for previous, line in zip(["", *database], database, strict=False):
        match = re.match(r"^([^\s#:=%][^:=]*):(?!=)", line)
        if match and previous != "# Not a target:":
            targets.update(match.group(1).split())
    return targets


def check_make_targets_exist(workflows: Workflows) -> list[str]:
    defined = makefile_targets()
    return [
        f"{file_name}:{job_id} runs `make {target}`, which the Makefile does not define"
        for file_name, job_id, script in run_scripts(workflows)
        for target in make_targets(script)
        if target not in defined
    ]


# --- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workflows() -> Workflows:
    found = load_workflows()
    assert {"ci.yml", "preview.yml", "preview-comment.yml", "deploy.yml"} <= set(found)
    return found


@pytest.fixture(scope="module")
def raw_texts() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(WORKFLOWS_DIR.glob("*.yml"))}


def _parsed_only(check: Callable[[Workflows, Mapping[str, str]], list[str]]) -> Checker:
    return lambda workflows: check(workflows, {})


PARSED_CHECKERS: dict[str, Checker] = {
    "ci-runs-make-test": check_ci_runs_make_test,
    "permissions-declared": check_permissions_declared,
    "pull-requests-write": check_pull_requests_write_only_to_comment,
    "id-token": check_id_token_only_for_cloud_roles,
    "forks-read-only": check_fork_runs_are_read_only,
    "prod-after-dev": check_prod_waits_for_dev_and_approval,
    "deploy-concurrency": check_one_deploy_per_stack,
    "policy-pack": check_pulumi_runs_the_policy_pack,
    "pinned": _parsed_only(check_actions_pinned),
    "no-secret-in-scripts": _parsed_only(check_no_secret_in_scripts),
    "workflow-run-safe": check_workflow_run_is_safe,
}


# --- the real workflows -------------------------------------------------------------------------
def test_every_workflow_matches_githubs_schema() -> None:
    files = sorted(str(path) for path in WORKFLOWS_DIR.glob("*.yml"))
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = read_yaml(WORKFLOWS_DIR / "ci.yml")
    del broken["jobs"]["test"]["runs-on"]
    broken["jobs"]["test"]["permisions"] = {"contents": "read"}
    path = tmp_path / "ci.yml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, (
        "a job without runs-on, with a misspelt key, passed the schema check"
    )


@pytest.mark.parametrize("name", sorted(PARSED_CHECKERS))
def test_invariant_holds(workflows: Workflows, name: str) -> None:
    assert PARSED_CHECKERS[name](workflows) == []


def test_actions_are_pinned_with_a_version_comment(
    workflows: Workflows, raw_texts: dict[str, str]
) -> None:
    assert check_actions_pinned(workflows, raw_texts) == []


def test_no_secret_is_echoed(workflows: Workflows, raw_texts: dict[str, str]) -> None:
    assert check_no_secret_in_scripts(workflows, raw_texts) == []


def test_every_make_target_the_workflows_run_exists(workflows: Workflows) -> None:
    require_tool("make")
    assert check_make_targets_exist(workflows) == []


def test_preview_plan_job_is_read_only_and_covers_every_stack(workflows: Workflows) -> None:
    plan = workflows["preview.yml"]["jobs"]["plan"]
    assert plan["permissions"] == {"contents": "read"}
    assert plan["strategy"]["matrix"]["stack"] == list(STACKS)
    assert "secrets." not in json.dumps(plan)
    artifact = next(s for s in steps(plan) if action_of(s) == "actions/upload-artifact")
    comment = workflows["preview-comment.yml"]["jobs"]["comment"]
    download = next(s for s in steps(comment) if action_of(s) == "actions/download-artifact")
    prefix = download["with"]["pattern"].rstrip("*")
    assert artifact["with"]["name"].startswith(prefix), "the poster would not find the comments"
    # One artifact alone would otherwise be unpacked without its folder (download-artifact v5+).
    assert download["with"].get("merge-multiple") is True


# --- each checker fails on a broken copy ---------------------------------------------------
def _job(workflows: Workflows, file_name: str, job_id: str) -> dict[str, Any]:
    return workflows[file_name]["jobs"][job_id]


def _step(workflows: Workflows, file_name: str, job_id: str, action: str) -> dict[str, Any]:
    return next(s for s in steps(_job(workflows, file_name, job_id)) if action_of(s) == action)


def _break_make_test(w: Workflows) -> None:
    for step in steps(_job(w, "ci.yml", "test")):
        if step.get("run") == "make test":
            step["run"] = "make test-fast"


def _break_top_level_permissions(w: Workflows) -> None:
    w["ci.yml"]["permissions"] = "write-all"
    del _job(w, "ci.yml", "test")["permissions"]


def _grant_pull_requests_to_ci(w: Workflows) -> None:
    _job(w, "ci.yml", "test")["permissions"]["pull-requests"] = "write"


def _grant_id_token_to_plan(w: Workflows) -> None:
    _job(w, "preview.yml", "plan")["permissions"]["id-token"] = "write"


def _run_secret_job_for_forks(w: Workflows) -> None:
    del _job(w, "preview.yml", "pulumi-preview")["if"]


def _deploy_prod_without_approval(w: Workflows) -> None:
    del _job(w, "deploy.yml", "prod")["environment"]


def _deploy_prod_without_dev(w: Workflows) -> None:
    del _job(w, "deploy.yml", "prod")["needs"]


def _share_deploy_group(w: Workflows) -> None:
    _job(w, "deploy.yml", "prod")["concurrency"]["group"] = "deploy-dev"


def _cancel_running_deploy(w: Workflows) -> None:
    _job(w, "deploy.yml", "dev")["concurrency"]["cancel-in-progress"] = True


def _skip_policy_config(w: Workflows) -> None:
    del _step(w, "deploy.yml", "prod", "pulumi/actions")["with"]["policyPackConfigs"]


def _skip_refresh(w: Workflows) -> None:
    _step(w, "deploy.yml", "dev", "pulumi/actions")["with"]["refresh"] = False


def _float_an_action(w: Workflows) -> None:
    _step(w, "ci.yml", "test", "actions/checkout")["uses"] = "actions/checkout@main"


def _float_a_major_tag(w: Workflows) -> None:
    _step(w, "ci.yml", "test", "actions/checkout")["uses"] = "actions/checkout@v7"


def _echo_a_secret(w: Workflows) -> None:
    _job(w, "deploy.yml", "dev")["steps"].append(
        {"run": "echo ${{ secrets.PULUMI_ACCESS_TOKEN }} > token"}
    )


def _paste_event_data(w: Workflows) -> None:
    _job(w, "preview.yml", "plan")["steps"].append(
        {"run": 'echo "${{ github.event.pull_request.title }}"'}
    )


def _check_out_pr_code_in_trusted_run(w: Workflows) -> None:
    _step(w, "preview-comment.yml", "comment", "actions/checkout")["with"]["ref"] = (
        "${{ github.event.workflow_run.head_sha }}"
    )


def _rename_watched_workflow(w: Workflows) -> None:
    w["preview.yml"]["name"] = "Plan"


def _call_missing_make_target(w: Workflows) -> None:
    _job(w, "ci.yml", "test")["steps"].append({"run": "make no-such-target"})


CHECKERS: dict[str, Checker] = {**PARSED_CHECKERS, "make-targets": check_make_targets_exist}

BREAKAGES: list[tuple[str, Callable[[Workflows], None], str]] = [
    ("ci-runs-something-else", _break_make_test, "ci-runs-make-test"),
    ("write-all-inherited", _break_top_level_permissions, "permissions-declared"),
    ("ci-may-write-prs", _grant_pull_requests_to_ci, "pull-requests-write"),
    ("plan-gets-an-id-token", _grant_id_token_to_plan, "id-token"),
    ("secrets-for-forks", _run_secret_job_for_forks, "forks-read-only"),
    ("prod-unapproved", _deploy_prod_without_approval, "prod-after-dev"),
    ("prod-before-dev", _deploy_prod_without_dev, "prod-after-dev"),
    ("one-group-two-stacks", _share_deploy_group, "deploy-concurrency"),
    ("deploy-cancelled", _cancel_running_deploy, "deploy-concurrency"),
    ("no-pack-config", _skip_policy_config, "policy-pack"),
    ("no-refresh", _skip_refresh, "policy-pack"),
    ("floating-main", _float_an_action, "pinned"),
    ("floating-major-tag", _float_a_major_tag, "pinned"),
    ("secret-echoed", _echo_a_secret, "no-secret-in-scripts"),
    ("event-in-script", _paste_event_data, "no-secret-in-scripts"),
    ("pr-code-in-trusted-run", _check_out_pr_code_in_trusted_run, "workflow-run-safe"),
    ("watched-name-gone", _rename_watched_workflow, "workflow-run-safe"),
    ("missing-make-target", _call_missing_make_target, "make-targets"),
]


@pytest.mark.parametrize(
    ("breakage", "checker_name"),
    [pytest.param(b, c, id=name) for name, b, c in BREAKAGES],
)
def test_checker_catches_a_broken_copy(
    workflows: Workflows, breakage: Callable[[Workflows], None], checker_name: str
) -> None:
    if checker_name == "make-targets":
        require_tool("make")
    broken = copy.deepcopy(workflows)
    breakage(broken)
    assert CHECKERS[checker_name](broken), "the broken copy passed"


def test_every_checker_is_shown_to_fail() -> None:
    assert {name for _, _, name in BREAKAGES} == set(CHECKERS)


@pytest.mark.parametrize(
    "line",
    [
        "- uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",
        "- uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # pinned",
    ],
)
def test_a_sha_without_its_version_comment_is_caught(workflows: Workflows, line: str) -> None:
    assert check_actions_pinned({}, {"x.yml": f"steps:\n  {line}\n"})


def test_an_echoed_secret_in_raw_text_is_caught() -> None:
    assert check_no_secret_in_scripts({}, {"x.yml": "run: echo ${{ secrets.TOKEN }}\n"})
