/**
 * Keeps several hosts apart when they share one machine (one kernel, one
 * loopback, one filesystem), as `gitdock sim` runs them: every port a host
 * publishes lands on that host's own address, and every absolute bind source
 * moves under that host's own directory. A pure transform of a resolved
 * desired state, applied before planning, so plan, apply and the labels all
 * see the rewritten spec and its hash.
 */
import { posix } from 'node:path';
import { hashSpec } from './spec-hash.js';
import type { ContainerSpec, DesiredService, HostState, Mount, PortBinding } from './types.js';

export interface HostRewriteOptions {
  /** An IPv4 literal (`127.0.1.3`): where every published port of the host lands. */
  publishAddress?: string;
  /** An absolute directory: every absolute bind source `/x/y` becomes `<bindRoot>/x/y`. */
  bindRoot?: string;
}

export interface HostRewriteResult {
  state: HostState;
  /** What the rewrite could not keep apart, or changed in a way worth knowing; one line each. */
  warnings: string[];
}

/** Host addresses that mean "this machine" and move to the host's own address without a word. */
const SILENT_ADDRESSES = new Set(['', '0.0.0.0', '127.0.0.1']);

/**
 * The state with ports and bind sources moved as `options` say, and the spec
 * hash of each changed service computed again from its new spec (as the
 * normalizer does), so the next plan against containers made from it finds
 * no drift. Services that nothing touched are returned as they were.
 *
 * Left alone: repo files and default host data (no `source`: gitdock puts
 * them under the agent's own state dir, which is per host already), named
 * volumes, tmpfs, ports only exposed (no host port). Apply it once to each
 * freshly resolved state: a rewritten state rewritten again moves twice.
 */
export function rewriteHostState(state: HostState, options: HostRewriteOptions): HostRewriteResult {
  const warnings: string[] = [];
  const services = state.services.map((service) => {
    const spec = rewriteSpec(service, options, (w) => warnings.push(w));
    return spec === service.spec ? service : withSpec(service, spec);
  });
  if (options.bindRoot !== undefined) {
    for (const volume of state.volumes ?? []) {
      const device = volume.driverOpts?.device;
      if (device?.startsWith('/') && /\bbind\b/.test(volume.driverOpts?.o ?? '')) {
        warnings.push(
          `volume ${volume.name} binds the machine's ${device} (driver_opts device): named volumes are not moved under ${options.bindRoot}, so every host on this machine shares it`,
        );
      }
    }
  }
  const changed = services.some((s, i) => s !== state.services[i]);
  return { state: changed ? { ...state, services } : state, warnings };
}

/** The service with its new spec and the hash the normalizer would give it. */
function withSpec(service: DesiredService, spec: ContainerSpec): DesiredService {
  // imageRef and repoFiles come from the image and the repo files, which the rewrite never touches.
  return { ...service, spec, specHash: hashSpec(spec) };
}

/** The spec rewritten, or the very same object when nothing in it moves. */
function rewriteSpec(
  service: DesiredService,
  options: HostRewriteOptions,
  warn: (message: string) => void,
): ContainerSpec {
  const { spec } = service;
  let ports = spec.ports;
  let volumes = spec.volumes;
  if (options.publishAddress !== undefined) {
    ports = rewritePorts(service, options.publishAddress, warn);
    if (spec.networkMode === 'host') {
      warn(
        `${service.name} uses network_mode: host: it listens on the machine's own addresses, shared by every host on it, not on ${options.publishAddress}`,
      );
    }
  }
  if (options.bindRoot !== undefined) {
    volumes = rewriteMounts(service, options.bindRoot, warn);
    if ((spec.devices?.length ?? 0) > 0) {
      warn(
        `${service.name} maps devices (${spec.devices!.map((d) => d.pathOnHost).join(', ')}): devices are the machine's own, shared by every host on it`,
      );
    }
  }
  if (ports === spec.ports && volumes === spec.volumes) return spec;
  return { ...spec, ports, volumes };
}

/**
 * Every published port moved to `address`. The machine's wildcard and
 * loopback addresses move silently; an IPv6 one moves with a warning (the
 * hosts share the machine's IPv6 addresses); any other address is kept, with
 * a warning, since it is either another host's or not on this machine. Two
 * bindings that become the same one (`0.0.0.0:80` and `[::]:80`) are kept once.
 */
function rewritePorts(
  service: DesiredService,
  address: string,
  warn: (message: string) => void,
): PortBinding[] {
  const { ports } = service.spec;
  const out: PortBinding[] = [];
  const seen = new Set<string>();
  let changed = false;
  for (const port of ports) {
    let next = port;
    if (port.hostPort !== undefined && port.hostIp !== address) {
      const ip = port.hostIp ?? '';
      if (SILENT_ADDRESSES.has(ip)) next = { ...port, hostIp: address };
      else if (ip.includes(':')) {
        next = { ...port, hostIp: address };
        warn(
          `${service.name} publishes ${describePort(port)} on IPv6 address [${ip}]: published on ${address} instead (hosts on one machine share its IPv6 addresses)`,
        );
      } else {
        warn(
          `${service.name} publishes ${describePort(port)} on ${ip}, kept as written: it is not this host's address ${address}, so it may clash with another host on this machine or not exist here`,
        );
      }
    }
    const key = JSON.stringify([
      next.containerPort,
      next.protocol,
      next.hostPort,
      next.hostPortEnd,
      next.hostIp,
    ]);
    if (next.hostPort !== undefined && seen.has(key)) {
      warn(
        `${service.name} publishes ${describePort(port)} on ${port.hostIp ?? 'every address'} and another address that both became ${address}: published once`,
      );
      changed = true;
      continue;
    }
    seen.add(key);
    if (next !== port) changed = true;
    out.push(next);
  }
  return changed ? out : ports;
}

/** `8080->80/tcp`, `8000-8002->80/udp`, `(any)->80/tcp` for an engine-picked port. */
function describePort(port: PortBinding): string {
  const host =
    port.hostPort === 0
      ? '(any)'
      : `${port.hostPort}${port.hostPortEnd !== undefined ? `-${port.hostPortEnd}` : ''}`;
  return `port ${host}->${port.containerPort}/${port.protocol}`;
}

/**
 * Every bind with an absolute source moved under `root`. Repo files never
 * have a source (gitdock mounts them from its state dir), nor does host data
 * in its default place; host data a project's `dir` puts elsewhere has an
 * absolute source and moves like any bind.
 */
function rewriteMounts(
  service: DesiredService,
  root: string,
  warn: (message: string) => void,
): Mount[] {
  const { volumes } = service.spec;
  let changed = false;
  const out = volumes.map((mount) => {
    if (
      mount.type !== 'bind' ||
      mount.repoFile !== undefined ||
      mount.source === undefined ||
      !mount.source.startsWith('/')
    ) {
      return mount;
    }
    changed = true;
    // Resolved against `/` first, so `..` stops at the root as it does on the machine.
    const resolved = posix.resolve('/', mount.source);
    const source = resolved === '/' ? root : posix.join(root, resolved);
    if (mount.source.endsWith('.sock')) {
      warn(
        `${service.name} mounts the socket ${mount.source}: now ${source}, which is not the machine's socket (nothing listens there unless you put something there)`,
      );
    }
    return { ...mount, source };
  });
  return changed ? out : volumes;
}
