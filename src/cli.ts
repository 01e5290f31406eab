import type { CommandIO } from './commands/io.js';
import { ERRORS, GitdockError } from './errors.js';

/**
 * The CLI entry: finds the command, lazily imports only that command's
 * module (so `gitdock validate` never loads the Docker client), and turns
 * errors into messages and exit codes in this one place.
 */

const COMMANDS = {
  validate: {
    summary: 'Check every manifest of a revision; list all errors.',
    load: () => import('./commands/validate.js'),
  },
  render: {
    summary: "Print a host's resolved desired state.",
    load: () => import('./commands/render.js'),
  },
  plan: {
    summary: 'Show what apply would change on a host, with reasons.',
    load: () => import('./commands/plan.js'),
  },
  diff: {
    summary: "Compare every host's desired state at two revisions; for pull requests.",
    load: () => import('./commands/diff.js'),
  },
  apply: {
    summary: "Converge a host's Docker engine to a revision.",
    load: () => import('./commands/apply.js'),
  },
  status: {
    summary: 'Show every host: desired and running tags, sync, health, unreachable agents.',
    load: () => import('./commands/status.js'),
  },
  history: {
    summary: 'List the commits that changed what a host or service runs, newest first.',
    load: () => import('./commands/history.js'),
  },
  agent: {
    summary: 'Keep a host converged: watch the repo and the engine, apply every change.',
    load: () => import('./commands/agent.js'),
  },
  rollback: {
    summary: 'Undo a deploy with a commit: revert one, or restore a host as it was.',
    load: () => import('./commands/rollback.js'),
  },
  sim: {
    summary: 'Simulate the fleet on this machine: a private engine and agent per host.',
    load: () => import('./commands/sim.js'),
  },
  unlock: {
    summary: "Remove a host's lock (one writer per host) left by a gitdock that is gone.",
    load: () => import('./commands/unlock.js'),
  },
} as const;

type CommandName = keyof typeof COMMANDS;

export const VERSION = '0.1.0';

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'gitdock: a git repository is the desired state of your Docker hosts.',
    '',
    'Usage: gitdock <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    "Run `gitdock <command> --help` for a command's options and examples.",
    '',
    'Environment:',
    '  DOCKER_HOST        engine address, as for the docker CLI (default unix:///var/run/docker.sock)',
    '  DOCKER_CONFIG      directory of config.json with registry credentials (default ~/.docker)',
    '  NO_COLOR           disable colour',
    '  GITDOCK_LOG_LEVEL  log level on stderr: debug, info, warn (default), error; the agent logs info',
    '',
    'Exit codes: 0 success, 1 failure, 2 changes pending (plan, diff) or not all Synced',
    '(status --exit-code), 64 usage error.',
  ].join('\n');
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage()}\n`);
    return name === undefined ? 64 : 0;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  try {
    if (!Object.hasOwn(COMMANDS, name)) {
      throw new GitdockError(
        'GITDOCK_E_USAGE',
        `unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}`,
      );
    }
    const command = await COMMANDS[name as CommandName].load();
    return await command.run(rest, io);
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CommandIO): number {
  if (err instanceof GitdockError) {
    io.stderr.write(`gitdock: ${err.message} (${err.code})\n`);
    if (err.code === 'GITDOCK_E_USAGE') io.stderr.write('Run `gitdock --help` for usage.\n');
    return err.exitCode;
  }
  // parseArgs reports unknown or malformed options with these codes.
  const code = (err as { code?: string }).code;
  if (code?.startsWith('ERR_PARSE_ARGS')) {
    io.stderr.write(
      `gitdock: ${(err as Error).message}\nRun \`gitdock <command> --help\` for usage.\n`,
    );
    return ERRORS.GITDOCK_E_USAGE.exit;
  }
  io.stderr.write(`gitdock: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
