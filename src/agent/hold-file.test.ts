import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { holdFile } from './hold-file.js';
import type { Hold } from './holds.js';

const HOLD: Hold = {
  service: 'web',
  specHash: 'a'.repeat(64),
  commit: 'c'.repeat(40),
  kind: 'rollout',
  code: 'GITDOCK_E_ROLLOUT_FAILED',
  reason: 'new container exited with code 3',
  lastLogLines: ['boom'],
  failures: 2,
  noRetry: 'not retried on its own',
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gitdock-holds-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('holdFile', () => {
  it('keeps the holds across runs, in <state-dir>/holds/<host>.json', async () => {
    const store = holdFile(dir, 'web-1');
    expect(store.path).toBe(path.join(dir, 'holds', 'web-1.json'));
    await store.save([HOLD, { ...HOLD, service: 'db', kind: 'transient', retryAt: 5 }]);
    const again = await holdFile(dir, 'web-1').load();
    expect(again).toEqual([HOLD, { ...HOLD, service: 'db', kind: 'transient', retryAt: 5 }]);
    expect(JSON.parse(await readFile(store.path, 'utf8')).version).toBe(1);
  });

  it('has no holds before the first save, or for another host', async () => {
    await holdFile(dir, 'web-1').save([HOLD]);
    expect(await holdFile(dir, 'web-2').load()).toEqual([]);
    expect(await holdFile(path.join(dir, 'none'), 'web-1').load()).toEqual([]);
  });

  it('takes a damaged file as no holds, and skips entries it cannot read', async () => {
    const store = holdFile(dir, 'web-1');
    await store.save([]);
    await writeFile(store.path, '{"holds": [');
    expect(await store.load()).toEqual([]);
    await writeFile(store.path, JSON.stringify({ holds: [HOLD, { service: 'x' }, 7] }));
    expect(await store.load()).toEqual([HOLD]);
  });

  it('writes a whole file: no temporary file is left behind', async () => {
    const store = holdFile(dir, 'web-1');
    await store.save([HOLD]);
    await store.save([]);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(path.join(dir, 'holds'))).toEqual(['web-1.json']);
    expect(await store.load()).toEqual([]);
  });
});
