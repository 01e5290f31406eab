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
