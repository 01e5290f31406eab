/**
 * The agent's HTTP endpoint (DESIGN.md section 5), on node:http alone:
 *
 *   GET  /healthz    200 or 503, JSON
 *   GET  /status     the agent's status, pretty JSON
 *   GET  /metrics    Prometheus text
 *   POST /hooks/git  webhook; body capped at `maxBodyBytes` (413 beyond)
 *
 * Other paths answer 404 and other methods 405, both as JSON. It listens on
 * 127.0.0.1 unless told otherwise: /status names images and commits, and the
 * webhook only triggers a fetch, so nothing here needs to be public.
 */
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { GitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';

export interface AgentHttpRoutes {
  /** `ok: false` answers 503, so a supervisor or load balancer sees the agent as down. */
  healthz(): { ok: boolean; detail?: string } | Promise<{ ok: boolean; detail?: string }>;
  /** Any JSON-serialisable value. */
  status(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Called only with a complete body within the cap; `body` of the result is sent as JSON. */
  webhook(request: {
    headers: IncomingHttpHeaders;
    body: Buffer;
  }): Promise<{ status: number; body: unknown }>;
}

export interface AgentHttpServerOptions {
  /**
   * `host:port`, `[ipv6]:port`, `:port` or `port`; without a host it is
   * 127.0.0.1. Port 0 picks a free port (see `port` of the result).
   */
  listen: string;
  routes: AgentHttpRoutes;
  /** Cap of a webhook body; default 1 MiB. */
  maxBodyBytes?: number;
  log: Log;
  /** How long `close()` lets requests in flight finish before cutting them; default 2 s. */
  closeGraceMs?: number;
}

export interface AgentHttpServer {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  port: number;
  /** Stops listening and closes every connection, idle keep-alive ones at once, busy ones after the grace time. */
  close(): Promise<void>;
}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_CLOSE_GRACE_MS = 2000;
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Parses a listen address: `127.0.0.1:9420`, `[::1]:9420`, `:9420`,
 * `9420`, `localhost:9420`. IPv6 addresses need brackets, since
 * `::1:9420` is itself a valid IPv6 address.
 */
export function parseListenAddress(listen: string): { host: string; port: number } {
  const text = listen.trim();
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2]!;
    if (isIP(host) !== 6) throw badListen(listen, `${host} is not an IPv6 address`);
  } else if (/^\d+$/.test(text)) {
    host = DEFAULT_HOST;
    portText = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw badListen(listen, 'a port is missing');
    host = text.slice(0, colon) || DEFAULT_HOST;
    portText = text.slice(colon + 1);
    if (host.includes(':'))
      throw badListen(listen, 'write an IPv6 address in brackets, as [::1]:9420');
    if (!/^[a-zA-Z0-9.-]+$/.test(host))
      throw badListen(listen, `${host} is not a host name or address`);
    if (!/^\d+$/.test(portText))
      throw badListen(listen, `${portText || 'an empty port'} is not a port number`);
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port > 65535) {
    throw badListen(listen, `${portText} is not a port number (0-65535)`);
  }
  return { host, port };
}

function badListen(listen: string, why: string): GitdockError {
  return new GitdockError(
    'GITDOCK_E_USAGE',
    `Cannot listen on "${listen}": ${why}. Write host:port, [ipv6]:port or :port.`,
    { listen },
  );
}

/** Starts the server; resolves once it listens. */
export async function startAgentHttpServer(
  options: AgentHttpServerOptions,
): Promise<AgentHttpServer> {
  const { routes, log } = options;
  const { host, port } = parseListenAddress(options.listen);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const closeGraceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;

  const server = http.createServer(
    // A webhook body is small: a client that trickles one is cut, not waited for.
    { requestTimeout: 30_000, headersTimeout: 10_000 },
    (req, res) => {
      const started = performance.now();
      const path = (req.url ?? '/').split('?')[0]!;
      res.on('finish', () => {
        log.debug(
          {
            method: req.method,
            path,
            status: res.statusCode,
            durationMs: Math.round(performance.now() - started),
          },
          'http request',
        );
      });
      handle(req, res, path).catch((err: unknown) => {
        log.error({ method: req.method, path, err: messageOf(err) }, 'http handler failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    },
  );

  async function handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    switch (path) {
      case '/healthz': {
        if (!allow(req, res, ['GET', 'HEAD'])) return;
        const health = await routes.healthz();
        sendJson(res, health.ok ? 200 : 503, health);
        return;
      }
      case '/status': {
        if (!allow(req, res, ['GET', 'HEAD'])) return;
        const status = await routes.status();
        send(res, 200, JSON_TYPE, `${JSON.stringify(status, null, 2)}\n`);
        return;
      }
      case '/metrics': {
        if (!allow(req, res, ['GET', 'HEAD'])) return;
        const metrics = await routes.metrics();
        send(res, 200, metrics.contentType, metrics.body);
        return;
      }
      case '/hooks/git': {
        if (!allow(req, res, ['POST'])) return;
        const body = await readBody(req, maxBodyBytes);
        if (body === undefined) {
          // Stop reading: the rest of the body is not wanted, and the connection cannot be reused.
          res.setHeader('Connection', 'close');
          sendJson(res, 413, { error: `body larger than ${maxBodyBytes} bytes` });
          return;
        }
        const answer = await routes.webhook({ headers: req.headers, body });
        sendJson(res, answer.status, answer.body ?? {});
        return;
      }
      default:
        drain(req);
        sendJson(res, 404, { error: `no such path: ${path}`, method });
    }
  }

  function allow(req: IncomingMessage, res: ServerResponse, methods: string[]): boolean {
    if (methods.includes(req.method ?? '')) return true;
    drain(req);
    res.setHeader('Allow', methods.join(', '));
    sendJson(res, 405, { error: `method ${req.method} not allowed; use ${methods.join(' or ')}` });
    return false;
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new GitdockError(
          'GITDOCK_E_USAGE',
          `Cannot listen on ${options.listen}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.message}. Choose another --listen address.`,
          { listen: options.listen, errno: err.code },
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // After listening, a failing connection must not crash the agent.
  server.on('error', (err) => log.warn({ err: messageOf(err) }, 'http server error'));
  server.on('clientError', (err, socket) => {
    log.debug({ err: messageOf(err) }, 'http client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${bound}`,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), closeGraceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        // Idle keep-alive connections would hold `close` open until their own timeout.
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/**
 * Reads a body up to `max` bytes; undefined when it is larger. A declared
 * `Content-Length` over the cap is refused before any byte is read.
 */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Reads and drops a body nobody wants, so a keep-alive connection stays usable. */
function drain(req: IncomingMessage): void {
  req.resume();
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON_TYPE, `${JSON.stringify(value)}\n`);
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
