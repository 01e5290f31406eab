import type { ContainerStatus } from '../core/engine.js';
import type { Plan } from '../core/plan.js';
import type { ManifestError } from '../core/types.js';

export type SyncStatus = 'Synced' | 'OutOfSync' | 'Failed';
export type HealthStatus = 'Healthy' | 'Progressing' | 'Degraded' | 'Missing';

export interface ServiceStatus {
  name: string;
  sync: SyncStatus;
  health: HealthStatus;
  desiredImage: string;
  runningImage: string | null;
  containerId: string | null;
  /** Commit that created the running container (its io.gitdock.commit label). */
  commit: string | null;
  /** Why it is not Synced, or not Healthy. */
  reason?: string;
  /** When Failed because a new container did not come up: its last log lines. */
  lastLogLines?: string[];
}

export interface StatusError {
  message: string;
  file?: string;
  line?: number;
  column?: number;
}

/** The agent's view, served at /status and mirrored in /metrics. */
export interface AgentStatus {
  host: string;
  branch: string;
  source: string;
  /** What the branch points at, as last read. */
  desiredCommit: string | null;
  /**
   * The commit `services` was computed against: behind `desiredCommit` while
   * a pass at a new commit runs, so a reader can tell stale verdicts.
   */
  servicesCommit: string | null;
  /** The last commit a reconcile was attempted at. */
  lastAttemptedCommit: string | null;
  /** The last commit at which every service converged. */
  lastAppliedCommit: string | null;
  lastReconcile: {
    startedAt: string;
    finishedAt: string | null;
    result: 'success' | 'failure' | 'refused' | 'invalid' | 'running';
    trigger: string;
  } | null;
  engine: { reachable: boolean; error?: string };
  git: { reachable: boolean; error?: string; lastFetchAt?: string };
  /** With --report-ref: the ref moved to each applied commit, and how that went. */
  appliedRef?: { ref: string; reportedCommit: string | null; error?: string };
  errors: StatusError[];
  services: ServiceStatus[];
}

export function manifestErrorsToStatus(errors: readonly ManifestError[]): StatusError[] {
  return errors.map((e) => ({
    message: e.message,
    file: e.file,
    ...(e.line !== undefined ? { line: e.line } : {}),
    ...(e.column !== undefined ? { column: e.column } : {}),
  }));
}

/**
 * Sync and health of every desired service, from a fresh plan (what still
 * differs), the inspected containers, and the failures the agent holds.
 * Health never drives a recreate: a crash-looping container is Degraded and
 * reported, not replaced on every pass.
 */
export function describeServices(
  plan: Plan,
  inspected: ReadonlyMap<string, ContainerStatus>,
  failureOf: (
    service: string,
    specHash: string,
  ) => { reason: string; lastLogLines?: string[] } | undefined,
): ServiceStatus[] {
  const out: ServiceStatus[] = [];
  for (const action of plan.actions) {
    if (!('desired' in action)) continue;
    const desired = action.desired;
    const container = 'container' in action ? action.container : undefined;
    const status = container ? inspected.get(container.id) : undefined;
    const failure = failureOf(desired.name, desired.specHash);
    let sync: SyncStatus = action.type === 'in-sync' ? 'Synced' : 'OutOfSync';
    let reason: string | undefined;
    if (action.type === 'conflict') {
      sync = 'Failed';
      reason = action.reasons.join('; ');
    } else if (failure && action.type !== 'in-sync') {
      sync = 'Failed';
      reason = failure.reason;
    } else if (action.type !== 'in-sync') {
      reason = `${action.type}: ${action.reasons.join(', ')}`;
    }
    const health = healthOf(action.type === 'conflict' ? undefined : status);
    // A pending change hides the health reason otherwise (a stopped container plans as
    // `start`): keep both, so an exit code still reaches /status. Missing says nothing new.
    if (reason && health.reason && health.status !== 'Missing' && action.type !== 'conflict') {
      reason = `${reason}; ${health.reason}`;
    }
    out.push({
      name: desired.name,
      sync,
      health: health.status,
      desiredImage: desired.imageRef,
      runningImage:
        container && action.type !== 'conflict'
          ? (container.labels['io.gitdock.image'] ?? null)
          : null,
      containerId: container && action.type !== 'conflict' ? container.id : null,
      commit:
        container && action.type !== 'conflict'
          ? (container.labels['io.gitdock.commit'] ?? null)
          : null,
      ...((reason ?? health.reason) ? { reason: reason ?? health.reason } : {}),
      ...(sync === 'Failed' && action.type !== 'conflict' && failure?.lastLogLines
        ? { lastLogLines: failure.lastLogLines }
        : {}),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function healthOf(status: ContainerStatus | undefined): { status: HealthStatus; reason?: string } {
  if (!status) return { status: 'Missing', reason: 'no container' };
  if (
    status.state === 'restarting' ||
    (status.running && status.restartCount > 0 && status.health !== 'healthy')
  ) {
    return {
      status: 'Degraded',
      reason: `restarting (${status.restartCount} restarts, last exit code ${status.exitCode})`,
    };
  }
  if (!status.running)
    return { status: 'Degraded', reason: `${status.state} (exit code ${status.exitCode})` };
  if (status.health === 'unhealthy')
    return { status: 'Degraded', reason: 'health check reports unhealthy' };
  if (status.health === 'starting')
    return { status: 'Progressing', reason: 'health check starting' };
  return { status: 'Healthy' };
}
