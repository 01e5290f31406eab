/**
 * `ping` and `watchEvents` of the Docker engine adapter against the private
 * dockerd of scripts/stack.sh: which events arrive, which do not, abort, and
 * a stream cut by stopping the engine (this file stops and restarts the
 * stack's dockerd once). The line splitter and the mapping are also tested
 * on their own, and the stream handling against a small fake engine on a
 * unix socket that cuts lines where the real one rarely does.
 *
 * Containers run with network_mode none and are named `ev-test-*`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONTAINER_STATE_EVENTS,
  createDockerEngine,
  splitJsonLines,
  toEngineEvent,
} from '../src/adapters/docker-engine.js';
import type { Engine, EngineEvent } from '../src/core/engine.js';
import { rejection } from './support/engine-cases.js';
import { docker, dockerResult, imageRef, stackEnv } from './support/stack.js';

// Throws unless DOCKER_HOST is the stack's private engine: these tests create containers and
// restart the engine.
const STACK = stackEnv();
const STACK_SH = fileURLToPath(new URL('../scripts/stack.sh', import.meta.url));
const NAME_PREFIX = 'ev-test-';
const HOST = `ev-host-${process.pid}`;
const OTHER_HOST = `ev-other-${process.pid}`;
const IMAGE = imageRef('app', '1.0');

let engine: Engine;
let emptyConfigDir: string;
let counter = 0;

beforeAll(async () => {
  emptyConfigDir = await mkdtemp(join(tmpdir(), 'ev-docker-config-'));
  engine = createDockerEngine({ dockerConfigDir: emptyConfigDir });
  removeTestContainers();
  docker(['pull', '-q', IMAGE]);
});

afterAll(async () => {
  removeTestContainers();
  // Leave the engine as the stack does: test images pushed but not pulled.
  dockerResult(['rmi', IMAGE]);
  if (emptyConfigDir) await rm(emptyConfigDir, { recursive: true, force: true });
});

function removeTestContainers(): void {
  const ids = docker(['ps', '-aq', '--filter', `name=^${NAME_PREFIX}`])
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) docker(['rm', '-f', '-v', ...ids]);
}

/** `docker create` of the idle test image; returns the container ID. */
function createContainer(name: string, labels: Record<string, string>): string {
  const args = ['create', '--name', name, '--network', 'none'];
  for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
  return docker([...args, IMAGE]);
}

function uniqueName(what: string): string {
  counter += 1;
  return `${NAME_PREFIX}${process.pid}-${what}-${counter}`;
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Settles within `ms` or fails the test: an abort or a cut must not leave the watch hanging. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Watch {
  events: EngineEvent[];
  controller: AbortController;
  done: Promise<void>;
  settled: () => boolean;
}

function watch(host: string, eng: Engine = engine): Watch {
  const events: EngineEvent[] = [];
  const controller = new AbortController();
  let isSettled = false;
  const done = eng.watchEvents({
    host,
    signal: controller.signal,
    onEvent: (e) => events.push(e),
  });
  done.then(
    () => {
      isSettled = true;
    },
    () => {
      isSettled = true;
    },
  );
  return { events, controller, done, settled: () => isSettled };
}

/**
 * Waits until the stream is open: events from before it opened are not
 * replayed. Creates a labelled marker container until its `create` event
 * arrives (bounded), then removes it.
 */
async function untilOpen(w: Watch, host: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const id = createContainer(uniqueName('marker'), { 'io.gitdock.host': host });
    try {
      await waitFor('the marker event', () => w.events.some((e) => e.containerId === id), 2000);
      docker(['rm', '-f', id]);
      return;
    } catch {
      docker(['rm', '-f', id]);
      if (w.settled()) throw new Error('the watch ended before it delivered an event');
    }
  }
  throw new Error('the event stream never delivered the marker container');
}

function actionsOf(events: EngineEvent[], id: string): string[] {
  return events.filter((e) => e.containerId === id).map((e) => e.action);
}

/**
 * Sockets of this process still open for an events request (destroyed ones
 * stay in the handle list until the loop closes them). Node's handle list
 * and `_httpMessage` are internal, but nothing public ties a socket to its
 * request, and counting all sockets is noisy (keep-alive pools).
 */
function openEventSockets(): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h) => {
    const socket = h as { destroyed?: boolean; _httpMessage?: { path?: unknown } };
    const path = socket._httpMessage?.path;
    return socket.destroyed === false && typeof path === 'string' && path.includes('/events?');
  }).length;
}

function stack(command: 'up' | 'down'): void {
  const port = STACK.registry.slice(STACK.registry.lastIndexOf(':') + 1);
  const r = spawnSync('bash', [STACK_SH, command], {
    env: { ...process.env, GITDOCK_STACK_DIR: STACK.stackDir, GITDOCK_REGISTRY_PORT: port },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 90_000,
  });
  if (r.error || r.status !== 0) {
    throw new Error(`stack.sh ${command} failed: ${r.error?.message ?? r.stderr.trim()}`);
  }
}

describe('splitJsonLines', () => {
  /** Feeds chunks one by one, then ends the stream as watchEvents does. */
  function feed(chunks: string[]): { values: unknown[]; rests: string[] } {
    const values: unknown[] = [];
    const rests: string[] = [];
    let pending = '';
    for (const chunk of chunks) {
      const split = splitJsonLines(pending, chunk);
      values.push(...split.values);
      pending = split.rest;
      rests.push(pending);
    }
    values.push(...splitJsonLines(pending, '\n').values);
    return { values, rests };
  }

  it.each<[string, string[], unknown[]]>([
    ['one whole line', ['{"a":1}\n'], [{ a: 1 }]],
    ['several lines in one chunk', ['{"a":1}\n{"a":2}\n{"a":3}\n'], [{ a: 1 }, { a: 2 }, { a: 3 }]],
    ['a line cut mid-way', ['{"Act', 'ion":"die"}\n'], [{ Action: 'die' }]],
    ['a line cut in three', ['{"a"', ':', '1}\n'], [{ a: 1 }]],
    [
      'a cut that ends one line and holds the next',
      ['{"a":1', '}\n{"a":2}\n{"a"', ':3}\n'],
      [{ a: 1 }, { a: 2 }, { a: 3 }],
    ],
    ['a cut right at the newline', ['{"a":1}', '\n', '{"a":2}\n'], [{ a: 1 }, { a: 2 }]],
    ['blank lines and CRLF', ['\n{"a":1}\r\n\n  \n{"a":2}\r\n'], [{ a: 1 }, { a: 2 }]],
    ['unparseable lines skipped', ['{"a":1}\nnot json\n{"a":\n{"a":2}\n'], [{ a: 1 }, { a: 2 }]],
    ['a last line without newline', ['{"a":1}\n{"a":2}'], [{ a: 1 }, { a: 2 }]],
    ['a truncated last line dropped', ['{"a":1}\n{"a":2'], [{ a: 1 }]],
    ['a newline inside a string is escaped, so never splits', ['{"a":"x\\ny"}\n'], [{ a: 'x\ny' }]],
  ])('%s', (_, chunks, expected) => {
    expect(feed(chunks).values).toEqual(expected);
  });

  it('keeps only the unfinished line', () => {
    expect(feed(['{"a":1}\n{"b"', ':2}\n{']).rests).toEqual(['{"b"', '{']);
  });

  it('splits one character at a time', () => {
    const text = '{"Action":"start","id":"abc"}\n{"Action":"die","id":"abc"}\n';
    expect(feed([...text]).values).toEqual([
      { Action: 'start', id: 'abc' },
      { Action: 'die', id: 'abc' },
    ]);
  });
});

describe('toEngineEvent', () => {
  const actor = {
    ID: 'c1',
    Attributes: { name: 'web', 'io.gitdock.service': 'web', 'io.gitdock.host': 'h' },
  };

  it.each<[string, unknown, EngineEvent | undefined]>([
    [
      'a container event',
      // Parsed, as the stream gives it: nanoseconds since 1970 are beyond a double's precision.
      {
        ...JSON.parse(
          '{"Type":"container","Action":"die","time":1700000000,"timeNano":1700000000123456789}',
        ),
        Actor: actor,
      },
      { action: 'die', containerId: 'c1', name: 'web', service: 'web', time: 1700000000123.4568 },
    ],
    [
      'time in seconds without timeNano',
      { Type: 'container', Action: 'start', Actor: actor, time: 1700000000 },
      { action: 'start', containerId: 'c1', name: 'web', service: 'web', time: 1700000000000 },
    ],
    [
      'a health status',
      {
        Type: 'container',
        Action: 'health_status: healthy',
        Actor: { ID: 'c2', Attributes: { name: 'db' } },
        time: 1,
      },
      { action: 'health_status: healthy', containerId: 'c2', name: 'db', time: 1000 },
    ],
    [
      'the legacy fields',
      { status: 'destroy', id: 'c3', time: 2 },
      { action: 'destroy', containerId: 'c3', time: 2000 },
    ],
    ['an image event', { Type: 'image', Action: 'pull', Actor: { ID: 'img' }, time: 1 }, undefined],
    ['no action', { Type: 'container', Actor: actor, time: 1 }, undefined],
    ['no ID', { Type: 'container', Action: 'die', time: 1 }, undefined],
    ['not an object', 'die', undefined],
    ['an array', [1], undefined],
    ['null', null, undefined],
  ])('%s', (_, value, expected) => {
    const event = toEngineEvent(value);
    if (expected === undefined) expect(event).toBeUndefined();
    else expect(event).toEqual(expected);
  });
});

describe('watchEvents against a fake engine that cuts lines anywhere', () => {
  let server: http.Server;
  let dir: string;
  let socketPath: string;
  let lastUrl = '';
  let script: (res: http.ServerResponse) => void = () => {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ev-fake-'));
    socketPath = join(dir, 'docker.sock');
    server = http.createServer((req, res) => {
      lastUrl = req.url ?? '';
      if (req.url?.startsWith('/_ping')) {
        res.end('OK');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      script(res);
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const line = (action: string, id: string, name: string) =>
    `${JSON.stringify({ Type: 'container', Action: action, Actor: { ID: id, Attributes: { name } }, time: 1 })}\n`;

  it('asks for container events of the host, and reassembles lines and UTF-8 across chunks', async () => {
    const text =
      line('start', 'a', 'wëb') + 'garbage\n' + line('die', 'a', 'wëb') + line('stop', 'b', 'db');
    const bytes = Buffer.from(text, 'utf8');
    // Cut inside the multi-byte ë, mid-line, and put several lines in one chunk.
    const cut1 = bytes.indexOf(Buffer.from('ë')) + 1;
    const cut2 = bytes.indexOf(Buffer.from('garbage')) + 3;
    script = (res) => {
      res.write(bytes.subarray(0, cut1));
      setTimeout(() => res.write(bytes.subarray(cut1, cut2)), 20);
      setTimeout(() => res.end(bytes.subarray(cut2)), 40);
    };
    const fake = createDockerEngine({
      dockerHost: `unix://${socketPath}`,
      dockerConfigDir: emptyConfigDir,
    });
    await fake.ping();
    const w = watch('web-1', fake);
    await within(5000, 'the watch of a stream that ends', w.done);
    expect(w.events.map((e) => [e.action, e.containerId, e.name])).toEqual([
      ['start', 'a', 'wëb'],
      ['die', 'a', 'wëb'],
      ['stop', 'b', 'db'],
    ]);
    const url = new URL(lastUrl, 'http://x');
    expect(url.pathname).toMatch(/\/events$/);
    expect(JSON.parse(url.searchParams.get('filters') ?? '')).toEqual({
      type: ['container'],
      label: ['io.gitdock.host=web-1'],
      event: [...CONTAINER_STATE_EVENTS],
    });
  });

  it('resolves when the connection is cut mid-line, dropping the partial line', async () => {
    script = (res) => {
      res.write(line('start', 'a', 'x') + '{"Type":"container","Act');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const fake = createDockerEngine({
      dockerHost: `unix://${socketPath}`,
      dockerConfigDir: emptyConfigDir,
    });
    const w = watch('web-1', fake);
    await within(5000, 'the watch of a cut stream', w.done);
    expect(w.events.map((e) => e.action)).toEqual(['start']);
    expect(openEventSockets()).toBe(0);
  });

  it('rejects with the error of a throwing onEvent, and stops reading', async () => {
    script = (res) => {
      res.write(line('start', 'a', 'x') + line('die', 'a', 'x'));
    };
    const fake = createDockerEngine({
      dockerHost: `unix://${socketPath}`,
      dockerConfigDir: emptyConfigDir,
    });
    let calls = 0;
    const done = fake.watchEvents({
      host: 'web-1',
      signal: new AbortController().signal,
      onEvent: () => {
        calls += 1;
        throw new Error('handler bug');
      },
    });
    await expect(within(5000, 'the watch', done)).rejects.toThrow('handler bug');
    expect(calls).toBe(1);
    expect(openEventSockets()).toBe(0);
  });
});

describe('watchEvents on the real engine', () => {
  it('delivers create, start, die, stop, rename and destroy of a container of the host', async () => {
    const w = watch(HOST);
    try {
      await untilOpen(w, HOST);
      const before = Date.now();
      const name = uniqueName('life');
      const renamed = `${name}-renamed`;
      const id = createContainer(name, { 'io.gitdock.host': HOST, 'io.gitdock.service': 'life' });
      docker(['start', id]);
      docker(['stop', '-t', '2', id]);
      docker(['rename', id, renamed]);
      docker(['rm', id]);
      const wanted = ['create', 'start', 'die', 'stop', 'rename', 'destroy'];
      await waitFor(`events ${wanted.join(', ')}`, () =>
        wanted.every((a) => actionsOf(w.events, id).includes(a)),
      );
      const mine = w.events.filter((e) => e.containerId === id);
      // Docker's own order; a stop also sends `kill` first.
      const order = mine.map((e) => e.action).filter((a) => wanted.includes(a));
      expect(order).toEqual(wanted);
      for (const e of mine) {
        expect(e.service).toBe('life');
        expect(e.time).toBeGreaterThanOrEqual(before - 5000);
        expect(e.time).toBeLessThanOrEqual(Date.now() + 5000);
      }
      expect(mine.find((e) => e.action === 'create')?.name).toBe(name);
      expect(mine.find((e) => e.action === 'rename')?.name).toBe(renamed);
      expect(mine.find((e) => e.action === 'destroy')?.name).toBe(renamed);
      expect(w.settled()).toBe(false);
    } finally {
      w.controller.abort();
      await within(5000, 'abort', w.done);
    }
  });

  it('delivers health status changes but not the execs of health checks', async () => {
    const w = watch(HOST);
    try {
      await untilOpen(w, HOST);
      const name = uniqueName('health');
      // The healthy image checks itself every second, as an exec each time.
      const id = docker([
        'run',
        '-d',
        '--name',
        name,
        '--network',
        'none',
        '--label',
        `io.gitdock.host=${HOST}`,
        imageRef('healthy', '1.0'),
      ]);
      await waitFor('health_status: healthy', () =>
        actionsOf(w.events, id).includes('health_status: healthy'),
      );
      // A few more checks run; an exec of any of them would have arrived before this stop.
      await new Promise((r) => setTimeout(r, 2500));
      docker(['exec', id, 'true']);
      docker(['rm', '-f', id]);
      await waitFor('destroy', () => actionsOf(w.events, id).includes('destroy'));
      const execs = actionsOf(w.events, id).filter((a) => a.startsWith('exec_'));
      expect(execs).toEqual([]);
    } finally {
      w.controller.abort();
      await within(5000, 'abort', w.done);
    }
  });

  it('delivers nothing for containers of another host or without labels', async () => {
    const mine = watch(HOST);
    const other = watch(OTHER_HOST);
    try {
      await untilOpen(mine, HOST);
      await untilOpen(other, OTHER_HOST);
      const otherId = createContainer(uniqueName('other'), {
        'io.gitdock.host': OTHER_HOST,
        'io.gitdock.service': 'x',
      });
      const plainId = createContainer(uniqueName('plain'), {});
      // A host label as a prefix of ours must not match either.
      const prefixId = createContainer(uniqueName('prefix'), { 'io.gitdock.host': `${HOST}x` });
      for (const id of [otherId, plainId, prefixId]) {
        docker(['start', id]);
        docker(['rm', '-f', id]);
      }
      // Events come in order: once a later one of our host arrives, earlier ones would have too.
      const sentinel = createContainer(uniqueName('sentinel'), { 'io.gitdock.host': HOST });
      docker(['rm', sentinel]);
      await waitFor('the sentinel destroy', () =>
        actionsOf(mine.events, sentinel).includes('destroy'),
      );
      await waitFor('the other host destroy', () =>
        actionsOf(other.events, otherId).includes('destroy'),
      );
      const foreign = new Set([otherId, plainId, prefixId]);
      expect(mine.events.filter((e) => foreign.has(e.containerId))).toEqual([]);
      expect(
        other.events.filter((e) => e.containerId === plainId || e.containerId === sentinel),
      ).toEqual([]);
    } finally {
      mine.controller.abort();
      other.controller.abort();
      await within(5000, 'abort', Promise.all([mine.done, other.done]));
    }
  });

  it('resolves promptly on abort and leaves no socket open', async () => {
    expect(openEventSockets()).toBe(0);
    const w = watch(HOST);
    await untilOpen(w, HOST);
    expect(openEventSockets()).toBe(1);
    const started = Date.now();
    w.controller.abort();
    await within(1000, 'the aborted watch', w.done);
    expect(Date.now() - started).toBeLessThan(1000);
    // Destroyed before the promise resolves, not left to a timeout.
    expect(openEventSockets()).toBe(0);
  });

  it('resolves at once when aborted before or while opening', async () => {
    const controller = new AbortController();
    controller.abort();
    await within(
      1000,
      'a watch aborted before',
      engine.watchEvents({ host: HOST, signal: controller.signal, onEvent: () => {} }),
    );
    const w = watch(HOST);
    w.controller.abort(); // the request is still connecting
    await within(1000, 'a watch aborted while opening', w.done);
    await waitFor('the events socket to close', () => openEventSockets() === 0, 5000);
    expect(w.events).toEqual([]);
  });

  it('ping() resolves while the engine answers', async () => {
    await engine.ping();
  });

  it('resolves when the engine stops; ping and a new watch fail until it is back', async () => {
    const w = watch(HOST);
    await untilOpen(w, HOST);
    removeTestContainers();
    let restarted = false;
    try {
      stack('down');
      // `down` returns once dockerd has exited, so the stream is already cut.
      await within(5000, 'the watch of a stopped engine', w.done);
      expect(w.controller.signal.aborted).toBe(false);
      expect(openEventSockets()).toBe(0);

      const pingError = await rejection(engine.ping());
      expect(pingError.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
      expect(pingError.message).toMatch(/^Cannot reach the Docker engine at unix:\/\/.* to ping: /);

      const watchError = await rejection(
        engine.watchEvents({ host: HOST, signal: new AbortController().signal, onEvent: () => {} }),
      );
      expect(watchError.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
      expect(watchError.message).toMatch(/to watch events: /);
      expect(watchError.data).toMatchObject({ operation: 'watch events', host: HOST });

      stack('up');
      restarted = true;
      await engine.ping();
      // The caller reconnects: a new watch works on the restarted engine.
      const again = watch(HOST);
      try {
        await untilOpen(again, HOST);
      } finally {
        again.controller.abort();
        await within(5000, 'abort', again.done);
      }
    } finally {
      if (!restarted) stack('up');
    }
  });
});
