import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSchemaFiles } from './schema-files.js';

describe('generated JSON Schema files', () => {
  it.each(Object.entries(renderSchemaFiles()))('%s matches src/core/schema.ts', (path, text) => {
    // Regenerate with `make schemas` after editing the schema.
    expect(readFileSync(path, 'utf8')).toBe(text);
  });
});
