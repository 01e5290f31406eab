import { posix } from 'node:path';

/** A path of the Compose file made a repo path, or why it cannot be. */
export type RebasedPath =
  | { ok: true; path: string; absolute: boolean }
  | { ok: false; message: string };

/**
 * Resolves a path written in a Compose file against `baseDir` (a repo
 * directory): relative paths become normalised repo paths that must stay
 * inside the repo; absolute paths are host paths and stay as written; `~`
 * is refused (whose home?).
 */
export function rebasePath(baseDir: string, written: string): RebasedPath {
  if (written === '~' || written.startsWith('~/') || /^~[^/]*\//.test(written)) {
    return {
      ok: false,
      message: `path "${written}" starts with "~": use a path relative to the project directory or an absolute host path`,
    };
  }
  if (written.startsWith('/')) return { ok: true, path: posix.normalize(written), absolute: true };
  const joined = posix.normalize(posix.join(baseDir, written));
  if (joined === '..' || joined.startsWith('../') || joined.startsWith('/')) {
    return {
      ok: false,
      message: `path "${written}" leads outside the repository; keep files the project uses inside the repo`,
    };
  }
  return { ok: true, path: joined === '.' ? '' : joined.replace(/\/$/, ''), absolute: false };
}

/** A build context or `include` that is a URL, not a path: left as written. */
export function isRemote(written: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(written) || written.startsWith('git@');
}

/** Compose's test for a short-syntax volume source that is a path, not a volume name. */
export function isPathLike(source: string): boolean {
  return source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
}
