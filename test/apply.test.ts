// The done-when list of "one host converges to a git commit", each case
// against the real private dockerd, the real registry and real git repos.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { containers, eventCursor, gitdock, mutationsSince } from './support/gitdock.js';
import {
  docker,
  imageRef,
  removeAllContainers,
  removeImages,
  startRegistry,
  stopRegistry,
} from './support/stack.js';

const APP = (tag: string) => imageRef('app', tag).replace(/:[^:]+$/, '');

function service(fields: Record<string, unknown>): string {
  // Short settle: these images either run or die at once.
  return `${JSON.stringify({ network_mode: 'none', update: { settle: '500ms' }, ...fields }, null, 2)}\n`;
}

/** web-1 runs the fleet's `app`, its own `cache` and `worker` (worker depends on cache). */
function fleetFiles(): Record<string, string> {
  return {
    'gitdock.yaml': 'hosts:\n  web-1: {}\n  web-2: {}\n',
    'services/app.yaml': service({
      image: APP('1.0'),
      tag: '1.0',
      hosts: ['web-*'],
      environment: { MODE: 'a' },
    }),
    'hosts/web-1/cache.yaml': service({
      image: APP('1.0'),
      tag: '1.0',
      command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'],
    }),
    'hosts/web-1/worker.yaml': service({ image: APP('1.0'), tag: '1.0', depends_on: ['cache'] }),
    'hosts/web-2/extra.yaml': service({ image: APP('1.0'), tag: '1.0' }),
    'README.md': '# fleet\n',
  };
}

let repo: FixtureRepo;

async function apply(host = 'web-1') {
  return gitdock(['apply', '--host', host, '--repo', repo.sourceDir]);
}

async function plan(host = 'web-1') {
  return gitdock(['plan', '--host', host, '--repo', repo.sourceDir]);
}

function ids(): Record<string, string> {
  return Object.fromEntries([...containers()].map(([name, c]) => [name, c.id]));
}

beforeAll(() => {
  removeAllContainers();
  // Start each file from an engine that has none of the test images: pulls are real.
  removeImages(['1.0', '1.1', '2.0'].map((t) => imageRef('app', t)));
});

beforeEach(async () => {
  removeAllContainers();
  repo = await createRepo({ bare: true, files: fleetFiles() });
  return () => repo.cleanup();
});

afterAll(() => removeAllContainers());

describe('apply converges one host', () => {
  it('creates every desired container with labels; a second apply changes nothing', async () => {
    const first = await apply();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const running = containers();
    expect([...running.keys()].sort()).toEqual(['app', 'cache', 'worker']);
    const head = repo.rev();
    for (const [name, c] of running) {
      expect(c.state).toBe('running');
      expect(c.labels['io.gitdock.host']).toBe('web-1');
      expect(c.labels['io.gitdock.service']).toBe(name);
      expect(c.labels['io.gitdock.spec-hash']).toMatch(/^[0-9a-f]{64}$/);
      expect(c.labels['io.gitdock.image']).toBe(imageRef('app', '1.0'));
      expect(c.labels['io.gitdock.commit']).toBe(head);
    }
    expect(first.stdout).toMatch(/\+ create\s+cache/);

    const cursor = eventCursor();
    const second = await apply();
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('0 changed, 3 in sync, 0 failed');
    expect(mutationsSince(cursor)).toEqual([]);
    expect((await plan()).code).toBe(0);
  });

  it('a tag change recreates exactly that container, with the reason', async () => {
    await apply();
    const before = ids();
    repo.commit(
      {
        'hosts/web-1/worker.yaml': service({
          image: APP('1.1'),
          tag: '1.1',
          depends_on: ['cache'],
        }),
      },
      'worker 1.1',
    );
    const planned = await plan();
    expect(planned.code).toBe(2);
    expect(planned.stdout).toMatch(/~ recreate\s+worker\s+tag 1.0 -> 1.1/);
    expect(planned.stdout).toMatch(/= in-sync\s+app/);

    const applied = await apply();
    expect(applied.code).toBe(0);
    const after = ids();
    expect(after.app).toBe(before.app);
    expect(after.cache).toBe(before.cache);
    expect(after.worker).not.toBe(before.worker);
    expect(containers().get('worker')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
    expect(Object.keys(after).sort()).toEqual(['app', 'cache', 'worker']);
  });

  it('an environment change names the variable, never its value', async () => {
    await apply();
    repo.commit(
      {
        'services/app.yaml': service({
          image: APP('1.0'),
          tag: '1.0',
          hosts: ['web-*'],
          environment: { MODE: 'secret-b' },
        }),
      },
      'env',
    );
    const planned = await plan();
    expect(planned.stdout).toMatch(/~ recreate\s+app\s+environment.MODE changed/);
    expect(planned.stdout).not.toContain('secret-b');
  });

  it("a commit to another host's files or a README changes nothing here", async () => {
    await apply();
    repo.commit(
      {
        'hosts/web-2/extra.yaml': service({ image: APP('1.1'), tag: '1.1' }),
        'README.md': '# changed\n',
      },
      'web-2 only',
    );
    expect((await plan()).code).toBe(0);
    const cursor = eventCursor();
    expect((await apply()).code).toBe(0);
    expect(mutationsSince(cursor)).toEqual([]);
  });

  it('a fleet file change reaches every matching host; a host override wins for its host only', async () => {
    // web-1 overrides app; web-2 takes the fleet file. One engine per run: clear between hosts.
    repo.commit(
      {
        'hosts/web-1/app.yaml': service({
          image: APP('1.0'),
          tag: '1.0',
          environment: { MODE: 'canary' },
        }),
      },
      'override',
    );
    repo.commit(
      {
        'services/app.yaml': service({
          image: APP('1.1'),
          tag: '1.1',
          hosts: ['web-*'],
          environment: { MODE: 'a' },
        }),
      },
      'fleet bump',
    );
    expect((await apply('web-2')).code).toBe(0);
    expect(containers().get('app')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
    removeAllContainers();
    expect((await apply('web-1')).code).toBe(0);
    const app = containers().get('app')!;
    expect(app.labels['io.gitdock.image']).toBe(imageRef('app', '1.0'));
    expect(docker(['inspect', '--format', '{{json .Config.Env}}', 'app'])).toContain('MODE=canary');

    const rendered = await gitdock([
      'render',
      '--host',
      'web-3',
      '--repo',
      repo.sourceDir,
      '--output',
      'json',
    ]);
    expect(JSON.parse(rendered.stdout).services.map((s: { image: string }) => s.image)).toEqual([
      imageRef('app', '1.1'),
    ]);
  });

  it('removing a service file removes its container, and nothing unmanaged is touched', async () => {
    docker(['run', '-d', '--network', 'none', '--name', 'bystander', imageRef('app', '1.0')]);
    const bystander = containers().get('bystander')!;
    await apply();
    repo.commit({ 'hosts/web-1/worker.yaml': null }, 'drop worker');
    const planned = await plan();
    expect(planned.stdout).toMatch(/- remove\s+worker\s+service no longer in git/);
    expect((await apply()).code).toBe(0);
    const after = containers();
    expect([...after.keys()].sort()).toEqual(['app', 'bystander', 'cache']);
    expect(after.get('bystander')).toMatchObject({ id: bystander.id, state: 'running' });
  });

  it('an unmanaged container holding a service name is a named error, and is left alone', async () => {
    docker(['run', '-d', '--network', 'none', '--name', 'cache', imageRef('app', '1.0')]);
    const squatter = containers().get('cache')!;
    const result = await apply();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /cache.*container "cache" \([0-9a-f]{12}\) is not managed by gitdock/,
    );
    const after = containers();
    expect(after.get('cache')).toMatchObject({ id: squatter.id, state: 'running', labels: {} });
    // The other services still converged.
    expect(after.get('app')?.state).toBe('running');
    expect(after.get('worker')?.state).toBe('running');
    expect((await plan()).code).toBe(1);
  });

  it('refuses a revision that would remove every service of the host', async () => {
    await apply();
    repo.commit(
      {
        'hosts/web-1/worker.yaml': null,
        'hosts/web-1/cache.yaml': null,
        'services/app.yaml': null,
      },
      'empty',
    );
    const cursor = eventCursor();
    const result = await apply();
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('would remove every service of host web-1');
    expect(mutationsSince(cursor)).toEqual([]);
    repo.commit({ 'gitdock.yaml': 'hosts:\n  web-1:\n    allow_empty: true\n' }, 'allow empty');
    expect((await apply()).code).toBe(0);
    expect(containers().size).toBe(0);
  });
});

describe('bad input changes nothing', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      'unknown field',
      { 'hosts/web-1/worker.yaml': 'image: a\ntag: "1"\nimagee: b\n' },
      /hosts\/web-1\/worker.yaml:3:1: unknown field "imagee"/,
    ],
    [
      'wrong type',
      { 'hosts/web-1/worker.yaml': 'image: a\ntag: "1"\nports: 80\n' },
      /worker.yaml:3:8: ports: expected a list/,
    ],
    [
      'bad name',
      { 'hosts/web-1/Worker.yaml': 'image: a\ntag: "1"\n' },
      /hosts\/web-1\/Worker.yaml: "Worker" is not a valid service name/,
    ],
    [
      'duplicate service',
      { 'hosts/web-1/worker.yml': 'image: a\ntag: "1"\n' },
      /service "worker" is defined twice/,
    ],
    [
      'unknown dependency',
      { 'hosts/web-1/worker.yaml': 'image: a\ntag: "1"\ndepends_on: [db]\n' },
      /worker.yaml:3:14: "worker" depends on "db", which is not a service on host web-1/,
    ],
    [
      'dependency cycle',
      { 'hosts/web-1/cache.yaml': 'image: a\ntag: "1"\ndepends_on: [worker]\n' },
      /dependency cycle on host web-1: cache -> worker -> cache/,
    ],
    ['not YAML', { 'hosts/web-1/worker.yaml': 'image: [a\n' }, /worker.yaml:2:1: not valid YAML/],
    [
      'alias bomb',
      { 'hosts/web-1/worker.yaml': aliasBomb() },
      /worker.yaml: YAML aliases expand too far/,
    ],
    [
      'file over 1 MiB',
      { 'hosts/web-1/worker.yaml': `image: a\ntag: "1"\n#${'x'.repeat(1024 * 1024)}\n` },
      /worker.yaml: file is \d+ bytes; manifests are limited to 1048576 bytes/,
    ],
  ];

  it.each(cases)(
    '%s: validate, plan and apply exit 1 naming the place; no mutation',
    async (_name, files, message) => {
      await apply();
      const before = ids();
      repo.commit(files, 'bad');
      const validate = await gitdock(['validate', '--repo', repo.sourceDir]);
      expect(validate.code).toBe(1);
      expect(validate.stdout).toMatch(message);
      const cursor = eventCursor();
      const planned = await plan();
      expect(planned.code).toBe(1);
      expect(planned.stderr).toMatch(message);
      const applied = await apply();
      expect(applied.code).toBe(1);
      expect(applied.stderr).toMatch(message);
      expect(applied.stderr).toContain('nothing was changed');
      expect(mutationsSince(cursor)).toEqual([]);
      expect(ids()).toEqual(before);
    },
  );
});

describe('a release that cannot run never takes over', () => {
  it('a tag missing from the registry: old container keeps running, the image is named', async () => {
    await apply();
    const before = ids();
    repo.commit(
      {
        'hosts/web-1/worker.yaml': service({
          image: APP('9.9'),
          tag: '9.9',
          depends_on: ['cache'],
        }),
      },
      'no such tag',
    );
    const result = await apply();
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(imageRef('app', '9.9'));
    expect(result.stdout).toContain('the running container was left as it is');
    expect(ids()).toEqual(before);
    expect(containers().get('worker')?.state).toBe('running');
  });

  it('a registry that is down: old container keeps running, the image is named', async () => {
    await apply();
    const before = ids();
    removeImages([imageRef('app', '2.0')]);
    repo.commit(
      {
        'hosts/web-1/worker.yaml': service({
          image: APP('2.0'),
          tag: '2.0',
          depends_on: ['cache'],
        }),
      },
      'needs a pull',
    );
    stopRegistry();
    try {
      const result = await apply();
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(imageRef('app', '2.0'));
      expect(ids()).toEqual(before);
      expect(containers().get('worker')?.state).toBe('running');
    } finally {
      startRegistry();
    }
    // With the registry back, the same commit converges.
    expect((await apply()).code).toBe(0);
    expect(containers().get('worker')?.labels['io.gitdock.image']).toBe(imageRef('app', '2.0'));
  });

  it('a new image whose container exits at once: the old one runs again, the failure is reported', async () => {
    await apply();
    const before = ids();
    repo.commit(
      {
        'hosts/web-1/worker.yaml': service({
          image: imageRef('crash', '1.0').replace(/:[^:]+$/, ''),
          tag: '1.0',
          depends_on: ['cache'],
        }),
      },
      'crashing release',
    );
    const result = await apply();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /worker\s+FAILED \(GITDOCK_E_ROLLOUT_FAILED\): new container exited with code 3; the old container was started again/,
    );
    expect(result.stdout).toContain('boom');
    const after = containers();
    expect(after.get('worker')).toMatchObject({ id: before.worker, state: 'running' });
    expect([...after.keys()].sort()).toEqual(['app', 'cache', 'worker']);
  });
});

describe('drift is healed', () => {
  it('a managed container stopped by hand is started again', async () => {
    await apply();
    const before = ids();
    docker(['stop', '-t', '1', 'worker']);
    expect((await plan()).stdout).toMatch(/> start\s+worker\s+container is exited/);
    expect((await apply()).code).toBe(0);
    expect(containers().get('worker')).toMatchObject({ id: before.worker, state: 'running' });
  });

  it('a managed container removed by hand is created again', async () => {
    await apply();
    docker(['rm', '-f', 'worker']);
    expect((await apply()).code).toBe(0);
    expect(containers().get('worker')?.state).toBe('running');
  });
});

/** A "billion laughs" document: nine levels of nine aliases each. */
function aliasBomb(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const refs = Array.from({ length: 9 }, () => `*a${i - 1}`).join(',');
    lines.push(`a${i}: &a${i} [${refs}]`);
  }
  return `${lines.join('\n')}\n`;
}
