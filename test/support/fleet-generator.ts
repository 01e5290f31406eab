/**
 * Fleet repositories of N hosts for the sim's tests and the fleet
 * benchmark: gitdock.yaml naming `sim-01` .. `sim-NN` (and an optional
 * `rollout:`), and one fleet service on all of them.
 *
 * ```ts
 * const repo = await generateFleet({ hosts: 16, image: REPO_OF('app'), tag: '1.0' });
 * onTestFinished(repo.cleanup);
 * // gitdock sim up --repo repo.sourceDir
 * repo.commit(fleetServiceFile({ ...options, tag: '1.1' }), 'release 1.1');
 * ```
 */
import { createRepo, type FileTree, type FixtureRepo } from './git-fixture.js';

export interface FleetGeneratorOptions {
  /** How many hosts: named sim-01 .. sim-NN (at least two digits). */
  hosts: number;
  /** Image repository without tag, such as 127.0.0.1:5055/gitdock-test/app. */
  image: string;
  tag: string;
  /** The fleet service's name (default `app`). */
  service?: string;
  /** gitdock.yaml `rollout:` as written, such as `{ waves: [['sim-01'], ['sim-*']] }`. */
  rollout?: Record<string, unknown>;
  /** The service's `update.settle` (default 0s: judged at once). */
  settle?: string;
  /** More fields of the service (default `network_mode: none`), overriding the defaults. */
  fields?: Record<string, unknown>;
}

/** sim-01 .. sim-NN, zero-padded to at least two digits so name order is number order. */
export function simHostNames(count: number): string[] {
  const width = Math.max(2, String(count).length);
  return Array.from({ length: count }, (_, i) => `sim-${String(i + 1).padStart(width, '0')}`);
}

/** gitdock.yaml of the generated fleet (JSON, a subset of YAML). */
export function fleetConfigFile(options: Pick<FleetGeneratorOptions, 'hosts' | 'rollout'>): string {
  const config: Record<string, unknown> = {
    hosts: Object.fromEntries(simHostNames(options.hosts).map((h) => [h, {}])),
  };
  if (options.rollout) config.rollout = options.rollout;
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The fleet service's file, by path: change `tag` (or `fields`) and commit it for a release. */
export function fleetServiceFile(options: FleetGeneratorOptions): FileTree {
  const name = options.service ?? 'app';
  const body = {
    hosts: ['sim-*'],
    image: options.image,
    tag: options.tag,
    network_mode: 'none',
    update: { settle: options.settle ?? '0s' },
    ...options.fields,
  };
  return { [`services/${name}.yaml`]: `${JSON.stringify(body, null, 2)}\n` };
}

/** Every file of the generated fleet. */
export function fleetFiles(options: FleetGeneratorOptions): FileTree {
  return { 'gitdock.yaml': fleetConfigFile(options), ...fleetServiceFile(options) };
}

/** A git repository (working clone + bare) in a temp dir holding the generated fleet on `main`. */
export async function generateFleet(options: FleetGeneratorOptions): Promise<FixtureRepo> {
  if (!Number.isInteger(options.hosts) || options.hosts < 1) {
    throw new Error(`generateFleet: hosts must be a positive integer, not ${options.hosts}`);
  }
  return createRepo({ bare: true, files: fleetFiles(options) as Record<string, string> });
}
