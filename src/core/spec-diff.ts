import { formatDuration } from './duration.js';
import {
  canonicalJson,
  maskRecordedSpec,
  maskText,
  type RecordedSpec,
  secretsToMask,
} from './spec-hash.js';
import type { ContainerSpec, Mount, ServiceNetwork } from './types.js';

/** What a reason may say about the service it is for. */
export interface SpecChangeContext {
  /**
   * Repo directory of the service's project (`hosts/web-1/gitea`): a repo
   * file under it is named as the Compose file names it (`./nginx.conf`).
   */
  projectDir?: string;
  /** Values from the host-local env file: shown as `***` wherever they would appear. */
  secretValues?: readonly string[];
}

/**
 * Field-level reasons why `before` (as recorded on the running container)
 * differs from `after` (as the commit says): `tag 1.4 -> 1.5`,
 * `environment.RAILS_ENV changed`, `file ./nginx.conf changed`. Both specs
 * must be in recorded form (environment values digested), so no environment
 * value ever reaches a reason; other values that came from the host-local
 * env file (`context.secretValues`) are masked.
 */
export function describeSpecChanges(
  before: RecordedSpec,
  after: RecordedSpec,
  context: SpecChangeContext = {},
): string[] {
  // Both sides masked alike, so a field differs only where the commit changed
  // it, not where one side had the value and the other `***`; a field whose
  // only change is a host-local value (rotated) differs in its digest.
  const a = maskRecordedSpec(before, context.secretValues);
  const b = maskRecordedSpec(after, context.secretValues);
  const secretChanged = (key: string) => {
    const x = a.secretDigests?.[key];
    const y = b.secretDigests?.[key];
    return x !== undefined && y !== undefined && x !== y;
  };
  const reasons: string[] = [];
  const scalar = <K extends keyof ContainerSpec>(
    name: string,
    field: K,
    format = (v: unknown) => String(v),
  ) => {
    const x = a[field];
    const y = b[field];
    if (x === y) {
      if (secretChanged(field)) reasons.push(`${name} changed`);
    } else if (x === undefined) reasons.push(`${name} set to ${format(y)}`);
    else if (y === undefined) reasons.push(`${name} ${format(x)} removed`);
    else reasons.push(`${name} ${format(x)} -> ${format(y)}`);
  };
  const whole = <K extends keyof ContainerSpec>(name: string, field: K) => {
    if (canonicalJson(a[field]) !== canonicalJson(b[field]) || secretChanged(field)) {
      reasons.push(`${name} changed`);
    }
  };
  const keyed = (name: 'environment' | 'labels' | 'sysctls', showValues: boolean) => {
    const x: Record<string, string> = a[name] ?? {};
    const y: Record<string, string> = b[name] ?? {};
    const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
    for (const key of keys) {
      const v = x[key];
      const w = y[key];
      if (v === undefined && w !== undefined) reasons.push(`${name}.${key} added`);
      else if (w === undefined && v !== undefined) reasons.push(`${name}.${key} removed`);
      else if (v !== w && showValues) reasons.push(`${name}.${key} ${v} -> ${w}`);
      else if (v !== w || secretChanged(`${name}.${key}`)) reasons.push(`${name}.${key} changed`);
    }
  };
  scalar('image', 'image');
  scalar('tag', 'tag');
  scalar('digest', 'digest', (v) => String(v).slice(0, 19));
  keyed('environment', false);
  keyed('labels', true);
  whole('command', 'command');
  whole('entrypoint', 'entrypoint');
  whole('ports', 'ports');
  const volumes = describeVolumeChanges(a.volumes, b.volumes, context.projectDir);
  reasons.push(...volumes);
  if (volumes.length === 0 && secretChanged('volumes')) reasons.push('volumes changed');
  whole('healthcheck', 'healthcheck');
  scalar('network_mode', 'networkMode');
  scalar('privileged', 'privileged');
  scalar('restart', 'restart');
  scalar('user', 'user');
  scalar('working_dir', 'workingDir');
  scalar('stop_grace_period', 'stopGracePeriodMs', (v) => formatDuration(Number(v)));
  // The fields Compose brought, in the order of the Compose reference.
  scalar('container_name', 'containerName');
  scalar('hostname', 'hostname');
  scalar('domainname', 'domainname');
  const networks = describeNetworkChanges(a.networks, b.networks);
  reasons.push(...networks);
  if (networks.length === 0 && secretChanged('networks')) reasons.push('networks changed');
  scalar('mac_address', 'macAddress');
  whole('links', 'links');
  whole('volumes_from', 'volumesFrom');
  whole('cap_add', 'capAdd');
  whole('cap_drop', 'capDrop');
  whole('security_opt', 'securityOpt');
  whole('devices', 'devices');
  keyed('sysctls', true);
  whole('ulimits', 'ulimits');
  scalar('pids_limit', 'pidsLimit');
  scalar('shm_size', 'shmSizeBytes');
  scalar('init', 'init');
  scalar('tty', 'tty');
  scalar('stdin_open', 'stdinOpen');
  scalar('stop_signal', 'stopSignal');
  whole('logging', 'logging');
  whole('dns', 'dns');
  whole('dns_search', 'dnsSearch');
  whole('dns_opt', 'dnsOpt');
  whole('extra_hosts', 'extraHosts');
  scalar('mem_limit', 'memLimitBytes');
  scalar('mem_reservation', 'memReservationBytes');
  scalar('memswap_limit', 'memSwapLimitBytes');
  scalar('cpus', 'nanoCpus', (v) => String(Number(v) / 1e9));
  scalar('cpu_shares', 'cpuShares');
  scalar('cpuset', 'cpusetCpus');
  scalar('read_only', 'readOnly');
  scalar('pid', 'pid');
  scalar('ipc', 'ipc');
  scalar('platform', 'platform');
  whole('group_add', 'groupAdd');
  scalar('oom_score_adj', 'oomScoreAdj');
  // A value masked on neither side (a recorded spec from before masking) is caught here.
  return maskSecrets(reasons, context.secretValues);
}

/**
 * `***` for every value from the host-local env file, wherever it occurs
 * (longest first, so a secret containing another is masked whole).
 */
export function maskSecrets(lines: string[], secrets: readonly string[] = []): string[] {
  const values = secretsToMask(secrets);
  if (values.length === 0) return lines;
  return lines.map((line) => maskText(line, values));
}

/**
 * A repo file whose content changed (`file ./nginx.conf changed`) is named
 * as such; any other change of the mounts is `volumes changed`.
 */
function describeVolumeChanges(
  before: readonly Mount[] = [],
  after: readonly Mount[] = [],
  projectDir: string | undefined,
): string[] {
  if (canonicalJson(before) === canonicalJson(after)) return [];
  const files: string[] = [];
  const beforeByTarget = new Map(before.map((m) => [m.target, m]));
  // The mounts as they would be if no repo file had changed: what remains is another change.
  const unchanged = after.map((mount) => {
    const old = beforeByTarget.get(mount.target);
    if (!mount.repoFile || !old?.repoFile || old.repoFile.path !== mount.repoFile.path)
      return mount;
    if (old.repoFile.sha256 === mount.repoFile.sha256) return mount;
    files.push(`file ${displayPath(mount.repoFile.path, projectDir)} changed`);
    return { ...mount, repoFile: old.repoFile };
  });
  const rest = canonicalJson(before) === canonicalJson(unchanged) ? [] : ['volumes changed'];
  return [...files.sort(), ...rest];
}

/** `./nginx.conf` for a file under the project directory, else its repo path. */
function displayPath(path: string, projectDir: string | undefined): string {
  if (projectDir) {
    const prefix = projectDir.endsWith('/') ? projectDir : `${projectDir}/`;
    if (path.startsWith(prefix)) return `./${path.slice(prefix.length)}`;
  }
  return path;
}

/** `networks: joins x`, `networks: leaves y`, `networks.z changed` (aliases, addresses). */
function describeNetworkChanges(
  before: readonly ServiceNetwork[] = [],
  after: readonly ServiceNetwork[] = [],
): string[] {
  const a = new Map(before.map((n) => [n.name, n]));
  const b = new Map(after.map((n) => [n.name, n]));
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  const reasons: string[] = [];
  for (const name of names) {
    const x = a.get(name);
    const y = b.get(name);
    if (!x) reasons.push(`networks: joins ${name}`);
    else if (!y) reasons.push(`networks: leaves ${name}`);
    else if (canonicalJson(x) !== canonicalJson(y)) reasons.push(`networks.${name} changed`);
  }
  return reasons;
}
