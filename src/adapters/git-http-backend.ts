/**
 * A smart-HTTP git server's core: one request handed to `git http-backend`
 * (git's own CGI program, what Apache or nginx would run), its CGI answer
 * turned back into HTTP. Used by `gitdock sim`'s remote and by the tests'.
 */
import { spawn } from 'node:child_process';
import type http from 'node:http';
import os from 'node:os';

/**
 * Answers one smart-HTTP request with `git http-backend` on the
 * repositories under `root`, as a web server's CGI would. `remoteUser` is
 * the authenticated user, when the caller checked one (git then allows a
 * push without `http.receivepack`).
 */
export function serveGitHttpBackend(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: { root: string; remoteUser?: string },
): void {
  const { root } = options;
  const url = new URL(req.url ?? '/', 'http://localhost');
  let pathInfo: string;
  try {
    pathInfo = decodeURIComponent(url.pathname);
  } catch {
    // A malformed escape must not take the server down for everyone.
    req.resume();
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end('bad request path\n');
    return;
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    // The machine's git config (hooks, templates) must not change what is served.
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
    ...(options.remoteUser !== undefined ? { REMOTE_USER: options.remoteUser } : {}),
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
