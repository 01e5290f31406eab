import { describe, expect, it } from 'vitest';
import type { FleetStatus, HostRow } from '../core/fleet-status.js';
import { formatStatusText, statusToJson } from './format-status.js';

const HEAD = `1a2b3c4d5e6f${'0'.repeat(28)}`;
const OLD = `0c9d8e7f6a5b${'0'.repeat(28)}`;

function host(overrides: Partial<HostRow>): HostRow {
  return {
    host: 'web-1',
    agent: 'http://127.0.0.1:9421',
    reachable: true,
    error: null,
    source: 'agent',
    sync: 'Synced',
    pending: false,
    agentBranch: 'main',
    agentCommit: HEAD,
    lastAppliedCommit: HEAD,
    lastReconcile: { result: 'success', at: '2026-01-01T11:59:52Z', ageMs: 8_000 },
    appliedRef: null,
    rollout: null,
    notes: [],
    services: [],
    ...overrides,
  };
}

const STATUS: FleetStatus = {
  rev: 'HEAD',
  commit: HEAD,
  branch: 'main',
  synced: false,
  waves: null,
  counts: {
    hosts: 3,
    services: 3,
    synced: 2,
    outOfSync: 1,
    failed: 0,
    unknown: 0,
    unreachable: 1,
    noAgent: 1,
    pending: 0,
  },
  hosts: [
    host({
      services: [
        {
          service: 'appserver',
          sync: 'Synced',
          health: 'Healthy',
          desiredImage: 'reg/appserver:1.5.0',
          runningImage: 'reg/appserver:1.5.0',
          runningCommit: HEAD,
          reason: null,
        },
        {
          service: 'memcached',
          sync: 'Synced',
          health: 'Healthy',
          desiredImage: 'reg/memcached:1.6',
          runningImage: 'reg/memcached:1.6',
          runningCommit: OLD,
          reason: null,
        },
      ],
    }),
    host({
      host: 'web-2',
      agent: 'http://127.0.0.1:9422',
      reachable: false,
      error: 'connect ECONNREFUSED 127.0.0.1:9422',
      source: 'applied-ref',
      sync: 'OutOfSync',
      agentBranch: null,
      agentCommit: null,
      lastAppliedCommit: null,
      lastReconcile: null,
      appliedRef: {
        ref: 'refs/gitdock/applied/web-2',
        commit: OLD,
        committedAt: '2026-01-01T10:00:00.000Z',
        ageMs: 7_200_000,
      },
      notes: [
        'shown from refs/gitdock/applied/web-2 at 0c9d8e7f6a5b (committed 2h ago); health unknown',
      ],
      services: [
        {
          service: 'appserver',
          sync: 'OutOfSync',
          health: 'Unknown',
          desiredImage: 'reg/appserver:1.5.0',
          runningImage: 'reg/appserver:1.4.2',
          runningCommit: OLD,
          reason: 'not applied: image 1.4.2 -> 1.5.0',
        },
      ],
    }),
    host({
      host: 'web-3',
      agent: null,
      reachable: null,
      source: 'none',
      sync: 'Unknown',
      lastReconcile: null,
      notes: ['no agent configured (hosts.<host>.agent in gitdock.yaml)'],
    }),
  ],
};

describe('formatStatusText', () => {
  it('one table, the hosts that need a word, then the summary', () => {
    expect(formatStatusText(STATUS, { color: false })).toBe(
      [
        'Fleet at 1a2b3c4d5e6f (HEAD, branch main)',
        '',
        'HOST   SERVICE    DESIRED  RUNNING             SYNC       HEALTH   AGENT',
        'web-1  appserver  1.5.0    1.5.0 1a2b3c4d5e6f  Synced     Healthy  8s ago',
        '       memcached  1.6      1.6 0c9d8e7f6a5b    Synced     Healthy',
        'web-2  appserver  1.5.0    1.4.2 0c9d8e7f6a5b  OutOfSync  Unknown  unreachable',
        'web-3  (none)     -        -                   Unknown    -        no agent',
        '',
        'web-2: unreachable (connect ECONNREFUSED 127.0.0.1:9422)',
        '  shown from refs/gitdock/applied/web-2 at 0c9d8e7f6a5b (committed 2h ago); health unknown',
        '  appserver: not applied: image 1.4.2 -> 1.5.0',
        'web-3: no agent configured (hosts.<host>.agent in gitdock.yaml)',
        '',
        '3 hosts, 3 services: 2 Synced, 1 OutOfSync; 1 agent unreachable, 1 host without an agent',
        '',
      ].join('\n'),
    );
  });

  it('shows Compose services by identity, the column as wide as the longest', () => {
    const row = (service: string, sync: 'Synced' | 'OutOfSync', reason: string | null = null) => ({
      service,
      sync,
      health: 'Healthy' as const,
      desiredImage: 'reg/app:2',
      runningImage: sync === 'Synced' ? 'reg/app:2' : 'reg/app:1',
      runningCommit: HEAD,
      reason,
    });
    const status: FleetStatus = {
      ...STATUS,
      counts: {
        ...STATUS.counts,
        hosts: 1,
        services: 3,
        synced: 2,
        outOfSync: 1,
        unreachable: 0,
        noAgent: 0,
      },
      hosts: [
        host({
          sync: 'OutOfSync',
          services: [
            row('memcached', 'Synced'),
            row('shop/app', 'Synced'),
            row('shop/app#2', 'OutOfSync', 'pending: image 1 -> 2'),
          ],
        }),
      ],
    };
    expect(formatStatusText(status, { color: false }).split('\n').slice(2, 9)).toEqual([
      'HOST   SERVICE     DESIRED  RUNNING         SYNC       HEALTH   AGENT',
      'web-1  memcached   2        2 1a2b3c4d5e6f  Synced     Healthy  8s ago',
      '       shop/app    2        2 1a2b3c4d5e6f  Synced     Healthy',
      '       shop/app#2  2        1 1a2b3c4d5e6f  OutOfSync  Healthy',
      '',
      'web-1: shop/app#2: pending: image 1 -> 2',
      '',
    ]);
  });

  it('colours the sync column only on request', () => {
    const text = formatStatusText(STATUS, { color: true });
    expect(text).toContain('\u001b[32mSynced   \u001b[0m');
    expect(text).toContain('\u001b[33mOutOfSync\u001b[0m');
    expect(formatStatusText(STATUS, { color: false })).not.toContain('\u001b[');
  });

  it('says when a pass failed and when the agent is pending', () => {
    const text = formatStatusText(
      {
        ...STATUS,
        hosts: [
          host({
            pending: true,
            lastReconcile: { result: 'failure', at: 'x', ageMs: 125_000 },
            notes: ['pending: the agent is at 0c9d8e7f6a5b, not 1a2b3c4d5e6f'],
          }),
        ],
      },
      { color: false },
    );
    expect(text).toContain(
      'web-1  (none)   -        -        Synced  -       2m ago failure pending',
    );
    expect(text).toContain('web-1: pending: the agent is at 0c9d8e7f6a5b, not 1a2b3c4d5e6f');
  });
});

describe('statusToJson', () => {
  it('has the documented shape, ages in whole seconds', () => {
    const json = statusToJson(STATUS);
    expect(Object.keys(json)).toEqual([
      'rev',
      'commit',
      'branch',
      'synced',
      'summary',
      'counts',
      'waves',
      'hosts',
    ]);
    expect(Object.keys(json.hosts[0]!)).toEqual([
      'host',
      'agent',
      'reachable',
      'error',
      'source',
      'sync',
      'pending',
      'agentBranch',
      'agentCommit',
      'lastAppliedCommit',
      'lastReconcile',
      'appliedRef',
      'rollout',
      'notes',
      'services',
    ]);
    expect(json.hosts[0]!.lastReconcile).toEqual({
      result: 'success',
      at: '2026-01-01T11:59:52Z',
      ageSeconds: 8,
    });
    expect(json.hosts[1]!.appliedRef).toEqual({
      ref: 'refs/gitdock/applied/web-2',
      commit: OLD,
      committedAt: '2026-01-01T10:00:00.000Z',
      ageSeconds: 7200,
    });
    expect(json.hosts[1]!.services[0]).toEqual({
      service: 'appserver',
      sync: 'OutOfSync',
      health: 'Unknown',
      desiredImage: 'reg/appserver:1.5.0',
      runningImage: 'reg/appserver:1.4.2',
      runningCommit: OLD,
      reason: 'not applied: image 1.4.2 -> 1.5.0',
    });
  });
});

describe('the release by waves', () => {
  it('lists each wave with where its hosts stand, and says where a release halted', () => {
    const text = formatStatusText(
      {
        ...STATUS,
        waves: {
          waves: [
            { wave: 1, hosts: [{ host: 'web-1', state: 'failed' }] },
            {
              wave: 2,
              hosts: [
                { host: 'web-2', state: 'pending' },
                { host: 'web-3', state: 'pending' },
              ],
            },
          ],
          haltedAt: 1,
        },
      },
      { color: false },
    );
    expect(text).toContain(
      [
        `Release of ${HEAD.slice(0, 12)} by waves (halted at wave 1: the later waves wait for a revert or a fix):`,
        '  wave 1  web-1 failed',
        '  wave 2  web-2 pending, web-3 pending',
      ].join('\n'),
    );
  });

  it('says nothing of waves without a rollout', () => {
    expect(formatStatusText(STATUS, { color: false })).not.toContain('by waves');
  });
});
