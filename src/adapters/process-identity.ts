/**
 * The IO half of the host lock: who this process is (pid, start time, machine,
 * boot, pid namespace), and whether another process of this machine still
 * runs. Linux's /proc; elsewhere the start time and boot are unknown ('')
 * and liveness falls back to `kill(pid, 0)`.
 */
import { existsSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import os from 'node:os';
import type { ProcessIdentity } from '../core/host-lock.js';

/** The fields of /proc/<pid>/stat the lock needs: state (field 3) and start time (field 22). */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  // Field 2 is the command name in parentheses, which may itself hold spaces
  // and parentheses: the fields after it start after the last ')'.
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const fields = text
    .slice(end + 1)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state); field 22 is fields[19].
  const state = fields[0];
  const startTime = fields[19];
  if (!state || !startTime || !/^[0-9]+$/.test(startTime)) return undefined;
  return { state, startTime };
}

async function readTrimmed(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return '';
  }
}

async function procStat(pid: number | 'self') {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** This process, as the host lock records it. */
export async function readProcessIdentity(version: string): Promise<ProcessIdentity> {
  const hostname = os.hostname();
  const [stat, machineId, bootId, pidNamespace] = await Promise.all([
    procStat('self'),
    readTrimmed('/etc/machine-id'),
    readTrimmed('/proc/sys/kernel/random/boot_id'),
    readlink('/proc/self/ns/pid').catch(() => ''),
  ]);
  return {
    pid: process.pid,
    startTime: stat?.startTime ?? '',
    machineId: machineId || hostname,
    bootId,
    pidNamespace,
    hostname,
    version,
  };
}

/**
 * Whether a process with this pid and start time runs on this machine. A
 * zombie (exited, not yet reaped) does not run; a pid now used by a process
 * that started at another time is another process.
 */
export async function isProcessRunning(pid: number, startTime: string): Promise<boolean> {
  if (!existsSync('/proc/self/stat')) return killZero(pid);
  const stat = await procStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === '' || stat.startTime === startTime;
}

function killZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, and belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
