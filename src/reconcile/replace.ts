import type { CreateContainerOptions, Engine } from '../core/engine.js';
import { DEFAULTS } from '../core/normalize.js';
import { nextName } from '../core/plan.js';
import { decodeSpecLabel, encodeSpecLabel, maskText, secretsToMask } from '../core/spec-hash.js';
import { COMPOSE_LABELS, type DesiredService, LABELS, type RolloutPolicy } from '../core/types.js';
import { type ErrorCode, GitdockError, isGitdockError } from '../errors.js';
import type { Log } from '../log.js';
import type { Clock } from './clock.js';
import { bindSourcesFor, materializeRepoFiles } from './materialize-files.js';
import { abortReason, type UpResult, waitUntilUp } from './wait-until-up.js';

/** Lines of a failed container's log quoted in its failure report. */
const LOG_TAIL_LINES = 10;

/** What one container step needs; `signal` undoes a replacement still waiting to come up. */
export interface StepContext {
  engine: Engine;
  clock: Clock;
  log: Log;
  commit: string;
  signal: AbortSignal | undefined;
  /** Asked when `signal` cut a replacement short: leave the service to the next pass (see `replaceService`). */
  handOver?: () => boolean;
  /**
   * The state directory, where repo files are written and host data lives
   * by default. Needed only by services that mount either.
   */
  stateDir?: string;
}

/** The result of one container step, before it becomes a `ServiceOutcome`. */
export type StepResult =
  | { ok: true; containerId: string }
  | {
      ok: false;
      error: string;
      code: ErrorCode;
      containerId?: string;
      lastLogLines?: string[];
    };

/** Creates and starts the service's container where none runs; removed again if it does not come up. */
export async function createService(
  ctx: StepContext,
  desired: DesiredService,
  rollout: RolloutPolicy,
): Promise<StepResult> {
  const { engine } = ctx;
  const id = await engine.createContainer(await createOptions(ctx, desired, desired.containerName));
  const up = await startAndWait(ctx, id, rollout, desired);
  if (up.up) return { ok: true, containerId: id };
  // Nothing ran before: remove the failed container so the next attempt starts cleanly.
  const lines = await lastLogLines(engine, id);
  await engine.removeContainer(id);
  return failed(up.reason, lines);
}

/**
 * Finishes an update cut short after the old container was removed: the
 * replacement, already made to this spec, is started if it is not running,
 * must come up like any new container, and takes the service's name. If it
 * does not come up it is removed and a container is made afresh.
 */
export async function adoptReplacement(
  ctx: StepContext,
  desired: DesiredService,
  rollout: RolloutPolicy,
  id: string,
): Promise<StepResult> {
  const { engine, log } = ctx;
  const up = await startAndWait(ctx, id, rollout, desired);
  if (!up.up) {
    log.warn(
      { service: desired.name, reason: up.reason },
      'left-over replacement did not come up; making a new container',
    );
    await engine.removeContainer(id);
    return createService(ctx, desired, rollout);
  }
  await engine.renameContainer(id, desired.containerName);
  return { ok: true, containerId: id };
}

/** Starts a stopped container of an unchanged spec and waits for it to come up. */
export async function startService(
  ctx: StepContext,
  rollout: RolloutPolicy,
  id: string,
  desired?: DesiredService,
): Promise<StepResult> {
  const up = await startAndWait(ctx, id, rollout, desired);
  if (up.up) return { ok: true, containerId: id };
  return { ...failed(up.reason, await lastLogLines(ctx.engine, id)), containerId: id };
}

/**
 * The replace sequence (DESIGN section 3): the new container is created under
 * a temporary name while the old one still runs; the old one is stopped
 * (stop-first) or kept running (start-first) until the new one is up; then
 * the old one is removed and the new one takes the service's name. If the new
 * one does not come up it is removed and the old one started again.
 */
export async function replaceService(
  ctx: StepContext,
  desired: DesiredService,
  rollout: RolloutPolicy,
  old: { id: string; state: string; labels: Record<string, string> },
  interrupted: boolean,
): Promise<StepResult> {
  const { engine, log } = ctx;
  // After an interrupted update the old container may be stopped only
  // because the update stopped it: it counts as running, so a failure
  // starts it again.
  const wasRunning = old.state === 'running' || old.state === 'restarting' || interrupted;
  const gracePeriod = recordedGracePeriod(old.labels);
  const id = await engine.createContainer(
    await createOptions(ctx, desired, nextName(desired.containerName)),
  );
  const startFirst = rollout.order === 'start-first';
  if (!startFirst && wasRunning) await engine.stopContainer(old.id, gracePeriod);
  const up = await startAndWait(ctx, id, rollout, desired);
  if (!up.up && !startFirst && wasRunning && ctx.signal?.aborted && ctx.handOver?.()) {
    // A newer commit changes this service and its image is here: starting
    // the old container only to stop it again in a moment would be one more
    // outage. The old one stays stopped; the replacement is stopped but kept
    // under its temporary name, which tells the next pass (or a restarted
    // agent) that the old one counts as running: it is started again if
    // the newer release fails too.
    await engine.stopContainer(id, 0);
    log.info({ service: desired.name }, 'replacement handed over to the newer commit');
    return {
      ok: false,
      error: `${up.reason}; handed over to the newer commit`,
      code: 'GITDOCK_E_ROLLOUT_FAILED',
      containerId: old.id,
    };
  }
  if (!up.up) {
    const lines = await lastLogLines(engine, id);
    await engine.removeContainer(id);
    if (wasRunning) await engine.startContainer(old.id);
    log.warn(
      { service: desired.name, reason: up.reason },
      'new container failed; old container kept',
    );
    return {
      ...failed(
        `new container ${up.reason}; ${wasRunning ? (startFirst ? 'the old container kept running' : 'the old container was started again') : 'the old container was left as it was'}`,
        lines,
      ),
      containerId: old.id,
    };
  }
  if (startFirst && wasRunning) await engine.stopContainer(old.id, gracePeriod);
  await engine.removeContainer(old.id, { keepVolumes: holdsComposeData(old.labels) });
  await engine.renameContainer(id, desired.containerName);
  return { ok: true, containerId: id };
}

/** Removes a container gitdock no longer wants, within its recorded grace period. */
export async function removeContainer(
  engine: Engine,
  container: { id: string; labels: Record<string, string> },
): Promise<void> {
  await engine.stopContainer(container.id, recordedGracePeriod(container.labels));
  await engine.removeContainer(container.id, { keepVolumes: holdsComposeData(container.labels) });
}

/**
 * A container of a Compose project (gitdock's, or one `docker compose`
 * made): its anonymous volumes may hold data (a database image's VOLUME),
 * so they are left on the engine, never removed with it. gitdock does not
 * carry them over to the new container: name the volume to keep using it.
 */
function holdsComposeData(labels: Record<string, string>): boolean {
  return labels[LABELS.project] !== undefined || labels[COMPOSE_LABELS.project] !== undefined;
}

async function startAndWait(
  ctx: StepContext,
  id: string,
  rollout: RolloutPolicy,
  desired: DesiredService | undefined,
): Promise<UpResult> {
  try {
    await ctx.engine.startContainer(id);
  } catch (err) {
    if (!isGitdockError(err)) throw err;
    return { up: false, reason: `could not start: ${err.message}` };
  }
  if (desired?.oneShot) return waitUntilOneShotUp(ctx, id, rollout);
  return waitUntilUp(ctx.engine, id, rollout, ctx.clock, ctx.signal);
}

/**
 * A one-shot counts as up once it has exited 0, or is still running
 * without a restart after the settle time (whoever waits for it to
 * complete waits on: see `waitForDependency`). Exiting non-zero is a failure.
 */
async function waitUntilOneShotUp(
  ctx: StepContext,
  id: string,
  rollout: RolloutPolicy,
): Promise<UpResult> {
  const started = ctx.clock.now();
  for (;;) {
    if (ctx.signal?.aborted) return { up: false, reason: abortReason(ctx.signal) };
    const status = await ctx.engine.inspectContainer(id);
    if (status.error) return { up: false, reason: `could not start: ${status.error}`, status };
    if (status.restartCount > 0 || status.state === 'restarting') {
      return { up: false, reason: `restarting (exit code ${status.exitCode})`, status };
    }
    if (!status.running) {
      return status.exitCode === 0
        ? { up: true }
        : { up: false, reason: `exited with code ${status.exitCode}`, status };
    }
    const elapsed = ctx.clock.now() - started;
    if (elapsed >= rollout.settleMs) return { up: true };
    await ctx.clock.sleep(Math.max(1, Math.min(POLL_MS, rollout.settleMs - elapsed)));
  }
}

/** How often a container waited on is inspected. */
const POLL_MS = 100;

export type DependencyCondition = 'service_healthy' | 'service_completed_successfully';

/**
 * Waits, before a dependent starts, until its dependency's container is
 * healthy (`service_healthy`) or has exited 0 (`service_completed_successfully`),
 * within `timeoutMs`. Undefined when it is; else why not.
 */
export async function waitForDependency(
  ctx: Pick<StepContext, 'engine' | 'clock' | 'signal'>,
  id: string,
  condition: DependencyCondition,
  timeoutMs: number,
): Promise<string | undefined> {
  const started = ctx.clock.now();
  for (;;) {
    if (ctx.signal?.aborted) return abortReason(ctx.signal);
    const status = await ctx.engine.inspectContainer(id);
    const elapsed = ctx.clock.now() - started;
    if (condition === 'service_healthy') {
      if (status.health === 'healthy' && status.running) return undefined;
      if (status.health === undefined) return 'it has no health check';
      if (!status.running) return `it exited with code ${status.exitCode}`;
      if (status.health === 'unhealthy') return 'it is unhealthy';
    } else if (!status.running && status.state !== 'restarting') {
      return status.exitCode === 0 ? undefined : `it exited with code ${status.exitCode}`;
    }
    if (elapsed >= timeoutMs) {
      return condition === 'service_healthy'
        ? `it is not healthy after ${Math.round(timeoutMs / 1000)}s (health: ${status.health})`
        : `it has not completed after ${Math.round(timeoutMs / 1000)}s`;
    }
    await ctx.clock.sleep(Math.max(1, Math.min(POLL_MS, timeoutMs - elapsed)));
  }
}

function failed(reason: string, lines: string[]): StepResult {
  return {
    ok: false,
    error: `${reason}${formatLogLines(lines)}`,
    code: 'GITDOCK_E_ROLLOUT_FAILED',
    ...(lines.length > 0 ? { lastLogLines: lines } : {}),
  };
}

async function createOptions(
  ctx: StepContext,
  desired: DesiredService,
  name: string,
): Promise<CreateContainerOptions> {
  const bindSources = await prepareBinds(ctx, desired);
  return {
    name,
    image: desired.imageRef,
    spec: desired.spec,
    labels: containerLabels(desired, ctx.commit),
    ...(bindSources ? { bindSources } : {}),
  };
}

/**
 * The `io.gitdock.*` labels of a service's container. Values from the
 * host-local env file are masked in them (`***`): anyone who can list
 * containers reads labels, and the spec hash already changes with a secret.
 */
export function containerLabels(desired: DesiredService, commit: string): Record<string, string> {
  const secrets = secretsToMask(desired.secretValues);
  return {
    [LABELS.host]: desired.host,
    [LABELS.service]: desired.name,
    [LABELS.specHash]: desired.specHash,
    [LABELS.image]: maskText(desired.imageRef, secrets),
    [LABELS.commit]: commit,
    [LABELS.spec]: encodeSpecLabel(desired.spec, secrets),
    [LABELS.dependsOn]: desired.dependsOn.join(','),
    // Only where they say something: a gitdock manifest's containers keep the labels they had.
    ...(desired.project !== undefined ? { [LABELS.project]: desired.project } : {}),
    ...(desired.containerName !== desired.name
      ? { [LABELS.containerName]: desired.containerName }
      : {}),
  };
}

/**
 * Writes the repo files the service mounts into the state directory and
 * says where its repo-file and host-data binds come from; undefined for a
 * service that mounts neither. Runs before anything of the service is
 * stopped, so a failure here leaves the old container serving.
 */
async function prepareBinds(
  ctx: StepContext,
  desired: DesiredService,
): Promise<ReadonlyMap<number, string> | undefined> {
  if (!desired.spec.volumes.some((m) => m.repoFile !== undefined || m.hostData !== undefined)) {
    return undefined;
  }
  if (ctx.stateDir === undefined) {
    throw new GitdockError(
      'GITDOCK_E_STATE_DIR',
      `${desired.name} mounts files from the repo or host data, which live under a state directory; give one (--state-dir)`,
      { service: desired.name },
    );
  }
  await materializeRepoFiles(ctx.stateDir, desired.repoFiles ?? []);
  return bindSourcesFor(desired, { stateDir: ctx.stateDir });
}

function recordedGracePeriod(labels: Record<string, string>): number {
  return decodeSpecLabel(labels[LABELS.spec])?.stopGracePeriodMs ?? DEFAULTS.stopGracePeriodMs;
}

/** The container's last log lines; none when the engine cannot give them (never fatal). */
async function lastLogLines(engine: Engine, id: string): Promise<string[]> {
  try {
    const text = (await engine.logTail(id, LOG_TAIL_LINES)).trimEnd();
    return text ? text.split('\n').map((line) => line.trimEnd()) : [];
  } catch {
    return [];
  }
}

function formatLogLines(lines: readonly string[]): string {
  return lines.length > 0 ? `\n  last log lines:\n${lines.map((l) => `    ${l}`).join('\n')}` : '';
}
