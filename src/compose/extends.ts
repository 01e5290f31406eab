/**
 * Compose's `extends`: a service starts from another service, of the same
 * file or of `extends.file`, and its own settings merge on top with the
 * override rules. Recursive; a cycle is an error. The extended file's
 * relative paths were already rebased to its own directory when it was
 * loaded, which is what Compose does.
 */
import type { ManifestError } from '../core/types.js';
import { isMapping, type JsonPath, type Positions, toPointer } from './load-positions.js';
import { define, mergeCompose } from './merge.js';

type Json = Record<string, unknown>;

/** One loaded, canonical Compose file. */
export interface ComposeFileModel {
  file: string;
  value: Json;
  resets: readonly JsonPath[];
  overrides: readonly JsonPath[];
}

export interface ExtendsContext {
  positions: Positions;
  errors: ManifestError[];
  /** Loads another Compose file of the repo; undefined when missing or invalid (and reported). */
  loadFile(repoPath: string): ComposeFileModel | undefined;
}

/** Replaces every service of `model` that uses `extends` by the merged result. */
export function resolveExtends(model: ComposeFileModel, ctx: ExtendsContext): void {
  const resolved = new Map<string, Json | undefined>();
  const services = model.value.services;
  if (!isMapping(services)) return;
  for (const name of Object.keys(services)) {
    const svc = resolveService(model, name, ctx, resolved, []);
    if (svc) define(services, name, svc);
  }
}

function resolveService(
  model: ComposeFileModel,
  name: string,
  ctx: ExtendsContext,
  resolved: Map<string, Json | undefined>,
  chain: string[],
): Json | undefined {
  const id = `${model.file}#${name}`;
  if (resolved.has(id)) return resolved.get(id);
  const services = model.value.services as Json;
  const svc = services[name];
  if (!isMapping(svc)) return undefined;
  if (svc.extends === undefined) {
    resolved.set(id, svc);
    return svc;
  }
  const at: JsonPath = ['services', name, 'extends'];
  const fail = (message: string) => {
    const pos = ctx.positions.locate(model.value, at, { file: model.file, line: 1, column: 1 });
    ctx.errors.push({ ...pos, path: toPointer(at), message });
    resolved.set(id, undefined);
    return undefined;
  };
  if (chain.includes(id)) {
    return fail(
      `extends forms a cycle: ${[...chain, id].map((c) => c.replace('#', ' service ')).join(' -> ')}`,
    );
  }
  const ext = typeof svc.extends === 'string' ? { service: svc.extends } : (svc.extends as Json);
  const baseName = String(ext.service);
  let baseModel: ComposeFileModel | undefined = model;
  if (typeof ext.file === 'string' && ext.file !== model.file) {
    baseModel = ctx.loadFile(ext.file);
    if (!baseModel) {
      resolved.set(id, undefined);
      return undefined;
    }
  }
  const baseServices = baseModel.value.services;
  if (
    !isMapping(baseServices) ||
    (!isMapping(baseServices[baseName]) && baseServices[baseName] !== null)
  ) {
    return fail(`extends: service "${baseName}" is not defined in ${baseModel.file}`);
  }
  const base = resolveService(baseModel, baseName, ctx, resolved, [...chain, id]);
  if (!base) {
    resolved.set(id, undefined);
    return undefined;
  }
  const own: Json = {};
  for (const k of Object.keys(svc)) {
    if (k === 'extends') continue;
    define(own, k, svc[k]);
    ctx.positions.copy(svc, k, own, k);
  }
  const merged = mergeCompose(
    base,
    own,
    ctx.positions,
    { resets: model.resets, overrides: model.overrides },
    ['services', name],
  );
  ctx.positions.copy(services, name, services, name);
  resolved.set(id, merged);
  return merged;
}
