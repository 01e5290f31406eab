/**
 * One writer per host: taking and giving back the host lock, an object on
 * the host's own engine (`Engine.createLock`, atomic there, so it works for
 * any DOCKER_HOST and survives an engine restart). `gitdock apply` holds it
 * for one run, `gitdock agent` for as long as it runs.
 */
import type { Engine, EngineLock } from '../core/engine.js';
import {
  decideLock,
  holderData,
  hostLockName,
  type LockHolder,
  type LockKind,
  lockHeldMessage,
  lockLabels,
  type ProcessIdentity,
  parseLockHolder,
  sameMachine,
} from '../core/host-lock.js';
import { NAME_RULE } from '../core/names.js';
import { GitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';

export type LockEngine = Pick<Engine, 'createLock' | 'findLock' | 'removeLock'>;

/** Whether a process with that pid and start time runs on this machine. */
export type IsProcessRunning = (pid: number, startTime: string) => Promise<boolean>;

export interface AcquireHostLockOptions {
  engine: LockEngine;
  host: string;
  kind: LockKind;
  /** This process (`readProcessIdentity`). */
  identity: ProcessIdentity;
  log: Log;
  /** Default: /proc (`adapters/process-identity.ts`). */
  isRunning?: IsProcessRunning;
  /**
   * For a long-lived holder (the agent): look every `recheckMs` whether the
   * lock object is still there, and take it again when it was removed
   * behind its back (`docker volume prune`, `gitdock unlock`).
   */
  recheckMs?: number;
  /** Default: the system clock. */
  now?: () => Date;
}

export interface HostLock {
  /** The lock object's name (`gitdock-lock.<host>`). */
  readonly name: string;
  /** The ID of the lock object this process holds now. */
  readonly id: string;
  /**
   * Removes this process's lock object (by ID: never one another process
   * took since). Idempotent; never throws: a lock that cannot be removed is
   * logged, and found stale by the next gitdock of this machine.
   */
  release(): Promise<void>;
}

/** The lock's name for `host`, or GITDOCK_E_USAGE for a host that is not a valid name. */
export function lockNameFor(host: string): string {
  const name = hostLockName(host);
  if (name === undefined) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `--host "${host}" is not a valid host name (${NAME_RULE})`,
      { host },
    );
  }
  return name;
}

/**
 * Takes `host`'s lock, or throws GITDOCK_E_HOST_LOCKED naming its holder.
 * A holder of this machine that is gone (its process no longer runs, or the
 * machine was restarted) is removed by ID and the lock taken again; if
 * another process takes it first, that one is reported. A holder of another
 * machine is never removed. An engine that cannot be reached rejects with
 * the engine's own error.
 */
export async function acquireHostLock(options: AcquireHostLockOptions): Promise<HostLock> {
  const { engine, host, kind, identity, log } = options;
  const name = lockNameFor(host);
  const isRunning = options.isRunning ?? (await defaultIsRunning());
  const labels = lockLabels(identity, {
    kind,
    host,
    startedAt: (options.now?.() ?? new Date()).toISOString(),
  });

  /** `mine`, or the error to throw; removes a stale holder (then undefined: try again). */
  async function judge(
    lock: EngineLock,
    mayBreak: boolean,
  ): Promise<'mine' | GitdockError | undefined> {
    const holder = parseLockHolder(lock);
    const local = sameMachine(holder, identity);
    const alive = local ? await isRunning(holder.pid!, holder.startTime) : true;
    const verdict = decideLock({ holder, me: identity, holderAlive: alive });
    if (verdict.verdict === 'mine') return 'mine';
    if (verdict.verdict === 'stale' && mayBreak) {
      log.warn(
        { host, lock: name, holder: holderData(holder), reason: verdict.reason },
        'removing a stale host lock',
      );
      await engine.removeLock(lock.id);
      return undefined;
    }
    return lockedError(host, holder, local);
  }

  let held: EngineLock | undefined;
  // Twice at most: once more after removing a stale holder.
  for (const mayBreak of [true, false]) {
    const result = await engine.createLock(name, labels);
    if (result.created) {
      held = result.lock;
      break;
    }
    const judged = await judge(result.lock, mayBreak);
    if (judged === 'mine') {
      held = result.lock;
      break;
    }
    if (judged instanceof GitdockError) throw judged;
  }
  if (!held) throw new Error('unreachable: the host lock was neither taken nor refused');
  log.debug({ host, lock: name, id: held.id, kind }, 'host lock taken');
  return keep({ ...options, name, id: held.id, labels, isRunning });
}

function lockedError(host: string, holder: LockHolder, onThisMachine: boolean): GitdockError {
  return new GitdockError('GITDOCK_E_HOST_LOCKED', lockHeldMessage(host, holder, onThisMachine), {
    host,
    holder: holderData(holder),
    holderOnThisMachine: onThisMachine,
  });
}

function keep(
  state: AcquireHostLockOptions & {
    name: string;
    id: string;
    labels: Record<string, string>;
    isRunning: IsProcessRunning;
  },
): HostLock {
  const { engine, name, labels, identity, log, host, recheckMs } = state;
  let id = state.id;
  let released = false;
  /** The check in hand, so release waits for it and never races it. */
  let inFlight: Promise<void> = Promise.resolve();
  let reportedHolder: string | undefined;

  async function recheck(): Promise<void> {
    if (released) return;
    try {
      let found = await engine.findLock(name);
      if (found?.id === id) return;
      if (found === undefined) {
        const result = await engine.createLock(name, labels);
        if (result.created) {
          id = result.lock.id;
          log.warn(
            { host, lock: name, id },
            'the host lock was removed from the engine; took it again',
          );
          return;
        }
        found = result.lock;
      }
      const holder = parseLockHolder(found);
      const local = sameMachine(holder, identity);
      const alive = local ? await state.isRunning(holder.pid!, holder.startTime) : true;
      if (decideLock({ holder, me: identity, holderAlive: alive }).verdict === 'mine') {
        id = found.id;
        return;
      }
      if (reportedHolder !== found.id) {
        reportedHolder = found.id;
        log.error(
          { host, lock: name, holder: holderData(holder) },
          'another process took the host lock after it was removed from the engine',
        );
      }
    } catch (err) {
      log.warn({ host, lock: name, err: messageOf(err) }, 'could not check the host lock');
    }
  }

  const timer =
    recheckMs !== undefined && recheckMs > 0
      ? setInterval(() => {
          inFlight = inFlight.then(recheck);
        }, recheckMs)
      : undefined;
  timer?.unref();

  return {
    name,
    get id() {
      return id;
    },
    async release() {
      if (released) return;
      released = true;
      if (timer) clearInterval(timer);
      await inFlight;
      try {
        await engine.removeLock(id);
        log.debug({ host, lock: name, id }, 'host lock released');
      } catch (err) {
        log.warn(
          { host, lock: name, id, err: messageOf(err) },
          'could not remove the host lock; the next gitdock run on this machine will find it stale',
        );
      }
    },
  };
}

async function defaultIsRunning(): Promise<IsProcessRunning> {
  const { isProcessRunning } = await import('../adapters/process-identity.js');
  return isProcessRunning;
}

/**
 * While the lock is held for one run (`gitdock apply`): on SIGINT, SIGTERM or
 * SIGHUP, release it, then end the process with that signal as it would have
 * ended without this (a second signal ends it at once). Takes the lock or the
 * promise of it, so a signal that comes while the lock is being taken still
 * gives it back. Returns the undo.
 */
export function releaseOnSignals(
  lock: HostLock | Promise<HostLock>,
  signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'],
): () => void {
  const remove = () => {
    for (const s of signals) process.off(s, onSignal);
  };
  function onSignal(signal: NodeJS.Signals) {
    remove();
    void Promise.resolve(lock)
      .then(
        (held) => held.release(),
        () => {}, // not taken: nothing to give back
      )
      .finally(() => process.kill(process.pid, signal));
  }
  for (const s of signals) process.on(s, onSignal);
  return remove;
}
