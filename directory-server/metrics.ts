/**
 * Prometheus metrics of wotrelay-directory (text exposition format 0.0.4): small counter,
 * gauge and histogram types with labels, and the directory's metric set.
 */

type Labels = Record<string, string>;

function labelText(l: Labels): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

interface Metric {
  render(): string;
}

/** One labelled series of a counter, looked up once and incremented without rebuilding its label text. */
export interface CounterSeries {
  inc(n?: number): void;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; v: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, n = 1): void {
    const k = labelText(labels);
    const e = this.values.get(k);
    if (e) e.v += n;
    else this.values.set(k, { labels, v: n });
  }
  /** The series of `labels`, for hot paths (it appears in the output at its first inc, as with `inc`). */
  series(labels: Labels): CounterSeries {
    const k = labelText(labels);
    const values = this.values;
    let e = values.get(k);
    return {
      inc(n = 1): void {
        if (e === undefined) values.set(k, (e = values.get(k) ?? { labels, v: 0 }));
        e.v += n;
      },
    };
  }
  /** Sets a series to a total counted elsewhere (monotonic, e.g. a store's cache hits). */
  setTotal(labels: Labels, v: number): void {
    this.values.set(labelText(labels), { labels, v });
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.v ?? 0;
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    if (this.values.size === 0) return s;
    for (const { labels, v } of this.values.values()) s += `${this.name}${labelText(labels)} ${num(v)}\n`;
    return s;
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, { labels: Labels; v: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(labels: Labels, v: number): void {
    this.values.set(labelText(labels), { labels, v });
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    for (const { labels, v } of this.values.values()) s += `${this.name}${labelText(labels)} ${num(v)}\n`;
    return s;
  }
}

export class Histogram implements Metric {
  private readonly bySeries = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(labels: Labels, v: number): void {
    this.series(labels).observe(v);
  }
  /** The series of `labels`, for hot paths (created, and shown, from this call on). */
  series(labels: Labels): { observe(v: number): void } {
    const k = labelText(labels);
    let s = this.bySeries.get(k);
    if (!s) this.bySeries.set(k, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    const series = s;
    const buckets = this.buckets;
    return {
      observe(v: number): void {
        for (let i = 0; i < buckets.length; i++) if (v <= buckets[i]!) series.counts[i]!++;
        series.sum += v;
        series.count++;
      },
    };
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const s of this.bySeries.values()) {
      for (let i = 0; i < this.buckets.length; i++) {
        out += `${this.name}_bucket${labelText({ ...s.labels, le: String(this.buckets[i]) })} ${s.counts[i]}\n`;
      }
      out += `${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}\n`;
      out += `${this.name}_sum${labelText(s.labels)} ${num(s.sum)}\n`;
      out += `${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

/** Every metric the directory exports (documented in directory-server/README.md). */
export class DirectoryMetrics {
  readonly requests = new Counter('wotrelay_directory_requests_total', 'HTTP requests by route and status.');
  readonly rejections = new Counter('wotrelay_directory_rejections_total', 'Refused requests by reason.');
  readonly rateLimited = new Counter('wotrelay_directory_rate_limited_total', 'Requests refused by the per-source rate limit, by kind (read or write).');
  readonly conflicts = new Counter('wotrelay_directory_conflicts_total', 'Announcements with the stored seq but different bytes (an agent reused a seq).');
  readonly swept = new Counter('wotrelay_directory_swept_total', 'Expired records removed by the sweeper.');
  readonly records = new Gauge('wotrelay_directory_records', 'Records stored (SQLite: until swept; Redis: live).');
  readonly cacheLookups = new Counter('wotrelay_directory_cache_lookups_total', 'Lookups answered from the in-memory record cache (result="hit") or the store (result="miss").');
  readonly cacheRecords = new Gauge('wotrelay_directory_cache_records', 'Records held in the in-memory record cache.');
  readonly laneHandOffs = new Counter('wotrelay_directory_lane_handoffs_total', 'Connections the fast lane handed to node:http, by the reason (the first request it does not take).');
  readonly sources = new Gauge('wotrelay_directory_ratelimit_sources', 'Sources tracked by the rate limiter, by kind.');
  readonly info = new Gauge('wotrelay_directory_build_info', 'Version and store kind of this instance (value 1).');
  readonly storeLatency = new Histogram('wotrelay_directory_store_latency_seconds', 'Store operation latency by operation.', [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  ]);

  render(): string {
    return [this.requests, this.rejections, this.rateLimited, this.conflicts, this.swept, this.records, this.cacheLookups, this.cacheRecords, this.laneHandOffs, this.sources, this.info, this.storeLatency]
      .map((m: Metric) => m.render())
      .join('');
  }
}
