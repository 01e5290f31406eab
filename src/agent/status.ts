import type { HealthStatus, ServiceStatus, StatusError, SyncStatus } from '../core/agent-status.js';
import type { ContainerStatus } from '../core/engine.js';
import type { Plan } from '../core/plan.js';
import { maskValue, secretsToMask } from '../core/spec-hash.js';
import type { ManifestError } from '../core/types.js';
import type { ErrorCode } from '../errors.js';

export type {
  AgentStatus,
  HealthStatus,
  ServiceStatus,
  StatusError,
  SyncStatus,
} from '../core/agent-status.js';

export function manifestErrorsToStatus(errors: readonly ManifestError[]): StatusError[] {
  return errors.map((e) => ({
    code: 'GITDOCK_E_INVALID_MANIFESTS' as const,
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
  ) => { reason: string; code: ErrorCode; lastLogLines?: string[] } | undefined,
  /** Why a service waits (its image is being pulled), by name. */
  pendingOf: (service: string) => string | undefined = () => undefined,
): ServiceStatus[] {
  const out: ServiceStatus[] = [];
  for (const action of plan.actions) {
    if (!('desired' in action)) continue;
    const desired = action.desired;
    const container = 'container' in action ? action.container : undefined;
    const status = container ? inspected.get(container.id) : undefined;
    const failure = failureOf(desired.name, desired.specHash);
    // Listed as running but, by the time it was inspected, being removed (a `docker rm -f`
    // under way): not in sync, whatever the listing said.
    const vanishing = status?.state === 'removing' || status?.state === 'dead';
    let sync: SyncStatus = action.type === 'in-sync' && !vanishing ? 'Synced' : 'OutOfSync';
    let reason: string | undefined = vanishing ? `container is ${status?.state}` : undefined;
    if (action.type === 'conflict') {
      sync = 'Failed';
      reason = action.reasons.join('; ');
    } else if (failure && action.type !== 'in-sync') {
      sync = 'Failed';
      reason = failure.reason;
    } else if (action.type !== 'in-sync') {
      const pending = pendingOf(desired.name);
      reason = `${action.type}: ${action.reasons.join(', ')}${pending ? ` (${pending})` : ''}`;
    }
    const health = healthOf(action.type === 'conflict' ? undefined : status);
    // A pending change hides the health reason otherwise (a stopped container plans as
    // `start`): keep both, so an exit code still reaches /status. Missing says nothing new.
    if (reason && health.reason && health.status !== 'Missing' && action.type !== 'conflict') {
      reason = `${reason}; ${health.reason}`;
    }
    // A reason or a failed container's log may quote a value from the host-local env file.
    out.push(
      maskValue(
        {
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
          ...(sync === 'Failed'
            ? { code: action.type === 'conflict' ? 'GITDOCK_E_NAME_CONFLICT' : failure!.code }
            : {}),
          ...(sync === 'Failed' && action.type !== 'conflict' && failure?.lastLogLines
            ? { lastLogLines: failure.lastLogLines }
            : {}),
        } satisfies ServiceStatus,
        secretsToMask(desired.secretValues),
      ),
    );
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

/**
 * The services as last seen, while the engine cannot be asked: their sync
 * verdict stands, their health is Unknown (an engine that is away says
 * nothing about its containers).
 */
export function withUnknownHealth(
  services: readonly ServiceStatus[],
  why: string,
): ServiceStatus[] {
  return services.map((s) => ({ ...s, health: 'Unknown', reason: `engine unreachable: ${why}` }));
}
