import { describe, expect, it } from 'vitest';
import {
  assignWaves,
  decideGate,
  describeRollout,
  type GateInput,
  type RolloutConfig,
} from './rollout.js';

const C = 'c'.repeat(40);
const OLD = 'b'.repeat(40);
const HOSTS = ['web-1', 'web-2', 'web-3', 'web-4', 'db-1'];

function config(overrides: Partial<RolloutConfig> = {}): RolloutConfig {
  return {
    waves: [['web-1'], ['web-2', 'web-3'], ['web-*']],
    soakMs: 0,
    downHosts: 'wait',
    downAfterMs: 600_000,
    ...overrides,
  };
}

function gate(
  overrides: Partial<GateInput> & {
    applied?: Record<string, string>;
    failed?: Record<string, string>;
  },
) {
  const { applied = {}, failed = {}, ...rest } = overrides;
  return decideGate({
    host: 'web-2',
    commit: C,
    config: config(),
    hosts: HOSTS,
    reports: { applied: new Map(Object.entries(applied)), failed: new Map(Object.entries(failed)) },
    firstSeenAt: 1_000,
    openSeenAt: undefined,
    now: 2_000,
    ...rest,
  });
}

describe('assignWaves', () => {
  it.each([
    ['web-1', 0],
    ['web-2', 1],
    ['web-3', 1],
    // The first wave that matches: web-* also matches web-1..3.
    ['web-4', 2],
    // In no wave: a last wave of its own.
    ['db-1', 3],
  ])('%s is in wave %i', (host, wave) => {
    expect(assignWaves(HOSTS, config()).get(host)).toBe(wave);
  });

  it('names only the hosts it is given', () => {
    expect([...assignWaves(['web-9'], config()).keys()]).toEqual(['web-9']);
  });
});

describe('decideGate', () => {
  it.each<[string, Parameters<typeof gate>[0], string]>([
    ['the first wave goes at once', { host: 'web-1' }, 'go'],
    ['a host gitdock.yaml does not name goes at once', { host: 'other' }, 'go'],
    ['wave 2 waits while wave 1 has not applied C', { applied: { 'web-1': OLD } }, 'wait'],
    ['wave 2 waits while wave 1 has never reported', {}, 'wait'],
    ['wave 2 goes once wave 1 applied C', { applied: { 'web-1': C } }, 'go'],
    [
      'wave 2 is halted when wave 1 failed at C',
      { applied: { 'web-1': OLD }, failed: { 'web-1': C } },
      'halted',
    ],
    [
      'a failure at an older commit does not halt C',
      { applied: { 'web-1': C }, failed: { 'web-1': OLD } },
      'go',
    ],
    [
      'an applied C beats a failed ref at C (a retry that succeeded)',
      { applied: { 'web-1': C }, failed: { 'web-1': C } },
      'go',
    ],
    [
      'wave 3 waits for every host of waves 1 and 2',
      { host: 'web-4', applied: { 'web-1': C, 'web-2': C } },
      'wait',
    ],
    [
      'wave 3 goes when waves 1 and 2 applied C',
      { host: 'web-4', applied: { 'web-1': C, 'web-2': C, 'web-3': C } },
      'go',
    ],
    [
      'hosts in no wave go last',
      { host: 'db-1', applied: { 'web-1': C, 'web-2': C, 'web-3': C } },
      'wait',
    ],
    [
      'a host does not wait for the hosts of its own wave',
      { host: 'web-3', applied: { 'web-1': C, 'web-2': OLD } },
      'go',
    ],
  ])('%s', (_name, input, type) => {
    expect(gate(input).type).toBe(type);
  });

  it('names the hosts that hold it up, with their wave and what they run', () => {
    expect(gate({ host: 'web-4', applied: { 'web-1': C, 'web-2': OLD } })).toEqual({
      type: 'wait',
      wave: 2,
      blockers: [
        { host: 'web-2', wave: 1, state: 'pending', applied: OLD },
        { host: 'web-3', wave: 1, state: 'pending', applied: null },
      ],
    });
  });

  it('a halt lists the failed hosts first', () => {
    const d = gate({ host: 'web-4', applied: { 'web-1': C }, failed: { 'web-3': C } });
    expect(d.type).toBe('halted');
    expect(d.type !== 'go' && d.blockers.map((b) => [b.host, b.state])).toEqual([
      ['web-3', 'failed'],
      ['web-2', 'pending'],
    ]);
  });

  describe('soak', () => {
    const soaked = { config: config({ soakMs: 30_000 }), applied: { 'web-1': C } };
    it('starts when the gate is first seen open', () => {
      expect(gate({ ...soaked, now: 5_000 })).toEqual({
        type: 'wait',
        wave: 1,
        blockers: [],
        soakEndsAt: 35_000,
        openSeenAt: 5_000,
      });
    });
    it('runs from the moment remembered', () => {
      expect(gate({ ...soaked, openSeenAt: 5_000, now: 34_999 }).type).toBe('wait');
      expect(gate({ ...soaked, openSeenAt: 5_000, now: 35_000 }).type).toBe('go');
    });
  });

  describe('a host that never reports', () => {
    const skip = config({ downHosts: 'skip', downAfterMs: 60_000 });
    it('blocks by default, however long', () => {
      expect(gate({ now: 10_000_000 }).type).toBe('wait');
    });
    it('with skip, blocks until down_after has passed since C was first seen', () => {
      expect(gate({ config: skip, firstSeenAt: 1_000, now: 60_999 }).type).toBe('wait');
      expect(gate({ config: skip, firstSeenAt: 1_000, now: 61_000 })).toEqual({
        type: 'go',
        wave: 1,
        skipped: ['web-1'],
      });
    });
    it('with skip, a failed host still halts', () => {
      expect(gate({ config: skip, failed: { 'web-1': C }, now: 10_000_000 }).type).toBe('halted');
    });
  });
});

describe('describeRollout', () => {
  const base = { commit: C, wave: 2, waves: 3, since: '2026-01-01T00:00:00.000Z' };
  it.each([
    [
      {
        ...base,
        state: 'waiting' as const,
        blockers: [{ host: 'web-1', wave: 1, state: 'pending' as const, applied: null }],
      },
      'wave 2 of 3: waiting for web-1 to apply ccccccc',
    ],
    [
      {
        ...base,
        state: 'halted' as const,
        blockers: [{ host: 'web-1', wave: 1, state: 'failed' as const, applied: OLD }],
      },
      'wave 2 of 3: halted, web-1 failed at ccccccc',
    ],
    [
      { ...base, state: 'soaking' as const, blockers: [], soakEndsAt: '2026-01-01T00:01:00.000Z' },
      'wave 2 of 3: soaking until 2026-01-01T00:01:00.000Z',
    ],
  ])('%#', (status, text) => {
    expect(describeRollout(status)).toBe(text);
  });
});
