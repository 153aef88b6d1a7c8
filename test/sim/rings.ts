/**
 * A hop-count model of route discovery on a graph, for choosing the expanding rings
 * (agent/PROTOCOL.md 3.4) and weighing changes to flooding without running the cores:
 *
 *  - `ringModel`: for each (asker, target) pair, what a ring of each ttl costs in messages
 *    (queries + replies) and whether it finds the target, from one breadth-first search.
 *    It counts what the core does (agent/core/core.ts startRing/onQuery/onReply): the asker
 *    sends to every neighbour; an agent reached for the first time answers if it is the
 *    target or a neighbour of it, else forwards to every neighbour but the sender while the
 *    ttl lasts; a reply walks back hop by hop. It assumes a query first reaches each agent
 *    by a shortest path (the simulator's latency is 5 ms + 0..3 ms of jitter per hop, so this
 *    rarely fails) and counts at most `maxReplies` replies per query. `answerRadius` 2 models
 *    a protocol change weighed, not made: agents that know their neighbours' neighbours and
 *    answer for a target two hops away.
 *  - `scheduleCost` / `searchSchedules`: a discovery's cost under a ring schedule (each ring
 *    in turn until one finds the target), and every schedule of rings up to `maxRing` ranked
 *    by mean cost.
 *  - `delayedFlood`: an event model of one flood in which each agent waits `delayMs` before
 *    forwarding and skips the neighbours it has heard the query from meanwhile (a change to
 *    the protocol weighed, not made: what it would save against what it would cost in time).
 *
 * `npm run sim -- rings` prints them for the benchmark's graph; test/unit/sim-rings.test.ts
 * checks the model against the simulator.
 */
import { VirtualClock } from './clock.js';
import { adjacency, bfs, type Graph } from './graphs.js';
import type { Rng } from './rng.js';
import { median } from './scenarios.js';

export interface RingModel {
  /** Hops from asker to target, per pair. */
  distance: number[];
  /** cost[p][t]: messages of a ring of ttl t for pair p (index 0 unused). */
  cost: Float64Array[];
  /** finds[p][t]: 1 when a ring of ttl t reaches an agent that answers for the target. */
  finds: Uint8Array[];
  maxTtl: number;
}

export function ringModel(
  graph: Graph,
  pairs: ReadonlyArray<readonly [number, number]>,
  opts: { maxTtl?: number; maxReplies?: number; answerRadius?: number } = {},
): RingModel {
  const maxTtl = opts.maxTtl ?? 16;
  const maxReplies = opts.maxReplies ?? 4;
  const radius = opts.answerRadius ?? 1;
  const adj = adjacency(graph);
  const nearTarget = new Uint8Array(graph.n);
  const model: RingModel = { distance: [], cost: [], finds: [], maxTtl };
  for (const [s, x] of pairs) {
    const { dist: d, order } = bfs(adj, s);
    // The agents that answer for x: x itself and those within `radius` hops of it.
    const near = bfs(adj, x);
    const answering = near.order.filter((v) => near.dist[v]! <= radius);
    for (const v of answering) nearTarget[v] = 1;
    const cost = new Float64Array(maxTtl + 1);
    const finds = new Uint8Array(maxTtl + 1);
    for (let t = 1; t <= maxTtl; t++) {
      let queries = adj[s]!.length;
      let replies = 0;
      let answers = 0;
      for (let i = 1; i < order.length; i++) {
        const v = order[i]!;
        const dv = d[v]!;
        if (dv > t) break;
        if (nearTarget[v] === 1) {
          // The target, or an agent near it, answers and forwards nothing; its reply walks back dv hops.
          if (++answers <= maxReplies) replies += dv;
          continue;
        }
        if (dv < t) queries += adj[v]!.length - 1;
      }
      cost[t] = queries + replies;
      finds[t] = answers > 0 ? 1 : 0;
    }
    for (const v of answering) nearTarget[v] = 0;
    model.distance.push(d[x]!);
    model.cost.push(cost);
    model.finds.push(finds);
  }
  return model;
}

export interface ScheduleCost {
  rings: number[];
  mean: number;
  median: number;
  /** Share of the pairs found by the schedule's last ring or earlier. */
  found: number;
}

/** Messages per discovery when the asker tries `rings` in turn until one finds the target. */
export function scheduleCost(model: RingModel, rings: readonly number[]): ScheduleCost & { costs: number[] } {
  for (const t of rings) if (!(Number.isInteger(t) && t >= 1 && t <= model.maxTtl)) throw new RangeError(`ring ttl ${t} is outside 1..${model.maxTtl}`);
  let found = 0;
  const costs = model.cost.map((cost, p) => {
    let c = 0;
    for (const t of rings) {
      c += cost[t]!;
      if (model.finds[p]![t] === 1) {
        found++;
        return c;
      }
    }
    return c;
  });
  const mean = costs.reduce((a, b) => a + b, 0) / Math.max(1, costs.length);
  return { rings: [...rings], mean, median: median(costs), found: found / Math.max(1, costs.length), costs };
}

/** Every increasing schedule of rings from 1..maxRing followed by `last`, cheapest mean first. */
export function searchSchedules(model: RingModel, opts: { maxRing?: number; last?: number } = {}): ScheduleCost[] {
  const maxRing = opts.maxRing ?? 9;
  const last = opts.last ?? model.maxTtl;
  const out: ScheduleCost[] = [];
  for (let mask = 0; mask < 1 << maxRing; mask++) {
    const rings: number[] = [];
    for (let t = 1; t <= maxRing; t++) if (mask & (1 << (t - 1))) rings.push(t);
    if (last > maxRing) rings.push(last);
    if (rings.length === 0) continue;
    const { costs: _costs, ...c } = scheduleCost(model, rings);
    out.push(c);
  }
  return out.sort((a, b) => a.mean - b.mean);
}

/**
 * One flood of `ttl` from `source` in which every agent, first reached at time T, forwards
 * at T + delayMs to the neighbours it has not heard the query from by then (delayMs 0: the
 * protocol as it is). Per-hop latency latencyMs + 0..jitterMs, as the simulator's.
 * Returns the queries sent and when the last one arrived.
 */
export function delayedFlood(
  adj: number[][],
  source: number,
  opts: { delayMs: number; ttl: number; latencyMs?: number; jitterMs?: number; rng: Rng },
): { messages: number; lastMs: number } {
  const latency = opts.latencyMs ?? 5;
  const jitter = opts.jitterMs ?? 3;
  const n = adj.length;
  const reached = new Uint8Array(n);
  // Per agent waiting to forward: the neighbours it has heard the query from so far.
  const heard: Array<Set<number> | null> = new Array<Set<number> | null>(n).fill(null);
  // Events in (time, order of scheduling), as the simulator runs its own.
  const clock = new VirtualClock();
  let messages = 0;
  let lastMs = 0;
  const send = (from: number, to: number, ttl: number): void => {
    messages++;
    clock.post(clock.now() + latency + opts.rng.int(jitter + 1), () => arrive(from, to, ttl));
  };
  const arrive = (from: number, to: number, ttl: number): void => {
    lastMs = clock.now();
    if (reached[to] === 1) {
      heard[to]?.add(from);
      return;
    }
    reached[to] = 1;
    if (ttl <= 1) return;
    if (opts.delayMs <= 0) {
      // As the core does: on to every neighbour but the sender, at once.
      for (const w of adj[to]!) if (w !== from) send(to, w, ttl - 1);
      return;
    }
    const h = (heard[to] = new Set([from]));
    clock.post(clock.now() + opts.delayMs, () => {
      heard[to] = null;
      for (const w of adj[to]!) if (!h.has(w)) send(to, w, ttl - 1);
    });
  };
  reached[source] = 1;
  for (const w of adj[source]!) send(source, w, opts.ttl);
  clock.runUntilIdle();
  return { messages, lastMs };
}
