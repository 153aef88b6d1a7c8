/**
 * Full-size runs of the protocol scenarios (test/sim/scenarios.ts), for the figures in
 * README.md and test/sim/README.md:
 *
 *   npm run sim -- discovery [--nodes 10000] [--discoveries 200] [--flood 10] [--workers N]
 *   npm run sim -- flood
 *   npm run sim -- spam [--nodes 10000] [--seconds 60]
 *   npm run sim -- list [--nodes 10000] [--posts 3]
 *
 * Prints one JSON object per scenario. Deterministic for a given --seed (and, for discovery,
 * --workers: its pairs run on that many worker threads, by default one per core up to 8, as
 * many as half the free memory holds; test/sim/parallel.ts).
 */
import { defaultWorkers, discoveryScenarioParallel } from './parallel.js';
import { listScenario, queryFloodScenario, spamScenario } from './scenarios.js';

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
const known = ['all', 'discovery', 'flood', 'spam', 'list'];
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
