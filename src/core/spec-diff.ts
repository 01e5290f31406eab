import { formatDuration } from './duration.js';
import { canonicalJson } from './spec-hash.js';
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
  before: ContainerSpec,
  after: ContainerSpec,
  context: SpecChangeContext = {},
): string[] {
  const reasons: string[] = [];
  const scalar = (name: string, a: unknown, b: unknown, format = (v: unknown) => String(v)) => {
    if (a === b) return;
    if (a === undefined) reasons.push(`${name} set to ${format(b)}`);
    else if (b === undefined) reasons.push(`${name} ${format(a)} removed`);
    else reasons.push(`${name} ${format(a)} -> ${format(b)}`);
  };
  const whole = (name: string, a: unknown, b: unknown) => {
    if (canonicalJson(a) !== canonicalJson(b)) reasons.push(`${name} changed`);
  };
  scalar('image', before.image, after.image);
  scalar('tag', before.tag, after.tag);
  scalar('digest', before.digest, after.digest, (v) => String(v).slice(0, 19));
  keyed('environment', before.environment, after.environment, reasons, false);
  keyed('labels', before.labels, after.labels, reasons, true);
  for (const field of ['command', 'entrypoint', 'ports'] as const) {
    whole(field, before[field], after[field]);
  }
  reasons.push(...describeVolumeChanges(before.volumes, after.volumes, context.projectDir));
  whole('healthcheck', before.healthcheck, after.healthcheck);
  scalar('network_mode', before.networkMode, after.networkMode);
  scalar('privileged', before.privileged, after.privileged);
  scalar('restart', before.restart, after.restart);
  scalar('user', before.user, after.user);
  scalar('working_dir', before.workingDir, after.workingDir);
  scalar('stop_grace_period', before.stopGracePeriodMs, after.stopGracePeriodMs, (v) =>
    formatDuration(Number(v)),
  );
  // The fields Compose brought, in the order of the Compose reference.
  scalar('container_name', before.containerName, after.containerName);
  scalar('hostname', before.hostname, after.hostname);
  scalar('domainname', before.domainname, after.domainname);
  reasons.push(...describeNetworkChanges(before.networks, after.networks));
  scalar('mac_address', before.macAddress, after.macAddress);
  whole('links', before.links, after.links);
  whole('volumes_from', before.volumesFrom, after.volumesFrom);
  whole('cap_add', before.capAdd, after.capAdd);
  whole('cap_drop', before.capDrop, after.capDrop);
  whole('security_opt', before.securityOpt, after.securityOpt);
  whole('devices', before.devices, after.devices);
  keyed('sysctls', before.sysctls, after.sysctls, reasons, true);
  whole('ulimits', before.ulimits, after.ulimits);
  scalar('pids_limit', before.pidsLimit, after.pidsLimit);
  scalar('shm_size', before.shmSizeBytes, after.shmSizeBytes);
  scalar('init', before.init, after.init);
  scalar('tty', before.tty, after.tty);
  scalar('stdin_open', before.stdinOpen, after.stdinOpen);
  scalar('stop_signal', before.stopSignal, after.stopSignal);
  whole('logging', before.logging, after.logging);
  whole('dns', before.dns, after.dns);
  whole('dns_search', before.dnsSearch, after.dnsSearch);
  whole('dns_opt', before.dnsOpt, after.dnsOpt);
  whole('extra_hosts', before.extraHosts, after.extraHosts);
  scalar('mem_limit', before.memLimitBytes, after.memLimitBytes);
  scalar('mem_reservation', before.memReservationBytes, after.memReservationBytes);
  scalar('memswap_limit', before.memSwapLimitBytes, after.memSwapLimitBytes);
  scalar('cpus', before.nanoCpus, after.nanoCpus, (v) => String(Number(v) / 1e9));
  scalar('cpu_shares', before.cpuShares, after.cpuShares);
  scalar('cpuset', before.cpusetCpus, after.cpusetCpus);
  scalar('read_only', before.readOnly, after.readOnly);
  scalar('pid', before.pid, after.pid);
  scalar('ipc', before.ipc, after.ipc);
  scalar('platform', before.platform, after.platform);
  whole('group_add', before.groupAdd, after.groupAdd);
  scalar('oom_score_adj', before.oomScoreAdj, after.oomScoreAdj);
  return maskSecrets(reasons, context.secretValues);
}

/**
 * `***` for every value from the host-local env file, wherever it occurs
 * (longest first, so a secret containing another is masked whole).
 */
export function maskSecrets(lines: string[], secrets: readonly string[] = []): string[] {
  const values = [...new Set(secrets.filter((s) => s.length > 0))].sort(
    (a, b) => b.length - a.length,
  );
  if (values.length === 0) return lines;
  return lines.map((line) => values.reduce((text, value) => text.split(value).join('***'), line));
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

function keyed(
  field: string,
  before: Record<string, string> = {},
  after: Record<string, string> = {},
  reasons: string[],
  showValues: boolean,
) {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const key of keys) {
    const a = before[key];
    const b = after[key];
    if (a === b) continue;
    if (a === undefined) reasons.push(`${field}.${key} added`);
    else if (b === undefined) reasons.push(`${field}.${key} removed`);
    else reasons.push(showValues ? `${field}.${key} ${a} -> ${b}` : `${field}.${key} changed`);
  }
}
