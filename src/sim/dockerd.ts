/**
 * One private dockerd per simulated host, started as the test stack starts
 * its own (scripts/stack.sh): an own daemon.json (a system
 * /etc/docker/daemon.json never leaks in), data root, exec root, pidfile and
 * unix socket; no default bridge, no iptables, `--dns 127.0.0.1` (a
 * container's lookup of an unknown name never leaves the machine), and an
 * address pool of the host's own so networks of two hosts never overlap.
 * dockerd starts and manages its own containerd under the exec root.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { alive, ownedBy, readPid, sleep, stopPid, tailFile, unmountUnder } from './processes.js';
import { SimError } from './sim-error.js';
import type { SimHost } from './sim-state.js';

export const DOCKERD_BIN = '/usr/sbin/dockerd';

/** Where one host's dockerd keeps what. */
export function dockerdPaths(host: Pick<SimHost, 'dir' | 'runDir'>) {
  return {
    config: `${host.dir}/daemon.json`,
    dataRoot: `${host.dir}/data`,
    log: `${host.dir}/dockerd.log`,
    execRoot: `${host.runDir}/exec`,
    pidfile: `${host.runDir}/dockerd.pid`,
    socket: `${host.runDir}/docker.sock`,
    containerdPidfile: `${host.runDir}/exec/containerd/containerd.pid`,
  };
}

/** Spawns the host's dockerd, detached (it outlives `sim up`); returns its pid. */
export function spawnDockerd(host: Pick<SimHost, 'dir' | 'runDir' | 'addressPool'>): number {
  const p = dockerdPaths(host);
  fs.mkdirSync(host.runDir, { recursive: true });
  fs.mkdirSync(host.dir, { recursive: true });
  if (!fs.existsSync(p.config)) fs.writeFileSync(p.config, '{}\n');
  const log = fs.openSync(p.log, 'a');
  try {
    const proc = spawn(
      DOCKERD_BIN,
      [
        '--config-file',
        p.config,
        '--data-root',
        p.dataRoot,
        '--exec-root',
        p.execRoot,
        '--pidfile',
        p.pidfile,
        '-H',
        `unix://${p.socket}`,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--dns',
        '127.0.0.1',
        '--default-address-pool',
        host.addressPool,
        '--shutdown-timeout',
        '5',
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    proc.unref();
    if (proc.pid === undefined) throw new SimError(`${DOCKERD_BIN} could not be started`);
    return proc.pid;
  } finally {
    fs.closeSync(log);
  }
}

/** GET /_ping on the engine's socket: whether it answers OK within `timeoutMs`. */
export function pingEngine(socket: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * Waits until the host's dockerd answers, at most until `deadline` (epoch
 * ms); a SimError with the tail of its log when it died or never answered.
 */
export async function waitDockerd(host: SimHost & { name: string }, pid: number, deadline: number) {
  const p = dockerdPaths(host);
  for (;;) {
    if (fs.existsSync(p.socket) && (await pingEngine(p.socket))) return;
    const dead = !alive(pid);
    if (dead || Date.now() > deadline) {
      throw new SimError(
        `the dockerd of host ${host.name} ${dead ? 'exited' : 'did not answer in time'}; the end of ${p.log}:\n${tailFile(p.log)}`,
      );
    }
    await sleep(200);
  }
}

/**
 * Stops the host's dockerd (TERM, 30 s, then KILL) and its containerd,
 * then unmounts what they left under the host's directories (netns bind
 * mounts, overlays of a killed engine). Works from the pidfiles alone.
 * Returns what it stopped.
 */
export async function stopDockerd(
  host: Pick<SimHost, 'name' | 'dir' | 'runDir' | 'dockerdPid'>,
  simDir: string,
) {
  const p = dockerdPaths(host);
  const stopped: string[] = [];
  const containerd = readPid(p.containerdPidfile);
  const pids = new Set([readPid(p.pidfile), host.dockerdPid ?? undefined]);
  for (const pid of pids) {
    if (pid !== undefined && ownedBy(pid, simDir)) {
      await stopPid(pid, 30);
      stopped.push(`dockerd of ${host.name} (pid ${pid})`);
    }
  }
  // dockerd stops its managed containerd; make sure, should dockerd have been killed.
  if (containerd !== undefined && ownedBy(containerd, simDir)) {
    await stopPid(containerd, 10);
    stopped.push(`containerd of ${host.name} (pid ${containerd})`);
  }
  for (const dir of [host.runDir, host.dir]) {
    for (const m of unmountUnder(dir)) stopped.push(`mount ${m}`);
  }
  return stopped;
}
