/**
 * The host-local variables of Compose projects: one `<project>.env` file per
 * project in a directory given to `apply`, `plan`, `render`, `diff` and
 * `agent` (`--env-dir`). They never enter git; they are where a host keeps
 * its secrets (`DB_PASSWORD=...`). Read with Compose's dotenv rules.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseDotenv, toEnvironment } from '../compose/dotenv.js';
import { GitdockError } from '../errors.js';

/** Variables by project name. An absent directory is an error: it was asked for. */
export type HostEnv = Map<string, Record<string, string>>;

const PROJECT_FILE = /^([a-z0-9][a-z0-9_-]*)\.env$/;

/**
 * Reads every `<project>.env` in `dir`. Other files are ignored (a README,
 * an editor's backup). A malformed line fails the whole read with its file
 * and line number only: the line may be a secret, so it is never printed.
 */
export async function readHostEnv(dir: string): Promise<HostEnv> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    throw new GitdockError(
      'GITDOCK_E_ENV_DIR',
      `cannot read --env-dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; give a directory of <project>.env files`,
      { dir },
      { cause: err },
    );
  }
  const env: HostEnv = new Map();
  for (const name of names.sort()) {
    const project = PROJECT_FILE.exec(name)?.[1];
    if (!project) continue;
    const file = path.join(dir, name);
    let bytes: Buffer;
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile()) continue;
      bytes = await fs.readFile(file);
    } catch (err) {
      throw new GitdockError(
        'GITDOCK_E_ENV_DIR',
        `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        { file },
        { cause: err },
      );
    }
    const parsed = parseDotenv(file, bytes, () => undefined);
    if (parsed.errors.length > 0) {
      const where = parsed.errors.map(
        (e) => `${e.file}${e.line ? `:${e.line}` : ''}: ${e.message}`,
      );
      throw new GitdockError(
        'GITDOCK_E_ENV_DIR',
        `invalid host env file:\n  ${where.join('\n  ')}`,
        {
          file,
        },
      );
    }
    env.set(
      project,
      toEnvironment(parsed.entries, () => undefined),
    );
  }
  return env;
}
