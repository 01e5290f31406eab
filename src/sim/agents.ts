/**
 * One real `gitdock agent` per simulated host, detached (it outlives `sim
 * up`), against the host's own dockerd and the sim's git remote, with
 * --report-ref so applied refs travel as in production. What keeps hosts
 * apart on one kernel is passed to it: it listens and publishes ports on
 * the host's own address, absolute bind sources go under the host's
 * directory, host-local env files come from the host's env directory.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import { alive, ownedBy, readPid, sleep, stopPid, tailFile } from './processes.js';
import { SimError } from './sim-error.js';
import { SIM_AGENT_PORT } from './sim-plan.js';
import type { SimHost, SimState } from './sim-state.js';

/** Where one host's agent keeps what. */
export function agentPaths(host: Pick<SimHost, 'dir'>) {
  return {
    state: `${host.dir}/state`,
    env: `${host.dir}/env`,
    root: `${host.dir}/root`,
    log: `${host.dir}/agent.log`,
    pidfile: `${host.dir}/agent.pid`,
  };
}

export function hookSecretPath(simDir: string): string {
  return `${simDir}/hook-secret`;
}

/** The `gitdock agent` arguments of a simulated host. */
export function agentArgs(
  host: SimHost,
  sim: Pick<SimState, 'gitUrl' | 'branch' | 'interval' | 'dir'>,
) {
  const p = agentPaths(host);
  return [
    'agent',
    '--host',
    host.name,
    '--repo',
    `${sim.gitUrl}/fleet.git`,
    '--branch',
    sim.branch,
    '--interval',
    sim.interval,
    '--report-ref',
    '--state-dir',
    p.state,
    '--env-dir',
    p.env,
    '--listen',
    `${host.address}:${SIM_AGENT_PORT}`,
    '--webhook-secret-file',
    hookSecretPath(sim.dir),
    '--publish-address',
    host.address,
    '--bind-root',
    p.root,
  ];
}

/** Spawns the host's agent, detached, logging to `<host dir>/agent.log`; returns its pid. */
export function spawnAgent(
  host: SimHost,
  sim: Pick<SimState, 'gitUrl' | 'branch' | 'interval' | 'dir'>,
  gitdockBin: string,
): number {
  const p = agentPaths(host);
  for (const d of [p.state, p.env, p.root]) fs.mkdirSync(d, { recursive: true });
  const log = fs.openSync(p.log, 'a');
  let pid: number | undefined;
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host.dockerHost };
    delete env.DOCKER_CONTEXT;
    delete env.DOCKER_TLS_VERIFY;
    delete env.DOCKER_CERT_PATH;
    const proc = spawn(process.execPath, [gitdockBin, ...agentArgs(host, sim)], {
      detached: true,
      stdio: ['ignore', log, log],
      env,
    });
    proc.unref();
    pid = proc.pid;
  } finally {
    fs.closeSync(log);
  }
  if (pid === undefined) throw new SimError(`the agent of host ${host.name} could not be started`);
  fs.writeFileSync(p.pidfile, `${pid}\n`);
  return pid;
}

/** Waits until the agent answers /status as this host, at most until `deadline` (epoch ms). */
export async function waitAgent(host: SimHost, pid: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      // /status, not only /healthz: the agent answering must be this host's, not another's on the address.
      const res = await fetch(`${host.agentUrl}/status`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { host?: unknown };
      if (res.ok && body.host === host.name && alive(pid)) return;
    } catch {
      // not listening yet
    }
    const dead = !alive(pid);
    if (dead || Date.now() > deadline) {
      const log = agentPaths(host).log;
      throw new SimError(
        `the agent of host ${host.name} ${dead ? 'exited' : 'did not answer in time'}; the end of ${log}:\n${tailFile(log)}`,
      );
    }
    await sleep(200);
  }
}

/**
 * Stops the host's agent: TERM lets it finish the services in hand (at
 * most 15 s), then KILL. Works from the pidfile alone.
 */
export async function stopAgent(host: Pick<SimHost, 'name' | 'dir' | 'agentPid'>, simDir: string) {
  const stopped: string[] = [];
  const pids = new Set([readPid(agentPaths(host).pidfile), host.agentPid ?? undefined]);
  for (const pid of pids) {
    if (pid !== undefined && ownedBy(pid, simDir)) {
      await stopPid(pid, 15);
      stopped.push(`agent of ${host.name} (pid ${pid})`);
    }
  }
  return stopped;
}

/**
 * POSTs every agent's /hooks/git, signed as GitHub signs a push
 * (`X-Hub-Signature-256`), so each fetches at once instead of at its next
 * interval. Returns the hosts whose agent did not accept it (they still
 * fetch at their interval).
 */
export async function notifyAgents(
  hosts: readonly SimHost[],
  secret: Buffer,
  branch: string,
): Promise<string[]> {
  const body = Buffer.from(
    JSON.stringify({ ref: `refs/heads/${branch}`, source: 'gitdock sim push' }),
  );
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const refused = await Promise.all(
    hosts.map(async (host) => {
      try {
        const res = await fetch(`${host.agentUrl}/hooks/git`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'push',
            'x-hub-signature-256': signature,
          },
          body,
          signal: AbortSignal.timeout(5000),
        });
        await res.arrayBuffer();
        return res.status === 202 ? undefined : `${host.name} (HTTP ${res.status})`;
      } catch (err) {
        return `${host.name} (${(err as Error).message})`;
      }
    }),
  );
  return refused.filter((h): h is string => h !== undefined);
}
