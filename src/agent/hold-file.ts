import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HoldStore } from './agent.js';
import type { Hold } from './holds.js';

/**
 * Keeps the agent's holds in `<stateDir>/holds/<host>.json`, so a restart,
 * a crash loop or an upgrade of the agent is not a retry of a failed
 * release. Written whole to a temporary file and renamed: a crash mid-write
 * leaves the previous file. A file that cannot be read means no holds
 * (the worst case is one retry, as before the file existed).
 */
export function holdFile(stateDir: string, host: string): HoldStore & { path: string } {
  const file = path.join(stateDir, 'holds', `${host}.json`);
  return {
    path: file,
    async load() {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        return [];
      }
      try {
        const parsed: unknown = JSON.parse(text);
        const holds = (parsed as { holds?: unknown }).holds;
        return Array.isArray(holds) ? holds.filter(isHold) : [];
      } catch {
        return [];
      }
    },
    async save(holds: readonly Hold[]) {
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify({ version: 1, holds }, null, 2)}\n`);
      await rename(tmp, file);
    },
  };
}

function isHold(value: unknown): value is Hold {
  const h = value as Partial<Hold>;
  return (
    typeof h === 'object' &&
    h !== null &&
    typeof h.service === 'string' &&
    typeof h.specHash === 'string' &&
    typeof h.commit === 'string' &&
    (h.kind === 'rollout' || h.kind === 'transient') &&
    typeof h.code === 'string' &&
    typeof h.reason === 'string' &&
    typeof h.failures === 'number'
  );
}
