/**
 * The engine adapter's Compose half against the private dockerd of
 * scripts/stack.sh (20.10, API 1.41): a container with every Compose-era
 * field, created as sent; service-to-service DNS on user-defined networks,
 * by name and by alias, and its isolation; a fixed IPv4 address; an
 * ephemeral published port on 127.0.0.1; files from the repo and host data
 * mounted from the state dir.
 *
 * Every container gets `dns: 127.0.0.1`, so the engine's embedded DNS sends
 * a name it does not know to the container's own loopback, where nothing
 * answers: no lookup leaves the machine, whatever the daemon's own DNS is.
 * Subnets are in 10.213.8x.0/24. Containers, networks and volumes are named
 * `gc-test-<pid>-*` and removed afterwards.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toCreateBody } from '../src/adapters/container-config.js';
import {
  compareApiVersions,
  createDockerEngine,
  resolveDockerHost,
} from '../src/adapters/docker-engine.js';
import type { CreateContainerOptions, Engine } from '../src/core/engine.js';
import type { ContainerSpec, DesiredService, ServiceNetwork } from '../src/core/types.js';
import {
  bindSourcesFor,
  materializeRepoFiles,
  pruneRepoFiles,
} from '../src/reconcile/materialize-files.js';
import { desiredNetwork, networkedSpec, rejection, spec } from './support/engine-cases.js';
import { dockerResult, imageRef, stackEnv } from './support/stack.js';

// Throws unless DOCKER_HOST is the stack's private engine: these tests create and remove containers.
const STACK = stackEnv();
const APP = imageRef('app', '1.0');
const P = `gc-test-${process.pid}-`;
/** Bounds every lookup: one try of 2 s, so a name that does not resolve fails in seconds. */
const NSLOOKUP = 'nslookup -timeout=2 -retry=1';

let engine: Engine;
let docker: Docker;
let configDir: string;
let stateDir: string;

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), 'gc-docker-config-'));
  stateDir = await mkdtemp(join(tmpdir(), 'gc-state-'));
  engine = createDockerEngine({ dockerConfigDir: configDir });
  docker = new Docker(resolveDockerHost(STACK.dockerHost, {}, configDir).modemOptions);
  await removeOurs();
  if ((await engine.imageId(APP)) === undefined) await engine.pullImage(APP);
});

afterAll(async () => {
  if (docker) {
    await removeOurs();
    // Leave the engine as the stack does: test images pushed but not pulled.
    await docker
      .getImage(APP)
      .remove({ force: true })
      .catch(() => {});
  }
  if (stateDir) {
    await pruneRepoFiles(stateDir, new Set());
    await rm(stateDir, { recursive: true, force: true });
  }
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

/** Removes this file's containers, then its networks and volumes. */
async function removeOurs(): Promise<void> {
  for (const c of await docker.listContainers({ all: true })) {
    if (c.Names.some((n) => n.startsWith(`/${P}`))) {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
    }
  }
  for (const n of await engine.listNetworks()) {
    if (n.name.startsWith(P)) await engine.removeNetwork(n.id);
  }
  for (const v of await engine.listVolumes()) {
    if (v.name.startsWith(P)) await engine.removeVolume(v.name);
  }
}

async function network(name: string, ipam?: { subnet: string; gateway?: string }): Promise<string> {
  return engine.createNetwork(
    desiredNetwork(name, ipam === undefined ? {} : { ipam: { config: [ipam] } }),
    { 'io.gitdock.project': 'gc' },
  );
}

/** Creates and starts a container of APP; its ID. */
async function run(
  name: string,
  containerSpec: ContainerSpec,
  extra: Partial<CreateContainerOptions> = {},
) {
  const id = await engine.createContainer({
    name,
    image: APP,
    spec: containerSpec,
    labels: {},
    ...extra,
  });
  await engine.startContainer(id);
  return id;
}

/** A spec on `networks` whose unknown names go to the container's own loopback. */
function onNetworks(networks: ServiceNetwork[], overrides: Partial<ContainerSpec> = {}) {
  return networkedSpec(networks, { dns: ['127.0.0.1'], ...overrides });
}

/** `docker exec` (the 20.10 CLI), bounded to 30 s. */
function exec(container: string, script: string) {
  const r = dockerResult(['exec', container, 'sh', '-c', script], { timeoutMs: 30_000 });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

/** The address nslookup gives for `name` from `container`, or undefined when it does not resolve. */
function lookup(container: string, name: string): string | undefined {
  const r = exec(container, `${NSLOOKUP} ${name}`);
  if (r.status !== 0) return undefined;
  // busybox: "Name:\tx\nAddress: 10.0.0.2" after the server's own lines.
  const after = r.out.slice(r.out.indexOf('Name:'));
  return /Address:\s*([0-9.]+)/.exec(after)?.[1];
}

function ipOn(info: Docker.ContainerInspectInfo, net: string): string {
  return info.NetworkSettings.Networks[net]?.IPAddress ?? '';
}

describe('a container with every Compose field', () => {
  it('is created as sent: inspect shows the HostConfig and Config values of the body', async () => {
    const [front, back] = [`${P}front`, `${P}back`];
    await network(front, { subnet: '10.213.81.0/24', gateway: '10.213.81.1' });
    await network(back);
    const helper = `${P}helper`;
    await run(
      helper,
      onNetworks([{ name: front }], {
        volumes: [{ type: 'volume', source: `${P}shared`, target: '/shared', readOnly: false }],
      }),
    );

    // A repo file and host data, placed by the state-dir code as apply does.
    const conf = 'listen 80;\n';
    const confSha = createHash('sha256').update(conf).digest('hex');
    await materializeRepoFiles(stateDir, [
      {
        mountSha256: confSha,
        relativePath: '',
        bytes: new TextEncoder().encode(conf),
        mode: 0o644,
      },
    ]);
    const existing = join(stateDir, 'must-exist');
    await mkdir(existing, { recursive: true });
    const containerSpec = onNetworks(
      [
        {
          name: front,
          aliases: ['web'],
          ipv4Address: '10.213.81.10',
          macAddress: '02:42:0a:d5:51:0a',
          priority: 10,
        },
        { name: back, aliases: ['api'] },
      ],
      {
        hostname: 'h1',
        domainname: 'example.internal',
        capAdd: ['NET_ADMIN'],
        capDrop: ['MKNOD'],
        securityOpt: ['no-new-privileges:true'],
        devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/xnull' }],
        sysctls: { 'net.core.somaxconn': '1024' },
        ulimits: { nofile: { soft: 1024, hard: 2048 } },
        pidsLimit: 100,
        shmSizeBytes: 67_108_864,
        init: true,
        tty: true,
        stdinOpen: true,
        stopSignal: 'SIGQUIT',
        logging: { driver: 'json-file', options: { 'max-size': '1m' } },
        dnsSearch: ['example.internal'],
        dnsOpt: ['ndots:1'],
        extraHosts: ['gateway.test:10.213.81.1'],
        memLimitBytes: 268_435_456,
        memReservationBytes: 134_217_728,
        memSwapLimitBytes: 536_870_912,
        nanoCpus: 500_000_000,
        cpuShares: 512,
        cpusetCpus: '0',
        readOnly: true,
        pid: 'host',
        ipc: 'shareable',
        groupAdd: ['29'],
        oomScoreAdj: 100,
        links: [`${helper}:alpha`],
        volumesFrom: [`${helper}:ro`],
        platform: 'linux/amd64',
        ports: [{ containerPort: 80, protocol: 'tcp', hostPort: 0, hostIp: '127.0.0.1' }],
        volumes: [
          {
            type: 'bind',
            target: '/etc/app.conf',
            readOnly: true,
            repoFile: { path: 'hosts/h/gc/app.conf', sha256: confSha, kind: 'file' },
          },
          {
            type: 'bind',
            target: '/data',
            readOnly: false,
            hostData: { project: 'gc', path: 'data' },
          },
          {
            type: 'bind',
            source: existing,
            target: '/existing',
            readOnly: true,
            noCreateHostPath: true,
          },
          {
            type: 'bind',
            source: existing,
            target: '/relabelled',
            readOnly: true,
            selinux: 'z',
            propagation: 'private',
          },
          { type: 'volume', source: `${P}cache`, target: '/cache', readOnly: false, noCopy: true },
          {
            type: 'tmpfs',
            target: '/run',
            readOnly: false,
            tmpfsSize: 1_048_576,
            tmpfsMode: 0o1777,
          },
        ],
      },
    );
    const desired = { name: 'gc/web', spec: containerSpec } as DesiredService;
    const bindSources = bindSourcesFor(desired, { stateDir });
    const name = `${P}web`;
    const options: CreateContainerOptions = {
      name,
      image: APP,
      spec: containerSpec,
      labels: { 'io.gitdock.service': 'gc/web' },
      bindSources,
    };
    const id = await run(name, containerSpec, { bindSources, labels: options.labels });
    const sent = toCreateBody(options);
    const info = await docker.getContainer(id).inspect();
    expect(info.State.Running).toBe(true);

    // Every field of the spec reached the body (the loop below then checks the engine kept it).
    expect(Object.keys(sent.HostConfig).sort()).toEqual(
      [
        'Binds',
        'CapAdd',
        'CapDrop',
        'CpuShares',
        'CpusetCpus',
        'Devices',
        'Dns',
        'DnsOptions',
        'DnsSearch',
        'ExtraHosts',
        'GroupAdd',
        'Init',
        'IpcMode',
        'Links',
        'LogConfig',
        'Memory',
        'MemoryReservation',
        'MemorySwap',
        'Mounts',
        'NanoCpus',
        'NetworkMode',
        'OomScoreAdj',
        'PidMode',
        'PidsLimit',
        'PortBindings',
        'ReadonlyRootfs',
        'RestartPolicy',
        'SecurityOpt',
        'ShmSize',
        'Sysctls',
        'Ulimits',
        'VolumesFrom',
      ].sort(),
    );
    const hostConfig = info.HostConfig as unknown as Record<string, unknown>;
    const links = sent.HostConfig.Links;
    for (const [key, value] of Object.entries(sent.HostConfig)) {
      // The engine keeps legacy links in its own `/container:/name/alias` form, and adds
      // `label=disable` to the security options of a container in the host's PID namespace.
      if (key === 'Links' || key === 'SecurityOpt') continue;
      // Subset match: the engine adds its defaults (MaximumRetryCount: 0, ...) beside what was sent.
      expect({ key, value: hostConfig[key] }).toMatchObject({ key, value });
    }
    // On a user-defined network dockerd drops HostConfig.Links; the endpoints carry them.
    expect(hostConfig.Links).toBeNull();
    expect(links).toEqual([`${helper}:alpha`]);
    expect(hostConfig.SecurityOpt).toEqual(['no-new-privileges:true', 'label=disable']);
    expect(sent.HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);
    const config = info.Config as unknown as Record<string, unknown>;
    for (const key of ['Hostname', 'Domainname', 'Tty', 'OpenStdin', 'StopSignal', 'MacAddress']) {
      expect({ key, value: config[key] }).toEqual({
        key,
        value: (sent as unknown as Record<string, unknown>)[key],
      });
    }
    expect(info.Platform).toBe('linux');

    // Both networks, the create's with its fixed address and MAC; the engine adds its own aliases.
    const nets = info.NetworkSettings.Networks;
    expect(Object.keys(nets).sort()).toEqual([back, front].sort());
    expect(nets[front]).toMatchObject({
      IPAddress: '10.213.81.10',
      IPAMConfig: { IPv4Address: '10.213.81.10' },
      MacAddress: '02:42:0a:d5:51:0a',
    });
    expect(nets[front]?.Aliases).toEqual(expect.arrayContaining(['web']));
    expect(nets[back]?.Aliases).toEqual(expect.arrayContaining(['api']));
    expect(nets[front]?.Links).toEqual([`${helper}:alpha`]);

    // Inside: what the fields do, not only how they read back.
    expect(exec(name, 'cat /etc/app.conf').out).toBe(conf.trim());
    expect(exec(name, 'echo saved > /data/note && cat /data/note').out).toBe('saved');
    expect(await readFile(join(stateDir, 'projects', 'gc', 'data', 'note'), 'utf8')).toBe(
      'saved\n',
    );
    expect(exec(name, 'hostname').out).toBe('h1');
    expect(exec(name, 'cat /proc/sys/net/core/somaxconn').out).toBe('1024');
    // The container's own process (an exec gets the hard limit as its soft one on 20.10).
    const limits = await readFile(`/proc/${info.State.Pid}/limits`, 'utf8');
    expect(limits).toMatch(/^Max open files\s+1024\s+2048\s+files/m);
    expect(exec(name, 'grep gateway.test /etc/hosts').out).toMatch(
      /^10\.213\.81\.1\s+gateway\.test/,
    );
    expect(exec(name, 'cat /etc/resolv.conf').out).toMatch(/search example\.internal/);
    expect(exec(name, 'touch /rootfs-write').status).not.toBe(0); // read_only
    expect(exec(name, 'touch /existing/x').status).not.toBe(0); // :ro
    expect(exec(name, 'ls -d /shared').out).toBe('/shared'); // volumes_from
    const helperIp = ipOn(await docker.getContainer(helper).inspect(), front);
    // links; fully qualified, or busybox tries `alpha.example.internal` (dns_search, ndots:1)
    // first, which goes to 127.0.0.1 and times out.
    expect(lookup(name, 'alpha.')).toBe(helperIp);
    expect(exec(name, 'id -G').out.split(' ')).toContain('29');
  });

  it('refuses a bind whose source is missing when create_host_path is false (the Mounts form)', async () => {
    const missing = join(stateDir, 'does-not-exist');
    const err = await rejection(
      engine.createContainer({
        name: `${P}no-source`,
        image: APP,
        spec: spec({
          volumes: [
            { type: 'bind', source: missing, target: '/x', readOnly: true, noCreateHostPath: true },
          ],
        }),
        labels: {},
      }),
    );
    expect(err).toMatchObject({ code: 'GITDOCK_E_ENGINE_REQUEST', data: { statusCode: 400 } });
    expect(err.message).toContain(`bind source path does not exist: ${missing}`);
  });

  it('sends the platform: an image of another platform is refused', async () => {
    const err = await rejection(
      engine.createContainer({
        name: `${P}s390x`,
        image: APP,
        spec: spec({ platform: 'linux/s390x' }),
        labels: {},
      }),
    );
    expect(err).toMatchObject({ code: 'GITDOCK_E_ENGINE_REQUEST', data: { statusCode: 404 } });
    expect(err.message).toContain('does not match the specified platform: wanted linux/s390x');
  });

  it('refuses a volume subpath on API 1.41 before creating anything', async () => {
    const name = `${P}subpath`;
    const err = await rejection(
      engine.createContainer({
        name,
        image: APP,
        spec: spec({
          volumes: [
            { type: 'volume', source: `${P}sub`, target: '/s', readOnly: false, subpath: 'a/b' },
          ],
        }),
        labels: {},
      }),
    );
    expect(err.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(err.message).toContain('volume subpath (on /s) needs Engine API 1.45');
    expect(err.message).toContain('speaks API 1.41');
    expect((await engine.listContainers()).some((c) => c.name === name)).toBe(false);
  });

  it('removes the half-made container when joining a second network fails', async () => {
    const net = `${P}half`;
    await network(net);
    const name = `${P}half-made`;
    // The engine refuses to connect a bridged container to the host network.
    const err = await rejection(
      engine.createContainer({
        name,
        image: APP,
        spec: onNetworks([{ name: net, priority: 1 }, { name: 'host' }]),
        labels: {},
      }),
    );
    expect(err.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(err.message).toContain(`to network host (the container was removed again)`);
    expect((await engine.listContainers()).some((c) => c.name === name)).toBe(false);
  });
});

describe('service-to-service networking', () => {
  it('resolves a container by name and alias on its network, and not from another network', async () => {
    const [shared, other] = [`${P}dns`, `${P}elsewhere`];
    await network(shared);
    await network(other);
    const [db, client, outsider] = [`${P}db`, `${P}client`, `${P}outsider`];
    await run(db, onNetworks([{ name: shared, aliases: ['database'] }]));
    await run(client, onNetworks([{ name: shared }]));
    await run(outsider, onNetworks([{ name: other }]));
    const dbIp = ipOn(await docker.getContainer(db).inspect(), shared);
    expect(dbIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    expect(lookup(client, db)).toBe(dbIp);
    expect(lookup(client, 'database')).toBe(dbIp);
    const ping = exec(client, 'ping -c1 -W2 database');
    expect(ping.status).toBe(0);
    expect(ping.out).toContain(`(${dbIp})`);

    // The outsider's DNS works (it finds itself) but knows nothing of the other network.
    const outsiderIp = ipOn(await docker.getContainer(outsider).inspect(), other);
    expect(lookup(outsider, outsider)).toBe(outsiderIp);
    expect(lookup(outsider, db)).toBeUndefined();
    expect(lookup(outsider, 'database')).toBeUndefined();
  });

  it('gives a container the fixed IPv4 address it asks for on a network with a subnet', async () => {
    const net = `${P}fixed`;
    await network(net, { subnet: '10.213.82.0/24', gateway: '10.213.82.1' });
    const [fixed, peer] = [`${P}fixed-ip`, `${P}fixed-peer`];
    await run(fixed, onNetworks([{ name: net, ipv4Address: '10.213.82.20' }]));
    await run(peer, onNetworks([{ name: net }]));
    expect(ipOn(await docker.getContainer(fixed).inspect(), net)).toBe('10.213.82.20');
    expect(exec(fixed, 'ip -4 addr show eth0').out).toContain('inet 10.213.82.20/24');
    expect(lookup(peer, fixed)).toBe('10.213.82.20');
    expect(exec(peer, 'ping -c1 -W2 10.213.82.20').status).toBe(0);
  });

  it('publishes a container port on an ephemeral port of 127.0.0.1', async () => {
    const net = `${P}published`;
    await network(net);
    const name = `${P}httpd`;
    const id = await run(
      name,
      onNetworks([{ name: net }], {
        command: [
          'sh',
          '-c',
          'mkdir -p /tmp/www && echo pong > /tmp/www/ping && exec httpd -f -p 80 -h /tmp/www',
        ],
        ports: [{ containerPort: 80, protocol: 'tcp', hostPort: 0, hostIp: '127.0.0.1' }],
      }),
    );
    const info = await docker.getContainer(id).inspect();
    const published = info.NetworkSettings.Ports['80/tcp'];
    expect(published).toHaveLength(1);
    expect(published?.[0]?.HostIp).toBe('127.0.0.1');
    const port = Number(published?.[0]?.HostPort);
    expect(port).toBeGreaterThan(0);
    expect(info.HostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
    });
    // httpd takes a moment to listen: a bounded number of tries.
    let body: string | undefined;
    for (let i = 0; i < 20 && body === undefined; i++) {
      body = await get(`http://127.0.0.1:${port}/ping`).catch(() => undefined);
      if (body === undefined) await new Promise((r) => setTimeout(r, 250));
    }
    expect(body).toBe('pong\n');
  });
});

describe('compareApiVersions', () => {
  it.each([
    ['1.41', '1.45', -1],
    ['1.45', '1.45', 0],
    ['1.47', '1.45', 1],
    ['1.9', '1.10', -1],
    ['2.0', '1.45', 1],
    ['1.41', '1.41.0', 0],
  ])('%s vs %s', (a, b, sign) => {
    expect(Math.sign(compareApiVersions(a, b))).toBe(sign);
  });
});

/** GET with a 2 s deadline; the body when 200. */
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(text) : reject(new Error(`status ${res.statusCode}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
