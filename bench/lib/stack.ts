// The engine the bench runs against: the private dockerd and registry of
// scripts/stack.sh (DESIGN.md section 7), never a system engine. Everything
// here talks to that unix socket or to the registry on 127.0.0.1.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { check, run } from './proc.js';

/** The Debian client that matches the engine (dockerd 20.10, API 1.41). */
export const DOCKER = '/usr/bin/docker';
/** Debian's docker-compose 1.29 (Python); it honours DOCKER_HOST. */
export const COMPOSE = '/usr/bin/docker-compose';

export interface Stack {
  /** The gitdock checkout (holds scripts/stack.sh and bin/gitdock.js). */
  root: string;
  stackDir: string;
  /** unix:///…/docker.sock of the private engine */
  dockerHost: string;
  /** 127.0.0.1:PORT of the registry */
  registry: string;
  /** Environment for every child: the private engine, no proxies, no colour. */
  env: NodeJS.ProcessEnv;
}

const STACK_UP_TIMEOUT_MS = 20 * 60_000;

/**
 * Brings the stack up (`scripts/stack.sh up` is idempotent and quick when it
 * is up already) and returns its environment. GITDOCK_STACK_DIR and
 * GITDOCK_REGISTRY_PORT (or the port of GITDOCK_REGISTRY) choose the stack,
 * as for the tests; the caller's DOCKER_HOST is ignored, so the bench can
 * never clear a system engine.
 */
export function bringUpStack(root: string, env: NodeJS.ProcessEnv = process.env): Stack {
  const script = path.join(root, 'scripts', 'stack.sh');
  const stackDir = env.GITDOCK_STACK_DIR || '/tmp/gitdock-stack';
  const port = env.GITDOCK_REGISTRY_PORT || portOf(env.GITDOCK_REGISTRY) || '5055';
  const stackEnv = { ...env, GITDOCK_STACK_DIR: stackDir, GITDOCK_REGISTRY_PORT: port };
  // stack.sh logs to stderr; send its stdout there too so the bench's stdout is only the report.
  const up = spawnSync('bash', [script, 'up'], {
    env: stackEnv,
    stdio: ['ignore', 2, 2],
    timeout: STACK_UP_TIMEOUT_MS,
  });
  if (up.error || up.status !== 0) {
    throw new Error(`bash scripts/stack.sh up failed: ${up.error?.message ?? `exit ${up.status}`}`);
  }
  const vars = parseExports(check('bash', [script, 'env'], { env: stackEnv }).stdout);
  const dockerHost = vars.DOCKER_HOST ?? '';
  const registry = vars.GITDOCK_REGISTRY ?? '';
  if (dockerHost !== `unix://${stackDir}/docker.sock` || !registry.startsWith('127.0.0.1:')) {
    throw new Error(
      `scripts/stack.sh env gave DOCKER_HOST=${dockerHost} GITDOCK_REGISTRY=${registry}; ` +
        `expected the private engine under ${stackDir} and a registry on 127.0.0.1`,
    );
  }
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    DOCKER_HOST: dockerHost,
    GITDOCK_REGISTRY: registry,
    GITDOCK_STACK_DIR: stackDir,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
    NO_COLOR: '1',
  };
  // Nothing from the caller's shell may point a tool elsewhere or change what it does.
  for (const key of [
    'DOCKER_CONTEXT',
    'DOCKER_TLS_VERIFY',
    'DOCKER_CERT_PATH',
    'COMPOSE_FILE',
    'COMPOSE_PROJECT_NAME',
    'COMPOSE_PROFILES',
    'GITDOCK_LOG_LEVEL',
  ]) {
    delete childEnv[key];
  }
  return { root, stackDir, dockerHost, registry, env: childEnv };
}

function portOf(registry: string | undefined): string | undefined {
  const m = /^127\.0\.0\.1:([0-9]+)$/.exec(registry ?? '');
  return m?.[1];
}

function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim().replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** `docker <args>` against the private engine; trimmed stdout; throws on failure. */
export function docker(stack: Stack, args: string[], timeoutMs = 120_000): string {
  return check(DOCKER, args, { env: stack.env, timeoutMs }).stdout.trim();
}

export interface ContainerInfo {
  id: string;
  name: string;
  running: boolean;
  /** The image ID the container runs (`sha256:…`). */
  imageId: string;
  labels: Record<string, string>;
}

/** Every container on the engine, running or not. */
export function listContainers(stack: Stack): ContainerInfo[] {
  const ids = docker(stack, ['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  // A container can vanish between ps and inspect; inspect then fails, so ask again once.
  const r = run(DOCKER, ['inspect', ...ids], { env: stack.env });
  const text = r.status === 0 ? r.stdout : docker(stack, ['inspect', ...ids]);
  const inspected = JSON.parse(text) as {
    Id: string;
    Name: string;
    Image: string;
    State: { Running: boolean };
    Config: { Labels: Record<string, string> | null };
  }[];
  return inspected.map((c) => ({
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    running: c.State.Running,
    imageId: c.Image,
    labels: c.Config.Labels ?? {},
  }));
}

/** `docker rm -f -v` of the given containers. */
export function removeContainers(stack: Stack, ids: string[]): void {
  if (ids.length > 0) docker(stack, ['rm', '-f', '-v', ...ids]);
}

/** The image ID a reference resolves to on the engine. */
export function imageId(stack: Stack, ref: string): string {
  return docker(stack, ['image', 'inspect', '--format', '{{.Id}}', ref]);
}

/** A cursor for `countMutations`: unix seconds with milliseconds (the engine runs on this machine). */
export function eventCursor(): string {
  return (Date.now() / 1000).toFixed(3);
}

/** Container events that change something, as the engine's event stream names them. */
const MUTATING = new Set([
  'create',
  'start',
  'stop',
  'kill',
  'die',
  'destroy',
  'rename',
  'pause',
  'unpause',
  'restart',
  'update',
]);

/** How many container-changing engine events happened between two cursors. */
export function countMutations(stack: Stack, since: string, until: string): number {
  const text = docker(stack, [
    'events',
    '--since',
    since,
    '--until',
    until,
    '--filter',
    'type=container',
    '--format',
    '{{.Action}}',
  ]);
  return text
    .split('\n')
    .filter(Boolean)
    .filter((action) => MUTATING.has(action.replace(/:.*$/, ''))).length;
}
