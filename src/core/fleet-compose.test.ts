import { describe, expect, it } from 'vitest';
import { resolveHost } from './fleet.js';
import { loadErrors, loadOk, yaml } from './test-fixtures.js';

// How Compose projects join a fleet revision: loadFleet (CI mode) and
// resolveHost (on the host, with its own variables). The Compose front end
// itself is tested in src/compose/.

const APP = yaml('image: registry.example.com/app', 'tag: "1.0"');

const SHOP = yaml(
  'services:',
  '  app:',
  '    image: registry.example.com/app:1.0',
  '    environment:',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation
  '      DB_PASSWORD: ${DB_PASSWORD:?set it in shop.env}',
  '    volumes: [data:/data, ./app.conf:/etc/app.conf:ro]',
  '  db:',
  '    image: registry.example.com/db:2.0',
  'volumes:',
  '  data: {}',
);

const host = (
  tree: Record<string, string>,
  name: string,
  hostEnv?: Map<string, Record<string, string>>,
) => resolveHost(loadOk(tree), name, 'c0ffee', hostEnv ? { hostEnv } : {});

describe('loadFleet with Compose projects', () => {
  it('reads a project directory beside manifests; its other YAML files are not manifests', () => {
    const fleet = loadOk({
      'hosts/web-1/app.yaml': APP,
      'hosts/web-1/shop/compose.yaml': SHOP,
      'hosts/web-1/shop/app.conf': 'x=1\n',
      'hosts/web-1/shop/prometheus.yml': 'scrape_configs: []\n',
    });
    expect(fleet.knownHosts).toEqual(['web-1']);
    expect(fleet.compose.get('web-1')?.services.map((s) => s.name)).toEqual([
      'shop/app',
      'shop/db',
    ]);
    // CI: the variable only a host can supply is a note, not an error.
    expect(fleet.notes.map((n) => n.message).join('\n')).toMatch(/DB_PASSWORD/);
  });

  it('still refuses a YAML file in a host subdirectory that is no project', () => {
    const errors = loadErrors({ 'hosts/web-1/old/app.yaml': APP });
    expect(errors.map((e) => e.message).join('\n')).toMatch(/hosts\/<host>\/<service>\.yaml/);
  });

  it('checks Compose services against the policy', () => {
    const errors = loadErrors({
      'gitdock.yaml': yaml('policy:', '  deny_privileged: true'),
      'hosts/web-1/p1/compose.yaml': yaml(
        'services:',
        '  x1:',
        '    image: registry.example.com/x:1',
        '    privileged: true',
      ),
    });
    expect(errors).toMatchObject([
      {
        file: 'hosts/web-1/p1/compose.yaml',
        line: 4,
        message: expect.stringMatching(/deny_privileged/),
      },
    ]);
  });

  it('refuses a container name used by a manifest and a Compose service on one host', () => {
    const errors = loadErrors({
      'hosts/web-1/shop-app-1.yaml': APP,
      'hosts/web-1/shop/compose.yaml': SHOP,
    });
    expect(errors.map((e) => e.message).join('\n')).toMatch(
      /container name "shop-app-1" of shop\/app is also the name of service shop-app-1/,
    );
  });

  it('validates a stack for a host only its x-gitdock.hosts names', () => {
    const errors = loadErrors({
      'stacks/web/compose.yaml': yaml(
        'x-gitdock: { hosts: [edge-1] }',
        'services:',
        '  w1:',
        '    image: registry.example.com/w:1',
        '    ports: ["notaport"]',
      ),
    });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.file).toBe('stacks/web/compose.yaml');
  });

  it('warns when a stack selects no host the repo names (it could not be checked)', () => {
    const fleet = loadOk({
      'stacks/web/compose.yaml': yaml(
        'x-gitdock: { hosts: ["edge-*"] }',
        'services:',
        '  w1:',
        '    image: registry.example.com/w:1',
      ),
    });
    expect(fleet.warnings.map((w) => w.message).join('\n')).toMatch(
      /selects no host the repo names/,
    );
  });
});

describe('resolveHost with Compose projects', () => {
  const tree = {
    'gitdock.yaml': yaml(
      'hosts:',
      '  web-1:',
      '    remove_volumes: [shop_old]',
      '    projects:',
      '      shop: { adopt_compose: true }',
    ),
    'hosts/web-1/app.yaml': APP,
    'hosts/web-1/shop/compose.yaml': SHOP,
    'hosts/web-1/shop/app.conf': 'x=1\n',
  };

  it('on the host, an unset required variable is an error naming it', () => {
    const result = host(tree, 'web-1', new Map());
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.errors.map((e) => e.message).join('\n')).toMatch(/set it in shop\.env/);
  });

  it('gives manifests first, then the projects, with their resources and the host settings', () => {
    const result = host(tree, 'web-1', new Map([['shop', { DB_PASSWORD: 's3cret' }]]));
    if (!result.ok) expect.fail(result.errors.map((e) => e.message).join('\n'));
    const state = result.value;
    expect(state.services.map((s) => [s.name, s.containerName])).toEqual([
      ['app', 'app'],
      ['shop/app', 'shop-app-1'],
      ['shop/db', 'shop-db-1'],
    ]);
    const app = state.services[1]!;
    expect(app.spec.environment.DB_PASSWORD).toBe('s3cret');
    expect(app.secretValues).toEqual(['s3cret']);
    expect(app.spec.volumes.find((v) => v.target === '/etc/app.conf')?.repoFile?.path).toBe(
      'hosts/web-1/shop/app.conf',
    );
    expect(state.networks?.map((n) => n.name)).toEqual(['shop_default']);
    expect(state.volumes?.map((v) => v.name)).toEqual(['shop_data']);
    expect(state.removeVolumes).toEqual(['shop_old']);
    expect(state.adoptCompose).toEqual(['shop']);
  });

  it('a rotated host secret changes the spec hash of the services that use it only', () => {
    const before = host(tree, 'web-1', new Map([['shop', { DB_PASSWORD: 'a' }]]));
    const after = host(tree, 'web-1', new Map([['shop', { DB_PASSWORD: 'b' }]]));
    if (!before.ok || !after.ok) expect.fail('expected both to resolve');
    const hashes = (s: typeof before.value) => s.services.map((x) => x.specHash);
    const [a, b] = [hashes(before.value), hashes(after.value)];
    expect(a[0]).toBe(b[0]);
    expect(a[1]).not.toBe(b[1]);
    expect(a[2]).toBe(b[2]);
  });
});
