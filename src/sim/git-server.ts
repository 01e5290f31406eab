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
import os from 'node:os';
import { alive, sleep, tailFile } from './processes.js';
import { SimError } from './sim-error.js';

/** A git request that takes longer than this is cut: every wait of the sim is bounded. */
const REQUEST_TIMEOUT_MS = 120_000;

/** Serves `<root>/<name>` at `http://127.0.0.1:<port>/<name>`; `port` 0 picks a free one. */
export async function serveGit(options: { root: string; port?: number }): Promise<{
  url: string;
  close(): Promise<void>;
}> {
  const server = http.createServer((req, res) => serveCgi(req, res, options.root));
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

function serveCgi(req: http.IncomingMessage, res: http.ServerResponse, root: string): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  let pathInfo: string;
  try {
    pathInfo = decodeURIComponent(url.pathname);
  } catch {
    // A malformed escape must not take the sim's remote down for every host.
    req.resume();
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end('bad request path\n');
    return;
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    // The machine's git config (hooks, templates) must not change what the sim serves.
    GIT_CONFIG_GLOBAL: os.devNull,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: pathInfo,
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
  };
  // http-backend reads the body to EOF unless told its length, and must be
  // told how it is compressed and which protocol version the client wants.
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
  if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
  const protocol = req.headers['git-protocol'];
  if (typeof protocol === 'string') env.GIT_PROTOCOL = protocol;

  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  req.pipe(child.stdin);
  child.stdin.on('error', () => {});
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // CGI output: header lines, a blank line, then the body.
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = findHeaderEnd(head);
    if (!end) return;
    headersDone = true;
    const { status, headers } = parseCgiHeaders(head.subarray(0, end.at).toString('latin1'));
    res.writeHead(status, headers);
    res.write(head.subarray(end.at + end.length));
  });
  child.on('error', (err) => {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end(`git http-backend failed to start: ${err.message}\n`);
  });
  child.on('close', (code) => {
    if (!headersDone) {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`git http-backend exited ${code} without a response: ${stderr}\n`);
      return;
    }
    res.end();
  });
  res.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
}

function findHeaderEnd(buf: Buffer): { at: number; length: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf !== -1) return { at: lf, length: 2 };
  return undefined;
}

function parseCgiHeaders(text: string): { status: number; headers: Record<string, string[]> } {
  let status = 200;
  const headers: Record<string, string[]> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers[name] = [...(headers[name] ?? []), value];
  }
  return { status, headers };
}
