// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Compose interpolation, not templates
import { describe, expect, it } from 'vitest';
import { load, only, service, y } from './load-fixtures.js';

describe('include (through loadComposeHost)', () => {
  it('include: the included services join with their own paths and env defaults under ours', () => {
    const p = only({
      'hosts/web-1/a/compose.yaml': y(
        'include:',
        '  - ../../../lib/db/compose.yaml',
        '  - path: ../../../lib/cache/compose.yaml',
        '    env_file: ../../../lib/cache/cache.env',
        'services:',
        '  web: { image: web, depends_on: [db] }',
      ),
      'hosts/web-1/a/.env': 'DB_TAG=16\n',
      'lib/db/compose.yaml': y(
        'services:',
        '  db: { image: "postgres:${DB_TAG:-15}", volumes: ["./init.sql:/init.sql", "data:/var/lib/postgresql/data"] }',
        'volumes: { data: {} }',
      ),
      'lib/db/.env': 'DB_TAG=14\n',
      'lib/cache/compose.yaml': y('services:', '  cache: { image: "redis:${REDIS_TAG}" }'),
      'lib/cache/cache.env': 'REDIS_TAG=7\n',
    });
    expect(Object.keys(p.model.services as object).sort()).toEqual(['cache', 'db', 'web']);
    expect(service(p, 'db')).toEqual({
      image: 'postgres:16',
      volumes: [
        {
          type: 'bind',
          source: 'lib/db/init.sql',
          target: '/init.sql',
          bind: { create_host_path: true },
          'x-gitdock-repo-path': true,
        },
        { type: 'volume', source: 'data', target: '/var/lib/postgresql/data' },
      ],
    });
    expect(service(p, 'cache').image).toBe('redis:7');
    expect(p.model.volumes).toEqual({ data: {} });
    expect(p.files).toEqual(
      expect.arrayContaining(['lib/db/compose.yaml', 'lib/db/.env', 'lib/cache/cache.env']),
    );
  });

  it('include: a name clash is an error', () => {
    const r = load({
      'hosts/web-1/a/compose.yaml': y('include: [lib.yaml]', 'services:', '  db: { image: mine }'),
      'hosts/web-1/a/lib.yaml': y('services:', '  db: { image: theirs }'),
    });
    expect(r.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/services.db from hosts\/web-1\/a\/lib.yaml is also defined/),
    ]);
  });

  it('include: a file including itself stops', () => {
    const r = load({
      'hosts/web-1/a/compose.yaml': y('include: [compose.yaml]', 'services:', '  a: { image: x }'),
    });
    expect(r.errors.map((e) => e.message)).toContainEqual(
      expect.stringMatching(/include nests more than/),
    );
  });
});
