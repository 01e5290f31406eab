/**
 * The agent's HTTP endpoint (DESIGN.md section 5), on node:http alone:
 *
 *   GET  /healthz    200 or 503, JSON
 *   GET  /status     the agent's status, pretty JSON
 *   GET  /metrics    Prometheus text
 *   POST /hooks/git  webhook; body capped at `maxBodyBytes` (413 beyond)
 *   POST /retry      one more try of held (Failed) services: all, or `?service=NAME` (repeatable)
 *
 * Other paths answer 404 and other methods 405, both as JSON. It listens on
 * 127.0.0.1 unless told otherwise: /status names images and commits, and the
 * webhook only triggers a fetch, so nothing here needs to be public.
 *
 * Slow clients are cut by timers of our own, one per connection, not by
 * node's `headersTimeout` / `requestTimeout`, which are checked only every
 * `connectionsCheckingInterval` (30 s): a request's header section must be
 * complete within `headerTimeoutMs` of its first byte and the whole request
 * within `bodyTimeoutMs` of it, however the bytes are spread; a connection
 * with no request under way is closed after `keepAliveTimeoutMs`; and at most
 * `maxConnections` are open at once, more are closed as soon as accepted.
 */
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isIP } from 'node:net';
import { GitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';

export interface AgentHttpRoutes {
  /** `ok: false` answers 503, so a supervisor or load balancer sees the agent as down. */
  healthz(): { ok: boolean; detail?: string } | Promise<{ ok: boolean; detail?: string }>;
  /** Any JSON-serialisable value. */
  status(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** An operator asks for one more try of the named held services (all when none named). */
  retry?(services: string[] | undefined): { status: number; body: unknown };
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
  /**
   * A request's header section must be complete within this many ms of its
   * first byte, however the bytes are spread, or the connection is cut;
   * default 10 s. Until that byte, `keepAliveTimeoutMs` applies.
   */
  headerTimeoutMs?: number;
  /**
   * The whole request, body included, must be in within this many ms of its
   * first byte, or the connection is cut; default 30 s. Not less than
   * `headerTimeoutMs`.
   */
  bodyTimeoutMs?: number;
  /**
   * A connection with no request under way (a new one, or a kept-alive one
   * after its answer) is closed when no byte has come for this many ms;
   * default 5 s.
   */
  keepAliveTimeoutMs?: number;
  /** Connections open at once; one more is closed as soon as it is accepted. Default 64. */
  maxConnections?: number;
  /**
   * Connections cut (deadline or cap) are logged at warn: the first at once,
   * the ones after it as one summary line per this many ms; default 60 s.
   */
  cutLogIntervalMs?: number;
}

export interface AgentHttpServer {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  port: number;
  /** Stops listening and closes every connection, idle keep-alive ones at once, busy ones after the grace time. */
  close(): Promise<void>;
  /** Connections open now, as the server counts them. */
  openConnections(): number;
}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_CLOSE_GRACE_MS = 2000;
const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
const DEFAULT_BODY_TIMEOUT_MS = 30_000;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5000;
const DEFAULT_MAX_CONNECTIONS = 64;
const DEFAULT_CUT_LOG_INTERVAL_MS = 60_000;
const JSON_TYPE = 'application/json; charset=utf-8';

/** Why a connection was cut; also the field names of the summary line. */
type CutReason = 'headerDeadline' | 'bodyDeadline' | 'connectionCap';

/**
 * Where a connection is:
 * - `waiting`: no request under way (new, or kept alive after an answer); the idle timer runs;
 * - `headers`: a request's first byte has come, its header section is not complete; the header timer runs;
 * - `body`: its headers are in, its body is not complete; the body timer runs;
 * - `handling`: the request is in, its answer is not finished; no timer (a route may take its time).
 */
type Phase = 'waiting' | 'headers' | 'body' | 'handling';

interface Connection {
  socket: Socket;
  phase: Phase;
  /** `performance.now()` at the first byte of the request under way. */
  requestStart: number;
  timer: NodeJS.Timeout | undefined;
  /** Requests received whose answer has not finished (more than one only when pipelined). */
  active: number;
  /** The latest request and its answer, while its body is not complete. */
  req: IncomingMessage | undefined;
  res: ServerResponse | undefined;
}

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
  const headerTimeoutMs = positive(
    'headerTimeoutMs',
    options.headerTimeoutMs,
    DEFAULT_HEADER_TIMEOUT_MS,
  );
  const bodyTimeoutMs = positive('bodyTimeoutMs', options.bodyTimeoutMs, DEFAULT_BODY_TIMEOUT_MS);
  const keepAliveTimeoutMs = positive(
    'keepAliveTimeoutMs',
    options.keepAliveTimeoutMs,
    DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  );
  const maxConnections = positive(
    'maxConnections',
    options.maxConnections,
    DEFAULT_MAX_CONNECTIONS,
  );
  const cutLog = createCutLog(
    log,
    positive('cutLogIntervalMs', options.cutLogIntervalMs, DEFAULT_CUT_LOG_INTERVAL_MS),
  );
  if (bodyTimeoutMs < headerTimeoutMs) {
    throw new RangeError(
      `bodyTimeoutMs (${bodyTimeoutMs}) is less than headerTimeoutMs (${headerTimeoutMs}); both count from the request's first byte`,
    );
  }
  const connections = new Map<Socket, Connection>();

  const server = http.createServer(
    {
      // Our timers below cut slow clients. Node's own checks run only every
      // `connectionsCheckingInterval`; they stay as a backstop, set well
      // beyond ours so that they never act first.
      headersTimeout: 2 * headerTimeoutMs + keepAliveTimeoutMs,
      requestTimeout: 2 * bodyTimeoutMs + keepAliveTimeoutMs,
      // Also what the `Keep-Alive: timeout=N` header tells clients; our idle timer is as long.
      keepAliveTimeout: keepAliveTimeoutMs,
    },
    (req, res) => {
      requestArrived(req, res);
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
        if (req.socket.destroyed) {
          // The client went away, or was cut for a deadline, before its body was in.
          log.debug({ method: req.method, path, err: messageOf(err) }, 'http client error');
          return;
        }
        log.error({ method: req.method, path, err: messageOf(err) }, 'http handler failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    },
  );
  server.maxConnections = maxConnections;

  // --- Per-connection deadlines --------------------------------------------

  server.on('connection', (socket: Socket) => {
    const conn: Connection = {
      socket,
      phase: 'waiting',
      requestStart: performance.now(),
      timer: undefined,
      active: 0,
      req: undefined,
      res: undefined,
    };
    connections.set(socket, conn);
    wait(conn);
    // Node's own 'data' listener, added before this one, has already parsed
    // the chunk: a chunk that completed a request has moved the connection
    // on, so only the first byte of a request still incomplete is seen here
    // while `waiting`. (Listening to 'data' makes node parse from the
    // socket's 'data' events rather than straight from its handle.)
    socket.on('data', () => {
      if (conn.phase !== 'waiting' || socket.destroyed) return;
      conn.phase = 'headers';
      conn.requestStart = performance.now();
      arm(conn, headerTimeoutMs, () => cut(conn, 'headerDeadline'));
    });
    socket.once('close', () => {
      clearTimeout(conn.timer);
      conn.timer = undefined;
      connections.delete(socket);
    });
  });

  server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
    cutLog.add('connectionCap', {
      maxConnections,
      remote: remoteOf(data?.remoteAddress, data?.remotePort),
    });
  });

  function arm(conn: Connection, ms: number, fire: () => void): void {
    clearTimeout(conn.timer);
    conn.timer = setTimeout(fire, Math.max(0, ms));
    // Never what keeps the process up: the socket does that while it is open.
    conn.timer.unref();
  }

  /** No request under way: closed when no byte comes within the keep-alive timeout. */
  function wait(conn: Connection): void {
    conn.phase = 'waiting';
    conn.req = undefined;
    conn.res = undefined;
    if (conn.socket.destroyed) return;
    arm(conn, keepAliveTimeoutMs, () => {
      // Ordinary for a kept-alive connection: not worth a warning.
      if (conn.phase === 'waiting') conn.socket.destroy();
    });
  }

  /** The headers of a request are in: from now on its body is timed, from the request's first byte. */
  function requestArrived(req: IncomingMessage, res: ServerResponse): void {
    const conn = connections.get(req.socket);
    if (!conn) return;
    // A request that came whole in one chunk, or pipelined behind another, starts now.
    if (conn.phase !== 'headers') conn.requestStart = performance.now();
    conn.phase = 'body';
    conn.active += 1;
    conn.req = req;
    conn.res = res;
    const bodyDone = () => {
      if (conn.req !== req) return;
      clearTimeout(conn.timer);
      conn.timer = undefined;
      conn.req = undefined;
      conn.res = undefined;
      if (conn.active > 0) conn.phase = 'handling';
      else wait(conn);
    };
    arm(conn, bodyTimeoutMs - (performance.now() - conn.requestStart), () => {
      // `complete` is set when the parser has the whole message, read or not.
      if (req.complete) bodyDone();
      else cut(conn, 'bodyDeadline');
    });
    req.once('end', bodyDone);
    let answered = false;
    const answerDone = () => {
      if (answered) return;
      answered = true;
      conn.active -= 1;
      // Still `body` when the answer went out before the body was in (404, 413): the body timer goes on.
      if (conn.active === 0 && conn.phase === 'handling') wait(conn);
    };
    res.once('finish', answerDone);
    res.once('close', answerDone);
  }

  /** Answers 408 when nothing has been answered on the request yet, then closes the connection at once. */
  function cut(conn: Connection, reason: 'headerDeadline' | 'bodyDeadline'): void {
    const { socket } = conn;
    if (socket.destroyed) return;
    const deadlineMs = reason === 'headerDeadline' ? headerTimeoutMs : bodyTimeoutMs;
    const nothingAnswered =
      reason === 'headerDeadline' ? conn.active === 0 : conn.active === 1 && !conn.res?.headersSent;
    if (nothingAnswered && socket.writable) {
      const what = reason === 'headerDeadline' ? 'request headers' : 'request';
      const body = `${JSON.stringify({ error: `${what} not complete within ${deadlineMs} ms` })}\n`;
      // Written straight to the socket (a small write goes out at once), before it is destroyed.
      socket.write(
        `HTTP/1.1 408 Request Timeout\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    cutLog.add(reason, {
      deadlineMs,
      elapsedMs: Math.round(performance.now() - conn.requestStart),
      remote: remoteOf(socket.remoteAddress, socket.remotePort),
    });
    clearTimeout(conn.timer);
    conn.timer = undefined;
    socket.destroy();
  }

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
      case '/retry': {
        if (!routes.retry) break;
        if (!allow(req, res, ['POST'])) return;
        drain(req);
        const query = new URL(req.url ?? '/', 'http://agent').searchParams.getAll('service');
        const answer = routes.retry(query.length > 0 ? query : undefined);
        sendJson(res, answer.status, answer.body);
        return;
      }
    }
    drain(req);
    sendJson(res, 404, { error: `no such path: ${path}`, method });
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
    openConnections: () => connections.size,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), closeGraceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          cutLog.stop();
          resolve();
        });
        // Idle keep-alive connections would hold `close` open until their own timeout.
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, not ${value}`);
  }
  return value;
}

function remoteOf(address: string | undefined, port: number | undefined): string | undefined {
  if (address === undefined) return undefined;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Logs cut connections at warn without letting a flood flood the log: the
 * first cut is logged at once (`http connection cut`, with its details);
 * the ones in the next `intervalMs` are counted and logged as one line
 * (`http connections cut`, a count per reason), and so on while they go on.
 */
function createCutLog(log: Log, intervalMs: number) {
  const counts: Record<CutReason, number> = {
    headerDeadline: 0,
    bodyDeadline: 0,
    connectionCap: 0,
  };
  let window: NodeJS.Timeout | undefined;
  let windowStart = 0;

  function flush(): boolean {
    const total = counts.headerDeadline + counts.bodyDeadline + counts.connectionCap;
    if (total === 0) return false;
    log.warn(
      { ...counts, total, overMs: Math.round(performance.now() - windowStart) },
      'http connections cut',
    );
    counts.headerDeadline = counts.bodyDeadline = counts.connectionCap = 0;
    return true;
  }

  function open(): void {
    windowStart = performance.now();
    window = setTimeout(() => {
      window = undefined;
      // A line was due: keep counting for another interval; a quiet interval ends the window.
      if (flush()) open();
    }, intervalMs);
    window.unref();
  }

  return {
    add(reason: CutReason, fields: Record<string, unknown>): void {
      if (window) {
        counts[reason] += 1;
        return;
      }
      log.warn({ reason, ...fields }, 'http connection cut');
      open();
    },
    /** Logs what is counted and not yet logged. */
    stop(): void {
      clearTimeout(window);
      window = undefined;
      flush();
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
    // Cut, or the client went away, before the body was in (a no-op once settled).
    req.on('close', () => reject(new Error('connection closed before the body was complete')));
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
