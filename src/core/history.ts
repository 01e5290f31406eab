import { isFleetPath, loadFleet } from './fleet.js';
import { diffFleets, type HostDiff } from './fleet-diff.js';
import { type FleetState, resolveFleetState } from './fleet-state.js';
import type { ManifestError, Result } from './types.js';

/** A commit's author or committer line. */
export interface Signature {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  timestamp: number;
  /** Minutes east of UTC, as written in the commit (`+0200` is 120). */
  offsetMinutes: number;
}

/** What history needs of one commit. */
export interface CommitInfo {
  oid: string;
  /** Parents in order; the first is the branch the commit was made on. */
  parents: string[];
  author: Signature;
  message: string;
  /**
   * Identifies the commit's fleet files (gitdock.yaml, hosts/, services/)
   * without reading them: equal keys mean byte-identical fleet files. See
   * {@link fleetTreeKey}.
   */
  fleetKey: string;
}

/**
 * What walking history needs of a repository: commits one at a time, and
 * their fleet files, read incrementally. The companion of `GitSource`
 * (core/git.ts), which resolves the revision to start from. Implemented
 * with isomorphic-git in `adapters/git-history.ts`.
 */
export interface CommitHistory {
  /** Rejects with GITDOCK_E_GIT_READ when the commit cannot be read. */
  readCommit(oid: string): Promise<CommitInfo>;
  /**
   * The commit's fleet files, as `GitSource.readFiles(oid, isFleetPath)`
   * gives them. Walking many commits, an implementation should reuse what
   * it read of unchanged subtrees: most commits change one file.
   */
  readFleetFiles(oid: string): Promise<ReadonlyMap<string, Uint8Array>>;
}

/** One entry of a commit's root tree, as git stores it. */
export interface RootTreeEntry {
  path: string;
  mode: string;
  oid: string;
  type: string;
}

/**
 * The key of a root tree's fleet entries: the `gitdock.yaml` blob and the
 * `hosts/` and `services/` trees, by oid and mode. Git trees are content
 * addressed, so two commits with the same key have the same fleet files and
 * the same desired state, and one whose key equals its parent's changed
 * nothing a host runs: it is skipped without reading a file.
 */
export function fleetTreeKey(entries: readonly RootTreeEntry[]): string {
  return entries
    .filter((e) => isFleetPath(e.path, e.type === 'tree'))
    .map((e) => `${e.mode} ${e.oid} ${e.path}`)
    .sort()
    .join('\n');
}

/** Which part of the fleet the history is about; both unset: everything. */
export interface HistoryFilter {
  host?: string;
  /** A service identity, as {@link matchesServiceIdentity} reads it. */
  service?: string;
}

// A manifest's name (the host-name rule the CLI always took), or a Compose
// identity: the project rule of Compose, the service-key rule of the Compose
// schema, and `#n` for replica n >= 2 (replica 1 has no suffix).
const MANIFEST_IDENTITY = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const COMPOSE_IDENTITY = /^[a-z0-9][a-z0-9_-]*\/[a-zA-Z0-9._-]+(#[1-9][0-9]*)?$/;

/** The service identity rule in words, for `--service` errors. */
export const SERVICE_IDENTITY_RULE =
  "a manifest's service name (appserver), or a Compose service as <project>/<service> (shop/app), <project>/<service>#<n> for its replica n >= 2";

/**
 * Why `value` cannot be a service identity (`--service`), or undefined when
 * it can: a manifest's name or `<project>/<service>[#n]`.
 */
export function checkServiceIdentity(value: string): string | undefined {
  if (MANIFEST_IDENTITY.test(value)) return undefined;
  if (COMPOSE_IDENTITY.test(value)) {
    return /#1$/.test(value) ? `replica 1 has no #1 suffix: use ${value.slice(0, -2)}` : undefined;
  }
  return `use ${SERVICE_IDENTITY_RULE}`;
}

/**
 * Whether a service's identity is the one asked about. A Compose service
 * asked about without `#n` (`shop/app`) stands for all its replicas
 * (`shop/app`, `shop/app#2`, ...): they are one service in the Compose file.
 */
export function matchesServiceIdentity(identity: string, wanted: string): boolean {
  if (identity === wanted) return true;
  return wanted.includes('/') && !wanted.includes('#') && identity.startsWith(`${wanted}#`);
}

/** One listed commit. */
export interface HistoryEntry {
  commit: CommitInfo;
  /** The commit's manifest errors; not empty means the agent does not apply it. */
  errors: ManifestError[];
  /**
   * The commit this one is compared with: its first parent, or, after
   * commits with invalid manifests, the last valid one (what the agents
   * kept running). Undefined when there is none: everything is new. Also
   * undefined for an invalid commit, which is compared with nothing.
   */
  comparedWith?: string;
  /** The first parent has invalid manifests and this commit has none: agents apply again from here. */
  validAgain: boolean;
  /** The hosts whose (filtered) desired state changed, or that shadow a fleet change, sorted. */
  hosts: HostDiff[];
}

/** Why the walk ended. */
export type HistoryStop = 'start' | 'limit' | 'scan-limit';

export interface HistoryResult {
  entries: HistoryEntry[];
  /** Commits read, the start one included. */
  scanned: number;
  /**
   * `start`: the first commit of the branch was reached, the history is whole;
   * `limit`: `limit` commits were listed; `scan-limit`: `maxScan` commits
   * were read and older ones were not looked at.
   */
  stoppedBy: HistoryStop;
}

export interface ReadHistoryOptions {
  history: CommitHistory;
  /** Full sha of the newest commit to look at. */
  from: string;
  filter: HistoryFilter;
  /** At most this many commits are listed. */
  limit: number;
  /** At most this many commits are read. */
  maxScan: number;
}

class ScanLimitReached extends Error {}

const EMPTY_STATE: FleetState = (() => {
  const files = new Map<string, Uint8Array>();
  const fleet = loadFleet(files);
  if (!fleet.ok) throw new Error('an empty repo must load');
  const state = resolveFleetState(fleet.value, files, '');
  if (!state.ok) throw new Error('an empty repo must resolve');
  return state.value;
})();

/**
 * The commits that changed the desired state of the filtered hosts and
 * services, newest first, following first parents from `from` (as
 * `git log --first-parent`: a merged pull request is one change, the one
 * the branch and the agents saw).
 *
 * Each commit is compared with its first parent. A commit whose fleet
 * trees equal its parent's is skipped unread; every other state is resolved
 * once (cached by fleet key). A commit with invalid manifests is listed
 * whatever the filter, since one invalid file stops the agents of every
 * host; the commits after it are compared with the last valid state, which
 * is what the agents kept running.
 */
export async function readHistory(options: ReadHistoryOptions): Promise<HistoryResult> {
  const { history, filter, limit, maxScan } = options;
  const commits = new Map<string, CommitInfo>();
  const states = new Map<string, Promise<Result<FleetState>>>([
    ['', Promise.resolve({ ok: true, value: EMPTY_STATE })],
  ]);

  const read = async (oid: string): Promise<CommitInfo> => {
    const known = commits.get(oid);
    if (known) return known;
    if (commits.size >= maxScan) throw new ScanLimitReached();
    const info = await history.readCommit(oid);
    commits.set(oid, info);
    return info;
  };
  const stateOf = (info: CommitInfo | undefined): Promise<Result<FleetState>> => {
    const key = info?.fleetKey ?? '';
    let state = states.get(key);
    if (!state) {
      state = resolveCommit(history, info!.oid);
      states.set(key, state);
    }
    return state;
  };
  /** The newest valid state at or before `oid`, and the commit it is from. */
  const lastValid = async (
    oid: string | undefined,
  ): Promise<{ commit?: string; state: FleetState }> => {
    while (oid !== undefined) {
      const info = await read(oid);
      const state = await stateOf(info);
      if (state.ok) return { commit: oid, state: state.value };
      oid = info.parents[0];
    }
    return { state: EMPTY_STATE };
  };

  const entries: HistoryEntry[] = [];
  let stoppedBy: HistoryStop = 'start';
  let oid: string | undefined = options.from;
  try {
    while (oid !== undefined) {
      if (entries.length >= limit) {
        stoppedBy = 'limit';
        break;
      }
      const info = await read(oid);
      const parentOid = info.parents[0];
      const parent = parentOid === undefined ? undefined : await read(parentOid);
      oid = parentOid;
      if (info.fleetKey === (parent?.fleetKey ?? '')) continue;

      const state = await stateOf(info);
      if (!state.ok) {
        entries.push({ commit: info, errors: state.errors, validAgain: false, hosts: [] });
        continue;
      }
      const parentState = await stateOf(parent);
      const base = parentState.ok
        ? { commit: parentOid, state: parentState.value }
        : await lastValid(parent!.parents[0]);
      const hosts = filterHosts(diffFleets(base.state, state.value).hosts, filter);
      const validAgain = !parentState.ok;
      if (validAgain || hosts.some((h) => h.services.length > 0)) {
        entries.push({
          commit: info,
          errors: [],
          ...(base.commit === undefined ? {} : { comparedWith: base.commit }),
          validAgain,
          hosts,
        });
      }
    }
  } catch (err) {
    if (!(err instanceof ScanLimitReached)) throw err;
    stoppedBy = 'scan-limit';
  }
  return { entries, scanned: commits.size, stoppedBy };
}

/** Every manifest of a commit, validated whole, then every host it names resolved. */
async function resolveCommit(history: CommitHistory, commit: string): Promise<Result<FleetState>> {
  const files = await history.readFleetFiles(commit);
  const fleet = loadFleet(files);
  return fleet.ok ? resolveFleetState(fleet.value, files, commit) : fleet;
}

/**
 * The part of a fleet diff a filter asks for: the host's changes (or every
 * host's), and of those only the service's. A host is kept when a change or
 * a shadowed override is left; the list stays sorted.
 */
export function filterHosts(hosts: readonly HostDiff[], filter: HistoryFilter): HostDiff[] {
  const out: HostDiff[] = [];
  for (const h of hosts) {
    if (filter.host !== undefined && h.host !== filter.host) continue;
    const services =
      filter.service === undefined
        ? h.services
        : h.services.filter((s) => matchesServiceIdentity(s.service, filter.service!));
    const shadowed =
      filter.service === undefined
        ? h.shadowed
        : h.shadowed.filter((s) => matchesServiceIdentity(s.service, filter.service!));
    if (services.length === 0 && shadowed.length === 0) continue;
    out.push({ ...h, services, shadowed, refusedEmpty: h.refusedEmpty && services.length > 0 });
  }
  return out;
}

/** The first line of a commit message. */
export function commitSubject(message: string): string {
  return message.split('\n', 1)[0]!.trim();
}

/** `2024-05-01T14:03:00+02:00`: the moment in the offset the commit was written in. */
export function formatCommitDate(s: Pick<Signature, 'timestamp' | 'offsetMinutes'>): string {
  const local = new Date((s.timestamp + s.offsetMinutes * 60) * 1000).toISOString();
  const sign = s.offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(s.offsetMinutes);
  const offset = `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  return `${local.slice(0, 19)}${offset}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
