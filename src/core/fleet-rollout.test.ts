// gitdock.yaml `rollout` (waves) and `max_parallel`: parsed, validated,
// warned about, and carried to the host's desired state.
import { describe, expect, it } from 'vitest';
import { resolveHost, rolloutHosts } from './fleet.js';
import { assignWaves, type RolloutConfig } from './rollout.js';
import { loadErrors, loadOk, yaml } from './test-fixtures.js';
import type { ManifestError } from './types.js';

const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const APP = yaml('image: registry.example.com/app', 'tag: "1.0"');

/** gitdock.yaml naming `hosts` (each `{}`), then `lines`. */
function config(hosts: string[], ...lines: string[]): string {
  return yaml('hosts:', ...hosts.map((h) => `  ${h}: {}`), ...lines);
}

const WEB = ['web-1', 'web-2', 'web-3', 'web-4'];

describe('loadFleet: rollout', () => {
  it('is undefined without one', () => {
    expect(loadOk({ 'gitdock.yaml': config(WEB) }).rollout).toBeUndefined();
    expect(loadOk({ 'hosts/web-1/app.yaml': APP }).rollout).toBeUndefined();
  });

  it.each<{ name: string; lines: string[]; rollout: RolloutConfig }>([
    {
      name: 'waves only: defaults filled in',
      lines: ['rollout:', '  waves: [[web-1], [web-2, web-3], ["web-*"]]'],
      rollout: {
        waves: [['web-1'], ['web-2', 'web-3'], ['web-*']],
        soakMs: 0,
        downHosts: 'wait',
        downAfterMs: 600_000,
      },
    },
    {
      name: 'soak, down_hosts: skip and down_after, in ms',
      lines: [
        'rollout:',
        '  waves: [[web-1], ["web-[2-4]"]]',
        '  soak: 2m',
        '  down_hosts: skip',
        '  down_after: 1m30s',
      ],
      rollout: {
        waves: [['web-1'], ['web-[2-4]']],
        soakMs: 120_000,
        downHosts: 'skip',
        downAfterMs: 90_000,
      },
    },
    {
      name: 'soak 0s and down_hosts: wait written out',
      lines: ['rollout:', '  waves: [["web-?"]]', '  soak: 0s', '  down_hosts: wait'],
      rollout: { waves: [['web-?']], soakMs: 0, downHosts: 'wait', downAfterMs: 600_000 },
    },
    {
      name: 'block style, fractional soak',
      lines: [
        'rollout:',
        '  waves:',
        '    - [web-1]',
        '    - - web-2',
        '      - web-3',
        '  soak: 2.5s',
      ],
      rollout: {
        waves: [['web-1'], ['web-2', 'web-3']],
        soakMs: 2_500,
        downHosts: 'wait',
        downAfterMs: 600_000,
      },
    },
  ])('$name', ({ lines, rollout }) => {
    const fleet = loadOk({ 'gitdock.yaml': config(WEB, ...lines) });
    expect(fleet.rollout).toEqual(rollout);
    expect(fleet.warnings).toEqual([]);
  });

  it('waves are over the hosts gitdock.yaml names: the example of the docs', () => {
    const fleet = loadOk({
      'gitdock.yaml': config(
        ['web-1', 'web-2', 'web-3', 'web-4', 'db-1'],
        'rollout:',
        '  waves: [[web-1], [web-2, web-3], ["web-*"]]',
      ),
    });
    const waves = assignWaves(rolloutHosts(fleet.config), fleet.rollout!);
    expect(Object.fromEntries(waves)).toEqual({
      'db-1': 3, // in no wave: last
      'web-1': 0,
      'web-2': 1,
      'web-3': 1,
      'web-4': 2,
    });
  });
});

describe('rolloutHosts', () => {
  it.each<{ name: string; tree: Record<string, string>; hosts: string[] }>([
    { name: 'no gitdock.yaml', tree: { 'hosts/web-1/app.yaml': APP }, hosts: [] },
    {
      name: 'the keys of hosts:, sorted; a hosts/ directory alone is not one',
      tree: { 'gitdock.yaml': config(['web-2', 'db-1', 'web-10']), 'hosts/edge-1/app.yaml': APP },
      hosts: ['db-1', 'web-10', 'web-2'],
    },
  ])('$name', ({ tree, hosts }) => {
    expect(rolloutHosts(loadOk(tree).config)).toEqual(hosts);
  });
});

describe('loadFleet: rollout and max_parallel that are invalid', () => {
  const G = 'gitdock.yaml';
  it.each<{ name: string; text: string; errors: ManifestError[] }>([
    {
      name: 'no waves',
      text: yaml('rollout:', '  soak: 2m'),
      errors: [
        {
          file: G,
          line: 2,
          column: 3,
          path: '/rollout',
          message: 'missing required field "waves" in rollout',
        },
      ],
    },
    {
      name: 'an empty list of waves',
      text: yaml('rollout:', '  waves: []'),
      errors: [
        {
          file: G,
          line: 2,
          column: 10,
          path: '/rollout/waves',
          message: 'rollout.waves: expected at least 1 item, got an empty list',
        },
      ],
    },
    {
      name: 'an empty wave',
      text: yaml('rollout:', '  waves: [[web-1], []]'),
      errors: [
        {
          file: G,
          line: 2,
          column: 20,
          path: '/rollout/waves/1',
          message: 'rollout.waves[1]: expected at least 1 item, got an empty list',
        },
      ],
    },
    {
      name: 'a wave that is not a list',
      text: yaml('rollout:', '  waves: [web-1]'),
      errors: [
        {
          file: G,
          line: 2,
          column: 11,
          path: '/rollout/waves/0',
          message: 'rollout.waves[0]: expected a list of strings, got string "web-1"',
        },
      ],
    },
    {
      name: 'unknown field, with a close match',
      text: yaml('rollout:', '  waves: [[web-1]]', '  sok: 2m'),
      errors: [
        {
          file: G,
          line: 3,
          column: 3,
          path: '/rollout/sok',
          message: 'unknown field "sok" in rollout; did you mean "soak"?',
        },
      ],
    },
    {
      name: 'down_hosts not wait or skip',
      text: yaml('rollout:', '  waves: [[web-1]]', '  down_hosts: ignore'),
      errors: [
        {
          file: G,
          line: 3,
          column: 15,
          path: '/rollout/down_hosts',
          message: 'rollout.down_hosts: expected one of "wait", "skip", got string "ignore"',
        },
      ],
    },
    {
      name: 'max_parallel 0',
      text: yaml('max_parallel: 0'),
      errors: [
        {
          file: G,
          line: 1,
          column: 15,
          path: '/max_parallel',
          message: 'max_parallel: expected an integer of at least 1, got number 0',
        },
      ],
    },
    {
      name: 'a host max_parallel that is not an integer',
      text: yaml('hosts:', '  web-1:', '    max_parallel: 1.5'),
      errors: [
        {
          file: G,
          line: 3,
          column: 19,
          path: '/hosts/web-1/max_parallel',
          message: 'hosts.web-1.max_parallel: expected an integer, got number 1.5',
        },
      ],
    },
  ])('$name', ({ text, errors }) => {
    expect(loadErrors({ [G]: text })).toEqual(errors);
  });

  // Pattern failures quote the field's description; what matters is the place.
  it.each([
    { name: 'an uppercase host', value: 'Web-1', line: 2, path: '/rollout/waves/0/0' },
    { name: 'a reversed range', value: '"web-[9-1]"', line: 2, path: '/rollout/waves/0/0' },
    { name: 'an unclosed class', value: '"web-[1"', line: 2, path: '/rollout/waves/0/0' },
  ])('a wave item that is not a host name or glob: $name', ({ value, line, path }) => {
    const errors = loadErrors({ [G]: yaml('rollout:', `  waves: [[${value}]]`) });
    expect(errors.map((e) => [e.line, e.path])).toEqual([[line, path]]);
    expect(errors[0]?.message).toContain('a glob over the hosts named under `hosts:`');
  });

  it.each([
    ['soak', '2 minutes'],
    ['soak', '-1s'],
    ['down_after', '"10"'],
  ])('%s: %s is not a duration', (field, value) => {
    const errors = loadErrors({
      [G]: yaml('rollout:', '  waves: [[web-1]]', '  down_hosts: skip', `  ${field}: ${value}`),
    });
    expect(errors.map((e) => [e.line, e.path])).toEqual([[4, `/rollout/${field}`]]);
    expect(errors[0]?.message).toContain('a duration such as');
  });
});

describe('loadFleet: rollout warnings', () => {
  const G = 'gitdock.yaml';
  it.each<{ name: string; tree: Record<string, string>; warnings: ManifestError[] }>([
    {
      name: 'none when every pattern places a host',
      tree: {
        [G]: config(WEB, 'rollout:', '  waves: [[web-1], ["web-[23]"], ["web-*"]]'),
        'hosts/web-1/app.yaml': APP,
      },
      warnings: [],
    },
    {
      name: 'a name that is not among the hosts',
      tree: { [G]: config(WEB, 'rollout:', '  waves: [[web-1], [web-9, web-2]]') },
      warnings: [
        {
          file: G,
          line: 7,
          column: 21,
          path: '/rollout/waves/1/0',
          message:
            'rollout.waves[1][0] "web-9" matches none of the hosts named under hosts: (web-1, web-2, web-3, web-4); fix the name or glob, or name the host under hosts:',
        },
      ],
    },
    {
      name: 'a glob that matches no host',
      tree: { [G]: config(['web-1'], 'rollout:', '  waves: [[web-1], ["db-*"]]') },
      warnings: [
        {
          file: G,
          line: 4,
          column: 21,
          path: '/rollout/waves/1/0',
          message:
            'rollout.waves[1][0] "db-*" matches none of the hosts named under hosts: (web-1); fix the name or glob, or name the host under hosts:',
        },
      ],
    },
    {
      name: 'no hosts named at all',
      tree: { [G]: yaml('rollout:', '  waves: [[web-1]]') },
      warnings: [
        {
          file: G,
          line: 2,
          column: 12,
          path: '/rollout/waves/0/0',
          message:
            'rollout.waves[0][0] "web-1" matches no host: gitdock.yaml names no hosts under hosts:, and waves are over those hosts; name them there (web-1: {})',
        },
      ],
    },
    {
      name: 'a pattern whose hosts are all in earlier waves',
      tree: { [G]: config(WEB, 'rollout:', '  waves: [["web-*"], [web-2]]') },
      warnings: [
        {
          file: G,
          line: 7,
          column: 23,
          path: '/rollout/waves/1/0',
          message:
            'rollout.waves[1][0] "web-2" adds no host to waves[1]: web-2 is in waves[0] (a host belongs to the first wave that matches it); remove it or move it up',
        },
      ],
    },
    {
      name: 'a pattern that adds some hosts and repeats others is fine',
      tree: { [G]: config(WEB, 'rollout:', '  waves: [[web-1], ["web-*"]]') },
      warnings: [],
    },
    {
      name: 'down_after without down_hosts: skip',
      tree: { [G]: config(WEB, 'rollout:', '  waves: [["web-*"]]', '  down_after: 5m') },
      warnings: [
        {
          file: G,
          line: 8,
          column: 15,
          path: '/rollout/down_after',
          message:
            'rollout.down_after is only read with down_hosts: skip; without it a silent host holds the later waves however long it takes; set down_hosts: skip or remove down_after',
        },
      ],
    },
    {
      name: 'down_after with down_hosts: wait',
      tree: {
        [G]: config(
          ['web-1'],
          'rollout:',
          '  waves: [[web-1]]',
          '  down_hosts: wait',
          '  down_after: 5m',
        ),
      },
      warnings: [
        {
          file: G,
          line: 6,
          column: 15,
          path: '/rollout/down_after',
          message:
            'rollout.down_after is only read with down_hosts: skip; without it a silent host holds the later waves however long it takes; set down_hosts: skip or remove down_after',
        },
      ],
    },
    {
      name: 'hosts with a directory but no hosts: entry, with a rollout',
      tree: {
        [G]: config(['web-1'], 'rollout:', '  waves: [[web-1]]'),
        'hosts/web-1/app.yaml': APP,
        'hosts/web-2/app.yaml': APP,
        'hosts/edge-1/app.yaml': APP,
      },
      warnings: ['edge-1', 'web-2'].map((host) => ({
        file: G,
        line: 4,
        column: 3,
        path: '/rollout',
        message: `host ${host} has a hosts/${host}/ directory but is not named under hosts:, so it is in no wave: it applies every commit at once and will not wait for any wave; name it under hosts: (${host}: {}) to put it in the rollout`,
      })),
    },
    {
      name: 'hosts with a directory but no hosts: entry, without a rollout: nothing to say',
      tree: { [G]: config(['web-1']), 'hosts/web-2/app.yaml': APP },
      warnings: [],
    },
  ])('$name', ({ tree, warnings }) => {
    expect(loadOk(tree).warnings).toEqual(warnings);
  });

  it('warnings do not fail the revision, and the rollout is still read', () => {
    const fleet = loadOk({ [G]: config(['web-1'], 'rollout:', '  waves: [[web-1], [web-9]]') });
    expect(fleet.warnings).toHaveLength(1);
    expect(fleet.rollout?.waves).toEqual([['web-1'], ['web-9']]);
  });
});

describe('resolveHost: max_parallel', () => {
  it.each<{ name: string; lines: string[]; host: string; maxParallel: number | undefined }>([
    { name: 'unset: left to the default', lines: [], host: 'web-1', maxParallel: undefined },
    { name: 'top level', lines: ['max_parallel: 4'], host: 'web-1', maxParallel: 4 },
    {
      name: 'a host of its own overrides the top level',
      lines: ['max_parallel: 4', 'hosts:', '  web-1:', '    max_parallel: 1'],
      host: 'web-1',
      maxParallel: 1,
    },
    {
      name: 'another host keeps the top level',
      lines: ['max_parallel: 4', 'hosts:', '  web-1:', '    max_parallel: 1', '  web-2: {}'],
      host: 'web-2',
      maxParallel: 4,
    },
    {
      name: 'a host of its own without a top level',
      lines: ['hosts:', '  web-1:', '    max_parallel: 8'],
      host: 'web-1',
      maxParallel: 8,
    },
    {
      name: 'a host not in gitdock.yaml gets the top level',
      lines: ['max_parallel: 3'],
      host: 'edge-9',
      maxParallel: 3,
    },
  ])('$name', ({ lines, host, maxParallel }) => {
    const fleet = loadOk({ 'gitdock.yaml': yaml(...lines), [`hosts/${host}/app.yaml`]: APP });
    const resolved = resolveHost(fleet, host, COMMIT);
    if (!resolved.ok) expect.fail(JSON.stringify(resolved.errors));
    expect(resolved.value.maxParallel).toBe(maxParallel);
    expect('maxParallel' in resolved.value).toBe(maxParallel !== undefined);
  });
});
