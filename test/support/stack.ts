// Test-only helpers for the stack started by scripts/stack.sh (see
// test/support/global-setup.ts): a private dockerd and a registry on 127.0.0.1.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The Debian client that matches the engine (dockerd 20.10, API 1.41). */
export const DOCKER_BIN = '/usr/bin/docker';
const STACK_SH = fileURLToPath(new URL('../../scripts/stack.sh', import.meta.url));

export interface StackEnv {
  /** unix:///…/docker.sock of the private engine */
  dockerHost: string;
  /** 127.0.0.1:PORT of the registry */
  registry: string;
  /** the stack's state directory */
  stackDir: string;
}

export function stackEnv(): StackEnv {
  const dockerHost = process.env.DOCKER_HOST;
  const registry = process.env.GITDOCK_REGISTRY;
  const stackDir = process.env.GITDOCK_STACK_DIR;
  if (!dockerHost || !registry || !stackDir) {
    throw new Error(
      'test stack environment missing (DOCKER_HOST, GITDOCK_REGISTRY, GITDOCK_STACK_DIR): ' +
        'run via the vitest `integration` project, or `eval "$(bash scripts/stack.sh env)"`',
    );
  }
  if (!dockerHost.startsWith(`unix://${stackDir}/`)) {
    throw new Error(`DOCKER_HOST ${dockerHost} is not the private engine under ${stackDir}`);
  }
  return { dockerHost, registry, stackDir };
}

/** `127.0.0.1:PORT/gitdock-test/<name>:<tag>` */
export function imageRef(name: string, tag: string): string {
  return `${stackEnv().registry}/gitdock-test/${name}:${tag}`;
}

export interface DockerOptions {
  /** default 120 s */
  timeoutMs?: number;
  input?: string;
}

export interface DockerResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function dockerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: stackEnv().dockerHost };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  return env;
}

/** Runs /usr/bin/docker against the private engine; trimmed stdout; throws on failure. */
export function docker(args: string[], opts: DockerOptions = {}): string {
  try {
    return execFileSync(DOCKER_BIN, args, {
      env: dockerEnv(),
      encoding: 'utf8',
      input: opts.input,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    }).trim();
  } catch (err) {
    const e = err as { stderr?: string; status?: number | null; message: string };
    const detail = (e.stderr ?? '').trim() || e.message;
    throw new Error(`docker ${args.join(' ')} failed (status ${e.status ?? '?'}): ${detail}`);
  }
}

/** Like docker() but never throws: exit status and untrimmed output. */
export function dockerResult(args: string[], opts: DockerOptions = {}): DockerResult {
  const r = spawnSync(DOCKER_BIN, args, {
    env: dockerEnv(),
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** docker rm -f (with anonymous volumes) of every container on the private engine. */
export function removeAllContainers(): void {
  const ids = docker(['ps', '-aq']).split('\n').filter(Boolean);
  if (ids.length > 0) docker(['rm', '-f', '-v', ...ids]);
}

/** Removes images by reference or ID; ones that do not exist are ignored. */
export function removeImages(refs: string[]): void {
  if (refs.length === 0) return;
  const r = dockerResult(['rmi', '-f', ...refs]);
  if (r.status === 0) return;
  const errors = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/No such image/i.test(l));
  if (errors.length > 0) throw new Error(`docker rmi ${refs.join(' ')}: ${errors.join('; ')}`);
}

function stackCommand(cmd: string): void {
  const { registry, stackDir } = stackEnv();
  const port = registry.slice(registry.lastIndexOf(':') + 1);
  const r = spawnSync('bash', [STACK_SH, cmd], {
    env: { ...process.env, GITDOCK_STACK_DIR: stackDir, GITDOCK_REGISTRY_PORT: port },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? `status ${r.status}: ${r.stderr.trim()}`;
    throw new Error(`bash scripts/stack.sh ${cmd} failed: ${why}`);
  }
}

/** Kills the registry (bounded wait); /v2/ then refuses connections. */
export function stopRegistry(): void {
  stackCommand('registry-stop');
}

/** Starts the registry again with the same config and data; waits until /v2/ answers. */
export function startRegistry(): void {
  stackCommand('registry-start');
}
