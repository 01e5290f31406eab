import { describe, expect, it } from 'vitest';
import {
  decideLock,
  describeHolder,
  holderData,
  hostLockName,
  LOCK_LABELS,
  type LockHolder,
  lockHeldMessage,
  lockLabels,
  type ProcessIdentity,
  parseLockHolder,
  sameMachine,
} from './host-lock.js';

const ME: ProcessIdentity = {
  pid: 4242,
  startTime: '900100',
  machineId: 'm-here',
  bootId: 'boot-1',
  pidNamespace: 'pid:[4026531836]',
  hostname: 'deploy-box',
  version: '0.1.0',
};

const STARTED = '2025-03-04T05:06:07.000Z';

function lockOf(labels: Record<string, string>) {
  return {
    id: 'abc123',
    name: 'gitdock-lock.web-1',
    labels,
    createdAt: '2025-03-04T05:06:07.123456789Z',
  };
}

/** A holder as `parseLockHolder` reads it from labels written for `who`. */
function holder(who: Partial<ProcessIdentity> = {}, kind: 'agent' | 'apply' = 'agent'): LockHolder {
  return parseLockHolder(
    lockOf(
      lockLabels(
        { ...ME, pid: 1234, startTime: '500', ...who },
        { kind, host: 'web-1', startedAt: STARTED },
      ),
    ),
  );
}

describe('hostLockName', () => {
  it('is gitdock-lock.<host> for a valid host name', () => {
    expect(hostLockName('web-1')).toBe('gitdock-lock.web-1');
    expect(hostLockName('a')).toBe('gitdock-lock.a');
    expect(hostLockName('x'.repeat(63))).toBe(`gitdock-lock.${'x'.repeat(63)}`);
  });

  it.each(['', 'Web-1', 'web 1', '-web', 'web/1', 'x'.repeat(64)])('is undefined for %j', (h) => {
    expect(hostLockName(h)).toBeUndefined();
  });

  it('is a name every engine takes for a network', () => {
    expect(hostLockName('web_1.a-b')).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/);
  });
});

describe('lockLabels and parseLockHolder', () => {
  it('round-trip every holder field under io.gitdock.lock.*', () => {
    const labels = lockLabels(ME, { kind: 'apply', host: 'web-1', startedAt: STARTED });
    expect(Object.keys(labels).every((k) => k.startsWith('io.gitdock.lock.'))).toBe(true);
    expect(labels).toEqual({
      'io.gitdock.lock.kind': 'apply',
      'io.gitdock.lock.host': 'web-1',
      'io.gitdock.lock.pid': '4242',
      'io.gitdock.lock.start-time': '900100',
      'io.gitdock.lock.machine-id': 'm-here',
      'io.gitdock.lock.boot-id': 'boot-1',
      'io.gitdock.lock.pid-ns': 'pid:[4026531836]',
      'io.gitdock.lock.hostname': 'deploy-box',
      'io.gitdock.lock.version': '0.1.0',
      'io.gitdock.lock.started-at': STARTED,
    });
    expect(parseLockHolder(lockOf(labels))).toEqual({
      kind: 'apply',
      host: 'web-1',
      pid: 4242,
      startTime: '900100',
      machineId: 'm-here',
      bootId: 'boot-1',
      pidNamespace: 'pid:[4026531836]',
      hostname: 'deploy-box',
      version: '0.1.0',
      startedAt: STARTED,
      lock: {
        id: 'abc123',
        name: 'gitdock-lock.web-1',
        createdAt: '2025-03-04T05:06:07.123456789Z',
      },
    });
  });

  it('reads missing or damaged labels as unknown, and the start from the engine', () => {
    const h = parseLockHolder(lockOf({ [LOCK_LABELS.kind]: 'deploy', [LOCK_LABELS.pid]: '12x' }));
    expect(h.kind).toBe('unknown');
    expect(h.pid).toBeUndefined();
    expect(h.machineId).toBe('');
    expect(h.startedAt).toBe('2025-03-04T05:06:07.123456789Z');
    expect(parseLockHolder(lockOf({ [LOCK_LABELS.pid]: '0' })).pid).toBeUndefined();
  });
});

describe('decideLock', () => {
  it('mine: this very process (same machine, boot, pid and start time)', () => {
    const h = holder({ pid: ME.pid, startTime: ME.startTime });
    expect(decideLock({ holder: h, me: ME, holderAlive: true }).verdict).toBe('mine');
  });

  it('held: a live process of this machine', () => {
    const verdict = decideLock({ holder: holder(), me: ME, holderAlive: true });
    expect(verdict).toEqual({ verdict: 'held', reason: 'process 1234 is running on this machine' });
  });

  it('held: an apply holder is judged like an agent holder', () => {
    expect(decideLock({ holder: holder({}, 'apply'), me: ME, holderAlive: true }).verdict).toBe(
      'held',
    );
    expect(decideLock({ holder: holder({}, 'apply'), me: ME, holderAlive: false }).verdict).toBe(
      'stale',
    );
  });

  it('stale: the process of this machine no longer runs (or its pid is another process now)', () => {
    const verdict = decideLock({ holder: holder(), me: ME, holderAlive: false });
    expect(verdict).toEqual({
      verdict: 'stale',
      reason: 'process 1234 that took it is no longer running on this machine',
    });
  });

  it('stale: this machine was restarted since, whatever runs under that pid now', () => {
    const h = holder({ bootId: 'boot-0' });
    expect(decideLock({ holder: h, me: ME, holderAlive: true })).toEqual({
      verdict: 'stale',
      reason: 'this machine was restarted since the lock was taken',
    });
    // Even with this process's own pid and start time: another boot, another process.
    const same = holder({ bootId: 'boot-0', pid: ME.pid, startTime: ME.startTime });
    expect(decideLock({ holder: same, me: ME, holderAlive: true }).verdict).toBe('stale');
  });

  it('not mine: the same pid with another start time is an earlier process of that pid', () => {
    const h = holder({ pid: ME.pid, startTime: '1' });
    expect(decideLock({ holder: h, me: ME, holderAlive: false }).verdict).toBe('stale');
    expect(decideLock({ holder: h, me: ME, holderAlive: true }).verdict).toBe('held');
  });

  it.each([
    ['another machine id', { machineId: 'm-there' }],
    ['another pid namespace (a container on this machine)', { pidNamespace: 'pid:[4026532000]' }],
  ])('held, never stale: %s, alive or not, whatever its boot', (_what, who) => {
    for (const holderAlive of [true, false]) {
      for (const bootId of [ME.bootId, 'boot-other']) {
        const h = holder({ ...who, bootId });
        expect(sameMachine(h, ME)).toBe(false);
        expect(decideLock({ holder: h, me: ME, holderAlive })).toEqual({
          verdict: 'held',
          reason: 'held by a process on another machine',
        });
      }
    }
    // Not even with this process's pid and start time.
    const twin = holder({ ...who, pid: ME.pid, startTime: ME.startTime });
    expect(decideLock({ holder: twin, me: ME, holderAlive: false }).verdict).toBe('held');
  });

  it.each([
    ['no kind', { [LOCK_LABELS.kind]: '' }],
    ['no pid', { [LOCK_LABELS.pid]: '' }],
    ['no machine id', { [LOCK_LABELS.machineId]: '' }],
  ])('held: a lock whose labels do not say who holds it (%s)', (_what, damage) => {
    const labels = {
      ...lockLabels(ME, { kind: 'agent', host: 'web-1', startedAt: STARTED }),
      ...damage,
    };
    const h = parseLockHolder(lockOf(labels));
    expect(sameMachine(h, ME)).toBe(false);
    expect(decideLock({ holder: h, me: ME, holderAlive: false })).toEqual({
      verdict: 'held',
      reason: 'the lock does not say which process holds it',
    });
  });
});

describe('lockHeldMessage', () => {
  it('an agent of this machine: deploy by pushing, or stop it', () => {
    expect(lockHeldMessage('web-1', holder(), true)).toBe(
      'host web-1 is managed by the gitdock agent (pid 1234 on machine deploy-box, since 2025-03-04T05:06:07.000Z): deploy by pushing to the branch it follows, or stop that agent first',
    );
  });

  it('an agent of another machine: also how to break the lock', () => {
    const h = holder({ machineId: 'm-there', hostname: 'web-1.example' });
    expect(lockHeldMessage('web-1', h, false)).toBe(
      'host web-1 is managed by the gitdock agent (pid 1234 on machine web-1.example, since 2025-03-04T05:06:07.000Z): deploy by pushing to the branch it follows, or stop that agent first; it runs on another machine, so its lock is never taken over automatically: if it is gone for good, remove the lock with gitdock unlock --host web-1',
    );
  });

  it('another apply: wait for it', () => {
    expect(lockHeldMessage('web-1', holder({}, 'apply'), true)).toBe(
      'another gitdock apply for host web-1 is running (pid 1234 on machine deploy-box, since 2025-03-04T05:06:07.000Z): wait until it has finished, then run again',
    );
    expect(lockHeldMessage('web-1', holder({ machineId: 'x' }, 'apply'), false)).toMatch(
      /then run again; it runs on another machine, .* gitdock unlock --host web-1$/,
    );
  });

  it('the machine id stands in for a missing hostname', () => {
    expect(lockHeldMessage('web-1', holder({ hostname: '' }), true)).toContain(
      '(pid 1234 on machine m-here, since',
    );
  });

  it('a lock that does not say who holds it: how to remove it', () => {
    const h = parseLockHolder(lockOf({}));
    expect(lockHeldMessage('web-1', h, false)).toBe(
      'host web-1 is locked by lock object gitdock-lock.web-1 (created 2025-03-04T05:06:07.123456789Z), which does not say which gitdock process holds it: if no gitdock agent or apply runs for this host, remove the lock with gitdock unlock --host web-1',
    );
  });
});

describe('describeHolder and holderData', () => {
  it('name the holder for unlock and JSON', () => {
    expect(describeHolder(holder({}, 'apply'))).toBe(
      'a gitdock apply (pid 1234 on machine deploy-box, since 2025-03-04T05:06:07.000Z)',
    );
    expect(holderData(holder())).toEqual({
      kind: 'agent',
      host: 'web-1',
      pid: 1234,
      startTime: '500',
      machineId: 'm-here',
      bootId: 'boot-1',
      pidNamespace: 'pid:[4026531836]',
      hostname: 'deploy-box',
      version: '0.1.0',
      startedAt: STARTED,
      lockId: 'abc123',
      lockName: 'gitdock-lock.web-1',
    });
  });
});
