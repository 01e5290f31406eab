import fs from 'node:fs';
import path from 'node:path';
import type { Identity, Worktree } from '../adapters/git-worktree.js';
import { isFleetPath, loadFleet } from '../core/fleet.js';
import { diffFleets, plural } from '../core/fleet-diff.js';
import { checkServiceIdentity } from '../core/history.js';
import {
  affectedLines,
  applyChanges,
  checkTree,
  type FileChanges,
  type FileTree,
  hostRollbackMessage,
  planHostRollback,
  planRevert,
  revertMessage,
  subjectOf,
} from '../core/rollback.js';
import type { ManifestError } from '../core/types.js';
import { GitdockError } from '../errors.js';
import type { CommandIO } from './io.js';
import {
  COMMON_HELP,
  COMMON_OPTIONS,
  formatManifestError,
  parseCommand,
  resolveRepo,
} from './options.js';

const HELP = `Usage: gitdock rollback <commit> [--repo DIR] [--push [--remote NAME]] [--dry-run]
       gitdock rollback --host H [--service S] --to <commit> [--repo DIR] [--push [--remote NAME]] [--dry-run]

Undoes a deploy with a commit, so the rollback is itself reviewed history:
push it (or --push) and every agent converges back. Works in a clone with a
working tree, on the checked-out branch, with no git binary needed.

rollback <commit>
  Reverts what <commit> changed in the fleet files (hosts/**, services/**,
  stacks/**, gitdock.yaml; other files are left alone) on top of HEAD: every
  file of a Compose project it changed (compose files, overrides, .env,
  env files, mounted files) goes back with the rest. The message is
  'Revert "<subject of commit>"', and its body names the reverted sha, the
  files, and every host and service whose desired state changes.
  Refused, listing the files, when a later commit changed one of those files
  again (the file at HEAD is not the one <commit> left): revert the later
  commit first, or roll a host back with --to. A merge commit is reverted
  against its first parent: what the merge brought into the branch is undone.
  <commit> must be on the branch (an ancestor of HEAD).

rollback --host H [--service S] --to <commit>
  Gives host H (or only service S on H) the desired state it had at
  <commit>, touching no other host and no other service. The message is
  'Roll back H to <sha>' (or 'Roll back S on H to <sha>'), with the service
  changes and why each file is written:
  - H's own files (hosts/H/<service>.yaml) are restored, or removed when
    they did not exist at <commit>.
  - A service H took from a fleet file (services/S.yaml) that has changed
    since, for every host it selects: H gets a host override
    hosts/H/S.yaml holding the old fleet file (without hosts:). It pins H
    until someone removes it; the file says so in a comment.
  - A service H did not run at <commit> but gets from a fleet file now: H's
    name is taken out of the file's hosts: list (the file is removed if it
    selected only H). A glob (web-*) cannot leave one host out: refused.
  - A Compose service (S as <project>/<service>, shop/app: every replica of
    it) is rolled back with its project's files: every file of H's
    directory of the project (hosts/H/<project>/: compose.yaml or a stack's
    override, compose.override.yaml, .env, env files, mounted files) is
    restored, or removed when it did not exist at <commit>. Files outside
    it (a stack's files under stacks/, shared with other hosts) cannot go
    back for H alone: when they changed since <commit>, refused (revert the
    commits instead). With --service, refused too when the project's files
    would also change another service of the project.
  Before committing, the result is resolved and compared: S (or every
  service of H) as at <commit>, everything else as at HEAD. If not, nothing
  is written and the reason is given. Nothing to change exits 0.

Both refuse to run on a dirty working tree (tracked changes anywhere, or
untracked files under hosts/ or services/) and list the files, and refuse a
result that does not validate (as gitdock validate would), listing its errors.
The author is GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL, else git config user.name and
user.email of the repository, else of the user.

--push sends the branch to its remote (branch.<name>.remote, else origin):
over http(s), with the token of --token-file or GITDOCK_GIT_TOKEN (user name
from the URL, else x-access-token) or user:token in the URL; or to a bare
repository on this machine (a path or file:// URL), written directly (the
remote's hooks do not run). ssh remotes are not supported: the commit is made,
push it with git push. A push never forces: when the remote moved, pull and
run again.

Exit codes: 0 done (or nothing to do), 1 refused or failed, 64 usage error.

Options:
${COMMON_HELP.repo.replace('bare or not', 'a clone with a working tree')}
  --host NAME       the host to roll back (with --to)
  --service NAME    only this service of the host (a Compose service: <project>/<service>)
  --to REV          the revision whose state to restore
  --push            push the branch after committing
  --remote NAME     the remote to push to (default: the branch's, else origin)
  --token-file F    token for an http(s) remote (default: $GITDOCK_GIT_TOKEN)
  --dry-run         print the commit message and files; change nothing
  -h, --help        show this help

Examples:
  gitdock rollback 3f2a9c1                      # revert a bad release
  gitdock rollback HEAD --push                  # revert the last commit, deploy it
  gitdock rollback 3f2a9c1 --dry-run            # see the message and files first
  gitdock rollback --host web-2 --to v1.4       # web-2 as it was at tag v1.4
  gitdock rollback --host web-2 --service appserver --to HEAD~3 --push
  gitdock rollback --host web-1 --service shop/proxy --to HEAD~1
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      repo: COMMON_OPTIONS.repo,
      host: COMMON_OPTIONS.host,
      service: { type: 'string' },
      to: { type: 'string' },
      push: { type: 'boolean', default: false },
      remote: { type: 'string' },
      'token-file': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      help: COMMON_OPTIONS.help,
    },
    true,
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const usage = (message: string) => new GitdockError('GITDOCK_E_USAGE', message);
  const hostMode = values.host !== undefined || values.to !== undefined;
  if (hostMode) {
    if (positionals.length > 0) {
      throw usage('give either <commit> or --host H --to <commit>, not both');
    }
    if (!values.host) throw usage('--to needs --host NAME: the host to roll back');
    if (!values.to) throw usage('--host needs --to REV: the revision to roll the host back to');
  } else {
    if (values.service !== undefined) throw usage('--service needs --host NAME and --to REV');
    if (positionals.length !== 1) {
      throw usage(
        positionals.length === 0
          ? 'rollback needs <commit> (the commit to revert) or --host H --to <commit>'
          : `rollback reverts one commit, got ${positionals.length}`,
      );
    }
  }
  const serviceProblem =
    values.service === undefined ? undefined : checkServiceIdentity(values.service);
  if (serviceProblem !== undefined) {
    throw usage(`--service "${values.service}" is not a service identity: ${serviceProblem}`);
  }
  if (!values.push && (values.remote !== undefined || values['token-file'] !== undefined)) {
    throw usage('--remote and --token-file go with --push');
  }

  const { openWorktree } = await import('../adapters/git-worktree.js');
  const wt = await openWorktree({ dir: resolveRepo(values.repo, io) });
  const branch = await wt.branch();
  const dirty = await wt.dirtyFiles();
  if (dirty.length > 0) {
    throw new GitdockError(
      'GITDOCK_E_DIRTY_WORKTREE',
      `the working tree of ${wt.dir} has uncommitted changes; commit or stash them first:\n${dirty
        .map((d) => `  ${d.file} (${d.state})`)
        .join('\n')}`,
      { files: dirty.map((d) => d.file) },
    );
  }
  const dryRun = values['dry-run'];
  // Both checked before anything is written.
  const author = dryRun ? undefined : await wt.identity(io.env);
  const token = values.push ? await readToken(values['token-file'], io) : undefined;
  const head = await wt.git.resolveRevision('HEAD');
  const headFiles = await wt.git.readFiles(head, isFleetPath);

  const made = hostMode
    ? await prepareHostRollback(wt, {
        host: values.host!,
        ...(values.service ? { service: values.service } : {}),
        to: values.to!,
        head,
        headFiles,
      })
    : await prepareRevert(wt, { rev: positionals[0]!, head, headFiles });
  if (!made) {
    io.stdout.write(`nothing to roll back: ${nothingReason(values)}\n`);
    return 0;
  }

  const files = [...made.changes.keys()].sort();
  if (dryRun) {
    io.stdout.write(`Would commit on ${branch} (dry run, nothing written):\n\n`);
    io.stdout.write(indent(made.message));
    io.stdout.write(
      `\nFiles:\n${files.map((f) => `  ${made.changes.get(f) === null ? 'delete' : 'write '} ${f}`).join('\n')}\n`,
    );
    return 0;
  }
  const sha = await wt.commitChanges(made.changes, made.message, author as Identity);
  io.stdout.write(`committed ${sha.slice(0, 12)} on ${branch}: ${subjectOf(made.message)}\n`);
  for (const line of made.summary) io.stdout.write(`  ${line}\n`);

  if (values.push) {
    try {
      const pushed = await wt.push({
        branch,
        ...(values.remote ? { remote: values.remote } : {}),
        ...(token ? { token } : {}),
      });
      io.stdout.write(
        `pushed ${branch} to ${pushed.remote} (${pushed.url}): ${
          pushed.old ? `${pushed.old.slice(0, 12)}..` : ''
        }${pushed.commit.slice(0, 12)}\n`,
      );
    } catch (err) {
      if (err instanceof GitdockError) {
        io.stderr.write(
          `gitdock: the commit ${sha.slice(0, 12)} is made on ${branch}, not pushed\n`,
        );
      }
      throw err;
    }
  }
  return 0;
}

interface Prepared {
  changes: FileChanges;
  message: string;
  /** Lines for the terminal: the hosts and services affected. */
  summary: string[];
}

async function prepareRevert(
  wt: Worktree,
  options: { rev: string; head: string; headFiles: FileTree },
): Promise<Prepared | undefined> {
  const { head, headFiles } = options;
  const commit = await wt.git.resolveRevision(options.rev);
  const info = await wt.readCommitInfo(commit);
  if (!(await wt.isAncestor(commit, head))) {
    throw new GitdockError(
      'GITDOCK_E_ROLLBACK_REFUSED',
      `${options.rev} (${commit.slice(0, 12)}) is not on the checked-out branch (not an ancestor of HEAD); there is nothing of it to revert here`,
      { commit },
    );
  }
  const parent = info.parents[0];
  const [parentFiles, commitFiles] = await Promise.all([
    parent ? wt.git.readFiles(parent, isFleetPath) : new Map<string, Uint8Array>(),
    wt.git.readFiles(commit, isFleetPath),
  ]);
  const plan = planRevert({ parent: parentFiles, commit: commitFiles, head: headFiles });
  const label = `${commit.slice(0, 12)} ("${subjectOf(info.message)}")`;
  if (plan.kind === 'no-fleet-change') {
    throw new GitdockError(
      'GITDOCK_E_ROLLBACK_REFUSED',
      `${label} changed no fleet file (hosts/, services/, stacks/, gitdock.yaml): it deployed nothing, so there is nothing to roll back`,
      { commit },
    );
  }
  if (plan.kind === 'already-reverted') return undefined;
  if (plan.kind === 'conflict') {
    throw new GitdockError(
      'GITDOCK_E_ROLLBACK_CONFLICT',
      `cannot revert ${label}: later commits changed ${plural(plan.conflicts.length, 'file')} it changed, so the revert would not apply cleanly:\n${plan.conflicts
        .map((f) => `  ${f}`)
        .join(
          '\n',
        )}\nRevert the later commits first, or restore a host with rollback --host H --to ${commit.slice(0, 12)}~1`,
      { commit, files: plan.conflicts },
    );
  }
  const tree = applyChanges(headFiles, plan.changes);
  const result = checkTree(tree, '');
  if (!result.ok) throw invalidResult(`reverting ${label}`, result.errors);
  const headState = checkTree(headFiles, head);
  const diff = headState.ok ? diffFleets(headState.value, result.value) : undefined;
  const message = revertMessage({
    commit,
    message: info.message,
    paths: plan.paths,
    ...(diff ? { diff } : {}),
    ...(info.parents.length > 1 ? { mainline: parent! } : {}),
  });
  return { changes: plan.changes, message, summary: affectedLines(diff) };
}

async function prepareHostRollback(
  wt: Worktree,
  options: { host: string; service?: string; to: string; head: string; headFiles: FileTree },
): Promise<Prepared | undefined> {
  const { host, service, head, headFiles } = options;
  const target = await wt.git.resolveRevision(options.to);
  const info = await wt.readCommitInfo(target);
  const targetFiles = await wt.git.readFiles(target, isFleetPath);
  const targetFleet = loadFleet(targetFiles);
  if (!targetFleet.ok) {
    throw invalidResult(
      `rolling back to ${target.slice(0, 12)}, whose manifests are invalid,`,
      targetFleet.errors,
    );
  }
  const headFleet = loadFleet(headFiles);
  if (!headFleet.ok) {
    throw invalidResult(
      'rolling back on top of HEAD, whose manifests are invalid (fix or revert that first),',
      headFleet.errors,
    );
  }
  const plan = planHostRollback({
    host,
    ...(service ? { service } : {}),
    target: { commit: target, files: targetFiles, fleet: targetFleet.value },
    head: { commit: head, files: headFiles, fleet: headFleet.value },
  });
  if (!plan.ok) {
    const reasons = plan.reasons.map((r) => `  ${r}`).join('\n');
    const errors = plan.errors.map((e) => `  ${formatManifestError(e)}`).join('\n');
    throw new GitdockError(
      'GITDOCK_E_ROLLBACK_REFUSED',
      `cannot roll back ${service ? `${service} on ${host}` : host} to ${target.slice(0, 12)}; nothing was written:\n${reasons}${errors ? `\n${errors}` : ''}`,
      { host, service, target },
    );
  }
  if (plan.changes.size === 0) return undefined;
  const headState = checkTree(headFiles, head);
  if (!headState.ok) throw invalidResult('HEAD', headState.errors);
  const diff = diffFleets(headState.value, plan.result);
  const message = hostRollbackMessage({
    host,
    ...(service ? { service } : {}),
    target,
    targetMessage: info.message,
    notes: plan.notes,
    diff,
  });
  const summary = affectedLines(diff);
  return { changes: plan.changes, message, summary };
}

function invalidResult(what: string, errors: ManifestError[]): GitdockError {
  return new GitdockError(
    'GITDOCK_E_ROLLBACK_REFUSED',
    `${what} gives ${plural(errors.length, 'manifest error')}; nothing was written:\n${errors
      .map((e) => `  ${formatManifestError(e)}`)
      .join('\n')}`,
    { errors },
  );
}

function nothingReason(values: { host?: string; service?: string; to?: string }): string {
  if (!values.host) return 'the commit is already reverted (its files are as before it)';
  const scope = values.service ? `${values.service} on ${values.host}` : values.host;
  return `${scope} already has the desired state it had at ${values.to}`;
}

async function readToken(file: string | undefined, io: CommandIO): Promise<string | undefined> {
  if (file === undefined) return io.env.GITDOCK_GIT_TOKEN?.trim() || undefined;
  const full = path.resolve(io.cwd, file);
  let token: string;
  try {
    token = (await fs.promises.readFile(full, 'utf8')).trim();
  } catch (err) {
    throw new GitdockError(
      'GITDOCK_E_GIT_PUSH',
      `cannot read the token file ${full}: ${(err as Error).message}`,
      { file: full },
    );
  }
  if (token === '') throw new GitdockError('GITDOCK_E_GIT_PUSH', `the token file ${full} is empty`);
  return token;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l ? `    ${l}` : l))
    .join('\n');
}
