import { describe, expect, it, vi } from 'vitest';
import type { EngineLock } from '../core/engine.js';
import { lockLabels, type ProcessIdentity } from '../core/host-lock.js';
import { GitdockError, isGitdockError } from '../errors.js';
import type { Log } from '../log.js';
import { acquireHostLock, type LockEngine } from './host-lock.js';

const ME: ProcessIdentity = {
  pid: 4242,
  startTime: '900100',
  machineId: 'm-here',
  bootId: 'boot-1',
  pidNamespace: 'pid:[1]',
  hostname: 'deploy-box',
  version: '0.1.0',
};
const NAME = 'gitdock-lock.web-1';
const NOW = () => new Date('2025-03-04T05:06:07.000Z');

/** The engine's lock objects, in memory, with the create-if-absent semantics of the real one. */
class FakeLocks implements LockEngine {
  readonly locks = new Map<string, EngineLock>();
  readonly calls: string[] = [];
  private next = 1;
  /** Runs before each create: lets a test have another process win a race. */
  beforeCreate: (() => void) | undefined;
  fail: Error | undefined;

  put(labels: Record<string, string>, name = NAME): EngineLock {
    const lock = { id: `id-${this.next++}`, name, labels, createdAt: '2025-01-01T00:00:00Z' };
    this.locks.set(name, lock);
    return lock;
  }

  async createLock(name: string, labels: Record<string, string>) {
    this.calls.push(`create ${name}`);
    if (this.fail) throw this.fail;
    this.beforeCreate?.();
    const held = this.locks.get(name);
    if (held) return { created: false as const, lock: held };
    return { created: true as const, lock: this.put(labels, name) };
  }

  async findLock(name: string) {
    this.calls.push(`find ${name}`);
    if (this.fail) throw this.fail;
    return this.locks.get(name);
  }

  async removeLock(id: string) {
    this.calls.push(`remove ${id}`);
    if (this.fail) throw this.fail;
    for (const [name, lock] of this.locks) if (lock.id === id) this.locks.delete(name);
  }
}

function recordingLog() {
  const lines: { level: string; msg: string; data: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (data: Record<string, unknown>, msg: string): void => {
      lines.push({ level, msg, data });
    };
  const log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log: log as unknown as Log, lines };
}

function labelsOf(who: Partial<ProcessIdentity>, kind: 'agent' | 'apply' = 'agent') {
  return lockLabels(
    { ...ME, pid: 1234, startTime: '500', ...who },
    { kind, host: 'web-1', startedAt: '2025-02-02T00:00:00.000Z' },
  );
}

async function acquire(
  engine: FakeLocks,
  more: { isRunning?: (pid: number, start: string) => Promise<boolean>; recheckMs?: number } = {},
) {
  const { log, lines } = recordingLog();
  const isRunning = vi.fn(more.isRunning ?? (async () => true));
  const lock = await acquireHostLock({
    engine,
    host: 'web-1',
    kind: 'apply',
    identity: ME,
    log,
    isRunning,
    now: NOW,
    ...(more.recheckMs ? { recheckMs: more.recheckMs } : {}),
  });
  return { lock, lines, isRunning };
}

async function refusal(promise: Promise<unknown>): Promise<GitdockError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isGitdockError(err)) throw new Error(`expected a GitdockError, got ${String(err)}`);
  return err;
}

describe('acquireHostLock', () => {
  it('takes a free lock with this process as holder; release removes it by ID, once', async () => {
    const engine = new FakeLocks();
    const { lock } = await acquire(engine);
    expect(lock.name).toBe(NAME);
    const held = engine.locks.get(NAME)!;
    expect(lock.id).toBe(held.id);
    expect(held.labels).toEqual(
      lockLabels(ME, { kind: 'apply', host: 'web-1', startedAt: '2025-03-04T05:06:07.000Z' }),
    );
    await lock.release();
    await lock.release();
    expect(engine.locks.size).toBe(0);
    expect(engine.calls).toEqual([`create ${NAME}`, `remove ${held.id}`]);
  });

  it('refuses while a live agent of this machine holds it, naming it; removes nothing', async () => {
    const engine = new FakeLocks();
    const held = engine.put(labelsOf({}));
    const { log } = recordingLog();
    const isRunning = vi.fn(async () => true);
    const err = await refusal(
      acquireHostLock({ engine, host: 'web-1', kind: 'apply', identity: ME, log, isRunning }),
    );
    expect(err.code).toBe('GITDOCK_E_HOST_LOCKED');
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(
      'host web-1 is managed by the gitdock agent (pid 1234 on machine deploy-box, since 2025-02-02T00:00:00.000Z): deploy by pushing to the branch it follows, or stop that agent first',
    );
    expect(err.data).toMatchObject({
      host: 'web-1',
      holderOnThisMachine: true,
      holder: { kind: 'agent', pid: 1234, machineId: 'm-here', lockId: held.id },
    });
    expect(isRunning).toHaveBeenCalledWith(1234, '500');
    expect(engine.locks.get(NAME)).toBe(held);
    expect(engine.calls).toEqual([`create ${NAME}`]);
  });

  it('refuses a holder of another machine without looking at its pid here, and says how to unlock', async () => {
    const engine = new FakeLocks();
    engine.put(labelsOf({ machineId: 'm-there', hostname: 'other' }, 'apply'));
    const { log } = recordingLog();
    const isRunning = vi.fn(async () => false);
    const err = await refusal(
      acquireHostLock({ engine, host: 'web-1', kind: 'agent', identity: ME, log, isRunning }),
    );
    expect(err.message).toMatch(
      /^another gitdock apply for host web-1 is running \(pid 1234 on machine other/,
    );
    expect(err.message).toContain('gitdock unlock --host web-1');
    expect(err.data.holderOnThisMachine).toBe(false);
    expect(isRunning).not.toHaveBeenCalled();
    expect(engine.locks.size).toBe(1);
  });

  it.each([
    ['its process no longer runs', {}, false],
    ['this machine was restarted since', { bootId: 'boot-0' }, true],
  ])(
    'recovers a stale lock of this machine (%s): removes it by ID, takes it',
    async (_why, who, alive) => {
      const engine = new FakeLocks();
      const stale = engine.put(labelsOf(who, 'agent'));
      const { lock, lines } = await acquire(engine, { isRunning: async () => alive });
      expect(engine.calls).toEqual([`create ${NAME}`, `remove ${stale.id}`, `create ${NAME}`]);
      expect(lock.id).not.toBe(stale.id);
      expect(engine.locks.get(NAME)!.labels['io.gitdock.lock.pid']).toBe('4242');
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          msg: 'removing a stale host lock',
          data: expect.objectContaining({ holder: expect.objectContaining({ pid: 1234 }) }),
        }),
      );
    },
  );

  it('after removing a stale lock, reports the process that took it first', async () => {
    const engine = new FakeLocks();
    engine.put(labelsOf({}));
    let creates = 0;
    engine.beforeCreate = () => {
      // Between this process's removal and its create, another apply takes the lock.
      if (++creates === 2) engine.put(labelsOf({ pid: 777, startTime: '9' }, 'apply'));
    };
    const { log } = recordingLog();
    const isRunning = vi.fn(async (pid: number) => pid === 777);
    const err = await refusal(
      acquireHostLock({ engine, host: 'web-1', kind: 'apply', identity: ME, log, isRunning }),
    );
    expect(err.code).toBe('GITDOCK_E_HOST_LOCKED');
    expect(err.message).toMatch(/^another gitdock apply for host web-1 is running \(pid 777 /);
    expect(engine.locks.get(NAME)!.labels['io.gitdock.lock.pid']).toBe('777');
  });

  it('never removes twice: a new holder met after one removal is reported, even if gone', async () => {
    const engine = new FakeLocks();
    engine.put(labelsOf({}));
    let creates = 0;
    engine.beforeCreate = () => {
      if (++creates === 2) engine.put(labelsOf({ pid: 777 }));
    };
    const { log } = recordingLog();
    const err = await refusal(
      acquireHostLock({
        engine,
        host: 'web-1',
        kind: 'apply',
        identity: ME,
        log,
        isRunning: async () => false,
      }),
    );
    expect(err.data.holder).toMatchObject({ pid: 777 });
    expect(engine.calls.filter((c) => c.startsWith('remove'))).toHaveLength(1);
  });

  it('adopts a lock that already names this process (a create whose answer was lost)', async () => {
    const engine = new FakeLocks();
    const mine = engine.put(labelsOf({ pid: ME.pid, startTime: ME.startTime }));
    const { lock } = await acquire(engine);
    expect(lock.id).toBe(mine.id);
    await lock.release();
    expect(engine.locks.size).toBe(0);
  });

  it('lets an engine error through as it is', async () => {
    const engine = new FakeLocks();
    const down = new GitdockError('GITDOCK_E_ENGINE_UNREACHABLE', 'cannot reach the engine');
    engine.fail = down;
    const { log } = recordingLog();
    await expect(
      acquireHostLock({ engine, host: 'web-1', kind: 'agent', identity: ME, log }),
    ).rejects.toBe(down);
  });

  it('refuses a host that is not a valid name before any engine call', async () => {
    const engine = new FakeLocks();
    const { log } = recordingLog();
    const err = await refusal(
      acquireHostLock({ engine, host: 'Web 1', kind: 'apply', identity: ME, log }),
    );
    expect(err.code).toBe('GITDOCK_E_USAGE');
    expect(engine.calls).toEqual([]);
  });

  it('release logs, never throws, when the engine cannot remove the lock', async () => {
    const engine = new FakeLocks();
    const { lock, lines } = await acquire(engine);
    engine.fail = new Error('socket closed');
    await expect(lock.release()).resolves.toBeUndefined();
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        data: expect.objectContaining({ err: 'socket closed' }),
      }),
    );
  });
});

describe('acquireHostLock with recheckMs (the agent)', () => {
  it('takes the lock again when it was removed behind its back; release removes the new one', async () => {
    vi.useFakeTimers();
    try {
      const engine = new FakeLocks();
      const { lock, lines } = await acquire(engine, { recheckMs: 1000 });
      const first = lock.id;
      engine.locks.clear(); // docker network prune
      await vi.advanceTimersByTimeAsync(1000);
      expect(lock.id).not.toBe(first);
      expect(engine.locks.get(NAME)!.id).toBe(lock.id);
      expect(lines.map((l) => l.msg)).toContain(
        'the host lock was removed from the engine; took it again',
      );
      await vi.advanceTimersByTimeAsync(1000); // still there: nothing to do
      expect(engine.calls.filter((c) => c.startsWith('create'))).toHaveLength(2);
      await lock.release();
      expect(engine.locks.size).toBe(0);
      await vi.advanceTimersByTimeAsync(5000); // stopped: no more checks
      expect(engine.calls.at(-1)).toBe(`remove ${lock.id}`);
    } finally {
      vi.useRealTimers();
    }
  });

  it("reports, once, another process that took it meanwhile, and never removes that one's lock", async () => {
    vi.useFakeTimers();
    try {
      const engine = new FakeLocks();
      const { lock, lines } = await acquire(engine, { recheckMs: 1000 });
      engine.locks.clear();
      const other = engine.put(labelsOf({ pid: 777 }, 'apply'));
      await vi.advanceTimersByTimeAsync(3000);
      const errors = lines.filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]!.data).toMatchObject({ holder: { pid: 777, kind: 'apply' } });
      await lock.release();
      expect(engine.locks.get(NAME)).toBe(other);
    } finally {
      vi.useRealTimers();
    }
  });
});
