/**
 * The sim's state file, `<dir>/sim.json`: what `sim up` started and where,
 * read by `sim status`, `sim push` and `sim down`. Written as soon as the
 * layout is decided and again as processes start, so that `sim down` after
 * a crash half way finds what to stop.
 *
 * Layout of a sim directory:
 *   sim.json, hook-secret, git.log, git.pid, git.port
 *   remote/fleet.git           the bare repo the agents fetch from
 *   hosts/<host>/              data (dockerd --data-root), state, env, root,
 *                              dockerd.log, agent.log, agent.pid, daemon.json
 *   run/<index>/               dockerd's exec root, pidfile and docker.sock:
 *                              short, for containerd's unix sockets
 */
import fs from 'node:fs';
import path from 'node:path';
import { SimError } from './sim-error.js';

export const SIM_STATE_FILE = 'sim.json';
export const SIM_STATE_VERSION = 1;

export interface SimHost {
  name: string;
  index: number;
  /** 127.0.1.N: the agent listens here, and the host's ports are published here. */
  address: string;
  /** unix://<dir>/run/<index>/docker.sock */
  dockerHost: string;
  agentUrl: string;
  /** <dir>/hosts/<name> */
  dir: string;
  /** <dir>/run/<index>: dockerd's exec root, pidfile and socket. */
  runDir: string;
  addressPool: string;
  dockerdPid: number | null;
  agentPid: number | null;
}

export interface SimState {
  version: number;
  /** Which of the machine's sim slots it holds: its hosts are 127.0.<slot>.N. */
  slot: number;
  /** The user's fleet repository (absolute path). */
  repo: string;
  branch: string;
  /** The sim directory (absolute). */
  dir: string;
  /** <dir>/remote/fleet.git */
  remote: string;
  /** http://127.0.0.1:<port>, serving <dir>/remote; empty until the server runs. */
  gitUrl: string;
  gitPid: number | null;
  interval: string;
  createdAt: string;
  hosts: SimHost[];
}

export function simStatePath(dir: string): string {
  return path.join(dir, SIM_STATE_FILE);
}

/** Writes the state file atomically (a crash never leaves half a file). */
export async function writeSimState(state: SimState): Promise<void> {
  const file = simStatePath(state.dir);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await fs.promises.rename(tmp, file);
}

/** The state of the sim in `dir`; a SimError when there is none or it cannot be read. */
export async function readSim(dir: string): Promise<SimState> {
  const file = simStatePath(dir);
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new SimError(
        `no sim in ${dir}: start one with \`gitdock sim up --repo FLEET --dir ${dir}\``,
      );
    }
    throw new SimError(`cannot read ${file} (${code ?? (err as Error).message})`, { cause: err });
  }
  let state: SimState;
  try {
    state = JSON.parse(text) as SimState;
  } catch (err) {
    throw new SimError(
      `${file} is not valid JSON; \`gitdock sim down --dir ${dir}\` removes the sim`,
      {
        cause: err,
      },
    );
  }
  if (state.version !== SIM_STATE_VERSION || !Array.isArray(state.hosts)) {
    throw new SimError(
      `${file} was written by another gitdock version; \`gitdock sim down --dir ${dir}\` removes the sim`,
    );
  }
  return state;
}
