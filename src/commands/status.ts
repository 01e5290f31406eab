import { parseDuration } from '../core/duration.js';
import { type Fleet, isFleetPath, loadFleet, resolveHost, rolloutHosts } from '../core/fleet.js';
import { type FleetState, resolveFleetState } from '../core/fleet-state.js';
import {
  type AgentAnswer,
  type DesiredAt,
  type FleetStatus,
  mergeFleetStatus,
  short,
  verdictCommit,
} from '../core/fleet-status.js';
import type { GitSource } from '../core/git.js';
import type { ManifestError } from '../core/types.js';
import { GitdockError, isGitdockError } from '../errors.js';
import { formatStatusText, statusToJson } from '../output/format-status.js';
import { type CommandIO, useColor } from './io.js';
import { openRepo } from './load.js';
import {
  COMMON_HELP,
  COMMON_OPTIONS,
  checkOutput,
  parseCommand,
  writeManifestErrors,
} from './options.js';

const DEFAULT_TIMEOUT = '3s';
/** How often --wait asks the agents again. */
const WAIT_POLL_MS = 1000;
const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 60_000;

const HELP = `Usage: gitdock status [--repo DIR] [--rev REV] [--output text|json] [--exit-code]
                      [--timeout 3s] [--wait DURATION]

Shows the fleet: for every host, each service's desired tag (the repo at
--rev), running tag and the commit its container was made at, sync and
health, and when the host's agent last reconciled. Asks every agent at once
(GET /status, one attempt each, bounded by --timeout). Reads git and the
agents only: nothing is changed, no Docker engine is needed.

  Fleet at 1a2b3c4d5e6f (HEAD, branch main)

  HOST   SERVICE    DESIRED  RUNNING             SYNC       HEALTH   AGENT
  web-1  appserver  1.5.0    1.5.0 1a2b3c4d5e6f  Synced     Healthy  8s ago
         memcached  1.6      1.6 0c9d8e7f6a5b    Synced     Healthy
  web-2  appserver  1.5.0    1.4.2 0c9d8e7f6a5b  OutOfSync  Unknown  unreachable

  web-2: unreachable (connect ECONNREFUSED 10.0.0.12:9420)
    shown from refs/gitdock/applied/web-2 at 0c9d8e7f6a5b (committed 2h ago); health unknown
    appserver: not applied: image 1.4.2 -> 1.5.0

  2 hosts, 3 services: 2 Synced, 1 OutOfSync; 1 agent unreachable

Where the agents are: gitdock.yaml at the repo root, one URL per host (its
agent's --listen address; http or https, no credentials):

  hosts:
    web-1: { agent: "http://web-1.internal:9420" }
    web-2: { agent: "http://web-2.internal:9420" }

The hosts shown: every host the revision names (hosts/<host>/, gitdock.yaml,
literal names in a fleet file's hosts:), and every host with an applied ref.
Sync compares desired state, not commit ids: an agent that has not read the
latest commit yet ("pending") is still Synced for every service that commit
does not change.

An agent that does not answer is "unreachable (why)". If the repository has
refs/gitdock/applied/<host> (the agent's --report-ref), the host is shown
from it: the services of that commit against those of --rev (OutOfSync
where they differ), health Unknown. A clone has these refs only once fetched:
  git fetch origin '+refs/gitdock/applied/*:refs/gitdock/applied/*'
A host without an agent URL is "no agent" and shown the same way.

Options:
${COMMON_HELP.repo}
${COMMON_HELP.rev}
  -o, --output F  text (default) or json
  --exit-code     exit 2 unless every host is Synced (see Exit codes)
  --timeout D     how long each agent is given, ${formatRange()} (default: ${DEFAULT_TIMEOUT})
  --wait D        ask again (every ${WAIT_POLL_MS / 1000}s) until every host with an agent
                  is Synced at the revision (hosts without one are shown, not
                  waited for), for at most D (such as 60s), then show the
                  fleet; exit 2 if it did not converge in time. For scripts and a
                  walkthrough: \`git push && gitdock status --wait 60s\`
  -h, --help      show this help

JSON output (fields are only ever added; absent values are null):
  { rev, commit, branch, synced, summary,
    counts: { hosts, services, synced, outOfSync, failed, unknown,
              unreachable, noAgent, pending },
    hosts: [ { host, agent, reachable, error, source: "agent" | "applied-ref" |
      "none", sync, pending, agentBranch, agentCommit, lastAppliedCommit,
      lastReconcile: { result, at, ageSeconds },
      appliedRef: { ref, commit, committedAt, ageSeconds }, notes,
      services: [ { service, sync, health, desiredImage, runningImage,
                    runningCommit, reason } ] } ] }

Exit codes: 0 the status was shown (with --exit-code: and every host is
Synced: its agent answered, is at a commit with the same desired state, and
reports every service Synced), 2 with --exit-code, anything else: a service
OutOfSync, Failed or Unknown, an agent unreachable or not configured,
1 an invalid revision or a repository that cannot be read, 64 usage error.

An invalid --rev is never applied by the agents: they keep running the last
valid commit. status lists the manifest errors, then shows the fleet against
the nearest valid commit before it (up to 50 back), and exits 1.

Examples:
  gitdock status
  gitdock status --repo /srv/git/fleet.git --exit-code --timeout 1s
  gitdock status --output json | jq -r '.hosts[] | select(.sync != "Synced") | .host'
`;

function formatRange(): string {
  return `${MIN_TIMEOUT_MS}ms to ${MAX_TIMEOUT_MS / 60_000}m`;
}

/** What `gitdock sim status` changes: the agents to ask, instead of gitdock.yaml's `agent:` URLs. */
export interface StatusOverrides {
  agents?: ReadonlyMap<string, string>;
}

export async function run(
  argv: string[],
  io: CommandIO,
  overrides: StatusOverrides = {},
): Promise<number> {
  const { values } = parseCommand(argv, {
    repo: COMMON_OPTIONS.repo,
    rev: COMMON_OPTIONS.rev,
    output: COMMON_OPTIONS.output,
    'exit-code': { type: 'boolean', default: false },
    timeout: { type: 'string', default: DEFAULT_TIMEOUT },
    wait: { type: 'string' },
    help: COMMON_OPTIONS.help,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['text', 'json'] as const);
  const timeoutMs = checkTimeout(values.timeout);
  const waitMs = values.wait === undefined ? undefined : checkWait(values.wait);

  const git = await openRepo(values.repo, io);
  const asked = await git.resolveRevision(values.rev);
  const loaded = await loadState(git, asked);
  let commit = asked;
  let ready: ValidState;
  if (loaded.ok) {
    ready = loaded;
  } else {
    // An invalid commit is never applied: the agents keep running the last
    // valid one, so that is what the fleet is shown against (when one is
    // near), and the exit code still says the revision is invalid.
    writeManifestErrors(io, loaded.errors, asked);
    const fallback = await lastValidAncestor(git, asked);
    if (!fallback) return 1;
    io.stderr.write(
      `gitdock: showing the fleet against ${short(fallback.commit)}, the last valid commit before ${values.rev}: the agents keep running it until a valid commit follows\n`,
    );
    commit = fallback.commit;
    ready = fallback.loaded;
  }
  const { fleet, state } = ready;
  const branch = values.rev === 'HEAD' ? ((await git.currentBranch()) ?? null) : null;

  const read = () =>
    readFleetStatus({
      git,
      repo: values.repo,
      rev: values.rev,
      commit,
      branch,
      fleet,
      state,
      timeoutMs,
      ...(overrides.agents ? { agents: overrides.agents } : {}),
    });
  let status = await read();
  let timedOut = false;
  // An invalid revision is never applied: there is nothing to wait for.
  if (waitMs !== undefined && commit === asked) {
    const deadline = Date.now() + waitMs;
    const tty = io.stderr.isTTY === true;
    while (!convergedForWait(status)) {
      if (Date.now() + WAIT_POLL_MS > deadline) {
        timedOut = true;
        break;
      }
      if (tty)
        io.stderr.write(
          `\r\u001b[2Kwaiting for the fleet to converge at ${short(commit)}: ${status.counts.synced} of ${status.counts.services} services Synced`,
        );
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
      status = await read();
    }
    if (tty) io.stderr.write('\r\u001b[2K');
    if (timedOut)
      io.stderr.write(
        `gitdock: the fleet did not converge at ${short(commit)} within ${values.wait}\n`,
      );
  }
  if (output === 'json') {
    const json = statusToJson(status);
    const invalid = commit === asked ? {} : { invalidRev: { rev: values.rev, commit: asked } };
    io.stdout.write(`${JSON.stringify({ ...json, ...invalid }, null, 2)}\n`);
  } else {
    io.stdout.write(formatStatusText(status, { color: useColor(io.stdout, io.env) }));
  }
  if (commit !== asked) return 1;
  if (timedOut) return 2;
  return values['exit-code'] && !status.synced ? 2 : 0;
}

/** Asks every agent and reads the applied refs: the fleet's status at `commit`. */
async function readFleetStatus(input: {
  git: Awaited<ReturnType<typeof openRepo>>;
  repo: string;
  rev: string;
  commit: string;
  branch: string | null;
  fleet: Fleet;
  state: FleetState;
  timeoutMs: number;
  /** Instead of gitdock.yaml's `agent:` URLs. */
  agents?: ReadonlyMap<string, string>;
}) {
  const { git, commit, fleet, state, timeoutMs } = input;
  const values = { repo: input.repo, rev: input.rev };
  const branch = input.branch;
  const agents = new Map<string, string>(input.agents ?? []);
  if (!input.agents) {
    for (const [host, settings] of Object.entries(fleet.config.hosts ?? {})) {
      if (settings.agent !== undefined) agents.set(host, settings.agent);
    }
  }
  const [{ fetchAgentStatus }, { readAppliedRefs, readHostReports }] = await Promise.all([
    import('../adapters/agent-client.js'),
    import('../adapters/applied-refs.js'),
  ]);
  // Every agent at once, and the refs meanwhile: the slowest agent bounds the run.
  const [answerList, appliedRefs, reportRefs] = await Promise.all([
    Promise.all(
      [...agents].map(
        async ([host, url]) => [host, await fetchAgentStatus(url, host, { timeoutMs })] as const,
      ),
    ),
    readAppliedRefs({ gitdir: git.gitdir, dir: values.repo }),
    // Only to show a release by waves; a repository whose refs cannot be listed was reported just above.
    fleet.rollout ? readHostReports(git.gitdir).catch(() => undefined) : undefined,
  ]);
  const answers = new Map<string, AgentAnswer>(answerList);

  // The other commits whose desired state is needed: each answering agent's,
  // and the applied ref of each host no agent answered for.
  const needed = new Set<string>();
  for (const answer of answers.values()) {
    // The commit its service states are of (mergeFleetStatus compares there).
    const at = answer.ok ? verdictCommit(answer.report) : null;
    if (at && at !== commit) needed.add(at);
  }
  for (const [host, ref] of appliedRefs) {
    if (!answers.get(host)?.ok && ref.commit !== commit) needed.add(ref.commit);
  }
  const fleets = new Map<string, { ok: true; fleet: Fleet } | { ok: false; error: string }>();
  for (const other of needed) fleets.set(other, await loadOther(git, other));
  const desiredAt = (host: string, at: string): DesiredAt => {
    const loaded = fleets.get(at);
    if (!loaded) return { ok: false, error: `${short(at)} was not read` };
    if (!loaded.ok) return loaded;
    const resolved = resolveHost(loaded.fleet, host, at);
    return resolved.ok
      ? { ok: true, services: resolved.value.services }
      : { ok: false, error: `its manifests for ${host} are invalid` };
  };

  return mergeFleetStatus({
    rev: values.rev,
    commit,
    branch,
    desired: state.hosts,
    agents,
    answers,
    appliedRefs,
    desiredAt,
    now: Date.now(),
    ...(fleet.rollout
      ? {
          rollout: { config: fleet.rollout, hosts: rolloutHosts(fleet.config) },
          failedRefs: reportRefs?.failed ?? new Map<string, string>(),
        }
      : {}),
  });
}

/**
 * What --wait waits for: every host with an agent (reachable or not yet)
 * Synced at the revision, its agent done with it. A host no agent is
 * configured for cannot be confirmed by anyone: it is shown, not waited for.
 */
function convergedForWait(status: FleetStatus): boolean {
  const watched = status.hosts.filter((h) => h.reachable !== null);
  return watched.length > 0 && watched.every((h) => h.sync === 'Synced' && !h.pending);
}

function checkWait(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    ms = Number.NaN;
  }
  if (!(ms > 0) || ms > 3_600_000) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `--wait takes a duration of at most 1h, such as 60s, not "${text}"`,
    );
  }
  return ms;
}

type ValidState = { ok: true; fleet: Fleet; state: FleetState };
type LoadedState = ValidState | { ok: false; errors: ManifestError[] };

/** Every host's desired state at `commit`, or its manifest errors. */
async function loadState(git: GitSource, commit: string): Promise<LoadedState> {
  const files = await git.readFiles(commit, isFleetPath);
  const fleet = loadFleet(files);
  if (!fleet.ok) return fleet;
  const state = resolveFleetState(fleet.value, files, commit);
  return state.ok ? { ok: true, fleet: fleet.value, state: state.value } : state;
}

/** How far back along first parents a valid commit is looked for. */
const MAX_FALLBACK_COMMITS = 50;

/** The nearest first-parent ancestor of `commit` whose manifests are valid, if one is near. */
async function lastValidAncestor(
  git: GitSource,
  commit: string,
): Promise<{ commit: string; loaded: ValidState } | undefined> {
  for (let n = 1; n <= MAX_FALLBACK_COMMITS; n++) {
    let ancestor: string;
    try {
      ancestor = await git.resolveRevision(`${commit}~${n}`);
    } catch (err) {
      if (isGitdockError(err, 'GITDOCK_E_GIT_REV_NOT_FOUND')) return undefined;
      throw err;
    }
    const loaded = await loadState(git, ancestor);
    if (loaded.ok) return { commit: ancestor, loaded };
  }
  return undefined;
}

/** The fleet at a commit an agent or an applied ref names, or why it cannot be read. */
async function loadOther(
  git: GitSource,
  commit: string,
): Promise<{ ok: true; fleet: Fleet } | { ok: false; error: string }> {
  // The agent's answer is not trusted to be a sha.
  if (!/^[0-9a-f]{40}$/.test(commit)) return { ok: false, error: `"${commit}" is not a commit id` };
  try {
    const loaded = loadFleet(await git.readFiles(commit, isFleetPath));
    return loaded.ok
      ? { ok: true, fleet: loaded.value }
      : { ok: false, error: `${short(commit)} has invalid manifests` };
  } catch (err) {
    if (isGitdockError(err, 'GITDOCK_E_GIT_REV_NOT_FOUND')) {
      return { ok: false, error: `${short(commit)} is not in this repository (git fetch?)` };
    }
    if (isGitdockError(err)) return { ok: false, error: err.message };
    throw err;
  }
}

function checkTimeout(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `--timeout takes a duration such as 3s or 500ms, not "${text}"`,
    );
  }
  if (ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `--timeout must be from ${formatRange()}, not ${text}`,
    );
  }
  return ms;
}
