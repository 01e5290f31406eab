/**
 * `gitdock status`, the pure part: what each host should run (the repo at
 * one revision) merged with what each agent reports, or, for a host whose
 * agent cannot be asked, with the commit its `refs/gitdock/applied/<host>`
 * names. Sync is decided on desired state, not on commit ids: a commit that
 * changes nothing for a host does not make that host out of sync.
 */
import {
  HEALTH_STATUSES,
  type HealthStatus,
  type RolloutStatus,
  SYNC_STATUSES,
  type SyncStatus,
} from './agent-status.js';
import { plural } from './fleet-diff.js';
import { assignWaves, describeRollout, type RolloutConfig } from './rollout.js';
import type { DesiredService, HostState } from './types.js';

/** An agent's sync verdict, or Unknown where no agent could be asked. */
export type FleetSync = SyncStatus | 'Unknown';
export type FleetHealth = HealthStatus;

/** One service as an agent's `/status` reports it (the fields status reads). */
export interface AgentServiceReport {
  name: string;
  sync: string;
  health: string;
  desiredImage: string | null;
  runningImage: string | null;
  commit: string | null;
  reason?: string;
}

/** An agent's `/status`, checked by {@link parseAgentStatus}. */
export interface AgentReport {
  host: string;
  branch: string | null;
  desiredCommit: string | null;
  /** The commit the agent's `services` were computed against; null from an agent that does not say. */
  servicesCommit: string | null;
  lastAttemptedCommit: string | null;
  lastAppliedCommit: string | null;
  lastReconcile: { startedAt: string; finishedAt: string | null; result: string } | null;
  engine: { reachable: boolean; error?: string };
  /** `code` and `service` come from agents of this release on; older ones send only `message`. */
  errors: { message: string; code?: string; service?: string }[];
  services: AgentServiceReport[];
  /** Where the host stands in a release by waves (agents of this release on). */
  rollout?: RolloutStatus | null;
}

/** What asking one agent gave: its report, or why there is none. */
export type AgentAnswer = { ok: true; report: AgentReport } | { ok: false; error: string };

/** `refs/gitdock/applied/<host>` as read from the repository. */
export interface AppliedRef {
  ref: string;
  commit: string;
  /** Committer time of the commit, ms since the epoch; null when it cannot be read. */
  committedAt: number | null;
  error?: string;
}

/** A host's desired services at a commit other than the one asked about, or why they are unknown. */
export type DesiredAt =
  | { ok: true; services: readonly DesiredService[] }
  | { ok: false; error: string };

export interface FleetStatusInput {
  rev: string;
  /** The commit `rev` names: the desired state. */
  commit: string;
  /** The repository's current branch when `rev` is HEAD; compared with each agent's branch. */
  branch: string | null;
  /** Every host the revision names, resolved. */
  desired: ReadonlyMap<string, HostState>;
  /** Agent URL by host (gitdock.yaml `hosts.<host>.agent`). */
  agents: ReadonlyMap<string, string>;
  /** The answer of every agent in `agents`. */
  answers: ReadonlyMap<string, AgentAnswer>;
  appliedRefs: ReadonlyMap<string, AppliedRef>;
  /** The host's desired services at another commit (an agent's, an applied ref's). */
  desiredAt: (host: string, commit: string) => DesiredAt;
  /** ms since the epoch, for ages. */
  now: number;
  /** gitdock.yaml `rollout` at the revision and the hosts it is over: the release is shown by waves. */
  rollout?: { config: RolloutConfig; hosts: readonly string[] };
  /** `refs/gitdock/failed/<host>` by host: the commit a release failed at there. */
  failedRefs?: ReadonlyMap<string, string>;
}

/** One host of a wave in the release of the revision: has it applied it, failed at it, or neither yet? */
export interface WaveHost {
  host: string;
  state: 'applied' | 'failed' | 'pending';
}

/** The release of the revision by waves (gitdock.yaml `rollout`), from the hosts' reports. */
export interface WavesView {
  waves: { wave: number; hosts: WaveHost[] }[];
  /** The first wave with a host that failed at the revision: every later wave waits. */
  haltedAt: number | null;
}

export interface ServiceRow {
  service: string;
  sync: FleetSync;
  health: FleetHealth;
  /** The image the revision asks for; null when the revision no longer runs the service. */
  desiredImage: string | null;
  /** From the agent: the container's image; from an applied ref: the image at that commit. */
  runningImage: string | null;
  /** From the agent: the container's io.gitdock.commit; from an applied ref: the applied commit. */
  runningCommit: string | null;
  reason: string | null;
}

export interface HostRow {
  host: string;
  agent: string | null;
  /** null: no agent configured. */
  reachable: boolean | null;
  /** Why the agent could not be asked. */
  error: string | null;
  /** Where the running state comes from. */
  source: 'agent' | 'applied-ref' | 'none';
  sync: FleetSync;
  /** The agent has not read the revision asked about (it is at another commit). */
  pending: boolean;
  agentBranch: string | null;
  agentCommit: string | null;
  lastAppliedCommit: string | null;
  lastReconcile: { result: string; at: string; ageMs: number | null } | null;
  appliedRef: {
    ref: string;
    commit: string;
    committedAt: string | null;
    ageMs: number | null;
  } | null;
  /** While the newest commit waits for the host's wave: who holds it up. */
  rollout: RolloutStatus | null;
  notes: string[];
  services: ServiceRow[];
}

export interface FleetStatusCounts {
  hosts: number;
  services: number;
  synced: number;
  outOfSync: number;
  failed: number;
  unknown: number;
  unreachable: number;
  noAgent: number;
  pending: number;
}

export interface FleetStatus {
  rev: string;
  commit: string;
  branch: string | null;
  hosts: HostRow[];
  counts: FleetStatusCounts;
  /** Every host confirmed Synced by its agent: what `--exit-code` tests. */
  synced: boolean;
  /** With gitdock.yaml `rollout`: the release of the revision, wave by wave. */
  waves: WavesView | null;
}

const RANK: Record<FleetSync, number> = { Synced: 0, Unknown: 1, OutOfSync: 2, Failed: 3 };
const AGENT_SYNC = new Set<string>(SYNC_STATUSES);
const AGENT_HEALTH = new Set<string>(HEALTH_STATUSES);
/** Agent errors shown per host; the agent's /status has them all. */
const ERRORS_SHOWN = 3;

/**
 * The commit an agent's service verdicts are of: while a pass at a newer
 * commit runs, that is behind its desiredCommit. An agent that does not say
 * (`servicesCommit` null) is taken to be at its desiredCommit.
 */
export function verdictCommit(report: AgentReport): string | null {
  return report.servicesCommit !== null && report.desiredCommit !== null
    ? report.servicesCommit
    : report.desiredCommit;
}

export function short(commit: string): string {
  return commit.slice(0, 12);
}

/** The worse of two sync states: Failed, then OutOfSync, then Unknown, then Synced. */
export function worstSync(a: FleetSync, b: FleetSync): FleetSync {
  return RANK[a] >= RANK[b] ? a : b;
}

/** Merges desired state, agent answers and applied refs into one row per host, sorted by name. */
export function mergeFleetStatus(input: FleetStatusInput): FleetStatus {
  const names = new Set([
    ...input.desired.keys(),
    ...input.agents.keys(),
    ...input.appliedRefs.keys(),
  ]);
  const hosts = [...names].sort().map((host) => hostRow(input, host));
  const counts: FleetStatusCounts = {
    hosts: hosts.length,
    services: 0,
    synced: 0,
    outOfSync: 0,
    failed: 0,
    unknown: 0,
    unreachable: hosts.filter((h) => h.reachable === false).length,
    noAgent: hosts.filter((h) => h.reachable === null).length,
    pending: hosts.filter((h) => h.pending).length,
  };
  for (const s of hosts.flatMap((h) => h.services)) {
    counts.services++;
    if (s.sync === 'Synced') counts.synced++;
    else if (s.sync === 'OutOfSync') counts.outOfSync++;
    else if (s.sync === 'Failed') counts.failed++;
    else counts.unknown++;
  }
  return {
    rev: input.rev,
    commit: input.commit,
    branch: input.branch,
    hosts,
    counts,
    synced: hosts.every((h) => h.sync === 'Synced'),
    waves: input.rollout ? wavesView(input, input.rollout) : null,
  };
}

/** Each wave's hosts and where they stand with the revision, from the applied and failed refs. */
function wavesView(
  input: FleetStatusInput,
  rollout: NonNullable<FleetStatusInput['rollout']>,
): WavesView {
  const assigned = assignWaves(rollout.hosts, rollout.config);
  const waves: WavesView['waves'] = [];
  for (const [host, index] of [...assigned].sort(([a], [b]) => a.localeCompare(b))) {
    const applied = input.appliedRefs.get(host)?.commit === input.commit;
    const failed = input.failedRefs?.get(host) === input.commit;
    const state: WaveHost['state'] = applied ? 'applied' : failed ? 'failed' : 'pending';
    let wave = waves.find((w) => w.wave === index + 1);
    if (!wave) {
      wave = { wave: index + 1, hosts: [] };
      waves.push(wave);
    }
    wave.hosts.push({ host, state });
  }
  waves.sort((a, b) => a.wave - b.wave);
  const halted = waves.find((w) => w.hosts.some((h) => h.state === 'failed'));
  return { waves, haltedAt: halted?.wave ?? null };
}

function hostRow(input: FleetStatusInput, host: string): HostRow {
  const desired = input.desired.get(host)?.services ?? [];
  const url = input.agents.get(host) ?? null;
  const answer = url ? input.answers.get(host) : undefined;
  const base: HostRow = {
    host,
    agent: url,
    reachable: url ? (answer?.ok ?? false) : null,
    error: answer && !answer.ok ? answer.error : url && !answer ? 'not asked' : null,
    source: 'none',
    sync: 'Unknown',
    pending: false,
    agentBranch: null,
    agentCommit: null,
    lastAppliedCommit: null,
    lastReconcile: null,
    appliedRef: null,
    rollout: null,
    notes: [],
    services: [],
  };
  if (answer?.ok) return fromAgent(input, base, desired, answer.report);
  return fromAppliedRef(input, base, desired);
}

function fromAgent(
  input: FleetStatusInput,
  row: HostRow,
  desired: readonly DesiredService[],
  report: AgentReport,
): HostRow {
  row.source = 'agent';
  row.agentBranch = report.branch;
  row.agentCommit = report.desiredCommit;
  row.lastAppliedCommit = report.lastAppliedCommit;
  if (report.lastReconcile) {
    const at = report.lastReconcile.finishedAt ?? report.lastReconcile.startedAt;
    row.lastReconcile = { result: report.lastReconcile.result, at, ageMs: ageOf(at, input.now) };
  }
  const verdictsAt = verdictCommit(report);
  row.pending = report.desiredCommit !== input.commit || verdictsAt !== input.commit;

  // The agent's verdicts hold for the services whose desired spec is the same
  // at that commit as at ours; the others are pending.
  let agentDesired: DesiredAt = { ok: true, services: desired };
  if (row.pending) {
    agentDesired =
      verdictsAt === null
        ? { ok: false, error: 'the agent has not read the branch yet' }
        : verdictsAt === input.commit
          ? agentDesired
          : input.desiredAt(row.host, verdictsAt);
    row.notes.push(
      verdictsAt === null
        ? `pending: the agent has not read its branch yet`
        : report.desiredCommit === input.commit
          ? `pending: the agent is applying ${short(input.commit)}; its service states are still those of ${short(verdictsAt)}`
          : verdictsAt === input.commit
            ? `the agent has read ${short(report.desiredCommit ?? verdictsAt)} (not applied yet, or invalid); its service states are of ${short(input.commit)}`
            : agentDesired.ok
              ? `pending: the agent is at ${short(verdictsAt)}, not ${short(input.commit)} (it has not seen the latest push, or follows another branch)`
              : `pending: the agent is at ${short(verdictsAt)}, which cannot be compared: ${agentDesired.error}`,
    );
  }
  if (input.branch && report.branch && report.branch !== input.branch) {
    row.notes.push(
      `the agent follows branch ${report.branch}; this repository is on ${input.branch}`,
    );
  }

  const reported = new Map(report.services.map((s) => [s.name, s]));
  const atAgent = agentDesired.ok ? byName(agentDesired.services) : undefined;
  const atRev = byName(desired);
  for (const name of sortedUnion(atRev.keys(), reported.keys(), atAgent?.keys() ?? [])) {
    const d = atRev.get(name);
    const a = reported.get(name);
    const b = atAgent?.get(name);
    const running = {
      runningImage: a?.runningImage ?? null,
      runningCommit: a?.commit ?? null,
      health: a ? healthOf(a.health) : ('Unknown' as const),
    };
    const service = (sync: FleetSync, reason: string | null): ServiceRow => ({
      service: name,
      sync,
      health: running.health,
      desiredImage: d?.imageRef ?? null,
      runningImage: running.runningImage,
      runningCommit: running.runningCommit,
      reason,
    });
    if (!agentDesired.ok) {
      row.services.push(service('Unknown', `the agent's commit cannot be compared`));
    } else if (d && b && d.specHash === b.specHash) {
      row.services.push(
        a
          ? service(syncOf(a.sync), a.reason ?? null)
          : service(
              'OutOfSync',
              `not reported by the agent (last pass: ${row.lastReconcile?.result ?? 'none'})`,
            ),
      );
    } else if (d && b) {
      row.services.push(service('OutOfSync', `pending: ${changeOf(b, d)}`));
    } else if (d) {
      row.services.push(service('OutOfSync', `pending: added at ${short(input.commit)}`));
    } else if (b) {
      row.services.push(service('OutOfSync', `pending: removed at ${short(input.commit)}`));
    } else {
      row.services.push(
        service('OutOfSync', `the agent reports a service ${short(input.commit)} does not run`),
      );
    }
  }

  let sync = row.services.reduce<FleetSync>((acc, s) => worstSync(acc, s.sync), 'Synced');
  if (report.rollout) {
    row.rollout = report.rollout;
    row.notes.push(`rollout ${describeRollout(report.rollout)}`);
  }
  if (!report.engine.reachable) {
    row.notes.push(`engine unreachable${report.engine.error ? `: ${report.engine.error}` : ''}`);
    sync = worstSync(sync, 'Unknown');
  }
  const result = report.lastReconcile?.result;
  if (result === 'refused' || result === 'invalid') {
    row.notes.push(
      result === 'refused'
        ? 'last pass refused: the commit would remove every service of the host'
        : 'last pass: the commit has invalid manifests; nothing was applied',
    );
    sync = worstSync(sync, 'OutOfSync');
  }
  if (result !== 'success' && result !== 'running') {
    for (const e of report.errors.slice(0, ERRORS_SHOWN)) {
      row.notes.push(`agent error: ${e.message.split('\n')[0]}`);
    }
    if (report.errors.length > ERRORS_SHOWN) {
      row.notes.push(
        `and ${plural(report.errors.length - ERRORS_SHOWN, 'more error')} (see its /status)`,
      );
    }
  }
  row.sync = sync;
  return row;
}

function fromAppliedRef(
  input: FleetStatusInput,
  row: HostRow,
  desired: readonly DesiredService[],
): HostRow {
  const ref = input.appliedRefs.get(row.host);
  if (row.reachable === null)
    row.notes.push('no agent configured (hosts.<host>.agent in gitdock.yaml)');
  const unknown = (reason: string | null) => {
    row.services = desired.map((d) => ({
      service: d.name,
      sync: 'Unknown' as const,
      health: 'Unknown' as const,
      desiredImage: d.imageRef,
      runningImage: null,
      runningCommit: null,
      reason,
    }));
    row.sync = 'Unknown';
    return row;
  };
  if (!ref) {
    row.notes.push(`no refs/gitdock/applied/${row.host}: what runs there is not known`);
    return unknown(null);
  }
  row.source = 'applied-ref';
  row.appliedRef = {
    ref: ref.ref,
    commit: ref.commit,
    committedAt: ref.committedAt === null ? null : new Date(ref.committedAt).toISOString(),
    ageMs: ref.committedAt === null ? null : Math.max(0, input.now - ref.committedAt),
  };
  const applied: DesiredAt = ref.error
    ? { ok: false, error: ref.error }
    : ref.commit === input.commit
      ? { ok: true, services: desired }
      : input.desiredAt(row.host, ref.commit);
  const age =
    row.appliedRef.ageMs === null ? '' : ` (committed ${formatAge(row.appliedRef.ageMs)} ago)`;
  row.notes.push(`shown from ${ref.ref} at ${short(ref.commit)}${age}; health unknown`);
  if (!applied.ok) {
    row.notes.push(`the applied commit cannot be read: ${applied.error}`);
    return unknown(`applied commit ${short(ref.commit)} cannot be read`);
  }
  const atRef = byName(applied.services);
  const atRev = byName(desired);
  for (const name of sortedUnion(atRev.keys(), atRef.keys())) {
    const d = atRev.get(name);
    const b = atRef.get(name);
    let sync: FleetSync = 'OutOfSync';
    let reason: string | null;
    if (d && b && d.specHash === b.specHash) {
      sync = 'Synced';
      reason = null;
    } else if (d && b) reason = `not applied: ${changeOf(b, d)}`;
    else if (d) reason = `not applied: not in ${short(ref.commit)}`;
    else reason = `not applied: removed since ${short(ref.commit)}`;
    row.services.push({
      service: name,
      sync,
      health: 'Unknown',
      desiredImage: d?.imageRef ?? null,
      runningImage: b?.imageRef ?? null,
      runningCommit: b ? ref.commit : null,
      reason,
    });
  }
  // Never Synced: the services match the applied commit, but nothing says the
  // containers still run it.
  row.sync = row.services.reduce<FleetSync>((acc, s) => worstSync(acc, s.sync), 'Unknown');
  return row;
}

/** `image 1.0 -> 1.1`, or `spec changed` when the image is the same. */
function changeOf(from: DesiredService, to: DesiredService): string {
  return from.imageRef === to.imageRef
    ? 'spec changed'
    : `image ${imageLabel(from.imageRef)} -> ${imageLabel(to.imageRef)}`;
}

/** The tag (or short digest) of an image reference: what a table has room for. */
export function imageLabel(ref: string): string {
  const at = ref.indexOf('@');
  if (at >= 0) return ref.slice(at + 1).replace(/^(sha256:[0-9a-f]{12})[0-9a-f]*$/, '$1');
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(colon + 1) : 'latest';
}

function healthOf(health: string): FleetHealth {
  return AGENT_HEALTH.has(health) ? (health as FleetHealth) : 'Unknown';
}

function syncOf(sync: string): FleetSync {
  return AGENT_SYNC.has(sync) ? (sync as FleetSync) : 'Unknown';
}

function ageOf(iso: string, now: number): number | null {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : Math.max(0, now - t);
}

function byName(services: readonly DesiredService[]): Map<string, DesiredService> {
  return new Map(services.map((s) => [s.name, s]));
}

function sortedUnion(...lists: Iterable<string>[]): string[] {
  return [...new Set(lists.flatMap((l) => [...l]))].sort();
}

/** `2 hosts, 5 services: 4 Synced, 1 OutOfSync; 1 agent unreachable` */
export function summarizeFleetStatus(status: FleetStatus): string {
  const c = status.counts;
  const bySync = [
    [c.synced, 'Synced'],
    [c.outOfSync, 'OutOfSync'],
    [c.failed, 'Failed'],
    [c.unknown, 'Unknown'],
  ] as const;
  const parts = bySync.filter(([n]) => n > 0).map(([n, word]) => `${n} ${word}`);
  let text = `${plural(c.hosts, 'host')}, ${plural(c.services, 'service')}`;
  if (parts.length > 0) text += `: ${parts.join(', ')}`;
  const hostNotes = [
    ...(c.unreachable > 0 ? [`${plural(c.unreachable, 'agent')} unreachable`] : []),
    ...(c.noAgent > 0 ? [`${plural(c.noAgent, 'host')} without an agent`] : []),
    ...(c.pending > 0 ? [`${plural(c.pending, 'agent')} pending`] : []),
  ];
  if (hostNotes.length > 0) text += `; ${hostNotes.join(', ')}`;
  return text;
}

/** `now`, `12s`, `5m`, `3h`, `2d`: how long ago, to the largest unit. */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/**
 * Checks an agent's `/status` body: an untrusted answer from the network
 * becomes an {@link AgentReport}, or the reason it is not one. The agent
 * must name the host it was asked about: a URL pointing at another host's
 * agent would otherwise show that host's containers.
 */
export function parseAgentStatus(body: unknown, host: string): AgentAnswer {
  const bad = (why: string): AgentAnswer => ({
    ok: false,
    error: `not a gitdock agent status: ${why}`,
  });
  if (!isObject(body)) return bad('not a JSON object');
  if (typeof body.host !== 'string') return bad('no "host"');
  if (body.host !== host) {
    return { ok: false, error: `the agent there is for host "${body.host}", not "${host}"` };
  }
  if (!Array.isArray(body.services)) return bad('no "services" list');
  const services: AgentServiceReport[] = [];
  for (const s of body.services) {
    if (!isObject(s) || typeof s.name !== 'string' || typeof s.sync !== 'string') {
      return bad('a service without "name" or "sync"');
    }
    services.push({
      name: s.name,
      sync: s.sync,
      health: stringOr(s.health, 'Unknown'),
      desiredImage: stringOrNull(s.desiredImage),
      runningImage: stringOrNull(s.runningImage),
      commit: stringOrNull(s.commit),
      ...(typeof s.reason === 'string' ? { reason: s.reason } : {}),
    });
  }
  const last = isObject(body.lastReconcile) ? body.lastReconcile : null;
  const engine = isObject(body.engine) ? body.engine : {};
  return {
    ok: true,
    report: {
      host,
      branch: stringOrNull(body.branch),
      desiredCommit: stringOrNull(body.desiredCommit),
      servicesCommit: stringOrNull(body.servicesCommit),
      lastAttemptedCommit: stringOrNull(body.lastAttemptedCommit),
      lastAppliedCommit: stringOrNull(body.lastAppliedCommit),
      lastReconcile:
        last && typeof last.startedAt === 'string'
          ? {
              startedAt: last.startedAt,
              finishedAt: stringOrNull(last.finishedAt),
              result: stringOr(last.result, 'unknown'),
            }
          : null,
      engine: {
        reachable: engine.reachable !== false,
        ...(typeof engine.error === 'string' ? { error: engine.error } : {}),
      },
      errors: Array.isArray(body.errors)
        ? body.errors.filter(isObject).map((e) => ({
            message: stringOr(e.message, ''),
            ...(typeof e.code === 'string' ? { code: e.code } : {}),
            ...(typeof e.service === 'string' ? { service: e.service } : {}),
          }))
        : [],
      services,
      ...(isRolloutStatus(body.rollout) ? { rollout: body.rollout } : {}),
    },
  };
}

/** Enough of a rollout status to describe it (the agent's own shape, trusted no further). */
function isRolloutStatus(value: unknown): value is RolloutStatus {
  return (
    isObject(value) &&
    typeof value.commit === 'string' &&
    typeof value.wave === 'number' &&
    typeof value.waves === 'number' &&
    ['waiting', 'soaking', 'halted'].includes(value.state as string) &&
    Array.isArray(value.blockers) &&
    value.blockers.every((b) => isObject(b) && typeof b.host === 'string')
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
