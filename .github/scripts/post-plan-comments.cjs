// Posts, or updates in place, one pull-request comment per stack from the preview's artifacts.
//
// Runs in the trusted `preview-comment` workflow (workflow_run) on artifacts that untrusted
// pull-request code produced. So the artifact's text is only ever a comment body, never run or
// interpolated; the pull-request number it claims is checked against the run that made it; and
// the hidden marker that finds the comment again is added here, never taken from the artifact.
'use strict';

const fs = require('fs');
const path = require('path');

const MARKER_PREFIX = '<!-- cache-platform-plan:';
const BOT_LOGIN = 'github-actions[bot]';
// GitHub refuses bodies over 65,536 characters.
const MAX_BODY_CHARS = 65000;
const STACK_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

function markerFor(stack) {
  return `${MARKER_PREFIX}${stack} -->`;
}

/** The body to post: our marker first, any marker-like text in the artifact defused. */
function commentBody(stack, text) {
  const defused = text.split(MARKER_PREFIX).join('<!-- marker removed:');
  let body = `${markerFor(stack)}\n${defused}`;
  if (body.length > MAX_BODY_CHARS) {
    body = `${body.slice(0, MAX_BODY_CHARS - 40)}\n\n_(comment truncated)_\n`;
  }
  return body;
}

/**
 * [{stack, text, claimedPull}] from the merged download of every `plan-comment-<stack>` artifact:
 * each holds `<stack>/comment.md` and `<stack>/pull-number`, so the layout is the same whether one
 * artifact or several were found.
 */
function readArtifacts(dir, core) {
  if (!fs.existsSync(dir)) return [];
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const stack = entry.name;
    if (!STACK_NAME.test(stack)) throw new Error(`unexpected folder ${stack} in the artifacts`);
    const folder = path.join(dir, stack);
    const comment = path.join(folder, 'comment.md');
    if (!fs.existsSync(comment)) {
      // The plan job failed before it could write the comment; its log says why.
      core.notice(`no comment for ${stack}: the plan job did not write one`);
      continue;
    }
    found.push({
      stack,
      text: fs.readFileSync(comment, 'utf8'),
      claimedPull: fs.readFileSync(path.join(folder, 'pull-number'), 'utf8').trim(),
    });
  }
  return found.sort((a, b) => a.stack.localeCompare(b.stack));
}

/**
 * The pull request's number if it is open with the run's head commit, else null (a newer push
 * superseded the run, or the artifact names a pull request the run was not for).
 */
async function verifiedPull(github, repo, run, claimed) {
  if (!/^[1-9][0-9]{0,9}$/.test(claimed)) throw new Error(`invalid pull number ${claimed}`);
  const { data: pull } = await github.rest.pulls.get({ ...repo, pull_number: Number(claimed) });
  const sameHead = pull.head.sha === run.head_sha;
  const sameRepo = pull.head.repo && pull.head.repo.full_name === run.head_repository.full_name;
  return pull.state === 'open' && sameHead && sameRepo ? pull.number : null;
}

/** Update this stack's comment if there is one, else create it. Returns 'updated' or 'created'. */
async function upsertComment(github, repo, issueNumber, stack, body) {
  const marker = markerFor(stack);
  const comments = await github.paginate(github.rest.issues.listComments, {
    ...repo,
    issue_number: issueNumber,
    per_page: 100,
  });
  const existing = comments.find(
    (c) => c.user && c.user.login === BOT_LOGIN && (c.body || '').startsWith(marker),
  );
  if (existing) {
    await github.rest.issues.updateComment({ ...repo, comment_id: existing.id, body });
    return 'updated';
  }
  await github.rest.issues.createComment({ ...repo, issue_number: issueNumber, body });
  return 'created';
}

async function postPlanComments({ github, context, core, dir }) {
  const run = context.payload.workflow_run;
  const artifacts = readArtifacts(dir, core);
  if (artifacts.length === 0) {
    core.notice('no plan comment artifacts in the run');
    return [];
  }
  const results = [];
  for (const artifact of artifacts) {
    const pull = await verifiedPull(github, context.repo, run, artifact.claimedPull);
    if (pull === null) {
      core.notice(`skipped ${artifact.stack}: pull request moved on or does not match the run`);
      continue;
    }
    const body = commentBody(artifact.stack, artifact.text);
    const action = await upsertComment(github, context.repo, pull, artifact.stack, body);
    core.info(`${action} the ${artifact.stack} plan comment on #${pull}`);
    results.push({ stack: artifact.stack, pull, action });
  }
  return results;
}

module.exports = { postPlanComments, commentBody, markerFor, readArtifacts, upsertComment };
