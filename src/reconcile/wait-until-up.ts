import type { ContainerStatus, Engine } from '../core/engine.js';
import type { HealthcheckSpec, RolloutPolicy } from '../core/types.js';
import type { Clock } from './clock.js';

/** How often a starting container is inspected. */
const POLL_MS = 100;

/** The engine's healthcheck defaults (Docker: 30 s interval and timeout, 3 retries, no start period). */
const ENGINE_HEALTH_DEFAULTS = {
  intervalMs: 30_000,
  timeoutMs: 30_000,
  retries: 3,
  startPeriodMs: 0,
};
/** The longest health gate a healthcheck's own timing can ask for: beyond it, set it explicitly. */
export const MAX_DERIVED_HEALTH_TIMEOUT_MS = 15 * 60_000;

/**
 * How long the health gate waits when the service sets no timeout of its
 * own: `fallbackMs`, or longer when the healthcheck needs it, since a check
 * every 90 s cannot pass within 60 s. The engine reports `unhealthy` after
 * `start_period` plus `retries` failed checks, each up to `interval` apart
 * and `timeout` long; the gate waits for that (capped at
 * MAX_DERIVED_HEALTH_TIMEOUT_MS), so it never gives up while the engine
 * still says `starting`. A disabled healthcheck (`NONE`) keeps the fallback.
 */
export function healthGateMs(fallbackMs: number, healthcheck: HealthcheckSpec | undefined): number {
  if (healthcheck === undefined || healthcheck.test?.[0] === 'NONE') return fallbackMs;
  const d = ENGINE_HEALTH_DEFAULTS;
  const interval = healthcheck.intervalMs || d.intervalMs;
  const timeout = healthcheck.timeoutMs || d.timeoutMs;
  const retries = healthcheck.retries || d.retries;
  const startPeriod = healthcheck.startPeriodMs ?? d.startPeriodMs;
  const needed = startPeriod + (interval + timeout) * retries;
  return Math.max(fallbackMs, Math.min(needed, MAX_DERIVED_HEALTH_TIMEOUT_MS));
}

export type UpResult = { up: true } | { up: false; reason: string; status?: ContainerStatus };

/**
 * Waits until a just-started container counts as up: healthy by its
 * HEALTHCHECK (within `healthTimeoutMs`), or, without one, still running
 * without a restart after `settleMs`. Bounded by those times; never loops on.
 */
export async function waitUntilUp(
  engine: Engine,
  id: string,
  rollout: RolloutPolicy,
  clock: Clock,
  signal?: AbortSignal,
): Promise<UpResult> {
  const started = clock.now();
  for (;;) {
    if (signal?.aborted) return { up: false, reason: abortReason(signal) };
    const status = await engine.inspectContainer(id);
    const elapsed = clock.now() - started;
    if (!status.running || status.state === 'restarting' || status.restartCount > 0) {
      return { up: false, reason: describeExit(status), status };
    }
    if (status.health !== undefined) {
      if (status.health === 'healthy') return { up: true };
      if (status.health === 'unhealthy') {
        return { up: false, reason: 'health check reports unhealthy', status };
      }
      if (elapsed >= rollout.healthTimeoutMs) {
        return {
          up: false,
          reason: `not healthy after ${Math.round(rollout.healthTimeoutMs / 1000)}s (health: ${status.health})`,
          status,
        };
      }
    } else if (elapsed >= rollout.settleMs) {
      return { up: true };
    }
    const deadline = status.health !== undefined ? rollout.healthTimeoutMs : rollout.settleMs;
    await clock.sleep(Math.max(1, Math.min(POLL_MS, deadline - elapsed)));
  }
}

/**
 * Why a pass was aborted, as its controller said (`controller.abort('preempted
 * by a newer commit')`), for messages and /status.
 */
export function abortReason(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'aborted';
}

function describeExit(status: ContainerStatus): string {
  if (status.error) return `could not start: ${status.error}`;
  if (status.state === 'restarting' || status.restartCount > 0) {
    return `restarting (exit code ${status.exitCode}, ${status.restartCount} restarts)`;
  }
  return `exited with code ${status.exitCode}`;
}
