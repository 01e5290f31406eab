// Done-when 1 of issue 10: every project of test/compose-corpus/ is run with
// docker-compose 1.29 (the reference, mapped to Compose v2 where v2's
// documented behaviour differs) and with `gitdock apply`, on the private
// engine, and what each made is compared: every container's inspect
// reduced to what a Compose file decides, and the networks and volumes.
//
// Projects marked `gitdockOnly` in test/support/compose-corpus.ts use what
// 1.29 lacks or does differently: their 1.29 run is skipped (and reported
// as skipped) and gitdock's result is held to expectations taken from the
// Compose v2 documentation, written in compose-corpus.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ComposeRun,
  composeUpAsync,
  type ProjectRecords,
  readProjectRecords,
  removeByLabel,
  toComposeV2,
} from './support/compose-compare.js';
import {
  CORPUS,
  CORPUS_DIR,
  type CorpusEnv,
  type CorpusProject,
  composeFiles,
} from './support/compose-corpus.js';
import { createRepo } from './support/git-fixture.js';
import { gitdock } from './support/gitdock.js';
import { docker, dockerResult, removeAllContainers, stackEnv } from './support/stack.js';

const HOST = 'corpus';
/**
 * A test waits for its project, which may wait for a free slot: the bound
 * covers the slowest project (a 90 s health check) behind a full queue.
 */
const TEST_TIMEOUT_MS = 600_000;
let env: CorpusEnv;
let scratch: string;

/** The variables a project gets from outside its repo files. */
function hostEnv(p: CorpusProject): Record<string, string> {
  return { REGISTRY: env.registry, ...p.hostEnv?.(env) };
}

function cleanEngine(): void {
  removeAllContainers();
  docker(['network', 'prune', '-f']);
  const volumes = docker(['volume', 'ls', '-q']).split('\n').filter(Boolean);
  if (volumes.length > 0) docker(['volume', 'rm', '-f', ...volumes]);
}

/** Pushes `memcached:latest` (35-image-forms uses an image without a tag) and reads app:1.0's digest. */
function prepareImages(): CorpusEnv {
  const registry = `${stackEnv().registry}/gitdock-test`;
  docker(['pull', '-q', `${registry}/memcached:1.6`]);
  docker(['tag', `${registry}/memcached:1.6`, `${registry}/memcached:latest`]);
  docker(['push', '-q', `${registry}/memcached:latest`]);
  docker(['rmi', `${registry}/memcached:latest`]);
  docker(['pull', '-q', `${registry}/app:1.0`]);
  const repoDigest = docker([
    'image',
    'inspect',
    '--format',
    '{{index .RepoDigests 0}}',
    `${registry}/app:1.0`,
  ]);
  const appDigest = repoDigest.slice(repoDigest.indexOf('@') + 1);
  if (!/^sha256:[0-9a-f]{64}$/.test(appDigest))
    throw new Error(`no digest for app:1.0: ${repoDigest}`);
  return { registry, appDigest };
}

function createExternals(p: CorpusProject): void {
  for (const v of p.externalVolumes ?? []) docker(['volume', 'create', v]);
}

function removeExternals(p: CorpusProject): void {
  for (const v of p.externalVolumes ?? []) docker(['volume', 'rm', '-f', v]);
}

let privileged: boolean | undefined;

/** Whether the engine can start a privileged container (it cannot without CAP_SYS_RESOURCE). */
function engineAllowsPrivileged(): boolean {
  privileged ??=
    dockerResult([
      'run',
      '--rm',
      '--privileged',
      '--network',
      'none',
      `${env.registry}/app:1.0`,
      'true',
    ]).status === 0;
  return privileged;
}

function sortedKeys(records: ProjectRecords): string[] {
  return Object.keys(records.containers).sort();
}

beforeAll(() => {
  cleanEngine();
  env = prepareImages();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-corpus-'));
  startProjects();
}, 300_000);

afterAll(async () => {
  await Promise.all(workers);
  cleanEngine();
  fs.rmSync(scratch, { recursive: true, force: true });
}, TEST_TIMEOUT_MS);

describe('the corpus', () => {
  it('has at least 30 projects, each with its own project name', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(30);
    expect(new Set(CORPUS.map((p) => p.project)).size).toBe(CORPUS.length);
    const dirs = fs.readdirSync(CORPUS_DIR).filter((d) => /^\d+-/.test(d));
    expect(dirs.sort()).toEqual(CORPUS.map((p) => p.dir).sort());
  });
});

/** What running one project gave: each tool's records, or why there are none. */
interface Outcome {
  /** Why the engine cannot run the project (the tests are skipped, and say so). */
  unsupported?: string;
  v1?: { records?: ProjectRecords; error?: unknown };
  gitdock?: { records?: ProjectRecords; error?: unknown };
}

/**
 * Projects run side by side, this many at a time: each waits mostly on the
 * engine, docker-compose and gitdock's own processes, and no two projects
 * share a name, a host port, a subnet or (below) a gitdock host. Within a
 * project the 1.29 run and gitdock's run take turns: they use the same
 * names and ports.
 */
const CONCURRENCY = Number(process.env.GITDOCK_CORPUS_CONCURRENCY ?? 4);
const outcomes = new Map<string, Promise<Outcome>>();
let workers: Promise<void>[] = [];

/** Starts every project in the background; each test awaits its own. */
function startProjects(): void {
  const settle = new Map<string, (o: Outcome) => void>();
  for (const p of CORPUS) {
    outcomes.set(p.dir, new Promise((resolve) => settle.set(p.dir, resolve)));
  }
  const queue = [...CORPUS];
  const work = async () => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      settle.get(p.dir)!(await runProject(p));
    }
  };
  workers = Array.from({ length: Math.max(1, CONCURRENCY) }, work);
}

function outcomeOf(p: CorpusProject): Promise<Outcome> {
  const o = outcomes.get(p.dir);
  if (!o) throw new Error(`${p.dir} was never started`);
  return o;
}

/** GITDOCK_CORPUS_TIMES=1 prints how long each run took (for keeping the suite fast). */
function timing(p: CorpusProject, what: string, since: number): void {
  if (process.env.GITDOCK_CORPUS_TIMES) {
    process.stderr.write(`[corpus] ${p.dir} ${what} ${Date.now() - since} ms\n`);
  }
}

async function runProject(p: CorpusProject): Promise<Outcome> {
  if (p.requires === 'privileged' && !engineAllowsPrivileged()) {
    return { unsupported: 'this engine cannot start privileged containers (no CAP_SYS_RESOURCE)' };
  }
  const out: Outcome = {};
  if (!p.gitdockOnly) {
    try {
      const t0 = Date.now();
      out.v1 = { records: await runCompose129(p) };
      timing(p, '1.29', t0);
    } catch (error) {
      out.v1 = { error };
      // Without a reference there is nothing to hold gitdock's run to.
      return out;
    }
  }
  try {
    const t0 = Date.now();
    out.gitdock = { records: await runGitdock(p) };
    timing(p, 'gitdock', t0);
  } catch (error) {
    out.gitdock = { error };
  }
  return out;
}

/** docker-compose 1.29's records of the project, mapped to Compose v2. */
async function runCompose129(p: CorpusProject): Promise<ProjectRecords> {
  // A scratch copy: 1.29 creates host-data binds (./data) in the project directory.
  const dir = path.join(scratch, 'compose', p.repoDir);
  fs.cpSync(path.join(CORPUS_DIR, p.dir), dir, { recursive: true });
  const run: ComposeRun = {
    project: p.project,
    dir,
    files: composeFiles(p.dir),
    env: hostEnv(p),
    profiles: p.profiles,
  };
  createExternals(p);
  try {
    const t0 = Date.now();
    await composeUpAsync(run);
    timing(p, '1.29 up', t0);
    const records = readProjectRecords('compose', {
      project: p.project,
      repoProjectDir: path.join(CORPUS_DIR, p.dir),
      hostProjectDir: dir,
    });
    return toComposeV2(records, p.project);
  } finally {
    // Removed by label, as for gitdock: `docker-compose down` compares nothing and is slower.
    removeByLabel(`com.docker.compose.project=${p.project}`, { volumes: true });
    removeExternals(p);
  }
}

/** gitdock's records of the project, applied from a fleet repo with --env-dir and --state-dir. */
async function runGitdock(p: CorpusProject): Promise<ProjectRecords> {
  const host = hostOf(p);
  const work = fs.mkdtempSync(path.join(scratch, `${p.repoDir}-`));
  const stateDir = path.join(work, 'state');
  const envDir = path.join(work, 'env');
  fs.mkdirSync(envDir, { recursive: true });
  fs.writeFileSync(
    path.join(envDir, `${p.project}.env`),
    Object.entries(hostEnv(p))
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  const repo = await createRepo({ files: fleetFiles(p) });
  const apply = () =>
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
    ]);
  createExternals(p);
  try {
    const t0 = Date.now();
    const applied = await apply();
    timing(p, 'gitdock apply', t0);
    if (applied.code !== 0) {
      throw new Error(`gitdock apply failed:\n${applied.stdout}\n${applied.stderr}`);
    }
    return readProjectRecords('gitdock', {
      project: p.project,
      repoProjectDir: path.join(CORPUS_DIR, p.dir),
      hostProjectDir: path.join(stateDir, 'projects', p.project),
      fileStoreDirs: [stateDir],
    });
  } finally {
    // Removed with `docker rm -f` by label, not by applying an empty host:
    // nothing here is compared, and stopping each container gracefully would
    // cost seconds per project.
    removeByLabel(`io.gitdock.host=${host}`, { volumes: false });
    removeByLabel(`io.gitdock.project=${p.project}`, { volumes: true });
    removeProjectVolumes(p.project);
    removeExternals(p);
    await repo.cleanup();
  }
}

for (const p of CORPUS) {
  describe(p.dir, () => {
    // The 1.29 run: only for projects it can run the way Compose v2 does.
    const runV1 = p.gitdockOnly ? it.skip : it;
    runV1(
      p.gitdockOnly
        ? `docker-compose 1.29 not run (gitdock-only: ${p.gitdockOnly})`
        : 'docker-compose 1.29 runs it (the reference)',
      async (ctx) => {
        const o = await outcomeOf(p);
        if (o.unsupported) ctx.skip(o.unsupported);
        if (o.v1?.error !== undefined) throw o.v1.error;
        const v2 = o.v1?.records;
        if (!v2) throw new Error('docker-compose 1.29 did not run');
        expect(sortedKeys(v2)).toEqual([...p.containers].sort());
        expect(v2).toMatchObject(p.expect(env));
      },
      TEST_TIMEOUT_MS,
    );

    it(
      p.gitdockOnly
        ? 'gitdock apply gives what the Compose v2 docs say'
        : 'gitdock apply gives the same containers, networks and volumes',
      async (ctx) => {
        const o = await outcomeOf(p);
        if (o.unsupported) ctx.skip(o.unsupported);
        const expected = o.v1?.records;
        if (!p.gitdockOnly && !expected) {
          throw new Error('no reference: the docker-compose 1.29 run of this project failed');
        }
        if (o.gitdock?.error !== undefined) throw o.gitdock.error;
        const records = o.gitdock?.records;
        if (!records) throw new Error('gitdock did not run');
        expect(sortedKeys(records)).toEqual([...p.containers].sort());
        if (expected) {
          expect(records).toEqual(expected);
        } else {
          expect(records).toMatchObject(p.expect(env));
        }
      },
      TEST_TIMEOUT_MS,
    );
  });
}

/** The gitdock host of a project: one each, so concurrent applies never take another's containers as strays. */
function hostOf(p: CorpusProject): string {
  return `${HOST}-${p.dir.slice(0, 2)}`;
}

/** The fleet repo: the project's files under hosts/corpus/<dir>/, and its profiles in gitdock.yaml. */
function fleetFiles(p: CorpusProject): Record<string, string> {
  const files: Record<string, string> = {};
  const root = path.join(CORPUS_DIR, p.dir);
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else
        files[`hosts/${hostOf(p)}/${p.repoDir}/${path.relative(root, full)}`] = fs.readFileSync(
          full,
          'utf8',
        );
    }
  };
  walk(root);
  const profiles = p.profiles
    ? `\n    projects:\n      ${p.project}:\n        profiles: [${p.profiles.join(', ')}]`
    : ' {}';
  files['gitdock.yaml'] = `hosts:\n  ${hostOf(p)}:${profiles}\n`;
  return files;
}

/** Volumes named `<project>_*`, whatever labels they carry. */
function removeProjectVolumes(project: string): void {
  const names = docker(['volume', 'ls', '-q'])
    .split('\n')
    .filter((v) => v.startsWith(`${project}_`));
  if (names.length > 0) docker(['volume', 'rm', '-f', ...names]);
}
