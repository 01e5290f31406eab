import { stringify } from 'yaml';
import type { HostState } from '../core/types.js';
import type { CommandIO } from './io.js';
import { loadHostState } from './load.js';
import { COMMON_HELP, COMMON_OPTIONS, checkOutput, parseCommand, requireHost } from './options.js';

const HELP = `Usage: gitdock render --host NAME [--repo DIR] [--rev REV] [--output yaml|json]

Prints the desired state of one host at a revision: every service it runs,
after fleet files are matched, host overrides applied, env files merged and
defaults filled, in start order. This is exactly what apply compares with
the engine. Environment values are printed: treat the output as secret.

Options:
${COMMON_HELP.host}
${COMMON_HELP.repo}
${COMMON_HELP.rev}
  -o, --output F  yaml (default) or json
  -h, --help      show this help

Examples:
  gitdock render --host web-1
  gitdock render --host web-2 --rev v1.4 --output json
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    ...COMMON_OPTIONS,
    output: { ...COMMON_OPTIONS.output, default: 'yaml' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['yaml', 'json'] as const);
  const host = requireHost(values.host, 'render');
  const loaded = await loadHostState(io, { repo: values.repo, rev: values.rev, host });
  if (!loaded) return 1;
  const doc = renderable(loaded.state);
  io.stdout.write(output === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc));
  return 0;
}

function renderable(state: HostState) {
  return {
    host: state.host,
    commit: state.commit,
    services: state.services.map((s) => ({
      name: s.name,
      file: s.file,
      origin: s.origin,
      image: s.imageRef,
      specHash: s.specHash,
      dependsOn: s.dependsOn,
      rollout: s.rollout,
      spec: s.spec,
    })),
  };
}
