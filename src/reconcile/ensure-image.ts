import type { Engine, PullProgress } from '../core/engine.js';
import type { DesiredService } from '../core/types.js';
import { GitdockError, isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import { abortReason } from './wait-until-up.js';

/** Pulls run a few at a time: layers already present never travel. */
export const PULL_CONCURRENCY = 3;

/** A counting semaphore: at most `limit` holders at once, the rest wait in order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Pulls of one reconcile, shared: two services on one image pull it once. */
export interface PullRegistry {
  engine: Engine;
  log: Log;
  slots: Semaphore;
  inFlight: Map<string, Promise<void>>;
  /** References pulled in this run. */
  pulled: Set<string>;
  onProgress?: (p: PullProgress) => void;
  onDone?: (ref: string, error?: string) => void;
}

export function createPullRegistry(
  engine: Engine,
  log: Log,
  hooks: Pick<PullRegistry, 'onProgress' | 'onDone'> = {},
): PullRegistry {
  return {
    engine,
    log,
    slots: new Semaphore(PULL_CONCURRENCY),
    inFlight: new Map(),
    pulled: new Set(),
    ...hooks,
  };
}

/**
 * Makes sure the service's image is on the host: pulled when missing, or
 * always under `pull: always`. Returns the local image ID. One service's
 * pull never waits for another's beyond the shared concurrency limit, and
 * `signal` (a newer commit, a shutdown) cuts it at once. Rejects with
 * GITDOCK_E_PULL_FAILED; nothing has been stopped when it does.
 */
export async function ensureImage(
  pulls: PullRegistry,
  desired: DesiredService,
  signal: AbortSignal | undefined,
): Promise<string> {
  const ref = desired.imageRef;
  const present = await pulls.engine.imageId(ref);
  if (present && desired.rollout.pull !== 'always') return present;
  let pull = pulls.inFlight.get(ref);
  if (!pull) {
    pull = pulls.slots.run(() => pullOnce(pulls, ref, signal));
    pulls.inFlight.set(ref, pull);
  }
  await pull;
  const id = await pulls.engine.imageId(ref);
  if (!id) {
    throw new GitdockError(
      'GITDOCK_E_PULL_FAILED',
      `Cannot pull ${ref}: the pull finished but the image is not on the host`,
      { ref },
    );
  }
  return id;
}

async function pullOnce(pulls: PullRegistry, ref: string, signal: AbortSignal | undefined) {
  if (signal?.aborted) {
    throw new GitdockError(
      'GITDOCK_E_PULL_FAILED',
      `Pull of ${ref} not begun: ${abortReason(signal)}`,
      {
        ref,
        aborted: true,
      },
    );
  }
  pulls.log.info({ image: ref }, 'pulling image');
  try {
    await pulls.engine.pullImage(ref, pulls.onProgress, signal);
  } catch (err) {
    const message = messageOf(err);
    if (isGitdockError(err) && err.data.aborted === true)
      pulls.log.info({ image: ref, err: message }, 'image pull cut short');
    else pulls.log.error({ image: ref, err: message }, 'image pull failed');
    pulls.onDone?.(ref, message);
    throw isGitdockError(err)
      ? err
      : new GitdockError('GITDOCK_E_PULL_FAILED', `Cannot pull ${ref}: ${message}`, { ref });
  }
  pulls.pulled.add(ref);
  pulls.log.info({ image: ref }, 'image pulled');
  pulls.onDone?.(ref);
}
