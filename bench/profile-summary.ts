// Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and per
// package, optionally within a window of the profile's clock (microseconds).
//   node dist-bench/profile-summary.js <file.cpuprofile> [--from <us>] [--to <us>] [--top <n>] [--busy]
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  group: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  file?: string;
  window?: { fromUs: number; toUs: number; matched: boolean };
  busyOnly?: boolean;
  samples: number;
  totalMs: number;
  top: SelfTime[];
  groups: { group: string; ms: number; share: number }[];
}

/** Where a frame's code lives: a package, Node's internals, the module's dist, or V8's pseudo-frames. */
export function groupOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName.startsWith('(')) return functionName; // (garbage collector), (program), (idle)
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  if (url.includes('/dist/sse/')) return 'our module (dist/sse)';
  if (url.includes('/dist/demo/')) return 'demo app (dist/demo)';
  if (url.includes('/dist-bench/')) return 'bench harness';
  return 'other';
}

function shortUrl(url: string): string {
  if (!url) return '';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.search(/\/dist(-bench)?\//);
  return dist >= 0 ? url.slice(dist + 1) : url.replace(/^file:\/\//, '');
}

export interface SummaryOptions {
  fromUs?: number;
  toUs?: number;
  top?: number;
  /** Shares of the time the process was busy, leaving out (idle). */
  busyOnly?: boolean;
}

/** The phases of one profiled run, by name (broadcast, targeted), or why there are none. */
export type ProfileRuns = Record<string, ProfileSummary> | { error: string };

export function summarizeProfile(profile: CpuProfile, options: SummaryOptions = {}): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const { samples, timeDeltas } = profile;
  // Timestamp of each sample; its weight is the time until the next one.
  const stamps: number[] = new Array(samples.length);
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    stamps[i] = at;
  }
  const mean = samples.length > 1 ? (stamps[stamps.length - 1] - stamps[0]) / (samples.length - 1) : 1000;
  const windowed = options.fromUs !== undefined && options.toUs !== undefined;
  let inWindow = (t: number) => !windowed || (t >= options.fromUs! && t <= options.toUs!);
  let matched = true;
  if (windowed && !stamps.some((t) => inWindow(t))) {
    // The marks were not on the profile's clock: fall back to the whole profile.
    matched = false;
    inWindow = () => true;
  }
  const self = new Map<number, number>();
  let total = 0;
  let count = 0;
  const idle = new Set(profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id));
  for (let i = 0; i < samples.length; i++) {
    if (!inWindow(stamps[i])) continue;
    if (options.busyOnly && idle.has(samples[i])) continue;
    const weight = i + 1 < samples.length ? stamps[i + 1] - stamps[i] : mean;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + weight);
    total += weight;
    count++;
  }
  const byFunction = new Map<string, SelfTime>();
  const byGroup = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const name = frame.functionName || '(anonymous)';
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const group = groupOf(frame);
    const key = `${name}\u0000${where}`;
    const entry = byFunction.get(key) ?? { name, where, group, ms: 0, share: 0 };
    entry.ms += us / 1000;
    byFunction.set(key, entry);
    byGroup.set(group, (byGroup.get(group) ?? 0) + us / 1000);
  }
  const totalMs = total / 1000;
  const top = [...byFunction.values()]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, options.top ?? 25)
    .map((entry) => ({ ...entry, share: entry.ms / totalMs }));
  const groups = [...byGroup]
    .sort((a, b) => b[1] - a[1])
    .map(([group, ms]) => ({ group, ms, share: ms / totalMs }));
  return {
    window: windowed ? { fromUs: options.fromUs!, toUs: options.toUs!, matched } : undefined,
    busyOnly: options.busyOnly,
    samples: count,
    totalMs,
    top,
    groups,
  };
}

export function summarizeProfileFile(file: string, options: SummaryOptions = {}): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  return { file, ...summarizeProfile(profile, options) };
}

export function formatProfileSummary(summary: ProfileSummary, phase = 'the'): string {
  const out: string[] = [];
  const window = summary.window
    ? summary.window.matched
      ? `${phase} window (${((summary.window.toUs - summary.window.fromUs) / 1000).toFixed(0)} ms)`
      : 'the whole profile (the window matched no sample)'
    : 'the whole profile';
  const busy = summary.busyOnly ? ' busy' : '';
  out.push(`CPU profile of our server: ${summary.samples}${busy} samples, ${summary.totalMs.toFixed(0)} ms${busy} over ${window}`);
  if (summary.file) out.push(`  ${summary.file}`);
  out.push('', 'Self time by package:');
  for (const group of summary.groups.slice(0, 12)) {
    out.push(`  ${(group.share * 100).toFixed(1).padStart(5)}%  ${group.ms.toFixed(0).padStart(7)} ms  ${group.group}`);
  }
  out.push('', 'Top functions by self time:');
  for (const entry of summary.top) {
    out.push(
      `  ${(entry.share * 100).toFixed(1).padStart(5)}%  ${entry.ms.toFixed(0).padStart(7)} ms  ${entry.name.padEnd(34)} ${entry.where}`,
    );
  }
  return out.join('\n');
}

/** Every phase of a profiled run, one after the other. */
export function formatProfileRuns(runs: ProfileRuns): string {
  if ('error' in runs && typeof runs.error === 'string') return `CPU profile: ${runs.error}`;
  return Object.entries(runs as Record<string, ProfileSummary>)
    .map(([phase, summary]) => formatProfileSummary(summary, `the ${phase}`))
    .join('\n\n');
}

function isMain(): boolean {
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const args = process.argv.slice(2);
  const file = args.find((arg) => !arg.startsWith('--'));
  if (!file) {
    console.error('usage: node dist-bench/profile-summary.js <file.cpuprofile> [--from <us>] [--to <us>] [--top <n>] [--busy]');
    process.exit(2);
  }
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const summary = summarizeProfileFile(file, { fromUs: flag('from'), toUs: flag('to'), top: flag('top'), busyOnly: args.includes('--busy') });
  console.log(formatProfileSummary(summary));
}
