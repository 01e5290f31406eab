// The three ways of deploying the workload, each behind the same small
// interface: untimed preparation of the tool's inputs, then the timed
// command(s) an operator would run for a scenario.
import fs from 'node:fs';
import path from 'node:path';
import {
  appRepository,
  BASE_TAG,
  type BenchService,
  CHANGED_SERVICE,
  CHANGED_TAG,
  CLI_LABEL,
  COMPOSE_PROJECT,
  composeFile,
  dockerCreateArgs,
  gitdockManifest,
  HOST,
  tagOf,
} from './fleet.js';
import { createBenchRepo } from './git.js';
import { check, timed } from './proc.js';
import { COMPOSE, DOCKER, type Stack } from './stack.js';

export const SCENARIOS = [
  { id: 'first-deploy', label: 'first deploy' },
  { id: 'no-op', label: 'no-op' },
  { id: 'one-changed', label: 'one changed' },
] as const;

export type ScenarioId = (typeof SCENARIOS)[number]['id'];

export type ToolId = 'gitdock' | 'gitdock-settle-0s' | 'compose' | 'docker-cli';

export interface Tool {
  id: ToolId;
  label: string;
  /** Untimed: the tool's inputs say "every service at BASE_TAG" (the engine is empty). */
  prepareFirstDeploy(): void;
  /** Untimed: the tool's inputs say CHANGED_SERVICE runs CHANGED_TAG. */
  prepareChange(): void;
  /** Timed: what an operator runs for this scenario; wall time in ms. Throws if it fails. */
  run(scenario: ScenarioId): number;
}

export interface ToolContext {
  stack: Stack;
  /** A temp dir of the bench's own; each tool makes a subdirectory. */
  workDir: string;
  services: BenchService[];
}

/** Per-command bound; a healthy run of any of them takes seconds. */
const COMMAND_TIMEOUT_MS = 120_000;

/**
 * gitdock: a fleet repo with `hosts/bench/svc-NN.yaml`, a commit per change,
 * `node bin/gitdock.js apply` for every scenario. `settle` writes
 * `update.settle` into every manifest (without it gitdock waits its default
 * settle time after starting a container).
 */
export function gitdockTool(
  ctx: ToolContext,
  options: { id: ToolId; label: string; settle?: string },
): Tool {
  const repository = appRepository(ctx.stack.registry);
  const repo = createBenchRepo(path.join(ctx.workDir, options.id));
  const manifest = (s: BenchService, changed: boolean) =>
    gitdockManifest(s, repository, tagOf(s.name, changed), options.settle);
  const file = (name: string) => `hosts/${HOST}/${name}.yaml`;
  repo.commit(
    Object.fromEntries(ctx.services.map((s) => [file(s.name), manifest(s, false)])),
    `bench: ${ctx.services.length} services at ${BASE_TAG}`,
  );
  let changed = false;
  const changedService = ctx.services.find((s) => s.name === CHANGED_SERVICE)!;
  const setChanged = (value: boolean, message: string) => {
    if (changed === value) return;
    repo.commit({ [file(CHANGED_SERVICE)]: manifest(changedService, value) }, message);
    changed = value;
  };
  const bin = path.join(ctx.stack.root, 'bin', 'gitdock.js');
  return {
    id: options.id,
    label: options.label,
    prepareFirstDeploy: () => setChanged(false, `${CHANGED_SERVICE}: back to ${BASE_TAG}`),
    prepareChange: () => setChanged(true, `${CHANGED_SERVICE}: ${CHANGED_TAG}`),
    run: () =>
      check(process.execPath, [bin, 'apply', '--host', HOST, '--repo', repo.dir], {
        cwd: ctx.stack.root,
        env: ctx.stack.env,
        timeoutMs: COMMAND_TIMEOUT_MS,
      }).ms,
  };
}

/** docker-compose 1.29: an equivalent docker-compose.yml, `up -d` for every scenario. */
export function composeTool(ctx: ToolContext): Tool {
  const repository = appRepository(ctx.stack.registry);
  const dir = path.join(ctx.workDir, 'compose');
  const file = path.join(dir, 'docker-compose.yml');
  fs.mkdirSync(dir, { recursive: true });
  const write = (changed: boolean) =>
    fs.writeFileSync(file, composeFile(ctx.services, repository, changed));
  return {
    id: 'compose',
    label: 'docker-compose 1.29',
    prepareFirstDeploy: () => write(false),
    prepareChange: () => write(true),
    run: () =>
      check(COMPOSE, ['-p', COMPOSE_PROJECT, '-f', file, 'up', '-d'], {
        cwd: dir,
        env: ctx.stack.env,
        timeoutMs: COMMAND_TIMEOUT_MS,
      }).ms,
  };
}

/**
 * The bare docker CLI, as a careful script would drive it: one command after
 * the other, pull before anything is stopped, and the same replace sequence
 * gitdock uses (create under a temporary name, stop old, start new, remove
 * old, rename new) minus the wait for the new container to prove itself.
 */
export function dockerCliTool(ctx: ToolContext): Tool {
  const repository = appRepository(ctx.stack.registry);
  const cli = (args: string[]) =>
    check(DOCKER, args, { env: ctx.stack.env, timeoutMs: COMMAND_TIMEOUT_MS }).stdout;
  const base = `${repository}:${BASE_TAG}`;
  const next = `${repository}:${CHANGED_TAG}`;
  const changedService = ctx.services.find((s) => s.name === CHANGED_SERVICE)!;

  const firstDeploy = () => {
    cli(['pull', base]);
    for (const s of ctx.services) cli(['run', '-d', ...dockerCreateArgs(s, s.name, base)]);
  };
  // What a script needs to find that nothing changed: its containers, and
  // whether each runs the image and environment it should.
  const noOp = () => {
    const names = cli(['ps', '-a', '--filter', `label=${CLI_LABEL}`, '--format', '{{.Names}}'])
      .split('\n')
      .filter(Boolean);
    const inspected = JSON.parse(cli(['inspect', ...names])) as {
      Name: string;
      State: { Running: boolean };
      Config: { Image: string; Env: string[] | null };
    }[];
    const byName = new Map(inspected.map((c) => [c.Name.replace(/^\//, ''), c]));
    const drift = ctx.services.filter((s) => {
      const c = byName.get(s.name);
      const env = new Set(c?.Config.Env ?? []);
      return (
        !c?.State.Running ||
        c.Config.Image !== `${repository}:${tagOf(s.name, false)}` ||
        Object.entries(s.environment).some(([k, v]) => !env.has(`${k}=${v}`))
      );
    });
    if (drift.length > 0) {
      throw new Error(`docker CLI no-op found drift in ${drift.map((s) => s.name).join(', ')}`);
    }
  };
  const replace = () => {
    const temp = `${CHANGED_SERVICE}-next`;
    cli(['pull', next]);
    cli(['create', ...dockerCreateArgs(changedService, temp, next)]);
    cli(['stop', CHANGED_SERVICE]);
    cli(['start', temp]);
    cli(['rm', CHANGED_SERVICE]);
    cli(['rename', temp, CHANGED_SERVICE]);
  };
  const steps: Record<ScenarioId, () => void> = {
    'first-deploy': firstDeploy,
    'no-op': noOp,
    'one-changed': replace,
  };
  return {
    id: 'docker-cli',
    label: 'docker CLI',
    prepareFirstDeploy: () => {},
    prepareChange: () => {},
    run: (scenario) => timed(steps[scenario]),
  };
}
