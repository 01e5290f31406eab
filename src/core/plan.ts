import { planResources, type ResourceAction, type ResourcePlan } from './resource-plan.js';
import { describeSpecChanges } from './spec-diff.js';
import { decodeSpecLabel, recordedSpec } from './spec-hash.js';
import {
  type ActualContainer,
  type ActualNetwork,
  type ActualVolume,
  COMPOSE_LABELS,
  type DesiredService,
  type HostState,
  LABELS,
} from './types.js';

/**
 * Suffix of the temporary name a replacement runs under until it has proved
 * itself. Upper case cannot occur in a service name, so it never clashes.
 * (Labels cannot change after creation, so the name, not a label, tells a
 * replacement in progress from the container it became.)
 */
export const NEXT_SUFFIX = '.gitdock-NEXT';

/** The temporary name of a service's replacement container, from its container name. */
export function nextName(containerName: string): string {
  return `${containerName}${NEXT_SUFFIX}`;
}

/**
 * The name a managed container should have: its `io.gitdock.container-name`
 * label when its service's container is not named after the service (a
 * Compose service), else its service name.
 */
export function intendedName(container: ActualContainer): string | undefined {
  return container.labels[LABELS.containerName] ?? container.labels[LABELS.service];
}

/**
 * The Compose project of a container `docker compose` made (its labels, and
 * no gitdock ones), or undefined. One-off containers of `docker compose run`
 * are not a service's container and are left out.
 */
export function composeProjectOf(container: ActualContainer): string | undefined {
  const labels = container.labels;
  if (labels[LABELS.host] !== undefined || labels[LABELS.service] !== undefined) return undefined;
  if (labels[COMPOSE_ONEOFF] === 'True') return undefined;
  return labels[COMPOSE_LABELS.project];
}

// Labels of `docker compose` that only planning reads (not part of the shared model).
const COMPOSE_ONEOFF = 'com.docker.compose.oneoff';
const COMPOSE_NUMBER = 'com.docker.compose.container-number';

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
      /**
       * The old container is one `docker compose` made for this project
       * (opt-in adoption): always replaced stop-first, as its ports are
       * taken, and never renamed: the new container gets the service's own.
       */
      compose?: string;
      /**
       * A network the container joins is recreated: the old container is
       * removed with it before the services run, so the service is created
       * afresh (there is nothing left to fall back on).
       */
      removedFirst?: true;
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
  /**
   * A container gitdock does not manage holds the service's name (or was
   * made by `docker compose` for the service): reported, never touched.
   */
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
  /**
   * Every network and volume on the engine. Given both, the plan has
   * `resources`; left out (a caller that did not list them), it has none.
   */
  networks?: readonly ActualNetwork[];
  volumes?: readonly ActualVolume[];
}

export interface Plan {
  host: string;
  commit: string;
  /** Removals first (reverse dependency order), then services in start order. */
  actions: Action[];
  /**
   * Networks and volumes: created before the services, removed after them
   * (see `resource-plan.ts`). Absent when the engine's were not listed.
   */
  resources?: ResourceAction[];
  /** Refusal of the whole plan (nothing may be done), with the reason. */
  refused?: string;
}

/** True when the plan would change something on the engine. */
export function hasChanges(plan: Plan): boolean {
  return (
    plan.actions.some((a) => a.type !== 'in-sync' && a.type !== 'conflict') ||
    (plan.resources ?? []).some(changesEngine)
  );
}

const RESOURCE_CHANGES = new Set<ResourceAction['type']>([
  'network-create',
  'network-recreate',
  'network-remove',
  'volume-create',
  'volume-remove',
]);

/** True for a resource action that creates, recreates or removes something. */
export function changesEngine(action: ResourceAction): boolean {
  return RESOURCE_CHANGES.has(action.type);
}

/**
 * Desired vs actual: what to do to each container, and why. Pure and
 * deterministic. Only containers labelled for this host are ever acted on;
 * anything else holding a service's container name is a conflict (a
 * container `docker compose` made for the project is replaced only when the
 * host opts in to adopting it).
 */
export function planHost(input: PlanInput): Plan {
  const { desired, actual, imageIds } = input;
  const host = desired.host;
  const managed = actual.filter((c) => isManagedBy(c, host));
  const byName = new Map(actual.map((c) => [c.name, c]));
  const desiredNames = new Set(desired.services.map((s) => s.name));

  // Managed containers not under their service's own container name are
  // replacements left by an interrupted apply, or copies renamed by hand:
  // removed (but for a replacement that can finish its update: adopted, below).
  const current = managed.filter((c) => c.name === intendedName(c));
  const strays = managed.filter((c) => c.name !== intendedName(c));
  const byIdentity = new Map(current.map((c) => [c.labels[LABELS.service]!, c]));
  // A replacement left under its temporary name means the update of that
  // service was cut short (a SIGKILL): its old container may be stopped only
  // because the update stopped it.
  const interrupted = new Set(
    strays
      .filter((c) => c.name === nextName(intendedName(c)!))
      .map((c) => c.labels[LABELS.service]!),
  );
  const orphans = current.filter((c) => !desiredNames.has(c.labels[LABELS.service]!));
  // An update cut short between removing the old container and renaming the
  // new one leaves only `<container>.gitdock-NEXT`: when it was made to the
  // spec wanted now, the update is finished (it takes the name), not redone.
  const adoptable = new Map<string, ActualContainer>();
  for (const service of desired.services) {
    const next = byName.get(nextName(service.containerName));
    if (
      next &&
      !byName.has(service.containerName) &&
      !byIdentity.has(service.name) &&
      next.labels[LABELS.host] === host &&
      next.labels[LABELS.service] === service.name &&
      next.labels[LABELS.specHash] === service.specHash
    ) {
      adoptable.set(service.name, next);
    }
  }
  const adopted = new Set([...adoptable.values()]);
  const removed = removalOrder(
    // One the engine is already removing is on its way out: a second removal would be refused.
    [...strays, ...orphans].filter((c) => !adopted.has(c) && c.state !== 'removing'),
  );
  const removals: Action[] = removed.map((c) => {
    const service = c.labels[LABELS.service]!;
    const name = intendedName(c)!;
    const reason = c.name.endsWith(NEXT_SUFFIX)
      ? 'left over from an interrupted update'
      : c.name !== name
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

  const compose = composeContainers(desired, actual);
  const context: ServiceContext = {
    host,
    adoptCompose: new Set(desired.adoptCompose ?? []),
    imageIds,
    removed: new Set(removed),
  };
  const composeRemovals = [...compose.removals];
  const serviceActions: Action[] = [];
  for (const service of desired.services) {
    const finds: ServiceFinds = {
      byName: byName.get(service.containerName),
      own: byIdentity.get(service.name),
      adopt: adoptable.get(service.name),
      compose: compose.byService.get(service.name),
      interrupted: interrupted.has(service.name),
    };
    const left = finds.compose;
    const project = left && composeProjectOf(left)!;
    if (
      left &&
      finds.byName &&
      isManagedBy(finds.byName, host) &&
      context.adoptCompose.has(project!)
    ) {
      // gitdock's own container already runs the service: what docker
      // compose left of it goes, before the services run.
      composeRemovals.push({
        type: 'remove',
        service: service.name,
        container: left,
        reasons: [
          `left by docker compose for project ${project}; gitdock runs ${service.name} now`,
        ],
      });
    }
    serviceActions.push(planService(context, service, finds));
  }
  const actions: Action[] = [...removals, ...composeRemovals, ...serviceActions];
  if (input.networks === undefined || input.volumes === undefined) {
    return { host, commit: desired.commit, actions };
  }
  const resources = planResources({
    desired,
    networks: input.networks,
    volumes: input.volumes,
    containers: actual,
  });
  return {
    host,
    commit: desired.commit,
    actions: markNetworkRecreates(actions, resources),
    resources: resources.actions,
  };
}

interface ServiceContext {
  host: string;
  adoptCompose: ReadonlySet<string>;
  imageIds: ReadonlyMap<string, string> | undefined;
  /** Containers the plan removes before the services run. */
  removed: ReadonlySet<ActualContainer>;
}

/** What the engine has that bears on one desired service. */
interface ServiceFinds {
  /** Whatever holds the service's container name. */
  byName: ActualContainer | undefined;
  /** The service's own container under another name (its container name changed). */
  own: ActualContainer | undefined;
  /** A finished replacement left under the temporary name. */
  adopt: ActualContainer | undefined;
  /** A container `docker compose` made for this service, under another name. */
  compose: ActualContainer | undefined;
  interrupted: boolean;
}

function planService(ctx: ServiceContext, service: DesiredService, finds: ServiceFinds): Action {
  const { host } = ctx;
  const base = { service: service.name, desired: service };
  const byName = finds.byName;
  const composeByName = byName && composeProjectOf(byName);
  if (byName && composeByName !== undefined) {
    return composeAction(ctx, service, byName, composeByName);
  }
  if (byName && !isManagedBy(byName, host)) {
    return {
      type: 'conflict',
      ...base,
      container: byName,
      reasons: [foreignReason(byName, service, host)],
    };
  }
  // A container `docker compose` made for this service under another name
  // serves the service now: it blocks it like one holding the name. (Once
  // gitdock's own runs too, an adopted one is only removed: see below.)
  if (finds.compose && (!byName || !ctx.adoptCompose.has(composeProjectOf(finds.compose)!))) {
    return composeAction(ctx, service, finds.compose, composeProjectOf(finds.compose)!);
  }
  const container = byName ?? finds.own;
  if (!container && finds.adopt) {
    return {
      type: 'create',
      ...base,
      reasons: [
        `not running: finishing an interrupted update (${finds.adopt.name} takes the name)`,
      ],
      adopt: finds.adopt,
    };
  }
  if (!container) {
    return { type: 'create', ...base, reasons: ['not running: no container'] };
  }
  if (!isManagedBy(container, host)) {
    return {
      type: 'conflict',
      ...base,
      container,
      reasons: [foreignReason(container, service, host)],
    };
  }
  if (container.labels[LABELS.service] !== service.name) {
    const owner = container.labels[LABELS.service];
    // A managed container renamed to this service's name is a stray of its
    // own service, removed first, so this service is created afresh.
    if (ctx.removed.has(container)) {
      return {
        type: 'create',
        ...base,
        reasons: [
          `not running: container "${container.name}" belongs to service ${owner} and is removed first`,
        ],
      };
    }
    return {
      type: 'conflict',
      ...base,
      container,
      reasons: [
        `container "${container.name}" is the container of service ${owner}; give one of them another container_name`,
      ],
    };
  }
  if (container.state === 'removing') {
    return {
      type: 'wait',
      ...base,
      container,
      reasons: ['container is being removed; it is created again once it is gone'],
    };
  }
  const reasons = recreateReasons(service, container, ctx.imageIds);
  if (container.name !== service.containerName) {
    reasons.push(`container name ${container.name} -> ${service.containerName}`);
  }
  // A dead container (its removal failed half-way) can never be started again: replace it.
  if (reasons.length === 0 && container.state === 'dead') reasons.push('container is dead');
  if (reasons.length > 0) {
    return {
      type: 'recreate',
      ...base,
      container,
      reasons,
      ...(finds.interrupted ? { interrupted: true } : {}),
    };
  }
  if (service.oneShot && container.state === 'exited') {
    const code = exitCodeOf(container);
    // A one-shot that exited 0 has done its work: running it again is not healing drift.
    // Without a known exit code it is taken as done, so a plan never reruns a job by guess.
    if (code === undefined || code === 0) return { type: 'in-sync', ...base, container };
    return { type: 'start', ...base, container, reasons: [`one-shot exited with code ${code}`] };
  }
  if (container.state !== 'running' && container.state !== 'restarting') {
    return { type: 'start', ...base, container, reasons: [`container is ${container.state}`] };
  }
  return { type: 'in-sync', ...base, container };
}

/**
 * A container `docker compose` made stands where this service runs: a
 * conflict naming the project, unless the host opts in to adopting it; then
 * a health-gated replacement (stop-first: its ports are taken).
 */
function composeAction(
  ctx: ServiceContext,
  service: DesiredService,
  container: ActualContainer,
  project: string,
): Action {
  const base = { service: service.name, desired: service, container };
  if (ctx.adoptCompose.has(project)) {
    return {
      type: 'recreate',
      ...base,
      reasons: [`replacing the container docker compose made for project ${project}`],
      compose: project,
    };
  }
  return {
    type: 'conflict',
    ...base,
    reasons: [
      `container "${container.name}" was made by docker compose for project ${project}; ` +
        `set hosts.${ctx.host}.projects.${project}.adopt_compose: true in gitdock.yaml to let gitdock replace it`,
    ],
  };
}

function foreignReason(container: ActualContainer, service: DesiredService, host: string): string {
  const owner = container.labels[LABELS.host];
  return labelsInheritedFromImage(container)
    ? `container "${container.name}" (${shortId(container.id)}) was not made by gitdock: its gitdock labels come from its image (a \`docker commit\` of a managed container?); rename or remove it to let gitdock run ${service.name}`
    : owner && owner !== host
      ? `container "${container.name}" (${shortId(container.id)}) belongs to gitdock host ${owner}, not ${host}`
      : `container "${container.name}" (${shortId(container.id)}) is not managed by gitdock; rename or remove it to let gitdock run ${service.name}`;
}

/**
 * Containers `docker compose` made for the desired Compose services, matched
 * by project, service and replica number whatever their names: the first
 * (by name) per service stands for it; with adoption on, any others are
 * removed first.
 */
function composeContainers(
  desired: HostState,
  actual: readonly ActualContainer[],
): { byService: Map<string, ActualContainer>; removals: Action[] } {
  const byService = new Map<string, ActualContainer>();
  const removals: Action[] = [];
  const adopt = new Set(desired.adoptCompose ?? []);
  const made = [...actual]
    .filter((c) => composeProjectOf(c) !== undefined)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (made.length === 0) return { byService, removals };
  for (const service of desired.services) {
    const key = composeKeyOf(service);
    if (!key) continue;
    const matches = made.filter(
      (c) =>
        c.labels[COMPOSE_LABELS.project] === key.project &&
        c.labels[COMPOSE_LABELS.service] === key.service &&
        Number(c.labels[COMPOSE_NUMBER] ?? '1') === key.number &&
        c.name !== service.containerName,
    );
    if (matches.length === 0) continue;
    byService.set(service.name, matches[0]!);
    if (!adopt.has(key.project)) continue;
    for (const extra of matches.slice(1)) {
      removals.push({
        type: 'remove',
        service: service.name,
        container: extra,
        reasons: [
          `another container docker compose made for ${service.name} (project ${key.project})`,
        ],
      });
    }
  }
  return { byService, removals };
}

/** Project, Compose service and replica number of a Compose service's identity (`p/s`, `p/s#2`). */
function composeKeyOf(
  service: DesiredService,
): { project: string; service: string; number: number } | undefined {
  if (service.project === undefined) return undefined;
  const prefix = `${service.project}/`;
  const rest = service.name.startsWith(prefix) ? service.name.slice(prefix.length) : service.name;
  const hash = rest.lastIndexOf('#');
  return hash < 0
    ? { project: service.project, service: rest, number: 1 }
    : {
        project: service.project,
        service: rest.slice(0, hash),
        number: Number(rest.slice(hash + 1)),
      };
}

/**
 * The services whose network is recreated are recreated with it: their
 * containers are removed before the network, and made afresh after.
 */
function markNetworkRecreates(actions: Action[], resources: ResourcePlan): Action[] {
  if (resources.recreatedBy.size === 0) return actions;
  return actions.map((action) => {
    const network = resources.recreatedBy.get(action.service);
    if (network === undefined) return action;
    if (action.type !== 'in-sync' && action.type !== 'start' && action.type !== 'recreate') {
      return action;
    }
    if (action.type === 'recreate' && action.compose !== undefined) return action;
    const reason = `network ${network} is recreated`;
    return {
      type: 'recreate',
      service: action.service,
      desired: action.desired,
      container: action.container,
      reasons: action.type === 'recreate' ? [...action.reasons, reason] : [reason],
      removedFirst: true,
    };
  });
}

/** The repo directory of a file (`hosts/web-1/gitea/compose.yaml` -> `hosts/web-1/gitea`). */
function dirnameOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** The exit code of a stopped container, when the engine listing carries it. */
function exitCodeOf(container: ActualContainer): number | undefined {
  const code = (container as ActualContainer & { exitCode?: unknown }).exitCode;
  return typeof code === 'number' ? code : undefined;
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
    const reasons = before
      ? describeSpecChanges(before, recordedSpec(service.spec), {
          ...(service.project !== undefined ? { projectDir: dirnameOf(service.file) } : {}),
          ...(service.secretValues ? { secretValues: service.secretValues } : {}),
        })
      : [];
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
