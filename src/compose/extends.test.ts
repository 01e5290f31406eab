import { describe, expect, it } from 'vitest';
import { load, only, service, type Tree, y } from './load-fixtures.js';

describe('extends (through loadComposeHost)', () => {
  it('extends a service of the same file and of another file, recursively, paths rebased to its file', () => {
    const p = only({
      'hosts/web-1/a/compose.yaml': y(
        'services:',
        '  base: { image: x, environment: { A: "1" }, ports: ["80:80"] }',
        '  web:',
        '    extends: base',
        '    environment: { B: "2" }',
        '  worker:',
        '    extends: { file: ../../../common/svc.yaml, service: worker }',
        '    command: ["work", "hard"]',
      ),
      'common/svc.yaml': y(
        'services:',
        '  root: { image: root, volumes: ["./shared:/shared"] }',
        '  worker:',
        '    extends: root',
        '    command: ["work"]',
      ),
    });
    expect(service(p, 'web')).toEqual({
      image: 'x',
      environment: { A: '1', B: '2' },
      ports: ['80:80'],
    });
    expect(service(p, 'worker')).toEqual({
      image: 'root',
      volumes: [
        {
          type: 'bind',
          source: 'common/shared',
          target: '/shared',
          bind: { create_host_path: true },
          'x-gitdock-repo-path': true,
        },
      ],
      command: ['work', 'hard'],
    });
    expect(p.files).toContain('common/svc.yaml');
  });

  it.each<[string, Tree, RegExp]>([
    [
      'a cycle',
      {
        'hosts/web-1/a/compose.yaml': y(
          'services:',
          '  x: { extends: y, image: i }',
          '  y: { extends: x }',
        ),
      },
      /extends forms a cycle/,
    ],
    [
      'a missing service',
      { 'hosts/web-1/a/compose.yaml': y('services:', '  x: { extends: nope, image: i }') },
      /service "nope" is not defined/,
    ],
    [
      'a missing file',
      {
        'hosts/web-1/a/compose.yaml': y(
          'services:',
          '  x: { extends: { file: other.yaml, service: s } }',
        ),
      },
      /other.yaml does not exist/,
    ],
  ])('extends: %s is an error', (_name, tree, message) => {
    const r = load(tree);
    expect(r.errors.map((e) => e.message)).toContainEqual(expect.stringMatching(message));
  });
});
