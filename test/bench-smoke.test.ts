// Keeps the benches from rotting: runs each once against the private engine,
// as `make bench` would, and checks the shape of what it writes. Never asserts on timings: one run on a shared machine means nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { resourceCounts } from '../bench/lib/compose-project.js';
import { docker } from './support/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const TIMEOUT_MS = 300_000;

const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-bench-smoke-'));
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }));

it(
  'bench/apply.bench.ts --quick runs every tool and scenario and writes its JSON',
  () => {
    const out = path.join(outDir, 'apply.json');
    // --clear: this engine belongs to the test run, as in the other integration files.
    const r = spawnSync(TSX, ['bench/apply.bench.ts', '--quick', '--clear', '--out', out], {
      cwd: ROOT,
      env: process.env,
      encoding: 'utf8',
      timeout: TIMEOUT_MS - 10_000,
    });
    expect(r.error, r.error?.message).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('gitdock (settle 0s)');
    expect(r.stdout).toContain('goals:');

    const report = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(report).toMatchObject({ benchmark: 'apply', runs: 1, services: 10 });
    expect(report.machine.cpus).toBeGreaterThan(0);
    expect(report.machine.dockerd).toMatch(/^\d+\.\d+/);

    const cells = report.results.map(
      (x: { tool: string; scenario: string }) => `${x.tool} ${x.scenario}`,
    );
    const tools = ['gitdock', 'gitdock-settle-0s', 'compose', 'docker-cli'];
    const scenarios = ['first-deploy', 'no-op', 'one-changed'];
    expect(cells.sort()).toEqual(tools.flatMap((t) => scenarios.map((s) => `${t} ${s}`)).sort());
    for (const x of report.results) {
      expect(x.samplesMs).toHaveLength(1);
      expect(x.samplesMs[0]).toBeGreaterThan(0);
      expect(x.mutations).toHaveLength(1);
      expect(Number.isInteger(x.mutations[0])).toBe(true);
    }
    expect(Object.keys(report.ratios).sort()).toEqual([
      'gitdock-settle-0s/bare-cli',
      'gitdock-settle-0s/compose',
      'gitdock/bare-cli',
      'gitdock/compose',
    ]);
    expect(report.goals.length).toBeGreaterThan(0);
    expect(report.coldStart.map((c: { id: string }) => c.id)).toContain('gitdock-apply-noop');

    // The bench leaves the engine empty.
    expect(docker(['ps', '-aq'])).toBe('');
  },
  TIMEOUT_MS,
);

it(
  'bench/agent.bench.ts runs the push and idle scenarios and writes its JSON',
  () => {
    const out = path.join(outDir, 'agent.json');
    const r = spawnSync(
      TSX,
      ['bench/agent.bench.ts', '--runs', '1', '--idle', '2', '--clear', '--out', out],
      { cwd: ROOT, env: process.env, encoding: 'utf8', timeout: TIMEOUT_MS - 10_000 },
    );
    expect(r.error, r.error?.message).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ 1 changed {2}agent: running /m);

    const report = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(report).toMatchObject({ benchmark: 'agent', runs: 1 });
    expect(report.results.map((x: { changedServices: number }) => x.changedServices)).toEqual([
      1, 10,
    ]);
    for (const x of report.results) {
      for (const side of [x.agent.running, x.agent.converged, x.bareApi.converged]) {
        expect(side.samplesMs).toHaveLength(1);
        expect(side.samplesMs[0]).toBeGreaterThan(0);
      }
      // A container is started before it is renamed into place.
      expect(x.agent.converged.medianMs).toBeGreaterThanOrEqual(x.agent.running.medianMs);
    }
    expect(report.idle).toMatchObject({ services: 20, seconds: 2 });
    expect(report.idle.rssMB.max).toBeGreaterThan(10);
    expect(report.goals).toHaveLength(5);

    // The bench stops its agent and leaves the engine empty.
    expect(docker(['ps', '-aq'])).toBe('');
  },
  TIMEOUT_MS,
);

/** Five deploys of a 5-service project with networks and volumes: slower than the others on a busy machine. */
const COMPOSE_TIMEOUT_MS = 420_000;

it(
  'bench/compose.bench.ts --quick deploys the Compose project with every tool and writes its JSON',
  () => {
    const out = path.join(outDir, 'compose.json');
    const r = spawnSync(TSX, ['bench/compose.bench.ts', '--quick', '--clear', '--out', out], {
      cwd: ROOT,
      env: process.env,
      encoding: 'utf8',
      timeout: COMPOSE_TIMEOUT_MS - 10_000,
    });
    expect(r.error, r.error?.message).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('what networks and volumes cost a no-op');
    expect(r.stdout).toContain('goals:');

    const report = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(report).toMatchObject({ benchmark: 'compose', runs: 1, services: 5 });
    expect(report.project).toMatchObject({
      name: 'bench50',
      networks: 2,
      volumes: resourceCounts(5).volumes,
    });

    const cells = report.results.map(
      (x: { tool: string; scenario: string }) => `${x.tool} ${x.scenario}`,
    );
    const full = ['gitdock', 'gitdock-settle-0s', 'compose'].flatMap((t) =>
      ['first-deploy', 'no-op', 'one-changed'].map((s) => `${t} ${s}`),
    );
    const plain = ['gitdock-settle-0s-plain', 'compose-plain'].flatMap((t) =>
      ['first-deploy', 'no-op'].map((s) => `${t} ${s}`),
    );
    expect(cells.sort()).toEqual([...full, ...plain].sort());
    for (const x of report.results) {
      expect(x.samplesMs).toHaveLength(1);
      expect(x.samplesMs[0]).toBeGreaterThan(0);
      // Every tool did the same work: each container created and started, one
      // replaced; with networks and volumes, those of the project created first.
      const containerEvents = { 'first-deploy': 2 * 5, 'no-op': 0, 'one-changed': 7 } as const;
      expect(x.mutations).toEqual([containerEvents[x.scenario as keyof typeof containerEvents]]);
      const { networks, volumes } = resourceCounts(5);
      const resources =
        x.tool.endsWith('-plain') || x.scenario !== 'first-deploy' ? 0 : networks + volumes;
      expect(x.resourceEvents, `${x.tool} ${x.scenario}`).toEqual([resources]);
    }
    expect(report.goals).toHaveLength(2);
    expect(report.networksAndVolumes.listCalls.map((c: { id: string }) => c.id)).toContain(
      'volumes',
    );
    const commands = report.commands.map((c: { id: string }) => c.id);
    expect(commands).toEqual(
      expect.arrayContaining(['validate-50', 'plan-no-op', 'plan-one-changed']),
    );
    expect(report.split.loadProbe.error).toBeUndefined();

    // The bench leaves the engine as it found it: no container, network or volume of the project.
    expect(docker(['ps', '-aq'])).toBe('');
    expect(docker(['network', 'ls', '-q', '--filter', 'name=bench50_'])).toBe('');
    expect(docker(['volume', 'ls', '-q', '--filter', 'name=bench50_'])).toBe('');
  },
  COMPOSE_TIMEOUT_MS,
);
