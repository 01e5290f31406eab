/**
 * The Docker engine adapter against the real thing: the private dockerd and
 * registry of scripts/stack.sh (test/support/stack.ts), plus small
 * fake registries on 127.0.0.1 for what the real one will not do (fail in the
 * middle of a pull, stall, demand a login), fake engines on unix sockets
 * (one that never answers, one with scripted answers), and a second private
 * dockerd of this file's own for a lock that must outlive an engine restart.
 *
 * Containers run with network_mode none and are named `ge-test-*`, lock
 * volumes too; every one is removed afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDockerEngine,
  demuxLogs,
  gitdockUserAgent,
  resolveDockerHost,
} from '../src/adapters/docker-engine.js';
import type { CreateContainerOptions, Engine, PullProgress } from '../src/core/engine.js';
import type { GitdockError } from '../src/errors.js';
import { rejection, spec } from './support/engine-cases.js';
import {
  closeServer,
  type FakeRegistry,
  listen,
  startFakeRegistry,
} from './support/fake-registry.js';
import { startSecondEngine } from './support/second-engine.js';
import { removeAllContainers, stackEnv } from './support/stack.js';

// Throws unless DOCKER_HOST is the stack's private engine: these tests create and remove containers.
const STACK = stackEnv();
const REGISTRY = STACK.registry;
const PREFIX = `${REGISTRY}/gitdock-test`;
const NAME_PREFIX = 'ge-test-';
const RUN = `${NAME_PREFIX}${process.pid}`;
const STACK_SH = fileURLToPath(new URL('../scripts/stack.sh', import.meta.url));
/** Nothing listens here (the brief's "registry unreachable" port). */
const DEAD_PORT = 5999;

/** Stack images these tests pull, dropped again at the end. */
const PULLED = [`${PREFIX}/app:1.0`, `${PREFIX}/crash:1.0`];

let engine: Engine;
let docker: Docker;
let emptyConfigDir: string;

beforeAll(async () => {
  // An empty docker config dir, so the machine's ~/.docker/config.json plays no part.
  emptyConfigDir = await mkdtemp(join(tmpdir(), 'ge-docker-config-'));
  engine = createDockerEngine({ dockerConfigDir: emptyConfigDir });
  docker = new Docker(resolveDockerHost(STACK.dockerHost, {}, emptyConfigDir).modemOptions);
  await removeTestContainers();
  // Containers left by other files or by hand would pin images this file removes.
  removeAllContainers();
});

afterAll(async () => {
  if (docker) {
    await removeTestContainers();
    await removeTestVolumes();
    // Leave the engine as the stack does: test images pushed but not pulled.
    for (const ref of PULLED) await removeImage(ref);
  }
  if (emptyConfigDir) await rm(emptyConfigDir, { recursive: true, force: true });
});

async function removeTestContainers(): Promise<void> {
  const all = await docker.listContainers({ all: true });
  for (const c of all) {
    if (c.Names.some((n) => n.startsWith(`/${NAME_PREFIX}`))) {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
    }
  }
}

/** Lock volumes of this file (named `ge-test-*`), left by a failed test. */
async function removeTestVolumes(): Promise<void> {
  const { Volumes } = await docker.listVolumes({ filters: { name: [NAME_PREFIX] } });
  for (const v of Volumes ?? []) {
    if (v.Name.startsWith(NAME_PREFIX)) await docker.getVolume(v.Name).remove();
  }
}

/** Drop a tag from the engine so the next pull really pulls. */
async function removeImage(ref: string): Promise<void> {
  try {
    await docker.getImage(ref).remove({ force: true });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// -- fake registries ---------------------------------------------------------

/** A proxy to the stack's registry that wants HTTP Basic `user:password` on every request. */
async function startLoginRegistry(user: string, password: string): Promise<FakeRegistry> {
  const [upstreamHost, upstreamPort] = REGISTRY.split(':') as [string, string];
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const requests: FakeRegistry['requests'] = [];
  const server = await listen((req, res) => {
    const authorization = req.headers.authorization;
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization });
    if (authorization !== expected) {
      res.writeHead(401, {
        'Content-Type': 'application/json',
        'Docker-Distribution-API-Version': 'registry/2.0',
        'WWW-Authenticate': 'Basic realm="ge-test"',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const { authorization: _drop, host: _host, ...headers } = req.headers;
    const upstream = http.request(
      {
        host: upstreamHost,
        port: Number(upstreamPort),
        path: req.url,
        method: req.method,
        headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const port = (server.address() as AddressInfo).port;
  return { port, requests, close: () => closeServer(server) };
}

// -- pure helpers --------------------------------------------------------------

describe('resolveDockerHost', () => {
  it.each([
    [undefined, { socketPath: '/var/run/docker.sock' }],
    ['', { socketPath: '/var/run/docker.sock' }],
    ['unix:///tmp/x/docker.sock', { socketPath: '/tmp/x/docker.sock' }],
    ['tcp://10.0.0.5:2375', { host: '10.0.0.5', port: '2375', protocol: 'http' }],
    ['tcp://docker.internal', { host: 'docker.internal', port: '2375', protocol: 'http' }],
  ])('DOCKER_HOST=%s', (value, expected) => {
    const { modemOptions } = resolveDockerHost(value, {}, '/nonexistent');
    expect(modemOptions).toMatchObject(expected);
    if ('socketPath' in expected) expect(modemOptions.host).toBeUndefined();
    else expect(modemOptions.socketPath).toBeUndefined();
  });

  it.each([
    ['ssh://me@host', /ssh:\/\/ scheme is not supported/],
    ['npipe:////./pipe/docker_engine', /npipe:\/\/ scheme is not supported/],
    ['localhost:2375', /write it as unix:\/\/\/path/],
  ])('refuses %s', (value, message) => {
    expect(() => resolveDockerHost(value, {}, '/nonexistent')).toThrow(message);
  });

  it('names missing TLS files', () => {
    const err = (() => {
      try {
        resolveDockerHost(
          'tcp://h:2376',
          { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nope' },
          '/x',
        );
      } catch (e) {
        return e as GitdockError;
      }
    })();
    expect(err?.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
    expect(err?.message).toContain('/nope/ca.pem');
  });
});

describe('demuxLogs', () => {
  const frame = (type: number, text: string | Buffer) => {
    const payload = Buffer.isBuffer(text) ? text : Buffer.from(text);
    const header = Buffer.alloc(8);
    header[0] = type;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };

  it('interleaves stdout and stderr frames', () => {
    const buf = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, 'out 2\n')]);
    expect(demuxLogs(buf)).toBe('out 1\nerr 1\nout 2\n');
  });

  it('joins a UTF-8 character split over two frames', () => {
    const euro = Buffer.from('€');
    const buf = Buffer.concat([frame(1, euro.subarray(0, 1)), frame(1, euro.subarray(1))]);
    expect(demuxLogs(buf)).toBe('€');
  });

  it('passes a TTY stream (no frames) through', () => {
    expect(demuxLogs(Buffer.from('plain tty output\n'))).toBe('plain tty output\n');
  });

  it('is empty for an empty log', () => {
    expect(demuxLogs(Buffer.alloc(0))).toBe('');
  });
});

// -- images --------------------------------------------------------------------

describe('pullImage', () => {
  it('follows the stream to its end, reporting per-layer progress', async () => {
    const ref = `${PREFIX}/app:1.0`;
    await removeImage(ref);
    expect(await engine.imageId(ref)).toBeUndefined();

    const progress: PullProgress[] = [];
    await engine.pullImage(ref, (p) => progress.push({ ...p }));

    // Resolved only once the image is there.
    expect(await engine.imageId(ref)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(progress.length).toBeGreaterThan(0);
    const last = progress.at(-1)!;
    expect(last.ref).toBe(ref);
    // The engine may already hold every layer of the image (other local
    // images share them; seen on a fresh CI engine): it then reports none.
    // A layer that really travels is the next test's, from a registry of
    // its own.
    expect(last.layersDone).toBe(last.layersTotal);
    expect(last.bytesDone).toBe(last.bytesTotal);
    for (const p of progress) {
      expect(p.layersDone).toBeLessThanOrEqual(p.layersTotal);
      expect(p.bytesDone).toBeLessThanOrEqual(p.bytesTotal);
    }
  });

  it('counts the bytes of a layer that travels', async () => {
    // Megabytes: the engine reports a tiny layer's download only now and then.
    const registry = await startFakeRegistry({ corruptLayer: false, layerBytes: 4 * 1024 * 1024 });
    const ref = `127.0.0.1:${registry.port}/gitdock-test/fresh:1`;
    try {
      const progress: PullProgress[] = [];
      await engine.pullImage(ref, (p) => progress.push({ ...p }));
      expect(await engine.imageId(ref)).toMatch(/^sha256:/);
      expect(progress.at(-1)).toEqual({
        ref,
        layersTotal: 1,
        layersDone: 1,
        bytesDone: registry.layerSize,
        bytesTotal: registry.layerSize,
      });
      // Progress was reported while the layer was pending, not only at the end.
      expect(progress.some((p) => p.layersDone === 0)).toBe(true);
    } finally {
      await registry.close();
      await removeImage(ref);
    }
  });

  it('rejects, and does not crash, when the progress callback throws', async () => {
    const registry = await startFakeRegistry({ corruptLayer: false });
    const ref = `127.0.0.1:${registry.port}/gitdock-test/fresh:2`;
    try {
      const err = await engine
        .pullImage(ref, () => {
          throw new Error('callback bug');
        })
        .then(
          () => undefined,
          (e: unknown) => e as GitdockError,
        );
      expect(err?.code).toBe('GITDOCK_E_PULL_FAILED');
      expect(err?.message).toContain('callback bug');
    } finally {
      await registry.close();
      await removeImage(ref);
    }
  });

  it('succeeds when the image is already up to date', async () => {
    const ref = `${PREFIX}/app:1.0`;
    const before = await engine.imageId(ref);
    await engine.pullImage(ref);
    expect(await engine.imageId(ref)).toBe(before);
  });

  it('rejects a missing tag with GITDOCK_E_PULL_FAILED naming the ref', async () => {
    const ref = `${PREFIX}/app:9.9.9-missing`;
    const err = await rejection(engine.pullImage(ref));
    expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
    expect(err.message).toContain(ref);
    expect(err.message).toMatch(/not found|manifest unknown/);
    expect(err.message).not.toMatch(/HTTP code/);
    expect(err.data).toMatchObject({ ref, registry: REGISTRY, statusCode: 404 });
  });

  it('rejects a missing repository', async () => {
    const ref = `${PREFIX}/no-such-repo:1`;
    const err = await rejection(engine.pullImage(ref));
    expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
    expect(err.message).toContain(ref);
  });

  it('rejects when the registry is unreachable, with its message', async () => {
    const ref = `127.0.0.1:${DEAD_PORT}/gitdock-test/app:1.0`;
    const err = await rejection(engine.pullImage(ref));
    expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
    expect(err.message).toContain(ref);
    expect(err.message).toContain('connection refused');
  });

  it('rejects when the stream reports an error after a 200', async () => {
    const registry = await startFakeRegistry({ corruptLayer: true });
    try {
      const ref = `127.0.0.1:${registry.port}/gitdock-test/broken:1`;
      const progress: PullProgress[] = [];
      const err = await rejection(engine.pullImage(ref, (p) => progress.push({ ...p })));
      expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
      expect(err.message).toContain(ref);
      expect(err.message).toMatch(/verification failed/);
      // The engine fetched the layer, so it had already streamed progress (status 200).
      expect(registry.requests.some((r) => r.url.includes('/blobs/'))).toBe(true);
      expect(progress.length).toBeGreaterThan(0);
      expect(await engine.imageId(ref)).toBeUndefined();
    } finally {
      await registry.close();
    }
  });

  describe('registry login from config.json', () => {
    let registry: FakeRegistry;
    let configDir: string;
    const user = 'ge-bot';
    const password = 'pa:ss';

    beforeAll(async () => {
      registry = await startLoginRegistry(user, password);
      configDir = await mkdtemp(join(tmpdir(), 'ge-docker-login-'));
    });
    afterAll(async () => {
      await registry?.close();
      if (configDir) await rm(configDir, { recursive: true, force: true });
    });

    it('pulls anonymously and fails when the registry wants a login', async () => {
      const ref = `127.0.0.1:${registry.port}/gitdock-test/app:2.0`;
      const err = await rejection(engine.pullImage(ref));
      expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
      expect(err.message).toContain(ref);
      expect(err.message).toMatch(
        /no basic auth credentials|unauthorized|authentication required/i,
      );
    });

    it('sends the auths entry of config.json', async () => {
      const host = `127.0.0.1:${registry.port}`;
      const auth = Buffer.from(`${user}:${password}`).toString('base64');
      await writeFile(
        join(configDir, 'config.json'),
        JSON.stringify({ auths: { [host]: { auth } } }),
      );
      const withLogin = createDockerEngine({ dockerConfigDir: configDir });
      const ref = `${host}/gitdock-test/app:2.0`;
      await removeImage(ref);
      await withLogin.pullImage(ref);
      expect(await withLogin.imageId(ref)).toMatch(/^sha256:/);
      expect(
        registry.requests.some((r) => r.url.includes('/manifests/2.0') && r.authorization),
      ).toBe(true);
      await removeImage(ref);
    });

    it('names a broken config.json when the pull then fails', async () => {
      await writeFile(join(configDir, 'config.json'), '{ not json');
      const withBroken = createDockerEngine({ dockerConfigDir: configDir });
      const ref = `127.0.0.1:${registry.port}/gitdock-test/app:2.0`;
      const err = await rejection(withBroken.pullImage(ref));
      expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
      expect(err.message).toContain('config.json is not valid JSON');
    });
  });
});

describe('imageId', () => {
  it('is undefined for a ref that is not on the host', async () => {
    expect(await engine.imageId(`${PREFIX}/app:9.9.9-missing`)).toBeUndefined();
    expect(await engine.imageId('ge-test-nowhere/at-all:1')).toBeUndefined();
  });
});

// -- containers ----------------------------------------------------------------

describe('container lifecycle', () => {
  const ref = `${PREFIX}/app:1.0`;
  let imageId: string;

  beforeAll(async () => {
    await engine.pullImage(ref);
    imageId = (await engine.imageId(ref))!;
  });

  it('creates, starts, inspects, stops, renames, tails logs and removes', async () => {
    const name = `${RUN}-life`;
    const renamed = `${RUN}-life-renamed`;
    const options: CreateContainerOptions = {
      name,
      image: ref,
      spec: spec({
        command: ['sh', '-c', 'echo out-line; echo err-line >&2; exec /bin/idle'],
        environment: { ZED: 'last', ALPHA: 'first' },
        labels: { team: 'web' },
        healthcheck: { test: ['CMD', 'true'], intervalMs: 500, timeoutMs: 1000, retries: 3 },
        stopGracePeriodMs: 1500,
        restart: 'on-failure:2',
      }),
      labels: { 'io.gitdock.service': 'life', 'io.gitdock.host': 'ge-test' },
    };
    const id = await engine.createContainer(options);
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    // What the engine stored.
    const raw = await docker.getContainer(id).inspect();
    expect(raw.Config.Env).toEqual(expect.arrayContaining(['ALPHA=first', 'ZED=last']));
    expect(raw.Config.Env.indexOf('ALPHA=first')).toBeLessThan(raw.Config.Env.indexOf('ZED=last'));
    expect(raw.Config.Labels).toMatchObject({
      team: 'web',
      'io.gitdock.service': 'life',
      'io.gitdock.host': 'ge-test',
    });
    expect(raw.HostConfig.NetworkMode).toBe('none');
    expect(raw.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 2 });
    expect(raw.Config.Healthcheck).toMatchObject({
      Test: ['CMD', 'true'],
      Interval: 500_000_000,
      Timeout: 1_000_000_000,
      Retries: 3,
    });
    expect((raw.Config as { StopTimeout?: number }).StopTimeout).toBe(2);

    const listed = (await engine.listContainers()).find((c) => c.id === id);
    expect(listed).toEqual({
      id,
      name,
      labels: expect.objectContaining({ 'io.gitdock.service': 'life', team: 'web' }),
      state: 'created',
      imageId,
    });

    const created = await engine.inspectContainer(id);
    expect(created).toMatchObject({ id, name, state: 'created', running: false, exitCode: 0 });
    expect(created.startedAt).toBeUndefined();

    await engine.startContainer(id);
    await engine.startContainer(id); // 304: already running
    const running = await engine.inspectContainer(id);
    expect(running).toMatchObject({ state: 'running', running: true, restartCount: 0 });
    expect(running.startedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(['starting', 'healthy']).toContain(running.health);

    await waitFor('healthy', async () =>
      (await engine.inspectContainer(id)).health === 'healthy' ? true : undefined,
    );

    const logs = await waitFor('log lines', async () => {
      const text = await engine.logTail(id, 50);
      return text.includes('ready: app 1.0') ? text : undefined;
    });
    expect(logs).toContain('out-line\n');
    expect(logs).toContain('err-line\n');
    expect(logs).not.toMatch(/[\x00-\x08]/); // no frame headers left in
    expect((await engine.logTail(id, 1)).trim()).toBe('ready: app 1.0');

    const t0 = Date.now();
    await engine.stopContainer(id, 1500);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await engine.stopContainer(id, 1500); // 304: already stopped
    const stopped = await engine.inspectContainer(id);
    expect(stopped).toMatchObject({ state: 'exited', running: false, exitCode: 0 });

    await engine.startContainer(id);
    expect((await engine.inspectContainer(id)).running).toBe(true);

    await engine.renameContainer(id, renamed);
    expect((await engine.inspectContainer(id)).name).toBe(renamed);
    expect((await engine.listContainers()).find((c) => c.id === id)?.name).toBe(renamed);

    await engine.removeContainer(id); // running: removal is forced
    const gone = await rejection(engine.inspectContainer(id));
    expect(gone.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(gone.data).toMatchObject({ statusCode: 404, operation: 'inspect container' });
    await engine.removeContainer(id); // 404: already gone
    expect((await engine.listContainers()).some((c) => c.id === id)).toBe(false);
  });

  it('reports a container that exits at once, with its stderr', async () => {
    const crashRef = `${PREFIX}/crash:1.0`;
    await engine.pullImage(crashRef);
    const id = await engine.createContainer({
      name: `${RUN}-crash`,
      image: crashRef,
      spec: spec({ image: `${PREFIX}/crash` }),
      labels: {},
    });
    await engine.startContainer(id);
    const status = await waitFor('exit', async () => {
      const s = await engine.inspectContainer(id);
      return s.running ? undefined : s;
    });
    expect(status).toMatchObject({ state: 'exited', exitCode: 3, running: false });
    expect(await engine.logTail(id, 10)).toBe('boom: crash image\n');
    await engine.removeContainer(id);
  });

  it('rejects engine errors with GITDOCK_E_ENGINE_REQUEST and the engine message', async () => {
    const missingImage = await rejection(
      engine.createContainer({
        name: `${RUN}-noimage`,
        image: `${PREFIX}/app:9.9.9-missing`,
        spec: spec(),
        labels: {},
      }),
    );
    expect(missingImage.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(missingImage.message).toMatch(/no such image/i);
    expect(missingImage.data).toMatchObject({ operation: 'create container', statusCode: 404 });

    const a = await engine.createContainer({
      name: `${RUN}-a`,
      image: ref,
      spec: spec(),
      labels: {},
    });
    const clash = await rejection(
      engine.createContainer({ name: `${RUN}-a`, image: ref, spec: spec(), labels: {} }),
    );
    expect(clash.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(clash.message).toContain('is already in use');
    expect(clash.data).toMatchObject({ statusCode: 409 });

    const b = await engine.createContainer({
      name: `${RUN}-b`,
      image: ref,
      spec: spec(),
      labels: {},
    });
    const renameClash = await rejection(engine.renameContainer(b, `${RUN}-a`));
    expect(renameClash.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(renameClash.message).toContain(b);

    const noLogs = await rejection(engine.logTail(`${RUN}-never-existed`, 5));
    expect(noLogs.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(noLogs.message).toMatch(/no such container/i);

    const noStart = await rejection(engine.startContainer(`${RUN}-never-existed`));
    expect(noStart.data).toMatchObject({ statusCode: 404 });

    await engine.removeContainer(a);
    await engine.removeContainer(b);
  });
});

// -- unreachable engine --------------------------------------------------------

describe('unreachable engine', () => {
  it('rejects with GITDOCK_E_ENGINE_UNREACHABLE naming DOCKER_HOST (no socket)', async () => {
    const dockerHost = 'unix:///tmp/ge-test-no-such-dir/docker.sock';
    const offline = createDockerEngine({ dockerHost, dockerConfigDir: emptyConfigDir });
    const err = await rejection(offline.listContainers());
    expect(err.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
    expect(err.message).toContain(dockerHost);
    expect(err.message).toMatch(/start dockerd|DOCKER_HOST/);
    expect(err.data).toMatchObject({ dockerHost, errno: 'ENOENT' });

    const pull = await rejection(offline.pullImage(`${PREFIX}/app:1.0`));
    expect(pull.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
    const imageId = await rejection(offline.imageId(`${PREFIX}/app:1.0`));
    expect(imageId.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
  });

  it('rejects with GITDOCK_E_ENGINE_UNREACHABLE when nothing listens (tcp)', async () => {
    const dockerHost = `tcp://127.0.0.1:${DEAD_PORT}`;
    const offline = createDockerEngine({ dockerHost, dockerConfigDir: emptyConfigDir });
    const err = await rejection(offline.inspectContainer('x'));
    expect(err.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
    expect(err.message).toContain(dockerHost);
    expect(err.data).toMatchObject({ errno: 'ECONNREFUSED' });
  });
});

// -- deadlines -------------------------------------------------------------------

/** How long a call with a 300 ms deadline may take before the test calls it a hang. */
const QUICK_MS = 2000;

async function timed<T>(promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await promise;
  return { value, ms: Date.now() - t0 };
}

describe('deadlines, against an engine that accepts connections and never answers', () => {
  let dir: string;
  let server: net.Server;
  let dockerHost: string;
  const sockets = new Set<net.Socket>();
  let hung: Engine;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ge-hung-'));
    const socketPath = join(dir, 'docker.sock');
    dockerHost = `unix://${socketPath}`;
    // Reads whatever is sent and never writes a byte back.
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    hung = createDockerEngine({
      dockerHost,
      dockerConfigDir: emptyConfigDir,
      requestTimeoutMs: 300,
      pullStallMs: 500,
    });
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function expectTimeout(promise: Promise<unknown>, operation: string, after = '300 ms') {
    const { value: err, ms } = await timed(rejection(promise));
    expect(ms).toBeLessThan(QUICK_MS);
    expect(err.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
    expect(err.data).toMatchObject({ operation, dockerHost, errno: 'ETIMEDOUT' });
    expect(err.message).toContain(`to ${operation}`);
    expect(err.message).toContain(`within ${after}`);
    expect(err.message).toContain('check that dockerd is running');
    return err;
  }

  it('fails list, inspect and start with ETIMEDOUT after the deadline, and closes the connections', async () => {
    await expectTimeout(hung.listContainers(), 'list containers');
    const inspect = await expectTimeout(hung.inspectContainer('ge-x'), 'inspect container');
    expect(inspect.message).toContain(dockerHost);
    expect(inspect.message).toContain('inspect container ge-x');
    await expectTimeout(hung.startContainer('ge-x'), 'start container');
    // The deadline destroyed each request, so nothing is left connected to the engine.
    await waitFor('the client to close its connections', async () =>
      sockets.size === 0 ? true : undefined,
    );
  });

  it('bounds every other call too', async () => {
    await Promise.all([
      expectTimeout(hung.imageId(`${PREFIX}/app:1.0`), 'inspect image'),
      expectTimeout(
        hung.createContainer({ name: `${RUN}-x`, image: 'x', spec: spec(), labels: {} }),
        'create container',
      ),
      expectTimeout(hung.renameContainer('ge-x', `${RUN}-y`), 'rename container'),
      expectTimeout(hung.removeContainer('ge-x'), 'remove container'),
      expectTimeout(hung.logTail('ge-x', 10), 'read container logs'),
      expectTimeout(hung.ping(), 'ping'),
      expectTimeout(hung.createLock(`${RUN}-lock`, {}), 'create lock'),
      expectTimeout(hung.findLock(`${RUN}-lock`), 'find lock'),
      expectTimeout(hung.removeLock('ge-x'), 'remove lock'),
      expectTimeout(
        hung.watchEvents({
          host: 'ge-test',
          signal: new AbortController().signal,
          onEvent: () => {},
        }),
        'watch events',
      ),
    ]);
    await waitFor('the client to close its connections', async () =>
      sockets.size === 0 ? true : undefined,
    );
  });

  it('gives a stop its grace period on top of the deadline', async () => {
    const { value: err, ms } = await timed(rejection(hung.stopContainer('ge-x', 1000)));
    expect(err.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
    expect(err.data).toMatchObject({ operation: 'stop container', errno: 'ETIMEDOUT' });
    expect(err.message).toContain('within 1.3 s');
    expect(ms).toBeGreaterThanOrEqual(1250);
    expect(ms).toBeLessThan(1300 + QUICK_MS);
  });

  it('cuts a pull the engine never answers after the stall time', async () => {
    const { value: err, ms } = await timed(rejection(hung.pullImage(`${PREFIX}/app:1.0`)));
    expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
    expect(err.data).toMatchObject({ aborted: true, stalled: true, pullStallMs: 500 });
    expect(err.message).toContain('without progress');
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(500 + QUICK_MS);
  });
});

// -- cutting a pull ----------------------------------------------------------------

describe('pullImage, cut', () => {
  it('aborting the signal cuts a pull in flight at once, saying why', async () => {
    const registry = await startFakeRegistry({ stallLayer: true });
    const ref = `127.0.0.1:${registry.port}/gitdock-test/stall:1`;
    const controller = new AbortController();
    try {
      const progress: PullProgress[] = [];
      const pull = rejection(
        engine.pullImage(ref, (p) => progress.push({ ...p }), controller.signal),
      );
      // In flight: the engine is reading the layer, which never completes.
      await waitFor('the engine to fetch the layer', async () =>
        registry.requests.some((r) => r.url.includes('/blobs/')) ? true : undefined,
      );
      const t0 = Date.now();
      controller.abort('gitdock is shutting down');
      const err = await pull;
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
      expect(err.message).toContain(ref);
      expect(err.message).toContain('cut before it finished: gitdock is shutting down');
      expect(err.data).toMatchObject({ ref, aborted: true });
      expect(err.data.stalled).toBeUndefined();
      expect(await engine.imageId(ref)).toBeUndefined();
      // dockerd 20.10 keeps its own request for the stalled layer open after its client has
      // gone; closing the registry ends it.
    } finally {
      await registry.close();
      await removeImage(ref);
    }
  });

  it('cuts a pull whose registry stalls, after pullStallMs without progress', async () => {
    const registry = await startFakeRegistry({ stallLayer: true });
    const ref = `127.0.0.1:${registry.port}/gitdock-test/stall:2`;
    const impatient = createDockerEngine({ dockerConfigDir: emptyConfigDir, pullStallMs: 1500 });
    try {
      const { value: err, ms } = await timed(rejection(impatient.pullImage(ref)));
      expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
      expect(err.message).toContain(ref);
      expect(err.message).toMatch(/cut after 1\.5 s without progress: the registry stalled/);
      expect(err.data).toMatchObject({ ref, aborted: true, stalled: true, pullStallMs: 1500 });
      expect(ms).toBeGreaterThanOrEqual(1500);
      expect(ms).toBeLessThan(15_000);
      expect(registry.requests.some((r) => r.url.includes('/blobs/'))).toBe(true);
      expect(await engine.imageId(ref)).toBeUndefined();
    } finally {
      await registry.close();
      await removeImage(ref);
    }
  });

  it('rejects at once, without asking the engine, when the signal is already aborted', async () => {
    const registry = await startFakeRegistry({});
    const ref = `127.0.0.1:${registry.port}/gitdock-test/never:1`;
    try {
      const err = await rejection(engine.pullImage(ref, undefined, AbortSignal.abort()));
      expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
      expect(err.message).toContain('cut before it finished: its caller aborted it');
      expect(err.data).toMatchObject({ aborted: true });
      expect(registry.requests).toEqual([]);
    } finally {
      await registry.close();
    }
  });
});

// -- gitdock labels inherited from an image ------------------------------------------

describe('listContainers, imageGitdockLabels', () => {
  it("shows an image's gitdock labels on a container run from a commit of a managed one", async () => {
    const ref = `${PREFIX}/app:1.0`;
    await engine.pullImage(ref);
    const labels = { 'io.gitdock.host': 'ge-test', 'io.gitdock.service': 'orig' };
    const original = await engine.createContainer({
      name: `${RUN}-orig`,
      image: ref,
      spec: spec(),
      labels,
    });
    await engine.startContainer(original);
    const committed = (await docker
      .getContainer(original)
      .commit({ repo: `${NAME_PREFIX}committed`, tag: String(process.pid) })) as { Id: string };
    try {
      // As `docker run` of the commit would: no labels of its own, the image's are inherited.
      const copy = await docker.createContainer({
        name: `${RUN}-copy`,
        Image: committed.Id,
        HostConfig: { NetworkMode: 'none' },
      });
      await copy.start();

      const listed = await engine.listContainers();
      const orig = listed.find((c) => c.id === original);
      const dup = listed.find((c) => c.id === copy.id);
      expect(orig?.labels).toMatchObject(labels);
      expect(orig && 'imageGitdockLabels' in orig).toBe(false);
      expect(dup?.labels).toMatchObject(labels);
      expect(dup?.imageId).toBe(committed.Id);
      expect(dup?.imageGitdockLabels).toEqual(labels);

      // Again, from the adapter's cache: the same answer.
      const again = (await engine.listContainers()).find((c) => c.id === copy.id);
      expect(again?.imageGitdockLabels).toEqual(labels);
    } finally {
      try {
        await removeTestContainers();
      } finally {
        await removeImage(committed.Id);
      }
    }
  });

  it("inspects each labelled container's image once, and a failed inspect does not fail the listing", async () => {
    const image = (c: string) => `sha256:${c.repeat(64)}`;
    const containers = [
      { Id: 'c1', Names: ['/broken'], Labels: { 'io.gitdock.service': 'a' }, ImageID: image('a') },
      { Id: 'c2', Names: ['/copy'], Labels: { 'io.gitdock.service': 'b' }, ImageID: image('b') },
      { Id: 'c3', Names: ['/gone'], Labels: { 'io.gitdock.service': 'c' }, ImageID: image('c') },
      { Id: 'c4', Names: ['/plain'], Labels: { team: 'web' }, ImageID: image('d') },
      { Id: 'c5', Names: ['/copy2'], Labels: { 'io.gitdock.service': 'b' }, ImageID: image('b') },
    ].map((c) => ({ ...c, State: 'running' }));
    const asked: string[] = [];
    const fake = await startFakeEngine((req, res) => {
      const url = req.url ?? '';
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.startsWith('/containers/json')) return json(200, containers);
      const m = /^\/images\/(sha256:[0-9a-f]+)\/json$/.exec(url);
      if (m) {
        asked.push(m[1]!);
        if (m[1] === image('a')) return json(500, { message: 'boom' });
        if (m[1] === image('b')) {
          return json(200, {
            Id: image('b'),
            Config: { Labels: { 'io.gitdock.service': 'b', 'io.gitdock.host': 'h', team: 'x' } },
          });
        }
        return json(404, { message: 'no such image' });
      }
      json(404, { message: 'not here' });
    });
    try {
      const list = await fake.engine.listContainers();
      const byId = new Map(list.map((c) => [c.id, c]));
      expect(list).toHaveLength(5);
      expect(byId.get('c2')?.imageGitdockLabels).toEqual({
        'io.gitdock.service': 'b',
        'io.gitdock.host': 'h',
      });
      expect(byId.get('c5')?.imageGitdockLabels).toEqual(byId.get('c2')?.imageGitdockLabels);
      for (const id of ['c1', 'c3', 'c4']) expect(byId.get(id)?.imageGitdockLabels).toBeUndefined();
      // Each image once; none for the container without gitdock labels.
      expect([...asked].sort()).toEqual([image('a'), image('b'), image('c')]);

      asked.length = 0;
      await fake.engine.listContainers();
      // The failed and the missing image are asked again; the one with labels comes from the cache.
      expect([...asked].sort()).toEqual([image('a'), image('c')]);
    } finally {
      await fake.close();
    }
  });
});

/** An HTTP server on a unix socket playing the engine, and an adapter pointed at it. */
async function startFakeEngine(
  handler: http.RequestListener,
): Promise<{ engine: Engine; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ge-fake-'));
  const socketPath = join(dir, 'docker.sock');
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    engine: createDockerEngine({
      dockerHost: `unix://${socketPath}`,
      dockerConfigDir: emptyConfigDir,
      requestTimeoutMs: 5000,
    }),
    close: async () => {
      await closeServer(server);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// -- locks -------------------------------------------------------------------------

describe('locks', () => {
  const lockName = (suffix: string) => `${RUN}-lock-${suffix}`;
  const anyToken = expect.stringMatching(/^[0-9a-f-]{36}$/);

  it('creates a lock once; a second create returns the holder', async () => {
    const name = lockName('once');
    const before = Date.now();
    const first = await engine.createLock(name, { 'io.gitdock.host': 'ge-test', holder: 'a' });
    try {
      expect(first.created).toBe(true);
      expect(first.lock).toEqual({
        id: `${name}@${first.lock.labels['io.gitdock.lock-token']}`,
        name,
        labels: {
          'io.gitdock.host': 'ge-test',
          holder: 'a',
          'io.gitdock.lock': '1',
          'io.gitdock.lock-token': anyToken,
        },
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
      const created = Date.parse(first.lock.createdAt);
      expect(created).toBeGreaterThanOrEqual(before - 5000);
      expect(created).toBeLessThanOrEqual(Date.now() + 5000);

      // What the engine holds: a local volume with those labels.
      const raw = await docker.getVolume(name).inspect();
      expect(raw).toMatchObject({ Name: name, Driver: 'local', Labels: first.lock.labels });

      const second = await engine.createLock(name, { 'io.gitdock.host': 'ge-test', holder: 'b' });
      expect(second).toEqual({ created: false, lock: first.lock });
      expect(await engine.findLock(name)).toEqual(first.lock);
    } finally {
      await engine.removeLock(first.lock.id);
    }
  });

  it('finds a lock by its exact name only', async () => {
    const longer = await engine.createLock(lockName('exact-ab'), {});
    try {
      expect(await engine.findLock(lockName('exact-a'))).toBeUndefined();
      expect(await engine.findLock(lockName('exact'))).toBeUndefined();
      expect((await engine.findLock(lockName('exact-ab')))?.id).toBe(longer.lock.id);
    } finally {
      await engine.removeLock(longer.lock.id);
    }
  });

  it('gives exactly one winner among concurrent creates of one name', async () => {
    const name = lockName('race');
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => engine.createLock(name, { holder: `w${i}` })),
      );
      const winners = results.filter((r) => r.created);
      expect(winners).toHaveLength(1);
      const { lock } = winners[0]!;
      // Every loser is told who holds it: the winner's labels, token and all.
      for (const r of results) expect(r.lock).toEqual(lock);
      await engine.removeLock(lock.id);
      expect(await engine.findLock(name)).toBeUndefined();
    }
  });

  it('removes a lock by ID; again, or one never made, is fine; never a lock taken since', async () => {
    const name = lockName('remove');
    const { lock } = await engine.createLock(name, {});
    await engine.removeLock(lock.id);
    expect(await engine.findLock(name)).toBeUndefined();
    await engine.removeLock(lock.id);
    await engine.removeLock(lockName('never'));
    // Free again: the next create wins, under an ID of its own.
    const again = await engine.createLock(name, {});
    expect(again.created).toBe(true);
    expect(again.lock.id).not.toBe(lock.id);
    // The first lock's ID does not remove the one taken since.
    await engine.removeLock(lock.id);
    expect(await engine.findLock(name)).toEqual(again.lock);
    await engine.removeLock(again.lock.id);
    expect(await engine.findLock(name)).toBeUndefined();
  });

  it('does not take, or remove, a volume of that name that is not a lock', async () => {
    const name = lockName('plain');
    await docker.createVolume({ Name: name, Labels: { team: 'web' } });
    try {
      const taken = await engine.createLock(name, { holder: 'a' });
      expect(taken).toEqual({
        created: false,
        lock: { id: name, name, labels: { team: 'web' }, createdAt: expect.any(String) },
      });
      const err = await rejection(engine.removeLock(name));
      expect(err.code).toBe('GITDOCK_E_ENGINE_REQUEST');
      expect(err.message).toContain('not a gitdock lock');
      expect((await docker.getVolume(name).inspect()).Labels).toEqual({ team: 'web' });
    } finally {
      await docker.getVolume(name).remove();
    }
  });

  it('keeps a lock across an engine restart (a private dockerd of this test)', async () => {
    // Not the shared engine: restarting it would stop the containers of whoever else is using
    // the stack. scripts/stack.sh restarts this one, since it is laid out the same way.
    const second = await startSecondEngine();
    try {
      const there = createDockerEngine({
        dockerHost: second.dockerHost,
        dockerConfigDir: emptyConfigDir,
      });
      const name = 'ge-test-lock-restart';
      const { created, lock } = await there.createLock(name, { holder: 'before' });
      expect(created).toBe(true);

      await stackSh(second.dir, 'engine-restart');

      await there.ping();
      expect(await there.findLock(name)).toEqual(lock);
      expect(await there.createLock(name, { holder: 'after' })).toEqual({ created: false, lock });
      await there.removeLock(lock.id);
      expect(await there.findLock(name)).toBeUndefined();
    } finally {
      // The restarted dockerd is not the process second.stop() knows: stop it first.
      try {
        await stackSh(second.dir, 'down');
      } finally {
        await second.stop();
      }
    }
  });
});

/**
 * `bash scripts/stack.sh <cmd>` for the stack in `dir`, bounded. Not spawnSync: the dockerd
 * being stopped is a child of this process, and only a running event loop reaps it; blocked in
 * spawnSync, it would stay a zombie that the script sees as alive.
 */
function stackSh(dir: string, cmd: string, timeoutMs = 90_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [STACK_SH, cmd], {
      env: { ...process.env, GITDOCK_STACK_DIR: dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(new Error(`stack.sh ${cmd} (${dir}) failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
}

describe('user agent', () => {
  const UA = gitdockUserAgent('0.1.0', 'ge-web-7');
  /** How dockerd 20.10 quotes our user agent inside its own (`(` and `)` escaped). */
  const UPSTREAM = 'UpstreamClient(gitdock/0.1.0 \\(host ge-web-7\\))';

  it('formats gitdock/<version> (host <name>), with nothing a header cannot carry', () => {
    expect(UA).toBe('gitdock/0.1.0 (host ge-web-7)');
    expect(gitdockUserAgent('1.0 (dev)', 'a b\nc')).toBe('gitdock/1.0__dev_ (host a_b_c)');
  });

  it('reaches the registry through the real engine as UpstreamClient(...)', async () => {
    // A registry that records who asks and knows no image: the pull fails, after
    // dockerd has asked for /v2/ and the manifest with its own user agent.
    const seen: string[] = [];
    const server = await listen((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['user-agent'] ?? ''}`);
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(
        req.url === '/v2/' ? '{}' : '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}',
      );
    });
    const port = (server.address() as AddressInfo).port;
    const ref = `127.0.0.1:${port}/gitdock-test/ua:1`;
    try {
      const named = createDockerEngine({ dockerConfigDir: emptyConfigDir, userAgent: UA });
      await rejection(named.pullImage(ref));
      const manifests = seen.filter((s) => s.includes('/manifests/'));
      expect(manifests.length).toBeGreaterThan(0);
      for (const line of manifests) expect(line).toContain(UPSTREAM);
      // Without it, dockerd names only itself: the registry cannot tell hosts apart.
      seen.length = 0;
      await rejection(engine.pullImage(ref));
      expect(seen.filter((s) => s.includes('/manifests/')).length).toBeGreaterThan(0);
      for (const line of seen) expect(line).not.toContain('UpstreamClient(gitdock');
    } finally {
      await closeServer(server);
    }
  });

  it('is sent on every kind of request: dockerode calls and the adapter’s own dials', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ge-ua-'));
    const socketPath = join(dir, 'docker.sock');
    const agents: string[] = [];
    // An engine that answers every request with an error: only the headers matter.
    const fake = http.createServer((req, res) => {
      agents.push(`${req.method} ${req.url?.split('?')[0]} ${req.headers['user-agent'] ?? '-'}`);
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"message":"fake engine"}');
    });
    await new Promise<void>((resolve) => fake.listen(socketPath, resolve));
    try {
      const named = createDockerEngine({
        dockerHost: `unix://${socketPath}`,
        dockerConfigDir: emptyConfigDir,
        userAgent: UA,
      });
      await rejection(named.ping());
      await rejection(named.listContainers());
      await rejection(named.imageId('ge-ua:1'));
      await rejection(named.pullImage('127.0.0.1:5999/ge-ua:1'));
      await rejection(named.listVolumes());
      expect(agents.map((a) => a.split(' ')[1])).toEqual(
        expect.arrayContaining(['/_ping', '/containers/json', '/images/create', '/volumes']),
      );
      expect(agents.some((a) => a.includes('/images/ge-ua:1/json'))).toBe(true);
      for (const line of agents) expect(line).toMatch(/ gitdock\/0\.1\.0 \(host ge-web-7\)$/);
    } finally {
      await closeServer(fake);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
