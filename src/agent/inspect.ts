import type { ContainerStatus, Engine } from '../core/engine.js';
import type { Plan } from '../core/plan.js';

/** Inspects the container of every planned service, for health (list output has no restart count). */
export async function containerStatusMap(
  engine: Engine,
  plan: Plan,
): Promise<Map<string, ContainerStatus>> {
  const ids = plan.actions
    .filter((a) => a.type !== 'remove' && a.type !== 'conflict' && 'container' in a)
    .map((a) => ('container' in a ? a.container.id : ''));
  const entries = await Promise.all(
    ids.map(async (id) => {
      try {
        return [id, await engine.inspectContainer(id)] as const;
      } catch {
        return undefined; // removed meanwhile: reported Missing
      }
    }),
  );
  return new Map(entries.filter((e) => e !== undefined));
}
