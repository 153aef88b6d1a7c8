/**
 * Simulator CLI: builds a small-world network of real cores and runs a scenario, printing
 * build time, memory and what happened.
 *
 *   node dist/test/sim/run.js --nodes 10000 --degree 8 --seed s [--rewire 0.1]
 *        [--scenario direct|discover] [--sends 100] [--tick busy|all] [--no-encode] [--json]
 *
 * Scenarios live in the `scenarios` table below; add one by adding an entry.
 */
import { toHex } from '../../agent/crypto/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import type { WireMessage } from '../../agent/wire/types.js';
import { smallWorld } from './graphs.js';
import { SimNetwork } from './network.js';
import { Rng } from './rng.js';

interface Args {
  nodes: number;
  degree: number;
  rewire: number;
  seed: string;
  scenario: string;
  sends: number;
  tick: 'busy' | 'all';
  encode: boolean;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { nodes: 1000, degree: 8, rewire: 0.1, seed: 'sim', scenario: 'direct', sends: 100, tick: 'busy', encode: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${f} needs a value`);
      return x;
    };
    const num = (): number => {
      const x = Number(v());
      if (!Number.isFinite(x)) throw new Error(`${f} needs a number`);
      return x;
    };
    switch (f) {
      case '--nodes': a.nodes = num(); break;
      case '--degree': a.degree = num(); break;
      case '--rewire': a.rewire = num(); break;
      case '--seed': a.seed = v(); break;
      case '--scenario': a.scenario = v(); break;
      case '--sends': a.sends = num(); break;
      case '--tick': {
        const t = v();
        if (t !== 'busy' && t !== 'all') throw new Error('--tick is busy or all');
        a.tick = t;
        break;
      }
      case '--no-encode': a.encode = false; break;
      case '--json': a.json = true; break;
      case '--help': case '-h':
        process.stdout.write('usage: run.js --nodes N --degree K --seed S [--rewire P] [--scenario direct] [--sends N] [--tick busy|all] [--no-encode] [--json]\n');
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default:
        throw new Error(`unknown flag ${f} (try --help)`);
    }
  }
  return a;
}

type Report = Record<string, unknown>;
type Scenario = (net: SimNetwork, rng: Rng, args: Args) => Report;

const mb = (b: number): number => Math.round(b / 1048576);

/** Random direct sends between linked neighbours, then run until idle. */
const direct: Scenario = (net, rng, args) => {
  let appDelivered = 0;
  let acked = 0;
  const off = net.onAction((_node, a) => {
    if (a.type === 'delivered-to-app') appDelivered++;
    if (a.type === 'outbox-state' && a.state === 'delivered') acked++;
  });
  for (let k = 0; k < args.sends; k++) {
    const from = rng.int(net.n);
    const nbs = net.neighbours(from);
    if (nbs.length === 0) continue;
    net.send(from, rng.pick(nbs), `hello ${k}`);
  }
  const idle = net.runUntilIdle(3600_000);
  off();
  return { sends: args.sends, appDelivered, acked, idle, envelopes: net.sentByType()['ENVELOPE']?.count ?? 0, maxEnvelopeCopiesPerEdge: net.maxCopiesPerDirectedEdge(MsgType.ENVELOPE, (m) => ('id' in m && m.id instanceof Uint8Array ? toHex(m.id) : '')) };
};

/** Route discoveries from random nodes to random targets (--sends of them), then run until idle. */
const discover: Scenario = (net, rng, args) => {
  let found = 0;
  let failed = 0;
  const off = net.onAction((_node, a) => {
    if (a.type === 'route-found') found++;
    if (a.type === 'discovery-failed') failed++;
  });
  for (let k = 0; k < args.sends; k++) {
    const from = rng.int(net.n);
    let to = rng.int(net.n);
    if (to === from) to = (to + 1) % net.n;
    const target = net.node(to).entity.publicKey;
    net.step(from, (c) => c.discover(target));
  }
  const idle = net.runUntilIdle(3600_000);
  off();
  const qid = (m: WireMessage): string => ('qid' in m ? toHex(m.qid) : '');
  return {
    discoveries: args.sends,
    routeFound: found,
    discoveryFailed: failed,
    idle,
    queries: net.sentByType()['ROUTE_QUERY']?.count ?? 0,
    maxQueryCopiesPerEdge: net.maxCopiesPerDirectedEdge(MsgType.ROUTE_QUERY, qid),
  };
};

const scenarios: Record<string, Scenario> = { direct, discover };

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const scenario = scenarios[args.scenario];
  if (!scenario) throw new Error(`unknown scenario ${args.scenario}; known: ${Object.keys(scenarios).join(', ')}`);
  const root = new Rng(args.seed);
  const heap0 = process.memoryUsage();
  const t0 = performance.now();
  const graph = smallWorld(args.nodes, args.degree, args.rewire, root.fork('graph'));
  const tGraph = performance.now();
  const net = new SimNetwork({ seed: args.seed, graph, tickPolicy: args.tick, encode: args.encode, record: true });
  const tBuild = performance.now();
  global.gc?.();
  const mem = process.memoryUsage();
  const build = {
    nodes: args.nodes,
    edges: graph.edges.length,
    graphMs: Math.round(tGraph - t0),
    buildMs: Math.round(tBuild - tGraph),
    rssMB: mb(mem.rss),
    heapUsedMB: mb(mem.heapUsed),
    heapPerNodeKB: Math.round((mem.heapUsed - heap0.heapUsed) / args.nodes / 102.4) / 10,
    externalMB: mb(mem.external + mem.arrayBuffers),
  };
  const w0 = performance.now();
  const v0 = net.now();
  const result = scenario(net, root.fork(`scenario/${args.scenario}`), args);
  const run = {
    scenario: args.scenario,
    wallMs: Math.round(performance.now() - w0),
    virtualMs: net.now() - v0,
    events: net.clock.executed,
    ticks: net.counters.ticks,
    messages: net.counters.sent,
    bytes: net.counters.bytes,
    byType: net.sentByType(),
    errors: net.errors.length,
    trace: net.traceHash(),
    rssMB: mb(process.memoryUsage().rss),
    ...result,
  };
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ build, run })}\n`);
  } else {
    process.stdout.write(`build: ${JSON.stringify(build)}\n`);
    process.stdout.write(`run:   ${JSON.stringify(run)}\n`);
  }
  for (const e of net.errors.slice(0, 5)) process.stderr.write(`core error at node ${e.node} (${e.event}): ${e.message}\n`);
  process.exitCode = net.errors.length > 0 ? 1 : 0;
}

main();
