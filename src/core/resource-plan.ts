import { canonicalJson } from './spec-hash.js';
import {
  type ActualContainer,
  type ActualNetwork,
  type ActualVolume,
  COMPOSE_LABELS,
  type DesiredNetwork,
  type DesiredVolume,
  type HostState,
  LABELS,
} from './types.js';

/**
 * What to do to one network or volume, and why. Networks and volumes are
 * created before the services that use them and removed after the services
 * that left them; volumes are never removed unless the repo lists them.
 */
export type ResourceAction =
  | {
      type: 'network-create';
      name: string;
      network: DesiredNetwork;
      /** Identities of the services that join it: they fail when it cannot be made. */
      services: string[];
      reasons: string[];
    }
  | {
      type: 'network-recreate';
      name: string;
      network: DesiredNetwork;
      /** The engine's ID of the network to replace. */
      id: string;
      services: string[];
      /** Identities of the services whose containers are attached: removed first, made again after. */
      recreate: string[];
      reasons: string[];
    }
  | { type: 'network-remove'; name: string; id: string; reasons: string[] }
  /** Already as wanted (or external and present, or made by docker compose and used as is). */
  | { type: 'network-in-sync'; name: string; services: string[]; reasons: string[] }
  | {
      type: 'volume-create';
      name: string;
      volume: DesiredVolume;
      services: string[];
      reasons: string[];
    }
  | { type: 'volume-in-sync'; name: string; services: string[]; reasons: string[] }
  /** Report only: gitdock never removes a volume the repo does not list. */
  | { type: 'volume-unused'; name: string; reasons: string[] }
  | { type: 'volume-remove'; name: string; reasons: string[] }
  /**
   * The resource cannot be had (an external one is missing, or one of its
   * name belongs to something else): the services that use it fail, the
   * others go on.
   */
  | {
      type: 'resource-error';
      kind: 'network' | 'volume';
      name: string;
      services: string[];
      reasons: string[];
    };

export type ResourceActionType = ResourceAction['type'];

export interface ResourcePlanInput {
  desired: HostState;
  /** Every network on the engine. */
  networks: readonly ActualNetwork[];
  /** Every volume on the engine. */
  volumes: readonly ActualVolume[];
  /** Every container on the engine (to tell whose are attached to a network). */
  containers: readonly ActualContainer[];
}

export interface ResourcePlan {
  /** Networks by name, then volumes by name. */
  actions: ResourceAction[];
  /** Service identity -> the recreated network its container is attached to. */
  recreatedBy: Map<string, string>;
}

/**
 * Desired networks and volumes vs the engine's. Pure and deterministic.
 * Only resources labelled `io.gitdock.host=<host>` are ever changed or
 * removed; one of a wanted name that gitdock did not make is used as is when
 * `docker compose` made it for the same project (a migration keeps its data
 * and its network), and is an error otherwise.
 */
export function planResources(input: ResourcePlanInput): ResourcePlan {
  const recreatedBy = new Map<string, string>();
  const actions = [...planNetworks(input, recreatedBy), ...planVolumes(input)];
  return { actions, recreatedBy };
}

function planNetworks(
  input: ResourcePlanInput,
  recreatedBy: Map<string, string>,
): ResourceAction[] {
  const { desired, networks } = input;
  const host = desired.host;
  const wanted = [...(desired.networks ?? [])].sort(byName);
  const actualByName = new Map(networks.map((n) => [n.name, n]));
  const actions: ResourceAction[] = [];
  for (const network of wanted) {
    const services = servicesJoining(desired, network.name);
    const actual = actualByName.get(network.name);
    if (network.external) {
      actions.push(
        actual
          ? { type: 'network-in-sync', name: network.name, services, reasons: ['external'] }
          : {
              type: 'resource-error',
              kind: 'network',
              name: network.name,
              services,
              reasons: [
                `external network ${network.name} does not exist; create it or drop external`,
              ],
            },
      );
      continue;
    }
    if (!actual) {
      actions.push({
        type: 'network-create',
        name: network.name,
        network,
        services,
        reasons: ['not on the engine'],
      });
      continue;
    }
    const owner = actual.labels[LABELS.host];
    if (owner === host) {
      if (actual.labels[LABELS.resourceHash] === network.specHash) {
        actions.push({ type: 'network-in-sync', name: network.name, services, reasons: [] });
        continue;
      }
      actions.push(recreateNetwork(input, network, actual, services, recreatedBy));
      continue;
    }
    actions.push(foreignNetwork(network, actual, services, host));
  }
  const wantedNames = new Set(wanted.map((n) => n.name));
  const desiredProjects = new Set(desired.services.map((s) => s.project).filter(Boolean));
  const left = networks
    .filter((n) => n.labels[LABELS.host] === host && !wantedNames.has(n.name))
    .sort(byName);
  for (const network of left) {
    const project = network.labels[LABELS.project];
    actions.push({
      type: 'network-remove',
      name: network.name,
      id: network.id,
      reasons: [
        project !== undefined && !desiredProjects.has(project)
          ? `project ${project} no longer in git for host ${host}`
          : `network no longer in git${project !== undefined ? ` for project ${project}` : ''}`,
      ],
    });
  }
  return actions;
}

/**
 * A network of gitdock's whose settings changed: recreated, with every
 * container attached to it. A container gitdock does not manage keeps it
 * from being removed: then it is an error, and nothing is touched.
 */
function recreateNetwork(
  input: ResourcePlanInput,
  network: DesiredNetwork,
  actual: ActualNetwork,
  services: string[],
  recreatedBy: Map<string, string>,
): ResourceAction {
  const host = input.desired.host;
  const byId = new Map(input.containers.map((c) => [c.id, c]));
  const desiredNames = new Set(input.desired.services.map((s) => s.name));
  const attached = actual.containers
    .map((id) => byId.get(id))
    .filter((c): c is ActualContainer => c !== undefined);
  const foreign = attached.filter(
    (c) => c.labels[LABELS.host] !== host || c.labels[LABELS.service] === undefined,
  );
  const changes = describeNetworkChanges(actual, network);
  if (foreign.length > 0) {
    return {
      type: 'resource-error',
      kind: 'network',
      name: network.name,
      services,
      reasons: [
        `network settings changed: ${changes}; it cannot be recreated while ${foreign
          .map((c) => `"${c.name}"`)
          .sort()
          .join(
            ', ',
          )} (not gitdock's) ${foreign.length === 1 ? 'is' : 'are'} attached: disconnect ${foreign.length === 1 ? 'it' : 'them'}`,
      ],
    };
  }
  const recreate = [
    ...new Set(attached.map((c) => c.labels[LABELS.service]!).filter((s) => desiredNames.has(s))),
  ].sort();
  for (const service of recreate) recreatedBy.set(service, network.name);
  return {
    type: 'network-recreate',
    name: network.name,
    network,
    id: actual.id,
    services,
    recreate,
    reasons: [
      `network settings changed: ${changes}`,
      ...(recreate.length > 0 ? [`recreates ${recreate.join(', ')}`] : []),
    ],
  };
}

/** A network of the wanted name that gitdock did not make for this host. */
function foreignNetwork(
  network: DesiredNetwork,
  actual: ActualNetwork,
  services: string[],
  host: string,
): ResourceAction {
  const error = (reason: string): ResourceAction => ({
    type: 'resource-error',
    kind: 'network',
    name: network.name,
    services,
    reasons: [reason],
  });
  const owner = actual.labels[LABELS.host];
  if (owner !== undefined)
    return error(`network ${network.name} belongs to gitdock host ${owner}, not ${host}`);
  const composeProject = actual.labels[COMPOSE_LABELS.project];
  if (composeProject === network.project && actual.labels[COMPOSE_LABELS.network] === network.key) {
    const differs = composeNetworkDifferences(actual, network);
    if (differs.length === 0) {
      return {
        type: 'network-in-sync',
        name: network.name,
        services,
        reasons: [`made by docker compose for project ${network.project}; used as is`],
      };
    }
    return error(
      `network ${network.name} was made by docker compose for project ${network.project} with other settings (${differs.join(', ')}); remove it (after its containers) to let gitdock make it`,
    );
  }
  return error(
    composeProject !== undefined
      ? `network ${network.name} was made by docker compose for project ${composeProject}, not ${network.project}; remove it, or declare the network external`
      : `network ${network.name} exists and was not made by gitdock; remove it, or declare the network external`,
  );
}

/**
 * Settings of a network docker compose made that differ from the wanted
 * ones, as far as the engine listing tells them: its user labels always,
 * and driver/internal/attachable when the listing carries them.
 */
function composeNetworkDifferences(actual: ActualNetwork, network: DesiredNetwork): string[] {
  const extra = actual as ActualNetwork & {
    driver?: string;
    internal?: boolean;
    attachable?: boolean;
  };
  const differs: string[] = [];
  if (extra.driver !== undefined && extra.driver !== (network.driver ?? 'bridge')) {
    differs.push(`driver ${extra.driver} -> ${network.driver ?? 'bridge'}`);
  }
  if (extra.internal !== undefined && extra.internal !== (network.internal === true)) {
    differs.push(`internal ${extra.internal} -> ${network.internal === true}`);
  }
  if (extra.attachable !== undefined && extra.attachable !== (network.attachable === true)) {
    differs.push(`attachable ${extra.attachable} -> ${network.attachable === true}`);
  }
  for (const [key, value] of Object.entries(network.labels).sort()) {
    if (actual.labels[key] !== value) differs.push(`labels.${key}`);
  }
  return differs;
}

/**
 * The settings of a network as gitdock records them in its `io.gitdock.spec`
 * label, so a later plan can say which of them changed.
 */
export function networkSettings(network: DesiredNetwork): Record<string, unknown> {
  const {
    name: _name,
    project: _project,
    key: _key,
    external: _external,
    specHash: _hash,
    ...settings
  } = network;
  return JSON.parse(canonicalJson(settings)) as Record<string, unknown>;
}

/** `driver bridge -> macvlan, ipam changed`, from the recorded settings; the hashes without them. */
function describeNetworkChanges(actual: ActualNetwork, network: DesiredNetwork): string {
  const recorded = parseSettings(actual.labels[LABELS.spec]);
  if (!recorded) {
    const before = (actual.labels[LABELS.resourceHash] ?? 'none').slice(0, 12);
    return `settings hash ${before} -> ${network.specHash.slice(0, 12)}`;
  }
  const after = networkSettings(network);
  const keys = [...new Set([...Object.keys(recorded), ...Object.keys(after)])].sort();
  const changes: string[] = [];
  for (const key of keys) {
    const a = recorded[key];
    const b = after[key];
    if (canonicalJson(a) === canonicalJson(b)) continue;
    const scalar = (v: unknown) => v === undefined || typeof v !== 'object';
    if (scalar(a) && scalar(b)) {
      changes.push(
        a === undefined
          ? `${key} set to ${b}`
          : b === undefined
            ? `${key} ${a} removed`
            : `${key} ${a} -> ${b}`,
      );
    } else changes.push(`${key} changed`);
  }
  return changes.length > 0 ? changes.join(', ') : 'settings changed';
}

function parseSettings(label: string | undefined): Record<string, unknown> | undefined {
  if (!label) return undefined;
  try {
    const value = JSON.parse(label) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function planVolumes(input: ResourcePlanInput): ResourceAction[] {
  const { desired, volumes } = input;
  const host = desired.host;
  const actualByName = new Map(volumes.map((v) => [v.name, v]));
  const declared = new Map((desired.volumes ?? []).map((v) => [v.name, v]));
  const removable = new Set(desired.removeVolumes ?? []);
  const actions: ResourceAction[] = [];
  const names = new Set([
    ...declared.keys(),
    ...volumes.filter((v) => v.labels[LABELS.host] === host).map((v) => v.name),
    ...[...removable].filter((name) => actualByName.has(name)),
  ]);
  for (const name of [...names].sort()) {
    const volume = declared.get(name);
    const actual = actualByName.get(name);
    const services = servicesMounting(desired, name);
    if (services.length === 0) {
      if (!actual || volume?.external) continue;
      actions.push(
        removable.has(name)
          ? {
              type: 'volume-remove',
              name,
              reasons: ['listed in remove_volumes and no service uses it'],
            }
          : {
              type: 'volume-unused',
              name,
              reasons: [
                `volume ${name} is no longer used; gitdock never removes volumes; list it in hosts.${host}.remove_volumes to remove it`,
              ],
            },
      );
      continue;
    }
    const kept = removable.has(name)
      ? [`listed in remove_volumes but used by ${services.join(', ')}: kept`]
      : [];
    if (!volume) {
      // Mounted by a service but declared nowhere (a gitdock manifest's named volume): the engine makes it.
      if (kept.length > 0) actions.push({ type: 'volume-in-sync', name, services, reasons: kept });
      continue;
    }
    if (volume.external) {
      actions.push(
        actual
          ? { type: 'volume-in-sync', name, services, reasons: ['external', ...kept] }
          : {
              type: 'resource-error',
              kind: 'volume',
              name,
              services,
              reasons: [`external volume ${name} does not exist; create it or drop external`],
            },
      );
      continue;
    }
    if (!actual) {
      actions.push({
        type: 'volume-create',
        name,
        volume,
        services,
        reasons: ['not on the engine'],
      });
      continue;
    }
    const owner = actual.labels[LABELS.host];
    if (owner !== undefined && owner !== host) {
      actions.push({
        type: 'resource-error',
        kind: 'volume',
        name,
        services,
        reasons: [`volume ${name} belongs to gitdock host ${owner}, not ${host}`],
      });
      continue;
    }
    actions.push({
      type: 'volume-in-sync',
      name,
      services,
      reasons: [...(owner === host ? [] : [foreignVolumeReason(actual, volume)]), ...kept],
    });
  }
  return actions;
}

/** Why a volume gitdock did not make is used as is: its data is what a migration must keep. */
function foreignVolumeReason(actual: ActualVolume, volume: DesiredVolume): string {
  const project = actual.labels[COMPOSE_LABELS.project];
  if (project === volume.project) {
    return `made by docker compose for project ${project}; used as is (its data is kept)`;
  }
  return project !== undefined
    ? `made by docker compose for project ${project}; used as is`
    : 'exists and was not made by gitdock; used as is';
}

/** Identities of the desired services that join the network, sorted. */
function servicesJoining(desired: HostState, network: string): string[] {
  return desired.services
    .filter(
      (s) =>
        s.spec.networkMode === network || (s.spec.networks ?? []).some((n) => n.name === network),
    )
    .map((s) => s.name)
    .sort();
}

/** Identities of the desired services that mount the named volume, sorted. */
function servicesMounting(desired: HostState, volume: string): string[] {
  return desired.services
    .filter((s) => s.spec.volumes.some((m) => m.type === 'volume' && m.source === volume))
    .map((s) => s.name)
    .sort();
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
