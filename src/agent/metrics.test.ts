import { describe, expect, it } from 'vitest';
import { createAgentMetrics } from './metrics.js';

/** The sample lines of one metric (no `# HELP`/`# TYPE`), in output order. */
function samples(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('createAgentMetrics', () => {
  it('uses the Prometheus text format and a private registry', async () => {
    const a = createAgentMetrics();
    const b = createAgentMetrics();
    a.reconcileTotal.inc('success');
    expect(a.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(samples(await b.render(), 'gitdock_reconcile_total')).toContain(
      'gitdock_reconcile_total{result="success"} 0',
    );
  });

  it('counts reconciles by result, every result present from the start', async () => {
    const m = createAgentMetrics();
    m.reconcileTotal.inc('success');
    m.reconcileTotal.inc('success');
    m.reconcileTotal.inc('invalid');
    const text = await m.render();
    expect(text).toContain('# TYPE gitdock_reconcile_total counter');
    expect(samples(text, 'gitdock_reconcile_total')).toEqual([
      'gitdock_reconcile_total{result="success"} 2',
      'gitdock_reconcile_total{result="waiting"} 0',
      'gitdock_reconcile_total{result="failure"} 0',
      'gitdock_reconcile_total{result="refused"} 0',
      'gitdock_reconcile_total{result="invalid"} 1',
      'gitdock_reconcile_total{result="preempted"} 0',
      'gitdock_reconcile_total{result="gated"} 0',
      'gitdock_reconcile_total{result="stopped"} 0',
    ]);
  });

  it('observes durations into the buckets from 0.05 s to 120 s', async () => {
    const m = createAgentMetrics();
    m.reconcileDuration.observe(0.2);
    m.reconcileDuration.observe(90);
    const lines = samples(await m.render(), 'gitdock_reconcile_duration_seconds_bucket');
    expect(lines[0]).toBe('gitdock_reconcile_duration_seconds_bucket{le="0.05"} 0');
    expect(lines).toContain('gitdock_reconcile_duration_seconds_bucket{le="0.25"} 1');
    expect(lines).toContain('gitdock_reconcile_duration_seconds_bucket{le="60"} 1');
    expect(lines).toContain('gitdock_reconcile_duration_seconds_bucket{le="120"} 2');
    expect(lines.at(-1)).toBe('gitdock_reconcile_duration_seconds_bucket{le="+Inf"} 2');
  });

  it.each([
    ['Synced', 'Healthy'],
    ['OutOfSync', 'Progressing'],
    ['Failed', 'Degraded'],
    ['OutOfSync', 'Missing'],
    ['Synced', 'Unknown'],
  ] as const)('sets 1 for %s/%s and 0 for the other statuses', async (sync, health) => {
    const m = createAgentMetrics();
    m.setServices([{ name: 'web', sync, health }]);
    const text = await m.render();
    const syncLines = samples(text, 'gitdock_service_sync_status');
    const healthLines = samples(text, 'gitdock_service_health_status');
    expect(syncLines).toHaveLength(3);
    expect(healthLines).toHaveLength(5);
    expect(syncLines.filter((l) => l.endsWith(' 1'))).toEqual([
      `gitdock_service_sync_status{service="web",status="${sync}"} 1`,
    ]);
    expect(healthLines.filter((l) => l.endsWith(' 1'))).toEqual([
      `gitdock_service_health_status{service="web",status="${health}"} 1`,
    ]);
  });

  it('moves the 1 when a status changes', async () => {
    const m = createAgentMetrics();
    m.serviceSync.set('web', 'OutOfSync');
    m.serviceSync.set('web', 'Synced');
    expect(samples(await m.render(), 'gitdock_service_sync_status')).toEqual([
      'gitdock_service_sync_status{service="web",status="Synced"} 1',
      'gitdock_service_sync_status{service="web",status="OutOfSync"} 0',
      'gitdock_service_sync_status{service="web",status="Failed"} 0',
    ]);
  });

  it('removes the series of services that are gone', async () => {
    const m = createAgentMetrics();
    m.setServices([
      { name: 'web', sync: 'Synced', health: 'Healthy' },
      { name: 'cache', sync: 'Failed', health: 'Degraded' },
    ]);
    m.setServices([{ name: 'web', sync: 'Synced', health: 'Healthy' }]);
    const text = await m.render();
    expect(text).not.toContain('service="cache"');
    expect(samples(text, 'gitdock_service_sync_status')).toHaveLength(3);
    expect(samples(text, 'gitdock_service_health_status')).toHaveLength(5);
    m.setServices([]);
    const empty = await m.render();
    expect(samples(empty, 'gitdock_service_sync_status')).toEqual([]);
    expect(samples(empty, 'gitdock_service_health_status')).toEqual([]);
  });

  it('keeps one applied commit series', async () => {
    const m = createAgentMetrics();
    expect(samples(await m.render(), 'gitdock_applied_commit_info')).toEqual([]);
    m.appliedInfo.set('aaaa');
    m.appliedInfo.set('bbbb');
    expect(samples(await m.render(), 'gitdock_applied_commit_info')).toEqual([
      'gitdock_applied_commit_info{commit="bbbb"} 1',
    ]);
    m.appliedInfo.set(null);
    expect(samples(await m.render(), 'gitdock_applied_commit_info')).toEqual([]);
  });

  it("labels Compose services by identity: two projects' db apart, a replica removed alone", async () => {
    const m = createAgentMetrics();
    m.setServices([
      { name: 'shop/db', sync: 'Synced', health: 'Healthy' },
      { name: 'blog/db', sync: 'Failed', health: 'Degraded' },
      { name: 'shop/app', sync: 'Synced', health: 'Healthy' },
      { name: 'shop/app#2', sync: 'OutOfSync', health: 'Progressing' },
    ]);
    const current = (text: string) =>
      samples(text, 'gitdock_service_sync_status').filter((l) => l.endsWith(' 1'));
    expect(current(await m.render())).toEqual([
      'gitdock_service_sync_status{service="shop/db",status="Synced"} 1',
      'gitdock_service_sync_status{service="blog/db",status="Failed"} 1',
      'gitdock_service_sync_status{service="shop/app",status="Synced"} 1',
      'gitdock_service_sync_status{service="shop/app#2",status="OutOfSync"} 1',
    ]);
    m.setServices([
      { name: 'shop/db', sync: 'Synced', health: 'Healthy' },
      { name: 'blog/db', sync: 'Synced', health: 'Healthy' },
      { name: 'shop/app', sync: 'Synced', health: 'Healthy' },
    ]);
    const text = await m.render();
    expect(text).not.toContain('service="shop/app#2"');
    expect(current(text)).toHaveLength(3);
    expect(samples(text, 'gitdock_service_health_status')).toHaveLength(15);
  });

  it('escapes label values', async () => {
    const m = createAgentMetrics();
    m.serviceSync.set('a"b\\c', 'Synced');
    expect(await m.render()).toContain('service="a\\"b\\\\c",status="Synced"} 1');
  });

  it('records a pass: result, duration, services, commit, convergence', async () => {
    const m = createAgentMetrics();
    m.observePass({
      result: 'success',
      status: {
        lastAppliedCommit: 'c0ffee',
        services: [{ name: 'web', sync: 'Synced', health: 'Healthy' }],
        engine: { reachable: true },
      },
      durationMs: 1500,
      convergedAfterMs: 4000,
    });
    const text = await m.render();
    expect(samples(text, 'gitdock_reconcile_total')).toContain(
      'gitdock_reconcile_total{result="success"} 1',
    );
    expect(samples(text, 'gitdock_reconcile_duration_seconds_count')).toEqual([
      'gitdock_reconcile_duration_seconds_count 1',
    ]);
    expect(samples(text, 'gitdock_reconcile_duration_seconds_sum')).toEqual([
      'gitdock_reconcile_duration_seconds_sum 1.5',
    ]);
    expect(samples(text, 'gitdock_push_to_converged_seconds_sum')).toEqual([
      'gitdock_push_to_converged_seconds_sum 4',
    ]);
    expect(samples(text, 'gitdock_push_to_converged_seconds_bucket')).toContain(
      'gitdock_push_to_converged_seconds_bucket{le="5"} 1',
    );
    expect(samples(text, 'gitdock_applied_commit_info')).toEqual([
      'gitdock_applied_commit_info{commit="c0ffee"} 1',
    ]);
    expect(samples(text, 'gitdock_service_sync_status')).toContain(
      'gitdock_service_sync_status{service="web",status="Synced"} 1',
    );
    expect(samples(text, 'gitdock_service_health_status')).toContain(
      'gitdock_service_health_status{service="web",status="Healthy"} 1',
    );
    expect(samples(text, 'gitdock_engine_reachable')).toEqual(['gitdock_engine_reachable 1']);
  });

  it('counts a pass under the result it is given, and only a converging one as converged', async () => {
    const m = createAgentMetrics();
    const status = {
      lastAppliedCommit: 'c0ffee',
      services: [{ name: 'web', sync: 'Synced', health: 'Healthy' }] as const,
      engine: { reachable: true },
    };
    m.observePass({ result: 'preempted', status, durationMs: 10 });
    m.observePass({ result: 'stopped', status, durationMs: 10 });
    m.observePass({ result: 'preempted', status, durationMs: 10 });
    const text = await m.render();
    expect(samples(text, 'gitdock_reconcile_total')).toEqual([
      'gitdock_reconcile_total{result="success"} 0',
      'gitdock_reconcile_total{result="waiting"} 0',
      'gitdock_reconcile_total{result="failure"} 0',
      'gitdock_reconcile_total{result="refused"} 0',
      'gitdock_reconcile_total{result="invalid"} 0',
      'gitdock_reconcile_total{result="preempted"} 2',
      'gitdock_reconcile_total{result="gated"} 0',
      'gitdock_reconcile_total{result="stopped"} 1',
    ]);
    expect(samples(text, 'gitdock_reconcile_duration_seconds_count')).toEqual([
      'gitdock_reconcile_duration_seconds_count 3',
    ]);
    expect(samples(text, 'gitdock_push_to_converged_seconds_count')).toEqual([
      'gitdock_push_to_converged_seconds_count 0',
    ]);
  });

  it('a pass with no services left removes their series', async () => {
    const m = createAgentMetrics();
    const pass = (services: { name: string; sync: 'Synced'; health: 'Healthy' }[]) =>
      m.observePass({
        result: 'success',
        status: { lastAppliedCommit: 'c0ffee', services, engine: { reachable: true } },
        durationMs: 10,
      });
    pass([{ name: 'web', sync: 'Synced', health: 'Healthy' }]);
    pass([]);
    const text = await m.render();
    expect(samples(text, 'gitdock_service_sync_status')).toEqual([]);
    expect(samples(text, 'gitdock_service_health_status')).toEqual([]);
  });

  it('gitdock_engine_reachable is 1 from the start, 0 while the engine is away, 1 again when back', async () => {
    const m = createAgentMetrics();
    expect(await m.render()).toContain('# TYPE gitdock_engine_reachable gauge');
    expect(samples(await m.render(), 'gitdock_engine_reachable')).toEqual([
      'gitdock_engine_reachable 1',
    ]);
    m.observePass({
      result: 'failure',
      status: {
        lastAppliedCommit: 'c0ffee',
        services: [{ name: 'web', sync: 'Synced', health: 'Unknown' }],
        engine: { reachable: false },
      },
      durationMs: 10,
    });
    const away = await m.render();
    expect(samples(away, 'gitdock_engine_reachable')).toEqual(['gitdock_engine_reachable 0']);
    expect(samples(away, 'gitdock_service_health_status')).toContain(
      'gitdock_service_health_status{service="web",status="Unknown"} 1',
    );
    m.engineReachable.set(true);
    expect(samples(await m.render(), 'gitdock_engine_reachable')).toEqual([
      'gitdock_engine_reachable 1',
    ]);
    m.engineReachable.set(false);
    expect(samples(await m.render(), 'gitdock_engine_reachable')).toEqual([
      'gitdock_engine_reachable 0',
    ]);
  });

  it('reports process CPU, resident memory and start time, and no default metrics', async () => {
    const m = createAgentMetrics();
    const text = await m.render();
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
    const [cpu] = samples(text, 'process_cpu_seconds_total');
    const [rss] = samples(text, 'process_resident_memory_bytes');
    const [start] = samples(text, 'process_start_time_seconds');
    expect(Number(cpu?.split(' ')[1])).toBeGreaterThan(0);
    expect(Number(rss?.split(' ')[1])).toBeGreaterThan(1024 * 1024);
    expect(Math.abs(Number(start?.split(' ')[1]) - Date.now() / 1000)).toBeLessThan(3600);
    expect(text).not.toContain('nodejs_');
  });
});
