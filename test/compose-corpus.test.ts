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
  composeDown,
  composeUp,
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
let env: CorpusEnv;
let scratch: string;
/** 1.29's records, mapped to v2, by corpus directory: the reference for gitdock's. */
const reference = new Map<string, ProjectRecords>();

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

/** Skips (visibly) a project this engine cannot run. */
function skipUnsupported(p: CorpusProject, skip: (note?: string) => void): void {
  if (p.requires === 'privileged' && !engineAllowsPrivileged()) {
    skip('this engine cannot start privileged containers (no CAP_SYS_RESOURCE)');
  }
}

function sortedKeys(records: ProjectRecords): string[] {
  return Object.keys(records.containers).sort();
}

beforeAll(() => {
  cleanEngine();
  env = prepareImages();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-corpus-'));
}, 300_000);

afterAll(() => {
  cleanEngine();
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('the corpus', () => {
  it('has at least 30 projects, each with its own project name', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(30);
    expect(new Set(CORPUS.map((p) => p.project)).size).toBe(CORPUS.length);
    const dirs = fs.readdirSync(CORPUS_DIR).filter((d) => /^\d+-/.test(d));
    expect(dirs.sort()).toEqual(CORPUS.map((p) => p.dir).sort());
  });
});

for (const p of CORPUS) {
  describe(p.dir, () => {
    // The 1.29 run: only for projects it can run the way Compose v2 does.
    const runV1 = p.gitdockOnly ? it.skip : it;
    runV1(
      p.gitdockOnly
        ? `docker-compose 1.29 not run (gitdock-only: ${p.gitdockOnly})`
        : 'docker-compose 1.29 runs it (the reference)',
      (ctx) => {
        skipUnsupported(p, (note) => ctx.skip(note));
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
        let records: ProjectRecords;
        try {
          composeUp(run);
          records = readProjectRecords('compose', {
            project: p.project,
            repoProjectDir: path.join(CORPUS_DIR, p.dir),
            hostProjectDir: dir,
          });
        } finally {
          composeDown(run);
          removeExternals(p);
        }
        const v2 = toComposeV2(records, p.project);
        expect(sortedKeys(v2)).toEqual([...p.containers].sort());
        expect(v2).toMatchObject(p.expect(env));
        reference.set(p.dir, v2);
      },
      180_000,
    );

    it(p.gitdockOnly
      ? 'gitdock apply gives what the Compose v2 docs say'
      : 'gitdock apply gives the same containers, networks and volumes', async (ctx) => {
      skipUnsupported(p, (note) => ctx.skip(note));
      const expected = reference.get(p.dir);
      if (!p.gitdockOnly && !expected) {
        throw new Error('no reference: the docker-compose 1.29 run of this project failed');
      }
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
          HOST,
          '--state-dir',
          stateDir,
          '--env-dir',
          envDir,
        ]);
      createExternals(p);
      let records: ProjectRecords;
      try {
        const applied = await apply();
        expect(applied.code, `gitdock apply failed:\n${applied.stdout}\n${applied.stderr}`).toBe(0);
        records = readProjectRecords('gitdock', {
          project: p.project,
          repoProjectDir: path.join(CORPUS_DIR, p.dir),
          hostProjectDir: path.join(stateDir, 'projects', p.project),
          fileStoreDirs: [stateDir],
        });
      } finally {
        // An empty host (allowed) removes the project's containers and networks;
        // volumes stay, as gitdock never removes them implicitly.
        repo.commit(
          { 'gitdock.yaml': `hosts:\n  ${HOST}:\n    allow_empty: true\n`, ...emptied(p) },
          'remove the project',
        );
        await apply().catch(() => undefined);
        removeByLabel(`io.gitdock.host=${HOST}`, { volumes: false });
        removeByLabel(`io.gitdock.project=${p.project}`, { volumes: true });
        removeProjectVolumes(p.project);
        removeExternals(p);
        await repo.cleanup();
      }
      expect(sortedKeys(records)).toEqual([...p.containers].sort());
      if (expected) {
        expect(records).toEqual(expected);
      } else {
        expect(records).toMatchObject(p.expect(env));
      }
    }, 180_000);
  });
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
        files[`hosts/${HOST}/${p.repoDir}/${path.relative(root, full)}`] = fs.readFileSync(
          full,
          'utf8',
        );
    }
  };
  walk(root);
  const profiles = p.profiles
    ? `\n    projects:\n      ${p.project}:\n        profiles: [${p.profiles.join(', ')}]`
    : ' {}';
  files['gitdock.yaml'] = `hosts:\n  ${HOST}:${profiles}\n`;
  return files;
}

/** Deletes every file fleetFiles wrote under hosts/. */
function emptied(p: CorpusProject): Record<string, null> {
  return Object.fromEntries(
    Object.keys(fleetFiles(p))
      .filter((f) => f.startsWith('hosts/'))
      .map((f) => [f, null]),
  );
}

/** Volumes named `<project>_*`, whatever labels they carry. */
function removeProjectVolumes(project: string): void {
  const names = docker(['volume', 'ls', '-q'])
    .split('\n')
    .filter((v) => v.startsWith(`${project}_`));
  if (names.length > 0) docker(['volume', 'rm', '-f', ...names]);
}
