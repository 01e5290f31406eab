/**
 * Runs a Compose project with `docker-compose` 1.29 (Debian's, the reference
 * for Compose behaviour here) against the private engine, and reduces what
 * any tool created for a project (containers, networks, volumes) to records
 * that compare equal when two tools made the same containers: names that
 * only one tool chooses (short IDs, `_1` suffixes, content-addressed file
 * paths, the project's directory) are normalised, settings are kept.
 */

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { docker, stackEnv } from './stack.js';

/** Debian's docker-compose 1.29 (scripts/stack.sh installs it). */
export const DOCKER_COMPOSE_BIN = '/usr/bin/docker-compose';

// -- running docker-compose 1.29 -------------------------------------------------

export interface ComposeRun {
  /** `-p`: the project name. */
  project: string;
  /** The project directory (a scratch copy: 1.29 creates `./data` binds in it). */
  dir: string;
  /** Compose files relative to `dir`, in `-f` order (main file first, then overrides). */
  files: string[];
  /**
   * The shell environment docker-compose sees besides PATH, HOME and
   * DOCKER_HOST (nothing else of this process leaks into interpolation).
   */
  env?: Record<string, string>;
  /** COMPOSE_PROFILES. */
  profiles?: string[];
}

export interface ComposeResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `docker-compose -p P -f ... <args>` in `run.dir`; never throws. Bounded: 240 s. */
export function composeCommand(run: ComposeRun, args: string[]): ComposeResult {
  const { command, argv, options } = composeInvocation(run, args);
  const r = spawnSync(command, argv, {
    ...options,
    encoding: 'utf8',
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The docker-compose command line and environment for `args` of `run`. */
function composeInvocation(
  run: ComposeRun,
  args: string[],
): { command: string; argv: string[]; options: { cwd: string; env: Record<string, string> } } {
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: process.env.HOME ?? '/root',
    DOCKER_HOST: stackEnv().dockerHost,
    // The deprecation notice about `docker compose` v2 and colour codes would clutter errors.
    COMPOSE_INTERACTIVE_NO_CLI: '1',
    ...(run.profiles && run.profiles.length > 0
      ? { COMPOSE_PROFILES: run.profiles.join(',') }
      : {}),
    ...run.env,
  };
  const fileArgs = run.files.flatMap((f) => ['-f', f]);
  return {
    command: DOCKER_COMPOSE_BIN,
    argv: [
      '--ansi',
      'never',
      '-p',
      run.project,
      '--project-directory',
      run.dir,
      ...fileArgs,
      ...args,
    ],
    options: { cwd: run.dir, env },
  };
}

/**
 * composeCommand without blocking the event loop, so several projects can
 * run side by side; never rejects. Bounded: killed after 240 s.
 */
export function composeCommandAsync(run: ComposeRun, args: string[]): Promise<ComposeResult> {
  const { command, argv, options } = composeInvocation(run, args);
  return new Promise((resolve) => {
    const child = spawn(command, argv, { cwd: options.cwd, env: options.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ status: null, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** `docker-compose up -d` without blocking; rejects with its output when it fails. */
export async function composeUpAsync(run: ComposeRun): Promise<void> {
  const r = await composeCommandAsync(run, ['up', '-d']);
  if (r.status !== 0) {
    throw new Error(
      `docker-compose -p ${run.project} up -d failed (status ${r.status}):\n${r.stderr}${r.stdout}`,
    );
  }
}

/** composeDown without blocking on docker-compose. */
export async function composeDownAsync(run: ComposeRun): Promise<void> {
  await composeCommandAsync(run, ['down', '-v', '--remove-orphans', '-t', '2']);
  removeByLabel(`com.docker.compose.project=${run.project}`, { volumes: true });
}

/** `docker-compose up -d`; throws with its output when it fails. */
export function composeUp(run: ComposeRun): void {
  const r = composeCommand(run, ['up', '-d']);
  if (r.status !== 0) {
    throw new Error(
      `docker-compose -p ${run.project} up -d failed (status ${r.status}):\n${r.stderr}${r.stdout}`,
    );
  }
}

/**
 * `docker-compose down -v --remove-orphans`, then removes by label whatever
 * of the project is left (a failed `up` can leave a half-made project).
 */
export function composeDown(run: ComposeRun): void {
  composeCommand(run, ['down', '-v', '--remove-orphans', '-t', '2']);
  removeByLabel(`com.docker.compose.project=${run.project}`, { volumes: true });
}

/**
 * Removes the containers, networks and (when asked) volumes carrying `label`
 * (`key=value`): the cleanup between two runs of one project.
 */
export function removeByLabel(label: string, opts: { volumes: boolean }): void {
  const ids = lines(docker(['ps', '-aq', '--filter', `label=${label}`]));
  if (ids.length > 0) docker(['rm', '-f', '-v', ...ids]);
  const nets = lines(docker(['network', 'ls', '-q', '--filter', `label=${label}`]));
  if (nets.length > 0) docker(['network', 'rm', ...nets]);
  if (opts.volumes) {
    const vols = lines(docker(['volume', 'ls', '-q', '--filter', `label=${label}`]));
    if (vols.length > 0) docker(['volume', 'rm', '-f', ...vols]);
  }
}

function lines(text: string): string[] {
  return text.split('\n').filter(Boolean);
}

// -- records ---------------------------------------------------------------------

export interface MountRecord {
  type: string;
  /** Volume: its name, or `<anonymous>`. */
  name?: string;
  /**
   * Bind: `repo:file:<sha256>` / `repo:dir:<sha256>` for a file of the
   * project (compared by content: each tool puts its copy elsewhere),
   * `data:./rel` for host data under the project's directory, else the
   * absolute path.
   */
  source?: string;
  target: string;
  rw: boolean;
  propagation?: string;
  /** `z`, `Z`, `nocopy` when given. */
  flags?: string[];
  /** tmpfs size and mode, and any other tmpfs options (sorted). */
  sizeBytes?: number;
  mode?: string;
  options?: string[];
}

export interface EndpointRecord {
  /** Without the container's short ID and name, which the tools add on their own. */
  aliases: string[];
  ipv4Address?: string;
  ipv6Address?: string;
}

export interface ContainerRecord {
  /** `<project>-<service>-<n>` or the `container_name` (1.29 names are mapped to v2's). */
  name: string;
  state: string;
  image: string;
  env: Record<string, string>;
  cmd: string[] | null;
  entrypoint: string[] | null;
  user: string;
  workingDir: string;
  hostname: string;
  domainname: string;
  labels: Record<string, string>;
  mounts: MountRecord[];
  networkMode: string;
  networks: Record<string, EndpointRecord>;
  /** `service:alias`, the tools' own container-name aliases left out. */
  links: string[];
  volumesFrom: string[];
  /** `hostIp:hostPort->port/proto` (`0.0.0.0` written as empty). */
  ports: string[];
  /** Exposed ports beyond the image's own. */
  exposed: string[];
  restart: { name: string; maxRetries: number };
  healthcheck: unknown;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  securityOpt: string[];
  devices: { pathOnHost: string; pathInContainer: string; permissions: string }[];
  sysctls: Record<string, string>;
  ulimits: { name: string; soft: number; hard: number }[];
  memory: number;
  memoryReservation: number;
  memorySwap: number;
  nanoCpus: number;
  cpuShares: number;
  cpusetCpus: string;
  pidsLimit: number | null;
  shmSize: number;
  init: boolean;
  tty: boolean;
  stdinOpen: boolean;
  stopSignal: string;
  /** Seconds (the engine's default, 10, when unset). */
  stopTimeout: number;
  logging: { type: string; config: Record<string, string> };
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
  readOnly: boolean;
  pid: string;
  ipc: string;
  groupAdd: string[];
}

export interface NetworkRecord {
  name: string;
  driver: string;
  internal: boolean;
  enableIPv6: boolean;
  /** User-chosen pools only: pools the engine picked itself differ from run to run. */
  ipam: { driver: string; config: Record<string, string>[]; options: Record<string, string> };
  options: Record<string, string>;
  labels: Record<string, string>;
}

export interface VolumeRecord {
  name: string;
  driver: string;
  options: Record<string, string>;
  labels: Record<string, string>;
}

export interface ProjectRecords {
  /** By `<service>#<n>`. */
  containers: Record<string, ContainerRecord>;
  networks: Record<string, NetworkRecord>;
  volumes: Record<string, VolumeRecord>;
}

/** Where the tool put the project's files, so bind sources can be normalised. */
export interface RecordContext {
  project: string;
  /** The project's directory in the repo (the corpus directory): its files are "repo files". */
  repoProjectDir: string;
  /** Where relative binds resolve on the host (1.29: the run dir; gitdock: the project's host dir). */
  hostProjectDir: string;
  /** Directories where a tool keeps its own copies of repo files (gitdock's state dir). */
  fileStoreDirs?: string[];
}

/** Which tool made the project: decides the labels that identify its containers. */
export type Tool = 'compose' | 'gitdock';

const OWNER_LABEL: Record<Tool, string> = {
  compose: 'com.docker.compose.project',
  gitdock: 'io.gitdock.project',
};

/** Inspects everything of `project` made by `tool` and reduces it to records. */
export function readProjectRecords(tool: Tool, ctx: RecordContext): ProjectRecords {
  const label = `${OWNER_LABEL[tool]}=${ctx.project}`;
  const ids = lines(docker(['ps', '-aq', '--no-trunc', '--filter', `label=${label}`]));
  const inspected = ids.length > 0 ? (JSON.parse(docker(['inspect', ...ids])) as Inspect[]) : [];
  const images = inspectImages(inspected.map((c) => c.Image));
  const identities = new Map(inspected.map((c) => [c.Id, identify(tool, ctx.project, c)]));
  const containers: Record<string, ContainerRecord> = {};
  for (const c of inspected) {
    const id = identities.get(c.Id)!;
    containers[id.key] = reduceContainer(c, images.get(c.Image), {
      ...ctx,
      tool,
      identities,
    });
  }

  // The networks and volumes the tool labelled as the project's, plus the
  // ones its containers use (external ones carry no owner label).
  const netNames = new Set(
    lines(docker(['network', 'ls', '--format', '{{.Name}}', '--filter', `label=${label}`])),
  );
  for (const c of inspected)
    for (const n of Object.keys(c.NetworkSettings.Networks ?? {})) netNames.add(n);
  const networks: Record<string, NetworkRecord> = {};
  if (netNames.size > 0) {
    for (const n of JSON.parse(docker(['network', 'inspect', ...netNames])) as NetInspect[]) {
      networks[n.Name] = reduceNetwork(n);
    }
  }
  const volNames = new Set(lines(docker(['volume', 'ls', '-q', '--filter', `label=${label}`])));
  for (const c of inspected) {
    for (const m of c.Mounts ?? [])
      if (m.Type === 'volume' && m.Name && !isAnonymous(m.Name)) volNames.add(m.Name);
  }
  const volumes: Record<string, VolumeRecord> = {};
  if (volNames.size > 0) {
    for (const v of JSON.parse(docker(['volume', 'inspect', ...volNames])) as VolInspect[]) {
      volumes[v.Name] = reduceVolume(v);
    }
  }
  return { containers, networks, volumes };
}

// -- inspect shapes (only what is read) -----------------------------------------------

interface Inspect {
  Id: string;
  Name: string;
  Image: string;
  State: { Status: string; ExitCode: number };
  Config: {
    Hostname: string;
    Domainname: string;
    User: string;
    Env: string[] | null;
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    Image: string;
    WorkingDir: string;
    Labels: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown> | null;
    Healthcheck?: unknown;
    Tty: boolean;
    OpenStdin: boolean;
    StopSignal?: string;
    StopTimeout?: number;
  };
  HostConfig: {
    Binds: string[] | null;
    Mounts?: ApiMount[] | null;
    Tmpfs?: Record<string, string> | null;
    NetworkMode: string;
    PortBindings: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    VolumesFrom: string[] | null;
    Links: string[] | null;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    Privileged: boolean;
    SecurityOpt: string[] | null;
    Devices: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | null;
    Sysctls?: Record<string, string> | null;
    Ulimits: { Name: string; Soft: number; Hard: number }[] | null;
    Memory: number;
    MemoryReservation: number;
    MemorySwap: number;
    NanoCpus: number;
    CpuShares: number;
    CpusetCpus: string;
    PidsLimit: number | null;
    ShmSize: number;
    Init?: boolean | null;
    LogConfig: { Type: string; Config: Record<string, string> | null };
    Dns: string[] | null;
    DnsSearch: string[] | null;
    DnsOptions: string[] | null;
    ExtraHosts: string[] | null;
    ReadonlyRootfs: boolean;
    PidMode: string;
    IpcMode: string;
    GroupAdd: string[] | null;
  };
  Mounts:
    | {
        Type: string;
        Name?: string;
        Source: string;
        Destination: string;
        Mode: string;
        RW: boolean;
        Propagation: string;
      }[]
    | null;
  NetworkSettings: {
    Networks: Record<
      string,
      {
        Aliases: string[] | null;
        Links: string[] | null;
        IPAMConfig: { IPv4Address?: string; IPv6Address?: string } | null;
      }
    > | null;
  };
}

interface ApiMount {
  Type: string;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: { NoCopy?: boolean };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

interface ImageConfig {
  Env: string[] | null;
  Labels: Record<string, string> | null;
  ExposedPorts: Record<string, unknown> | null;
}

interface NetInspect {
  Name: string;
  Driver: string;
  Internal: boolean;
  EnableIPv6: boolean;
  IPAM: {
    Driver: string;
    Options: Record<string, string> | null;
    Config: Record<string, string>[] | null;
  };
  Options: Record<string, string> | null;
  Labels: Record<string, string> | null;
}

interface VolInspect {
  Name: string;
  Driver: string;
  Options: Record<string, string> | null;
  Labels: Record<string, string> | null;
}

function inspectImages(ids: string[]): Map<string, ImageConfig> {
  const unique = [...new Set(ids)];
  const out = new Map<string, ImageConfig>();
  if (unique.length === 0) return out;
  const list = JSON.parse(docker(['image', 'inspect', ...unique])) as {
    Id: string;
    Config: ImageConfig;
  }[];
  for (const i of list) out.set(i.Id, i.Config);
  return out;
}

// -- identity ---------------------------------------------------------------------------

interface Identity {
  key: string;
  service: string;
  number: number;
  /** The container's name as the engine has it. */
  name: string;
}

/** Service and replica number of a container, from the labels of the tool that made it. */
function identify(tool: Tool, project: string, c: Inspect): Identity {
  const labels = c.Config.Labels ?? {};
  const name = c.Name.replace(/^\//, '');
  let service: string | undefined;
  let number = 1;
  if (tool === 'compose') {
    service = labels['com.docker.compose.service'];
    number = Number(labels['com.docker.compose.container-number'] ?? '1');
  } else {
    // `<project>/<service>` or `<project>/<service>#<n>` (src/core/types.ts DesiredService.name).
    const m = /^[^/]+\/([^#]+)(?:#(\d+))?$/.exec(labels['io.gitdock.service'] ?? '');
    if (m) {
      service = m[1];
      number = m[2] ? Number(m[2]) : 1;
    }
  }
  if (!service) {
    const m = new RegExp(`^${escapeRe(project)}[-_](.+)[-_](\\d+)$`).exec(name);
    service = m?.[1] ?? name;
    number = m ? Number(m[2]) : 1;
  }
  return { key: `${service}#${number}`, service, number, name };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// -- reducers (pure) ----------------------------------------------------------------------

interface ReduceContext extends RecordContext {
  tool: Tool;
  identities: Map<string, Identity>;
}

function sorted(list: string[] | null | undefined): string[] {
  return [...(list ?? [])].sort();
}

function userLabels(
  labels: Record<string, string> | null | undefined,
  inherited: Record<string, string> | null | undefined = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (k.startsWith('com.docker.compose.') || k.startsWith('io.gitdock.')) continue;
    if (inherited && inherited[k] === v) continue;
    out[k] = v;
  }
  return out;
}

function envMap(
  env: string[] | null,
  imageEnv: string[] | null | undefined,
): Record<string, string> {
  const inherited = new Set(imageEnv ?? []);
  const out: Record<string, string> = {};
  for (const entry of [...(env ?? [])].sort()) {
    if (inherited.has(entry)) continue;
    const i = entry.indexOf('=');
    // A bare `NAME` (a variable Compose found nowhere: both 1.29 and v2 pass
    // it on as written) gives the process no such variable: same as absent.
    if (i < 0) continue;
    out[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return out;
}

/** Container references (`container:<id>`, a name, an ID) written as `service:<name>`. */
function serviceRef(ref: string, ctx: ReduceContext): string {
  for (const id of ctx.identities.values()) {
    if (ref === id.name) return id.service;
  }
  for (const [full, id] of ctx.identities) {
    if (ref.length >= 12 && full.startsWith(ref)) return id.service;
  }
  return ref;
}

function namespaceMode(mode: string, ctx: ReduceContext): string {
  return mode.startsWith('container:') ? `service:${serviceRef(mode.slice(10), ctx)}` : mode;
}

/** The names the tools give a container on their own, never written in a Compose file. */
function isToolAlias(alias: string, c: Inspect, ctx: ReduceContext): boolean {
  if (c.Id.startsWith(alias) && alias.length >= 12) return true;
  for (const id of ctx.identities.values()) {
    if (alias === id.name) return true;
    const forms = [
      `${id.service}_${id.number}`,
      `${id.service}-${id.number}`,
      `${ctx.project}_${id.service}_${id.number}`,
      `${ctx.project}-${id.service}-${id.number}`,
    ];
    if (forms.includes(alias)) return true;
  }
  return false;
}

function reduceLinks(c: Inspect, ctx: ReduceContext): string[] {
  const raw = [...(c.HostConfig.Links ?? [])];
  for (const ep of Object.values(c.NetworkSettings.Networks ?? {})) raw.push(...(ep.Links ?? []));
  const out = new Set<string>();
  for (const link of raw) {
    // HostConfig form `/target:/me/alias`, endpoint form `target:alias`.
    const [target = '', aliasPath = ''] = link.split(':');
    const alias = aliasPath.slice(aliasPath.lastIndexOf('/') + 1);
    if (isToolAlias(alias, c, ctx)) continue;
    out.add(`${serviceRef(target.replace(/^\//, ''), ctx)}:${alias}`);
  }
  return [...out].sort();
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** docker's RAMInBytes: `64k`, `1m`, `65536`. */
function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(text.trim());
  if (!m) return Number.NaN;
  return Math.round(Number(m[1]) * (SIZE_UNITS[m[2]!.toLowerCase()] ?? Number.NaN));
}

function tmpfsRecord(target: string, options: string): MountRecord {
  const rec: MountRecord = { type: 'tmpfs', target, rw: true };
  const rest: string[] = [];
  for (const opt of options.split(',').filter(Boolean)) {
    const [k = '', v = ''] = opt.split('=');
    if (k === 'size') rec.sizeBytes = parseSize(v);
    else if (k === 'mode') rec.mode = Number.parseInt(v, 8).toString(8);
    else if (k === 'ro') rec.rw = false;
    else if (k !== 'rw') rest.push(opt);
  }
  if (rest.length > 0) rec.options = rest.sort();
  return rec;
}

/** sha256 of a file's bytes, or of a directory's sorted relative paths and file hashes. */
export function hashPath(p: string): string {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  const h = createHash('sha256');
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      if (fs.statSync(full).isDirectory()) walk(full, r);
      else h.update(`${r}\0${hashPath(full)}\n`);
    }
  };
  walk(p, '');
  return h.digest('hex');
}

function within(p: string, dir: string): string | undefined {
  const rel = path.relative(dir, p);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel;
}

function repoSource(hostPath: string): string {
  try {
    return `repo:${fs.statSync(hostPath).isDirectory() ? 'dir' : 'file'}:${hashPath(hostPath)}`;
  } catch {
    return `repo:missing:${hostPath}`;
  }
}

/** A bind's source as something both tools agree on (see MountRecord.source). */
export function normaliseBindSource(source: string, ctx: RecordContext): string {
  const rel = within(source, ctx.hostProjectDir);
  if (rel !== undefined) {
    return fs.existsSync(path.join(ctx.repoProjectDir, rel)) ? repoSource(source) : `data:./${rel}`;
  }
  for (const store of ctx.fileStoreDirs ?? []) {
    if (within(source, store) !== undefined) return repoSource(source);
  }
  return source;
}

function isAnonymous(name: string): boolean {
  return /^[0-9a-f]{64}$/.test(name);
}

function reduceMounts(c: Inspect, ctx: ReduceContext): MountRecord[] {
  const api = new Map((c.HostConfig.Mounts ?? []).map((m) => [m.Target, m]));
  const out: MountRecord[] = [];
  // SELinux relabelling and nocopy as asked for: `.Mounts[].Mode` cannot
  // tell, since the engine writes `z` there for every API volume mount.
  const bindFlags = new Map<string, string[]>();
  for (const bind of c.HostConfig.Binds ?? []) {
    const [, target = '', opts = ''] = bind.split(':');
    bindFlags.set(
      target,
      opts.split(',').filter((f) => f === 'z' || f === 'Z' || f === 'nocopy'),
    );
  }
  for (const m of c.Mounts ?? []) {
    if (m.Type !== 'bind' && m.Type !== 'volume') continue;
    const flags = new Set(bindFlags.get(m.Destination) ?? []);
    if (api.get(m.Destination)?.VolumeOptions?.NoCopy) flags.add('nocopy');
    const rec: MountRecord = { type: m.Type, target: m.Destination, rw: m.RW };
    if (m.Type === 'volume') rec.name = m.Name && !isAnonymous(m.Name) ? m.Name : '<anonymous>';
    else {
      rec.source = normaliseBindSource(m.Source, ctx);
      rec.propagation = m.Propagation || 'rprivate';
      // A documented difference (docs/compose.md): gitdock mounts files from
      // the repo read-only, since its copy is shared by every service and
      // commit with the same content; Compose mounts the checkout as written.
      if (ctx.tool === 'compose' && rec.source.startsWith('repo:')) rec.rw = false;
    }
    if (flags.size > 0) rec.flags = [...flags].sort();
    out.push(rec);
  }
  for (const [target, options] of Object.entries(c.HostConfig.Tmpfs ?? {}))
    out.push(tmpfsRecord(target, options));
  for (const m of c.HostConfig.Mounts ?? []) {
    if (m.Type !== 'tmpfs') continue;
    const rec: MountRecord = { type: 'tmpfs', target: m.Target, rw: !m.ReadOnly };
    if (m.TmpfsOptions?.SizeBytes) rec.sizeBytes = m.TmpfsOptions.SizeBytes;
    if (m.TmpfsOptions?.Mode) rec.mode = m.TmpfsOptions.Mode.toString(8);
    out.push(rec);
  }
  return out.sort((a, b) => a.target.localeCompare(b.target));
}

function reducePorts(bindings: Inspect['HostConfig']['PortBindings']): string[] {
  const out: string[] = [];
  for (const [port, list] of Object.entries(bindings ?? {})) {
    for (const b of list ?? []) {
      const ip = b.HostIp === '0.0.0.0' ? '' : b.HostIp;
      out.push(`${ip}:${b.HostPort}->${port}`);
    }
  }
  return out.sort();
}

/**
 * The engine's default hostname is a short container ID, different on every
 * run: its own (`<id>`), or, under `network_mode: service:X`, X's (`<id:X>`).
 */
function reduceHostname(hostname: string, c: Inspect, ctx: ReduceContext): string {
  if (!/^[0-9a-f]{12}$/.test(hostname)) return hostname;
  if (c.Id.startsWith(hostname)) return '<id>';
  for (const [full, id] of ctx.identities)
    if (full.startsWith(hostname)) return `<id:${id.service}>`;
  return hostname;
}

function reduceNetworks(c: Inspect, ctx: ReduceContext): Record<string, EndpointRecord> {
  const out: Record<string, EndpointRecord> = {};
  for (const name of Object.keys(c.NetworkSettings.Networks ?? {}).sort()) {
    const ep = c.NetworkSettings.Networks![name]!;
    const rec: EndpointRecord = {
      aliases: sorted((ep.Aliases ?? []).filter((a) => !isToolAlias(a, c, ctx))),
    };
    if (ep.IPAMConfig?.IPv4Address) rec.ipv4Address = ep.IPAMConfig.IPv4Address;
    if (ep.IPAMConfig?.IPv6Address) rec.ipv6Address = ep.IPAMConfig.IPv6Address;
    out[name] = rec;
  }
  return out;
}

/** One container's inspect reduced to what a Compose file decides. */
function reduceContainer(
  c: Inspect,
  image: ImageConfig | undefined,
  ctx: ReduceContext,
): ContainerRecord {
  const cfg = c.Config;
  const hc = c.HostConfig;
  const id = ctx.identities.get(c.Id)!;
  const imagePorts = new Set(Object.keys(image?.ExposedPorts ?? {}));
  return {
    name: id.name,
    state: c.State.Status === 'exited' ? `exited(${c.State.ExitCode})` : c.State.Status,
    image: withDefaultTag(cfg.Image),
    env: envMap(cfg.Env, image?.Env),
    cmd: cfg.Cmd ?? null,
    entrypoint: cfg.Entrypoint ?? null,
    user: cfg.User,
    workingDir: cfg.WorkingDir,
    hostname: reduceHostname(cfg.Hostname, c, ctx),
    domainname: cfg.Domainname,
    labels: userLabels(cfg.Labels, image?.Labels),
    mounts: reduceMounts(c, ctx),
    networkMode: namespaceMode(hc.NetworkMode, ctx),
    networks: reduceNetworks(c, ctx),
    links: reduceLinks(c, ctx),
    volumesFrom: sorted(
      (hc.VolumesFrom ?? []).map((v) => {
        const [ref = '', mode] = v.split(':');
        // `rw` is the engine's default: `db` and `db:rw` are the same.
        return mode && mode !== 'rw' ? `${serviceRef(ref, ctx)}:${mode}` : serviceRef(ref, ctx);
      }),
    ),
    ports: reducePorts(hc.PortBindings),
    exposed: Object.keys(cfg.ExposedPorts ?? {})
      .filter((p) => !imagePorts.has(p))
      .sort(),
    restart: {
      name: hc.RestartPolicy.Name || 'no',
      maxRetries: hc.RestartPolicy.MaximumRetryCount,
    },
    healthcheck: cfg.Healthcheck ?? null,
    capAdd: sorted(hc.CapAdd),
    capDrop: sorted(hc.CapDrop),
    privileged: hc.Privileged,
    securityOpt: sorted(hc.SecurityOpt),
    devices: (hc.Devices ?? [])
      .map((d) => ({
        pathOnHost: d.PathOnHost,
        pathInContainer: d.PathInContainer,
        permissions: d.CgroupPermissions,
      }))
      .sort((a, b) => a.pathInContainer.localeCompare(b.pathInContainer)),
    sysctls: Object.fromEntries(
      Object.entries(hc.Sysctls ?? {}).sort(([a], [b]) => a.localeCompare(b)),
    ),
    ulimits: (hc.Ulimits ?? [])
      .map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    memory: hc.Memory,
    memoryReservation: hc.MemoryReservation,
    memorySwap: hc.MemorySwap,
    nanoCpus: hc.NanoCpus,
    cpuShares: hc.CpuShares,
    cpusetCpus: hc.CpusetCpus,
    // 0 and null both mean "no limit" to the engine.
    pidsLimit: hc.PidsLimit ? hc.PidsLimit : null,
    shmSize: hc.ShmSize,
    init: hc.Init === true,
    tty: cfg.Tty,
    stdinOpen: cfg.OpenStdin,
    stopSignal: cfg.StopSignal ?? '',
    // Unset means the engine's default of 10 s: the same stop as an explicit 10.
    stopTimeout: cfg.StopTimeout ?? 10,
    logging: { type: hc.LogConfig.Type, config: hc.LogConfig.Config ?? {} },
    dns: hc.Dns ?? [],
    dnsSearch: hc.DnsSearch ?? [],
    dnsOptions: hc.DnsOptions ?? [],
    // `host:ip` and the newer `host=ip` say the same to the engine.
    extraHosts: sorted((hc.ExtraHosts ?? []).map((h) => h.replace('=', ':'))),
    readOnly: hc.ReadonlyRootfs,
    pid: namespaceMode(hc.PidMode, ctx),
    ipc: namespaceMode(hc.IpcMode, ctx),
    groupAdd: sorted(hc.GroupAdd),
  };
}

/** `repo` and `repo:latest` name the same image: written with the tag. */
function withDefaultTag(ref: string): string {
  if (ref.includes('@')) return ref;
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  return last.includes(':') ? ref : `${ref}:latest`;
}

/** Docker's default address pools: a subnet from them was picked by the engine, not the file. */
function isEnginePicked(subnet: string | undefined): boolean {
  if (!subnet) return false;
  const m = /^(\d+)\.(\d+)\./.exec(subnet);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

function reduceNetwork(n: NetInspect): NetworkRecord {
  return {
    name: n.Name,
    driver: n.Driver,
    internal: n.Internal,
    enableIPv6: n.EnableIPv6,
    ipam: {
      driver: n.IPAM.Driver || 'default',
      config: (n.IPAM.Config ?? []).filter((c) => !isEnginePicked(c.Subnet)),
      options: n.IPAM.Options ?? {},
    },
    options: n.Options ?? {},
    labels: userLabels(n.Labels),
  };
}

function reduceVolume(v: VolInspect): VolumeRecord {
  return { name: v.Name, driver: v.Driver, options: v.Options ?? {}, labels: userLabels(v.Labels) };
}

// -- 1.29 -> v2 --------------------------------------------------------------------------

/**
 * The records docker-compose 1.29 produced, changed where Compose v2's
 * documented behaviour differs (gitdock follows v2):
 * - container names are `<project>-<service>-<n>` (v2 docs, "docker compose
 *   up": "container names ... with a hyphen"; 1.29 uses `_`), unless
 *   `container_name` is set.
 */
export function toComposeV2(records: ProjectRecords, project: string): ProjectRecords {
  const containers: Record<string, ContainerRecord> = {};
  for (const [key, rec] of Object.entries(records.containers)) {
    const [service, n] = key.split('#');
    const v1Name = `${project}_${service}_${n}`;
    containers[key] = rec.name === v1Name ? { ...rec, name: `${project}-${service}-${n}` } : rec;
  }
  return { ...records, containers };
}
