import { type HostRewriteOptions, rewriteHostState } from '../core/host-rewrite.js';
import { hasChanges, type Plan, planHost } from '../core/plan.js';
import type { HostState } from '../core/types.js';
import { formatPlanText, planToJson } from '../output/format-plan.js';
import { readActualState } from '../reconcile/reconcile-host.js';
import { HOST_REWRITE_FLAGS, readHostRewriteFlags } from './agent.js';
import { type CommandIO, useColor } from './io.js';
import { loadHostState, openEngine } from './load.js';
import {
  COMMON_HELP,
  COMMON_OPTIONS,
  checkOutput,
  ENV_DIR_OPTION,
  parseCommand,
  requireHost,
} from './options.js';

/** `--publish-address` and `--bind-root` in the layout of plan's and apply's help. */
export const PLAN_REWRITE_HELP = `  --publish-address ADDR
                  for running several agents on one machine, as \`gitdock
                  sim\` does: published ports land on this IPv4 address
  --bind-root DIR for running several agents on one machine, as \`gitdock
                  sim\` does: absolute bind sources /x/y become DIR/x/y`;

const HELP = `Usage: gitdock plan --host NAME [--repo DIR] [--rev REV] [--output text|json]

Shows what \`gitdock apply\` would do on a host, without doing it: which
containers would be created, recreated, started or removed, and why, down
to the field (tag 1.4 -> 1.5, environment.RAILS_ENV changed). Reads the
engine named by DOCKER_HOST but changes nothing and pulls nothing (so a
moved tag under \`pull: always\` shows up only at apply).

Exit codes: 0 in sync, 2 changes pending, 1 error (invalid manifests, a
container gitdock does not manage holding a service's name, an engine that
cannot be reached).

Options:
${COMMON_HELP.host}
${COMMON_HELP.repo}
${COMMON_HELP.rev}
${COMMON_HELP.envDir}
${PLAN_REWRITE_HELP}
  -o, --output F  text (default) or json
  -h, --help      show this help

Examples:
  gitdock plan --host web-1
  gitdock plan --host web-1 --rev origin/main --output json
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    ...COMMON_OPTIONS,
    ...ENV_DIR_OPTION,
    ...HOST_REWRITE_FLAGS,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['text', 'json'] as const);
  const host = requireHost(values.host, 'plan');
  const rewrite = readHostRewriteFlags(values, io.cwd);
  const loaded = await loadHostState(io, {
    repo: values.repo,
    rev: values.rev,
    host,
    envDir: values['env-dir'],
  });
  if (!loaded) return 1;
  const desired = rewriteLoaded(io, loaded.state, rewrite);
  const engine = await openEngine(io);
  const plan = planHost({ desired, ...(await readActualState(engine, desired)) });
  io.stdout.write(
    output === 'json'
      ? `${JSON.stringify(planToJson(plan), null, 2)}\n`
      : formatPlanText(plan, { color: useColor(io.stdout, io.env) }),
  );
  return planExitCode(plan);
}

/** 0 in sync, 2 changes pending, 1 when the plan is refused or has a conflict (like `terraform plan -detailed-exitcode`). */
export function planExitCode(plan: Plan): number {
  if (plan.refused || plan.actions.some((a) => a.type === 'conflict')) return 1;
  return hasChanges(plan) ? 2 : 0;
}

/**
 * The loaded state as an agent started with the same `--publish-address` and
 * `--bind-root` would see it, the rewrite's warnings on stderr; the state as
 * it is without them.
 */
export function rewriteLoaded(
  io: CommandIO,
  state: HostState,
  options: HostRewriteOptions | undefined,
): HostState {
  if (options === undefined) return state;
  const { state: rewritten, warnings } = rewriteHostState(state, options);
  for (const warning of warnings) io.stderr.write(`gitdock: warning: ${warning}\n`);
  return rewritten;
}
