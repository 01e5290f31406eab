/**
 * The Docker engine adapter against the real thing: the private dockerd and
 * registry of scripts/stack.sh (test/support/stack.ts), plus small
 * fake registries on 127.0.0.1 for what the real one will not do (fail in the
 * middle of a pull, demand a login).
 *
 * Containers run with network_mode none and are named `ge-test-*`; every one
 * is removed afterwards.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerEngine, demuxLogs, resolveDockerHost } from '../src/adapters/docker-engine.js';
import type { CreateContainerOptions, Engine, PullProgress } from '../src/core/engine.js';
import type { ContainerSpec } from '../src/core/types.js';
import { GitdockError } from '../src/errors.js';
import { removeAllContainers, stackEnv } from './support/stack.js';

// Throws unless DOCKER_HOST is the stack's private engine: these tests create and remove containers.
const STACK = stackEnv();
const REGISTRY = STACK.registry;
const PREFIX = `${REGISTRY}/gitdock-test`;
const NAME_PREFIX = 'ge-test-';
const RUN = `${NAME_PREFIX}${process.pid}`;
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

/** Drop a tag from the engine so the next pull really pulls. */
async function removeImage(ref: string): Promise<void> {
  try {
    await docker.getImage(ref).remove({ force: true });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
}

async function rejection(promise: Promise<unknown>): Promise<GitdockError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(GitdockError);
    return err as GitdockError;
  }
  throw new Error('expected a rejection');
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

function spec(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    image: `${PREFIX}/app`,
    tag: '1.0',
    environment: {},
    ports: [],
    volumes: [],
    networkMode: 'none',
    restart: 'no',
    labels: {},
    stopGracePeriodMs: 2000,
    ...overrides,
  };
}

// -- fake registries ---------------------------------------------------------

interface FakeRegistry {
  port: number;
  requests: Array<{ method: string; url: string; authorization?: string }>;
  close(): Promise<void>;
}

async function listen(handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const sha256 = (data: Buffer | string) =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A one-file tar archive (ustar), as a layer's uncompressed content. */
function tarWithFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) =>
    header.write(value.padEnd(length, '\0').slice(0, length), offset, 'latin1');
  field(0, 100, name);
  field(100, 8, '0000644');
  field(108, 8, '0000000');
  field(116, 8, '0000000');
  field(124, 12, content.length.toString(8).padStart(11, '0'));
  field(136, 12, '00000000000');
  field(156, 1, '0');
  field(257, 6, 'ustar');
  field(263, 2, '00');
  header.fill(' ', 148, 156); // the checksum counts its own field as spaces
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

/**
 * A registry serving one image (any name, any tag) with one fresh layer,
 * never seen by the engine, so its bytes always travel. With `corruptLayer`
 * the layer's bytes do not match its digest: the engine has answered 200 and
 * streamed progress by the time the layer fails, so the failure only shows
 * inside the stream.
 */
async function startFakeRegistry(options: {
  corruptLayer: boolean;
}): Promise<FakeRegistry & { layerSize: number }> {
  const tar = tarWithFile('ge-test.txt', randomBytes(3000));
  const layer = gzipSync(tar);
  const layerDigest = sha256(layer);
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/ge-test.txt'] },
    rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
  });
  const configDigest = sha256(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: Buffer.byteLength(config),
      digest: configDigest,
    },
    layers: [
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        size: layer.length,
        digest: layerDigest,
      },
    ],
  });
  const requests: FakeRegistry['requests'] = [];
  const server = await listen((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    const send = (status: number, body: string | Buffer, type: string, digest?: string) => {
      res.writeHead(status, {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(body),
        'Docker-Distribution-API-Version': 'registry/2.0',
        ...(digest ? { 'Docker-Content-Digest': digest } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const url = req.url ?? '';
    if (url === '/v2/') return send(200, '{}', 'application/json');
    if (/\/manifests\//.test(url)) {
      return send(
        200,
        manifest,
        'application/vnd.docker.distribution.manifest.v2+json',
        sha256(manifest),
      );
    }
    if (url.endsWith(`/blobs/${configDigest}`)) {
      return send(200, config, 'application/octet-stream', configDigest);
    }
    if (url.endsWith(`/blobs/${layerDigest}`)) {
      // Same length, other bytes: the digest check fails after the download.
      const body = options.corruptLayer ? randomBytes(layer.length) : layer;
      return send(200, body, 'application/octet-stream');
    }
    send(404, '{"errors":[{"code":"NOT_FOUND"}]}', 'application/json');
  });
  const port = (server.address() as AddressInfo).port;
  return { port, requests, layerSize: layer.length, close: () => closeServer(server) };
}

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
    expect(last.layersTotal).toBeGreaterThan(0);
    expect(last.layersDone).toBe(last.layersTotal);
    expect(last.bytesDone).toBe(last.bytesTotal);
    for (const p of progress) {
      expect(p.layersDone).toBeLessThanOrEqual(p.layersTotal);
      expect(p.bytesDone).toBeLessThanOrEqual(p.bytesTotal);
    }
  });

  it('counts the bytes of a layer that travels', async () => {
    const registry = await startFakeRegistry({ corruptLayer: false });
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
