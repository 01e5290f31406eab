/** Time, injected so rollout waits and the agent's loop are testable and never hidden in module state. */
export interface Clock {
  now(): number;
  /**
   * Resolves after `ms`, or as soon as `signal` aborts (resolves, never
   * rejects: the caller looks at the signal). A fake clock resolves it when
   * its time is advanced past the deadline.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Node fires a longer timer after 1 ms (with a warning): longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const end = Date.now() + Math.max(0, ms);
      let timer: NodeJS.Timeout;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const arm = () => {
        const left = end - Date.now();
        if (left <= 0) return done();
        timer = setTimeout(left > MAX_TIMER_MS ? arm : done, Math.min(left, MAX_TIMER_MS));
      };
      signal?.addEventListener('abort', done, { once: true });
      arm();
    }),
};

/**
 * A signal that aborts when any of `signals` does, with the listeners it
 * adds removed by `dispose`. (`AbortSignal.any` on Node 20 keeps a
 * reference from a long-lived signal to every signal made from it.)
 */
export function anySignal(signals: readonly (AbortSignal | undefined)[]): {
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  const onAbort = (event: Event) => {
    controller.abort((event.target as AbortSignal).reason);
    dispose();
  };
  const dispose = () => {
    for (const s of present) s.removeEventListener('abort', onAbort);
  };
  const aborted = present.find((s) => s.aborted);
  if (aborted) controller.abort(aborted.reason);
  else for (const s of present) s.addEventListener('abort', onAbort, { once: true });
  return { signal: controller.signal, dispose };
}
