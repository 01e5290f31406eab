import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { ManifestError } from '../core/types.js';
import { GitdockError } from '../errors.js';
import type { CommandIO } from './io.js';

/** Options most commands share; each command picks the ones it takes. */
export const COMMON_OPTIONS = {
  repo: { type: 'string', default: '.' },
  rev: { type: 'string', default: 'HEAD' },
  host: { type: 'string' },
  output: { type: 'string', short: 'o', default: 'text' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

/** Help text lines for the shared options. */
export const COMMON_HELP = {
  repo: '  --repo DIR      fleet repository, bare or not (default: .)',
  rev: '  --rev REV       branch, tag, sha or HEAD~N to read (default: HEAD)',
  host: '  --host NAME     the host to act on (required)',
  envDir:
    '  --env-dir DIR   host-local variables of Compose projects: DIR/<project>.env\n' +
    '                  (secrets; never in git). Without it, no host variables',
  stateDir:
    '  --state-dir DIR where files Compose services mount from the repo are written\n' +
    '                  and Compose host data lives (default: /var/lib/gitdock)',
} as const;

/** `--env-dir`: the host-local variables of Compose projects. */
export const ENV_DIR_OPTION = {
  'env-dir': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** `--state-dir`, as the agent takes it. */
export const STATE_DIR_OPTION = {
  'state-dir': { type: 'string', default: '/var/lib/gitdock' },
} as const satisfies ParseArgsConfig['options'];

export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
  allowPositionals = false,
) {
  return parseArgs({ args: argv, options, allowPositionals, strict: true });
}

export function requireHost(host: string | undefined, command: string): string {
  if (!host) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `${command} needs --host NAME: the host whose containers to ${command}`,
    );
  }
  return host;
}

export function checkOutput<T extends string>(value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `--output must be one of ${allowed.join(', ')}, not "${value}"`,
    );
  }
  return value as T;
}

export function resolveRepo(repo: string, io: CommandIO): string {
  return path.resolve(io.cwd, repo);
}

/** `file:line:column: path: message`, the form editors and CI annotations understand. */
export function formatManifestError(e: ManifestError): string {
  const where = [e.file, e.line, e.column].filter((p) => p !== undefined).join(':');
  return `${where}: ${e.message}`;
}

export function writeManifestErrors(io: CommandIO, errors: ManifestError[], commit: string) {
  io.stderr.write(
    `gitdock: ${errors.length} error${errors.length === 1 ? '' : 's'} at ${commit.slice(0, 12)}; nothing was changed (GITDOCK_E_INVALID_MANIFESTS):\n`,
  );
  for (const e of errors) io.stderr.write(`  ${formatManifestError(e)}\n`);
}
