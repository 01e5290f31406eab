import { describe, expect, it } from 'vitest';
import {
  checkSimDir,
  defaultSimDir,
  MAX_SIM_HOSTS,
  MAX_SIM_SLOTS,
  parseHostPatterns,
  planSimHosts,
  simAddress,
  simAddressPool,
} from './sim-plan.js';

describe('planSimHosts', () => {
  it.each([
    { known: ['b', 'a', 'c'], patterns: undefined, want: ['a', 'b', 'c'] },
    { known: ['web-2', 'web-1', 'db-1'], patterns: ['web-*'], want: ['web-1', 'web-2'] },
    { known: ['web-1', 'web-2', 'db-1'], patterns: ['db-1', 'web-2'], want: ['db-1', 'web-2'] },
    { known: ['a', 'a', 'b'], patterns: undefined, want: ['a', 'b'] },
  ])('$known with $patterns -> $want', ({ known, patterns, want }) => {
    const plan = planSimHosts(known, patterns);
    expect(plan.ok && plan.hosts.map((h) => h.name)).toEqual(want);
  });

  it('gives addresses, pools and agent URLs by sorted index', () => {
    const plan = planSimHosts(['z', 'y'], undefined, 1);
    if (!plan.ok) throw new Error(plan.message);
    expect(plan.hosts).toEqual([
      {
        name: 'y',
        index: 0,
        address: '127.0.1.1',
        addressPool: 'base=10.120.0.0/20,size=24',
        agentUrl: 'http://127.0.1.1:9420',
      },
      {
        name: 'z',
        index: 1,
        address: '127.0.1.2',
        addressPool: 'base=10.120.16.0/20,size=24',
        agentUrl: 'http://127.0.1.2:9420',
      },
    ]);
  });

  it.each([
    { known: [], patterns: undefined, want: /names no host/ },
    { known: ['a'], patterns: ['b*'], want: /matches none of the fleet's hosts \(a\)/ },
    {
      known: Array.from({ length: 255 }, (_, i) => `h${i}`),
      patterns: undefined,
      want: /255 hosts; the sim runs at most 254/,
    },
  ])('refuses $known.length hosts with $patterns', ({ known, patterns, want }) => {
    const plan = planSimHosts(known, patterns);
    expect(plan.ok).toBe(false);
    expect(!plan.ok && plan.message).toMatch(want);
  });
});

describe('addresses and pools', () => {
  it.each([
    { slot: 1, index: 0, address: '127.0.1.1', pool: 'base=10.120.0.0/20,size=24' },
    { slot: 1, index: 15, address: '127.0.1.16', pool: 'base=10.120.240.0/20,size=24' },
    { slot: 1, index: 16, address: '127.0.1.17', pool: 'base=10.121.0.0/20,size=24' },
    { slot: 1, index: 253, address: '127.0.1.254', pool: 'base=10.135.208.0/20,size=24' },
    { slot: 2, index: 0, address: '127.0.2.1', pool: 'base=10.136.0.0/20,size=24' },
    { slot: 8, index: 253, address: '127.0.8.254', pool: 'base=10.247.208.0/20,size=24' },
  ])('slot $slot host $index', ({ slot, index, address, pool }) => {
    expect(simAddress(slot, index)).toBe(address);
    expect(simAddressPool(slot, index)).toBe(pool);
  });

  it('never gives two hosts of any two slots overlapping pools', () => {
    const all: string[] = [];
    for (let slot = 1; slot <= MAX_SIM_SLOTS; slot++) {
      for (let i = 0; i < MAX_SIM_HOSTS; i++) all.push(simAddressPool(slot, i));
    }
    expect(new Set(all).size).toBe(MAX_SIM_SLOTS * MAX_SIM_HOSTS);
  });

  it('plans a second slot on its own addresses', () => {
    const plan = planSimHosts(['a'], undefined, 3);
    expect(plan.ok && plan.hosts[0]!.agentUrl).toBe('http://127.0.3.1:9420');
  });
});

describe('checkSimDir', () => {
  it.each([
    { dir: defaultSimDir(0), ok: true },
    { dir: '/tmp/s', ok: true },
    { dir: 'relative/dir', ok: false },
    { dir: '/', ok: false },
    { dir: '/tmp/../etc', ok: false },
    { dir: `/tmp/${'x'.repeat(60)}`, ok: false },
  ])('$dir', ({ dir, ok }) => {
    expect(checkSimDir(dir) === undefined).toBe(ok);
  });
});

describe('parseHostPatterns', () => {
  it.each([
    { text: 'a,web-*', want: ['a', 'web-*'] },
    { text: ' a , b ', want: ['a', 'b'] },
  ])('$text', ({ text, want }) => {
    const r = parseHostPatterns(text);
    expect(r.ok && r.patterns).toEqual(want);
  });
  it.each(['', ',', 'web-[', 'A/b'])('refuses "%s"', (text) => {
    expect(parseHostPatterns(text).ok).toBe(false);
  });
});
