/**
 * The processes and mounts a sim leaves on the machine, found and removed
 * by the sim directory's path: every process the sim starts names that
 * directory on its command line (dockerd's --data-root, containerd's
 * --config, an agent's --state-dir, the git server's --root), so a pid
 * from a pidfile is only signalled when its command line still does, and a
 * sim whose state file is lost can still be taken down.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a process with this pid exists (signal 0); a zombie counts as gone. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\S+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The command line of a process, words joined by spaces; '' when it is gone. */
export function readCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Whether `pid` runs and its command line names a path under `dir` (so it is the sim's). */
export function ownedBy(pid: number, dir: string): boolean {
  return alive(pid) && readCmdline(pid).includes(`${dir}/`);
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** TERM, at most `seconds` to exit, then KILL and at most 5 s more. Whether it is gone. */
export async function stopPid(pid: number, seconds: number): Promise<boolean> {
  if (!alive(pid)) return true;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return !alive(pid);
  }
  for (let i = 0; i < seconds * 10 && alive(pid); i++) await sleep(100);
  if (!alive(pid)) return true;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
  for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  return !alive(pid);
}

/** The programs a sim starts (and dockerd starts for it): nothing else is ever stopped. */
const SIM_PROGRAMS = /^(dockerd|containerd|containerd-shim[\w-]*|docker-proxy|runc)$/;

/**
 * Every live process the sim started whose command line names a path under
 * `dir`: its dockerds, their containerds, shims and proxies, and its agents
 * and git server (gitdock under node). Never this process or one of its
 * ancestors, and never another program (a `tail -f` of a sim log, a shell
 * whose command line names the directory).
 */
export function processesUnder(dir: string): { pid: number; cmdline: string }[] {
  const ancestors = ancestorsOf(process.pid);
  const out: { pid: number; cmdline: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (ancestors.has(pid)) continue;
    const argv = readArgv(pid);
    const cmdline = argv.join(' ').trim();
    if (!cmdline.includes(`${dir}/`) || !isSimProgram(argv) || !alive(pid)) continue;
    out.push({ pid, cmdline });
  }
  return out;
}

function isSimProgram(argv: readonly string[]): boolean {
  const program = path.basename(argv[0] ?? '');
  if (SIM_PROGRAMS.test(program)) return true;
  // gitdock's agent and git server: `node .../gitdock.js agent ...` or `sim serve-git`.
  const gitdock = argv.findIndex((a) => /gitdock(\.js)?$/.test(path.basename(a)));
  if (gitdock === -1) return false;
  const command = argv.slice(gitdock + 1, gitdock + 3).join(' ');
  return command.startsWith('agent') || command === 'sim serve-git';
}

function readArgv(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** This process and every process above it (a shell, sudo, npx): never signalled. */
function ancestorsOf(pid: number): Set<number> {
  const out = new Set<number>();
  for (let p = pid; p > 1 && !out.has(p); ) {
    out.add(p);
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      // The parent pid follows the command name, which may hold spaces and ')'.
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}

/** Mount points under `dir`, deepest first, as this process sees them. */
export function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m?.startsWith(`${dir}/`) === true)
    .map((m) => m.replace(/\\040/g, ' '))
    .sort()
    .reverse();
}

/**
 * Lazily unmounts what is mounted under `dir` (dockerd leaves its netns
 * bind mounts and, when killed, overlay mounts), deepest first, so the
 * directory can be removed. Returns what it unmounted.
 */
export function unmountUnder(dir: string): string[] {
  const done: string[] = [];
  for (const m of mountsUnder(dir)) {
    const r = spawnSync('umount', ['-l', m], { timeout: 10_000 });
    if (r.status === 0) done.push(m);
  }
  return done;
}

/** The last `lines` lines of a log file, or a note that it cannot be read. */
export function tailFile(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`;
  }
}
