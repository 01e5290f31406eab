import { isFleetPath, loadFleet } from '../core/fleet.js';
import { diffFleets, hasFleetChanges, plural } from '../core/fleet-diff.js';
import { type FleetState, resolveFleetState } from '../core/fleet-state.js';
import type { GitSource } from '../core/git.js';
import { GitdockError } from '../errors.js';
import {
  type DiffReport,
  type DiffSide,
  diffToJson,
  formatDiffText,
  invalidSides,
  roleLabel,
} from '../output/format-diff.js';
import { formatDiffMarkdown } from '../output/format-diff-markdown.js';
import { type CommandIO, useColor } from './io.js';
import { openRepo } from './load.js';
import { COMMON_HELP, COMMON_OPTIONS, checkOutput, parseCommand } from './options.js';

const HELP = `Usage: gitdock diff BASE [HEAD] [--repo DIR] [--output text|json|markdown]

Compares what every host should run at two revisions: the services each
host gains, loses or changes, down to the field (tag 1.4.2 -> 1.5.0,
environment.RAILS_ENV changed), the files behind each change, the hosts a
changed fleet file reaches, and the hosts it does not reach because their
own file of that service overrides it ("shadowed"). Reads git only: no
Docker engine is needed and nothing is changed. Made for pull requests:
post the markdown output as a review comment.

Compose services show by identity (shop/app, shop/app#2 for replica 2).
Their files behind a change are those of their project (compose files,
overrides, .env, env files) and the repo files the service mounts: a
changed nginx.conf lists the services that mount it, and only those. The
hosts' own env files (--env-dir) are not in git: a variable only they set
is empty here, and a secret rotated there is no diff.

BASE and HEAD are revisions (branch, tag, sha, origin/main, HEAD~N); HEAD
defaults to HEAD. The hosts compared are those either revision names: a
hosts/<host>/ directory, a gitdock.yaml entry, or a literal name in a fleet
file's hosts: list or a stack's x-gitdock.hosts. A host runs nothing at a revision that does not name it,
so a new host lists every service it will run. A host that only a glob
selects (web-*) cannot be listed: name it in gitdock.yaml.

Both revisions must be valid. If either is not, nothing is compared: every
manifest error is listed as file:line:column, under BASE or HEAD, in the
chosen format, and the exit code is 1. (So a change that fixes a broken
BASE cannot be diffed against it; \`gitdock validate\` checks it alone.)

Exit codes: 0 no change, 2 changes, 1 an invalid revision or a repository or
revision that cannot be read, 64 usage error. A fleet change that only
reaches hosts which override it is reported as shadowed, and is no change.

Options:
${COMMON_HELP.repo}
  -o, --output F  text (default), json or markdown
  -h, --help      show this help

Output:
  text      one line per changed service, like plan:
              ~ appserver  tag 1.4.2 -> 1.5.0  (services/appserver.yaml)
            then the changed fleet files and a summary line.
  json      { base, head: { rev, commit, valid, errors[] }, valid, changed,
              summary, counts: { compared, hosts, services, added, removed,
              changed, shadowed }, hosts: [ { host, presence, refusedEmpty,
              services: [ { service, change, baseFile, headFile, image,
              reasons, recreate, files } ], shadowed: [ { service,
              fleetFile, hostFile } ] } ], fleetFiles: [ { file, service,
              change, hosts, shadowed } ] }
            Fields are only ever added; absent values are null.
  markdown  a pull request comment: a heading with the summary, the changed
            fleet files, a note for shadowed overrides, a section per host
            (folded in <details> when long). Its first line is
            <!-- gitdock-diff -->, so CI can find and update its own comment.

Examples:
  gitdock diff HEAD~1
  gitdock diff origin/main HEAD --output markdown > gitdock-diff.md
  gitdock diff v1.4 v1.5 --repo /srv/fleet.git --output json
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    { repo: COMMON_OPTIONS.repo, output: COMMON_OPTIONS.output, help: COMMON_OPTIONS.help },
    true,
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['text', 'json', 'markdown'] as const);
  if (positionals.length < 1 || positionals.length > 2) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      positionals.length < 1
        ? 'diff needs BASE: the revision to compare with (gitdock diff origin/main)'
        : `diff takes BASE and HEAD, got ${positionals.length} revisions`,
    );
  }
  const [baseRev, headRev = 'HEAD'] = positionals as [string, string?];
  const git = await openRepo(values.repo, io);
  const base = await readSide(git, baseRev);
  const head = await readSide(git, headRev);
  const report: DiffReport = {
    base: base.side,
    head: head.side,
    ...(base.state && head.state ? { diff: diffFleets(base.state, head.state) } : {}),
  };

  if (output === 'json') io.stdout.write(`${JSON.stringify(diffToJson(report), null, 2)}\n`);
  else if (output === 'markdown') io.stdout.write(formatDiffMarkdown(report));
  else io.stdout.write(formatDiffText(report, { color: useColor(io.stdout, io.env) }));

  if (!report.diff) {
    for (const { role, side } of invalidSides(report)) {
      io.stderr.write(
        `gitdock: ${roleLabel(role, side)} has ${plural(side.errors.length, 'error')}; nothing was compared (GITDOCK_E_INVALID_MANIFESTS)\n`,
      );
    }
    return 1;
  }
  return hasFleetChanges(report.diff) ? 2 : 0;
}

/** One revision, read and validated whole, then every host it names resolved. */
async function readSide(
  git: GitSource,
  rev: string,
): Promise<{ side: DiffSide; state?: FleetState }> {
  const commit = await git.resolveRevision(rev);
  const files = await git.readFiles(commit, isFleetPath);
  const fleet = loadFleet(files);
  const state = fleet.ok ? resolveFleetState(fleet.value, files, commit) : fleet;
  if (!state.ok) return { side: { rev, commit, errors: state.errors } };
  return { side: { rev, commit, errors: [] }, state: state.value };
}
