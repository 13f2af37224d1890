// The printed table: absolute figures per server and N, each with its ratio to
// the raw server of the same run, and whether each target of the issue holds.
import { DEFAULT_OURS, OUR_KINDS, SERVERS, type ServerKind } from './lib/cluster.js';
import type { RedisResult, ScenarioResult } from './lib/types.js';
import type { InboxResult } from './inbox.js';
import type { ProfileRuns } from './profile-summary.js';

export interface BenchResults {
  meta: Record<string, unknown>;
  runs: ScenarioResult[];
  redis?: RedisResult;
  profile?: ProfileRuns;
  inbox?: InboxResult;
  table?: Row[];
  targets?: Target[];
}

export interface Row {
  section: string;
  metric: string;
  n: number | string;
  better?: 'lower' | 'higher';
  values: Partial<Record<ServerKind, number | string | null>>;
  /** value / raw's value, for our servers and plain NestJS. */
  ratios: Partial<Record<ServerKind, number | null>>;
}

export interface Target {
  /** Which of our servers it is measured on. */
  server: ServerKind;
  name: string;
  /** What is compared, e.g. "ours / raw at N=10,000". */
  measure: string;
  value: number | null;
  threshold: string;
  holds: boolean | null;
  note?: string;
}

interface Metric {
  label: string;
  get: (run: ScenarioResult) => number | undefined;
  digits: number;
  better?: 'lower' | 'higher';
  /** Counts where a ratio means nothing (missing events, streams left). */
  noRatio?: boolean;
}

const SINGLE: Metric[] = [
  { label: 'RSS per stream (KB)', get: (r) => r.memory?.rssPerStreamKB, digits: 1, better: 'lower' },
  { label: 'heap per stream (KB)', get: (r) => r.memory?.heapPerStreamKB, digits: 1, better: 'lower' },
  { label: 'connects per second', get: (r) => r.connect?.perSecond, digits: 0, better: 'higher' },
  { label: 'streams refused or failed', get: (r) => r.connect?.failed, digits: 0, noRatio: true },
  { label: 'broadcast deliveries/s', get: (r) => r.broadcast?.deliveriesPerSecond, digits: 0, better: 'higher' },
  {
    label: 'server CPU per broadcast delivery (µs)',
    get: (r) => (r.broadcast ? (r.broadcast.serverCpuMs * 1000) / r.broadcast.delivered : undefined),
    digits: 1,
    better: 'lower',
  },
  { label: 'broadcast delivery p99 (ms)', get: (r) => r.broadcast?.latencyP99, digits: 1, better: 'lower' },
  { label: 'broadcast events missing', get: (r) => r.broadcast?.missing, digits: 0, noRatio: true },
  {
    label: 'load generator CPU in broadcast (% core)',
    get: (r) => (r.broadcast ? r.broadcast.loadCpuShare * 100 : undefined),
    digits: 0,
    noRatio: true,
  },
  { label: 'targeted p50 (ms)', get: (r) => r.targeted?.p50, digits: 2, better: 'lower' },
  { label: 'targeted p99 (ms)', get: (r) => r.targeted?.p99, digits: 2, better: 'lower' },
  { label: 'targeted events lost', get: (r) => r.targeted?.lost, digits: 0, noRatio: true },
  { label: 'server CPU per targeted send (µs)', get: (r) => r.targeted?.cpuPerSendUs, digits: 0, better: 'lower' },
  { label: 'streams after churn', get: (r) => r.churn?.streamsAfter, digits: 0, noRatio: true },
  { label: 'heap growth over churn (KB)', get: (r) => r.churn?.heapGrowthKB, digits: 0, noRatio: true },
];

const MULTI: Metric[] = [
  { label: 'RSS per stream (KB)', get: (r) => r.memory?.rssPerStreamKB, digits: 1, better: 'lower' },
  { label: 'broadcast deliveries/s', get: (r) => r.broadcast?.deliveriesPerSecond, digits: 0, better: 'higher' },
  { label: 'broadcast events missing', get: (r) => r.broadcast?.missing, digits: 0, noRatio: true },
  { label: 'targeted p99 (ms)', get: (r) => r.targeted?.p99, digits: 2, better: 'lower' },
  { label: 'targeted events lost', get: (r) => r.targeted?.lost, digits: 0, noRatio: true },
];

const KINDS: ServerKind[] = ['raw', 'express', ...OUR_KINDS, 'plain'];

function find(runs: ScenarioResult[], kind: ServerKind, n: number, spu: number): ScenarioResult | undefined {
  return runs.find((r) => r.server === kind && r.n === n && r.streamsPerUser === spu);
}

function finite(value: number | undefined | null): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function rowsFor(runs: ScenarioResult[], metrics: Metric[], spu: number, section: string): Row[] {
  const ns = [...new Set(runs.filter((r) => r.streamsPerUser === spu).map((r) => r.n))].sort((a, b) => a - b);
  const rows: Row[] = [];
  for (const metric of metrics) {
    for (const n of ns) {
      const values: Row['values'] = {};
      const ratios: Row['ratios'] = {};
      const raw = find(runs, 'raw', n, spu);
      const rawValue = raw ? metric.get(raw) : undefined;
      for (const kind of KINDS) {
        const run = find(runs, kind, n, spu);
        if (!run) continue;
        const value = metric.get(run);
        values[kind] = finite(value) ? value : run.error ? 'error' : null;
        if (kind !== 'raw' && !metric.noRatio) {
          ratios[kind] = finite(value) && finite(rawValue) && rawValue !== 0 ? value / rawValue : null;
        }
      }
      rows.push({ section, metric: metric.label, n, better: metric.better, values, ratios });
    }
  }
  return rows;
}

function redisRows(redis: RedisResult): Row[] {
  const row = (metric: string, n: number | string, value: number | undefined | null, better?: 'lower' | 'higher'): Row => ({
    section: 'Redis, 3 instances',
    metric,
    n,
    better,
    values: { [DEFAULT_OURS]: finite(value) ? value : null },
    ratios: {},
  });
  const rows: Row[] = [];
  const n = redis.streams;
  rows.push(row('cross-instance targeted p50 (ms)', n, redis.targeted?.crossInstance?.p50, 'lower'));
  rows.push(row('cross-instance targeted p99 (ms)', n, redis.targeted?.crossInstance?.p99, 'lower'));
  rows.push(row('same-instance targeted p99 (ms)', n, redis.targeted?.sameInstance?.p99, 'lower'));
  rows.push(row('targeted events lost', n, redis.targeted?.lost));
  rows.push(row('server CPU per targeted send, 3 instances (µs)', n, redis.targeted?.cpuPerSendUs, 'lower'));
  rows.push(row(`burst throughput, ${redis.burst?.sends ?? '?'} sends (deliveries/s)`, n, redis.burst?.deliveriesPerSecond, 'higher'));
  rows.push(row('burst cross-instance p99 (ms)', n, redis.burst?.crossInstance?.p99, 'lower'));
  rows.push(row('burst events lost', n, redis.burst?.lost));
  rows.push(row('broadcast deliveries/s', n, redis.broadcast?.deliveriesPerSecond, 'higher'));
  rows.push(row('broadcast events missing', n, redis.broadcast?.missing));
  if (redis.hold) {
    const h = redis.hold;
    rows.push(row('streams held (of wanted)', h.wanted, h.perInstance.reduce((a, b) => a + b, 0)));
    rows.push(row('RSS per stream over 3 instances (KB)', h.wanted, h.rssPerStreamKB, 'lower'));
    rows.push(row('connects per second', h.wanted, h.connect.perSecond, 'higher'));
    rows.push(row('broadcast events missing', h.wanted, h.broadcast?.missing));
  }
  return rows;
}

function fmt(value: number | string | null | undefined, digits: number): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtRatio(ratio: number | null | undefined): string {
  return finite(ratio) ? `${ratio.toFixed(2)}×` : '';
}

function digitsOf(metric: string): number {
  const all = [...SINGLE, ...MULTI];
  const found = all.find((m) => m.label === metric);
  if (found) return found.digits;
  return /\(ms\)/.test(metric) ? 2 : /KB/.test(metric) ? 1 : 0;
}

function targetsOf(runs: ScenarioResult[]): Target[] {
  const ns = [...new Set(runs.filter((r) => r.streamsPerUser === 1).map((r) => r.n))].sort((a, b) => a - b);
  if (ns.length === 0) return [];
  const ref = ns.reduce((best, n) => (Math.abs(n - 10_000) < Math.abs(best - 10_000) ? n : best), ns[0]);
  const at = `N=${ref.toLocaleString('en-US')}`;
  const get = (kind: ServerKind, n: number, pick: (r: ScenarioResult) => number | undefined) => {
    const run = find(runs, kind, n, 1);
    const value = run ? pick(run) : undefined;
    return finite(value) ? value : null;
  };
  const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b !== 0 ? a / b : null);
  const check = (value: number | null, ok: (v: number) => boolean) => (value === null ? null : ok(value));
  const bcast = (r: ScenarioResult) => r.broadcast?.deliveriesPerSecond;
  const p99 = (r: ScenarioResult) => r.targeted?.p99;
  const rss = (r: ScenarioResult) => r.memory?.rssPerStreamKB;
  const cpu = (r: ScenarioResult) => r.targeted?.cpuPerSendUs;
  const lo = ns[0];
  const hi = ns[ns.length - 1];
  const targets: Target[] = [];
  for (const server of OUR_KINDS.filter((kind) => runs.some((r) => r.server === kind))) {
    const add = (target: Omit<Target, 'server'>) => targets.push({ server, ...target });
    const b = ratio(get(server, ref, bcast), get('raw', ref, bcast));
    add({ name: 'broadcast delivery', measure: `ours / raw at ${at}`, value: b, threshold: '>= 0.8', holds: check(b, (v) => v >= 0.8) });
    const t = ratio(get(server, ref, p99), get('raw', ref, p99));
    add({ name: 'targeted p99', measure: `ours / raw at ${at}`, value: t, threshold: '<= 1.5', holds: check(t, (v) => v <= 1.5) });
    const m = ratio(get(server, ref, rss), get('raw', ref, rss));
    add({ name: 'RSS per stream', measure: `ours / raw at ${at}`, value: m, threshold: '<= 1.5', holds: check(m, (v) => v <= 1.5) });
    const flat = lo === hi ? null : ratio(get(server, hi, cpu), get(server, lo, cpu));
    add({
      name: 'CPU per targeted send flat in N',
      measure: `ours at N=${hi.toLocaleString('en-US')} / ours at N=${lo.toLocaleString('en-US')}`,
      value: flat,
      threshold: '<= 1.2',
      holds: check(flat, (v) => v <= 1.2),
      note: lo === hi ? 'needs two Ns' : undefined,
    });
    const pb = ratio(get(server, ref, bcast), get('plain', ref, bcast));
    add({ name: 'ahead of plain NestJS: broadcast', measure: `ours / plain deliveries/s at ${at}`, value: pb, threshold: '>= 2', holds: check(pb, (v) => v >= 2) });
    const pt = ratio(get('plain', ref, p99), get(server, ref, p99));
    add({ name: 'ahead of plain NestJS: targeted', measure: `plain p99 / ours p99 at ${at}`, value: pt, threshold: '>= 2', holds: check(pt, (v) => v >= 2) });
    const pc = ratio(get('plain', ref, cpu), get(server, ref, cpu));
    add({ name: '(info) plain / ours CPU per targeted send', measure: `at ${at}`, value: pc, threshold: '—', holds: null });
    if (server === 'module') {
      // What of the gap to raw is Express's own: the same fan-out as raw, routed by Express alone.
      const er = ratio(get('express', ref, rss), get('raw', ref, rss));
      add({ name: '(info) Express alone / raw RSS per stream', measure: `at ${at}`, value: er, threshold: '—', holds: null });
      const oe = ratio(get(server, ref, rss), get('express', ref, rss));
      add({ name: '(info) ours / Express alone RSS per stream', measure: `at ${at}`, value: oe, threshold: '—', holds: null });
    }
  }
  return targets;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function buildReport(results: BenchResults): { rows: Row[]; targets: Target[]; text: string } {
  const rows = [
    ...rowsFor(results.runs, SINGLE, 1, 'one stream per user'),
    ...rowsFor(
      results.runs,
      MULTI,
      results.runs.find((r) => r.streamsPerUser > 1)?.streamsPerUser ?? 0,
      `${results.runs.find((r) => r.streamsPerUser > 1)?.streamsPerUser ?? 0} streams per user (N streams)`,
    ),
    ...(results.redis ? redisRows(results.redis) : []),
  ];
  const targets = targetsOf(results.runs);
  const compared = KINDS.filter((kind) => kind !== 'raw');
  const header = ['metric', 'N', 'raw', ...compared.flatMap((kind) => [SERVERS[kind].label, '/raw'])];
  const cells = rows.map((row) => {
    const digits = digitsOf(row.metric);
    return [
      row.metric,
      typeof row.n === 'number' ? row.n.toLocaleString('en-US') : row.n,
      fmt(row.values.raw, digits),
      ...compared.flatMap((kind) => [fmt(row.values[kind], digits), fmtRatio(row.ratios[kind])]),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((text, i) => pad(text, widths[i], i >= 1)).join('  ');
  const out: string[] = [];
  let section = '';
  out.push(line(header));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((row, i) => {
    if (row.section !== section) {
      section = row.section;
      out.push(`[${section}]`);
    }
    out.push(line(cells[i]));
  });
  out.push('');
  out.push('Targets (ratios, not timings; the benchmark never fails on them):');
  let server: ServerKind | undefined;
  for (const target of targets) {
    if (target.server !== server) {
      server = target.server;
      out.push(` ${SERVERS[server].label}:`);
    }
    const verdict = target.holds === null ? (target.note ?? '') : target.holds ? 'holds' : 'MISSED';
    out.push(
      `  ${pad(target.name, 40)} ${pad(target.measure, 44)} ${pad(finite(target.value) ? `${target.value.toFixed(2)}×` : '—', 8, true)}  ${pad(target.threshold, 6)}  ${verdict}`,
    );
  }
  const errors = results.runs.filter((r) => r.error).map((r) => `  ${r.server} N=${r.n}×${r.streamsPerUser}: ${r.error}`);
  if (results.redis?.error) errors.push(`  redis: ${results.redis.error}`);
  if (errors.length) out.push('', 'Errors:', ...errors);
  return { rows, targets, text: out.join('\n') };
}
