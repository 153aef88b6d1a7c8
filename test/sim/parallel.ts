/**
 * The discovery scenario on several cores: worker threads (test/sim/discovery-worker.ts)
 * each build the same network (graph, keys and links from the seed) and run a share of
 * the pairs' discoveries, pair i on worker i mod W, one after another as discoveryScenario
 * does on one. A worker's share is itself a deterministic simulation, so the figures are
 * the same for a seed and a worker count; each pair's cost is exactly what
 * discoveryScenario's runDiscoveries gives for that share on one network
 * (test/unit/sim-scenarios.test.ts). Wall time is taken from the moment every network is
 * built to the last share's end; CPU time is the whole process's (every thread).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { discoveryPairs, discoveryResult, type DiscoveryOptions, type DiscoveryPart, type DiscoveryResult } from './scenarios.js';
import type { ShardData, ToShard } from './discovery-worker.js';

type FromShard = { type: 'ready'; edges: number } | { type: 'ring'; part: DiscoveryPart } | { type: 'flood'; part: DiscoveryPart; wallMs: number };

/** One worker, its messages awaited in order. */
class Shard {
  private readonly worker: Worker;
  private readonly inbox: FromShard[] = [];
  private waiting: { resolve: (m: FromShard) => void; reject: (e: Error) => void } | null = null;
  private failed: Error | null = null;

  constructor(data: ShardData) {
    this.worker = new Worker(new URL('./discovery-worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (m: FromShard) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w.resolve(m);
      } else this.inbox.push(m);
    });
    const fail = (e: Error) => {
      this.failed ??= e;
      this.waiting?.reject(e);
      this.waiting = null;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`discovery worker exited (code ${code}) before it answered`)));
  }

  send(m: ToShard): void {
    this.worker.postMessage(m);
  }

  async next<T extends FromShard['type']>(type: T): Promise<Extract<FromShard, { type: T }>> {
    const m = this.inbox.shift() ?? (await new Promise<FromShard>((resolve, reject) => (this.failed ? reject(this.failed) : (this.waiting = { resolve, reject }))));
    if (m.type !== type) throw new Error(`discovery worker sent "${m.type}" where "${type}" was due`);
    return m as Extract<FromShard, { type: T }>;
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/**
 * Heap a worker's discovery network reaches while it runs, per agent: 10,000 agents peak at
 * about 920 MB (420 MB live after a collection, the rest the garbage of floods in flight).
 */
const PEAK_BYTES_PER_AGENT = 100_000;

/**
 * Threads for a discovery run on `nodes` agents: one per core, at most 8, and no more than
 * half the free memory holds (a laptop with 8 cores and 8 GB would otherwise page).
 */
export function defaultWorkers(nodes: number): number {
  const byMemory = Math.floor(os.freemem() / 2 / (Math.max(1, nodes) * PEAK_BYTES_PER_AGENT));
  return Math.max(1, Math.min(8, os.availableParallelism(), byMemory));
}

/** discoveryScenario on `workers` threads (at most one per pair); the floods run on the first after the rings. */
export async function discoveryScenarioParallel(opts: DiscoveryOptions & { workers: number }): Promise<DiscoveryResult> {
  const t0 = Date.now();
  const pairs = discoveryPairs(opts);
  const w = Math.max(1, Math.min(Math.floor(opts.workers), pairs.length));
  const net = { nodes: opts.nodes, degree: opts.degree, seed: opts.seed };
  const shards = Array.from({ length: w }, (_, k) => new Shard({ opts: net, pairs: pairs.filter((_, i) => i % w === k) }));
  try {
    const [built] = await Promise.all(shards.map((s) => s.next('ready')));
    const buildMs = Date.now() - t0;
    const tr = Date.now();
    const cpu0 = process.cpuUsage();
    for (const s of shards) s.send({ type: 'ring' });
    const parts = (await Promise.all(shards.map((s) => s.next('ring')))).map((m) => m.part);
    const ringWallMs = Date.now() - tr;
    const cpu = process.cpuUsage(cpu0);
    const costs = pairs.map((_, i) => parts[i % w]!.costs[Math.floor(i / w)]!);
    const ring: DiscoveryPart = {
      found: parts.reduce((n, p) => n + p.found, 0),
      costs,
      maxCopies: Math.max(...parts.map((p) => p.maxCopies)),
      errors: parts.reduce((n, p) => n + p.errors, 0),
    };
    // Only the first builds the flood network: the others' memory goes first.
    await Promise.all(shards.slice(1).map((s) => s.stop()));
    shards[0]!.send({ type: 'flood', pairs: pairs.slice(0, opts.floodSample) });
    const flood = await shards[0]!.next('flood');
    return discoveryResult(opts, ring, flood.part, {
      edges: built!.edges,
      workers: w,
      buildMs,
      ringWallMs,
      ringCpuMs: Math.round((cpu.user + cpu.system) / 1000),
      floodWallMs: flood.wallMs,
      wallMs: Date.now() - t0,
    });
  } finally {
    await Promise.all(shards.map((s) => s.stop()));
  }
}
