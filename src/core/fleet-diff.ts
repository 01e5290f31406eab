import { formatDuration } from './duration.js';
import type { FleetFile, FleetState } from './fleet-state.js';
import { matchesHost } from './host-selector.js';
import { describeSpecChanges } from './spec-diff.js';
import { recordedSpec } from './spec-hash.js';
import type { DesiredService, HostState } from './types.js';

/** Whether a host is named at both revisions, only at HEAD, or only at BASE. */
export type HostPresence = 'both' | 'added' | 'removed';

/** One service of one host that differs between the revisions. */
export interface ServiceChange {
  service: string;
  change: 'added' | 'removed' | 'changed';
  /** The manifest the service comes from at BASE; undefined when added. */
  baseFile?: string;
  /** The manifest the service comes from at HEAD; undefined when removed. */
  headFile?: string;
  /** The image reference at HEAD (at BASE for a removal). */
  image: string;
  /**
   * Field-level reasons in `plan`'s words (`tag 1.4.2 -> 1.5.0`,
   * `environment.RAILS_ENV changed`, `update.order stop-first -> start-first`).
   * Empty for additions and removals.
   */
  reasons: string[];
  /** The container is replaced. False when only update, pull or depends_on changed. */
  recreate: boolean;
  /**
   * The files behind the change: those of its manifests and env files (for a
   * Compose service: its project's compose files, overrides, `.env` and env
   * files, and the repo files it mounts) that differ between the revisions,
   * sorted. When none does (a host newly named in gitdock.yaml), the
   * manifest (compose file) the service comes from.
   */
  files: string[];
}

/** A fleet file changed, but this host's own file of the same service wins: the host is not changed. */
export interface ShadowedOverride {
  service: string;
  fleetFile: string;
  hostFile: string;
}

export interface HostDiff {
  host: string;
  presence: HostPresence;
  /** Sorted by service name. */
  services: ServiceChange[];
  /** Sorted by service name. */
  shadowed: ShadowedOverride[];
  /**
   * HEAD takes every service off a host that may not be empty
   * (no `allow_empty`): `apply` will refuse it.
   */
  refusedEmpty: boolean;
}

/** What one changed fleet file does across the fleet. */
export interface FleetFileImpact {
  file: string;
  service: string;
  change: 'added' | 'removed' | 'changed';
  /** Hosts whose service it changes, sorted. Empty: it reaches no named host. */
  hosts: string[];
  /** Hosts it selects whose own file of the service wins, sorted. */
  shadowed: string[];
}

export interface DiffCounts {
  /** Hosts named at either revision. */
  compared: number;
  /** Hosts with at least one service change. */
  hosts: number;
  /** Service changes, one per host: a fleet file changed on three hosts counts three. */
  services: number;
  added: number;
  removed: number;
  changed: number;
  shadowed: number;
}

export interface FleetDiff {
  base: string;
  head: string;
  /** Hosts with a change or a shadowed override, sorted by name. */
  hosts: HostDiff[];
  /** Fleet files whose content matters changed, sorted by path. */
  fleetFiles: FleetFileImpact[];
  counts: DiffCounts;
}

/**
 * Compares the desired state of every host between two revisions. Pure and
 * deterministic. A host named at only one revision runs nothing at the
 * other, so a new host shows every service it will run.
 */
export function diffFleets(base: FleetState, head: FleetState): FleetDiff {
  const changedPaths = diffPaths(base.files, head.files);
  const hostNames = [...new Set([...base.hosts.keys(), ...head.hosts.keys()])].sort();
  const changedFleet = changedFleetFiles(base.fleetFiles, head.fleetFiles);
  const fleetFor = { base: base.fleetFiles, head: head.fleetFiles };

  const hosts: HostDiff[] = [];
  const impacts = new Map(
    changedFleet.map(({ service, file, change }) => [
      service,
      { file, service, change, hosts: [] as string[], shadowed: [] as string[] },
    ]),
  );
  for (const host of hostNames) {
    const before = base.hosts.get(host);
    const after = head.hosts.get(host);
    const services = diffHost(host, before, after, base, head, changedPaths);
    const changedNames = new Set(services.map((s) => s.service));
    const shadowed = after ? shadowedOn(after, changedFleet, fleetFor, changedNames) : [];

    for (const s of services) {
      // A fleet file is behind a change only when the host takes the service
      // from it at HEAD (or lost it from it): an override swap is the host file's doing.
      const impact = impacts.get(s.service);
      const from = s.change === 'removed' ? s.baseFile : s.headFile;
      if (impact && from === impact.file) impact.hosts.push(host);
    }
    for (const o of shadowed) impacts.get(o.service)?.shadowed.push(host);

    const refusedEmpty =
      after !== undefined &&
      after.services.length === 0 &&
      (before?.services.length ?? 0) > 0 &&
      !after.allowEmpty;
    if (services.length > 0 || shadowed.length > 0) {
      hosts.push({
        host,
        presence: before && after ? 'both' : after ? 'added' : 'removed',
        services,
        shadowed,
        refusedEmpty,
      });
    }
  }

  const all = hosts.flatMap((h) => h.services);
  return {
    base: base.commit,
    head: head.commit,
    hosts,
    fleetFiles: [...impacts.values()].sort((a, b) => compare(a.file, b.file)),
    counts: {
      compared: hostNames.length,
      hosts: hosts.filter((h) => h.services.length > 0).length,
      services: all.length,
      added: all.filter((s) => s.change === 'added').length,
      removed: all.filter((s) => s.change === 'removed').length,
      changed: all.filter((s) => s.change === 'changed').length,
      shadowed: hosts.reduce((n, h) => n + h.shadowed.length, 0),
    },
  };
}

/** True when some host's desired state differs (shadowed fleet changes alone do not count). */
export function hasFleetChanges(diff: FleetDiff): boolean {
  return diff.counts.services > 0;
}

/** One line: `3 hosts, 4 services changed; 1 override shadows a fleet change`. */
export function summarizeDiff(diff: FleetDiff): string {
  const c = diff.counts;
  const head =
    c.services > 0
      ? `${plural(c.hosts, 'host')}, ${plural(c.services, 'service')} changed`
      : `no changes in ${plural(c.compared, 'host')}`;
  const shadow =
    c.shadowed > 0
      ? `; ${plural(c.shadowed, 'override')} ${c.shadowed === 1 ? 'shadows' : 'shadow'} a fleet change`
      : '';
  return head + shadow;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function diffHost(
  host: string,
  before: HostState | undefined,
  after: HostState | undefined,
  base: FleetState,
  head: FleetState,
  changedPaths: ReadonlySet<string>,
): ServiceChange[] {
  const old = new Map((before?.services ?? []).map((s) => [s.name, s]));
  const now = new Map((after?.services ?? []).map((s) => [s.name, s]));
  const names = [...new Set([...old.keys(), ...now.keys()])].sort();
  const changes: ServiceChange[] = [];
  for (const name of names) {
    const a = old.get(name);
    const b = now.get(name);
    const files = causes(host, a, b, base, head, changedPaths);
    if (a && b) {
      const { reasons, recreate } = describeChange(a, b);
      if (reasons.length === 0) continue;
      changes.push({
        service: name,
        change: 'changed',
        baseFile: a.file,
        headFile: b.file,
        image: b.imageRef,
        reasons,
        recreate,
        files,
      });
    } else if (b) {
      changes.push({
        service: name,
        change: 'added',
        headFile: b.file,
        image: b.imageRef,
        reasons: [],
        recreate: false,
        files,
      });
    } else if (a) {
      changes.push({
        service: name,
        change: 'removed',
        baseFile: a.file,
        image: a.imageRef,
        reasons: [],
        recreate: false,
        files,
      });
    }
  }
  return changes;
}

/**
 * Why the service differs, in plan's words. Recorded specs (environment
 * values digested) are compared, so no secret can reach a reason.
 */
function describeChange(
  a: DesiredService,
  b: DesiredService,
): { reasons: string[]; recreate: boolean } {
  const recreate = a.specHash !== b.specHash;
  const reasons = recreate ? describeSpecChanges(recordedSpec(a.spec), recordedSpec(b.spec)) : [];
  if (recreate && reasons.length === 0) reasons.push('spec changed');
  return { reasons: [...reasons, ...rolloutChanges(a, b)], recreate };
}

/** Changes that alter how a service is replaced, not the container: no recreate on their own. */
function rolloutChanges(a: DesiredService, b: DesiredService): string[] {
  const reasons: string[] = [];
  const field = (name: string, x: string, y: string) => {
    if (x !== y) reasons.push(`${name} ${x} -> ${y}`);
  };
  field('update.order', a.rollout.order, b.rollout.order);
  field('update.settle', formatDuration(a.rollout.settleMs), formatDuration(b.rollout.settleMs));
  field(
    'update.health_timeout',
    formatDuration(a.rollout.healthTimeoutMs),
    formatDuration(b.rollout.healthTimeoutMs),
  );
  field('pull', a.rollout.pull, b.rollout.pull);
  for (const dep of [...new Set([...a.dependsOn, ...b.dependsOn])].sort()) {
    if (!a.dependsOn.includes(dep)) reasons.push(`depends_on ${dep} added`);
    else if (!b.dependsOn.includes(dep)) reasons.push(`depends_on ${dep} removed`);
  }
  return reasons;
}

function causes(
  host: string,
  a: DesiredService | undefined,
  b: DesiredService | undefined,
  base: FleetState,
  head: FleetState,
  changedPaths: ReadonlySet<string>,
): string[] {
  const inputsOf = (s: DesiredService, state: FleetState) =>
    (s.project !== undefined
      ? state.composeInputs?.get(host)?.get(s.name)
      : state.inputs.get(s.file)) ?? [s.file];
  const inputs = new Set([...(a ? inputsOf(a, base) : []), ...(b ? inputsOf(b, head) : [])]);
  const changed = [...inputs].filter((p) => changedPaths.has(p)).sort(compare);
  return changed.length > 0 ? changed : [(b ?? a)!.file];
}

/**
 * Fleet files whose content or selector differs (by service name: a rename
 * from `.yml` to `.yaml` is the same service).
 */
function changedFleetFiles(
  before: ReadonlyMap<string, FleetFile>,
  after: ReadonlyMap<string, FleetFile>,
): { service: string; file: string; change: FleetFileImpact['change'] }[] {
  const out: ReturnType<typeof changedFleetFiles> = [];
  for (const service of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(service);
    const b = after.get(service);
    if (a && b && a.content === b.content && a.selector.join('\n') === b.selector.join('\n')) {
      continue;
    }
    const change = a && b ? 'changed' : b ? 'added' : 'removed';
    out.push({ service, file: (b ?? a)!.file, change });
  }
  return out;
}

/** What a fleet file gives one host: its content when it selects the host, else nothing. */
function givenTo(file: FleetFile | undefined, host: string): string | undefined {
  return file && matchesHost(file.selector, host) ? file.content : undefined;
}

/**
 * Changed fleet files whose change would reach this host (what they give it
 * differs between the revisions) but does not, because its own file of the
 * service wins at HEAD and the service did not change.
 */
function shadowedOn(
  after: HostState,
  changedFleet: ReturnType<typeof changedFleetFiles>,
  fleetFor: Record<'base' | 'head', ReadonlyMap<string, FleetFile>>,
  changedNames: ReadonlySet<string>,
): ShadowedOverride[] {
  const out: ShadowedOverride[] = [];
  for (const { service, file } of changedFleet) {
    if (changedNames.has(service)) continue;
    const before = givenTo(fleetFor.base.get(service), after.host);
    const now = givenTo(fleetFor.head.get(service), after.host);
    if (before === now) continue;
    const own = after.services.find((s) => s.name === service && s.origin === 'host');
    if (own) out.push({ service, fleetFile: file, hostFile: own.file });
  }
  return out;
}

/** Paths present at one revision only, or with different bytes. */
function diffPaths(
  a: ReadonlyMap<string, Uint8Array>,
  b: ReadonlyMap<string, Uint8Array>,
): Set<string> {
  const out = new Set<string>();
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(path);
    const y = b.get(path);
    if (!x || !y || !sameBytes(x, y)) out.add(path);
  }
  return out;
}

function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  if (x.byteLength !== y.byteLength) return false;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  return true;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
