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
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveGitHttpBackend } from '../../src/adapters/git-http-backend.js';

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
    serveGitHttpBackend(req, res, { root: options.root, ...(user ? { remoteUser: user } : {}) });
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
