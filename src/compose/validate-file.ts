import { Ajv, type ValidateFunction } from 'ajv';
import { explainSchemaErrors } from '../core/schema-errors.js';
import type { ManifestError } from '../core/types.js';
import type { YamlSource } from '../core/yaml-source.js';
import { composeSchema } from './compose-schema.js';
import type { Positions } from './load-positions.js';

type Schema = Record<string, unknown>;

let compiled: { check: ValidateFunction; schema: Schema } | undefined;

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
 * Compiled on first use: a run without Compose projects never pays for it.
 * `strict: false` because the spec's schema uses `deprecated` and unions
 * that ajv's strict mode refuses.
 */
function validator(): { check: ValidateFunction; schema: Schema } {
  if (!compiled) {
    const root = composeSchema as unknown as Schema;
    const schema = inlineRefs(root, root.definitions as Schema) as Schema;
    const check = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }).compile(
      schema,
    );
    compiled = { check, schema };
  }
  return compiled;
}

/**
 * Checks one Compose file (after interpolation, as Compose does) against
 * the Compose specification's schema: every problem at once, each at the
 * file:line:column of the value.
 */
export function validateComposeFile(
  file: string,
  value: Record<string, unknown>,
  positions: Positions,
): ManifestError[] {
  const { check, schema } = validator();
  if (check(value)) return [];
  const source: YamlSource = {
    file,
    value,
    locate(path, key) {
      const pos = positions.locate(value, path, { file, line: 1, column: 1 }, key);
      return { line: pos.line ?? 1, column: pos.column ?? 1 };
    },
  };
  // ajv URI-encodes `patternProperties` keys in schema paths; the explainer walks them plain.
  const errors = (check.errors ?? []).map((e) => ({
    ...e,
    schemaPath: e.schemaPath.split('/').map(decodeSegment).join('/'),
  }));
  // In file order: ajv's order follows the schema, which reads as random.
  return explainSchemaErrors(source, schema, errors).sort(
    (a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0),
  );
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
