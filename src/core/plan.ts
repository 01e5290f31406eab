import { describeSpecChanges } from './spec-diff.js';
import { decodeSpecLabel, recordedSpec } from './spec-hash.js';
import { type ActualContainer, type DesiredService, type HostState, LABELS } from './types.js';

/**
 * Suffix of the temporary name a replacement runs under until it has proved
 * itself. Upper case cannot occur in a service name, so it never clashes.
 * (Labels cannot change after creation, so the name, not a label, tells a
 * replacement in progress from the container it became.)
 */
export const NEXT_SUFFIX = '.gitdock-NEXT';

/** The temporary name of a service's replacement container. */
export function nextName(service: string): string {
  return `${service}${NEXT_SUFFIX}`;
}

export type Action =
  | {
      type: 'create';
      service: string;
      desired: DesiredService;
      reasons: string[];
      /**
       * A replacement left under its temporary name by an update cut short
       * after the old container was removed, already made to this very spec:
       * it takes the service's name instead of a new container being made.
       */
      adopt?: ActualContainer;
    }
  | {
      type: 'recreate';
      service: string;
      desired: DesiredService;
      container: ActualContainer;
      reasons: string[];
      /** A replacement of this service was left half done: the old container counts as running. */
      interrupted?: boolean;
    }
  | {
      type: 'start';
      service: string;
      desired: DesiredService;
      container: ActualContainer;
      reasons: string[];
    }
  | { type: 'remove'; service: string; container: ActualContainer; reasons: string[] }
  /**
   * The service's container is being removed (`docker rm -f` in progress,
   * state `removing`): nothing can be done to it; it is created again once
   * the engine has finished (a pass soon after looks again).
   */
  | {
      type: 'wait';
      service: string;
      desired: DesiredService;
      container: ActualContainer;
      reasons: string[];
    }
  | { type: 'in-sync'; service: string; desired: DesiredService; container: ActualContainer }
  /** A container gitdock does not manage holds the service's name: reported, never touched. */
  | {
      type: 'conflict';
      service: string;
      desired: DesiredService;
      container: ActualContainer;
      reasons: string[];
    };

export type ActionType = Action['type'];

export interface PlanInput {
  desired: HostState;
  /** Every container on the engine. */
  actual: readonly ActualContainer[];
  /**
   * Local image IDs by reference, for references already pulled in this
   * apply (`pull: always`). A running container whose image differs from
   * what its reference now resolves to is recreated.
   */
  imageIds?: ReadonlyMap<string, string>;
}

export interface Plan {
  host: string;
  commit: string;
  /** Removals first (reverse dependency order), then services in start order. */
  actions: Action[];
  /** Refusal of the whole plan (nothing may be done), with the reason. */
  refused?: string;
}

/** True when the plan would change something on the engine. */
export function hasChanges(plan: Plan): boolean {
  return plan.actions.some((a) => a.type !== 'in-sync' && a.type !== 'conflict');
}

/**
 * Desired vs actual: what to do to each container, and why. Pure and
 * deterministic. Only containers labelled for this host are ever acted on;
 * anything else holding a service's name is a conflict.
 */
export function planHost({ desired, actual, imageIds }: PlanInput): Plan {
  const host = desired.host;
  const managed = actual.filter((c) => isManagedBy(c, host));
  const byName = new Map(actual.map((c) => [c.name, c]));
  const desiredNames = new Set(desired.services.map((s) => s.name));

  // Managed containers not under their service's own name are replacements
  // left by an interrupted apply, or copies renamed by hand: removed (but
  // for a replacement that can finish its update: adopted, below).
  const current = managed.filter((c) => c.name === c.labels[LABELS.service]);
  const strays = managed.filter((c) => c.name !== c.labels[LABELS.service]);
  // A replacement left under its temporary name means the update of that
  // service was cut short (a SIGKILL): its old container may be stopped only
  // because the update stopped it.
  const interrupted = new Set(
    strays
      .filter((c) => c.name === nextName(c.labels[LABELS.service]!))
      .map((c) => c.labels[LABELS.service]!),
  );
  const orphans = current.filter((c) => !desiredNames.has(c.labels[LABELS.service]!));
  // An update cut short between removing the old container and renaming the
  // new one leaves only `<service>.gitdock-NEXT`: when it was made to the
  // spec wanted now, the update is finished (it takes the name), not redone.
  const adoptable = new Map<string, ActualContainer>();
  for (const service of desired.services) {
    const next = byName.get(nextName(service.name));
    if (
      next &&
      !byName.has(service.name) &&
      next.labels[LABELS.host] === host &&
      next.labels[LABELS.service] === service.name &&
      next.labels[LABELS.specHash] === service.specHash
    ) {
      adoptable.set(service.name, next);
    }
  }
  const adopted = new Set([...adoptable.values()]);
  const removals: Action[] = removalOrder(
    // One the engine is already removing is on its way out: a second removal would be refused.
    [...strays, ...orphans].filter((c) => !adopted.has(c) && c.state !== 'removing'),
  ).map((c) => {
    const service = c.labels[LABELS.service]!;
    const reason = c.name.endsWith(NEXT_SUFFIX)
      ? 'left over from an interrupted update'
      : c.name !== service
        ? `container "${c.name}" is a stray copy of ${service}`
        : `service no longer in git for host ${host}`;
    return { type: 'remove', service, container: c, reasons: [reason] };
  });

  if (desired.services.length === 0 && current.length > 0 && !desired.allowEmpty) {
    return {
      host,
      commit: desired.commit,
      actions: [],
      refused:
        // Stopped containers count: they are services the host has, not just runs.
        `this revision would remove every service of host ${host} (${current.length} ${current.length === 1 ? 'container' : 'containers'}); ` +
        `if that is intended, set hosts.${host}.allow_empty: true in gitdock.yaml`,
    };
  }

  const actions: Action[] = [...removals];
  for (const service of desired.services) {
    const container = byName.get(service.name);
    const adopt = adoptable.get(service.name);
    if (!container && adopt) {
      actions.push({
        type: 'create',
        service: service.name,
        desired: service,
        reasons: [`not running: finishing an interrupted update (${adopt.name} takes the name)`],
        adopt,
      });
      continue;
    }
    if (!container) {
      actions.push({
        type: 'create',
        service: service.name,
        desired: service,
        reasons: ['not running: no container'],
      });
      continue;
    }
    if (!isManagedBy(container, host)) {
      const owner = container.labels[LABELS.host];
      actions.push({
        type: 'conflict',
        service: service.name,
        desired: service,
        container,
        reasons: [
          labelsInheritedFromImage(container)
            ? `container "${container.name}" (${shortId(container.id)}) was not made by gitdock: its gitdock labels come from its image (a \`docker commit\` of a managed container?); rename or remove it to let gitdock run ${service.name}`
            : owner && owner !== host
              ? `container "${container.name}" (${shortId(container.id)}) belongs to gitdock host ${owner}, not ${host}`
              : `container "${container.name}" (${shortId(container.id)}) is not managed by gitdock; rename or remove it to let gitdock run ${service.name}`,
        ],
      });
      continue;
    }
    if (container.labels[LABELS.service] !== service.name) {
      // A managed container renamed to this service's name: it is a stray of
      // its own service, removed above, so this service is created afresh.
      actions.push({
        type: 'create',
        service: service.name,
        desired: service,
        reasons: [
          `not running: container "${container.name}" belongs to service ${container.labels[LABELS.service]} and is removed first`,
        ],
      });
      continue;
    }
    if (container.state === 'removing') {
      actions.push({
        type: 'wait',
        service: service.name,
        desired: service,
        container,
        reasons: ['container is being removed; it is created again once it is gone'],
      });
      continue;
    }
    const reasons = recreateReasons(service, container, imageIds);
    // A dead container (its removal failed half-way) can never be started again: replace it.
    if (reasons.length === 0 && container.state === 'dead') reasons.push('container is dead');
    if (reasons.length > 0) {
      actions.push({
        type: 'recreate',
        service: service.name,
        desired: service,
        container,
        reasons,
        ...(interrupted.has(service.name) ? { interrupted: true } : {}),
      });
    } else if (container.state !== 'running' && container.state !== 'restarting') {
      actions.push({
        type: 'start',
        service: service.name,
        desired: service,
        container,
        reasons: [`container is ${container.state}`],
      });
    } else {
      actions.push({ type: 'in-sync', service: service.name, desired: service, container });
    }
  }
  return { host, commit: desired.commit, actions };
}

/**
 * Whether gitdock made this container for `host`: it carries the host and
 * service labels, and they are its own, not inherited from its image. An
 * image made by `docker commit` of a managed container carries that
 * container's labels, so a copy run from it by hand would otherwise look
 * managed, and be removed as a stray with its writable layer.
 */
export function isManagedBy(container: ActualContainer, host: string): boolean {
  return (
    container.labels[LABELS.host] === host &&
    Boolean(container.labels[LABELS.service]) &&
    !labelsInheritedFromImage(container)
  );
}

/**
 * True when the container's spec-hash label is the one its image carries:
 * gitdock always sets the spec hash of the spec it creates from, which
 * names the image itself, so no container gitdock made has its image's.
 */
function labelsInheritedFromImage(container: ActualContainer): boolean {
  const fromImage = container.imageGitdockLabels;
  if (!fromImage) return false;
  const hash = container.labels[LABELS.specHash];
  return hash !== undefined && fromImage[LABELS.specHash] === hash;
}

function recreateReasons(
  service: DesiredService,
  container: ActualContainer,
  imageIds: ReadonlyMap<string, string> | undefined,
): string[] {
  if (container.labels[LABELS.specHash] !== service.specHash) {
    const before = decodeSpecLabel(container.labels[LABELS.spec]);
    const reasons = before ? describeSpecChanges(before, recordedSpec(service.spec)) : [];
    return reasons.length > 0 ? reasons : ['spec changed'];
  }
  const imageId = imageIds?.get(service.imageRef);
  if (imageId && imageId !== container.imageId) {
    return [
      `image ${service.imageRef} now resolves to ${shortId(imageId)} (running ${shortId(container.imageId)})`,
    ];
  }
  return [];
}

/**
 * Containers to remove, dependents before what they depend on (from the
 * `io.gitdock.depends-on` label recorded at creation), ties by name.
 */
function removalOrder(containers: ActualContainer[]): ActualContainer[] {
  const sorted = [...containers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const order: ActualContainer[] = [];
  const visited = new Set<ActualContainer>();
  // Depth-first: a container is listed after everything that depends on it.
  const visit = (c: ActualContainer, stack: Set<ActualContainer>) => {
    if (visited.has(c) || stack.has(c)) return;
    stack.add(c);
    for (const other of sorted) {
      if (other !== c && dependsOnLabel(other).includes(c.labels[LABELS.service]!))
        visit(other, stack);
    }
    stack.delete(c);
    visited.add(c);
    order.push(c);
  };
  for (const c of sorted) visit(c, new Set());
  return order;
}

function dependsOnLabel(c: ActualContainer): string[] {
  return (c.labels[LABELS.dependsOn] ?? '').split(',').filter(Boolean);
}

/** The first 12 hex digits of a container or image ID, as docker prints them. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
