/**
 * One writer per host: the pure half of the host lock. The lock is an object
 * on the host's engine (see `Engine.createLock`) whose labels say which
 * process holds it; this module writes and reads those labels, decides
 * whether a holder is still there, and words the refusal. No IO: the caller
 * says whether the holder's process runs (`adapters/process-identity.ts`)
 * and talks to the engine (`reconcile/host-lock.ts`).
 */

import { isValidName } from './names.js';

/** What holds a lock: an agent for as long as it runs, an apply for one run. */
export type LockKind = 'agent' | 'apply';

/** Who a process is, as far as a lock needs to tell it from every other one. */
export interface ProcessIdentity {
  pid: number;
  /**
   * Field 22 of /proc/<pid>/stat (clock ticks after boot): with the pid and
   * the boot, it names one process, even after the pid is reused. '' where
   * there is no /proc.
   */
  startTime: string;
  /** /etc/machine-id, else the hostname. */
  machineId: string;
  /** /proc/sys/kernel/random/boot_id: changes at every boot. '' where unknown. */
  bootId: string;
  /**
   * The pid namespace (`readlink /proc/self/ns/pid`): two containers may
   * share a machine id and a boot, but not their pids. '' where unknown.
   */
  pidNamespace: string;
  hostname: string;
  /** The gitdock version. */
  version: string;
}

/** The labels of a lock object. */
export const LOCK_LABELS = {
  kind: 'io.gitdock.lock.kind',
  host: 'io.gitdock.lock.host',
  pid: 'io.gitdock.lock.pid',
  startTime: 'io.gitdock.lock.start-time',
  machineId: 'io.gitdock.lock.machine-id',
  bootId: 'io.gitdock.lock.boot-id',
  pidNamespace: 'io.gitdock.lock.pid-ns',
  hostname: 'io.gitdock.lock.hostname',
  version: 'io.gitdock.lock.version',
  startedAt: 'io.gitdock.lock.started-at',
} as const;

const LOCK_PREFIX = 'gitdock-lock.';

/**
 * The name of a host's lock object: `gitdock-lock.<host>`. A valid host name
 * (see names.ts) makes a valid volume or network name on every engine
 * (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`); anything else is undefined.
 */
export function hostLockName(host: string): string | undefined {
  return isValidName(host) ? `${LOCK_PREFIX}${host}` : undefined;
}

/** The labels recording `me` as the holder of `host`'s lock since `startedAt` (ISO time). */
export function lockLabels(
  me: ProcessIdentity,
  options: { kind: LockKind; host: string; startedAt: string },
): Record<string, string> {
  return {
    [LOCK_LABELS.kind]: options.kind,
    [LOCK_LABELS.host]: options.host,
    [LOCK_LABELS.pid]: String(me.pid),
    [LOCK_LABELS.startTime]: me.startTime,
    [LOCK_LABELS.machineId]: me.machineId,
    [LOCK_LABELS.bootId]: me.bootId,
    [LOCK_LABELS.pidNamespace]: me.pidNamespace,
    [LOCK_LABELS.hostname]: me.hostname,
    [LOCK_LABELS.version]: me.version,
    [LOCK_LABELS.startedAt]: options.startedAt,
  };
}

/** A lock's holder, read back from its labels. Missing labels read as '' (pid: undefined). */
export interface LockHolder {
  /** `unknown` when the labels do not say (a lock object made by hand, or damaged). */
  kind: LockKind | 'unknown';
  host: string;
  pid: number | undefined;
  startTime: string;
  machineId: string;
  bootId: string;
  pidNamespace: string;
  hostname: string;
  version: string;
  /** When the holder took the lock: its own label, else the engine's creation time. */
  startedAt: string;
  /** The lock object. */
  lock: { id: string; name: string; createdAt: string };
}

/** Reads the holder from a lock object (an `EngineLock`). */
export function parseLockHolder(lock: {
  id: string;
  name: string;
  labels: Record<string, string>;
  createdAt: string;
}): LockHolder {
  const label = (key: string) => lock.labels[key] ?? '';
  const kind = label(LOCK_LABELS.kind);
  const pidText = label(LOCK_LABELS.pid);
  const pid = /^[1-9][0-9]{0,9}$/.test(pidText) ? Number(pidText) : undefined;
  return {
    kind: kind === 'agent' || kind === 'apply' ? kind : 'unknown',
    host: label(LOCK_LABELS.host),
    pid,
    startTime: label(LOCK_LABELS.startTime),
    machineId: label(LOCK_LABELS.machineId),
    bootId: label(LOCK_LABELS.bootId),
    pidNamespace: label(LOCK_LABELS.pidNamespace),
    hostname: label(LOCK_LABELS.hostname),
    version: label(LOCK_LABELS.version),
    startedAt: label(LOCK_LABELS.startedAt) || lock.createdAt,
    lock: { id: lock.id, name: lock.name, createdAt: lock.createdAt },
  };
}

/**
 * Whether the holder's pid can be looked at on this machine: the same machine
 * id and pid namespace. Only then does `holderAlive` mean anything.
 */
export function sameMachine(holder: LockHolder, me: ProcessIdentity): boolean {
  return (
    holder.kind !== 'unknown' &&
    holder.pid !== undefined &&
    holder.machineId !== '' &&
    holder.machineId === me.machineId &&
    holder.pidNamespace === me.pidNamespace
  );
}

export type LockVerdict =
  /** This very process holds it (a create that succeeded but whose answer was lost). */
  | { verdict: 'mine'; reason: string }
  /** Someone else holds it, or may: refuse. */
  | { verdict: 'held'; reason: string }
  /** Its holder is gone for sure: it may be removed and taken. */
  | { verdict: 'stale'; reason: string };

/**
 * Held, stale or mine. Only a holder on this machine is ever stale: another
 * machine's process cannot be looked at, so its lock is never broken
 * automatically (`gitdock unlock` does that).
 *
 * `holderAlive`: whether a process with the holder's pid and start time runs
 * on this machine (not looked at unless `sameMachine`).
 */
export function decideLock(input: {
  holder: LockHolder;
  me: ProcessIdentity;
  holderAlive: boolean;
}): LockVerdict {
  const { holder, me, holderAlive } = input;
  if (holder.kind === 'unknown' || holder.pid === undefined || holder.machineId === '') {
    return { verdict: 'held', reason: 'the lock does not say which process holds it' };
  }
  if (!sameMachine(holder, me)) {
    return { verdict: 'held', reason: 'held by a process on another machine' };
  }
  if (holder.bootId !== me.bootId) {
    return { verdict: 'stale', reason: 'this machine was restarted since the lock was taken' };
  }
  if (holder.pid === me.pid && holder.startTime === me.startTime) {
    return { verdict: 'mine', reason: 'held by this process' };
  }
  if (!holderAlive) {
    return {
      verdict: 'stale',
      reason: `process ${holder.pid} that took it is no longer running on this machine`,
    };
  }
  return { verdict: 'held', reason: `process ${holder.pid} is running on this machine` };
}

/** `the gitdock agent (pid 1234 on machine web-1, since 2025-01-01T00:00:00.000Z)` */
export function describeHolder(holder: LockHolder): string {
  if (holder.kind === 'unknown' || holder.pid === undefined) {
    return `lock object ${holder.lock.name} (created ${holder.lock.createdAt}), which does not say which gitdock process holds it`;
  }
  const what = holder.kind === 'agent' ? 'the gitdock agent' : 'a gitdock apply';
  const machine = holder.hostname || holder.machineId;
  return `${what} (pid ${holder.pid} on machine ${machine}, since ${holder.startedAt})`;
}

/**
 * The refusal, naming the holder and the way forward. `onThisMachine`: the
 * holder runs here (so it is alive: a dead one would have been stale).
 */
export function lockHeldMessage(host: string, holder: LockHolder, onThisMachine: boolean): string {
  const unlock = `gitdock unlock --host ${host}`;
  if (holder.kind === 'unknown' || holder.pid === undefined) {
    return `host ${host} is locked by ${describeHolder(holder)}: if no gitdock agent or apply runs for this host, remove the lock with ${unlock}`;
  }
  const where = holder.hostname || holder.machineId;
  const gone = onThisMachine
    ? ''
    : `; it runs on another machine, so its lock is never taken over automatically: if it is gone for good, remove the lock with ${unlock}`;
  const since = `(pid ${holder.pid} on machine ${where}, since ${holder.startedAt})`;
  if (holder.kind === 'agent') {
    return `host ${host} is managed by the gitdock agent ${since}: deploy by pushing to the branch it follows, or stop that agent first${gone}`;
  }
  return `another gitdock apply for host ${host} is running ${since}: wait until it has finished, then run again${gone}`;
}

/** The holder's fields for an error's `data` and JSON output. */
export function holderData(holder: LockHolder): Record<string, unknown> {
  return {
    kind: holder.kind,
    host: holder.host,
    pid: holder.pid ?? null,
    startTime: holder.startTime,
    machineId: holder.machineId,
    bootId: holder.bootId,
    pidNamespace: holder.pidNamespace,
    hostname: holder.hostname,
    version: holder.version,
    startedAt: holder.startedAt,
    lockId: holder.lock.id,
    lockName: holder.lock.name,
  };
}
