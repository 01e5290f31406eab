import { expect } from 'vitest';
import type { RepoConfig } from '../core/schema.js';
import type { ComposeHostInput, LoadedProject } from './contract.js';
import { loadComposeHost } from './load-host.js';

/** Test helpers: a file tree in, the host's loaded projects out. */

export type Tree = Record<string, string>;

export function load(tree: Tree, host = 'web-1', hostEnv?: Record<string, Record<string, string>>) {
  const input: ComposeHostInput = {
    files: new Map(Object.entries(tree).map(([p, t]) => [p, Buffer.from(t)])),
    host,
    hostEnv: hostEnv ? new Map(Object.entries(hostEnv)) : undefined,
  };
  return loadComposeHost(input, {} as RepoConfig);
}

export function loadOk(
  tree: Tree,
  host = 'web-1',
  hostEnv?: Record<string, Record<string, string>>,
) {
  const r = load(tree, host, hostEnv);
  expect(r.errors).toEqual([]);
  return r;
}

export function only(
  tree: Tree,
  host = 'web-1',
  hostEnv?: Record<string, Record<string, string>>,
): LoadedProject {
  const r = loadOk(tree, host, hostEnv);
  expect(r.projects).toHaveLength(1);
  return r.projects[0]!;
}

export function service(p: LoadedProject, name: string) {
  return (p.model.services as Record<string, Record<string, unknown>>)[name]!;
}

export const y = (...lines: string[]) => `${lines.join('\n')}\n`;
