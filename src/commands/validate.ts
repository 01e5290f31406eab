import type { CommandIO } from './io.js';
import { openRepo, readRevision } from './load.js';
import {
  COMMON_HELP,
  COMMON_OPTIONS,
  checkOutput,
  formatManifestError,
  parseCommand,
} from './options.js';

const HELP = `Usage: gitdock validate [--repo DIR] [--rev REV] [--output text|json]

Checks every manifest of a revision: YAML syntax, the schema, host and
service names, duplicate services, env files (at most 1 MiB each), the
gitdock.yaml policy, and for each host its depends_on graph and the
services that network_mode container:NAME names. Symlinks under hosts/,
services/ and stacks/, and a symlinked gitdock.yaml, are errors: gitdock
reads regular files only. Lists every error of the revision in one run,
as file:line:column, and exits 1 if there is one; no message shows an
environment value. Needs no Docker engine; run it in CI on every pull
request.

Compose projects (hosts/<host>/<project>/, stacks/<project>/) are read for
every known host, as CI sees them: without the hosts' own env files. What
the repo can resolve is resolved; the variables each host must supply
(unset, no default) are listed as notes, not errors, and warnings name
what gitdock ignores as Compose does.

Options:
${COMMON_HELP.repo}
${COMMON_HELP.rev}
  -o, --output F  text (default) or json
  -h, --help      show this help

Examples:
  gitdock validate
  gitdock validate --repo /srv/fleet.git --rev main
  gitdock validate --rev HEAD~1 --output json
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    repo: COMMON_OPTIONS.repo,
    rev: COMMON_OPTIONS.rev,
    output: COMMON_OPTIONS.output,
    help: COMMON_OPTIONS.help,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['text', 'json'] as const);
  const git = await openRepo(values.repo, io);
  const { commit, fleet } = await readRevision({ git, rev: values.rev });
  if (output === 'json') {
    io.stdout.write(
      `${JSON.stringify(
        fleet.ok
          ? {
              valid: true,
              commit,
              hosts: fleet.value.knownHosts,
              errors: [],
              notes: fleet.value.notes,
              warnings: fleet.value.warnings,
            }
          : { valid: false, commit, errors: fleet.errors },
        null,
        2,
      )}\n`,
    );
    return fleet.ok ? 0 : 1;
  }
  if (!fleet.ok) {
    for (const e of fleet.errors) io.stdout.write(`${formatManifestError(e)}\n`);
    io.stderr.write(
      `gitdock: ${fleet.errors.length} error${fleet.errors.length === 1 ? '' : 's'} at ${commit.slice(0, 12)}\n`,
    );
    return 1;
  }
  const f = fleet.value;
  const hostFiles = [...f.hostServices.values()].reduce((n, m) => n + m.size, 0);
  const projects = new Set(
    [...f.compose.values()].flatMap((c) => c.services.map((s) => `${s.file}`)),
  );
  const composeServices = new Set(
    [...f.compose.values()].flatMap((c) => c.services.map((s) => `${s.host}/${s.name}`)),
  );
  const compose =
    projects.size > 0
      ? `, ${projects.size} Compose project${projects.size === 1 ? '' : 's'} (${composeServices.size} service${composeServices.size === 1 ? '' : 's'} across hosts)`
      : '';
  io.stdout.write(
    `valid: ${hostFiles + f.fleetServices.size} manifests (${f.fleetServices.size} fleet, ${hostFiles} host)${compose} for ${f.knownHosts.length} hosts at ${commit.slice(0, 12)}\n`,
  );
  for (const w of f.warnings) io.stdout.write(`warning: ${formatManifestError(w)}\n`);
  for (const n of f.notes) io.stdout.write(`note: ${formatManifestError(n)}\n`);
  return 0;
}
