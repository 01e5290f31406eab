import { isProcessRunning, readProcessIdentity } from '../adapters/process-identity.js';
import { VERSION } from '../cli.js';
import { describeHolder, holderData, parseLockHolder, sameMachine } from '../core/host-lock.js';
import { lockNameFor } from '../reconcile/host-lock.js';
import type { CommandIO } from './io.js';
import { openEngine } from './load.js';
import { checkOutput, parseCommand, requireHost } from './options.js';

const HELP = `Usage: gitdock unlock --host NAME [--output text|json]

Removes the host lock of a host: the object on the engine named by
DOCKER_HOST (a volume called gitdock-lock.NAME) that says which gitdock
process is changing the host. A running agent holds it for as long as it
runs, an apply for one run; while it is held, \`gitdock apply\` and a second
agent for the host are refused (GITDOCK_E_HOST_LOCKED).

A lock left by a process of this machine that no longer runs (killed, or
the machine restarted) is taken over by the next gitdock run on its own. A
lock taken on another machine never is: when that machine, or its agent, is
gone for good, remove the lock with this command. It prints the holder it
removed. A holder that still runs keeps running without the lock (a running
agent takes it again within 30s).

Options:
  --host NAME     the host whose lock to remove (required)
  -o, --output F  text (default) or json
  -h, --help      show this help

Exit codes: 0 the lock was removed, or there was none; 1 the engine cannot
be reached, or refuses (a volume of that name that is not a gitdock lock is
never removed); 64 usage error.

Examples:
  gitdock unlock --host web-1
  DOCKER_HOST=ssh://root@web-1 gitdock unlock --host web-1 --output json
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    host: { type: 'string' },
    output: { type: 'string', short: 'o', default: 'text' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const output = checkOutput(values.output, ['text', 'json'] as const);
  const host = requireHost(values.host, 'unlock');
  const name = lockNameFor(host);
  const engine = await openEngine(io);
  const lock = await engine.findLock(name);
  if (!lock) {
    io.stdout.write(
      output === 'json'
        ? `${JSON.stringify({ host, lock: name, removed: false, holder: null }, null, 2)}\n`
        : `host ${host} is not locked (no ${name} on the engine)\n`,
    );
    return 0;
  }
  const holder = parseLockHolder(lock);
  const me = await readProcessIdentity(VERSION);
  // Only a process of this machine can be looked at; of another machine: null, unknown.
  const local = sameMachine(holder, me);
  const running = local
    ? holder.bootId === me.bootId && (await isProcessRunning(holder.pid!, holder.startTime))
    : null;
  // By ID: a lock another process took meanwhile is not this one.
  await engine.removeLock(lock.id);
  if (running) {
    io.stderr.write(
      `gitdock: warning: pid ${holder.pid} still runs on this machine and goes on without the lock` +
        (holder.kind === 'agent' ? ' (the agent takes it again within 30s)' : '') +
        '\n',
    );
  }
  io.stdout.write(
    output === 'json'
      ? `${JSON.stringify({ host, lock: name, removed: true, holder: { ...holderData(holder), running } }, null, 2)}\n`
      : `removed the lock of host ${host}, held by ${describeHolder(holder)}\n`,
  );
  return 0;
}
