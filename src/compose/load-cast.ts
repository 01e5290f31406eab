/**
 * Compose's schema lets boolean and number fields be strings, because an
 * interpolated value (`read_only: ${RO}`) is one; compose-go then converts
 * them. So does this, for the fields whose type is plain, so `normalize`
 * sees `true`, not `"true"`. A string that does not convert is left as it
 * is for `normalize` to report at its position.
 *
 * Plain text fields that compose-go hands to the engine as Go strings are
 * unset when empty (`platform: ${DOCKER_PLATFORM:-}`): those are removed, so
 * the engine's default applies, as under Compose.
 */

import { parseBool } from './load-canonical.js';
import { isMapping } from './load-positions.js';

type Json = Record<string, unknown>;

const SERVICE_BOOLEANS = [
  'init',
  'oom_kill_disable',
  'privileged',
  'read_only',
  'stdin_open',
  'tty',
];
const SERVICE_INTEGERS = ['scale', 'cpu_count', 'cpu_percent', 'mem_swappiness', 'oom_score_adj'];
const SERVICE_NUMBERS = ['cpus', 'cpu_shares', 'cpu_quota', 'cpu_period', 'pids_limit'];
const RESOURCE_BOOLEANS = ['internal', 'attachable', 'enable_ipv4', 'enable_ipv6'];
const SERVICE_TEXT_EMPTY_IS_UNSET = [
  'cgroup_parent',
  'cpuset',
  'domainname',
  'hostname',
  'ipc',
  'mac_address',
  'network_mode',
  'pid',
  'platform',
  'restart',
  'stop_signal',
  'user',
  'userns_mode',
  'working_dir',
];

/** Converts string booleans and numbers of typed fields in place. */
export function castTypedStrings(model: Json): void {
  const services = isMapping(model.services) ? model.services : {};
  for (const svc of Object.values(services)) {
    if (!isMapping(svc)) continue;
    for (const f of SERVICE_TEXT_EMPTY_IS_UNSET) if (svc[f] === '') delete svc[f];
    castFields(svc, SERVICE_BOOLEANS, toBool);
    castFields(svc, SERVICE_INTEGERS, toInteger);
    castFields(svc, SERVICE_NUMBERS, toNumber);
    if (isMapping(svc.healthcheck)) {
      castFields(svc.healthcheck, ['disable'], toBool);
      castFields(svc.healthcheck, ['retries'], toInteger);
    }
    if (isMapping(svc.deploy)) castFields(svc.deploy, ['replicas'], toInteger);
    if (isMapping(svc.deploy) && isMapping(svc.deploy.resources)) {
      for (const part of ['limits', 'reservations'] as const) {
        const r = svc.deploy.resources[part];
        if (isMapping(r)) castFields(r, ['cpus'], toNumber);
        if (isMapping(r)) castFields(r, ['pids'], toInteger);
      }
    }
    for (const v of Array.isArray(svc.volumes) ? svc.volumes : []) {
      if (!isMapping(v)) continue;
      castFields(v, ['read_only'], toBool);
      if (isMapping(v.bind)) castFields(v.bind, ['create_host_path'], toBool);
      if (isMapping(v.volume)) castFields(v.volume, ['nocopy'], toBool);
    }
    for (const dep of Object.values(isMapping(svc.depends_on) ? svc.depends_on : {})) {
      if (isMapping(dep)) castFields(dep, ['restart', 'required'], toBool);
    }
  }
  for (const kind of ['networks', 'volumes', 'configs', 'secrets'] as const) {
    const group = model[kind];
    if (!isMapping(group)) continue;
    for (const entry of Object.values(group)) {
      if (!isMapping(entry)) continue;
      castFields(entry, ['external'], toBool);
      if (kind === 'networks') castFields(entry, RESOURCE_BOOLEANS, toBool);
    }
  }
}

function castFields(obj: Json, fields: readonly string[], cast: (s: string) => unknown) {
  for (const f of fields) {
    const v = obj[f];
    if (typeof v !== 'string') continue;
    const out = cast(v.trim());
    if (out !== undefined) obj[f] = out;
  }
}

function toBool(s: string): boolean | undefined {
  return parseBool(s);
}

function toInteger(s: string): number | undefined {
  return /^[-+]?[0-9]+$/.test(s) ? Number(s) : undefined;
}

function toNumber(s: string): number | undefined {
  return /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(s) ? Number(s) : undefined;
}
