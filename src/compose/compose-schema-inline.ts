import { composeSchema } from './compose-schema.js';

type Schema = Record<string, unknown>;

/**
 * The schema with every `$ref` replaced by its definition (the spec's refs
 * do not recurse): ajv reports an error under a `$ref` with a schema path
 * relative to the definition, which `explainSchemaErrors` could not follow.
 */
function inlineRefs(node: unknown, definitions: Schema): unknown {
  if (Array.isArray(node)) return node.map((n) => inlineRefs(n, definitions));
  if (node === null || typeof node !== 'object') return node;
  const { $ref, ...rest } = node as Schema;
  const out: Schema = {};
  if (typeof $ref === 'string') {
    const target = definitions[$ref.replace('#/definitions/', '')];
    Object.assign(out, inlineRefs(target, definitions));
  }
  for (const [k, v] of Object.entries(rest)) {
    if (k === 'definitions') continue;
    out[k] =
      k === 'properties' || k === 'patternProperties'
        ? Object.fromEntries(
            Object.entries(v as Schema).map(([p, s]) => [p, inlineRefs(s, definitions)]),
          )
        : inlineRefs(v, definitions);
  }
  return out;
}

/**
 * The Compose specification's schema with its `$ref`s inlined: what the
 * precompiled validator was compiled from, and what `explainSchemaErrors`
 * walks to explain its errors.
 */
export function inlinedComposeSchema(): Schema {
  const root = composeSchema as unknown as Schema;
  return inlineRefs(root, root.definitions as Schema) as Schema;
}

/**
 * ajv options of the Compose validator. `strict: false` because the spec's
 * schema uses `deprecated` and unions that ajv's strict mode refuses.
 */
export const COMPOSE_AJV_OPTIONS = {
  allErrors: true,
  strict: false,
  allowUnionTypes: true,
} as const;
