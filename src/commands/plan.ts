import { hasChanges, type Plan, planHost } from '../core/plan.js';
import { formatPlanText, planToJson } from '../output/format-plan.js';
import { readActualState } from '../reconcile/reconcile-host.js';
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
  -o, --output F  text (default) or json
  -h, --help      show this help

Examples:
  gitdock plan --host web-1
  gitdock plan --host web-1 --rev origin/main --output json
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, { ...COMMON_OPTIONS, ...ENV_DIR_OPTION });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['text', 'json'] as const);
  const host = requireHost(values.host, 'plan');
  const loaded = await loadHostState(io, {
    repo: values.repo,
    rev: values.rev,
    host,
    envDir: values['env-dir'],
  });
  if (!loaded) return 1;
  const engine = await openEngine(io);
  const plan = planHost({
    desired: loaded.state,
    ...(await readActualState(engine, loaded.state)),
  });
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
