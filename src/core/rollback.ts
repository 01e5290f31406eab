import { posix } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Scalar } from 'yaml';
import { type Fleet, loadFleet, resolveHost } from './fleet.js';
import { type FleetDiff, plural, type ServiceChange } from './fleet-diff.js';
import { type FleetState, namedHosts, resolveFleetState } from './fleet-state.js';
import { matchesServiceIdentity } from './history.js';
import { matchesHost } from './host-selector.js';
import { envFilePath } from './normalize.js';
import { canonicalJson } from './spec-hash.js';
import type { DesiredService, ManifestError, Result } from './types.js';

/**
 * The pure half of `gitdock rollback`: which fleet files change, whether
 * the result is valid, and the commit message. Reading and writing git is
 * the adapter's (src/adapters/git-worktree.ts).
 */

/** Repo files by path (fleet files only: hosts/**, services/**, stacks/**, gitdock.yaml). */
export type FileTree = ReadonlyMap<string, Uint8Array>;

/** New content by path; `null` deletes the file. */
export type FileChanges = ReadonlyMap<string, Uint8Array | null>;

/** Paths present at one side only, or with different bytes; sorted. */
export function changedFiles(a: FileTree, b: FileTree): string[] {
  const out: string[] = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    if (!sameBytes(a.get(path), b.get(path))) out.push(path);
  }
  return out.sort(compare);
}

/** `files` with `changes` applied. */
export function applyChanges(files: FileTree, changes: FileChanges): Map<string, Uint8Array> {
  const out = new Map(files);
  for (const [path, bytes] of changes) {
    if (bytes === null) out.delete(path);
    else out.set(path, bytes);
  }
  return new Map([...out].sort(([a], [b]) => compare(a, b)));
}

/** Loads and resolves a whole tree, as `gitdock validate` and `diff` do. */
export function checkTree(files: FileTree, commit: string): Result<FleetState> {
  const fleet = loadFleet(files);
  if (!fleet.ok) return fleet;
  return resolveFleetState(fleet.value, files, commit);
}

// --- rollback <commit> ------------------------------------------------------

export interface RevertInput {
  /** Fleet files of the commit's parent (its first parent for a merge; empty for a root commit). */
  parent: FileTree;
  /** Fleet files of the commit being reverted. */
  commit: FileTree;
  /** Fleet files at HEAD, which the revert is made on. */
  head: FileTree;
}

export type RevertPlan =
  /** `changes` takes every file the commit changed back to its parent's content. */
  | { kind: 'revert'; paths: string[]; changes: FileChanges }
  /** The commit changed no fleet file. */
  | { kind: 'no-fleet-change' }
  /** Every file the commit changed is already as it was before it. */
  | { kind: 'already-reverted'; paths: string[] }
  /** A later commit changed these files too: HEAD's copy is not the commit's. */
  | { kind: 'conflict'; paths: string[]; conflicts: string[] };

/**
 * The file-level revert of one commit onto HEAD. It applies cleanly only
 * when every file the commit changed is, at HEAD, still exactly what the
 * commit left; otherwise the files that moved on are the conflicts (there is
 * no three-way merge: a half-merged manifest is worse than a refusal).
 */
export function planRevert({ parent, commit, head }: RevertInput): RevertPlan {
  const paths = changedFiles(parent, commit);
  if (paths.length === 0) return { kind: 'no-fleet-change' };
  if (paths.every((p) => sameBytes(head.get(p), parent.get(p)))) {
    return { kind: 'already-reverted', paths };
  }
  const conflicts = paths.filter((p) => !sameBytes(head.get(p), commit.get(p)));
  if (conflicts.length > 0) return { kind: 'conflict', paths, conflicts };
  return { kind: 'revert', paths, changes: new Map(paths.map((p) => [p, parent.get(p) ?? null])) };
}

export interface RevertMessageInput {
  /** Full sha of the reverted commit. */
  commit: string;
  /** Its message; only the subject (first line) is used. */
  message: string;
  paths: string[];
  /** HEAD's desired state against the revert's, when both resolve. */
  diff?: FleetDiff;
  /** When the commit is a merge: the parent it was reverted against. */
  mainline?: string;
}

/** `Revert "<subject>"`, the sha, the files, and every host and service it changes. */
export function revertMessage(input: RevertMessageInput): string {
  const subject = subjectOf(input.message);
  const lines = [
    `Revert "${subject}"`,
    '',
    `This reverts commit ${input.commit}${
      input.mainline ? ` (a merge, against its first parent ${input.mainline})` : ''
    }: its changes to the fleet files are undone.`,
    '',
    'Files:',
    ...input.paths.map((p) => `  ${p}`),
  ];
  lines.push('', ...affectedLines(input.diff));
  return `${lines.join('\n')}\n`;
}

// --- rollback --host H [--service S] --to <commit> ---------------------------

export interface RevisionTree {
  commit: string;
  files: FileTree;
  fleet: Fleet;
}

export interface HostRollbackInput {
  host: string;
  /** Only this service; all of the host's services when undefined. */
  service?: string;
  /** The revision to go back to. */
  target: RevisionTree;
  /** HEAD, which the rollback commit is made on. */
  head: RevisionTree;
}

/** Why a file is written, for the commit body and the command's output. */
export interface FileNote {
  file: string;
  action: 'restored' | 'removed' | 'override' | 'selector';
  detail: string;
}

export type HostRollbackPlan =
  | {
      ok: true;
      /** Empty when the host (or service) already has its desired state of `target`. */
      changes: FileChanges;
      notes: FileNote[];
      /** The resulting tree, validated and resolved. */
      result: FleetState;
    }
  | { ok: false; reasons: string[]; errors: ManifestError[] };

/**
 * The file changes that give `host` (or only `service` on it) the desired
 * state it had at `target`, touching no other host and no other service of
 * the host. In order:
 *
 * 1. The host's own files of each service go back to what they were (a host
 *    file restored, or removed if it did not exist), with env files under
 *    `hosts/<host>/` that it reads.
 * 2. A service that came from a fleet file at `target` and still differs
 *    (the fleet file changed since, for every host it selects) gets a host
 *    override `hosts/<host>/<service>.yaml`: the old fleet file without
 *    `hosts:`, env_file paths rewritten to stay the same files.
 * 3. A service the host did not run at `target` but gets from a fleet file
 *    now: the host's literal name is taken out of the file's `hosts:` list
 *    (the file is removed when it selects nothing else). A glob cannot be
 *    narrowed for one host: that is refused.
 *
 * The result is then checked whole: valid, the services in scope equal to
 * `target`'s, everything else equal to HEAD's. Anything else is refused
 * with the reason, never committed.
 */
export function planHostRollback(input: HostRollbackInput): HostRollbackPlan {
  const { host, service, target, head } = input;
  const fail = (reasons: string[], errors: ManifestError[] = []): HostRollbackPlan => ({
    ok: false,
    reasons,
    errors,
  });
  const wanted = servicesOn(target.fleet, host, target.commit);
  const current = servicesOn(head.fleet, host, head.commit);
  if (!wanted.ok)
    return fail([`${host} does not resolve at ${short(target.commit)}`], wanted.errors);
  if (!current.ok) return fail([`${host} does not resolve at HEAD`], current.errors);

  const all = [...new Set([...wanted.value.keys(), ...current.value.keys()])].sort(compare);
  const names = service ? all.filter((n) => matchesServiceIdentity(n, service)) : all;
  if (service && names.length === 0) {
    return fail([
      `service "${service}" runs on ${host} neither at ${short(target.commit)} nor at HEAD`,
    ]);
  }
  // Compose identities (`shop/app`) have a `/`, a manifest's name never.
  const manifestNames = names.filter((n) => !n.includes('/'));
  const composeNames = names.filter((n) => n.includes('/'));

  const changes = new Map<string, Uint8Array | null>();
  const notes = new Map<string, FileNote>();
  const note = (n: FileNote) => notes.set(n.file, n);
  const at = short(target.commit);

  // 0. Compose projects: their files, as they were.
  const composeRefusal = restoreComposeProjects(
    input,
    composeNames,
    { wanted, current },
    changes,
    note,
  );
  if (composeRefusal) return fail([composeRefusal]);

  // 1. The host's own files, as they were.
  for (const name of manifestNames) {
    const then = target.fleet.hostServices.get(host)?.get(name);
    const now = head.fleet.hostServices.get(host)?.get(name);
    if (now && now.file !== then?.file) {
      changes.set(now.file, null);
      note({ file: now.file, action: 'removed', detail: `not there at ${at}` });
    }
    if (!then) continue;
    const restore = [then.file, ...envInputs(then.file, target)].filter((p) =>
      p.startsWith(`hosts/${host}/`),
    );
    for (const path of restore) {
      const bytes = target.files.get(path)!;
      if (sameBytes(head.files.get(path), bytes)) continue;
      changes.set(path, bytes);
      note({ file: path, action: 'restored', detail: `as at ${at}` });
    }
  }

  // 2 and 3. What the host's files cannot say alone. Decided from HEAD's
  // fleet files, which step 1 did not touch.
  for (const name of manifestNames) {
    const then = wanted.value.get(name);
    if (target.fleet.hostServices.get(host)?.has(name)) {
      const moved = envInputs(then!.file, target).filter(
        (p) =>
          !p.startsWith(`hosts/${host}/`) && !sameBytes(target.files.get(p), head.files.get(p)),
      );
      if (moved.length > 0) {
        return fail([
          `${name} on ${host} cannot be restored by its own files: the env files it reads changed since ${at} (${moved.join(', ')})`,
        ]);
      }
      continue;
    }
    const fleetNow = head.fleet.fleetServices.get(name);
    const given =
      fleetNow && matchesHost(fleetNow.selector ?? [], host) ? fleetNow.normalized : undefined;
    if (then) {
      if (given && sameService(then, given)) continue;
      const file = `hosts/${host}/${name}.yaml`;
      changes.set(file, hostOverride(target.files.get(then.file)!, then.file, host, target.commit));
      note({
        file,
        action: 'override',
        detail: `new host override: ${then.file} as at ${at}, which has changed since for every host it selects; remove this file to follow ${then.file} again`,
      });
    } else if (fleetNow && given) {
      const selector = fleetNow.selector ?? [];
      const globs = selector.filter((p) => p !== host && matchesHost([p], host));
      if (globs.length > 0) {
        return fail([
          `${name} did not run on ${host} at ${at}, and ${fleetNow.file} selects ${host} through ${globs
            .map((g) => `"${g}"`)
            .join(
              ', ',
            )}: a host cannot opt out of a glob; narrow the hosts: list of ${fleetNow.file}`,
        ]);
      }
      if (selector.every((p) => p === host)) {
        changes.set(fleetNow.file, null);
        note({ file: fleetNow.file, action: 'removed', detail: `it selected only ${host}` });
      } else {
        changes.set(fleetNow.file, withoutHost(head.files.get(fleetNow.file)!, host));
        note({
          file: fleetNow.file,
          action: 'selector',
          detail: `${host} taken out of its hosts: list (${name} did not run on ${host} at ${at})`,
        });
      }
    }
  }

  const tree = applyChanges(head.files, changes);
  const result = checkTree(tree, '');
  if (!result.ok) {
    return fail([`the rolled-back revision would be invalid`], result.errors);
  }
  const problems = verifyHostRollback(input, result.value, names);
  if (problems.length > 0 && service && composeNames.length > 0) {
    problems.push(
      `a Compose service is rolled back with its project's files (compose files, overrides, .env, env files, mounted files), and they would change the services above too: roll back the whole host (without --service), or revert the commits that changed ${service}`,
    );
  }
  if (problems.length > 0) return fail(problems);
  // A file written with the bytes it already has is no change.
  for (const [path, bytes] of changes) {
    if (sameBytes(head.files.get(path), bytes ?? undefined)) {
      changes.delete(path);
      notes.delete(path);
    }
  }
  return {
    ok: true,
    changes,
    notes: [...notes.values()]
      .filter((n) => changes.has(n.file))
      .sort((a, b) => compare(a.file, b.file)),
    result: result.value,
  };
}

/**
 * Step 0 of a host rollback, for the Compose services in scope: every file
 * of the host's directory of their projects (`hosts/<host>/<dir>/`: the
 * compose file or a stack's host override, `.env`, env files, mounted
 * files, whatever else is there) goes back to its bytes at the target, and
 * a file that was not there then is removed. What lies outside that
 * directory (a stack's files under `stacks/`, shared with other hosts; a
 * file included from elsewhere) cannot be rolled back for one host: when
 * it changed since the target, the rollback is refused with the reason,
 * which is returned. Undefined: done.
 */
function restoreComposeProjects(
  input: HostRollbackInput,
  names: readonly string[],
  services: Record<'wanted' | 'current', Result<Map<string, DesiredService>>>,
  changes: Map<string, Uint8Array | null>,
  note: (n: FileNote) => void,
): string | undefined {
  const { host, target, head } = input;
  const at = short(target.commit);
  const hostDirs = new Set<string>();
  const sharedDirs = new Set<string>();
  const projects = new Set<string>();
  for (const side of [services.wanted, services.current]) {
    if (!side.ok) continue;
    for (const name of names) {
      const s = side.value.get(name);
      if (s?.project === undefined) continue;
      projects.add(s.project);
      const dir = posix.dirname(s.file);
      if (dir.startsWith(`hosts/${host}/`)) hostDirs.add(dir);
      else {
        sharedDirs.add(dir);
        hostDirs.add(`hosts/${host}/${posix.basename(dir)}`);
      }
    }
  }
  if (projects.size === 0) return undefined;
  const under = (dirs: ReadonlySet<string>, path: string) =>
    [...dirs].some((d) => path.startsWith(`${d}/`));
  // Files the projects read outside the host's own directories: their
  // stacks' files, and files of other hosts' directories they include (a
  // file of another stack is that stack's; the final check catches the rest).
  const outside = new Set<string>();
  for (const tree of [target, head]) {
    for (const path of tree.fleet.compose.get(host)?.files ?? []) {
      if (!path.startsWith(`hosts/${host}/`) && !path.startsWith('stacks/')) outside.add(path);
    }
    for (const path of tree.files.keys()) if (under(sharedDirs, path)) outside.add(path);
  }
  const moved = [...outside]
    .filter((p) => !sameBytes(target.files.get(p), head.files.get(p)))
    .sort(compare);
  if (moved.length > 0) {
    const list = [...projects].sort(compare).join(', ');
    return `project ${list} on ${host} reads files outside hosts/${host}/ that changed since ${at} (${moved.join(', ')}): they are shared with other hosts, so they cannot be rolled back for ${host} alone; revert the commits that changed them (gitdock rollback <commit>), or write ${host}'s difference in an override in hosts/${host}/<project>/`;
  }
  const paths = new Set(
    [...target.files.keys(), ...head.files.keys()].filter((p) => under(hostDirs, p)),
  );
  for (const path of [...paths].sort(compare)) {
    const bytes = target.files.get(path);
    if (sameBytes(head.files.get(path), bytes)) continue;
    changes.set(path, bytes ?? null);
    note(
      bytes
        ? { file: path, action: 'restored', detail: `as at ${at}` }
        : { file: path, action: 'removed', detail: `not there at ${at}` },
    );
  }
  return undefined;
}

/**
 * The proof a host rollback did what it says: each service in scope equals
 * the target's (or is absent, as it was), each other service of the host
 * and every other host the revisions name is as at HEAD.
 */
function verifyHostRollback(
  input: HostRollbackInput,
  result: FleetState,
  names: string[],
): string[] {
  const { host, target, head } = input;
  const problems: string[] = [];
  const resultFleet = loadFleet(result.files);
  if (!resultFleet.ok) return ['the result does not load'];
  const hosts = new Set([...namedHosts(head.fleet), ...namedHosts(resultFleet.value), host]);
  for (const h of [...hosts].sort(compare)) {
    const before = servicesOn(head.fleet, h, head.commit);
    const after = servicesOn(resultFleet.value, h, '');
    const then = servicesOn(target.fleet, h, target.commit);
    if (!after.ok || !before.ok || !then.ok) {
      problems.push(`${h} does not resolve after the rollback`);
      continue;
    }
    for (const name of new Set([...before.value.keys(), ...after.value.keys(), ...names])) {
      const inScope = h === host && names.includes(name);
      const expected = (inScope ? then : before).value.get(name);
      const got = after.value.get(name);
      if (!expected && !got) continue;
      if (expected && got && sameService(expected, got)) continue;
      problems.push(
        `${name} on ${h} would ${got ? (expected ? 'differ from' : 'run, unlike') : 'be missing, unlike'} ${
          inScope ? `at ${short(target.commit)}` : 'at HEAD'
        }`,
      );
    }
  }
  return problems;
}

export interface HostRollbackMessageInput {
  host: string;
  service?: string;
  /** Full sha rolled back to, and its message (the subject is quoted). */
  target: string;
  targetMessage: string;
  notes: FileNote[];
  /** HEAD's desired state against the rollback's. */
  diff: FleetDiff;
}

/** `Roll back web-2 to abc1234`, the service changes, and why each file is written. */
export function hostRollbackMessage(input: HostRollbackMessageInput): string {
  const { host, service } = input;
  const at = short(input.target, 7);
  const scope = service ? `${service} on ${host}` : host;
  const lines = [
    `Roll back ${scope} to ${at}`,
    '',
    `Restores the desired state of ${scope} as it was at ${input.target}`,
    `("${subjectOf(input.targetMessage)}"). Other ${
      service ? `services and hosts are` : 'hosts are'
    } unchanged.`,
    '',
  ];
  const changes = input.diff.hosts.find((h) => h.host === host)?.services ?? [];
  lines.push(`Service changes on ${host}:`);
  if (changes.length === 0) lines.push('  none (only files change)');
  for (const s of changes) lines.push(`  ${describeServiceChange(s)}`);
  lines.push('', 'Files:');
  for (const n of input.notes) lines.push(`  ${n.file}: ${n.action}, ${n.detail}`);
  return `${lines.join('\n')}\n`;
}

// --- shared -------------------------------------------------------------------

/** `appserver: tag 1.5.0 -> 1.4.2`, `worker: added (repo:1.0)`, `cache: removed`. */
export function describeServiceChange(s: ServiceChange): string {
  if (s.change === 'added') return `${s.service}: added (${s.image})`;
  if (s.change === 'removed') return `${s.service}: removed`;
  return `${s.service}: ${s.reasons.join(', ')}`;
}

/** The "Hosts and services affected" block of a commit body. */
export function affectedLines(diff: FleetDiff | undefined): string[] {
  if (!diff) return ['Hosts and services affected: not computed (a revision does not resolve).'];
  const changed = diff.hosts.filter((h) => h.services.length > 0);
  if (changed.length === 0)
    return ["Hosts and services affected: none (no host's desired state changes)."];
  const lines = [
    `Hosts and services affected (${plural(diff.counts.hosts, 'host')}, ${plural(diff.counts.services, 'service')}):`,
  ];
  for (const h of changed) {
    for (const s of h.services) lines.push(`  ${h.host}: ${describeServiceChange(s)}`);
  }
  return lines;
}

/** The first line of a commit message. */
export function subjectOf(message: string): string {
  return message.split('\n', 1)[0]!.trim();
}

function short(sha: string, n = 12): string {
  return sha.slice(0, n);
}

type Comparable = Pick<DesiredService, 'spec' | 'rollout' | 'dependsOn'>;

function servicesOn(
  fleet: Fleet,
  host: string,
  commit: string,
): Result<Map<string, DesiredService>> {
  const state = resolveHost(fleet, host, commit);
  if (!state.ok) return state;
  return { ok: true, value: new Map(state.value.services.map((s) => [s.name, s])) };
}

/** Same container, rollout and dependencies: what the host would run does not differ. */
function sameService(a: Comparable, b: Comparable): boolean {
  const key = (s: Comparable) =>
    canonicalJson({ spec: s.spec, rollout: s.rollout, dependsOn: s.dependsOn });
  return key(a) === key(b);
}

/** The env files a manifest of `tree` reads, as repo paths. */
function envInputs(file: string, tree: RevisionTree): string[] {
  const d = [...tree.fleet.hostServices.values(), tree.fleet.fleetServices]
    .flatMap((m) => [...m.values()])
    .find((x) => x.file === file);
  const envFile = d ? (d.source.value as { env_file?: string | string[] }).env_file : undefined;
  const list = envFile === undefined ? [] : Array.isArray(envFile) ? envFile : [envFile];
  return list.map((e) => envFilePath(file, e));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A fleet file turned into one host's own file: `hosts:` dropped (a host
 * file may not have it), env_file paths rewritten so they still name the
 * same repo files from the new directory, and a comment saying where it
 * came from. Comments and key order of the original are kept.
 */
export function hostOverride(
  fleetBytes: Uint8Array,
  fleetFile: string,
  host: string,
  commit: string,
): Uint8Array {
  const doc = parseDocument(decoder.decode(fleetBytes));
  // A comment above `hosts:` (often the file's first line) belongs to the
  // file, not to the key: keep it on whatever comes next.
  if (isMap(doc.contents)) {
    const items = doc.contents.items;
    const index = items.findIndex((pair) => isScalar(pair.key) && pair.key.value === 'hosts');
    const comment = index === -1 ? undefined : (items[index]!.key as Scalar).commentBefore;
    const next = items[index + 1]?.key;
    if (comment && isScalar(next)) {
      next.commentBefore = next.commentBefore ? `${comment}\n${next.commentBefore}` : comment;
    } else if (comment) {
      doc.commentBefore = doc.commentBefore ? `${doc.commentBefore}\n${comment}` : comment;
    }
  }
  doc.delete('hosts');
  const envFile = doc.get('env_file', true);
  const rewrite = (value: unknown) =>
    typeof value === 'string'
      ? posix.relative(`hosts/${host}`, envFilePath(fleetFile, value))
      : value;
  if (isScalar(envFile)) envFile.value = rewrite(envFile.value);
  else if (isSeq(envFile)) {
    for (const item of envFile.items) if (isScalar(item)) item.value = rewrite(item.value);
  }
  const header = [
    ` Rolled back by gitdock: ${fleetFile} as at ${short(commit, 7)}, for ${host} only.`,
    ` Remove this file to make ${host} follow ${fleetFile} again.`,
  ].join('\n');
  doc.commentBefore = doc.commentBefore ? `${header}\n${doc.commentBefore}` : header;
  return encoder.encode(doc.toString());
}

/** A fleet file with `host` taken out of its `hosts:` list (literal entries only). */
export function withoutHost(fleetBytes: Uint8Array, host: string): Uint8Array {
  const doc = parseDocument(decoder.decode(fleetBytes));
  const hosts = doc.get('hosts', true);
  if (isSeq(hosts)) {
    hosts.items = hosts.items.filter((item) => !(isScalar(item) && item.value === host));
  }
  return encoder.encode(doc.toString());
}

function sameBytes(x: Uint8Array | undefined, y: Uint8Array | undefined): boolean {
  if (x === undefined || y === undefined) return x === y;
  if (x.byteLength !== y.byteLength) return false;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  return true;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
