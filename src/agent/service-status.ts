import type { ServiceStatus } from '../core/agent-status.js';
import type { Engine } from '../core/engine.js';
import { planHost } from '../core/plan.js';
import type { HostState } from '../core/types.js';
import type { Clock } from '../reconcile/clock.js';
import { readActualState } from '../reconcile/reconcile-host.js';
import type { BackgroundPulls } from './background-pulls.js';
import { describeHold, type Holds } from './holds.js';
import { containerStatusMap } from './inspect.js';
import { describeServices } from './status.js';

/**
 * Per-service sync and health, from a fresh look at the engine: what still
 * differs from `desired`, each container's state, the holds, the pulls
 * under way. Rejects when the engine cannot be listed.
 */
export async function readServiceStatuses(
  deps: { engine: Engine; clock: Clock; holds: Holds; pulls: BackgroundPulls },
  desired: HostState,
): Promise<ServiceStatus[]> {
  const { engine, clock, holds, pulls } = deps;
  const plan = planHost({ desired, ...(await readActualState(engine, desired)) });
  const inspected = await containerStatusMap(engine, plan);
  const pulling = new Map(pulls.running().map((p) => [p.ref, p.startedAt]));
  return describeServices(
    plan,
    inspected,
    (service, specHash) => {
      const hold = holds.get(service, specHash);
      if (!hold) return undefined;
      return {
        reason: describeHold(hold, clock.now()),
        code: hold.code,
        ...(hold.lastLogLines ? { lastLogLines: hold.lastLogLines } : {}),
      };
    },
    (service) => {
      const ref = desired.services.find((s) => s.name === service)?.imageRef;
      const since = ref === undefined ? undefined : pulling.get(ref);
      return since === undefined
        ? undefined
        : `pulling ${ref} for ${Math.round((clock.now() - since) / 1000)}s`;
    },
  );
}
