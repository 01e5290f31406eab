/**
 * The agent's `/status` document: one wire shape, served by the agent,
 * read by `gitdock status` (which also reads the older shape: a fleet
 * upgrades host by host) and by the tests. The Sync and Health
 * vocabularies are defined here once.
 */
import type { ErrorCode } from '../errors.js';

/** Does the engine run what the commit says? (Argo CD's sync status.) */
export const SYNC_STATUSES = ['Synced', 'OutOfSync', 'Failed'] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];

/**
 * Is what runs running well? `Unknown` while the engine cannot be asked:
 * an engine that is away says nothing about its containers.
 */
export const HEALTH_STATUSES = [
  'Healthy',
  'Progressing',
  'Degraded',
  'Missing',
  'Unknown',
] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export interface ServiceStatus {
  name: string;
  sync: SyncStatus;
  health: HealthStatus;
  desiredImage: string;
  runningImage: string | null;
  containerId: string | null;
  /** Commit that created the running container (its io.gitdock.commit label). */
  commit: string | null;
  /** Why it is not Synced, or not Healthy; for Failed, starts with the error code. */
  reason?: string;
  /** For Failed: the error code of the last attempt. */
  code?: ErrorCode;
  /** When Failed because a new container did not come up: its last log lines. */
  lastLogLines?: string[];
}

export interface StatusError {
  /** `GITDOCK_E_*`, from src/errors.ts; docs/errors.md says what to do. */
  code: ErrorCode;
  message: string;
  service?: string;
  file?: string;
  line?: number;
  column?: number;
}

export type ReconcileResultKind =
  | 'success'
  /** Nothing failed, but a service waits: for its image (pulled in the background) or for the engine to finish a removal. */
  | 'waiting'
  | 'failure'
  | 'refused'
  | 'invalid'
  | 'preempted'
  | 'stopped'
  /** The newest commit waits for its wave (gitdock.yaml `rollout`); drift is healed at the commit the host runs. */
  | 'gated'
  | 'running';

/**
 * Where this host stands in the release of the newest commit, while its
 * wave waits (gitdock.yaml `rollout`): null once the host applies it.
 */
export interface RolloutStatus {
  /** The commit waiting to be applied here. */
  commit: string;
  /** This host's wave, 1 = the first. */
  wave: number;
  waves: number;
  /**
   * `waiting`: hosts of earlier waves have not applied the commit yet;
   * `soaking`: they have, and the soak runs; `halted`: one of them failed at
   * it, and only a newer commit (or a retry that succeeds there) moves on.
   */
  state: 'waiting' | 'soaking' | 'halted';
  /** The hosts of earlier waves that hold it up. */
  blockers: { host: string; wave: number; state: 'failed' | 'pending'; applied: string | null }[];
  soakEndsAt?: string;
  /** When this agent first saw the commit. */
  since: string;
  /** The hosts' reports could not be read (the gate stays shut meanwhile). */
  error?: string;
}

/** The agent's view, served at /status and mirrored in /metrics. */
export interface AgentStatus {
  host: string;
  branch: string;
  source: string;
  /** What the branch points at, as last read. */
  desiredCommit: string | null;
  /**
   * The commit `services` was computed against: behind `desiredCommit` while
   * a pass at a new commit runs, so a reader can tell stale verdicts.
   */
  servicesCommit: string | null;
  /** The last commit a reconcile was attempted at. */
  lastAttemptedCommit: string | null;
  /** The last commit at which every service converged. */
  lastAppliedCommit: string | null;
  /** The last pass that did something a user caused (a push, drift, a retry), or the one running. */
  lastReconcile: {
    startedAt: string;
    finishedAt: string | null;
    result: ReconcileResultKind;
    /** What the user (or the clock) did that started it. */
    trigger: string;
    commit?: string | null;
  } | null;
  /** A pass running now, and for how long: a long one is waiting on new containers to come up (pulls run beside passes). */
  running?: { startedAt: string; runningForMs: number; trigger: string } | null;
  /** When the agent looks again on its own (resync, or a retry after a failure). */
  nextPassAt?: string | null;
  engine: { reachable: boolean; error?: string; since?: string };
  git: { reachable: boolean; error?: string; lastFetchAt?: string };
  /** The local repository watch (a push seen at once); absent for a remote. */
  watch?: { watching: boolean; error?: string; since?: string };
  /** With --report-ref: the ref moved to each applied commit, and how that went. */
  appliedRef?: { ref: string; reportedCommit: string | null; error?: string };
  /** While the newest commit waits for this host's wave; absent without waves. */
  rollout?: RolloutStatus | null;
  /** The failures of the last pass: invalid files, pull and rollout failures, engine or git away. */
  errors: StatusError[];
  services: ServiceStatus[];
}
