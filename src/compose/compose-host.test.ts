import { describe, expect, it } from 'vitest';
import type { RepoConfig } from '../core/schema.js';
import { resolveComposeHost } from './compose-host.js';
import type { ComposeHostLoad, LoadComposeHost, LoadedProject } from './contract.js';
import { loadComposeHost } from './load-host.js';

const enc = new TextEncoder();

function project(
  name: string,
  model: Record<string, unknown>,
  dir = `hosts/web-1/${name}`,
): LoadedProject {
  return {
    name,
    host: 'web-1',
    dir,
    files: [`${dir}/compose.yaml`],
    model,
    locate: () => ({ file: `${dir}/compose.yaml`, line: 2, column: 3 }),
    secretValues: [],
  };
}

function fakeLoad(
  projects: LoadedProject[],
  extra: Partial<ComposeHostLoad> = {},
): LoadComposeHost {
  return () => ({ projects, errors: [], notes: [], warnings: [], ...extra });
}

function resolve(
  projects: LoadedProject[],
  files: Record<string, string> = {},
  config: RepoConfig = {},
  extra: Partial<ComposeHostLoad> = {},
) {
  const input = {
    files: new Map(Object.entries(files).map(([p, t]) => [p, enc.encode(t)])),
    host: 'web-1',
  };
  return resolveComposeHost(input, config, fakeLoad(projects, extra));
}

const messages = (r: { errors: { message: string }[] }) => r.errors.map((e) => e.message);

describe('resolveComposeHost', () => {
  it('lets two projects each have a db, projects in name order', () => {
    const r = resolve([
      project('shop', {
        services: { db: { image: 'pg' }, web: { image: 'app', depends_on: ['db'] } },
      }),
      project('blog', { services: { db: { image: 'pg' } } }),
    ]);
    expect(messages(r)).toEqual([]);
    expect(r.services.map((s) => [s.name, s.containerName])).toEqual([
      ['blog/db', 'blog-db-1'],
      ['shop/db', 'shop-db-1'],
      ['shop/web', 'shop-web-1'],
    ]);
    expect(r.networks.map((n) => n.name)).toEqual(['blog_default', 'shop_default']);
    expect(r.files).toEqual(['hosts/web-1/blog/compose.yaml', 'hosts/web-1/shop/compose.yaml']);
  });

  it('passes the loader problems through', () => {
    const error = { file: 'x', path: '', message: 'bad' };
    const note = { file: 'x', path: '', message: 'set DB_PASSWORD' };
    const r = resolve([], {}, {}, { errors: [error], notes: [note] });
    expect(r.errors).toEqual([error]);
    expect(r.notes).toEqual([note]);
    expect(r.services).toEqual([]);
  });

  it('rejects one container name in two projects', () => {
    const r = resolve([
      project('a', { services: { web: { image: 'app', container_name: 'web' } } }),
      project('b', { services: { web: { image: 'app', container_name: 'web' } } }),
    ]);
    expect(r.errors).toEqual([
      {
        file: 'hosts/web-1/b/compose.yaml',
        line: 2,
        column: 3,
        path: '/services/web/container_name',
        message:
          'container name "web" of b/web is also used by a/web (hosts/web-1/a/compose.yaml) on host web-1',
      },
    ]);
  });

  it('rejects two projects with one name', () => {
    const r = resolve([
      project('shop', { services: {} }),
      project('shop', { services: {} }, 'stacks/shop'),
    ]);
    expect(messages(r)).toEqual([
      'project "shop" (stacks/shop) has the same name as hosts/web-1/shop on host web-1; give one a different top-level name:',
    ]);
  });

  it.each([
    [['8080:80'], ['8080:81'], true],
    [['127.0.0.1:8080:80'], ['127.0.0.2:8080:80'], false],
    [['127.0.0.1:8080:80'], ['8080:80'], true],
    [['8080:80/udp'], ['8080:80'], false],
    [['80'], ['80'], false],
  ])('fixed host ports %j and %j clash: %s', (a, b, clash) => {
    const r = resolve([
      project('a', { services: { web: { image: 'app', ports: a } } }),
      project('b', { services: { web: { image: 'app', ports: b } } }),
    ]);
    expect(messages(r)).toEqual(
      clash ? [expect.stringMatching(/^host port .* of b\/web is also published by a\/web$/)] : [],
    );
  });

  it('rejects replicas of a service with a fixed host port', () => {
    const r = resolve([
      project('a', { services: { web: { image: 'app', scale: 2, ports: ['8080:80'] } } }),
    ]);
    expect(messages(r)).toEqual([
      'host port 8080/tcp of a/web#2 is also published by a/web (a service with replicas cannot publish a fixed host port)',
    ]);
  });

  it('accepts container:NAME of another project on the host, rejects an unknown one', () => {
    const ok = resolve([
      project('a', { services: { vpn: { image: 'vpn', container_name: 'vpn' } } }),
      project('b', {
        services: {
          app: {
            image: 'app',
            network_mode: 'container:vpn',
            volumes_from: ['container:a-vpn-1:ro'],
          },
        },
      }),
    ]);
    expect(messages(ok)).toEqual([
      'volumes_from: container "a-vpn-1" is not a container of a Compose service on host web-1; use service:NAME for a service of the project, or a container_name gitdock runs here',
    ]);
    const missing = resolve([
      project('b', { services: { app: { image: 'app', network_mode: 'container:missing' } } }),
    ]);
    expect(missing.errors).toEqual([
      {
        file: 'hosts/web-1/b/compose.yaml',
        line: 2,
        column: 3,
        path: '/services/app/network_mode',
        message:
          'network_mode: container "missing" is not a container of a Compose service on host web-1; use service:NAME for a service of the project, or a container_name gitdock runs here',
      },
    ]);
  });

  it('shares external resources, refuses two projects creating one', () => {
    const uses = {
      services: {
        web: {
          image: 'app',
          networks: ['proxy'],
          volumes: [{ type: 'volume', source: 'shared', target: '/s' }],
        },
      },
    };
    const ok = resolve([
      project('a', {
        ...uses,
        networks: { proxy: { external: true } },
        volumes: { shared: { external: true, name: 'data' } },
      }),
      project('b', {
        ...uses,
        networks: { proxy: { external: true } },
        volumes: { shared: { external: true, name: 'data' } },
      }),
    ]);
    expect(messages(ok)).toEqual([]);
    expect(ok.networks.map((n) => n.name)).toEqual(['proxy']);
    expect(ok.volumes.map((v) => v.name)).toEqual(['data']);
    const clash = resolve([
      project('a', {
        ...uses,
        networks: { proxy: { name: 'proxy' } },
        volumes: { shared: { name: 'data' } },
      }),
      project('b', {
        ...uses,
        networks: { proxy: { name: 'proxy' } },
        volumes: { shared: { name: 'data' } },
      }),
    ]);
    expect(messages(clash)).toEqual([
      'network "proxy" is also created by project a; declare it external: true in all but one project',
      'volume "data" is also created by project a; declare it external: true in all but one project',
    ]);
  });

  it('lists the repo files services mount', () => {
    const dir = 'hosts/web-1/shop';
    const r = resolve(
      [
        project('shop', {
          services: {
            web: {
              image: 'app',
              volumes: [
                {
                  type: 'bind',
                  source: `${dir}/nginx.conf`,
                  target: '/etc/nginx.conf',
                  'x-gitdock-repo-path': true,
                },
                {
                  type: 'bind',
                  source: `${dir}/html`,
                  target: '/html',
                  'x-gitdock-repo-path': true,
                },
              ],
            },
          },
        }),
      ],
      {
        [`${dir}/nginx.conf`]: 'x',
        [`${dir}/html/index.html`]: '<p>',
        [`${dir}/html/a/b.css`]: '',
      },
    );
    expect(messages(r)).toEqual([]);
    expect(r.files).toEqual([
      `${dir}/compose.yaml`,
      `${dir}/html`,
      `${dir}/html/a/b.css`,
      `${dir}/html/index.html`,
      `${dir}/nginx.conf`,
    ]);
  });
});

describe('resolveComposeHost with the real loader', () => {
  it('normalizes a project read from the repo', () => {
    const files = new Map(
      Object.entries({
        'hosts/web-1/shop/compose.yaml': [
          'services:',
          '  web:',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation
          '    image: app:${TAG:-1}',
          '    ports: ["8080:80"]',
          '    volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro", "./data:/data", "db:/var/lib/db"]',
          '    depends_on: [db]',
          '  db:',
          '    image: postgres:16',
          '    environment:',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation
          '      POSTGRES_PASSWORD: ${PW:-x}',
          'volumes:',
          '  db: {}',
          '',
        ].join('\n'),
        'hosts/web-1/shop/nginx.conf': 'server {}',
      }).map(([p, t]) => [p, enc.encode(t)]),
    );
    const r = resolveComposeHost({ files, host: 'web-1' }, {}, loadComposeHost);
    expect(r.errors).toEqual([]);
    expect(r.services.map((s) => s.name)).toEqual(['shop/db', 'shop/web']);
    const web = r.services[1]!;
    expect(web.spec).toMatchObject({
      image: 'app',
      tag: '1',
      ports: [{ containerPort: 80, protocol: 'tcp', hostPort: 8080 }],
    });
    expect(web.spec.volumes).toEqual([
      {
        type: 'bind',
        target: '/etc/nginx/nginx.conf',
        readOnly: true,
        repoFile: { path: 'hosts/web-1/shop/nginx.conf', sha256: expect.any(String), kind: 'file' },
      },
      {
        type: 'bind',
        target: '/data',
        readOnly: false,
        hostData: { project: 'shop', path: 'data' },
      },
      { type: 'volume', source: 'shop_db', target: '/var/lib/db', readOnly: false },
    ]);
    expect(r.services[0]!.spec.environment).toEqual({ POSTGRES_PASSWORD: 'x' });
    expect(r.volumes.map((v) => v.name)).toEqual(['shop_db']);
  });

  it('names the project and turns profiles on from .env, as Compose does for a migrated project', () => {
    const files = new Map(
      Object.entries({
        'hosts/web-1/app/compose.yaml': [
          'name: ignored-by-compose-project-name',
          'services:',
          '  web: { image: app, volumes: ["db:/var/lib/db"] }',
          '  debug: { image: tools, profiles: [extra] }',
          '  other: { image: tools, profiles: [off] }',
          'volumes:',
          '  db: {}',
          '',
        ].join('\n'),
        'hosts/web-1/app/.env': 'COMPOSE_PROJECT_NAME=legacy-app\nCOMPOSE_PROFILES=extra\n',
      }).map(([p, t]) => [p, enc.encode(t)]),
    );
    const r = resolveComposeHost({ files, host: 'web-1' }, {}, loadComposeHost);
    expect(r.errors).toEqual([]);
    expect(r.services.map((s) => [s.name, s.containerName])).toEqual([
      ['legacy-app/debug', 'legacy-app-debug-1'],
      ['legacy-app/web', 'legacy-app-web-1'],
    ]);
    expect(r.volumes.map((v) => v.name)).toEqual(['legacy-app_db']);
  });
});
