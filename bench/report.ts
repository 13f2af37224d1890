// The printed table: absolute figures per server and N, each with its ratio to
// the raw server of the same run; the reconnect storm and the scale scenario;
// and whether each target of the issue holds.
import { DEFAULT_OURS, OUR_KINDS, SERVERS, type ServerKind } from './lib/cluster.js';
import type { ScaleResult, ScenarioResult, StormResult } from './lib/types.js';
import type { InboxResult } from './inbox.js';
import type { ProfileRuns } from './profile-summary.js';

export interface BenchResults {
  meta: Record<string, unknown>;
  runs: ScenarioResult[];
  storm?: StormResult;
  scale?: ScaleResult;
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
  /** Where it is measured: one of our servers, the storm, the scale scenario. */
  group: string;
  /** Which of our servers it is measured on. */
  server: ServerKind;
  name: string;
  /** What is compared, e.g. "ours / raw at N=10,000". */
  measure: string;
  value: number | null;
  /** How the value reads: a ratio (×, the default) or a quantity. */
  unit?: '×' | 'ms' | 's' | 'µs' | 'KB' | '';
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
  { label: 'server CPU per connect (µs)', get: (r) => r.connect?.serverCpuPerConnectUs, digits: 0, better: 'lower' },
  {
    label: 'server CPU in connect (% core)',
    get: (r) => (r.connect?.serverCpuShare === undefined ? undefined : r.connect.serverCpuShare * 100),
    digits: 0,
    noRatio: true,
  },
  {
    label: 'load generator CPU in connect (% core)',
    get: (r) => (r.connect ? r.connect.loadCpuShare * 100 : undefined),
    digits: 0,
    noRatio: true,
  },
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
  { label: 'publishToUser in process, CPU per call (µs)', get: (r) => r.inProcess?.cpuPerCallUs, digits: 0, noRatio: true },
  { label: 'publishToUser in process, events lost', get: (r) => r.inProcess?.lost, digits: 0, noRatio: true },
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
/** Our servers in memory: what the in-memory targets are measured on. */
const IN_MEMORY: readonly ServerKind[] = OUR_KINDS.filter((kind) => !SERVERS[kind].redis);

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

function scaleRows(scale: ScaleResult): Row[] {
  const section = `${scale.instances} instances over Redis (${SERVERS[DEFAULT_OURS].label}), N streams in all`;
  const row = (metric: string, n: number, value: number | undefined | null, better?: 'lower' | 'higher'): Row => ({
    section,
    metric,
    n,
    better,
    values: { [DEFAULT_OURS]: finite(value) ? value : null },
    ratios: {},
  });
  const rows: Row[] = [];
  for (const s of scale.stages) {
    rows.push(row('streams held', s.n, s.perInstance.reduce((a, b) => a + b, 0)));
    rows.push(row('streams refused or failed', s.n, s.connect.failed));
    rows.push(row('connects per second', s.n, s.connect.perSecond, 'higher'));
    rows.push(row('RSS per stream over the instances (KB)', s.n, s.rssPerStreamKB, 'lower'));
    rows.push(row('broadcast: streams that got every event', s.n, s.broadcast?.complete));
    rows.push(row('broadcast events missing', s.n, s.broadcast?.missing));
    rows.push(row('broadcast deliveries/s', s.n, s.broadcast?.deliveriesPerSecond, 'higher'));
    rows.push(row('cross-instance targeted p50 (ms)', s.n, s.targeted?.crossInstance?.p50, 'lower'));
    rows.push(row('cross-instance targeted p99 (ms)', s.n, s.targeted?.crossInstance?.p99, 'lower'));
    rows.push(row('same-instance targeted p99 (ms)', s.n, s.targeted?.sameInstance?.p99, 'lower'));
    rows.push(row('targeted events lost', s.n, s.targeted?.lost));
    rows.push(row(`server CPU per targeted send, ${scale.instances} instances (µs)`, s.n, s.targeted?.cpuPerSendUs, 'lower'));
    if (s.burst) {
      rows.push(row(`burst throughput, ${s.burst.sends} sends (deliveries/s)`, s.n, s.burst.deliveriesPerSecond, 'higher'));
      rows.push(row('burst cross-instance p99 (ms)', s.n, s.burst.crossInstance?.p99, 'lower'));
      rows.push(row('burst events lost', s.n, s.burst.lost));
    }
  }
  return rows;
}

/** The scale scenario's rows as a table of their own: a metric per line, a column per N. */
function scaleTable(rows: Row[]): string[] {
  const ns = [...new Set(rows.map((row) => row.n))];
  const metrics = [...new Set(rows.map((row) => row.metric))];
  const header = ['metric', ...ns.map((n) => `N=${n.toLocaleString('en-US')}`)];
  const cells = metrics.map((metric) => [
    metric,
    ...ns.map((n) => fmt(rows.find((row) => row.metric === metric && row.n === n)?.values[DEFAULT_OURS] ?? null, digitsOf(metric))),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((text, i) => pad(text, widths[i], i >= 1)).join('  ');
  return [`[${rows[0].section}]`, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
}

/** The storm's lines: what happened, in the order it happened. */
function stormLines(storm: StormResult): string[] {
  const out = [`Reconnect storm (${storm.streams.toLocaleString('en-US')} resumable streams on one of ${storm.instances} instances over Redis, SIGKILLed):`];
  const { connect, recovery, published, delivery, window: w } = storm;
  if (connect) out.push(`  opened on the first instance: ${connect.opened} in ${(connect.ms / 1000).toFixed(2)} s`);
  if (published) {
    out.push(
      `  published all along, through another instance: ${published.broadcasts} broadcasts and ${published.targeted} targeted sends ` +
        `(${published.refused} refused; ${published.inWindow} while the clients reconnected)`,
    );
  }
  if (recovery) {
    out.push(
      `  every client streaming again after the kill: ${(recovery.allStreamingMs / 1000).toFixed(2)} s ` +
        `(p50 ${(recovery.p50Ms / 1000).toFixed(2)} s, p99 ${(recovery.p99Ms / 1000).toFixed(2)} s); ` +
        `${recovery.streaming}/${recovery.failedOver} streaming again, ${recovery.attempts} reconnections, ${recovery.retries} retried` +
        `${Object.keys(recovery.statuses).length ? ` (${Object.entries(recovery.statuses).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}`,
    );
  }
  if (w) {
    out.push(
      `  history reads on the survivors: ${w.historyReadsSent} sent to Redis, ${w.historyReadsMerged} merged into one in flight; ` +
        `${w.replayedEvents} events replayed; ${w.lossEvents} resumes told sse.loss`,
    );
    const accounted = w.historyReadsSent + w.reconnectAttempts + w.publishes;
    out.push(
      `  Redis's own count of script calls meanwhile (INFO commandstats, evalsha + eval${w.redisOwn ? '' : ', a shared Redis: other clients too'}): ` +
        `${w.scriptCalls} = ${w.historyReadsSent} history reads + ${w.reconnectAttempts} limiter acquires (one per reconnection) + ` +
        `${w.publishes} publishes + ${w.scriptCalls - accounted} other (lease renewals, and publishes in flight at either end)`,
    );
  }
  if (delivery) {
    out.push(
      `  clients' check (${delivery.users} users): ${delivery.caughtUp} got every event addressed to them, ${delivery.missed} missed, ` +
        `${delivery.duplicates} duplicates, ${delivery.outOfOrder} out of order, ${delivery.misdelivered} misdelivered, ${delivery.losses} sse.loss`,
    );
  }
  if (storm.error) out.push(`  error: ${storm.error}`);
  return out;
}

function fmt(value: number | string | null | undefined, digits: number): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtValue(value: number | null, unit: NonNullable<Target['unit']>): string {
  if (!finite(value)) return '—';
  if (unit === '') return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2);
  return `${value.toFixed(2)}${unit === '×' ? '×' : ` ${unit}`}`;
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
  const bcast = (r: ScenarioResult) => r.broadcast?.deliveriesPerSecond;
  const p99 = (r: ScenarioResult) => r.targeted?.p99;
  const rss = (r: ScenarioResult) => r.memory?.rssPerStreamKB;
  const cpu = (r: ScenarioResult) => r.targeted?.cpuPerSendUs;
  const connects = (r: ScenarioResult) => r.connect?.perSecond;
  const connectCpu = (r: ScenarioResult) => r.connect?.serverCpuPerConnectUs;
  const lo = ns[0];
  const hi = ns[ns.length - 1];
  const targets: Target[] = [];
  for (const server of OUR_KINDS.filter((kind) => runs.some((r) => r.server === kind))) {
    const add = (target: Omit<Target, 'server' | 'group'>) => targets.push({ group: SERVERS[server].label, server, ...target });
    const c = ratio(get(server, ref, connects), get('raw', ref, connects));
    add({ name: 'connect rate, N opened at once', measure: `ours / raw connects/s at ${at}`, value: c, threshold: '>= 0.8', holds: check(c, (v) => v >= 0.8) });
    const cc = ratio(get(server, ref, connectCpu), get('raw', ref, connectCpu));
    add({ name: '(info) server CPU per connect', measure: `ours / raw at ${at}`, value: cc, threshold: '—', holds: null });
    const pc = ratio(get(server, ref, cpu), get('raw', ref, cpu));
    if (!IN_MEMORY.includes(server)) {
      // Over Redis, a publish is a round trip to Redis that raw does not make: for information.
      add({ name: '(info) publish CPU per targeted send', measure: `ours / raw (in memory) at ${at}`, value: pc, threshold: '—', holds: null });
      continue;
    }
    add({ name: 'publish CPU per targeted send (HTTP)', measure: `ours / raw at ${at}`, value: pc, threshold: '<= 1.3', holds: check(pc, (v) => v <= 1.3) });
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
    const plainCpu = ratio(get('plain', ref, cpu), get(server, ref, cpu));
    add({ name: '(info) plain / ours CPU per targeted send', measure: `at ${at}`, value: plainCpu, threshold: '—', holds: null });
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

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return finite(a) && finite(b) && b !== 0 ? a / b : null;
}

function check(value: number | null, ok: (v: number) => boolean): boolean | null {
  return value === null ? null : ok(value);
}

function stormTargets(storm: StormResult): Target[] {
  const group = `reconnect storm (${storm.streams.toLocaleString('en-US')} streams, ${storm.instances} instances over Redis)`;
  const add = (target: Omit<Target, 'server' | 'group'>): Target => ({ group, server: DEFAULT_OURS, ...target });
  const d = storm.delivery;
  const wrong = d ? d.missed + d.duplicates + d.outOfOrder + d.misdelivered + d.losses + (d.users - d.caughtUp) : null;
  const w = storm.window;
  const allBack = storm.recovery ? storm.recovery.streaming >= storm.streams : false;
  return [
    add({
      name: 'every client streaming again',
      measure: 'from the SIGKILL',
      value: storm.recovery && allBack ? storm.recovery.allStreamingMs / 1000 : null,
      unit: 's',
      threshold: '—',
      holds: storm.recovery ? (allBack ? null : false) : null,
      note: storm.recovery && !allBack ? `only ${storm.recovery.streaming} of ${storm.streams}` : undefined,
    }),
    add({
      name: 'no event lost, duplicated or reordered',
      measure: "clients' own check, and no sse.loss",
      value: wrong,
      unit: '',
      threshold: '= 0',
      holds: wrong === null ? null : wrong === 0 && d!.users === storm.streams,
    }),
    add({ name: '(info) history reads sent to Redis', measure: 'on the survivors, kill → all back', value: w?.historyReadsSent ?? null, unit: '', threshold: '—', holds: null }),
    add({ name: '(info) history reads merged', measure: 'into an identical read in flight', value: w?.historyReadsMerged ?? null, unit: '', threshold: '—', holds: null }),
    add({ name: "(info) Redis's script calls", measure: 'INFO commandstats, kill → all back', value: w?.scriptCalls ?? null, unit: '', threshold: '—', holds: null }),
  ];
}

function scaleTargets(scale: ScaleResult): Target[] {
  const stages = scale.stages;
  if (stages.length === 0) return [];
  const top = stages[stages.length - 1];
  const first = stages[0];
  const n = top.n.toLocaleString('en-US');
  const group = `${n} streams, ${scale.instances} instances over Redis`;
  const add = (target: Omit<Target, 'server' | 'group'>): Target => ({ group, server: DEFAULT_OURS, ...target });
  const reached = top.broadcast ? top.broadcast.complete : null;
  const p99 = top.targeted?.crossInstance?.p99;
  const targets = [
    add({
      name: `all ${n} held; a broadcast reaches every one`,
      measure: 'streams that got every broadcast',
      value: reached,
      unit: '',
      threshold: `= ${n}`,
      holds: reached === null ? null : top.allOpen && reached === top.n && top.broadcast!.missing === 0,
    }),
    add({
      name: 'cross-instance targeted p99',
      measure: `at N=${n}`,
      value: finite(p99) ? p99 : null,
      unit: 'ms',
      threshold: '<= 5 ms',
      holds: finite(p99) ? p99 <= 5 : null,
    }),
    add({ name: '(info) RSS per stream', measure: `over the instances at N=${n}`, value: top.rssPerStreamKB, unit: 'KB', threshold: '—', holds: null }),
  ];
  if (stages.length > 1) {
    const r = ratio(p99, first.targeted?.crossInstance?.p99);
    targets.push(
      add({ name: '(info) cross-instance p99 against the smaller N', measure: `at N=${n} / at N=${first.n.toLocaleString('en-US')}`, value: r, threshold: '—', holds: null }),
    );
  }
  return targets;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function buildReport(results: BenchResults): { rows: Row[]; targets: Target[]; text: string } {
  const single = [
    ...rowsFor(results.runs, SINGLE, 1, 'one stream per user'),
    ...rowsFor(
      results.runs,
      MULTI,
      results.runs.find((r) => r.streamsPerUser > 1)?.streamsPerUser ?? 0,
      `${results.runs.find((r) => r.streamsPerUser > 1)?.streamsPerUser ?? 0} streams per user (N streams)`,
    ),
  ];
  const scale = results.scale ? scaleRows(results.scale) : [];
  const rows = [...single, ...scale];
  const targets = [
    ...targetsOf(results.runs),
    ...(results.storm ? stormTargets(results.storm) : []),
    ...(results.scale ? scaleTargets(results.scale) : []),
  ];
  const compared = KINDS.filter((kind) => kind !== 'raw');
  const header = ['metric', 'N', 'raw', ...compared.flatMap((kind) => [SERVERS[kind].label, '/raw'])];
  const cells = single.map((row) => {
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
  if (single.length > 0) {
    out.push(line(header));
    out.push(widths.map((w) => '-'.repeat(w)).join('  '));
    single.forEach((row, i) => {
      if (row.section !== section) {
        section = row.section;
        out.push(`[${section}]`);
      }
      out.push(line(cells[i]));
    });
    out.push('');
  }
  if (scale.length > 0) out.push(...scaleTable(scale), '');
  if (results.storm) out.push(...stormLines(results.storm), '');
  if (targets.length > 0) out.push('Targets (the benchmark never fails on them):');
  let group: string | undefined;
  for (const target of targets) {
    if (target.group !== group) {
      group = target.group;
      out.push(` ${group}:`);
    }
    const verdict = target.holds === null ? (target.note ?? '') : target.holds ? 'holds' : `MISSED${target.note ? ` (${target.note})` : ''}`;
    out.push(
      `  ${pad(target.name, 44)} ${pad(target.measure, 44)} ${pad(fmtValue(target.value, target.unit ?? '×'), 10, true)}  ${pad(target.threshold, 8)}  ${verdict}`,
    );
  }
  const errors = results.runs.filter((r) => r.error).map((r) => `  ${r.server} N=${r.n}×${r.streamsPerUser}: ${r.error}`);
  if (results.storm?.error) errors.push(`  storm: ${results.storm.error}`);
  if (results.scale?.error) errors.push(`  scale: ${results.scale.error}`);
  if (errors.length) out.push('', 'Errors:', ...errors);
  return { rows, targets, text: out.join('\n') };
}
