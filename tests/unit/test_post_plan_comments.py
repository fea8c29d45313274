"""`.github/scripts/post-plan-comments.cjs`: one comment per stack, updated in place, from
artifacts a pull request cannot use to hijack another comment."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = ROOT / ".github" / "scripts"

POSTER_HARNESS = textwrap.dedent(
    """\
    const poster = require(process.argv[2]);
    const scenario = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));
    const calls = [];
    let nextId = 1000;
    const comments = scenario.comments;
    const github = {
      paginate: async (fn, args) => comments.filter((c) => c.issue === args.issue_number),
      rest: {
        pulls: { get: async ({ pull_number }) => ({ data: scenario.pulls[pull_number] }) },
        issues: {
          listComments: null,
          createComment: async ({ issue_number, body }) => {
            calls.push(['create', issue_number, body]);
            comments.push({ id: nextId++, issue: issue_number, body,
                            user: { login: 'github-actions[bot]' } });
          },
          updateComment: async ({ comment_id, body }) => {
            calls.push(['update', comment_id, body]);
            comments.find((c) => c.id === comment_id).body = body;
          },
        },
      },
    };
    const core = { notice: (m) => calls.push(['notice', m]), info: () => {} };
    const context = { repo: { owner: 'acme', repo: 'cache-platform' },
                      payload: { workflow_run: scenario.run } };
    (async () => {
      for (let round = 0; round < scenario.rounds; round++) {
        await poster.postPlanComments({ github, context, core, dir: scenario.dir });
      }
      console.log(JSON.stringify({ calls, comments }));
    })().catch((e) => { console.error(e); process.exit(1); });
    """
)

RUN = {"head_sha": "a" * 40, "head_repository": {"full_name": "someone/cache-platform"}}
OPEN_PULL = {
    "number": 7,
    "state": "open",
    "head": {"sha": "a" * 40, "repo": {"full_name": "someone/cache-platform"}},
}


def _artifacts(root: Path, bodies: Mapping[str, str], pull: str = "7") -> Path:
    for stack, body in bodies.items():
        folder = root / stack
        folder.mkdir(parents=True)
        (folder / "comment.md").write_text(body)
        (folder / "pull-number").write_text(f"{pull}\n")
    return root


def run_harness(tmp_path: Path, scenario: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    node = require_tool("node")
    harness = tmp_path / "harness.cjs"
    harness.write_text(POSTER_HARNESS)
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(scenario))
    return subprocess.run(
        [node, str(harness), str(SCRIPTS_DIR / "post-plan-comments.cjs"), str(scenario_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_poster(tmp_path: Path, scenario: dict[str, Any]) -> dict[str, Any]:
    result = run_harness(tmp_path, scenario)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_one_comment_per_stack_updated_in_place(tmp_path: Path) -> None:
    directory = _artifacts(tmp_path / "a", {"dev": "dev plan", "prod": "prod plan"})
    scenario = {
        "dir": str(directory),
        "run": RUN,
        "pulls": {"7": OPEN_PULL},
        "rounds": 2,
        "comments": [{"id": 1, "issue": 7, "body": "LGTM", "user": {"login": "alice"}}],
    }
    result = run_poster(tmp_path, scenario)
    kinds = [call[0] for call in result["calls"]]
    assert kinds == ["create", "create", "update", "update"]
    bots = [c for c in result["comments"] if c["user"]["login"] == "github-actions[bot]"]
    assert sorted(c["body"].splitlines()[0] for c in bots) == [
        "<!-- cache-platform-plan:dev -->",
        "<!-- cache-platform-plan:prod -->",
    ]
    assert {"LGTM"} <= {c["body"] for c in result["comments"]}


def test_a_stack_whose_plan_job_wrote_no_comment_is_skipped(tmp_path: Path) -> None:
    directory = _artifacts(tmp_path / "a", {"dev": "dev plan", "prod": "prod plan"})
    (directory / "prod" / "comment.md").unlink()
    scenario = {
        "dir": str(directory),
        "run": RUN,
        "pulls": {"7": OPEN_PULL},
        "rounds": 1,
        "comments": [],
    }
    result = run_poster(tmp_path, scenario)
    assert [call[0] for call in result["calls"]] == ["notice", "create"]
    assert result["comments"][0]["body"].startswith("<!-- cache-platform-plan:dev -->")


def test_a_superseded_run_posts_nothing(tmp_path: Path) -> None:
    directory = _artifacts(tmp_path / "a", {"prod": "old plan"})
    moved_on = {**OPEN_PULL, "head": {**OPEN_PULL["head"], "sha": "b" * 40}}
    scenario = {
        "dir": str(directory),
        "run": RUN,
        "pulls": {"7": moved_on},
        "rounds": 1,
        "comments": [],
    }
    result = run_poster(tmp_path, scenario)
    assert [call[0] for call in result["calls"]] == ["notice"]
    assert result["comments"] == []


def test_an_artifact_cannot_hijack_another_comment(tmp_path: Path) -> None:
    forged = "<!-- cache-platform-plan:prod -->\nnot the prod plan"
    directory = _artifacts(tmp_path / "a", {"dev": forged})
    human = {
        "id": 5,
        "issue": 7,
        "body": "<!-- cache-platform-plan:dev -->\nmine",
        "user": {"login": "mallory"},
    }
    scenario = {
        "dir": str(directory),
        "run": RUN,
        "pulls": {"7": OPEN_PULL},
        "rounds": 1,
        "comments": [human],
    }
    result = run_poster(tmp_path, scenario)
    assert [call[0] for call in result["calls"]] == ["create"]
    body = result["calls"][0][2]
    assert body.startswith("<!-- cache-platform-plan:dev -->\n")
    assert body.count("<!-- cache-platform-plan:") == 1
    assert next(c for c in result["comments"] if c["id"] == 5)["body"].endswith("mine")


@pytest.mark.parametrize("bad_number", ["0", "7; rm -rf /", "abc"])
def test_an_invalid_pull_number_is_refused(tmp_path: Path, bad_number: str) -> None:
    directory = _artifacts(tmp_path / "a", {"dev": "plan"}, pull=bad_number)
    scenario = {
        "dir": str(directory),
        "run": RUN,
        "pulls": {"7": OPEN_PULL},
        "rounds": 1,
        "comments": [],
    }
    result = run_harness(tmp_path, scenario)
    assert result.returncode != 0
    assert "invalid pull number" in result.stderr
