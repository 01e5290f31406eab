import { Ajv, type ValidateFunction } from 'ajv';
import { repoConfigSchema, serviceSchema } from './schema.js';

/**
 * ajv validators for the manifest schemas, compiled on first use: a CLI run
 * that never validates (e.g. `--help`) never pays for the compile.
 */
let ajv: Ajv | undefined;
const compiled = new Map<object, ValidateFunction>();

function validatorFor(schema: object): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    // allErrors: report every problem of a file in one run, not the first.
    ajv ??= new Ajv({
      allErrors: true,
      strict: true,
      // The tag-or-digest `oneOf` names properties defined at the top level.
      strictRequired: false,
      allowUnionTypes: true,
    });
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

export const validateService = (value: unknown) => check(serviceSchema, value);
export const validateRepoConfig = (value: unknown) => check(repoConfigSchema, value);

function check(schema: object, value: unknown) {
  const fn = validatorFor(schema);
  return fn(value) ? { ok: true as const } : { ok: false as const, errors: fn.errors ?? [] };
}
