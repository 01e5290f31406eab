import { stringify } from 'yaml';
import { maskSecrets } from '../core/spec-diff.js';
import type { ContainerSpec, HostState } from '../core/types.js';
import type { CommandIO } from './io.js';
import { loadHostState } from './load.js';
import {
  COMMON_HELP,
  COMMON_OPTIONS,
  checkOutput,
  ENV_DIR_OPTION,
  parseCommand,
  requireHost,
} from './options.js';

const HELP = `Usage: gitdock render --host NAME [--repo DIR] [--rev REV] [--output yaml|json]

Prints the desired state of one host at a revision: every service it runs,
after fleet files are matched, host overrides applied, env files merged and
defaults filled, in start order, with the networks and volumes of its
Compose projects. This is exactly what apply compares with the engine.
Environment values from git are printed: treat the output as sensitive.
Values that came from the host's own env files (--env-dir) are shown as
*** unless --show-secrets is given.

Options:
${COMMON_HELP.host}
${COMMON_HELP.repo}
${COMMON_HELP.rev}
${COMMON_HELP.envDir}
  --show-secrets  print host-local values (from --env-dir) as they are
  -o, --output F  yaml (default) or json
  -h, --help      show this help

Examples:
  gitdock render --host web-1
  gitdock render --host web-2 --rev v1.4 --output json
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    ...COMMON_OPTIONS,
    ...ENV_DIR_OPTION,
    'show-secrets': { type: 'boolean', default: false },
    output: { ...COMMON_OPTIONS.output, default: 'yaml' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['yaml', 'json'] as const);
  const host = requireHost(values.host, 'render');
  const loaded = await loadHostState(io, {
    repo: values.repo,
    rev: values.rev,
    host,
    envDir: values['env-dir'],
  });
  if (!loaded) return 1;
  const doc = renderable(loaded.state, values['show-secrets']);
  io.stdout.write(output === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc));
  return 0;
}

function renderable(state: HostState, showSecrets: boolean) {
  return {
    host: state.host,
    commit: state.commit,
    services: state.services.map((s) => ({
      name: s.name,
      ...(s.containerName !== s.name ? { container: s.containerName } : {}),
      ...(s.project !== undefined ? { project: s.project } : {}),
      file: s.file,
      origin: s.origin,
      image: s.imageRef,
      specHash: s.specHash,
      dependsOn: s.dependsOn,
      rollout: s.rollout,
      spec: showSecrets ? s.spec : maskSpec(s.spec, s.secretValues ?? []),
    })),
    ...(state.networks?.length ? { networks: state.networks } : {}),
    ...(state.volumes?.length ? { volumes: state.volumes } : {}),
  };
}

/** The spec with every host-local secret value replaced by `***`, wherever it occurs. */
function maskSpec(spec: ContainerSpec, secrets: readonly string[]): ContainerSpec {
  const nonEmpty = secrets.filter((v) => v !== '');
  if (nonEmpty.length === 0) return spec;
  return JSON.parse(JSON.stringify(spec), (_key, value: unknown) =>
    typeof value === 'string' ? maskSecrets([value], nonEmpty)[0] : value,
  ) as ContainerSpec;
}
