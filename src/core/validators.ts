import type { ErrorObject } from 'ajv';
import {
  type GeneratedValidator,
  validateRepoConfig as repoConfigValidator,
  validateService as serviceValidator,
} from './generated/validators.js';

/**
 * Schema validation with the validators ajv compiled ahead of time from
 * `schema.ts` (see `schema-files.ts`): no compile at start-up.
 */
export const validateService = (value: unknown) => check(serviceValidator, value);
export const validateRepoConfig = (value: unknown) => check(repoConfigValidator, value);

function check(
  fn: GeneratedValidator,
  value: unknown,
): { ok: true } | { ok: false; errors: ErrorObject[] } {
  return fn(value) ? { ok: true } : { ok: false, errors: fn.errors ?? [] };
}
