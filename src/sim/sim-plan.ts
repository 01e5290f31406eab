/**
 * The shape of a simulated fleet, decided before anything starts: which
 * hosts, and for each its loopback address and its engine's address pool.
 * Pure: no disk, no network, no clock.
 *
 * Every host shares one kernel, so what keeps them apart is chosen here:
 * host i (0-based, in sorted order) of the sim in slot K listens and
 * publishes on 127.0.K.<i+1> (all of 127/8 is loopback on Linux, nothing
 * to set up), and its dockerd hands out networks from a /20 of its own, so
 * no two hosts' networks overlap, not even those of two sims running at
 * once (each holds a slot of its own).
 */
import { checkGlob, matchesHost } from '../core/host-selector.js';

/** The port every simulated agent listens on, at its host's own address. */
export const SIM_AGENT_PORT = 9420;

/** 127.0.K.1 .. 127.0.K.254: one address per host. */
export const MAX_SIM_HOSTS = 254;

/** Sims that can run at once on one machine: each has 127.0.K.0/24 and 16 /16s of 10/8. */
export const MAX_SIM_SLOTS = 8;

/**
 * containerd puts sockets as deep as `<dir>/run/<i>/exec/containerd/containerd-debug.sock`,
 * and a unix socket path must stay under 108 bytes.
 */
export const MAX_SIM_DIR_LENGTH = 60;

export interface PlannedHost {
  name: string;
  /** 0-based, in sorted name order. */
  index: number;
  /** The host's loopback address: its agent and its published ports live there. */
  address: string;
  /** dockerd `--default-address-pool` value. */
  addressPool: string;
  agentUrl: string;
}

/** The default sim directory: one per user, short enough for unix sockets. */
export function defaultSimDir(uid: number): string {
  return `/tmp/gitdock-sim-${uid}`;
}

/** Why the sim directory cannot be used, or undefined when it can. */
export function checkSimDir(dir: string): string | undefined {
  if (!dir.startsWith('/')) return `--dir must be an absolute path, not "${dir}"`;
  if (dir.length > MAX_SIM_DIR_LENGTH) {
    return `--dir is ${dir.length} characters; at most ${MAX_SIM_DIR_LENGTH} keep containerd's unix sockets under the 108-byte limit (such as /tmp/gitdock-sim)`;
  }
  if (dir === '/' || /(^|\/)\.\.?(\/|$)/.test(dir))
    return `--dir must be a plain path, not "${dir}"`;
  return undefined;
}

/** `--hosts a,web-*` -> the globs, or what is wrong with one of them. */
export function parseHostPatterns(
  text: string,
): { ok: true; patterns: string[] } | { ok: false; message: string } {
  const patterns = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (patterns.length === 0)
    return { ok: false, message: '--hosts is empty; give names or globs such as web-*' };
  for (const p of patterns) {
    const why = checkGlob(p);
    if (why !== undefined) return { ok: false, message: `--hosts "${p}": ${why}` };
  }
  return { ok: true, patterns };
}

/** Host `index` of the sim in `slot` (1-based): 127.0.<slot>.<index+1>. */
export function simAddress(slot: number, index: number): string {
  return `127.0.${slot}.${index + 1}`;
}

/**
 * A /20 per host, cut into /24 networks: slot 1 from 10.120.0.0 on, each
 * slot 16 /16s further (slot 8 ends at 10.247.255.255).
 */
export function simAddressPool(slot: number, index: number): string {
  const second = 120 + (slot - 1) * 16 + Math.floor(index / 16);
  const third = (index % 16) * 16;
  return `base=10.${second}.${third}.0/20,size=24`;
}

/**
 * The hosts to simulate: every known host of the fleet (sorted), or those
 * `patterns` match. Fails when none is left or there are too many.
 */
export function planSimHosts(
  knownHosts: readonly string[],
  patterns?: readonly string[],
  slot = 1,
): { ok: true; hosts: PlannedHost[] } | { ok: false; message: string } {
  const all = [...new Set(knownHosts)].sort();
  const names = patterns ? all.filter((h) => matchesHost(patterns, h)) : all;
  if (all.length === 0) {
    return {
      ok: false,
      message: 'the fleet names no host: add hosts/<host>/ directories or gitdock.yaml hosts:',
    };
  }
  if (names.length === 0) {
    return {
      ok: false,
      message: `--hosts ${patterns?.join(',')} matches none of the fleet's hosts (${all.join(', ')})`,
    };
  }
  if (names.length > MAX_SIM_HOSTS) {
    return {
      ok: false,
      message: `${names.length} hosts; the sim runs at most ${MAX_SIM_HOSTS} (one 127.0.1.N address each): pick some with --hosts`,
    };
  }
  return {
    ok: true,
    hosts: names.map((name, index) => {
      const address = simAddress(slot, index);
      return {
        name,
        index,
        address,
        addressPool: simAddressPool(slot, index),
        agentUrl: `http://${address}:${SIM_AGENT_PORT}`,
      };
    }),
  };
}
