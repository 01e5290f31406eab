import path from 'node:path';
import { parseDuration } from '../core/duration.js';
import { GitdockError } from '../errors.js';
import type { SimState } from '../sim/sim-state.js';
import type { CommandIO } from './io.js';
import { parseCommand } from './options.js';

const HELP = `Usage: gitdock sim up --repo FLEET [--dir DIR] [--hosts PATTERN] [--branch B]
                      [--interval 15s]
       gitdock sim status [--dir DIR] [--output text|json] [--timeout D] [--wait D]
                          [--exit-code]
       gitdock sim push REV [--dir DIR]
       gitdock sim down [--dir DIR]

The fleet of a repository, simulated on this machine with real engines, to
try a change on every host before it is pushed for real.

  up      for each host the fleet names at branch B (gitdock.yaml hosts: and
          hosts/<host>/ directories; with --hosts, those matching the names
          or globs, comma-separated), starts a private dockerd of its own
          and one real \`gitdock agent\`; copies B into a git remote of the
          sim's own, served over smart HTTP on 127.0.0.1, which the agents
          fetch from and push their applied refs to (--report-ref), as in
          production. Waits until every engine and agent answers. gitdock.yaml's
          rollout: waves apply as they would on the real fleet.
  status  the sim's hosts (address, engine, agent), then the fleet table of
          \`gitdock status\` against the sim's remote and agents (same
          --output json, --wait, --exit-code)
  push    moves the sim's branch to REV of FLEET (any branch, tag or sha,
          forced: a pull request's branch, or an older commit), then sends
          each agent a signed webhook, so they fetch at once
  down    stops the agents, the git server and the dockerds with their
          containers, and removes DIR. Also after a crash half way.

What keeps the hosts apart on one kernel:
  - host i (in name order) has its own loopback address 127.0.K.<i+1>
    (K = 1 for the first sim on the machine, 2 for a second one at the same
    time, ...): its agent listens on port 9420 there, and the ports its
    services publish land there (a "8080:80" of host b is 127.0.1.2:8080)
  - absolute bind sources are rewritten under DIR/hosts/<host>/root/
  - host-local env files (Compose projects' secrets) come from
    DIR/hosts/<host>/env/<project>.env
  - each engine has its own address pool (10.120.0.0/20, 10.120.16.0/20,
    ...), so networks of two hosts, even of two sims, never overlap
  - agent: URLs in gitdock.yaml are ignored: the sim talks to its own agents
  Images come from the registries the manifests name, reached by each
  simulated engine itself (only the layers it lacks travel).

What it does not model: the kernel (one, shared), the network between hosts
(none: a host cannot reach another host's services), devices, the host's
own files outside the sim directory, CPU and memory limits of real machines.

Needs Linux and root (it starts dockerds), and /usr/sbin/dockerd (apt-get
install docker.io; no system daemon is used) and git. About 70 MB per idle
host with one container (16 hosts: 1.1 GB PSS, up in 10 s on 2 cores).

Options:
  --repo FLEET      the fleet repository, bare or not (default: .); read only
  --dir DIR         the sim directory, at most 60 characters
                    (default: /tmp/gitdock-sim-<uid>); logs are in
                    DIR/hosts/<host>/{agent,dockerd}.log, the state in DIR/sim.json
  --hosts PATTERN   up: only these hosts (names or globs, comma-separated)
  --branch B        up: the branch of FLEET to simulate (default: FLEET's
                    current branch, else main)
  --interval D      up: each agent's fetch interval (default: 15s)
  -o, --output F    status: text (default) or json (the JSON of gitdock status)
  --timeout D       status: how long each agent is given (default: 3s)
  --wait D          status: until every host is Synced, at most D
  --exit-code       status: exit 2 unless every host is Synced
  -h, --help        show this help

Examples:
  sudo gitdock sim up --repo ~/fleet
  sudo gitdock sim push my-pr-branch && sudo gitdock sim status --wait 60s
  sudo gitdock sim push main~1          # rehearse a rollback
  sudo gitdock sim down
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(HELP);
    return sub === undefined ? 64 : 0;
  }
  // A SimError is a GitdockError (GITDOCK_E_SIM): the CLI prints it and exits 1.
  switch (sub) {
    case 'up':
      return await runUp(rest, io);
    case 'status':
      return await runStatus(rest, io);
    case 'push':
      return await runPush(rest, io);
    case 'down':
      return await runDown(rest, io);
    case 'serve-git':
      return await runServeGit(rest);
    default:
      throw new GitdockError(
        'GITDOCK_E_USAGE',
        `unknown sim command "${sub}"; sim commands: up, status, push, down`,
      );
  }
}

const DIR_OPTION = {
  dir: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function simDir(value: string | undefined, io: CommandIO): string {
  if (value !== undefined) return path.resolve(io.cwd, value);
  return `/tmp/gitdock-sim-${process.getuid?.() ?? 0}`;
}

async function runUp(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    ...DIR_OPTION,
    repo: { type: 'string', default: '.' },
    hosts: { type: 'string' },
    branch: { type: 'string' },
    interval: { type: 'string' },
  });
  if (values.help) return help(io);
  if (values.interval !== undefined) checkDuration('--interval', values.interval);
  const { simUp } = await import('../sim/sim.js');
  const state = await simUp({
    repo: path.resolve(io.cwd, values.repo),
    dir: simDir(values.dir, io),
    ...(values.hosts !== undefined ? { hosts: values.hosts } : {}),
    ...(values.branch !== undefined ? { branch: values.branch } : {}),
    ...(values.interval !== undefined ? { interval: values.interval } : {}),
    onProgress: (line) => io.stderr.write(`${line}\n`),
  });
  io.stdout.write(formatHosts(state));
  const dirFlag = values.dir === undefined ? '' : ` --dir ${state.dir}`;
  io.stdout.write(
    `\nNext: gitdock sim status${dirFlag} --wait 60s; gitdock sim push REV${dirFlag}; gitdock sim down${dirFlag}\n`,
  );
  return 0;
}

async function runStatus(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    ...DIR_OPTION,
    output: { type: 'string', short: 'o', default: 'text' },
    timeout: { type: 'string' },
    wait: { type: 'string' },
    'exit-code': { type: 'boolean', default: false },
  });
  if (values.help) return help(io);
  const { readSim } = await import('../sim/sim-state.js');
  const state = await readSim(simDir(values.dir, io));
  if (values.output !== 'json') io.stdout.write(`${formatHosts(state)}\n`);
  const status = await import('./status.js');
  const args = ['--repo', state.remote, '--output', values.output];
  if (values.timeout !== undefined) args.push('--timeout', values.timeout);
  if (values.wait !== undefined) args.push('--wait', values.wait);
  if (values['exit-code']) args.push('--exit-code');
  return status.run(args, io, { agents: new Map(state.hosts.map((h) => [h.name, h.agentUrl])) });
}

async function runPush(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(argv, DIR_OPTION, true);
  if (values.help) return help(io);
  if (positionals.length !== 1) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      'sim push takes one revision of the fleet repository: a branch, tag or sha (such as main~1)',
    );
  }
  const { simPush } = await import('../sim/sim.js');
  const { readSim } = await import('../sim/sim-state.js');
  const dir = simDir(values.dir, io);
  const { commit, unreached } = await simPush(dir, positionals[0]!);
  const state = await readSim(dir);
  io.stdout.write(
    `${state.branch} of the sim is now ${commit.slice(0, 12)} (${positionals[0]}); ${state.hosts.length - unreached.length} of ${state.hosts.length} agents told to fetch\n`,
  );
  if (unreached.length > 0) {
    io.stderr.write(
      `gitdock: sim: the webhook did not reach ${unreached.join(', ')}; they fetch at their next interval\n`,
    );
  }
  return 0;
}

async function runDown(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, DIR_OPTION);
  if (values.help) return help(io);
  const { simDown } = await import('../sim/sim.js');
  const dir = simDir(values.dir, io);
  const { removed } = await simDown(dir);
  if (removed.length === 0) io.stdout.write(`no sim in ${dir}: nothing to remove\n`);
  for (const what of removed) io.stdout.write(`removed ${what}\n`);
  return 0;
}

/** Hidden: the sim's git server, spawned detached by `sim up`; runs until TERM or INT. */
async function runServeGit(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {
    root: { type: 'string' },
    'port-file': { type: 'string' },
  });
  if (!values.root || !values['port-file']) {
    throw new GitdockError('GITDOCK_E_USAGE', 'sim serve-git needs --root DIR and --port-file F');
  }
  const { serveGit, writePortFile } = await import('../sim/git-server.js');
  const server = await serveGit({ root: values.root });
  writePortFile(values['port-file'], server.url);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await server.close();
  return 0;
}

function help(io: CommandIO): number {
  io.stdout.write(HELP);
  return 0;
}

function checkDuration(flag: string, value: string): void {
  let ms = Number.NaN;
  try {
    ms = parseDuration(value);
  } catch {
    // the usage error below
  }
  if (!(ms > 0)) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `${flag} must be a duration such as 15s, not "${value}"`,
    );
  }
}

/** The sim's hosts: name, address, engine and agent URL. */
function formatHosts(state: SimState): string {
  const rows = [
    ['HOST', 'ADDRESS', 'ENGINE (DOCKER_HOST)', 'AGENT'],
    ...state.hosts.map((h) => [h.name, h.address, h.dockerHost, h.agentUrl]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '),
  );
  return `Sim in ${state.dir}: ${state.repo} at ${state.branch}, git remote ${state.gitUrl}/fleet.git\n\n${lines.join('\n')}\n`;
}
