/**
 * What every benchmark shares: the shape of a report (figures, each beside the baseline
 * measured in the same run, and the ratio), the machine and build it ran on, the human
 * table, and the JSON written under test/bench/results/. Also small timing helpers.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (dist/test/bench → ../../..). */
export const ROOT = path.resolve(here, '../../..');
export const RESULTS_DIR = path.join(ROOT, 'test/bench/results');

export interface Figure {
  /** What was measured, e.g. "signed relay A→B→C→D, throughput". */
  name: string;
  value: number;
  unit: string;
  /** The baseline measured in the same run, when the claim is relative. */
  baseline?: { name: string; value: number };
  /** value / baseline (or baseline / value when `lowerIsBetter`), as the target states it. */
  ratio?: number;
  lowerIsBetter?: boolean;
  /** The target, in words ("≥ 10 % of raw"). */
  target?: string;
  /** Whether the target was met (absent when the figure has no target). */
  met?: boolean;
}

export interface BenchReport {
  name: string;
  title: string;
  figures: Figure[];
  /** Everything else worth keeping (counts, configuration, raw samples' summaries). */
  details: Record<string, unknown>;
  notes: string[];
  seconds: number;
}

export interface BenchOptions {
  /** Tiny sizes (the smoke tests in npm test): checks that it runs, measures nothing useful. */
  quick: boolean;
  /** Full sizes where the default is cut to keep `npm run bench` under 10 minutes (discovery: all 1,000). */
  full?: boolean;
  /** Progress lines (stderr by default). */
  log: (line: string) => void;
}

export interface Bench {
  name: string;
  title: string;
  run(opts: BenchOptions): Promise<BenchReport>;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryMB: number;
  loadavg: number[];
  node: string;
  openssl: string;
  platform: string;
  commit: string;
  dirty: boolean;
}

export function machine(): Machine {
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() !== '';
  } catch {
    /* not a git checkout */
  }
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryMB: Math.round(os.totalmem() / 1048576),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    platform: `${os.platform()} ${os.release()}`,
    commit,
    dirty,
  };
}

/** A figure compared with its baseline: ratio = value / baseline (or the inverse). */
export function compare(f: Omit<Figure, 'ratio'> & { baseline: { name: string; value: number } }): Figure {
  const ratio = f.lowerIsBetter ? f.baseline.value / f.value : f.value / f.baseline.value;
  return { ...f, ratio: Number.isFinite(ratio) ? ratio : 0 };
}

function fmt(v: number, unit: string): string {
  const abs = Math.abs(v);
  const n = abs >= 100 ? Math.round(v).toLocaleString('en-US') : abs >= 10 ? v.toFixed(1) : abs >= 1 ? v.toFixed(2) : v.toPrecision(3);
  return `${n} ${unit}`;
}

/** The human table of one report. */
export function table(r: BenchReport, m: Machine): string {
  const rows: string[][] = [['figure', 'value', 'baseline (same run)', 'ratio', 'target', '']];
  for (const f of r.figures) {
    rows.push([
      f.name,
      fmt(f.value, f.unit),
      f.baseline ? `${fmt(f.baseline.value, f.unit)} (${f.baseline.name})` : '',
      f.ratio !== undefined ? (f.ratio >= 0.1 ? `${f.ratio.toFixed(2)}×` : `${(f.ratio * 100).toFixed(2)} %`) : '',
      f.target ?? '',
      f.met === undefined ? '' : f.met ? 'met' : 'NOT MET',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  const out = [`== ${r.name}: ${r.title} (${r.seconds.toFixed(1)} s; ${m.cpus} × ${m.cpuModel}, load ${m.loadavg.join(' ')}, Node ${m.node})`];
  out.push(line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows.slice(1)) out.push(line(row));
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}

/** Writes `<dir>/<name>.json` (the latest run of that benchmark); returns the path. */
export function writeResult(r: BenchReport, m: Machine, dir = RESULTS_DIR): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${r.name}.json`);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ ...r, machine: m, at: new Date().toISOString() }, null, 2) + '\n');
  fs.renameSync(tmp, file);
  return file;
}

/** Percentile (0..100) of sorted numbers, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(xs: number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` repeatedly for at least `ms` (after one warm-up call); returns calls per second. */
export function opsPerSecond(fn: () => void, ms: number): number {
  fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 16; i++) fn();
    n += 16;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}
