import { explainSchemaErrors } from '../core/schema-errors.js';
import type { ManifestError } from '../core/types.js';
import type { YamlSource } from '../core/yaml-source.js';
import { inlinedComposeSchema } from './compose-schema-inline.js';
import { type GeneratedValidator, validateComposeSchema } from './generated/compose-validator.js';
import type { Positions } from './load-positions.js';

type Schema = Record<string, unknown>;

let compiled: { check: GeneratedValidator; schema: Schema } | undefined;

/**
 * The validator ajv compiled ahead of time (`src/compose/generated/`, from
 * `scripts/generate-schemas.ts`): compiling the spec's schema at start-up
 * cost a CLI run about 0.3 s. The inlined schema itself is still needed to
 * explain errors; it is built on first use.
 */
function validator(): { check: GeneratedValidator; schema: Schema } {
  if (!compiled) compiled = { check: validateComposeSchema, schema: inlinedComposeSchema() };
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
