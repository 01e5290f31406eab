/**
 * The agent's HTTP server over real HTTP on 127.0.0.1 (port 0). No engine:
 * the routes are small stand-ins, except /metrics, which serves the real
 * metrics registry.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AgentHttpRoutes,
  type AgentHttpServer,
  type AgentHttpServerOptions,
  parseListenAddress,
  startAgentHttpServer,
} from '../src/agent/http-server.js';
import { createAgentMetrics } from '../src/agent/metrics.js';
import { GitdockError } from '../src/errors.js';
import { type Log, silentLog } from '../src/log.js';

const CAP = 1024;

interface Started {
  server: AgentHttpServer;
  hooks: Array<{ headers: http.IncomingHttpHeaders; body: Buffer }>;
}

const servers: AgentHttpServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(
  routes: Partial<AgentHttpRoutes> = {},
  options: Partial<AgentHttpServerOptions> = {},
): Promise<Started> {
  const hooks: Started['hooks'] = [];
  const metrics = createAgentMetrics();
  metrics.reconcileTotal.inc('success');
  const server = await startAgentHttpServer({
    listen: '127.0.0.1:0',
    maxBodyBytes: CAP,
    log: silentLog,
    routes: {
      healthz: () => ({ ok: true }),
      status: () => ({ host: 'web-1', services: [{ name: 'app', sync: 'Synced' }] }),
      metrics: async () => ({ contentType: metrics.contentType, body: await metrics.render() }),
      webhook: async (req) => {
        hooks.push(req);
        return { status: 202, body: { accepted: true } };
      },
      ...routes,
    },
    ...options,
  });
  servers.push(server);
  return { server, hooks };
}

/** A raw HTTP exchange over one socket: writes `request`, reads until the server closes (bounded). */
function rawExchange(
  port: number,
  request: string | Buffer,
  timeoutMs = 5000,
): Promise<{ response: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closedByServer: false });
    }, timeoutMs);
    socket.on('data', (d) => {
      response += d.toString('utf8');
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closedByServer: true });
    });
    socket.write(request);
  });
}

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1:9420', '127.0.0.1', 9420],
    ['[::1]:9420', '::1', 9420],
    ['[::]:0', '::', 0],
    [':0', '127.0.0.1', 0],
    [':9420', '127.0.0.1', 9420],
    ['9420', '127.0.0.1', 9420],
    ['0.0.0.0:80', '0.0.0.0', 80],
    ['localhost:65535', 'localhost', 65535],
  ])('%s -> %s port %d', (listen, host, port) => {
    expect(parseListenAddress(listen)).toEqual({ host, port });
  });

  it.each([
    ['::1:9420', /brackets/],
    ['[localhost]:9420', /not an IPv6 address/],
    ['127.0.0.1', /port is missing/],
    ['web', /port is missing/],
    ['127.0.0.1:', /empty port/],
    ['127.0.0.1:70000', /0-65535/],
    ['127.0.0.1:http', /not a port number/],
    ['a b:1', /not a host name/],
  ])('refuses %s', (listen, why) => {
    let error: unknown;
    try {
      parseListenAddress(listen);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GitdockError);
    expect((error as GitdockError).code).toBe('GITDOCK_E_USAGE');
    expect((error as GitdockError).message).toMatch(why);
  });
});

describe('startAgentHttpServer', () => {
  it('listens on 127.0.0.1 with the port it bound', async () => {
    const { server } = await start({}, { listen: ':0' });
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('listens on IPv6 loopback, bracketed in the URL', async () => {
    const { server } = await start({}, { listen: '[::1]:0' });
    expect(server.url).toBe(`http://[::1]:${server.port}`);
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
  });

  it('refuses an address in use', async () => {
    const { server } = await start();
    await expect(start({}, { listen: `127.0.0.1:${server.port}` })).rejects.toMatchObject({
      code: 'GITDOCK_E_USAGE',
      message: expect.stringMatching(/in use/),
    });
  });

  it('GET /healthz answers 200 when ok and 503 when not', async () => {
    let ok = true;
    const { server } = await start({
      healthz: () => (ok ? { ok } : { ok, detail: 'engine unreachable' }),
    });
    const up = await fetch(`${server.url}/healthz`);
    expect(up.status).toBe(200);
    expect(up.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await up.json()).toEqual({ ok: true });
    ok = false;
    const down = await fetch(`${server.url}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ ok: false, detail: 'engine unreachable' });
  });

  it('GET /status answers pretty JSON; a query string is ignored', async () => {
    const { server } = await start();
    const res = await fetch(`${server.url}/status?verbose=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    expect(text).toBe(
      `${JSON.stringify({ host: 'web-1', services: [{ name: 'app', sync: 'Synced' }] }, null, 2)}\n`,
    );
  });

  it('GET /metrics answers the Prometheus text with its content type', async () => {
    const { server } = await start();
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toContain('gitdock_reconcile_total{result="success"} 1');
  });

  it('HEAD answers the headers only', async () => {
    const { server } = await start();
    const res = await fetch(`${server.url}/status`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('POST /hooks/git passes headers and body to the webhook route and sends its answer', async () => {
    const { server, hooks } = await start();
    const payload = JSON.stringify({ ref: 'refs/heads/main' });
    const res = await fetch(`${server.url}/hooks/git`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push' },
      body: payload,
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: true });
    expect(hooks).toHaveLength(1);
    expect(hooks[0]!.body.toString('utf8')).toBe(payload);
    expect(hooks[0]!.headers['x-github-event']).toBe('push');
  });

  it('accepts a body of exactly the cap', async () => {
    const { server, hooks } = await start();
    const res = await fetch(`${server.url}/hooks/git`, {
      method: 'POST',
      body: Buffer.alloc(CAP, 120),
    });
    expect(res.status).toBe(202);
    expect(hooks[0]!.body.length).toBe(CAP);
  });

  it('answers 413 to a body over the cap, without calling the webhook route', async () => {
    const { server, hooks } = await start();
    const res = await fetch(`${server.url}/hooks/git`, {
      method: 'POST',
      body: Buffer.alloc(CAP + 1, 120),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual({ error: `body larger than ${CAP} bytes` });
    expect(hooks).toHaveLength(0);
  });

  it('answers 413 and closes at once when the declared length is over the cap (reading stops)', async () => {
    const { server, hooks } = await start();
    // Declares 10 MB but sends 100 bytes and waits: a server that kept reading would wait too.
    const started = Date.now();
    const { response, closedByServer } = await rawExchange(
      server.port,
      `POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n${'x'.repeat(100)}`,
    );
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(closedByServer).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(hooks).toHaveLength(0);
  });

  it('answers 413 and closes once a chunked body passes the cap (reading stops)', async () => {
    const { server, hooks } = await start();
    const chunk = 'y'.repeat(600);
    const chunked = `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    // Two chunks pass the cap; the terminating chunk is never sent.
    const { response, closedByServer } = await rawExchange(
      server.port,
      `POST /hooks/git HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}${chunked}`,
    );
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(closedByServer).toBe(true);
    expect(hooks).toHaveLength(0);
  });

  it('answers 405 with Allow to the wrong method', async () => {
    const { server, hooks } = await start();
    const get = await fetch(`${server.url}/hooks/git`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(await get.json()).toMatchObject({ error: expect.stringMatching(/GET not allowed/) });
    const post = await fetch(`${server.url}/status`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const del = await fetch(`${server.url}/metrics`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(hooks).toHaveLength(0);
  });

  it('answers 404 JSON to other paths', async () => {
    const { server } = await start();
    for (const path of ['/', '/nope', '/healthz/', '/hooks', '/hooks/git/x']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await res.json()).toMatchObject({ error: `no such path: ${path}` });
    }
  });

  it('answers 500 when a route throws, and keeps serving', async () => {
    const errors: unknown[] = [];
    const log = { ...silentLog, error: (data: unknown) => errors.push(data) } as unknown as Log;
    const { server } = await start(
      {
        status: () => {
          throw new Error('boom');
        },
      },
      { log },
    );
    const res = await fetch(`${server.url}/status`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'internal error' });
    expect(errors).toEqual([{ method: 'GET', path: '/status', err: 'boom' }]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('logs each request at debug', async () => {
    const lines: Array<{ data: Record<string, unknown>; msg: string }> = [];
    const log = {
      ...silentLog,
      debug: (data: Record<string, unknown>, msg: string) => lines.push({ data, msg }),
    } as unknown as Log;
    const { server } = await start({}, { log });
    await (await fetch(`${server.url}/healthz?x=1`)).text();
    await (await fetch(`${server.url}/nope`)).text();
    expect(lines.map((l) => l.msg)).toEqual(['http request', 'http request']);
    expect(lines[0]!.data).toMatchObject({ method: 'GET', path: '/healthz', status: 200 });
    expect(lines[1]!.data).toMatchObject({ method: 'GET', path: '/nope', status: 404 });
    expect(typeof lines[0]!.data.durationMs).toBe('number');
  });

  it('close() closes idle keep-alive connections at once', async () => {
    // A grace far longer than the bound below: only closing idle sockets at once makes it.
    const { server } = await start({}, { closeGraceMs: 30_000 });
    const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get(`${server.url}/healthz`, { agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject);
      });
      expect(status).toBe(200);
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);
      const started = Date.now();
      await server.close();
      expect(Date.now() - started).toBeLessThan(1000);
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
      // Calling it again is harmless.
      await server.close();
    } finally {
      agent.destroy();
    }
  });

  it('close() cuts a request still in flight after the grace time', async () => {
    let entered!: () => void;
    const inRoute = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const { server } = await start(
      {
        status: () => {
          entered();
          return new Promise(() => {}); // never answers
        },
      },
      { closeGraceMs: 200 },
    );
    const pending = fetch(`${server.url}/status`).then(
      (r) => r.status,
      (err: unknown) => err,
    );
    await inRoute;
    const started = Date.now();
    await server.close();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(3000);
    expect(await pending).toBeInstanceOf(Error);
  });
});

/** A raw client socket on 127.0.0.1, for slow-client tests. */
interface RawClient {
  socket: net.Socket;
  /** `performance.now()` once connected. */
  connectedAt: number;
  received(): string;
  /** Resolves with `performance.now()` when the socket closes (by either side). */
  closed: Promise<number>;
  isClosed(): boolean;
}

function connectRaw(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let isClosed = false;
    socket.on('data', (d) => {
      text += d.toString('utf8');
    });
    // A reset by the server is a close like another here.
    socket.on('error', () => {});
    const closed = new Promise<number>((done) => {
      socket.on('close', () => {
        isClosed = true;
        done(performance.now());
      });
    });
    socket.once('connect', () =>
      resolve({
        socket,
        connectedAt: performance.now(),
        received: () => text,
        closed,
        isClosed: () => isClosed,
      }),
    );
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** When the client closed (`performance.now()`), or NaN when it is still open after `maxMs`. */
const closedWithin = (client: RawClient, maxMs = 5000): Promise<number> =>
  Promise.race([client.closed, sleep(maxMs).then(() => Number.NaN)]);

/**
 * Writes `parts` one every `everyMs` until they are all written or the socket
 * closes; resolves with how many were written. Bounded by `parts.length`.
 */
async function trickle(client: RawClient, parts: string[], everyMs: number): Promise<number> {
  let sent = 0;
  for (const part of parts) {
    if (client.isClosed() || client.socket.destroyed) break;
    client.socket.write(part);
    sent += 1;
    await Promise.race([sleep(everyMs), client.closed]);
  }
  return sent;
}

/** Resolves with the value once `check` gives one, polling every 20 ms; undefined after `maxMs`. */
async function eventually<T>(check: () => T | undefined, maxMs: number): Promise<T | undefined> {
  const until = performance.now() + maxMs;
  for (let i = 0; i < 1000 && performance.now() < until; i++) {
    const value = check();
    if (value !== undefined) return value;
    await sleep(20);
  }
  return check();
}

type Line = { data: Record<string, unknown>; msg: string };

/** A log that keeps its debug, warn and error lines. */
function warnLog(): { log: Log; debugs: Line[]; warns: Line[]; errors: Line[] } {
  const debugs: Line[] = [];
  const warns: Line[] = [];
  const errors: Line[] = [];
  const log = {
    ...silentLog,
    debug: (data: Record<string, unknown>, msg: string) => debugs.push({ data, msg }),
    warn: (data: Record<string, unknown>, msg: string) => warns.push({ data, msg }),
    error: (data: Record<string, unknown>, msg: string) => errors.push({ data, msg }),
  } as unknown as Log;
  return { log, debugs, warns, errors };
}

/** Fifty header lines: far more than a deadline lets through at one per 100 ms. */
const padLines = Array.from({ length: 50 }, (_, i) => `X-Pad-${i}: ${i}\r\n`);

describe('slow clients', () => {
  // Short deadlines so the tests are quick; the bounds below allow 3x, for a busy machine.
  const HEADER_MS = 300;
  const BODY_MS = 600;
  const short = { headerTimeoutMs: HEADER_MS, bodyTimeoutMs: BODY_MS };

  it('cuts a client that trickles a header line every 100 ms once the header deadline passes', async () => {
    const { log, warns } = warnLog();
    const { server } = await start({}, { ...short, log });
    const client = await connectRaw(server.port);
    const sent = await trickle(client, ['GET /healthz HTTP/1.1\r\n', ...padLines], 100);
    const tookMs = (await closedWithin(client)) - client.connectedAt;
    expect(sent).toBeGreaterThanOrEqual(2); // it did trickle, each line within any inactivity timeout
    expect(sent).toBeLessThan(padLines.length + 1); // and was cut before it ran out of lines
    expect(tookMs).toBeGreaterThanOrEqual(HEADER_MS - 50);
    expect(tookMs).toBeLessThan(3 * HEADER_MS);
    // 408 when the answer got through; a line arriving at the cut can turn the close into a reset.
    expect(client.received()).toMatch(/^(HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*)?$/);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({
      msg: 'http connection cut',
      data: { reason: 'headerDeadline', deadlineMs: HEADER_MS, remote: expect.any(String) },
    });
    expect(await eventually(() => (server.openConnections() === 0 ? true : undefined), 2000)).toBe(
      true,
    );
  });

  it('times the headers of a later request on a kept-alive connection from its own first byte', async () => {
    const { server } = await start({}, short);
    const client = await connectRaw(server.port);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const first = await eventually(
      () => (client.received().includes('{"ok":true}') ? client.received() : undefined),
      3000,
    );
    expect(first).toMatch(/^HTTP\/1\.1 200 /);
    // Idle for longer than the header deadline: waiting between requests is not charged to the next one.
    await sleep(HEADER_MS + 100);
    expect(client.isClosed()).toBe(false);
    const startedAt = performance.now();
    const sent = await trickle(client, ['GET /status HTTP/1.1\r\n', ...padLines], 100);
    const tookMs = (await closedWithin(client)) - startedAt;
    expect(sent).toBeGreaterThanOrEqual(2);
    expect(tookMs).toBeGreaterThanOrEqual(HEADER_MS - 50);
    expect(tookMs).toBeLessThan(3 * HEADER_MS);
  });

  it('cuts a request whose body trickles past the body deadline, with 408, without calling the route', async () => {
    const { log, debugs, warns, errors } = warnLog();
    const { server, hooks } = await start({}, { ...short, log });
    const client = await connectRaw(server.port);
    // Headers at once, then 10 of the 100 bytes declared every 100 ms: too slow to finish in time.
    client.socket.write('POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n');
    const sent = await trickle(client, Array(10).fill('x'.repeat(10)), 100);
    const tookMs = (await closedWithin(client)) - client.connectedAt;
    expect(sent).toBeLessThan(10);
    expect(tookMs).toBeGreaterThanOrEqual(BODY_MS - 50);
    expect(tookMs).toBeLessThan(3 * BODY_MS);
    expect(client.received()).toMatch(/^(HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*)?$/);
    expect(hooks).toHaveLength(0);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({
      msg: 'http connection cut',
      data: { reason: 'bodyDeadline', deadlineMs: BODY_MS },
    });
    // The handler waiting for the body gives up quietly: a cut is not a failure of the agent.
    const gaveUp = await eventually(() => debugs.find((d) => d.msg === 'http client error'), 2000);
    expect(gaveUp?.data).toMatchObject({ method: 'POST', path: '/hooks/git' });
    expect(errors).toEqual([]);
  });

  it('cuts a stalled body near the body deadline and answers 408', async () => {
    const { log, errors } = warnLog();
    const { server, hooks } = await start({}, { ...short, log });
    const client = await connectRaw(server.port);
    client.socket.write(
      `POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n${'x'.repeat(10)}`,
    );
    const tookMs = (await closedWithin(client)) - client.connectedAt;
    expect(tookMs).toBeGreaterThanOrEqual(BODY_MS - 50);
    expect(tookMs).toBeLessThan(3 * BODY_MS);
    // Nothing was sent after the stall, so nothing turns the close into a reset.
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(client.received()).toContain(`"error":"request not complete within ${BODY_MS} ms"`);
    expect(hooks).toHaveLength(0);
    expect(errors).toEqual([]);
  });

  it('leaves requests that arrive in time alone, a slow body within its deadline included', async () => {
    const { log, warns } = warnLog();
    const { server, hooks } = await start(
      {},
      { headerTimeoutMs: HEADER_MS, bodyTimeoutMs: 3000, log },
    );
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/status`)).status).toBe(200);
    const post = await fetch(`${server.url}/hooks/git`, { method: 'POST', body: '{"a":1}' });
    expect(post.status).toBe(202);
    // A body spread over about 2x the header deadline: only the body deadline applies to it.
    const client = await connectRaw(server.port);
    client.socket.write('POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n');
    await trickle(client, Array(3).fill('y'.repeat(10)), 200);
    const answer = await eventually(
      () => (client.received().includes('accepted') ? client.received() : undefined),
      3000,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 202 /);
    expect(hooks.map((h) => h.body.toString())).toEqual(['{"a":1}', 'y'.repeat(30)]);
    client.socket.destroy();
    expect(warns).toEqual([]);
  });

  it('reuses a kept-alive connection across a pause longer than the header deadline', async () => {
    const { log, warns } = warnLog();
    // Node's agent keeps a socket for the server's hint less a second: 3 s gives it 2 s.
    const { server } = await start({}, { ...short, keepAliveTimeoutMs: 3000, log });
    const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    try {
      const get = () =>
        new Promise<{ status: number; reused: boolean; keepAlive: unknown }>((resolve, reject) => {
          const req = http.get(`${server.url}/healthz`, { agent }, (res) => {
            res.resume();
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                reused: req.reusedSocket,
                keepAlive: res.headers['keep-alive'],
              }),
            );
          });
          req.on('error', reject);
        });
      expect(await get()).toEqual({ status: 200, reused: false, keepAlive: 'timeout=3' });
      await sleep(HEADER_MS + 100); // past the header deadline, well within the keep-alive timeout
      expect(await get()).toMatchObject({ status: 200, reused: true });
      expect(server.openConnections()).toBe(1);
      expect(warns).toEqual([]);
    } finally {
      agent.destroy();
    }
  });

  it('closes a connection with no request under way after the keep-alive timeout, without a warning', async () => {
    const KEEP_ALIVE_MS = 300;
    const { log, warns } = warnLog();
    const { server } = await start({}, { ...short, keepAliveTimeoutMs: KEEP_ALIVE_MS, log });
    // A new connection that sends nothing.
    const silent = await connectRaw(server.port);
    const silentMs = (await closedWithin(silent)) - silent.connectedAt;
    expect(silentMs).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 50);
    expect(silentMs).toBeLessThan(3 * KEEP_ALIVE_MS);
    // A kept-alive connection after its answer.
    const kept = await connectRaw(server.port);
    kept.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const answered = await eventually(
      () => (kept.received().includes('{"ok":true}') ? performance.now() : undefined),
      3000,
    );
    expect(answered).toBeDefined();
    const keptMs = (await closedWithin(kept)) - answered!;
    expect(keptMs).toBeLessThan(3 * KEEP_ALIVE_MS);
    expect(kept.received()).toMatch(/^HTTP\/1\.1 200 [\s\S]*Keep-Alive: timeout=0\r\n/);
    expect(warns).toEqual([]);
  });

  it('holds at most maxConnections open, closes the ones beyond at once, then serves again', async () => {
    const MAX = 4;
    const EXTRA = 6;
    const { log, warns } = warnLog();
    // Deadlines far beyond the test: only the cap can close a connection here.
    const { server } = await start(
      {},
      {
        maxConnections: MAX,
        headerTimeoutMs: 20_000,
        bodyTimeoutMs: 20_000,
        keepAliveTimeoutMs: 20_000,
        log,
      },
    );
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < MAX; i++) clients.push(await connectRaw(server.port));
      expect(
        await eventually(() => (server.openConnections() === MAX ? true : undefined), 2000),
      ).toBe(true);
      const extra = await Promise.all(
        Array.from(
          { length: EXTRA },
          () => connectRaw(server.port).catch(() => undefined), // may be closed before 'connect' is seen
        ),
      );
      for (const c of extra) if (c) clients.push(c);
      // Every extra one is closed by the server, promptly.
      const extraClosed = await Promise.race([
        Promise.all(extra.map((c) => c?.closed)).then(() => true),
        sleep(2000).then(() => false),
      ]);
      expect(extraClosed).toBe(true);
      expect(server.openConnections()).toBeLessThanOrEqual(MAX);
      expect(clients.slice(0, MAX).filter((c) => !c.isClosed())).toHaveLength(MAX);
      expect(warns[0]).toMatchObject({
        msg: 'http connection cut',
        data: { reason: 'connectionCap', maxConnections: MAX },
      });
    } finally {
      for (const c of clients) c.socket.destroy();
    }
    expect(await eventually(() => (server.openConnections() === 0 ? true : undefined), 3000)).toBe(
      true,
    );
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
  });

  it('logs a flood of cuts as one line and a summary, not one line each', async () => {
    const COUNT = 8;
    const { log, warns } = warnLog();
    const { server } = await start({}, { ...short, cutLogIntervalMs: 500, log });
    const clients = await Promise.all(Array.from({ length: COUNT }, () => connectRaw(server.port)));
    await Promise.all(
      clients.map((c) => trickle(c, ['GET /healthz HTTP/1.1\r\n', ...padLines], 100)),
    );
    // All cut; the summary of those after the first comes at the end of the interval.
    const counted = () =>
      warns.reduce(
        (n, w) => n + (w.msg === 'http connection cut' ? 1 : Number(w.data.total ?? 0)),
        0,
      );
    expect(await eventually(() => (counted() === COUNT ? true : undefined), 3000)).toBe(true);
    expect(warns[0]!.msg).toBe('http connection cut');
    expect(warns.length).toBeLessThanOrEqual(3);
    for (const w of warns.slice(1)) {
      expect(w.msg).toBe('http connections cut');
      expect(w.data).toMatchObject({
        headerDeadline: w.data.total,
        bodyDeadline: 0,
        connectionCap: 0,
      });
    }
  });

  it('logs the cuts not yet summarised when it closes', async () => {
    const { log, warns } = warnLog();
    const { server } = await start({}, { ...short, log }); // default interval: a minute
    const clients = await Promise.all([0, 1, 2].map(() => connectRaw(server.port)));
    await Promise.all(clients.map((c) => trickle(c, ['GET / HTTP/1.1\r\n', ...padLines], 100)));
    expect(warns).toHaveLength(1);
    await server.close();
    expect(warns).toHaveLength(2);
    expect(warns[1]).toMatchObject({
      msg: 'http connections cut',
      data: { headerDeadline: 2, total: 2 },
    });
  });

  it('refuses deadlines that are not positive integers or a body deadline under the header one', async () => {
    await expect(start({}, { headerTimeoutMs: 0 })).rejects.toThrow(/headerTimeoutMs/);
    await expect(start({}, { maxConnections: 1.5 })).rejects.toThrow(/maxConnections/);
    await expect(start({}, { headerTimeoutMs: 500, bodyTimeoutMs: 400 })).rejects.toThrow(
      /bodyTimeoutMs/,
    );
  });
});
