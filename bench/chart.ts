// A hand-written SVG: targeted p99 latency and RSS per stream against N, one line per server.
import { SERVERS, type ServerKind } from './lib/cluster.js';
import type { ScenarioResult } from './lib/types.js';
import type { BenchResults } from './report.js';

const STYLES: Record<ServerKind, { color: string; dash?: string }> = {
  raw: { color: '#6b7280', dash: '6 4' },
  express: { color: '#a855f7', dash: '2 3' },
  module: { color: '#2563eb' },
  fastify: { color: '#16a34a' },
  redis: { color: '#0d9488', dash: '8 3' },
  plain: { color: '#ea580c' },
};

const SERIES = (Object.keys(STYLES) as ServerKind[]).map((kind) => ({ kind, label: SERVERS[kind].label, ...STYLES[kind] }));

const WIDTH = 980;
const HEIGHT = 470;
const PANEL = { width: 390, height: 270, top: 120 };
const LEFTS = [80, 570];

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function fmt(value: number): string {
  if (value >= 1000) return `${value / 1000}k`;
  if (value > 0 && value < 1) return String(Number(value.toPrecision(2)));
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function panel(
  left: number,
  title: string,
  unit: string,
  runs: ScenarioResult[],
  ns: number[],
  pick: (run: ScenarioResult) => number | undefined,
  logY = false,
): string {
  const { width, height, top } = PANEL;
  const points = SERIES.map((series) => ({
    series,
    values: ns
      .map((n) => {
        const run = runs.find((r) => r.server === series.kind && r.n === n);
        const value = run ? pick(run) : undefined;
        return typeof value === 'number' && Number.isFinite(value) ? { n, value } : undefined;
      })
      .filter((p): p is { n: number; value: number } => p !== undefined),
  }));
  const all = points.flatMap((p) => p.values.map((v) => v.value));
  const yMax = niceMax(Math.max(0, ...all) * 1.05);
  // Log scale: whole decades around the values (latencies span 1 ms to seconds).
  const decadeLow = Math.floor(Math.log10(Math.max(1e-3, Math.min(...all.filter((v) => v > 0), 1))));
  const decadeHigh = Math.max(decadeLow + 1, Math.ceil(Math.log10(Math.max(1e-3, ...all))));
  const logMin = Math.log10(ns[0]);
  const logMax = Math.log10(ns[ns.length - 1]);
  const x = (n: number) => left + (logMax === logMin ? width / 2 : ((Math.log10(n) - logMin) / (logMax - logMin)) * width);
  const y = logY
    ? (value: number) =>
        top + height - ((Math.log10(Math.max(value, 10 ** decadeLow)) - decadeLow) / (decadeHigh - decadeLow)) * height
    : (value: number) => top + height - (value / yMax) * height;
  const out: string[] = [];
  out.push(`<text x="${left}" y="${top - 14}" class="title">${esc(title)}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${width}" height="${height}" class="frame"/>`);
  const ticks = logY
    ? Array.from({ length: decadeHigh - decadeLow + 1 }, (_, i) => 10 ** (decadeLow + i))
    : Array.from({ length: 6 }, (_, i) => (yMax / 5) * i);
  for (const value of ticks) {
    const py = y(value);
    out.push(`<line x1="${left}" y1="${py}" x2="${left + width}" y2="${py}" class="grid"/>`);
    out.push(`<text x="${left - 8}" y="${py + 4}" class="tick" text-anchor="end">${fmt(value)}</text>`);
  }
  for (const n of ns) {
    const px = x(n);
    out.push(`<line x1="${px}" y1="${top}" x2="${px}" y2="${top + height}" class="grid"/>`);
    out.push(`<text x="${px}" y="${top + height + 18}" class="tick" text-anchor="middle">${n.toLocaleString('en-US')}</text>`);
  }
  out.push(`<text x="${left + width / 2}" y="${top + height + 38}" class="axis" text-anchor="middle">concurrent streams N (log scale)</text>`);
  out.push(
    `<text x="${left - 50}" y="${top + height / 2}" class="axis" text-anchor="middle" transform="rotate(-90 ${left - 50} ${top + height / 2})">${esc(unit)}</text>`,
  );
  for (const { series, values } of points) {
    if (values.length === 0) continue;
    const path = values.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.n).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    out.push(
      `<path d="${path}" fill="none" stroke="${series.color}" stroke-width="2.5"${series.dash ? ` stroke-dasharray="${series.dash}"` : ''}/>`,
    );
    for (const p of values) {
      out.push(
        `<circle cx="${x(p.n).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="4" fill="${series.color}"><title>${esc(
          `${series.label}, N=${p.n}: ${p.value.toFixed(2)} ${unit}`,
        )}</title></circle>`,
      );
    }
  }
  return out.join('\n');
}

export function renderChart(results: BenchResults): string {
  const runs = results.runs.filter((r) => r.streamsPerUser === 1);
  const ns = [...new Set(runs.map((r) => r.n))].sort((a, b) => a - b);
  const meta = results.meta as { date?: string; node?: string; cpus?: number; commit?: string };
  // Three to a row.
  const legend = SERIES.map((s, i) => {
    const lx = 80 + (i % 3) * 300;
    const ly = 46 + Math.floor(i / 3) * 22;
    return (
      `<line x1="${lx}" y1="${ly}" x2="${lx + 30}" y2="${ly}" stroke="${s.color}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>` +
      `<text x="${lx + 38}" y="${ly + 4}" class="legend">${esc(s.label)}</text>`
    );
  }).join('\n');
  const body =
    ns.length === 0
      ? '<text x="70" y="120" class="title">no results</text>'
      : [
          panel(LEFTS[0], 'Targeted send: publish-to-receive p99', 'ms (log scale)', runs, ns, (r) => r.targeted?.p99, true),
          panel(LEFTS[1], 'Memory: RSS per stream', 'KB per stream', runs, ns, (r) => r.memory?.rssPerStreamKB),
        ].join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">
<style>
.title { font-size: 15px; font-weight: 600; fill: #111827; }
.subtitle { font-size: 12px; fill: #4b5563; }
.legend { font-size: 13px; fill: #111827; }
.tick { font-size: 11px; fill: #4b5563; }
.axis { font-size: 12px; fill: #374151; }
.frame { fill: none; stroke: #9ca3af; }
.grid { stroke: #e5e7eb; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="80" y="24" class="title">SSE benchmark: every server alone, one run</text>
<text x="${WIDTH - 20}" y="24" class="subtitle" text-anchor="end">${esc(
    `${meta.date?.slice(0, 16).replace('T', ' ') ?? ''} · Node ${meta.node ?? '?'} · ${meta.cpus ?? '?'} cores${meta.commit ? ` · ${meta.commit}` : ''}`,
  )}</text>
${legend}
${body}
</svg>
`;
}
