/**
 * Full-size runs of the protocol scenarios (test/sim/scenarios.ts), for the figures in
 * README.md and test/sim/README.md:
 *
 *   npm run sim -- discovery [--nodes 10000] [--discoveries 200] [--flood 10] [--workers N]
 *   npm run sim -- flood
 *   npm run sim -- spam [--nodes 10000] [--seconds 60]
 *   npm run sim -- list [--nodes 10000] [--posts 3]
 *   npm run sim -- rings [--nodes 10000] [--pairs 1000]   (the hop-count model, test/sim/rings.ts)
 *
 * Prints one JSON object per scenario. Deterministic for a given --seed (and, for discovery,
 * --workers: its pairs run on that many worker threads, by default one per core up to 8, as
 * many as half the free memory holds; test/sim/parallel.ts).
 */
import { defaultWorkers, discoveryScenarioParallel } from './parallel.js';
import { CORE_DEFAULTS } from '../../agent/core/index.js';
import { adjacency } from './graphs.js';
import { delayedFlood, ringModel, scheduleCost, searchSchedules } from './rings.js';
import { Rng } from './rng.js';
import { seedGraph, discoveryPairs, listScenario, queryFloodScenario, spamScenario } from './scenarios.js';

const argv = process.argv.slice(2);
const which = argv[0] && !argv[0].startsWith('--') ? argv.shift()! : 'all';
const flag = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`--${name} needs a positive number\n`);
    process.exit(2);
  }
  return v;
};
const si = argv.indexOf('--seed');
const seed = si >= 0 && argv[si + 1] ? argv[si + 1]! : 'report';
const known = ['all', 'discovery', 'flood', 'spam', 'list', 'rings'];
if (!known.includes(which)) {
  process.stderr.write(`unknown scenario "${which}"; try one of: ${known.join(', ')}\n`);
  process.exit(2);
}
const out = (name: string, r: object) => process.stdout.write(JSON.stringify({ scenario: name, seed, ...r }) + '\n');
if (which === 'all' || which === 'discovery') {
  const nodes = flag('nodes', 10_000);
  const workers = flag('workers', defaultWorkers(nodes));
  out('discovery', await discoveryScenarioParallel({ nodes, degree: 8, seed, discoveries: flag('discoveries', 200), floodSample: flag('flood', 10), workers }));
}
if (which === 'all' || which === 'flood') out('flood', queryFloodScenario({ nodes: 200, seed, seconds: 10 }));
if (which === 'all' || which === 'spam') {
  out('spam', spamScenario({ honest: flag('nodes', 10_000), degree: 8, sybils: 100, trustedBy: 3, seed, durationMs: flag('seconds', 60) * 1000, intervalMs: 200, honestIntervalMs: 500 }));
}
if (which === 'all' || which === 'list') {
  out('list', listScenario({ nodes: flag('nodes', 10_000), degree: 8, seed, posts: flag('posts', 3) }));
}
if (which === 'rings') {
  // The discovery scenario's graph and pairs for this seed (--seed bench-discovery: the benchmark's).
  const nodes = flag('nodes', 10_000);
  const graph = seedGraph({ nodes, degree: 8, seed });
  const pairs = discoveryPairs({ nodes, seed, discoveries: flag('pairs', 1000) });
  const model = ringModel(graph, pairs);
  const round = (x: number): number => Math.round(x);
  const distances: Record<number, number> = {};
  for (const d of model.distance) distances[d] = (distances[d] ?? 0) + 1;
  const meanPerTtl: Record<number, number> = {};
  for (let t = 1; t <= 10; t++) meanPerTtl[t] = round(model.cost.reduce((a, c) => a + c[t]!, 0) / model.cost.length);
  const { costs: _c, ...current } = scheduleCost(model, CORE_DEFAULTS.rings);
  const flood = scheduleCost(model, [16]);
  const adj = adjacency(graph);
  const sources = pairs.slice(0, 5).map(([a]) => a);
  const delayed = [0, 2, 5, 10, 20].map((delayMs) => {
    const rng = new Rng(`${seed}/delayed-flood`);
    const runs = sources.map((s) => delayedFlood(adj, s, { delayMs, ttl: 16, rng }));
    return { delayMs, messages: round(runs.reduce((a, r) => a + r.messages, 0) / runs.length), lastMs: round(runs.reduce((a, r) => a + r.lastMs, 0) / runs.length) };
  });
  // Agents answering for targets two hops away (a change weighed, not made): the best schedule then.
  const [twoHops] = searchSchedules(ringModel(graph, pairs, { answerRadius: 2 }));
  out('rings', {
    nodes,
    edges: graph.edges.length,
    pairs: pairs.length,
    distances,
    meanMessagesPerRingTtl: meanPerTtl,
    current: { ...current, mean: round(current.mean) },
    floodMedian: flood.median,
    cheapestSchedules: searchSchedules(model).slice(0, 5).map((c) => ({ ...c, mean: round(c.mean) })),
    delayedFlood: delayed,
    answeringTwoHopsOut: { ...twoHops!, mean: round(twoHops!.mean) },
  });
}
