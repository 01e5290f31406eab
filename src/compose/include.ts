/**
 * Compose's `include`: other Compose applications loaded as their own
 * projects (their relative paths against their own directory, their own
 * `.env` or `env_file` as defaults under the including project's
 * variables) whose services, networks, volumes, configs and secrets join
 * the including file. A resource defined twice, differently, is an error.
 */

import { posix } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { ManifestError } from '../core/types.js';
import type { ComposeFileModel } from './extends.js';
import { rebasePath } from './load-paths.js';
import { isMapping, type JsonPath, type Positions, toPointer } from './load-positions.js';
import { define } from './merge.js';

type Json = Record<string, unknown>;

/** One `include` entry with its paths made repo paths. */
export interface IncludeRequest {
  paths: string[];
  projectDir: string;
  /** Env files feeding the included project's interpolation, lowest precedence first. */
  envFiles: { path: string; required: boolean }[];
}

export interface IncludeContext {
  positions: Positions;
  errors: ManifestError[];
  /** Loads an included project: its files merged, canonical; undefined when it failed (and was reported). */
  loadIncluded(request: IncludeRequest, at: { file: string; path: JsonPath }): Json | undefined;
}

const KINDS = ['services', 'networks', 'volumes', 'configs', 'secrets'] as const;

/** Resolves the `include` list of `model` (paths relative to `baseDir`) into its resources. */
export function applyIncludes(model: ComposeFileModel, baseDir: string, ctx: IncludeContext): void {
  const entries = model.value.include;
  delete model.value.include;
  if (!Array.isArray(entries)) return;
  const where = (path: JsonPath) =>
    ctx.positions.locate(model.value, path, { file: model.file, line: 1, column: 1 });
  // Positions of `include` were on the deleted key: look them up in the list itself.
  const fail = (index: number, message: string) => {
    const pos = ctx.positions.get(entries, index) ?? where([]);
    ctx.errors.push({ ...pos, path: toPointer(['include', index]), message });
  };
  const origin = new Map<string, string>();
  entries.forEach((entry, index) => {
    const raw = typeof entry === 'string' ? { path: entry } : (entry as Json);
    const written = typeof raw.path === 'string' ? [raw.path] : ((raw.path as string[]) ?? []);
    if (written.length === 0) {
      fail(index, 'include: expected `path`');
      return;
    }
    const paths: string[] = [];
    for (const p of written) {
      const r = rebasePath(baseDir, p);
      if (!r.ok || r.absolute) {
        fail(
          index,
          `include: ${r.ok ? `path "${p}" must be a file in the repository` : r.message}`,
        );
        return;
      }
      paths.push(r.path);
    }
    let projectDir = posix.dirname(paths[0]!);
    if (typeof raw.project_directory === 'string') {
      const r = rebasePath(baseDir, raw.project_directory);
      if (!r.ok || r.absolute) {
        fail(
          index,
          `include.project_directory: ${r.ok ? 'must be a directory in the repository' : r.message}`,
        );
        return;
      }
      projectDir = r.path;
    }
    let envFiles: { path: string; required: boolean }[];
    if (raw.env_file === undefined) {
      envFiles = [{ path: posix.join(projectDir, '.env'), required: false }];
    } else {
      envFiles = [];
      for (const p of typeof raw.env_file === 'string'
        ? [raw.env_file]
        : (raw.env_file as string[])) {
        const r = rebasePath(baseDir, p);
        if (!r.ok || r.absolute) {
          fail(index, `include.env_file: ${r.ok ? 'must be a file in the repository' : r.message}`);
          return;
        }
        envFiles.push({ path: r.path, required: true });
      }
    }
    const included = ctx.loadIncluded(
      { paths, projectDir, envFiles },
      { file: model.file, path: ['include', index] },
    );
    if (!included) return;
    for (const kind of KINDS) {
      const theirs = included[kind];
      if (!isMapping(theirs)) continue;
      let ours = model.value[kind];
      if (!isMapping(ours)) {
        ours = {};
        model.value[kind] = ours;
      }
      for (const name of Object.keys(theirs)) {
        const mine = (ours as Json)[name];
        if (Object.hasOwn(ours as Json, name) && !isDeepStrictEqual(mine, theirs[name])) {
          const first = origin.get(`${kind}.${name}`) ?? model.file;
          fail(
            index,
            `include: ${kind}.${name} from ${paths.join(', ')} is also defined in ${first}; rename one of them`,
          );
          continue;
        }
        define(ours as Json, name, theirs[name]);
        ctx.positions.copy(theirs, name, ours as Json, name);
        origin.set(`${kind}.${name}`, paths.join(', '));
      }
    }
  });
}
