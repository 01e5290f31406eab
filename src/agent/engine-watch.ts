import type { Engine, EngineEvent } from '../core/engine.js';
import { messageOf } from '../errors.js';
import type { Clock } from '../reconcile/clock.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';

/** The engine's event stream is reopened at most this long after it broke: the engine back means a pass at once. */
const RECONNECT_CAP_MS = 2_000;
/** A stream that stayed open this long was fine: its end starts the count of failures again. */
const HEALTHY_STREAM_MS = 10_000;

export interface EngineWatchOptions {
  engine: Engine;
  host: string;
  clock: Clock;
  retry: BackoffPolicy;
  signal: AbortSignal;
  onEvent(event: EngineEvent): void;
  /** The stream broke and the engine does not answer. */
  onAway(why: string): void;
  /** The engine answers again (or the stream was reopened): a pass should find what happened. */
  onBack(): void;
}

/**
 * Follows the engine's event stream for one host until `signal` aborts.
 * A stream that ends (an engine restart, a cut connection) is reopened
 * within a couple of seconds; while the engine does not answer, `onAway`
 * says so, and `onBack` once it does again.
 */
export async function followEngineEvents(options: EngineWatchOptions): Promise<void> {
  const { engine, host, clock, signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    const opened = clock.now();
    let broke: string;
    try {
      await engine.watchEvents({ host, signal, onEvent: options.onEvent });
      broke = 'the event stream ended';
    } catch (err) {
      broke = messageOf(err);
    }
    if (signal.aborted) break;
    failures = clock.now() - opened > HEALTHY_STREAM_MS ? 1 : failures + 1;
    if (failures > 1 || !(await engineAnswers(engine))) options.onAway(broke);
    await clock.sleep(Math.min(RECONNECT_CAP_MS, backoffDelay(options.retry, failures)), signal);
    if (!signal.aborted && (await engineAnswers(engine))) options.onBack();
  }
}

/** Whether the engine answers a ping now. */
export async function engineAnswers(engine: Engine): Promise<boolean> {
  try {
    await engine.ping();
    return true;
  } catch {
    return false;
  }
}
