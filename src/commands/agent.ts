import { mkdirSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { readHostEnv } from '../adapters/host-env.js';
import { parseDuration } from '../core/duration.js';
import type { Engine } from '../core/engine.js';
import { type HostRewriteOptions, rewriteHostState } from '../core/host-rewrite.js';
import type { HostState } from '../core/types.js';
import { GitdockError } from '../errors.js';
import { createLog, type Log } from '../log.js';
import { systemClock } from '../reconcile/clock.js';
import type { CommandIO } from './io.js';
import { parseCommand, requireHost } from './options.js';

/**
 * `--publish-address` and `--bind-root`: for several agents on one machine,
 * as `gitdock sim` runs them. `gitdock apply` and `gitdock plan` take them too.
 */
export const HOST_REWRITE_FLAGS = {
  'publish-address': { type: 'string' },
  'bind-root': { type: 'string' },
} as const;

/** Help lines of `HOST_REWRITE_FLAGS`, aligned with the agent's other options. */
export const HOST_REWRITE_HELP = `  --publish-address ADDR    for running several agents on one machine, as
                            \`gitdock sim\` does: every port a service
                            publishes lands on this IPv4 address (0.0.0.0,
                            127.0.0.1, none and IPv6 ones are moved to it)
  --bind-root DIR           for running several agents on one machine, as
                            \`gitdock sim\` does: every absolute bind source
                            /x/y becomes DIR/x/y (sockets such as
                            /var/run/docker.sock too); repo files, named
                            volumes and tmpfs are left as they are`;

const HELP = `Usage: gitdock agent --host NAME --repo SOURCE [options]

Runs the reconcile loop for one host: watches the fleet repo, and whenever
the branch moves, a managed container drifts (stopped, removed, renamed by
hand) or the resync timer fires, converges the engine named by DOCKER_HOST
to what the branch says. \`git push\` deploys; \`git revert\` + push rolls back.

A commit with invalid manifests is never applied (everything keeps running;
/status names the file and line). A release whose new container does not
come up never takes over: the old one keeps serving and the service is
Failed. It is not tried again on its own (that would stop the healthy old
container again): push a fix or \`git revert\`, or ask for one more try
with \`curl -X POST 127.0.0.1:9420/retry\`. A failed pull touches nothing
and is retried with a growing backoff. Failures are remembered in
--state-dir, so restarting the agent is not a retry.

Sources:
  a local path     a bare repo that receives \`git push\`, or a clone; a push
                   is seen at once (the branch ref is watched)
  http(s)://URL    fetched into a cache under --state-dir every --interval
                   (with jitter) and at once on a verified webhook

Options:
  --host NAME               the host this agent converges (required)
  --repo SOURCE             local path or http(s) URL of the fleet repo (required)
  --branch NAME             branch to deploy (default: main)
  --interval DURATION       resync / fetch interval (default: 60s)
  --listen ADDR             HTTP address for /healthz, /status, /metrics,
                            /hooks/git (default: 127.0.0.1:9420; "off" disables)
  --webhook-secret-file F   secret for /hooks/git (GitHub, Gitea, GitLab);
                            without it the webhook endpoint answers 404
  --token-file F            password/token for an http(s) remote
  --state-dir DIR           where a remote is cached, failed releases are
                            remembered, files Compose services mount from the
                            repo are written, and Compose host data lives
                            (default: /var/lib/gitdock)
  --env-dir DIR             host-local variables of Compose projects, one
                            DIR/<project>.env each (secrets: never in git);
                            read again on every pass
  --retry-max DURATION      cap of the backoff after a failed pass (default: 60s)
  --failed-retry DURATION   opt in to retrying a failed release on its own:
                            first after DURATION, doubling up to 16x, always
                            start-first (the old container keeps serving), and
                            never for a service with fixed host ports, where a
                            retry would have to stop it (default: never)
  --report-ref              after each commit applied in full, move
                            refs/gitdock/applied/HOST to it: in the local repo,
                            or pushed to the remote (needs push rights). Never
                            writes a branch. \`git log --decorate
                            --clear-decorations\` then shows which commit each
                            host runs. Waves (gitdock.yaml \`rollout\`) need it:
                            the later waves wait for this report (and for
                            refs/gitdock/failed/HOST, moved when a release fails)
  --wave-poll DURATION      while this host's wave waits, how often it reads the
                            other hosts' reports (ls-refs, no objects; default 2s)
${HOST_REWRITE_HELP}
  -h, --help                show this help

Signals: SIGTERM or SIGINT lets the services being updated finish (a
replacement comes up or is undone), skips those not begun, and exits 0; a
second one undoes a replacement still waiting to come up, then exits.

Examples:
  gitdock agent --host web-1 --repo /srv/fleet.git
  gitdock agent --host web-1 --repo https://git.example.com/ops/fleet.git \\
      --token-file /etc/gitdock/token --webhook-secret-file /etc/gitdock/hook-secret
`;

/**
 * The validated `--publish-address` and `--bind-root` (created when
 * missing), or undefined when neither is given. Throws GITDOCK_E_USAGE.
 */
export function readHostRewriteFlags(
  values: { 'publish-address'?: string | undefined; 'bind-root'?: string | undefined },
  cwd: string,
): HostRewriteOptions | undefined {
  const address = values['publish-address'];
  const root = values['bind-root'];
  if (address === undefined && root === undefined) return undefined;
  const options: HostRewriteOptions = {};
  if (address !== undefined) {
    if (isIP(address) !== 4) {
      throw new GitdockError(
        'GITDOCK_E_USAGE',
        `--publish-address must be an IPv4 address such as 127.0.1.3, not "${address}"`,
      );
    }
    options.publishAddress = address;
  }
  if (root !== undefined) options.bindRoot = ensureBindRoot(root, cwd);
  return options;
}

/** `--bind-root` as an absolute directory that exists: made now, so a bad one stops the command at start. */
function ensureBindRoot(value: string, cwd: string): string {
  if (value === '') {
    throw new GitdockError('GITDOCK_E_USAGE', '--bind-root needs a directory, not ""');
  }
  const dir = path.resolve(cwd, value);
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `--bind-root ${dir} is not a directory and cannot be made one: ${(err as Error).message}`,
      { path: dir },
    );
  }
  return dir;
}

/**
 * The Docker engine named by DOCKER_HOST, asked with the user agent
 * `gitdock/<version> (host <name>)`: the engine passes it on to registries,
 * whose logs then say which host pulled. dockerode is loaded only here.
 */
export async function openHostEngine(io: CommandIO, host: string): Promise<Engine> {
  const [{ createDockerEngine, gitdockUserAgent }, { VERSION }] = await Promise.all([
    import('../adapters/docker-engine.js'),
    import('../cli.js'),
  ]);
  return createDockerEngine({
    dockerHost: io.env.DOCKER_HOST,
    userAgent: gitdockUserAgent(VERSION, host),
  });
}

/** How many (commit, warnings) pairs are remembered as already logged. */
const LOGGED_REWRITES = 16;

/**
 * `rewriteHostState` as a function of the state alone, for `AgentOptions`.
 * Its warnings are logged once per commit (and again if they change, with
 * the host's env files): every pass resolves the state again, and the same
 * lines every interval would drown the log.
 */
export function hostRewriter(
  options: HostRewriteOptions,
  log: Pick<Log, 'warn'>,
): (state: HostState) => HostState {
  const logged: string[] = [];
  return (state) => {
    const { state: rewritten, warnings } = rewriteHostState(state, options);
    const key = JSON.stringify([state.commit, warnings]);
    if (warnings.length > 0 && !logged.includes(key)) {
      logged.push(key);
      if (logged.length > LOGGED_REWRITES) logged.shift();
      for (const warning of warnings) {
        log.warn({ commit: state.commit, warning }, 'desired state rewritten for a shared machine');
      }
    }
    return rewritten;
  };
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(argv, {
    host: { type: 'string' },
    repo: { type: 'string' },
    branch: { type: 'string', default: 'main' },
    interval: { type: 'string', default: '60s' },
    listen: { type: 'string', default: '127.0.0.1:9420' },
    'webhook-secret-file': { type: 'string' },
    'token-file': { type: 'string' },
    'state-dir': { type: 'string', default: '/var/lib/gitdock' },
    'env-dir': { type: 'string' },
    'retry-max': { type: 'string', default: '60s' },
    'failed-retry': { type: 'string', default: 'never' },
    'report-ref': { type: 'boolean', default: false },
    'wave-poll': { type: 'string', default: '2s' },
    ...HOST_REWRITE_FLAGS,
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const host = requireHost(values.host, 'agent');
  if (!values.repo) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      'agent needs --repo: a local repository path or an http(s) URL',
    );
  }
  const intervalMs = durationFlag('--interval', values.interval);
  const retryMaxMs = durationFlag('--retry-max', values['retry-max']);
  const wavePollMs = durationFlag('--wave-poll', values['wave-poll']);
  const failedRetryMs =
    values['failed-retry'] === 'never'
      ? undefined
      : durationFlag('--failed-retry', values['failed-retry']);
  const stateDir = path.resolve(io.cwd, values['state-dir']);
  const envDir =
    values['env-dir'] === undefined ? undefined : path.resolve(io.cwd, values['env-dir']);
  // Read once now: a missing directory or a bad line stops the agent at start, not at its first pass.
  if (envDir !== undefined) await readHostEnv(envDir);
  const rewrite = readHostRewriteFlags(values, io.cwd);

  const log = createLog({ format: 'json', stream: io.stdout });
  const isRemote = /^https?:\/\//.test(values.repo);
  const source = isRemote
    ? await (await import('../agent/remote-source.js')).openRemoteSource({
        url: values.repo,
        branch: values.branch,
        stateDir,
        log,
        ...(values['token-file'] ? { tokenFile: path.resolve(io.cwd, values['token-file']) } : {}),
      })
    : await (await import('../agent/local-source.js')).openLocalSource({
        dir: path.resolve(io.cwd, values.repo),
        branch: values.branch,
        log,
      });
  const engine = await openHostEngine(io, host);
  const { Agent } = await import('../agent/agent.js');
  const { holdFile } = await import('../agent/hold-file.js');
  const { createAgentMetrics } = await import('../agent/metrics.js');
  const metrics = createAgentMetrics();

  const agent = new Agent({
    host,
    source,
    engine,
    clock: systemClock,
    log,
    intervalMs,
    retry: { baseMs: Math.min(1000, retryMaxMs), capMs: retryMaxMs },
    holdPolicy: {
      // A failed pull touched nothing: retried like a failed pass, from 5 s up to --retry-max.
      transient: { baseMs: Math.min(5_000, retryMaxMs), capMs: retryMaxMs },
      ...(failedRetryMs !== undefined
        ? { rollout: { baseMs: failedRetryMs, capMs: failedRetryMs * 16 } }
        : {}),
    },
    holdStore: holdFile(stateDir, host),
    observer: {
      onPass: (pass) => metrics.observePass(pass),
      onEngine: (reachable) => metrics.engineReachable.set(reachable),
    },
    reportRef: values['report-ref'],
    wavePollMs,
    stateDir,
    ...(envDir !== undefined ? { hostEnv: () => readHostEnv(envDir) } : {}),
    ...(rewrite !== undefined ? { rewriteDesired: hostRewriter(rewrite, log) } : {}),
  });

  let server: { url: string; close(): Promise<void> } | undefined;
  if (values.listen !== 'off') {
    const { startAgentHttpServer } = await import('../agent/http-server.js');
    const { readSecretFile, verifyWebhook, MAX_WEBHOOK_BODY_BYTES } = await import(
      '../agent/webhook.js'
    );
    const secret = values['webhook-secret-file']
      ? await readSecretFile(path.resolve(io.cwd, values['webhook-secret-file']))
      : undefined;
    server = await startAgentHttpServer({
      listen: values.listen,
      log,
      maxBodyBytes: MAX_WEBHOOK_BODY_BYTES,
      routes: {
        // Alive while the loop is: the engine or git being away is in /status, not a reason to restart.
        healthz: () => ({ ok: true }),
        status: () => agent.status,
        metrics: async () => ({ contentType: metrics.contentType, body: await metrics.render() }),
        retry: (services) => {
          const retrying = agent.requestRetry(services);
          if (retrying.length > 0) {
            log.info({ services: retrying }, 'retry asked over http');
            return { status: 202, body: { retrying } };
          }
          return {
            status: 404,
            body: {
              error: services
                ? `no held (Failed) service named ${services.join(', ')}: nothing to retry`
                : 'no service is held (Failed): nothing to retry',
            },
          };
        },
        webhook: async ({ headers, body }) => {
          if (!secret)
            return {
              status: 404,
              body: { error: 'webhook not configured: start the agent with --webhook-secret-file' },
            };
          const verdict = verifyWebhook({ headers, body, secret });
          if (!verdict.ok) {
            log.warn({ reason: verdict.reason }, 'webhook rejected');
            return { status: 401, body: { error: verdict.reason } };
          }
          // The payload is never trusted as state: it only triggers a fetch.
          agent.webhook(`webhook from ${verdict.provider}`);
          return { status: 202, body: { accepted: true } };
        },
      },
    });
    log.info({ url: server.url }, 'agent listening');
  }

  const shutdown = new AbortController();
  let signals = 0;
  const onSignal = (name: string) => {
    signals++;
    log.info(
      { signal: name },
      signals === 1
        ? 'finishing the services in hand, then exiting'
        : 'undoing the step in hand, then exiting',
    );
    if (signals > 1) agent.abortCurrentPass(`stopped by a second ${name}`);
    shutdown.abort();
  };
  const onTerm = () => onSignal('SIGTERM');
  const onInt = () => onSignal('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  log.info(
    { host, source: source.description, branch: values.branch, intervalMs, ...rewrite },
    'agent started',
  );
  // One writer per host: a second agent, or an apply, for this host is refused while this one runs.
  const { acquireHostLock } = await import('../reconcile/host-lock.js');
  const { readProcessIdentity } = await import('../adapters/process-identity.js');
  let lock: { release(): Promise<void> } | undefined;
  try {
    lock = await acquireHostLock({
      engine,
      host,
      kind: 'agent',
      identity: await readProcessIdentity((await import('../cli.js')).VERSION),
      log,
      recheckMs: 30_000,
    });
    await agent.run(shutdown.signal);
  } finally {
    await lock?.release();
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    await server?.close();
  }
  return 0;
}

function durationFlag(flag: string, value: string): number {
  try {
    const ms = parseDuration(value);
    if (ms > 0) return ms;
  } catch {
    // fall through to the usage error
  }
  throw new GitdockError(
    'GITDOCK_E_USAGE',
    `${flag} must be a positive duration such as 30s or 5m, not "${value}"`,
  );
}
