import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isGitdockError } from '../errors.js';
import { readHostEnv } from './host-env.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function envDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-env-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('readHostEnv', () => {
  it('reads one <project>.env per project, with Compose dotenv rules; other files are ignored', async () => {
    const dir = envDir({
      'shop.env': '# secrets\nDB_PASSWORD="s3 cret"\nexport TOKEN=abc # comment\n',
      'blog.env': 'A=1\n',
      'README.md': 'not an env file\n',
      'Bad Name.env': 'X=1\n',
    });
    const env = await readHostEnv(dir);
    expect([...env.keys()]).toEqual(['blog', 'shop']);
    expect(env.get('shop')).toEqual({ DB_PASSWORD: 's3 cret', TOKEN: 'abc' });
  });

  it('refuses a missing directory with GITDOCK_E_ENV_DIR', async () => {
    const err = await readHostEnv('/nonexistent/gitdock-env').catch((e: unknown) => e);
    expect(isGitdockError(err, 'GITDOCK_E_ENV_DIR')).toBe(true);
  });

  it('names the file and line of a bad line, never its text (it may be a secret)', async () => {
    const dir = envDir({ 'shop.env': 'OK=1\nDB_PASSWORD hunter9\n' });
    const err = await readHostEnv(dir).catch((e: unknown) => e);
    expect(isGitdockError(err, 'GITDOCK_E_ENV_DIR')).toBe(true);
    expect((err as Error).message).toMatch(/shop\.env:2/);
    expect((err as Error).message).not.toMatch(/hunter9/);
  });

  it('refuses a dangling symlink with a code, not a raw ENOENT', async () => {
    const dir = envDir({});
    fs.symlinkSync('/nonexistent/target', path.join(dir, 'shop.env'));
    const err = await readHostEnv(dir).catch((e: unknown) => e);
    expect(isGitdockError(err, 'GITDOCK_E_ENV_DIR')).toBe(true);
  });
});
