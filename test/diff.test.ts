// `gitdock diff` end to end: real git repositories (built with the git CLI),
// the CLI run in-process, every output format asserted in full. DOCKER_HOST
// points at a socket that does not exist: diff must never need an engine.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { main } from '../src/cli.js';
import { createRepo, type FileTree, type FixtureRepo } from './support/git-fixture.js';
import { type CliRun, gitdock } from './support/gitdock.js';

const NO_ENGINE = { DOCKER_HOST: 'unix:///nonexistent/gitdock-diff-test/docker.sock' };
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** The app server: a fleet file on every web host, or (without `hosts:`) a host's own file. */
function appserver(tag: string, options: { env?: string; fleet?: boolean } = {}): string {
  return yaml(
    ...(options.fleet === false ? [] : ['hosts: ["web-*"]']),
    'image: registry.example.com/appserver',
    `tag: "${tag}"`,
    'environment:',
    `  RAILS_ENV: ${options.env ?? 'production'}`,
  );
}

const MEMCACHED = yaml('image: registry.example.com/memcached', 'tag: "1.6"');

/** Four web hosts named in gitdock.yaml; appserver on all of them, memcached on two. */
const FLEET: Record<string, string> = {
  'gitdock.yaml': yaml('hosts:', '  web-1: {}', '  web-2: {}', '  web-3: {}', '  web-4: {}'),
  'services/appserver.yaml': appserver('1.4.2'),
  'hosts/web-1/memcached.yaml': MEMCACHED,
  'hosts/web-2/memcached.yaml': MEMCACHED,
};

interface Shas {
  base: string;
  head: string;
}

const short = (sha: string) => sha.slice(0, 12);

// --- JSON builders: the documented shape, spelled out once ------------------

function side(rev: string, commit: string, errors: unknown[] = []) {
  return { rev, commit, valid: errors.length === 0, errors };
}

function changed(service: string, file: string, image: string, reasons: string[]) {
  return {
    service,
    change: 'changed',
    baseFile: file,
    headFile: file,
    image,
    reasons,
    recreate: true,
    files: [file],
  };
}

function host(name: string, services: unknown[], shadowed: unknown[] = []) {
  return { host: name, presence: 'both', refusedEmpty: false, services, shadowed };
}

function counts(c: Partial<Record<string, number>>) {
  return {
    compared: 4,
    hosts: 0,
    services: 0,
    added: 0,
    removed: 0,
    changed: 0,
    shadowed: 0,
    ...c,
  };
}

function validReport(s: Shas, rest: Record<string, unknown>) {
  return {
    base: side('HEAD~1', s.base),
    head: side('HEAD', s.head),
    valid: true,
    changed: true,
    fleetFiles: [],
    ...rest,
  };
}

const APP_150 = 'registry.example.com/appserver:1.5.0';

/** Markdown of one folded host section. */
function folded(summary: string, ...lines: string[]): string {
  return ['<details>', `<summary>${summary}</summary>`, '', ...lines, '', '</details>'].join('\n');
}

interface Case {
  name: string;
  /** Files added to FLEET in the BASE commit. */
  base?: Record<string, string>;
  /** The HEAD commit's changes on top of BASE. */
  head: FileTree;
  exit: number;
  text: (s: Shas) => string;
  json: (s: Shas) => unknown;
  markdown: (s: Shas) => string;
  stderr?: (s: Shas) => string;
}

const range = (s: Shas) => `\`HEAD~1\` (\`${short(s.base)}\`) → \`HEAD\` (\`${short(s.head)}\`)`;
const textHead = (s: Shas) => `diff HEAD~1 (${short(s.base)}) -> HEAD (${short(s.head)})`;

const BUMP_LINE = '- `~` **appserver** changed: `tag 1.4.2 -> 1.5.0` (`services/appserver.yaml`)';
const ENV_LINE =
  '- `~` **appserver** changed: `environment.RAILS_ENV changed` (`services/appserver.yaml`)';

const CASES: Case[] = [
  {
    name: 'tag bump in a fleet file: every matching host',
    head: { 'services/appserver.yaml': appserver('1.5.0') },
    exit: 2,
    text: (s) =>
      [
        textHead(s),
        'host web-1',
        '  ~ appserver  tag 1.4.2 -> 1.5.0  (services/appserver.yaml)',
        'host web-2',
        '  ~ appserver  tag 1.4.2 -> 1.5.0  (services/appserver.yaml)',
        'host web-3',
        '  ~ appserver  tag 1.4.2 -> 1.5.0  (services/appserver.yaml)',
        'host web-4',
        '  ~ appserver  tag 1.4.2 -> 1.5.0  (services/appserver.yaml)',
        'fleet files',
        '  services/appserver.yaml  changed, reaches web-1, web-2, web-3, web-4',
        'Diff: 4 hosts, 4 services changed.',
        '',
      ].join('\n'),
    json: (s) =>
      validReport(s, {
        summary: '4 hosts, 4 services changed',
        counts: counts({ hosts: 4, services: 4, changed: 4 }),
        hosts: ['web-1', 'web-2', 'web-3', 'web-4'].map((h) =>
          host(h, [
            changed('appserver', 'services/appserver.yaml', APP_150, ['tag 1.4.2 -> 1.5.0']),
          ]),
        ),
        fleetFiles: [
          {
            file: 'services/appserver.yaml',
            service: 'appserver',
            change: 'changed',
            hosts: ['web-1', 'web-2', 'web-3', 'web-4'],
            shadowed: [],
          },
        ],
      }),
    // More than three hosts: each folds into <details>.
    markdown: (s) =>
      [
        '<!-- gitdock-diff -->',
        '### gitdock diff: 4 hosts, 4 services changed',
        '',
        range(s),
        '',
        '| fleet file | change | hosts changed | shadowed on |',
        '|---|---|---|---|',
        '| `services/appserver.yaml` | changed | web-1, web-2, web-3, web-4 | – |',
        '',
        folded('web-1: 1 service changed', BUMP_LINE),
        '',
        folded('web-2: 1 service changed', BUMP_LINE),
        '',
        folded('web-3: 1 service changed', BUMP_LINE),
        '',
        folded('web-4: 1 service changed', BUMP_LINE),
        '',
      ].join('\n'),
  },
  {
    name: 'host override: only that host',
    head: { 'hosts/web-2/appserver.yaml': appserver('1.6.0-rc.1', { fleet: false }) },
    exit: 2,
    text: (s) =>
      [
        textHead(s),
        'host web-2',
        '  ~ appserver  tag 1.4.2 -> 1.6.0-rc.1  (now hosts/web-2/appserver.yaml, was services/appserver.yaml)',
        'Diff: 1 host, 1 service changed.',
        '',
      ].join('\n'),
    json: (s) =>
      validReport(s, {
        summary: '1 host, 1 service changed',
        counts: counts({ hosts: 1, services: 1, changed: 1 }),
        hosts: [
          host('web-2', [
            {
              service: 'appserver',
              change: 'changed',
              baseFile: 'services/appserver.yaml',
              headFile: 'hosts/web-2/appserver.yaml',
              image: 'registry.example.com/appserver:1.6.0-rc.1',
              reasons: ['tag 1.4.2 -> 1.6.0-rc.1'],
              recreate: true,
              files: ['hosts/web-2/appserver.yaml'],
            },
          ]),
        ],
      }),
    markdown: (s) =>
      [
        '<!-- gitdock-diff -->',
        '### gitdock diff: 1 host, 1 service changed',
        '',
        range(s),
        '',
        '#### web-2: 1 service changed',
        '',
        '- `~` **appserver** changed: `tag 1.4.2 -> 1.6.0-rc.1` (`now hosts/web-2/appserver.yaml`, `was services/appserver.yaml`)',
        '',
      ].join('\n'),
  },
  {
    name: 'service added',
    head: { 'hosts/web-3/memcached.yaml': MEMCACHED },
    exit: 2,
    text: (s) =>
      [
        textHead(s),
        'host web-3',
        '  + memcached  registry.example.com/memcached:1.6  (hosts/web-3/memcached.yaml)',
        'Diff: 1 host, 1 service changed.',
        '',
      ].join('\n'),
    json: (s) =>
      validReport(s, {
        summary: '1 host, 1 service changed',
        counts: counts({ hosts: 1, services: 1, added: 1 }),
        hosts: [
          host('web-3', [
            {
              service: 'memcached',
              change: 'added',
              baseFile: null,
              headFile: 'hosts/web-3/memcached.yaml',
              image: 'registry.example.com/memcached:1.6',
              reasons: [],
              recreate: false,
              files: ['hosts/web-3/memcached.yaml'],
            },
          ]),
        ],
      }),
    markdown: (s) =>
      [
        '<!-- gitdock-diff -->',
        '### gitdock diff: 1 host, 1 service changed',
        '',
        range(s),
        '',
        '#### web-3: 1 service changed',
        '',
        '- `+` **memcached** added: `registry.example.com/memcached:1.6` (`hosts/web-3/memcached.yaml`)',
        '',
      ].join('\n'),
  },
  {
    name: 'service removed',
    head: { 'hosts/web-2/memcached.yaml': null },
    exit: 2,
    text: (s) =>
      [
        textHead(s),
        'host web-2',
        '  - memcached  registry.example.com/memcached:1.6  (hosts/web-2/memcached.yaml)',
        'Diff: 1 host, 1 service changed.',
        '',
      ].join('\n'),
    json: (s) =>
      validReport(s, {
        summary: '1 host, 1 service changed',
        counts: counts({ hosts: 1, services: 1, removed: 1 }),
        hosts: [
          host('web-2', [
            {
              service: 'memcached',
              change: 'removed',
              baseFile: 'hosts/web-2/memcached.yaml',
              headFile: null,
              image: 'registry.example.com/memcached:1.6',
              reasons: [],
              recreate: false,
              files: ['hosts/web-2/memcached.yaml'],
            },
          ]),
        ],
      }),
    markdown: (s) =>
      [
        '<!-- gitdock-diff -->',
        '### gitdock diff: 1 host, 1 service changed',
        '',
        range(s),
        '',
        '#### web-2: 1 service changed',
        '',
        '- `-` **memcached** removed: `registry.example.com/memcached:1.6` (`hosts/web-2/memcached.yaml`)',
        '',
      ].join('\n'),
  },
  {
    name: 'environment change: the variable named, its value never shown',
    head: { 'services/appserver.yaml': appserver('1.4.2', { env: 'staging-secret' }) },
    exit: 2,
    text: (s) =>
      [
        textHead(s),
        ...['web-1', 'web-2', 'web-3', 'web-4'].flatMap((h) => [
          `host ${h}`,
          '  ~ appserver  environment.RAILS_ENV changed  (services/appserver.yaml)',
        ]),
        'fleet files',
        '  services/appserver.yaml  changed, reaches web-1, web-2, web-3, web-4',
        'Diff: 4 hosts, 4 services changed.',
        '',
      ].join('\n'),
    json: (s) =>
      validReport(s, {
        summary: '4 hosts, 4 services changed',
        counts: counts({ hosts: 4, services: 4, changed: 4 }),
        hosts: ['web-1', 'web-2', 'web-3', 'web-4'].map((h) =>
          host(h, [
            changed(
              'appserver',
              'services/appserver.yaml',
              'registry.example.com/appserver:1.4.2',
              ['environment.RAILS_ENV changed'],
            ),
          ]),
        ),
        fleetFiles: [
          {
            file: 'services/appserver.yaml',
            service: 'appserver',
            change: 'changed',
            hosts: ['web-1', 'web-2', 'web-3', 'web-4'],
            shadowed: [],
          },
        ],
      }),
    markdown: (s) =>
      [
        '<!-- gitdock-diff -->',
        '### gitdock diff: 4 hosts, 4 services changed',
        '',
        range(s),
        '',
        '| fleet file | change | hosts changed | shadowed on |',
        '|---|---|---|---|',
        '| `services/appserver.yaml` | changed | web-1, web-2, web-3, web-4 | – |',
        '',
        folded('web-1: 1 service changed', ENV_LINE),
        '',
        folded('web-2: 1 service changed', ENV_LINE),
        '',
        folded('web-3: 1 service changed', ENV_LINE),
        '',
        folded('web-4: 1 service changed', ENV_LINE),
        '',
      ].join('\n'),
  },
  {
    name: 'override shadowing a fleet change: that host is not changed',
    base: { 'hosts/web-1/appserver.yaml': appserver('1.4.2', { fleet: false }) },
    head: { 'services/appserver.yaml': appserver('1.5.0') },
    exit: 2,
    text: (s) =>
      [
        textHead(s),
        'host web-1',
        '  = appserver  shadowed: hosts/web-1/appserver.yaml overrides services/appserver.yaml (fleet change not applied)',
        'host web-2',
        '  ~ appserver  tag 1.4.2 -> 1.5.0  (services/appserver.yaml)',
        'host web-3',
        '  ~ appserver  tag 1.4.2 -> 1.5.0  (services/appserver.yaml)',
        'host web-4',
        '  ~ appserver  tag 1.4.2 -> 1.5.0  (services/appserver.yaml)',
        'fleet files',
        '  services/appserver.yaml  changed, reaches web-2, web-3, web-4; shadowed on web-1',
        'Diff: 3 hosts, 3 services changed; 1 override shadows a fleet change.',
        '',
      ].join('\n'),
    json: (s) =>
      validReport(s, {
        summary: '3 hosts, 3 services changed; 1 override shadows a fleet change',
        counts: counts({ hosts: 3, services: 3, changed: 3, shadowed: 1 }),
        hosts: [
          host(
            'web-1',
            [],
            [
              {
                service: 'appserver',
                fleetFile: 'services/appserver.yaml',
                hostFile: 'hosts/web-1/appserver.yaml',
              },
            ],
          ),
          ...['web-2', 'web-3', 'web-4'].map((h) =>
            host(h, [
              changed('appserver', 'services/appserver.yaml', APP_150, ['tag 1.4.2 -> 1.5.0']),
            ]),
          ),
        ],
        fleetFiles: [
          {
            file: 'services/appserver.yaml',
            service: 'appserver',
            change: 'changed',
            hosts: ['web-2', 'web-3', 'web-4'],
            shadowed: ['web-1'],
          },
        ],
      }),
    markdown: (s) =>
      [
        '<!-- gitdock-diff -->',
        '### gitdock diff: 3 hosts, 3 services changed; 1 override shadows a fleet change',
        '',
        range(s),
        '',
        '| fleet file | change | hosts changed | shadowed on |',
        '|---|---|---|---|',
        '| `services/appserver.yaml` | changed | web-2, web-3, web-4 | web-1 |',
        '',
        '> **Shadowed by an override**: these hosts keep their own file, so the fleet change does not reach them.',
        '> - `web-1`: `hosts/web-1/appserver.yaml` overrides `services/appserver.yaml`',
        '',
        folded(
          'web-1: no change',
          '- `=` **appserver** unchanged: `hosts/web-1/appserver.yaml` overrides `services/appserver.yaml`',
        ),
        '',
        folded('web-2: 1 service changed', BUMP_LINE),
        '',
        folded('web-3: 1 service changed', BUMP_LINE),
        '',
        folded('web-4: 1 service changed', BUMP_LINE),
        '',
      ].join('\n'),
  },
  {
    name: 'invalid HEAD: every error listed, exit 1',
    head: {
      'hosts/web-2/cache.yaml': yaml(
        'image: registry.example.com/memcached',
        'tag: 1.6',
        'port: 11211',
      ),
      'services/appserver.yaml': yaml(
        'hosts: ["web-*"]',
        'image: registry.example.com/appserver',
        'tag: "1.5.0"',
        'enviroment:',
        '  RAILS_ENV: production',
      ),
    },
    exit: 1,
    text: (s) =>
      [
        textHead(s),
        `HEAD (${short(s.head)}) is invalid: 3 errors; nothing was compared`,
        '  hosts/web-2/cache.yaml:3:1: unknown field "port"; did you mean "ports"?',
        '  hosts/web-2/cache.yaml:2:6: tag: expected a string, got number 1.6',
        '  services/appserver.yaml:4:1: unknown field "enviroment"; did you mean "environment"?',
        '',
      ].join('\n'),
    json: (s) => ({
      base: side('HEAD~1', s.base),
      head: side('HEAD', s.head, [
        {
          file: 'hosts/web-2/cache.yaml',
          line: 3,
          column: 1,
          path: '/port',
          message: 'unknown field "port"; did you mean "ports"?',
        },
        {
          file: 'hosts/web-2/cache.yaml',
          line: 2,
          column: 6,
          path: '/tag',
          message: 'tag: expected a string, got number 1.6',
        },
        {
          file: 'services/appserver.yaml',
          line: 4,
          column: 1,
          path: '/enviroment',
          message: 'unknown field "enviroment"; did you mean "environment"?',
        },
      ]),
      valid: false,
      changed: null,
      summary: null,
      counts: null,
      hosts: [],
      fleetFiles: [],
    }),
    markdown: (s) =>
      [
        '<!-- gitdock-diff -->',
        '### gitdock diff: HEAD is invalid',
        '',
        range(s),
        '',
        `**HEAD** (\`${short(s.head)}\`) has 3 errors; nothing was compared.`,
        '',
        '- `hosts/web-2/cache.yaml:3:1`: unknown field "port"; did you mean "ports"?',
        '- `hosts/web-2/cache.yaml:2:6`: tag: expected a string, got number 1.6',
        '- `services/appserver.yaml:4:1`: unknown field "enviroment"; did you mean "environment"?',
        '',
      ].join('\n'),
    stderr: (s) =>
      `gitdock: HEAD (${short(s.head)}) has 3 errors; nothing was compared (GITDOCK_E_INVALID_MANIFESTS)\n`,
  },
  {
    name: 'no change: exit 0',
    head: {
      'README.md': '# fleet\n',
      // Reordered and commented: the same desired state.
      'services/appserver.yaml': yaml(
        '# the app server, on every web host',
        'image: registry.example.com/appserver',
        'hosts: ["web-*"]',
        'environment: { RAILS_ENV: production }',
        'tag: "1.4.2"',
      ),
    },
    exit: 0,
    text: (s) => `${textHead(s)}\nDiff: no changes in 4 hosts.\n`,
    json: (s) =>
      validReport(s, {
        changed: false,
        summary: 'no changes in 4 hosts',
        counts: counts({}),
        hosts: [],
      }),
    markdown: (s) =>
      ['<!-- gitdock-diff -->', '### gitdock diff: no changes in 4 hosts', '', range(s), ''].join(
        '\n',
      ),
  },
];

describe.each(CASES)('gitdock diff: $name', (c) => {
  let repo: FixtureRepo;
  let shas: Shas;

  beforeAll(async () => {
    repo = await createRepo({ files: { ...FLEET, ...c.base } });
    const base = repo.rev();
    shas = { base, head: repo.commit(c.head, c.name) };
  });
  afterAll(() => repo?.cleanup());

  const diff = (output: string) =>
    gitdock(['diff', 'HEAD~1', '--repo', repo.dir, '--output', output], NO_ENGINE);

  it('text', async () => {
    const run = await diff('text');
    expect(run.stdout).toBe(c.text(shas));
    expect(run.stderr).toBe(c.stderr?.(shas) ?? '');
    expect(run.code).toBe(c.exit);
  });

  it('json', async () => {
    const run = await diff('json');
    expect(JSON.parse(run.stdout)).toEqual(c.json(shas));
    expect(run.stderr).toBe(c.stderr?.(shas) ?? '');
    expect(run.code).toBe(c.exit);
  });

  it('markdown', async () => {
    const run = await diff('markdown');
    expect(run.stdout).toBe(c.markdown(shas));
    expect(run.stderr).toBe(c.stderr?.(shas) ?? '');
    expect(run.code).toBe(c.exit);
  });

  it('never shows an environment value', async () => {
    for (const output of ['text', 'json', 'markdown']) {
      const run = await diff(output);
      expect(run.stdout).not.toContain('production');
      expect(run.stdout).not.toContain('staging-secret');
    }
  });
});

describe('gitdock diff: revisions', () => {
  let repo: FixtureRepo;
  beforeAll(async () => {
    repo = await createRepo({ bare: true, files: FLEET });
  });
  afterAll(() => repo?.cleanup());

  it('an invalid BASE is named as BASE, and nothing is compared', async () => {
    const bad = repo.commit({ 'hosts/web-1/memcached.yaml': yaml('image: x') }, 'break');
    const fixed = repo.commit({ 'hosts/web-1/memcached.yaml': MEMCACHED }, 'fix');
    const text = await gitdock(['diff', bad, fixed, '--repo', repo.dir], NO_ENGINE);
    expect(text.stdout).toBe(
      [
        `diff ${bad} (${short(bad)}) -> ${fixed} (${short(fixed)})`,
        `BASE ${bad} (${short(bad)}) is invalid: 1 error; nothing was compared`,
        '  hosts/web-1/memcached.yaml:1:1: missing required field "tag" (or "digest")',
        '',
      ].join('\n'),
    );
    expect(text.stderr).toBe(
      `gitdock: BASE ${bad} (${short(bad)}) has 1 error; nothing was compared (GITDOCK_E_INVALID_MANIFESTS)\n`,
    );
    expect(text.code).toBe(1);

    const json = await gitdock(['diff', 'HEAD~1', '-o', 'json', '--repo', repo.dir], NO_ENGINE);
    expect(JSON.parse(json.stdout)).toMatchObject({
      base: { rev: 'HEAD~1', commit: bad, valid: false, errors: [{ line: 1, column: 1 }] },
      head: { rev: 'HEAD', commit: fixed, valid: true, errors: [] },
      valid: false,
      changed: null,
    });
    expect(json.code).toBe(1);
  });

  it('compares origin/main with a branch, from the current directory by default', async () => {
    repo.git(['checkout', '-q', '-b', 'feature']);
    onTestFinished(() => {
      repo.git(['checkout', '-q', 'main']);
    });
    const head = repo.commit({ 'hosts/web-4/memcached.yaml': MEMCACHED }, 'memcached on web-4');
    let stdout = '';
    const code = await main(['diff', 'origin/main'], {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: () => true },
      env: { ...process.env, ...NO_ENGINE },
      cwd: repo.dir,
    });
    expect(stdout).toBe(
      [
        `diff origin/main (${short(repo.rev('origin/main'))}) -> HEAD (${short(head)})`,
        'host web-4',
        '  + memcached  registry.example.com/memcached:1.6  (hosts/web-4/memcached.yaml)',
        'Diff: 1 host, 1 service changed.',
        '',
      ].join('\n'),
    );
    expect(code).toBe(2);
  });

  it('reads a bare repository the same way', async () => {
    const run = await gitdock(['diff', 'main~1', 'main', '--repo', repo.bareDir!], NO_ENGINE);
    expect(run.code).toBeLessThan(3);
    expect(run.stdout.split('\n')[0]).toBe(
      `diff main~1 (${short(repo.rev('main~1'))}) -> main (${short(repo.rev('main'))})`,
    );
  });

  it('an unknown revision is an error, exit 1', async () => {
    const run = await gitdock(['diff', 'nope', '--repo', repo.dir], NO_ENGINE);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `gitdock: revision "nope" not found in ${repo.dir} (try a branch, tag or commit sha) (GITDOCK_E_GIT_REV_NOT_FOUND)\n`,
    );
    expect(run.code).toBe(1);
  });

  it.each([
    [[], 'diff needs BASE: the revision to compare with (gitdock diff origin/main)'],
    [['a', 'b', 'c'], 'diff takes BASE and HEAD, got 3 revisions'],
    [['HEAD', '--output', 'yaml'], '--output must be one of text, json, markdown, not "yaml"'],
  ])('usage error for %j', async (args, message) => {
    const run = await gitdock(['diff', ...args, '--repo', repo.dir], NO_ENGINE);
    expect(run.stderr).toBe(
      `gitdock: ${message} (GITDOCK_E_USAGE)\nRun \`gitdock --help\` for usage.\n`,
    );
    expect(run.code).toBe(64);
  });

  it('--help teaches with examples', async () => {
    const run = await gitdock(['diff', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: gitdock diff BASE \[HEAD\]/);
    expect(run.stdout).toContain('gitdock diff origin/main HEAD --output markdown');
  });
});

describe('examples/ci/gitdock-review.sh', () => {
  const SCRIPT = path.join(ROOT, 'examples/ci/gitdock-review.sh');
  // The CLI from the sources, as a command line the script word-splits.
  const GITDOCK = `${path.join(ROOT, 'node_modules/.bin/tsx')} ${path.join(ROOT, 'test/support/gitdock-bin.ts')}`;

  async function review(head: FileTree): Promise<CliRun & { diff: string }> {
    const repo = await createRepo({ bare: true, files: FLEET });
    onTestFinished(repo.cleanup);
    repo.git(['checkout', '-q', '-b', 'change']);
    repo.commit(head, 'change');
    const out = path.join(repo.dir, '..', 'review.md');
    const r = spawnSync('bash', [SCRIPT, 'origin/main', out], {
      cwd: repo.dir,
      env: { ...process.env, ...NO_ENGINE, GITDOCK },
      encoding: 'utf8',
    });
    return {
      code: r.status ?? -1,
      stdout: r.stdout,
      stderr: r.stderr,
      diff: fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '',
    };
  }

  it('changes: exit 2, the markdown diff in the file', async () => {
    const run = await review({ 'hosts/web-3/memcached.yaml': MEMCACHED });
    expect(run.diff).toContain('### gitdock diff: 1 host, 1 service changed\n');
    expect(run.diff).toContain('- `+` **memcached** added:');
    expect(run.stdout).toMatch(/^valid: 4 manifests/);
    expect(run.stderr).toContain('gitdock-review: hosts change; the diff is in');
    expect(run.code).toBe(2);
  });

  it('no change: exit 0', async () => {
    const run = await review({ 'README.md': 'notes\n' });
    expect(run.diff).toContain('### gitdock diff: no changes in 4 hosts\n');
    expect(run.code).toBe(0);
  });

  it('invalid HEAD: exit 1, the errors in the file', async () => {
    const run = await review({ 'hosts/web-3/memcached.yaml': 'image: x\n' });
    expect(run.stdout).toContain('hosts/web-3/memcached.yaml:1:1: missing required field "tag"');
    expect(run.diff).toContain('### gitdock diff: HEAD is invalid\n');
    expect(run.diff).toContain('- `hosts/web-3/memcached.yaml:1:1`: missing required field');
    expect(run.code).toBe(1);
  });
});
