// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Compose interpolation, not templates
import { describe, expect, it } from 'vitest';
import { discoverProjects } from './discover.js';

describe('discoverProjects', () => {
  it('finds host project directories, stacks, overrides and .env by path', () => {
    const d = discoverProjects(
      [
        'hosts/web-1/gitea/compose.yaml',
        'hosts/web-1/gitea/.env',
        'hosts/web-1/gitea/nginx.conf',
        'hosts/web-1/shop/compose.override.yaml',
        'hosts/web-1/app.yaml',
        'hosts/web-2/other/compose.yaml',
        'hosts/web-1/deep/x/compose.yaml',
        'stacks/shop/docker-compose.yml',
        'stacks/shop/.env',
        'stacks/empty/README.md',
        'gitdock.yaml',
      ],
      'web-1',
    );
    expect(d.errors).toEqual([]);
    expect(d.hostDirs).toEqual([
      {
        dir: 'hosts/web-1/gitea',
        dirName: 'gitea',
        main: 'hosts/web-1/gitea/compose.yaml',
        override: undefined,
        dotenv: 'hosts/web-1/gitea/.env',
      },
      {
        dir: 'hosts/web-1/shop',
        dirName: 'shop',
        main: undefined,
        override: 'hosts/web-1/shop/compose.override.yaml',
        dotenv: undefined,
      },
    ]);
    expect(d.stacks).toEqual([
      {
        dir: 'stacks/shop',
        dirName: 'shop',
        main: 'stacks/shop/docker-compose.yml',
        override: undefined,
        dotenv: 'stacks/shop/.env',
      },
    ]);
  });

  it.each([
    [['compose.yaml', 'compose.yml'], 'compose.yaml', 'compose.yml'],
    [['docker-compose.yml', 'compose.yaml'], 'compose.yaml', 'docker-compose.yml'],
    [
      ['compose.override.yaml', 'docker-compose.override.yml'],
      'compose.override.yaml',
      'docker-compose.override.yml',
    ],
  ])(
    'two of %j is an error naming both; the first in Compose order is used',
    (names, first, second) => {
      const d = discoverProjects(
        names.map((n) => `hosts/h/p/${n}`),
        'h',
      );
      expect(d.errors).toHaveLength(1);
      expect(d.errors[0]!.message).toContain(first);
      expect(d.errors[0]!.message).toContain(second);
      const dir = d.hostDirs[0]!;
      expect([dir.main, dir.override]).toContain(`hosts/h/p/${first}`);
    },
  );
});
