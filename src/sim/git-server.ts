/**
 * The sim's git remote: a Node HTTP server on 127.0.0.1 that hands every
 * request to `git http-backend` (git's own smart-HTTP CGI program, what
 * Apache or nginx would run), so the agents fetch and push their applied
 * refs over the same protocol as against a real forge.
 *
 * `serveGit` runs in the process of the hidden `gitdock sim serve-git`
 * command, which `spawnGitServer` starts detached so the server outlives
 * `sim up`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveGitHttpBackend } from '../adapters/git-http-backend.js';
import { alive, sleep, tailFile } from './processes.js';
import { SimError } from './sim-error.js';

/** A git request that takes longer than this is cut: every wait of the sim is bounded. */
const REQUEST_TIMEOUT_MS = 120_000;

/** Serves `<root>/<name>` at `http://127.0.0.1:<port>/<name>`; `port` 0 picks a free one. */
export async function serveGit(options: { root: string; port?: number }): Promise<{
  url: string;
  close(): Promise<void>;
}> {
  const server = http.createServer((req, res) =>
    serveGitHttpBackend(req, res, { root: options.root }),
  );
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts `gitdock sim serve-git` detached, logging to `<simDir>/git.log`,
 * and waits (at most 15 s) for the port it writes; returns its pid and URL.
 */
export async function spawnGitServer(options: {
  simDir: string;
  root: string;
  gitdockBin: string;
}): Promise<{ pid: number; url: string }> {
  const portFile = `${options.simDir}/git.port`;
  const logFile = `${options.simDir}/git.log`;
  fs.rmSync(portFile, { force: true });
  const log = fs.openSync(logFile, 'a');
  let pid: number | undefined;
  try {
    const proc = spawn(
      process.execPath,
      [options.gitdockBin, 'sim', 'serve-git', '--root', options.root, '--port-file', portFile],
      { detached: true, stdio: ['ignore', log, log] },
    );
    proc.unref();
    pid = proc.pid;
  } finally {
    fs.closeSync(log);
  }
  if (pid === undefined) throw new SimError('the git server could not be started');
  fs.writeFileSync(`${options.simDir}/git.pid`, `${pid}\n`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const port = readPort(portFile);
    if (port !== undefined) return { pid, url: `http://127.0.0.1:${port}` };
    if (!alive(pid) || Date.now() > deadline) {
      throw new SimError(
        `the git server ${alive(pid) ? 'did not start in 15s' : 'exited'}; the end of ${logFile}:\n${tailFile(logFile)}`,
      );
    }
    await sleep(100);
  }
}

function readPort(file: string): number | undefined {
  try {
    const port = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the port where a reader never sees half of it. */
export function writePortFile(file: string, url: string): void {
  const port = new URL(url).port;
  fs.writeFileSync(`${file}.tmp`, `${port}\n`);
  fs.renameSync(`${file}.tmp`, file);
}
