// Writes schemas/*.schema.json from the TypeScript schema objects, for
// editors (`# yaml-language-server: $schema=...`). `src/core/schema.test.ts`
// fails when the committed files drift from the source.
import { writeFileSync } from 'node:fs';
import { renderSchemaFiles } from '../src/core/schema-files.js';

for (const [path, text] of Object.entries(renderSchemaFiles())) {
  writeFileSync(path, text);
  console.log(`wrote ${path}`);
}
