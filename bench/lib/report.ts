// Turns the samples into bench/results/apply.json and the table printed on stdout.
import type { ColdStartSample } from './cold-start.js';
import { formatMs, formatRange, median, min, roundMs, roundRatio } from './stats.js';
import { SCENARIOS, type ScenarioId, type ToolId } from './tools.js';

export interface Measurement {
  tool: ToolId;
  label: string;
  scenario: ScenarioId;
  samplesMs: number[];
  /** Container-changing engine events during each sample. */
  mutations: number[];
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  dockerd: string;
  dockerCompose: string;
  git: string;
  /** 1-minute load average before and after the run: a busy machine makes every number noisier. */
  loadAverage: { start: number; end: number };
}

export interface BenchReport {
  benchmark: 'apply';
  date: string;
  runs: number;
  services: number;
  machine: Machine;
  gitdock: { version: string; commit: string; dirty: boolean };
  results: (Measurement & { medianMs: number; minMs: number })[];
  /** Median over median, per pair of tools and scenario. */
  ratios: Record<string, Record<ScenarioId, number>>;
  goals: Goal[];
  coldStart: (ColdStartSample & { medianMs: number; minMs: number; overNodeMs: number })[];
}

export interface Goal {
  goal: string;
  tool: ToolId;
  versus: ToolId;
  scenario: ScenarioId;
  limit: number;
  ratio: number;
  met: boolean;
}

const RATIO_PAIRS: { key: string; tool: ToolId; versus: ToolId }[] = [
  { key: 'gitdock/compose', tool: 'gitdock', versus: 'compose' },
  { key: 'gitdock/bare-cli', tool: 'gitdock', versus: 'docker-cli' },
  { key: 'gitdock-settle-0s/compose', tool: 'gitdock-settle-0s', versus: 'compose' },
  { key: 'gitdock-settle-0s/bare-cli', tool: 'gitdock-settle-0s', versus: 'docker-cli' },
];

/** The spec's targets: a no-op apply is cheap, one changed service costs about what the CLI does. */
const GOALS: Omit<Goal, 'ratio' | 'met'>[] = [
  {
    goal: 'no-op apply at most 0.3x compose',
    tool: 'gitdock',
    versus: 'compose',
    scenario: 'no-op',
    limit: 0.3,
  },
  {
    goal: 'one changed service within 1.2x of the docker CLI',
    tool: 'gitdock',
    versus: 'docker-cli',
    scenario: 'one-changed',
    limit: 1.2,
  },
  {
    goal: 'one changed service within 1.2x of the docker CLI',
    tool: 'gitdock-settle-0s',
    versus: 'docker-cli',
    scenario: 'one-changed',
    limit: 1.2,
  },
];

export function buildReport(input: {
  date: Date;
  runs: number;
  services: number;
  machine: Machine;
  gitdock: BenchReport['gitdock'];
  measurements: Measurement[];
  coldStart: ColdStartSample[];
}): BenchReport {
  const results = input.measurements.map((m) => ({
    tool: m.tool,
    label: m.label,
    scenario: m.scenario,
    medianMs: roundMs(median(m.samplesMs)),
    minMs: roundMs(min(m.samplesMs)),
    samplesMs: m.samplesMs.map(roundMs),
    mutations: m.mutations,
  }));
  const medianOf = (tool: ToolId, scenario: ScenarioId) =>
    median(
      input.measurements.find((m) => m.tool === tool && m.scenario === scenario)?.samplesMs ?? [],
    );
  const ratio = (tool: ToolId, versus: ToolId, scenario: ScenarioId) =>
    roundRatio(medianOf(tool, scenario) / medianOf(versus, scenario));
  const ratios: BenchReport['ratios'] = {};
  for (const pair of RATIO_PAIRS) {
    ratios[pair.key] = Object.fromEntries(
      SCENARIOS.map((s) => [s.id, ratio(pair.tool, pair.versus, s.id)]),
    ) as Record<ScenarioId, number>;
  }
  const goals = GOALS.map((g) => {
    const r = ratio(g.tool, g.versus, g.scenario);
    return { ...g, ratio: r, met: r <= g.limit };
  });
  const nodeMs = median(input.coldStart.find((c) => c.id === 'node')?.samplesMs ?? []);
  const coldStart = input.coldStart.map((c) => ({
    id: c.id,
    label: c.label,
    medianMs: roundMs(median(c.samplesMs)),
    minMs: roundMs(min(c.samplesMs)),
    overNodeMs: roundMs(median(c.samplesMs) - nodeMs),
    samplesMs: c.samplesMs.map(roundMs),
  }));
  return {
    benchmark: 'apply',
    date: input.date.toISOString(),
    runs: input.runs,
    services: input.services,
    machine: input.machine,
    gitdock: input.gitdock,
    results,
    ratios,
    goals,
    coldStart,
  };
}

const LABELS: Record<ToolId, string> = {
  gitdock: 'gitdock',
  'gitdock-settle-0s': 'gitdock (settle 0s)',
  compose: 'compose',
  'docker-cli': 'docker CLI',
};

/** The human-readable report. */
export function formatReport(report: BenchReport): string {
  const m = report.machine;
  const out: string[] = [
    `gitdock apply bench: ${report.services} services, ${report.runs} run${report.runs === 1 ? '' : 's'} per tool and scenario` +
      (report.runs === 1 ? ' (one run: a smoke test, not a measurement)' : ''),
    `${m.cpus} CPUs (${m.cpuModel}), node ${m.node}, dockerd ${m.dockerd}, docker-compose ${m.dockerCompose}; ` +
      `load average ${m.loadAverage.start.toFixed(2)} -> ${m.loadAverage.end.toFixed(2)}`,
    `gitdock ${report.gitdock.version} at ${report.gitdock.commit.slice(0, 12)}${report.gitdock.dirty ? ' (uncommitted changes)' : ''}`,
    '',
  ];

  const rows: string[][] = [['scenario', 'tool', 'median', 'min', 'engine mutations']];
  for (const s of SCENARIOS) {
    report.results
      .filter((r) => r.scenario === s.id)
      .forEach((r, i) => {
        rows.push([
          i === 0 ? s.label : '',
          r.label,
          formatMs(r.medianMs),
          formatMs(r.minMs),
          formatRange(r.mutations),
        ]);
      });
  }
  out.push(...table(rows, [false, false, true, true, true]), '');

  const ratioRows: string[][] = [['ratio (median / median)', ...SCENARIOS.map((s) => s.label)]];
  for (const pair of RATIO_PAIRS) {
    const values = report.ratios[pair.key]!;
    ratioRows.push([
      `${LABELS[pair.tool]} / ${LABELS[pair.versus]}`,
      ...SCENARIOS.map((s) => formatRatio(values[s.id])),
    ]);
  }
  out.push(...table(ratioRows, [false, true, true, true]), '');

  out.push('goals:');
  for (const g of report.goals) {
    out.push(
      `  ${g.goal}: ${LABELS[g.tool]} ${formatRatio(g.ratio)} -> ${g.met ? 'met' : 'MISSED'}`,
    );
  }
  out.push('');

  const coldRows: string[][] = [
    [
      `cold start (fresh process, ${report.runs} run${report.runs === 1 ? '' : 's'})`,
      'median',
      'min',
      'over node',
    ],
  ];
  for (const c of report.coldStart) {
    coldRows.push([
      c.label,
      formatMs(c.medianMs),
      formatMs(c.minMs),
      c.id === 'node' ? '' : `${c.overNodeMs < 0 ? '-' : '+'}${formatMs(Math.abs(c.overNodeMs))}`,
    ]);
  }
  out.push(...table(coldRows, [false, true, true, true]));
  return `${out.join('\n')}\n`;
}

function formatRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '-' : `${r.toFixed(2)}x`;
}

/** Columns padded to their widest cell; `right[i]` right-aligns column i. */
function table(rows: string[][], right: boolean[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}
