// A second private dockerd for tests that need two hosts (DESIGN.md section 7:
// several private dockerds on one machine = several hosts). Started the way
// scripts/stack.sh starts the shared one: its own daemon.json, data root, exec
// root, pidfile and unix socket, no bridge, no iptables, and so its own
// dockerd-managed containerd (under <exec-root>/containerd). The registry on
// 127.0.0.1 needs no insecure-registries entry: dockerd treats 127.0.0.0/8 as
// insecure by default (the shared stack's daemon.json is `{}` too).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { DOCKER_BIN } from './stack.js';

const DOCKERD = '/usr/sbin/dockerd';

export interface SecondEngine {
  /** unix://<dir>/docker.sock */
  dockerHost: string;
  dir: string;
  /** Runs /usr/bin/docker against this engine; trimmed stdout; throws on failure. */
  docker(args: string[], timeoutMs?: number): string;
  /** The pid of the dockerd started last. */
  readonly pid: number;
  /**
   * Stops dockerd (and its containerd), bounded, keeping its data, as
   * `scripts/stack.sh engine-restart` does: an engine gone away.
   */
  halt(): Promise<void>;
  /** Starts dockerd again on the same directory (after `halt`); waits, at most 30 s, until it answers. */
  restart(): Promise<void>;
  /** Stops dockerd (and its containerd), bounded, and removes the directory. */
  stop(): Promise<void>;
}

function dockerAt(dockerHost: string, args: string[], timeoutMs = 60_000) {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: dockerHost };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  return spawnSync(DOCKER_BIN, args, { env, encoding: 'utf8', timeout: timeoutMs });
}

/** Whether a process with this pid exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** TERM, a bounded wait, then KILL and another bounded wait (as stack.sh's stop_pid). */
async function stopPid(pid: number, seconds: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < seconds * 10 && alive(pid); i++) await sleep(100);
  if (!alive(pid)) return;
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a private dockerd in a fresh directory under /tmp (short: containerd's
 * socket paths must stay under 107 bytes) and waits, at most 30 s, until it
 * answers `docker version`.
 */
export async function startSecondEngine(): Promise<SecondEngine> {
  const dir = fs.mkdtempSync('/tmp/gd-e2-');
  const dockerHost = `unix://${dir}/docker.sock`;
  fs.writeFileSync(`${dir}/daemon.json`, '{}\n');
  let pid = 0;

  // TERM (bounded), its containerd, then the netns bind mounts dockerd leaves
  // behind (exec/netns/default): a dockerd started over them cannot start the
  // containers again, and the directory cannot be removed under them.
  const halt = async () => {
    const containerdPid = readPid(`${dir}/exec/containerd/containerd.pid`);
    if (pid > 0) await stopPid(pid, 30);
    // dockerd stops its managed containerd; make sure, should dockerd have been killed.
    if (containerdPid !== undefined) await stopPid(containerdPid, 10);
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((m): m is string => m?.startsWith(`${dir}/`) === true)
      .sort()
      .reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m], { timeout: 10_000 });
    for (const f of ['dockerd.pid', 'docker.sock', 'exec/containerd/containerd.pid'])
      fs.rmSync(`${dir}/${f}`, { force: true });
  };

  const stop = async () => {
    await halt();
    await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  };

  // Spawns dockerd on `dir` (its data survives a halt) and waits until it answers.
  const run = async (onFailure: () => Promise<void>) => {
    const proc = spawnDockerd(dir, dockerHost);
    pid = proc.pid ?? 0;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (
        fs.existsSync(`${dir}/docker.sock`) &&
        dockerAt(dockerHost, ['version'], 10_000).status === 0
      ) {
        return;
      }
      if (proc.exitCode !== null || Date.now() > deadline) {
        const tail = fs
          .readFileSync(`${dir}/dockerd.log`, 'utf8')
          .split('\n')
          .slice(-20)
          .join('\n');
        await onFailure();
        throw new Error(`second dockerd did not come up in 30s:\n${tail}`);
      }
      await sleep(250);
    }
  };

  await run(stop);

  return {
    dockerHost,
    dir,
    get pid() {
      return pid;
    },
    docker(args, timeoutMs) {
      const r = dockerAt(dockerHost, args, timeoutMs);
      if (r.error || r.status !== 0) {
        throw new Error(
          `docker ${args.join(' ')} (${dockerHost}) failed: ${r.error?.message ?? r.stderr.trim()}`,
        );
      }
      return r.stdout.trim();
    },
    halt,
    restart: () => run(halt),
    stop,
  };
}

function spawnDockerd(dir: string, dockerHost: string): ChildProcess {
  const log = fs.openSync(`${dir}/dockerd.log`, 'a');
  let proc: ChildProcess;
  try {
    proc = spawn(
      DOCKERD,
      [
        '--config-file',
        `${dir}/daemon.json`,
        '--data-root',
        `${dir}/data`,
        '--exec-root',
        `${dir}/exec`,
        '--pidfile',
        `${dir}/dockerd.pid`,
        '-H',
        dockerHost,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        // A container's lookup of an unknown name never leaves the machine.
        '--dns',
        '127.0.0.1',
        '--shutdown-timeout',
        '5',
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
  } finally {
    fs.closeSync(log);
  }
  proc.unref();
  return proc;
}
