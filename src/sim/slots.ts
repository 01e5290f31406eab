/**
 * Which slot a sim holds: several sims may run on one machine at once (a
 * benchmark beside a test), and each needs loopback addresses and engine
 * address pools no other sim uses (sim-plan.ts). A slot is claimed by a
 * file `/run/gitdock-sim/slot-<K>` holding the sim directory, made with
 * O_EXCL; a claim whose sim directory has no sim.json any more is stale
 * (its sim was removed by hand) and taken over.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MAX_SIM_SLOTS, SIM_AGENT_PORT } from './sim-plan.js';
import { SIM_STATE_FILE } from './sim-state.js';

export const SLOTS_DIR = '/run/gitdock-sim';

function slotFile(slot: number): string {
  return path.join(SLOTS_DIR, `slot-${slot}`);
}

function ownerOf(slot: number): string | undefined {
  try {
    return fs.readFileSync(slotFile(slot), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Whether `address:port` can be listened on now (nobody else holds it). */
export function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, address, () => server.close(() => resolve(true)));
  });
}

/**
 * Claims the first free slot for `simDir` whose agent addresses
 * (`addressesOf(slot)`) are free, or undefined when all are taken.
 */
export async function claimSlot(
  simDir: string,
  addressesOf: (slot: number) => string[],
): Promise<number | undefined> {
  fs.mkdirSync(SLOTS_DIR, { recursive: true, mode: 0o755 });
  for (let slot = 1; slot <= MAX_SIM_SLOTS; slot++) {
    if (!takeSlotFile(slot, simDir)) continue;
    const free = await Promise.all(addressesOf(slot).map((a) => portFree(a, SIM_AGENT_PORT)));
    if (free.every(Boolean)) return slot;
    // Something else listens there (a sim of an older gitdock, an agent started by hand).
    releaseSlot(simDir, slot);
  }
  return undefined;
}

function takeSlotFile(slot: number, simDir: string): boolean {
  const file = slotFile(slot);
  try {
    fs.writeFileSync(file, `${simDir}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owner = ownerOf(slot);
  if (owner === simDir) return true;
  if (owner !== undefined && owner !== '' && fs.existsSync(path.join(owner, SIM_STATE_FILE)))
    return false;
  // Stale: its sim is gone. Replace the claim, then check that no other sim took it meanwhile.
  const tmp = `${file}.${process.pid}`;
  fs.writeFileSync(tmp, `${simDir}\n`);
  fs.renameSync(tmp, file);
  return ownerOf(slot) === simDir;
}

/** Gives up the claim of `simDir` (on `slot`, or every slot it holds). */
export function releaseSlot(simDir: string, slot?: number): void {
  const slots =
    slot === undefined ? Array.from({ length: MAX_SIM_SLOTS }, (_, i) => i + 1) : [slot];
  for (const s of slots) {
    if (ownerOf(s) === simDir) fs.rmSync(slotFile(s), { force: true });
  }
}
