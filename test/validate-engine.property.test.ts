/**
 * `gitdock validate` is a gate CI can trust: a manifest it accepts must be
 * one the engine accepts. fast-check generates manifests over the field
 * space of a gitdock service (environment, env list form, command,
 * entrypoint, user, working_dir, ports, volumes, labels, restart,
 * healthcheck, network_mode, privileged, stop_grace_period), valid and
 * invalid values mixed; each goes through loadFleet and resolveHost exactly
 * as `validate` and `apply` take it, and for a bounded sample of those
 * validate accepts, the container is created and started on the real
 * (private) engine through the engine adapter. Any refusal fails the
 * property with the manifest, and the seed is printed to replay it
 * (`GITDOCK_PROPERTY_SEED=<seed>`).
 *
 * Host-dependent fields are held to what this host has, and not generated
 * freely, because the engine's answer there depends on the host, not on the
 * manifest (validate cannot see the host):
 * - `image`/`tag`: always the stack's app image (pulling a random name asks
 *   a registry, not the engine);
 * - the executable of `command`/`entrypoint` (the first word) is one the
 *   image has; the rest of the words are free;
 * - `user` names need the image's /etc/passwd (this image has none): only
 *   numeric ids are generated as valid, names only inside garbage;
 * - `network_mode`: the test engine has no default bridge (DESIGN 7), and a
 *   named network must exist on the host, so it is `none`, `host` or the
 *   network this test creates; `container:NAME` needs another running
 *   container (checked by loadFleet against the host's services, not here);
 * - host ports are ports found free on this machine, host IPs 127.0.0.1:
 *   which addresses and ports are free is the host's business;
 * - bind sources are under this test's temp dir (the engine creates
 *   missing ones; which host paths exist is the host's business);
 * - `privileged: true` is not generated: the engine of this test machine
 *   runs where it cannot grant all capabilities.
 * Containers, volumes and the network are removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerEngine } from '../src/adapters/docker-engine.js';
import type { Engine } from '../src/core/engine.js';
import { loadFleet, resolveHost } from '../src/core/fleet.js';
import { docker, imageRef, stackEnv } from './support/stack.js';

stackEnv();
const RUN = `vgprop${process.pid}`;
const IMAGE = imageRef('app', '1.0');
const REPO = IMAGE.slice(0, IMAGE.lastIndexOf(':'));
const NETWORK = `${RUN}-net`;
const HOST = 'h1';
const COMMIT = '0'.repeat(40);
/** Accepted manifests that go to the engine: bounded, the engine is shared by one test file at a time. */
const RUNS = Number(process.env.GITDOCK_PROPERTY_RUNS ?? 40);
const SEED = Number(process.env.GITDOCK_PROPERTY_SEED ?? Date.now() % 2 ** 31);

let engine: Engine;
let bindRoot: string;
let freePorts: number[] = [];
const createdVolumes = new Set<string>();

async function findFreePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    ports.push(
      await new Promise<number>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          const address = server.address();
          const port = typeof address === 'object' && address ? address.port : 0;
          server.close(() => resolve(port));
        });
      }),
    );
  }
  return ports;
}

/** This run's containers, or (`all`) those any run of this file left behind, say after a timeout. */
function removeRunContainers(all = false): void {
  const filter = all ? 'label=vgprop.run' : `label=vgprop.run=${RUN}`;
  const ids = docker(['ps', '-aq', '--filter', filter]).split('\n').filter(Boolean);
  if (ids.length > 0) docker(['rm', '-f', '-v', ...ids]);
}

beforeAll(async () => {
  engine = createDockerEngine({});
  removeRunContainers(true);
  docker(['pull', '-q', IMAGE]);
  docker(['network', 'create', NETWORK]);
  bindRoot = mkdtempSync(join(tmpdir(), `${RUN}-`));
  freePorts = await findFreePorts(12);
});

afterAll(() => {
  removeRunContainers();
  docker(['network', 'rm', NETWORK]);
  for (const v of createdVolumes) {
    try {
      docker(['volume', 'rm', '-f', v]);
    } catch {
      // already gone
    }
  }
  if (bindRoot) rmSync(bindRoot, { recursive: true, force: true });
});

// ---- generators: valid forms, near misses and garbage, mixed ----------------

const anyText = fc.string({ maxLength: 12, unit: 'grapheme-ascii' });
const weirdText = fc.oneof(
  anyText,
  fc.string({ maxLength: 8, unit: 'binary' }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '=',
    'a=b',
    '"',
    "'",
    '\\',
    ':',
    '$HOME',
    'é',
    '\n',
  ),
);
const envKey = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/) },
  { weight: 1, arbitrary: weirdText },
);
const envValue = fc.oneof(
  { weight: 3, arbitrary: weirdText },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.double({ noNaN: true }) },
);
const environment = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(envKey, envValue, { maxKeys: 4 }) },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.oneof(
        { weight: 5, arbitrary: fc.tuple(envKey, weirdText).map(([k, v]) => `${k}=${v}`) },
        { weight: 1, arbitrary: weirdText },
      ),
      { maxLength: 4 },
    ),
  },
);
const exe = fc.constantFrom('/bin/idle', 'sleep', 'true', 'sh', '/bin/busybox');
const argvList = fc
  .tuple(exe, fc.array(weirdText, { maxLength: 3 }))
  .map(([e, rest]) => [e, ...rest]);
const argvString = fc.tuple(exe, weirdText).map(([e, rest]) => `${e} ${rest}`);
const command = fc.oneof(argvList, argvString);
const entrypoint = fc.oneof(argvList, argvString, fc.constant([] as string[]));
const uid = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 70000 }) },
  fc.integer({ min: 2 ** 31 - 3, max: 2 ** 31 + 3 }),
  fc.constant(2 ** 32),
);
const user = fc.oneof(
  { weight: 4, arbitrary: uid.map(String) },
  { weight: 4, arbitrary: fc.tuple(uid, uid).map(([u, g]) => `${u}:${g}`) },
  fc.tuple(uid, fc.constantFrom('', ':', '-1', ' ')).map(([u, g]) => `${u}:${g}`),
  // A user or group name is looked up in the image's files (host-dependent,
  // see above): garbage only, never a well-formed name.
  weirdText.filter((t) => !/^[a-zA-Z_]/.test(t)),
);
const workingDir = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^\/[a-z0-9._\- /]{0,12}$/) },
  fc.stringMatching(/^\/[a-z0-9._\- /]{0,12}$/),
  weirdText.map((t) => `/${t}`),
  weirdText,
);
const duration = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 999_999 }), fc.constantFrom('h', 'm', 's', 'ms', 'us', 'ns'))
      .map(([n, u]) => `${n}${u}`),
  },
  fc
    .tuple(fc.integer({ min: 0, max: 9_999_999 }), fc.constantFrom('h', 'm', 's', 'ms', 'us', 'ns'))
    .map(([n, u]) => `${n}${u}`),
  fc
    .tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }))
    .map(([a, b]) => `${a}m${b}s`),
  fc.double({ min: 0, max: 100, noNaN: true }).map((d) => `${d}s`),
  weirdText,
);
const restart = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('no', 'always', 'unless-stopped', 'on-failure') },
  fc.integer({ min: 0, max: 2 ** 31 + 5 }).map((n) => `on-failure:${n}`),
  weirdText,
);
const healthcheck = fc.record(
  {
    test: fc.oneof(
      argvString,
      argvList.map((a) => ['CMD', ...a]),
      argvString.map((s) => ['CMD-SHELL', s]),
      fc.constant(['NONE']),
      fc.array(weirdText, { maxLength: 2 }),
    ),
    interval: duration,
    timeout: duration,
    start_period: duration,
    retries: fc.oneof(
      fc.integer({ min: -1, max: 100 }),
      fc.constant(2 ** 31),
      fc.constant(2 ** 31 - 1),
    ),
    disable: fc.boolean(),
  },
  { requiredKeys: [] },
);
const labels = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(anyText, anyText, { maxKeys: 3 }) },
  fc.dictionary(weirdText, fc.oneof(weirdText, fc.integer(), fc.boolean(), fc.constant(null)), {
    maxKeys: 3,
  }),
  fc.array(weirdText, { maxLength: 3 }),
);
const target = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^\/[a-z0-9._-]{1,8}(\/[a-z0-9._-]{1,6})?$/) },
  fc.stringMatching(/^\/[a-z0-9._-]{1,8}(\/[a-z0-9._-]{1,6})?$/),
  weirdText.map((t) => `/${t}`),
  fc.constantFrom('/', '/.', '//', '/a/..', '/proc', '/dev/x'),
  weirdText,
);
const volumeName = fc.oneof(fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,6}$/), weirdText);
const bindSource = fc.oneof(
  fc.stringMatching(/^[a-z0-9._ -]{0,8}$/).map((s) => `BIND/${s}`),
  weirdText.filter((t) => !t.includes('/')).map((t) => `BIND/${t}`),
  weirdText,
);
const volume = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.stringMatching(/^[a-z0-9._-]{0,8}$/), target)
      .map(([s, t]) => `BIND/${s}:${t}`),
  },
  fc
    .tuple(bindSource, target, fc.constantFrom('', ':ro', ':rw', ':z'))
    .map(([s, t, m]) => `${s}:${t}${m}`),
  fc.tuple(volumeName, target, fc.constantFrom('', ':ro')).map(([s, t, m]) => `${s}:${t}${m}`),
  fc.record(
    {
      type: fc.constantFrom('bind', 'volume', 'tmpfs'),
      source: fc.oneof(bindSource, volumeName),
      target,
      read_only: fc.boolean(),
    },
    { requiredKeys: ['type', 'target'] },
  ),
);
const hostPort = fc.oneof(
  fc.integer({ min: 0, max: 11 }).map((i) => freePorts[i]!),
  fc.integer({ min: 0, max: 70000 }),
);
const containerPort = fc.oneof(
  fc.integer({ min: 1, max: 65535 }),
  fc.integer({ min: -1, max: 70000 }),
);
const port = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 65535 }).map(String) },
  containerPort.map(String),
  containerPort,
  fc.tuple(hostPort, containerPort).map(([h, c]) => `${h}:${c}`),
  fc
    .tuple(hostPort, containerPort, fc.constantFrom('/tcp', '/udp', ''))
    .map(([h, c, p]) => `127.0.0.1:${h}:${c}${p}`),
  containerPort.map((c) => `127.0.0.1::${c}`),
  fc.record(
    {
      target: containerPort,
      published: fc.oneof(hostPort, hostPort.map(String)),
      host_ip: fc.constantFrom('127.0.0.1', '0.0.0.0', 'x'),
      protocol: fc.constantFrom('tcp', 'udp'),
    },
    { requiredKeys: ['target'] },
  ),
  weirdText,
);
const networkMode = fc.oneof(
  { weight: 3, arbitrary: fc.constant(NETWORK) },
  { weight: 1, arbitrary: fc.constantFrom('none', 'host') },
);

const manifest = fc.record(
  {
    environment,
    command,
    entrypoint,
    user,
    working_dir: workingDir,
    ports: fc.array(port, { maxLength: 3 }),
    volumes: fc.array(volume, { maxLength: 3 }),
    labels,
    restart,
    healthcheck,
    network_mode: networkMode,
    // Only false: this machine's engine cannot grant a privileged container
    // its capabilities (runc: "unable to apply caps"), a host limit.
    privileged: fc.constant(false),
    stop_grace_period: duration,
  },
  { requiredKeys: ['network_mode'] },
);
const serviceName = fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,12}$/);

/** The manifest as YAML text (JSON is YAML): the bind root put in, image and tag first. */
function manifestText(fields: Record<string, unknown>): string {
  const text = JSON.stringify({ image: REPO, tag: '1.0', ...fields });
  return text.replace(/BIND\//g, `${bindRoot}/`);
}

describe('validate is a gate the engine agrees with', () => {
  it(
    `every manifest validate accepts, the engine creates and starts (seed ${SEED})`,
    async () => {
      console.log(
        `validate-engine property: seed ${SEED} (replay with GITDOCK_PROPERTY_SEED=${SEED})`,
      );
      let accepted = 0;
      let rejected = 0;
      /** Rejections by the top-level field of each error, to see the field space is covered. */
      const rejectedBy = new Map<string, number>();
      /** Accepted manifests by field, to see that the sample reaching the engine covers the fields. */
      const acceptedWith = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(serviceName, manifest, async (name, fields) => {
          const text = manifestText(fields);
          const loaded = loadFleet(
            new Map([[`hosts/${HOST}/${name}.yaml`, new TextEncoder().encode(text)]]),
          );
          if (!loaded.ok) {
            rejected++;
            for (const field of new Set(
              loaded.errors.map((e) => e.path.split('/')[1] ?? '(file)'),
            )) {
              rejectedBy.set(field, (rejectedBy.get(field) ?? 0) + 1);
            }
            fc.pre(false);
            return;
          }
          const state = resolveHost(loaded.value, HOST, COMMIT);
          if (!state.ok) {
            rejected++;
            fc.pre(false);
            return;
          }
          accepted++;
          for (const [field, value] of Object.entries(fields)) {
            if (value !== undefined) acceptedWith.set(field, (acceptedWith.get(field) ?? 0) + 1);
          }
          const service = state.value.services[0]!;
          for (const v of service.spec.volumes)
            if (v.type === 'volume' && v.source) createdVolumes.add(v.source);
          const containerName = `${RUN}-${randomUUID().slice(0, 8)}`;
          let id: string | undefined;
          try {
            id = await engine.createContainer({
              name: containerName,
              image: IMAGE,
              spec: service.spec,
              labels: { 'vgprop.run': RUN },
            });
            await engine.startContainer(id);
          } catch (err) {
            throw new Error(
              `validate accepted, the engine refused: ${(err as Error).message}\nmanifest ${name}.yaml:\n${text}`,
            );
          } finally {
            if (id) await engine.removeContainer(id).catch(() => undefined);
          }
        }),
        { seed: SEED, numRuns: RUNS, maxSkipsPerRun: 1000, endOnFailure: true },
      );
      console.log(
        `validate-engine property: ${accepted} accepted and run, ${rejected} rejected by validate (by field: ${[
          ...rejectedBy,
        ]
          .sort((a, b) => b[1] - a[1])
          .map(([f, n]) => `${f} ${n}`)
          .join(', ')}); run with: ${[...acceptedWith].map(([f, n]) => `${f} ${n}`).join(', ')}`,
      );
      expect(accepted).toBe(RUNS);
    },
    60_000 + RUNS * 3_000,
  );
});
