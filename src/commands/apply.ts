import path from 'node:path';
import { readProcessIdentity } from '../adapters/process-identity.js';
import { VERSION } from '../cli.js';
import { createLog } from '../log.js';
import { applyToJson, formatApplyText, formatPlanText, planToJson } from '../output/format-plan.js';
import { createProgressRenderer } from '../output/progress.js';
import { systemClock } from '../reconcile/clock.js';
import { acquireHostLock, type HostLock, releaseOnSignals } from '../reconcile/host-lock.js';
import { reconcileHost } from '../reconcile/reconcile-host.js';
import { HOST_REWRITE_FLAGS, openHostEngine, readHostRewriteFlags } from './agent.js';
import { type CommandIO, useColor } from './io.js';
import { loadHostState } from './load.js';
import {
  COMMON_HELP,
  COMMON_OPTIONS,
  checkOutput,
  ENV_DIR_OPTION,
  parseCommand,
  requireHost,
  STATE_DIR_OPTION,
} from './options.js';
import { PLAN_REWRITE_HELP, planExitCode, rewriteLoaded } from './plan.js';

const HELP = `Usage: gitdock apply --host NAME [--repo DIR] [--rev REV] [--env-dir DIR] [--dry-run] [--output text|json]

Converges the Docker engine named by DOCKER_HOST to what the repo says for
one host at one revision:

  1. reads and validates every manifest of the revision (one invalid file:
     nothing is touched, exit 1);
  2. plans against the containers gitdock manages on the engine (labels
     io.gitdock.*); containers it does not manage are never touched;
  3. pulls the images it needs before stopping anything;
  4. replaces each changed service: the new container is created under a
     temporary name, the old one stopped but kept, the new one started and
     watched (its HEALTHCHECK, or \`update.settle\` without one); if it does
     not come up it is removed and the old one started again;
  5. removes containers of services no longer in git (never every service
     of a host unless gitdock.yaml says hosts.NAME.allow_empty: true).

A failing service does not stop the others. Ends with a summary; exit 1 if
anything failed.

One writer per host: while a gitdock agent manages the host, or another
apply runs for it, apply changes nothing and exits 1 (GITDOCK_E_HOST_LOCKED);
with an agent, deploy by pushing to the branch it follows. \`--dry-run\` takes
no lock.

Options:
${COMMON_HELP.host}
${COMMON_HELP.repo}
${COMMON_HELP.rev}
${COMMON_HELP.envDir}
${COMMON_HELP.stateDir}
  --dry-run       print the plan and stop, with \`gitdock plan\`'s exit codes
                  (0 in sync, 2 changes pending, 1 error)
${PLAN_REWRITE_HELP}
  -o, --output F  text (default) or json
  -h, --help      show this help

Examples:
  gitdock apply --host web-1
  gitdock apply --host web-1 --repo /srv/fleet.git --rev main
  DOCKER_HOST=unix:///run/docker.sock gitdock apply --host web-2 --output json
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    ...COMMON_OPTIONS,
    ...ENV_DIR_OPTION,
    ...STATE_DIR_OPTION,
    'dry-run': { type: 'boolean', default: false },
    ...HOST_REWRITE_FLAGS,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['text', 'json'] as const);
  const host = requireHost(values.host, 'apply');
  const rewrite = readHostRewriteFlags(values, io.cwd);
  const loaded = await loadHostState(io, {
    repo: values.repo,
    rev: values.rev,
    host,
    envDir: values['env-dir'],
    onHost: true,
  });
  if (!loaded) return 1;
  const desired = rewriteLoaded(io, loaded.state, rewrite);
  const engine = await openHostEngine(io, host);

  const tty = io.stderr.isTTY === true;
  // On a terminal, live progress replaces info logs; elsewhere JSON logs carry the events.
  const log = createLog({
    format: tty ? 'pretty' : 'json',
    stream: io.stderr,
    // Results, errors included, go to stdout once; the log repeats them only when asked
    // (GITDOCK_LOG_LEVEL) or for machines (--output json: warnings and errors on stderr).
    level: io.env.GITDOCK_LOG_LEVEL ?? (output === 'json' ? 'warn' : 'silent'),
    color: useColor(io.stderr, io.env),
  });
  // One writer per host: refused while an agent manages it or another apply runs.
  const identity = await readProcessIdentity(VERSION);
  const locking = values['dry-run']
    ? undefined
    : acquireHostLock({ engine, host, kind: 'apply', identity, log });
  // From the moment it is asked for: a Ctrl-C while it is being taken gives it back too.
  const undoSignals = locking ? releaseOnSignals(locking) : () => {};
  let lock: HostLock | undefined;
  let result: Awaited<ReturnType<typeof reconcileHost>>;
  try {
    lock = await locking;
    result = await reconcileHost({
      engine,
      desired,
      clock: systemClock,
      log,
      dryRun: values['dry-run'],
      stateDir: path.resolve(io.cwd, values['state-dir']),
      ...(tty && output === 'text' ? { onProgress: createProgressRenderer(io.stderr) } : {}),
    });
  } finally {
    undoSignals();
    await lock?.release();
  }
  const style = { color: useColor(io.stdout, io.env) };
  if (values['dry-run']) {
    io.stdout.write(
      output === 'json'
        ? `${JSON.stringify(planToJson(result.plan), null, 2)}\n`
        : formatPlanText(result.plan, style),
    );
    return planExitCode(result.plan);
  }
  io.stdout.write(
    output === 'json'
      ? `${JSON.stringify(applyToJson(result), null, 2)}\n`
      : formatApplyText(result, style),
  );
  return result.ok ? 0 : 1;
}
