// Done-when 4 of issue 10 (files half), on the real engine: a file of the
// repo that a service mounts travels with the commit. Changing it in git
// recreates exactly the services that mount it, with the reason
// `file ./nginx.conf changed`; the container sees the new content; the copy
// the older commit wrote stays as it was, so a container of that commit
// could still use it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { gitdock } from './support/gitdock.js';
import { docker, imageRef, removeAllContainers } from './support/stack.js';

const HOST = 'web-1';
const PROJECT = 'shop';
const DIR = `hosts/${HOST}/${PROJECT}`;

const CONF_V1 = 'worker_processes 1; # v1\n';
const CONF_V2 = 'worker_processes 2; # v2\n';

function compose(): string {
  return `services:
  proxy:
    image: ${imageRef('app', '1.0')}
    volumes:
      - ./nginx.conf:/etc/nginx/nginx.conf:ro
    depends_on:
      - app
  app:
    image: ${imageRef('app', '1.0')}
    environment:
      MODE: web
  db:
    image: ${imageRef('app', '1.0')}
`;
}

let scratch: string;
let repo: FixtureRepo;
let stateDir: string;

beforeAll(async () => {
  removeAllContainers();
  docker(['network', 'prune', '-f']);
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-compose-files-'));
  stateDir = path.join(scratch, 'state');
  repo = await createRepo({
    files: {
      'gitdock.yaml': `hosts:\n  ${HOST}: {}\n`,
      [`${DIR}/compose.yaml`]: compose(),
      [`${DIR}/nginx.conf`]: CONF_V1,
    },
  });
});

afterAll(async () => {
  removeAllContainers();
  docker(['network', 'prune', '-f']);
  await repo?.cleanup();
  fs.rmSync(scratch, { recursive: true, force: true });
});

// Only apply writes files: plan takes no state directory.
const run = (command: 'plan' | 'apply', ...extra: string[]) =>
  gitdock([
    command,
    '--repo',
    repo.dir,
    '--host',
    HOST,
    ...(command === 'apply' ? ['--state-dir', stateDir] : []),
    ...extra,
  ]);

/** Container ID of each service of the project, by identity, read with the docker CLI. */
function containerIds(): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = docker([
    'ps',
    '-a',
    '--no-trunc',
    '--filter',
    `label=io.gitdock.project=${PROJECT}`,
    '--format',
    '{{.ID}} {{.Label "io.gitdock.service"}}',
  ])
    .split('\n')
    .filter(Boolean);
  for (const line of lines) {
    const [id, service] = line.split(' ');
    out[service!] = id!;
  }
  return out;
}

/** The host path the container's `/etc/nginx/nginx.conf` is mounted from. */
function confSource(id: string): string {
  const mounts = JSON.parse(docker(['inspect', '--format', '{{json .Mounts}}', id])) as {
    Source: string;
    Destination: string;
  }[];
  const mount = mounts.find((m) => m.Destination === '/etc/nginx/nginx.conf');
  if (!mount) throw new Error(`no mount of /etc/nginx/nginx.conf in ${id}`);
  return mount.Source;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('a mounted repo file changed in git', () => {
  it('recreates only the services that mount it, and keeps the old copy', async () => {
    const first = await run('apply');
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
    const before = containerIds();
    expect(Object.keys(before).sort()).toEqual(['shop/app', 'shop/db', 'shop/proxy']);
    const oldSource = confSource(before['shop/proxy']!);
    expect(fs.readFileSync(oldSource, 'utf8')).toBe(CONF_V1);
    // Content-addressed: the directory it lives in is named by the content's hash.
    expect(oldSource.startsWith(path.join(stateDir, 'files'))).toBe(true);
    expect(oldSource).toContain(sha256(CONF_V1));
    expect(docker(['exec', before['shop/proxy']!, 'cat', '/etc/nginx/nginx.conf'])).toBe(
      CONF_V1.trim(),
    );

    repo.commit({ [`${DIR}/nginx.conf`]: CONF_V2 }, 'nginx: two workers');

    const plan = await run('plan', '--output', 'json');
    expect(plan.code, plan.stderr).toBe(2); // changes pending
    const actions = (
      JSON.parse(plan.stdout) as { actions: { type: string; service: string; reasons: string[] }[] }
    ).actions
      .map((a) => ({ type: a.type, service: a.service, reasons: a.reasons }))
      .sort((a, b) => (a.service < b.service ? -1 : 1));
    expect(actions).toEqual([
      { type: 'in-sync', service: 'shop/app', reasons: [] },
      { type: 'in-sync', service: 'shop/db', reasons: [] },
      { type: 'recreate', service: 'shop/proxy', reasons: ['file ./nginx.conf changed'] },
    ]);
    const text = await run('plan');
    expect(text.stdout).toMatch(/~ recreate +shop\/proxy +file \.\/nginx\.conf changed\n/);

    const second = await run('apply');
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
    const after = containerIds();
    expect(after['shop/app']).toBe(before['shop/app']);
    expect(after['shop/db']).toBe(before['shop/db']);
    expect(after['shop/proxy']).not.toBe(before['shop/proxy']);
    expect(docker(['exec', after['shop/proxy']!, 'cat', '/etc/nginx/nginx.conf'])).toBe(
      CONF_V2.trim(),
    );
    const newSource = confSource(after['shop/proxy']!);
    expect(newSource).not.toBe(oldSource);
    expect(newSource).toContain(sha256(CONF_V2));
    // The copy of the older commit is where it was, as it was.
    expect(fs.readFileSync(oldSource, 'utf8')).toBe(CONF_V1);

    const settled = await run('plan', '--output', 'json');
    expect(settled.code, settled.stdout).toBe(0);
  });
});
