/**
 * The agent's Prometheus metrics, on a registry of its own (never
 * prom-client's global one, so two agents in one process or a test do not
 * share series).
 *
 * State metrics follow kube-state-metrics: one series per possible status,
 * 1 for the current one and 0 for the others, so `== 1` selects and
 * `changes()` counts transitions. Series of a service that left the repo are
 * removed, not left at their last value. The `service` label is the
 * service's identity: a manifest's name, or `<project>/<service>[#n]` for a
 * Compose service, so two projects' `db` are two series.
 *
 * prom-client's `collectDefaultMetrics` is not used: measured here (Node 20)
 * it adds 54 series, 5 ms per scrape and ~1% of a core while idle (its
 * event-loop-delay monitor wakes the process every 10 ms). The two process
 * metrics worth having are read at scrape time instead, for nothing.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  HEALTH_STATUSES,
  type HealthStatus,
  type ReconcileResultKind,
  SYNC_STATUSES,
  type SyncStatus,
} from '../core/agent-status.js';

export type ReconcileResultLabel = Exclude<ReconcileResultKind, 'running'>;
export type SyncStatusLabel = SyncStatus;
export type HealthStatusLabel = HealthStatus;

export const RECONCILE_RESULTS: readonly ReconcileResultLabel[] = [
  'success',
  'waiting',
  'failure',
  'refused',
  'invalid',
  'preempted',
  'gated',
  'stopped',
];
export { HEALTH_STATUSES, SYNC_STATUSES };

/** A pass takes from a no-op (tens of ms) to a pull plus a health wait (minutes). */
const RECONCILE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];
/** From the trigger (a push, a webhook) to every service converged: seconds to many minutes. */
const CONVERGED_BUCKETS = [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

/** One service as `/status` reports it; only these fields are read. */
export interface ServiceMetricsInput {
  name: string;
  sync: SyncStatusLabel;
  health: HealthStatusLabel;
}

/** What the agent reports after a pass (`AgentObserver.onPass`); only these fields are read. */
export interface PassMetricsInput {
  result: ReconcileResultLabel;
  status: {
    lastAppliedCommit: string | null;
    services: readonly ServiceMetricsInput[];
    engine: { reachable: boolean };
  };
  durationMs: number;
  convergedAfterMs?: number;
}

export interface AgentMetrics {
  /** The private registry, for tests or for adding metrics. */
  readonly registry: Registry;
  /** The `Content-Type` of `render()`'s text (Prometheus text format 0.0.4). */
  readonly contentType: string;
  /** `gitdock_reconcile_total{result}`: passes by result. */
  readonly reconcileTotal: { inc(result: ReconcileResultLabel): void };
  /** `gitdock_reconcile_duration_seconds`: how long a pass took. */
  readonly reconcileDuration: { observe(seconds: number): void };
  /** `gitdock_service_sync_status{service,status}`: 1 for the service's sync status, 0 for the others. */
  readonly serviceSync: { set(service: string, status: SyncStatusLabel): void };
  /** `gitdock_service_health_status{service,status}`: 1 for the service's health, 0 for the others. */
  readonly serviceHealth: { set(service: string, status: HealthStatusLabel): void };
  /** `gitdock_applied_commit_info{commit}`: 1 for the last applied commit; no series before one. */
  readonly appliedInfo: { set(commit: string | null): void };
  /** `gitdock_engine_reachable`: 1 while the engine answers, 0 while it is away. */
  readonly engineReachable: { set(reachable: boolean): void };
  /** `gitdock_push_to_converged_seconds`: from the trigger that brought a commit to it converged. */
  readonly pushToConvergedSeconds: { observe(seconds: number): void };
  /**
   * Sets sync and health of every service in `services` and removes the
   * series of services not in it (deleted from the repo).
   */
  setServices(services: readonly ServiceMetricsInput[]): void;
  /** Records one finished pass: result, duration, services, applied commit, convergence time. */
  observePass(pass: PassMetricsInput): void;
  /** The exposition text, for `GET /metrics`. */
  render(): Promise<string>;
}

/** Creates the agent's metrics on a new private registry. */
export function createAgentMetrics(): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];

  const reconcileCounter = new Counter({
    name: 'gitdock_reconcile_total',
    help: 'Reconcile passes by result (success, waiting, failure, refused, invalid, preempted, stopped).',
    labelNames: ['result'] as const,
    registers,
  });
  // Every result from the start, so rate() and increase() see the first one.
  for (const result of RECONCILE_RESULTS) reconcileCounter.inc({ result }, 0);

  const reconcileHistogram = new Histogram({
    name: 'gitdock_reconcile_duration_seconds',
    help: 'Duration of a reconcile pass, in seconds.',
    buckets: RECONCILE_BUCKETS,
    registers,
  });

  const syncGauge = new Gauge({
    name: 'gitdock_service_sync_status',
    help: 'Sync status of each service (by identity: appserver, or shop/app and shop/app#2 for a Compose service and its replica 2): 1 for the current status (Synced, OutOfSync, Failed), 0 for the others.',
    labelNames: ['service', 'status'] as const,
    registers,
  });

  const healthGauge = new Gauge({
    name: 'gitdock_service_health_status',
    help: 'Health of each service (by identity: appserver, or shop/app and shop/app#2 for a Compose service and its replica 2): 1 for the current status (Healthy, Progressing, Degraded, Missing, Unknown), 0 for the others.',
    labelNames: ['service', 'status'] as const,
    registers,
  });

  const appliedGauge = new Gauge({
    name: 'gitdock_applied_commit_info',
    help: 'The last commit at which every service converged (value 1).',
    labelNames: ['commit'] as const,
    registers,
  });

  const engineGauge = new Gauge({
    name: 'gitdock_engine_reachable',
    help: 'Whether the Docker engine answered the last pass or event stream (1) or is unreachable (0).',
    registers,
  });
  engineGauge.set(1);

  const convergedHistogram = new Histogram({
    name: 'gitdock_push_to_converged_seconds',
    help: 'Time from the trigger that brought a new commit (push, webhook, fetch) to every service converged, in seconds.',
    buckets: CONVERGED_BUCKETS,
    registers,
  });

  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      const usage = process.cpuUsage();
      this.reset();
      this.inc((usage.user + usage.system) / 1e6);
    },
  });

  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });

  const startSeconds = Math.round((Date.now() - process.uptime() * 1000) / 1000);
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
  }).set(startSeconds);

  const services = new Set<string>();
  let appliedCommit: string | null = null;

  const setOneOf = <S extends string>(
    gauge: Gauge<'service' | 'status'>,
    all: readonly S[],
    service: string,
    current: S,
  ) => {
    services.add(service);
    for (const status of all) gauge.set({ service, status }, status === current ? 1 : 0);
  };

  const removeService = (service: string) => {
    for (const status of SYNC_STATUSES) syncGauge.remove({ service, status });
    for (const status of HEALTH_STATUSES) healthGauge.remove({ service, status });
    services.delete(service);
  };

  const metrics: AgentMetrics = {
    registry,
    contentType: registry.contentType,
    reconcileTotal: { inc: (result) => reconcileCounter.inc({ result }) },
    reconcileDuration: { observe: (seconds) => reconcileHistogram.observe(seconds) },
    serviceSync: { set: (service, status) => setOneOf(syncGauge, SYNC_STATUSES, service, status) },
    serviceHealth: {
      set: (service, status) => setOneOf(healthGauge, HEALTH_STATUSES, service, status),
    },
    appliedInfo: {
      set: (commit) => {
        if (commit === appliedCommit) return;
        appliedGauge.reset();
        if (commit !== null) appliedGauge.set({ commit }, 1);
        appliedCommit = commit;
      },
    },
    pushToConvergedSeconds: { observe: (seconds) => convergedHistogram.observe(seconds) },
    engineReachable: { set: (reachable) => engineGauge.set(reachable ? 1 : 0) },
    setServices(list) {
      const keep = new Set(list.map((s) => s.name));
      for (const service of [...services]) if (!keep.has(service)) removeService(service);
      for (const s of list) {
        metrics.serviceSync.set(s.name, s.sync);
        metrics.serviceHealth.set(s.name, s.health);
      }
    },
    observePass(pass) {
      metrics.reconcileTotal.inc(pass.result);
      metrics.reconcileDuration.observe(pass.durationMs / 1000);
      metrics.setServices(pass.status.services);
      metrics.engineReachable.set(pass.status.engine.reachable);
      metrics.appliedInfo.set(pass.status.lastAppliedCommit);
      if (pass.convergedAfterMs !== undefined) {
        metrics.pushToConvergedSeconds.observe(pass.convergedAfterMs / 1000);
      }
    },
    render: () => registry.metrics(),
  };
  return metrics;
}
