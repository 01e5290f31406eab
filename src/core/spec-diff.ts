import { formatDuration } from './duration.js';
import { canonicalJson } from './spec-hash.js';
import type { ContainerSpec } from './types.js';

/**
 * Field-level reasons why `before` (as recorded on the running container)
 * differs from `after` (as the commit says): `tag 1.4 -> 1.5`,
 * `environment.RAILS_ENV changed`. Both specs must be in recorded form
 * (environment values digested), so no secret ever reaches a reason.
 */
export function describeSpecChanges(before: ContainerSpec, after: ContainerSpec): string[] {
  const reasons: string[] = [];
  const scalar = (name: string, a: unknown, b: unknown, format = (v: unknown) => String(v)) => {
    if (a === b) return;
    if (a === undefined) reasons.push(`${name} set to ${format(b)}`);
    else if (b === undefined) reasons.push(`${name} ${format(a)} removed`);
    else reasons.push(`${name} ${format(a)} -> ${format(b)}`);
  };
  scalar('image', before.image, after.image);
  scalar('tag', before.tag, after.tag);
  scalar('digest', before.digest, after.digest, (v) => String(v).slice(0, 19));
  keyed('environment', before.environment, after.environment, reasons, false);
  keyed('labels', before.labels, after.labels, reasons, true);
  for (const field of ['command', 'entrypoint', 'ports', 'volumes', 'healthcheck'] as const) {
    if (canonicalJson(before[field]) !== canonicalJson(after[field])) {
      reasons.push(`${field} changed`);
    }
  }
  scalar('network_mode', before.networkMode, after.networkMode);
  scalar('privileged', before.privileged, after.privileged);
  scalar('restart', before.restart, after.restart);
  scalar('user', before.user, after.user);
  scalar('working_dir', before.workingDir, after.workingDir);
  scalar('stop_grace_period', before.stopGracePeriodMs, after.stopGracePeriodMs, (v) =>
    formatDuration(Number(v)),
  );
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
