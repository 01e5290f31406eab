/**
 * `gitdock sim`: the fleet of a repository simulated on this machine with
 * real engines, one private dockerd and one real `gitdock agent` per host,
 * and a git remote of the sim's own served over smart HTTP. The functions
 * here are the programmatic API, used by `gitdock sim` and by benchmarks.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  agentPaths,
  hookSecretPath,
  notifyAgents,
  spawnAgent,
  stopAgent,
  waitAgent,
} from './agents.js';
import { DOCKERD_BIN, dockerdPaths, spawnDockerd, stopDockerd, waitDockerd } from './dockerd.js';
import {
  createRemote,
  currentBranch,
  pushToRemote,
  readFleetAt,
  resolveFleetRev,
} from './fleet-remote.js';
import { spawnGitServer } from './git-server.js';
import {
  mountsUnder,
  ownedBy,
  processesUnder,
  readPid,
  stopPid,
  unmountUnder,
} from './processes.js';
import { SimError } from './sim-error.js';
import {
  checkSimDir,
  MAX_SIM_SLOTS,
  parseHostPatterns,
  planSimHosts,
  SIM_AGENT_PORT,
  simAddress,
} from './sim-plan.js';
import {
  readSim,
  SIM_STATE_VERSION,
  type SimHost,
  type SimState,
  simStatePath,
  writeSimState,
} from './sim-state.js';
import { claimSlot, releaseSlot, SLOTS_DIR } from './slots.js';

export { readSim, SimError, type SimHost, type SimState };

/** How long all dockerds together are given to answer. */
const DOCKERD_START_MS = 60_000;
/** How long all agents together are given to answer /healthz. */
const AGENT_START_MS = 30_000;
export const DEFAULT_SIM_INTERVAL = '15s';

export interface SimUpOptions {
  /** The fleet repository (bare or not); read, never written. */
  repo: string;
  /** The sim directory (absolute, at most 60 characters). */
  dir: string;
  /** Names or globs, comma-separated: simulate only these hosts. */
  hosts?: string;
  /** The fleet repository's branch to simulate (default: its HEAD's branch, else main). */
  branch?: string;
  /** Each agent's --interval (default 15s). */
  interval?: string;
  /** Path of the gitdock CLI script to run agents and the git server with (default: this package's bin/gitdock.js). */
  gitdockBin?: string;
  /** One line per step, for stderr. */
  onProgress?: (line: string) => void;
}

/**
 * Starts the sim: a private dockerd per host, the git server, an agent per
 * host; waits (bounded) until every one answers. On a failure half way,
 * removes what it started and throws a SimError saying what failed.
 */
export async function simUp(o: SimUpOptions): Promise<SimState> {
  const progress = o.onProgress ?? (() => {});
  checkMachine();
  const dir = path.resolve(o.dir);
  const dirProblem = checkSimDir(dir);
  if (dirProblem) throw new SimError(dirProblem);
  checkDirFree(dir);
  const patterns = o.hosts === undefined ? undefined : parseHostPatterns(o.hosts);
  if (patterns && !patterns.ok) throw new SimError(patterns.message);
  const interval = o.interval ?? DEFAULT_SIM_INTERVAL;
  const repo = path.resolve(o.repo);
  const branch = o.branch ?? currentBranch(repo) ?? 'main';
  const commit = resolveFleetRev(repo, `refs/heads/${branch}`);
  const fleet = await readFleetAt(repo, commit);
  const first = planSimHosts(fleet.knownHosts, patterns?.patterns);
  if (!first.ok) throw new SimError(first.message);
  const gitdockBin = o.gitdockBin ?? findGitdockBin();
  const slot = await claimSlot(dir, (k) => first.hosts.map((h) => simAddress(k, h.index)));
  if (slot === undefined) {
    throw new SimError(
      `${MAX_SIM_SLOTS} sims run on this machine already (or their addresses 127.0.K.N:${SIM_AGENT_PORT} are taken); stop one (gitdock sim down --dir DIR, see ${SLOTS_DIR})`,
    );
  }
  const plan = planSimHosts(fleet.knownHosts, patterns?.patterns, slot);
  if (!plan.ok) throw new SimError(plan.message);

  const state: SimState = {
    version: SIM_STATE_VERSION,
    slot,
    repo,
    branch,
    dir,
    remote: `${dir}/remote/fleet.git`,
    gitUrl: '',
    gitPid: null,
    interval,
    createdAt: new Date().toISOString(),
    hosts: plan.hosts.map((h) => {
      const runDir = `${dir}/run/${h.index}`;
      return {
        ...h,
        dir: `${dir}/hosts/${h.name}`,
        runDir,
        dockerHost: `unix://${runDir}/docker.sock`,
        dockerdPid: null,
        agentPid: null,
      };
    }),
  };
  // The state file first: from here on, `sim down` can undo whatever follows.
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    await writeSimState(state);
  } catch (err) {
    releaseSlot(dir, slot);
    throw new SimError(`cannot write ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const started = Date.now();
  try {
    fs.writeFileSync(hookSecretPath(dir), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    createRemote(state.remote, branch);
    pushToRemote(repo, commit, state.remote, branch);
    progress(
      `sim: ${state.hosts.length} hosts of ${repo} at ${branch} (${commit.slice(0, 12)}), in ${dir}`,
    );

    await startEngines(state, progress);
    progress(`sim: ${state.hosts.length} engines up in ${seconds(started)}`);

    const git = await spawnGitServer({ simDir: dir, root: `${dir}/remote`, gitdockBin });
    state.gitUrl = git.url;
    state.gitPid = git.pid;
    await writeSimState(state);
    progress(`sim: git remote at ${git.url}/fleet.git`);

    await startAgents(state, gitdockBin);
    progress(`sim: ${state.hosts.length} agents up in ${seconds(started)}`);
    return state;
  } catch (err) {
    progress(`sim: start failed, removing what was started in ${dir}`);
    try {
      await simDown(dir);
    } catch (downErr) {
      progress(`sim: could not remove everything: ${(downErr as Error).message}`);
    }
    throw err;
  }
}

async function startEngines(state: SimState, progress: (line: string) => void): Promise<void> {
  for (const host of state.hosts) host.dockerdPid = spawnDockerd(host);
  await writeSimState(state);
  const deadline = Date.now() + DOCKERD_START_MS;
  const results = await Promise.allSettled(
    state.hosts.map(async (host) => {
      await waitDockerd(host, host.dockerdPid!, deadline);
      progress(`sim: engine of ${host.name} answers at ${host.dockerHost}`);
    }),
  );
  throwFirstFailure(results);
}

async function startAgents(state: SimState, gitdockBin: string): Promise<void> {
  for (const host of state.hosts) host.agentPid = spawnAgent(host, state, gitdockBin);
  await writeSimState(state);
  const deadline = Date.now() + AGENT_START_MS;
  throwFirstFailure(
    await Promise.allSettled(state.hosts.map((host) => waitAgent(host, host.agentPid!, deadline))),
  );
}

function throwFirstFailure(results: PromiseSettledResult<unknown>[]): void {
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length === 0) return;
  const first = failures[0]!.reason as Error;
  throw failures.length === 1
    ? first
    : new SimError(`${failures.length} hosts failed to start; the first: ${first.message}`, {
        cause: first,
      });
}

/**
 * Moves the sim's branch to `rev` of the fleet repository (forced: a PR
 * branch or an older commit can be rehearsed), then signs and sends every
 * agent a webhook so each fetches at once. `unreached`: agents that did not
 * take the webhook (they still fetch at their interval).
 */
export async function simPush(
  dir: string,
  rev: string,
): Promise<{ commit: string; unreached: string[] }> {
  const state = await readSim(path.resolve(dir));
  const commit = resolveFleetRev(state.repo, rev);
  pushToRemote(state.repo, commit, state.remote, state.branch);
  const secret = Buffer.from(fs.readFileSync(hookSecretPath(state.dir), 'utf8').trim(), 'utf8');
  const unreached = await notifyAgents(state.hosts, secret, state.branch);
  return { commit, unreached };
}

/**
 * Stops every agent, the git server and every dockerd with its containerd
 * (and anything else still naming the sim directory), unmounts what they
 * left, and removes the directory. Idempotent; works from the pidfiles
 * after a crash. Refuses a directory that is not a sim's (no sim.json).
 */
export async function simDown(dir: string): Promise<{ removed: string[] }> {
  const root = path.resolve(dir);
  if (!fs.existsSync(root)) return { removed: [] };
  if (checkSimDir(root) !== undefined || !fs.existsSync(simStatePath(root))) {
    throw new SimError(
      `${root} is not a sim directory (no ${simStatePath(root)}); not touching it`,
    );
  }
  let state: SimState | undefined;
  try {
    state = await readSim(root);
  } catch {
    state = undefined; // a torn or foreign state file: the pidfiles and the sweep below still work
  }
  const removed: string[] = [];
  const hosts = listHosts(root, state);

  for (const r of await Promise.all(hosts.map((h) => stopAgent(h, root)))) removed.push(...r);
  for (const pid of new Set([readPid(`${root}/git.pid`), state?.gitPid ?? undefined])) {
    if (pid !== undefined && ownedBy(pid, root)) {
      await stopPid(pid, 5);
      removed.push(`git server (pid ${pid})`);
    }
  }
  for (const r of await Promise.all(hosts.map((h) => stopDockerd(h, root)))) removed.push(...r);
  // Whatever still names the directory: containerd shims, a process whose pidfile was lost.
  for (const p of processesUnder(root)) {
    await stopPid(p.pid, 5);
    removed.push(`process ${p.pid} (${p.cmdline.slice(0, 80)})`);
  }
  for (const m of unmountUnder(root)) removed.push(`mount ${m}`);
  const left = mountsUnder(root);
  if (left.length > 0) {
    throw new SimError(`could not unmount ${left.join(', ')}; unmount them and run sim down again`);
  }
  await fs.promises.rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  removed.push(`directory ${root}`);
  releaseSlot(root);
  return { removed };
}

/** The hosts to stop: from the state file, and any host or run directory it does not name. */
function listHosts(
  root: string,
  state: SimState | undefined,
): Pick<SimHost, 'name' | 'dir' | 'runDir' | 'dockerdPid' | 'agentPid'>[] {
  const out = new Map<
    string,
    Pick<SimHost, 'name' | 'dir' | 'runDir' | 'dockerdPid' | 'agentPid'>
  >();
  for (const h of state?.hosts ?? []) out.set(h.runDir, h);
  const list = (sub: string) => {
    try {
      return fs.readdirSync(`${root}/${sub}`);
    } catch {
      return [];
    }
  };
  const known = new Set([...out.values()].map((h) => h.dir));
  const hostDirs = list('hosts').filter((n) => !known.has(`${root}/hosts/${n}`));
  for (const index of list('run')) {
    const runDir = `${root}/run/${index}`;
    if (!out.has(runDir)) {
      out.set(runDir, { name: `#${index}`, dir: runDir, runDir, dockerdPid: null, agentPid: null });
    }
  }
  // Host directories without a run directory the state knows: their agents.
  for (const name of hostDirs) {
    const dir = `${root}/hosts/${name}`;
    out.set(dir, { name, dir, runDir: dir, dockerdPid: null, agentPid: null });
  }
  return [...out.values()];
}

function checkMachine(): void {
  if (process.platform !== 'linux') {
    throw new SimError(
      `gitdock sim needs Linux (private dockerds, 127.0.1.N addresses); this is ${process.platform}`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new SimError('gitdock sim needs root: it starts private dockerds (run it with sudo)');
  }
  if (!fs.existsSync(DOCKERD_BIN)) {
    throw new SimError(
      `${DOCKERD_BIN} is missing: apt-get install docker.io (no system daemon is used; the sim starts its own)`,
    );
  }
}

function checkDirFree(dir: string): void {
  if (fs.existsSync(simStatePath(dir))) {
    throw new SimError(
      `a sim already runs in ${dir} (gitdock sim status --dir ${dir}); stop it first: gitdock sim down --dir ${dir}`,
    );
  }
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new SimError(`${dir} cannot be used: ${(err as Error).message}`);
  }
  if (entries.length > 0) {
    throw new SimError(
      `${dir} exists and is not empty; give a new --dir (the sim removes its directory on sim down)`,
    );
  }
}

/** This package's bin/gitdock.js, from src/sim/ (tsx) or dist/ (the bundle). */
export function findGitdockBin(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, d = path.dirname(d)) {
    const bin = path.join(d, 'bin', 'gitdock.js');
    if (fs.existsSync(bin)) return bin;
  }
  throw new SimError('cannot find bin/gitdock.js of this gitdock to run the agents with');
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

/** Paths of one host, for the CLI's and tests' messages. */
export function hostFiles(host: SimHost) {
  return { ...agentPaths(host), dockerd: dockerdPaths(host) };
}
