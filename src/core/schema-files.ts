import { repoConfigSchema, serviceSchema } from './schema.js';

/** The generated JSON Schema files, by repo-relative path, exactly as committed. */
export function renderSchemaFiles(): Record<string, string> {
  return {
    'schemas/service.schema.json': `${JSON.stringify(serviceSchema, null, 2)}\n`,
    'schemas/gitdock.schema.json': `${JSON.stringify(repoConfigSchema, null, 2)}\n`,
  };
}
