import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/spec-hash.js';
import type { Severity } from './field-support.js';
import { resolveFileSources, resolveNetworks, resolveVolumes } from './normalize-resources.js';

function collect() {
  const out: [Severity, string, string][] = [];
  return {
    out,
    report: (s: Severity, p: (string | number)[], m: string) => out.push([s, p.join('/'), m]),
  };
}

const sha = (value: unknown) => createHash('sha256').update(canonicalJson(value)).digest('hex');

describe('resolveNetworks', () => {
  it('has an implicit default network', () => {
    const { out, report } = collect();
    const networks = resolveNetworks('shop', {}, report);
    expect(out).toEqual([]);
    expect([...networks.values()]).toEqual([
      {
        name: 'shop_default',
        project: 'shop',
        key: 'default',
        external: false,
        labels: {},
        specHash: sha({ external: false, labels: {} }),
      },
    ]);
  });

  it('maps every setting, and hashes them without the name', () => {
    const { out, report } = collect();
    const back = {
      driver: 'bridge',
      driver_opts: { 'com.docker.network.bridge.name': 'br-back', mtu: 1400 },
      internal: true,
      attachable: 'true',
      enable_ipv6: true,
      enable_ipv4: true,
      ipam: {
        driver: 'default',
        config: [
          {
            subnet: '172.28.0.0/16',
            ip_range: '172.28.5.0/24',
            gateway: '172.28.5.254',
            aux_addresses: { host1: '172.28.1.5' },
          },
        ],
        options: { foo: 'bar' },
      },
      labels: ['tier=back'],
    };
    const networks = resolveNetworks('shop', { networks: { back } }, report);
    expect(out).toEqual([]);
    const settings = {
      driver: 'bridge',
      driverOpts: { 'com.docker.network.bridge.name': 'br-back', mtu: '1400' },
      internal: true,
      attachable: true,
      enableIpv6: true,
      ipam: {
        driver: 'default',
        config: [
          {
            subnet: '172.28.0.0/16',
            ipRange: '172.28.5.0/24',
            gateway: '172.28.5.254',
            auxAddresses: { host1: '172.28.1.5' },
          },
        ],
        options: { foo: 'bar' },
      },
    };
    expect(networks.get('back')).toEqual({
      name: 'shop_back',
      project: 'shop',
      key: 'back',
      external: false,
      ...settings,
      labels: { tier: 'back' },
      specHash: sha({ external: false, ...settings, labels: { tier: 'back' } }),
    });
    const renamed = resolveNetworks(
      'other',
      { networks: { back: { ...back, name: 'x' } } },
      report,
    );
    expect(renamed.get('back')!.specHash).toBe(networks.get('back')!.specHash);
    const changed = resolveNetworks(
      'shop',
      { networks: { back: { driver: 'bridge', internal: false } } },
      report,
    );
    expect(changed.get('back')!.specHash).not.toBe(networks.get('back')!.specHash);
  });

  it.each([
    [{ outside: { external: true } }, 'outside', 'outside'],
    [{ outside: { external: true, name: 'proxy' } }, 'outside', 'proxy'],
    [{ outside: { external: { name: 'legacy' } } }, 'outside', 'legacy'],
    [{ mine: { name: 'custom' } }, 'mine', 'custom'],
    [{ default: { name: 'shared' } }, 'default', 'shared'],
  ])('names %j as Compose does', (networks, key, name) => {
    const { out, report } = collect();
    expect(resolveNetworks('shop', { networks }, report).get(key)!.name).toBe(name);
    expect(out).toEqual([]);
  });

  it('warns that settings of an external network are ignored', () => {
    const { out, report } = collect();
    const n = resolveNetworks(
      'shop',
      { networks: { ext: { external: true, driver: 'overlay' } } },
      report,
    ).get('ext')!;
    expect(n).toMatchObject({ external: true, labels: {} });
    expect(n.driver).toBeUndefined();
    expect(out).toEqual([
      [
        'warning',
        'networks/ext/driver',
        'networks.ext.driver is ignored: the network is external, gitdock never creates or changes it',
      ],
    ]);
  });

  it.each([
    [
      { n: { enable_ipv4: false } },
      'networks/n/enable_ipv4',
      'networks.n.enable_ipv4: false needs engine API 1.47; gitdock supports 1.41',
    ],
    [
      { n: { labels: { 'io.gitdock.project': 'x' } } },
      'networks/n/labels/io.gitdock.project',
      'label "io.gitdock.project": the io.gitdock. prefix is reserved for gitdock',
    ],
    [
      { n: { drivr: 'bridge' } },
      'networks/n/drivr',
      'networks.n.drivr: unknown field; did you mean driver?',
    ],
    [
      { n: { ipam: { config: 'x' } } },
      'networks/n/ipam/config',
      'networks.n.ipam.config: expected a list',
    ],
  ])('reports %j', (networks, path, message) => {
    const { out, report } = collect();
    resolveNetworks('shop', { networks }, report);
    expect(out).toEqual([['error', path, message]]);
  });
});

describe('resolveVolumes', () => {
  it('names and maps volumes as Compose does', () => {
    const { out, report } = collect();
    const volumes = resolveVolumes(
      'shop',
      {
        volumes: {
          data: null,
          named: {
            name: 'pgdata',
            driver: 'local',
            driver_opts: { type: 'none', o: 'bind', device: '/srv/pg' },
            labels: { backup: 'yes' },
          },
          ext: { external: true },
          old: { external: { name: 'legacy' } },
        },
      },
      report,
    );
    expect(out).toEqual([]);
    expect([...volumes.values()]).toEqual([
      { name: 'shop_data', project: 'shop', key: 'data', external: false, labels: {} },
      {
        name: 'pgdata',
        project: 'shop',
        key: 'named',
        external: false,
        driver: 'local',
        driverOpts: { device: '/srv/pg', o: 'bind', type: 'none' },
        labels: { backup: 'yes' },
      },
      { name: 'ext', project: 'shop', key: 'ext', external: true, labels: {} },
      { name: 'legacy', project: 'shop', key: 'old', external: true, labels: {} },
    ]);
  });
});

describe('resolveFileSources', () => {
  it('takes file and content sources and reports the rest', () => {
    const { out, report } = collect();
    const configs = resolveFileSources(
      'configs',
      {
        configs: {
          a: { file: 'hosts/web-1/shop/a.conf' },
          b: { content: 'x=1' },
          c: { external: true },
          d: { environment: 'X' },
          e: {},
          f: { file: '/etc/f', template_driver: 'golang' },
        },
      },
      report,
    );
    expect([...configs]).toEqual([
      ['a', { kind: 'file', path: 'hosts/web-1/shop/a.conf' }],
      ['b', { kind: 'content', content: 'x=1' }],
      ['f', { kind: 'file', path: '/etc/f' }],
    ]);
    expect(out.map(([s, p]) => [s, p])).toEqual([
      ['error', 'configs/c/external'],
      ['error', 'configs/d/environment'],
      ['error', 'configs/e'],
      ['error', 'configs/f/template_driver'],
    ]);
  });
});
