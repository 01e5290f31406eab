import type { Engine } from '../core/engine.js';
import type { DesiredService } from '../core/types.js';
import { GitdockError, isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { Clock } from '../reconcile/clock.js';
import { PULL_CONCURRENCY, Semaphore } from '../reconcile/ensure-image.js';
import type { ImageProvider } from '../reconcile/reconcile-host.js';

interface PullJob {
  controller: AbortController;
  startedAt: number;
  /** Set when the pull has ended. */
  result?: { ok: true } | { ok: false; error: GitdockError };
  /** A pass has taken the result: it is forgotten when that pass ends. */
  taken?: boolean;
}

/**
 * The agent's pulls, off the pass: a pass that needs an image not on the
 * host starts its pull here and goes on with the other services; when the
 * pull ends, `onDone` asks for a pass, which finds the image (or the
 * failure). So a stalled or failing registry holds up only the services of
 * that image, never a heal of another service, a newer commit or a
 * shutdown. A pull no longer wanted (a newer commit) is cut.
 */
export class BackgroundPulls implements ImageProvider {
  private readonly jobs = new Map<string, PullJob>();
  private readonly slots = new Semaphore(PULL_CONCURRENCY);

  constructor(
    private readonly options: {
      engine: Engine;
      log: Log;
      clock: Clock;
      /** A pull ended (well or not): a pass should look again. */
      onDone: (ref: string) => void;
    },
  ) {}

  async ensure(
    desired: DesiredService,
    _signal: AbortSignal,
  ): Promise<{ id: string } | { pending: string }> {
    const ref = desired.imageRef;
    const job = this.jobs.get(ref);
    if (job && !job.result) return { pending: this.describe(ref, job) };
    if (job?.result) {
      // A finished pull is the answer for every service of that image in this
      // pass; `passEnded` forgets it, so under `pull: always` the next pass pulls again.
      job.taken = true;
      if (!job.result.ok) throw job.result.error;
      const id = await this.options.engine.imageId(ref);
      if (id) return { id };
      // Pulled, and removed since (docker rmi): pull again.
      this.jobs.delete(ref);
    } else if (desired.rollout.pull !== 'always') {
      const id = await this.options.engine.imageId(ref);
      if (id) return { id };
    }
    // Another service of the same image may have started its pull meanwhile.
    if (this.jobs.has(ref)) return { pending: this.describe(ref, this.jobs.get(ref)!) };
    this.start(ref);
    return { pending: `pulling ${ref}` };
  }

  /**
   * The pulls that failed since the last pass, by reference, taken: a pass
   * records them as failures of the services of that image before it
   * decides anything, so a service held by its backoff still learns that
   * its retry failed (and waits longer next time).
   */
  takeFailures(): Map<string, GitdockError> {
    const failed = new Map<string, GitdockError>();
    for (const [ref, job] of this.jobs) {
      if (job.result && !job.result.ok && !job.taken) {
        job.taken = true;
        failed.set(ref, job.result.error);
      }
    }
    return failed;
  }

  /**
   * A pass ended: the results it took are forgotten. One that ended during
   * the pass but was not taken waits for the pass its end triggers.
   */
  passEnded(): void {
    for (const [ref, job] of this.jobs) if (job.taken) this.jobs.delete(ref);
  }

  /** Pulls in flight, for /status. */
  running(): { ref: string; startedAt: number }[] {
    return [...this.jobs]
      .filter(([, job]) => !job.result)
      .map(([ref, job]) => ({ ref, startedAt: job.startedAt }));
  }

  /** Cuts pulls of references the desired state no longer names. */
  retain(refs: ReadonlySet<string>, reason: string): void {
    for (const [ref, job] of this.jobs) {
      if (refs.has(ref)) continue;
      job.controller.abort(reason);
      this.jobs.delete(ref);
    }
  }

  /** Cuts every pull (the agent is stopping). */
  abortAll(reason: string): void {
    for (const job of this.jobs.values()) job.controller.abort(reason);
    this.jobs.clear();
  }

  private start(ref: string): void {
    const { engine, log, clock } = this.options;
    const job: PullJob = { controller: new AbortController(), startedAt: clock.now() };
    this.jobs.set(ref, job);
    void this.slots
      .run(async () => {
        if (job.controller.signal.aborted) return;
        log.info({ image: ref }, 'pulling image');
        try {
          await engine.pullImage(ref, undefined, job.controller.signal);
          job.result = { ok: true };
          log.info({ image: ref, durationMs: clock.now() - job.startedAt }, 'image pulled');
        } catch (err) {
          const error = isGitdockError(err)
            ? err
            : new GitdockError('GITDOCK_E_PULL_FAILED', `Cannot pull ${ref}: ${messageOf(err)}`, {
                ref,
              });
          job.result = { ok: false, error };
          if (job.controller.signal.aborted)
            log.info({ image: ref, err: error.message }, 'image pull cut');
          else log.error({ image: ref, err: error.message }, 'image pull failed');
        }
      })
      .finally(() => {
        // A cut pull was dropped from `jobs` already and asks for nothing.
        if (this.jobs.get(ref) === job) this.options.onDone(ref);
      });
  }

  private describe(ref: string, job: PullJob): string {
    const seconds = Math.round((this.options.clock.now() - job.startedAt) / 1000);
    return `pulling ${ref} (for ${seconds}s)`;
  }
}
