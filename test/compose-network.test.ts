// Done-when 2 of issue 10, on the real engine: services find each other by
// service name and alias, a service on another network cannot resolve
// them, fixed IPs are the containers' addresses; and a project started with
// docker-compose 1.29 moves to gitdock keeping its data (named volume and
// relative bind directory), or, without the opt-in, is reported as a
// conflict and left alone.
//
// The DNS checks run on docker-compose 1.29 too: a check that 1.29 passes
// and gitdock fails is gitdock's bug, not the check's.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ComposeRun,
  composeDown,
  composeUp,
  removeByLabel,
} from './support/compose-compare.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { eventCursor, gitdock, mutationsSince } from './support/gitdock.js';
import {
  DOCKER_BIN,
  docker,
  dockerResult,
  removeAllContainers,
  stackEnv,
} from './support/stack.js';

let scratch: string;
let registry: string;

beforeAll(() => {
  removeAllContainers();
  docker(['network', 'prune', '-f']);
  registry = `${stackEnv().registry}/gitdock-test`;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-compose-net-'));
});

afterAll(() => {
  removeAllContainers();
  docker(['network', 'prune', '-f']);
  fs.rmSync(scratch, { recursive: true, force: true });
});

type Tool = 'docker-compose 1.29' | 'gitdock';

/** The running container of `service`, found by the labels of the tool that made it. */
function containerOf(tool: Tool, project: string, service: string): string {
  const filters =
    tool === 'gitdock'
      ? ['--filter', `label=io.gitdock.service=${project}/${service}`]
      : [
          '--filter',
          `label=com.docker.compose.project=${project}`,
          '--filter',
          `label=com.docker.compose.service=${service}`,
        ];
  const ids = docker(['ps', '-q', ...filters])
    .split('\n')
    .filter(Boolean);
  if (ids.length !== 1)
    throw new Error(
      `${tool}: expected one running container of ${project}/${service}, found ${ids.length}`,
    );
  return ids[0]!;
}

/** `docker exec` with a bound run time; status and output, never throws. */
function exec(container: string, cmd: string[]): { status: number | null; out: string } {
  const r = dockerResult(['exec', container, ...cmd], { timeoutMs: 30_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/**
 * exec without blocking: lookups of names the engine does not know take
 * seconds each (busybox retries), so the isolation check runs them side by side.
 */
function execAsync(
  container: string,
  cmd: string[],
): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(
      DOCKER_BIN,
      ['exec', container, ...cmd],
      {
        env: { ...process.env, DOCKER_HOST: stackEnv().dockerHost, DOCKER_CONTEXT: '' },
        encoding: 'utf8',
        timeout: 30_000,
      },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({
          status: err ? (typeof code === 'number' ? code : null) : 0,
          out: stdout + stderr,
        });
      },
    );
  });
}

/** The IPv4 addresses busybox nslookup reports for `name` (the server's own address left out). */
function resolve(
  container: string,
  name: string,
): { ok: boolean; addresses: string[]; out: string } {
  return parseLookup(exec(container, ['nslookup', name]));
}

async function resolveAsync(
  container: string,
  name: string,
): Promise<{ ok: boolean; addresses: string[]; out: string }> {
  return parseLookup(await execAsync(container, ['nslookup', name]));
}

function parseLookup(r: { status: number | null; out: string }): {
  ok: boolean;
  addresses: string[];
  out: string;
} {
  // busybox prints "Server: ... Address: 127.0.0.11:53" first, then the answers.
  const answers = r.out
    .split(/\nName:\s+/)
    .slice(1)
    .join('\n');
  const addresses = [...answers.matchAll(/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)(?!:)/g)].map(
    (m) => m[1]!,
  );
  return { ok: r.status === 0 && addresses.length > 0, addresses, out: r.out };
}

// -- DNS, isolation, fixed IPs -----------------------------------------------------------

const NET_PROJECT = 'netcheck';

// Every service resolves through the engine's DNS with 127.0.0.1 as its
// upstream, so a name the engine does not know is never asked of a server
// off this machine.
const NET_COMPOSE = `services:
  web:
    image: \${REGISTRY}/app:1.0
    command:
      - sh
      - -c
      - "mkdir -p /tmp/www && echo web-ok > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && trap 'exit 0' TERM && while :; do sleep 1; done"
    dns: 127.0.0.1
    networks:
      front:
        aliases:
          - site
          - www.corpus.test
        ipv4_address: 10.231.40.10
  client:
    image: \${REGISTRY}/app:1.0
    dns: 127.0.0.1
    networks:
      - front
  outsider:
    image: \${REGISTRY}/app:1.0
    dns: 127.0.0.1
    networks:
      - back
networks:
  front:
    ipam:
      config:
        - subnet: 10.231.40.0/24
  back: {}
`;

interface Started {
  stop(): Promise<void>;
}

async function startWithCompose(project: string, compose: string): Promise<Started> {
  const dir = fs.mkdtempSync(path.join(scratch, `${project}-`));
  fs.writeFileSync(path.join(dir, 'compose.yaml'), compose);
  const run: ComposeRun = { project, dir, files: ['compose.yaml'], env: { REGISTRY: registry } };
  try {
    composeUp(run);
  } catch (err) {
    composeDown(run);
    throw err;
  }
  return { stop: async () => composeDown(run) };
}

interface GitdockHost {
  repo: FixtureRepo;
  stateDir: string;
  envDir: string;
  apply(): ReturnType<typeof gitdock>;
}

/** A fleet repo with `files`, a state dir and an env dir giving REGISTRY to `projects`. */
async function gitdockHost(
  host: string,
  projects: string[],
  files: Record<string, string>,
): Promise<GitdockHost> {
  const work = fs.mkdtempSync(path.join(scratch, 'gitdock-'));
  const stateDir = path.join(work, 'state');
  const envDir = path.join(work, 'env');
  fs.mkdirSync(envDir, { recursive: true });
  for (const p of projects)
    fs.writeFileSync(path.join(envDir, `${p}.env`), `REGISTRY=${registry}\n`);
  const repo = await createRepo({ files });
  return {
    repo,
    stateDir,
    envDir,
    apply: () =>
      gitdock([
        'apply',
        '--repo',
        repo.dir,
        '--host',
        host,
        '--state-dir',
        stateDir,
        '--env-dir',
        envDir,
      ]),
  };
}

async function startWithGitdock(project: string, compose: string): Promise<Started> {
  const host = 'net-1';
  const g = await gitdockHost(host, [project], {
    'gitdock.yaml': `hosts:\n  ${host}: {}\n`,
    [`hosts/${host}/${project}/compose.yaml`]: compose,
  });
  const applied = await g.apply();
  if (applied.code !== 0) {
    removeByLabel(`io.gitdock.project=${project}`, { volumes: true });
    await g.repo.cleanup();
    throw new Error(
      `gitdock apply failed (${applied.code}):\n${applied.stdout}\n${applied.stderr}`,
    );
  }
  return {
    stop: async () => {
      g.repo.commit(
        {
          'gitdock.yaml': `hosts:\n  ${host}:\n    allow_empty: true\n`,
          [`hosts/${host}/${project}/compose.yaml`]: null,
        },
        'empty',
      );
      await g.apply().catch(() => undefined);
      removeByLabel(`io.gitdock.project=${project}`, { volumes: true });
      await g.repo.cleanup();
    },
  };
}

const STARTERS: Record<Tool, (project: string, compose: string) => Promise<Started>> = {
  'docker-compose 1.29': startWithCompose,
  gitdock: startWithGitdock,
};

for (const tool of Object.keys(STARTERS) as Tool[]) {
  describe(`service networking under ${tool}`, () => {
    let started: Started | undefined;

    beforeAll(async () => {
      started = await STARTERS[tool](NET_PROJECT, NET_COMPOSE);
    }, 180_000);

    afterAll(async () => {
      await started?.stop();
    }, 180_000);

    it('a service resolves another by service name and by each alias, to its fixed IP', () => {
      const client = containerOf(tool, NET_PROJECT, 'client');
      for (const name of ['web', 'site', 'www.corpus.test']) {
        const r = resolve(client, name);
        expect(r.addresses, `nslookup ${name}:\n${r.out}`).toEqual(['10.231.40.10']);
      }
    });

    it('a service reaches another over HTTP by name, alias and fixed IP', () => {
      const client = containerOf(tool, NET_PROJECT, 'client');
      for (const host of ['web', 'site', '10.231.40.10']) {
        const r = exec(client, ['wget', '-q', '-O', '-', `http://${host}:8080/`]);
        expect(r, `wget http://${host}:8080/`).toEqual({ status: 0, out: 'web-ok\n' });
      }
    });

    it('the fixed IP is the address the container has; the others get one from the subnet', () => {
      const web = JSON.parse(docker(['inspect', containerOf(tool, NET_PROJECT, 'web')]))[0];
      const client = JSON.parse(docker(['inspect', containerOf(tool, NET_PROJECT, 'client')]))[0];
      expect(web.NetworkSettings.Networks[`${NET_PROJECT}_front`].IPAddress).toBe('10.231.40.10');
      expect(client.NetworkSettings.Networks[`${NET_PROJECT}_front`].IPAddress).toMatch(
        /^10\.231\.40\.\d+$/,
      );
      expect(Object.keys(client.NetworkSettings.Networks)).toEqual([`${NET_PROJECT}_front`]);
    });

    it('a service on another network can resolve neither the name nor an alias', async () => {
      const outsider = containerOf(tool, NET_PROJECT, 'outsider');
      // It resolves its own service name: the lookup itself works.
      expect(resolve(outsider, 'outsider').ok).toBe(true);
      const names = ['web', 'site', 'client'];
      const results = await Promise.all(names.map((name) => resolveAsync(outsider, name)));
      results.forEach((r, i) => {
        expect(r.ok, `nslookup ${names[i]} from another network:\n${r.out}`).toBe(false);
      });
      // Not checked: reaching 10.231.40.10 by address. The test engine runs
      // with --iptables=false, so nothing separates two bridges at the IP
      // level; isolation here is the engine's DNS scope.
    });
  });
}

// -- migration from docker-compose 1.29 ----------------------------------------------------

const MIG_PROJECT = 'legacy';
const MIG_HOST = 'mig-1';
const MIG_COMPOSE = `services:
  db:
    image: \${REGISTRY}/app:1.0
    volumes:
      - dbdata:/var/lib/db
      - ./data:/srv/data
volumes:
  dbdata:
`;

describe('a project started by docker-compose 1.29 moves to gitdock', () => {
  let oldDir: string;
  let run: ComposeRun;

  beforeEach(() => {
    removeAllContainers();
    // The directory the project ran from under Compose; the project name is given with -p.
    oldDir = fs.mkdtempSync(path.join(scratch, 'opt-legacy-'));
    fs.writeFileSync(path.join(oldDir, 'compose.yaml'), MIG_COMPOSE);
    run = {
      project: MIG_PROJECT,
      dir: oldDir,
      files: ['compose.yaml'],
      env: { REGISTRY: registry },
    };
    composeUp(run);
    const db = containerOf('docker-compose 1.29', MIG_PROJECT, 'db');
    docker([
      'exec',
      db,
      'sh',
      '-c',
      'echo volume-data > /var/lib/db/file && echo bind-data > /srv/data/file',
    ]);
    return async () => {
      removeAllContainers();
      composeDown(run);
      removeByLabel(`io.gitdock.project=${MIG_PROJECT}`, { volumes: true });
      for (const v of [`${MIG_PROJECT}_dbdata`]) dockerResult(['volume', 'rm', '-f', v]);
      dockerResult(['network', 'rm', `${MIG_PROJECT}_default`]);
    };
  }, 180_000);

  function fleet(adopt: boolean): Record<string, string> {
    const settings = [`        dir: ${oldDir}`, ...(adopt ? ['        adopt_compose: true'] : [])];
    return {
      'gitdock.yaml': [
        'hosts:',
        `  ${MIG_HOST}:`,
        '    projects:',
        `      ${MIG_PROJECT}:`,
        ...settings,
        '',
      ].join('\n'),
      [`hosts/${MIG_HOST}/${MIG_PROJECT}/compose.yaml`]: MIG_COMPOSE,
    };
  }

  it('without adopt_compose: a conflict naming the Compose project, and nothing touched', async () => {
    const before = containerOf('docker-compose 1.29', MIG_PROJECT, 'db');
    const g = await gitdockHost(MIG_HOST, [MIG_PROJECT], fleet(false));
    try {
      const cursor = eventCursor();
      const applied = await g.apply();
      const output = applied.stdout + applied.stderr;
      expect(applied.code, output).not.toBe(0);
      expect(output).toMatch(/conflict/i);
      expect(output).toContain(MIG_PROJECT);
      expect(output).toMatch(/compose/i);
      expect(mutationsSince(cursor)).toEqual([]);
      expect(containerOf('docker-compose 1.29', MIG_PROJECT, 'db')).toBe(before);
      expect(docker(['ps', '-aq', '--filter', 'label=io.gitdock.host'])).toBe('');
      expect(
        docker(['network', 'ls', '-q', '--filter', `label=io.gitdock.project=${MIG_PROJECT}`]),
      ).toBe('');
      expect(
        docker(['volume', 'ls', '-q', '--filter', `label=io.gitdock.project=${MIG_PROJECT}`]),
      ).toBe('');
    } finally {
      await g.repo.cleanup();
    }
  });

  it('with adopt_compose and the old directory: gitdock replaces the containers and they see the same data', async () => {
    const volumeBefore = JSON.parse(docker(['volume', 'inspect', `${MIG_PROJECT}_dbdata`]))[0];
    const g = await gitdockHost(MIG_HOST, [MIG_PROJECT], fleet(true));
    try {
      const applied = await g.apply();
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);

      // Compose's containers are gone; gitdock's runs under Compose v2's name.
      expect(
        docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${MIG_PROJECT}`]),
      ).toBe('');
      const db = containerOf('gitdock', MIG_PROJECT, 'db');
      expect(docker(['inspect', '--format', '{{.Name}}', db])).toBe(`/${MIG_PROJECT}-db-1`);

      // The same named volume (same name, same volume: not re-created) and the old ./data.
      const mounts = JSON.parse(docker(['inspect', '--format', '{{json .Mounts}}', db])) as {
        Type: string;
        Name?: string;
        Source: string;
        Destination: string;
      }[];
      expect(mounts.find((m) => m.Destination === '/var/lib/db')).toMatchObject({
        Type: 'volume',
        Name: `${MIG_PROJECT}_dbdata`,
      });
      expect(mounts.find((m) => m.Destination === '/srv/data')).toMatchObject({
        Type: 'bind',
        Source: path.join(oldDir, 'data'),
      });
      const volumeAfter = JSON.parse(docker(['volume', 'inspect', `${MIG_PROJECT}_dbdata`]))[0];
      expect(volumeAfter.CreatedAt).toBe(volumeBefore.CreatedAt);

      expect(exec(db, ['cat', '/var/lib/db/file'])).toEqual({ status: 0, out: 'volume-data\n' });
      expect(exec(db, ['cat', '/srv/data/file'])).toEqual({ status: 0, out: 'bind-data\n' });

      // A second apply has nothing left to adopt or change.
      const cursor = eventCursor();
      const again = await g.apply();
      expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
      expect(mutationsSince(cursor)).toEqual([]);
    } finally {
      await g.repo.cleanup();
    }
  });
});
