import { checkServiceIdentity, readHistory } from '../core/history.js';
import { isValidName, NAME_RULE } from '../core/names.js';
import { GitdockError } from '../errors.js';
import {
  formatHistoryText,
  type HistoryReport,
  historyToJson,
  INVALID_MARKER,
  scanLimitNote,
} from '../output/format-history.js';
import { type CommandIO, useColor } from './io.js';
import { openRepo } from './load.js';
import { COMMON_OPTIONS, checkOutput, parseCommand } from './options.js';

const DEFAULT_COUNT = 20;
// Enough for years of deploy history on most fleets, and a bound on the time
// a typo in --service can cost: skipped commits cost one commit and one tree
// read each, so 1000 take well under a second; resolving a changed commit
// costs its fleet files.
const DEFAULT_MAX_SCAN = 1000;

const HELP = `Usage: gitdock history [--host NAME] [--service NAME] [-n N] [--repo DIR] [--rev REV]
                       [--max-scan N] [--output text|json]

Lists the commits that changed what a host (or a service) should run,
newest first: sha, date, author, subject, and what changed on each host:

  9f8e7d6c5b4a  2024-05-01 14:03 +0200  Alice  Release appserver 1.5.0
    web-1: appserver tag 1.4.2 -> 1.5.0  (services/appserver.yaml)
    web-2: appserver tag 1.4.2 -> 1.5.0  (services/appserver.yaml)
    web-3: = appserver shadowed: hosts/web-3/appserver.yaml overrides services/appserver.yaml (fleet change not applied)

  1a2b3c4d5e6f  2024-04-30 09:12 +0200  Bob  Cache sessions on web-2
    web-2: + memcached registry.example.com/memcached:1.6  (hosts/web-2/memcached.yaml)

Changes through fleet files count: a commit to services/appserver.yaml is
listed for every host its hosts: list selects, and not for a host whose own
hosts/<host>/appserver.yaml overrides it; so do changes to a Compose
project's files (a stack's for every host it selects, a mounted config
file for the services that mount it). Commits that change nothing for
the host or service asked about are left out: a README edit, a comment, a
commit that only touches hosts/web-1/ when you ask about web-2. Without
--host, every host the repo names; with --service, only that service's
changes (on --host, or on every host). Reads git only: no Docker engine is
needed and nothing is changed.

The walk follows first parents from --rev, as git log --first-parent: a
merged pull request is one commit, compared with the branch before it, which
is the change the agents saw. Each commit is compared with its first parent.

Invalid manifests: the agent applies a commit whole or not at all, so a
commit with an invalid manifest is listed whatever --host or --service ask
(it stopped every host), marked "${INVALID_MARKER}",
with its first errors. The commits after it are compared with
the last valid commit, which is what the hosts kept running, not with the
invalid one. The first valid commit after invalid ones is listed, marked
"manifests valid again", since hosts move again from there.

Options:
      --host NAME     only changes on this host (default: every host)
      --service NAME  only changes to this service: a manifest's name (appserver), or a
                      Compose service as <project>/<service> (shop/app: every replica of
                      it; shop/app#2: replica 2 only)
  -n, --max-count N   list at most N commits (default: ${DEFAULT_COUNT})
      --repo DIR      fleet repository, bare or not (default: .)
      --rev REV       branch, tag, sha or HEAD~N to start from (default: HEAD)
      --max-scan N    read at most N commits (default: ${DEFAULT_MAX_SCAN}); when reached, what was
                      found is printed and stderr says the history was cut short
  -o, --output F      text (default) or json
  -h, --help          show this help

JSON output:
  { rev, commit, host, service, limit, maxScan, scanned,
    stoppedBy: "start" | "limit" | "scan-limit",
    commits: [ { sha, date, author: { name, email }, subject, parents,
      valid, errors: [ { file, line, column, path, message } ],
      comparedWith, validAgain,
      hosts: [ { host, presence, refusedEmpty,
        services: [ { service, change, baseFile, headFile, image, reasons,
                      recreate, files } ],
        shadowed: [ { service, fleetFile, hostFile } ] } ] } ] }
  sha is the full sha; date is ISO 8601 in the author's offset; comparedWith
  is the commit compared with (null: none, or an invalid commit). Fields are
  only ever added; absent values are null.

Exit codes: 0 the history was read (even when no commit matches, or some
commits are invalid), 1 a repository or revision that cannot be read,
64 usage error.

Examples:
  gitdock history --host web-2
  gitdock history --service appserver -n 5
  gitdock history --host web-1 --service shop/app
  gitdock history --host web-1 --service appserver --rev origin/main
  gitdock history --repo /srv/fleet.git --output json | jq -r '.commits[].sha'
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    repo: COMMON_OPTIONS.repo,
    rev: COMMON_OPTIONS.rev,
    host: COMMON_OPTIONS.host,
    service: { type: 'string' },
    'max-count': { type: 'string', short: 'n', default: String(DEFAULT_COUNT) },
    'max-scan': { type: 'string', default: String(DEFAULT_MAX_SCAN) },
    output: COMMON_OPTIONS.output,
    help: COMMON_OPTIONS.help,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['text', 'json'] as const);
  const host = checkName(values.host, '--host', 'host');
  const service = checkService(values.service);
  const limit = positiveInteger(values['max-count'], '-n/--max-count');
  const maxScan = positiveInteger(values['max-scan'], '--max-scan');

  const git = await openRepo(values.repo, io);
  const commit = await git.resolveRevision(values.rev);
  const { openCommitHistory } = await import('../adapters/git-history.js');
  const history = openCommitHistory({ gitdir: git.gitdir, dir: values.repo });
  const filter = {
    ...(host === undefined ? {} : { host }),
    ...(service === undefined ? {} : { service }),
  };
  const result = await readHistory({ history, from: commit, filter, limit, maxScan });
  const report: HistoryReport = { rev: values.rev, commit, filter, limit, maxScan, result };

  if (output === 'json') io.stdout.write(`${JSON.stringify(historyToJson(report), null, 2)}\n`);
  else io.stdout.write(formatHistoryText(report, { color: useColor(io.stdout, io.env) }));
  const note = scanLimitNote(report);
  if (note) io.stderr.write(`gitdock: ${note}\n`);
  return 0;
}

function checkName(value: string | undefined, option: string, what: string): string | undefined {
  if (value !== undefined && !isValidName(value)) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `${option} "${value}" is not a valid ${what} name: use ${NAME_RULE}`,
    );
  }
  return value;
}

function checkService(value: string | undefined): string | undefined {
  const problem = value === undefined ? undefined : checkServiceIdentity(value);
  if (problem !== undefined) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `--service "${value}" is not a service identity: ${problem}`,
    );
  }
  return value;
}

function positiveInteger(value: string, option: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value)) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `${option} takes a whole number of at least 1, not "${value}"`,
    );
  }
  return Number.parseInt(value, 10);
}
