// A real fleet repo for gitdock, built with the `git` CLI in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check } from './proc.js';

// Pin identity and signing and ignore the machine's git config (hooks,
// templates, gpg), so every machine commits the same way.
const GIT_CONFIG = [
  '-c',
  'user.name=gitdock bench',
  '-c',
  'user.email=bench@gitdock.invalid',
  '-c',
  'commit.gpgsign=false',
  '-c',
  'core.autocrlf=false',
  '-c',
  'gc.auto=0',
];

export interface BenchRepo {
  dir: string;
  /** Writes files (repo-relative, forward slashes), stages everything and commits; returns the sha. */
  commit(files: Record<string, string>, message: string): string;
}

export function createBenchRepo(dir: string): BenchRepo {
  const env = {
    ...process.env,
    GIT_CONFIG_GLOBAL: os.devNull,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
  };
  const git = (args: string[]) =>
    check('git', [...GIT_CONFIG, ...args], { cwd: dir, env, timeoutMs: 30_000 }).stdout.trim();
  fs.mkdirSync(dir, { recursive: true });
  git(['init', '-q', '-b', 'main']);
  return {
    dir,
    commit(files, message) {
      for (const [name, content] of Object.entries(files)) {
        const file = path.join(dir, ...name.split('/'));
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, content);
      }
      git(['add', '-A']);
      git(['commit', '-q', '--no-verify', '-m', message]);
      return git(['rev-parse', 'HEAD']);
    },
  };
}
