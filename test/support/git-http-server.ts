/**
 * A git remote over smart HTTP for fetch tests: a Node HTTP server on
 * 127.0.0.1 that hands every request to `git http-backend` (git's own CGI
 * program, what Apache or nginx would run), so the client under test talks
 * to the real protocol implementation.
 *
 * ```ts
 * const server = await startGitHttpServer({ root: path.dirname(repo.bareDir!) });
 * onTestFinished(server.close);
 * const url = `${server.url}/repo.git`;
 * ```
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';

export interface GitHttpServerOptions {
  /** Directory holding the repositories; `<url>/<name>` serves `<root>/<name>`. */
  root: string;
  /** Require HTTP basic auth with exactly these credentials (401 otherwise). */
  auth?: { username: string; password: string };
}

export interface GitHttpRequestRecord {
  method: string;
  /** Path and query, as requested. */
  url: string;
  status: number;
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** How many requests arrived (including refused ones) since start. */
  readonly requests: number;
  /** Every request, in order of arrival, with the status it got. */
  readonly log: readonly GitHttpRequestRecord[];
  /** While down, every request is answered 503, like a git server in maintenance. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

/** Starts the server on a free port of 127.0.0.1. */
export async function startGitHttpServer(options: GitHttpServerOptions): Promise<GitHttpServer> {
  const log: GitHttpRequestRecord[] = [];
  let down = false;
  const server = http.createServer((req, res) => {
    const record: GitHttpRequestRecord = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      status: 0,
    };
    log.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    if (down) {
      req.resume();
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('down for maintenance\n');
      return;
    }
    const user = checkAuth(req, options.auth);
    if (user === false) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    serveCgi(req, res, options.root, user);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return log.length;
    },
    log,
    setDown: (value) => {
      down = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The user name when the request may go on (empty without auth), false when it must not. */
function checkAuth(req: http.IncomingMessage, auth: GitHttpServerOptions['auth']): string | false {
  if (!auth) return '';
  const match = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return false;
  const [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  return username === auth.username && password === auth.password ? username : false;
}

function serveCgi(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  root: string,
  user: string,
): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    // No user or system git config: the test machine's must not matter.
    GIT_CONFIG_GLOBAL: os.devNull,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_USER: user,
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
    if (name.toLowerCase() === 'status') {
      status = Number.parseInt(value, 10) || 500;
    } else {
      headers[name] = [...(headers[name] ?? []), value];
    }
  }
  return { status, headers };
}
