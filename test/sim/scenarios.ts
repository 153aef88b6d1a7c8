/**
 * Simulator scenarios for the relaying protocol at scale, shared by the tests
 * (test/unit/sim-scenarios.test.ts, small sizes), the benchmark and `test/sim/run.ts`
 * (full sizes):
 *  - discovery: success rate, messages per discovery for expanding rings vs one full
 *    flood, and that no trust edge carries a query twice in one direction;
 *  - query flood: one neighbour sending queries at 100× its limit is held to it while
 *    another neighbour's queries still pass;
 *  - spam: a spammer's agent trusted by a few honest agents whitelists Sybil entities
 *    that spam random honest agents, who complain; how much spam gets through before
 *    every honest neighbour has cut the spammer off, and whether any honest agent or
 *    honest delivery suffers.
 *  - list: a mailing list with every other node subscribed; each post must reach each
 *    subscriber exactly once; messages and time per post.
 * Everything runs on the virtual clock with seeded randomness: same seed, same figures.
 */
import { toHex } from '../../agent/crypto/index.js';
import type { CoreConfig } from '../../agent/core/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import type { WireMessage } from '../../agent/wire/types.js';
import { ListHost } from '../../agent/lists/index.js';
import { adjacency, bfs, smallWorld, type Graph } from './graphs.js';
import { SimNetwork } from './network.js';
import { Rng } from './rng.js';

export interface DiscoveryOptions {
  nodes: number;
  degree: number;
  seed: string;
  discoveries: number;
  floodSample: number;
}

export interface DiscoveryResult {
  nodes: number;
  edges: number;
  discoveries: number;
  succeeded: number;
  successRate: number;
  /** Messages (queries + replies) per discovery, in pair order. */
  ringCosts: number[];
  ringMedian: number;
  ringMean: number;
  floodSample: number;
  floodMedian: number;
  floodMax: number;
  /** floodMedian / ringMedian. */
  ringAdvantage: number;
  /** Max copies of one query on one directed edge (must be 1). */
  maxQueryCopiesPerEdge: number;
  /** Networks the expanding-ring discoveries ran on at once, each with its share of the pairs (test/sim/parallel.ts); 1 for discoveryScenario. */
  workers: number;
  buildMs: number;
  /** Wall time of the expanding-ring discoveries alone, and of the floods alone. */
  ringWallMs: number;
  /** CPU time of this process (all its threads) during the expanding-ring discoveries (what load from other work does not inflate). */
  ringCpuMs: number;
  floodWallMs: number;
  wallMs: number;
  errors: number;
}

/** The median of xs (0 for none; the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const qidKey = (m: WireMessage): string => (m.t === MsgType.ROUTE_QUERY ? toHex(m.qid) : '');

/** The random pairs (asker, target) of a discovery run: the same for a seed, whoever runs them. */
export function discoveryPairs(opts: Pick<DiscoveryOptions, 'nodes' | 'seed' | 'discoveries'>): Array<[number, number]> {
  const pairRng = new Rng(`${opts.seed}/pairs`);
  const pairs: Array<[number, number]> = [];
  while (pairs.length < opts.discoveries) {
    const a = pairRng.int(opts.nodes);
    const b = pairRng.int(opts.nodes);
    if (a !== b) pairs.push([a, b]);
  }
  return pairs;
}

/**
 * The trust graph a scenario runs on: the seed's small world (rewiring 0.1). The same for a
 * seed in any thread, so the discovery workers, test/sim/rings.ts's model and the tests share it.
 */
export function seedGraph(opts: { nodes: number; degree: number; seed: string }): Graph {
  return smallWorld(opts.nodes, opts.degree, 0.1, new Rng(`${opts.seed}/graph`));
}

/**
 * The network discoveries run on, settled: the seed's small-world graph, keys and links,
 * with the default expanding rings, or (`flood`) one full flood of ttl 16 per discovery. The
 * same network for a seed, in any thread.
 */
export function discoveryNetwork(opts: Pick<DiscoveryOptions, 'nodes' | 'degree' | 'seed'>, flood: boolean): { net: SimNetwork; edges: number } {
  const graph = seedGraph(opts);
  // Only nodes with something due tick: discovery leaves timers only at the asker (its rings:
  // the core's wantsTick keeps it ticking), and a forwarder's tick has nothing due, so this
  // changes no decision (the same trace, seed for seed: test/unit/sim.test.ts) while a flood
  // no longer costs a housekeeping tick per agent it touched (one per 2.7 messages).
  const quiet = { busyGraceMs: 0, idleTick: false, encode: false } as const;
  const coreConfig: Partial<CoreConfig> = flood ? { rings: [16] } : {};
  // Recording every message is what counts copies per directed edge: for floods, and for rings on small graphs.
  const net = new SimNetwork({ seed: opts.seed, graph, record: flood || opts.nodes <= 2000, trace: false, coreConfig, ...quiet });
  // Links come up with an announcement each way: let that settle before measuring.
  net.runUntilIdle(10 * 60_000);
  return { net, edges: graph.edges.length };
}

/** What one run of discoveries on one network found (see runDiscoveries). */
export interface DiscoveryPart {
  found: number;
  /** Messages (queries + replies) per discovery, in the order of the pairs. */
  costs: number[];
  /** Max copies of one query on one directed edge, when the network records messages (1 otherwise). */
  maxCopies: number;
  errors: number;
}

/**
 * Runs the pairs' discoveries one after another on `net`: each until the network is idle,
 * then 5 s for rate-limit buckets to refill, as between real users' sends.
 */
export function runDiscoveries(net: SimNetwork, pairs: Array<[number, number]>): DiscoveryPart {
  let found = 0;
  const costs: number[] = [];
  const count = () => net.sentCount(MsgType.ROUTE_QUERY, MsgType.ROUTE_REPLY);
  for (const [a, b] of pairs) {
    const target = net.node(b).entity.publicKey;
    const targetHex = toHex(target);
    let ok = false;
    const off = net.onAction((node, action) => {
      if (node === a && action.type === 'route-found' && toHex(action.target) === targetHex) ok = true;
    });
    const before = count();
    net.step(a, (core) => core.discover(target));
    net.runUntilIdle(10 * 60_000);
    costs.push(count() - before);
    off();
    if (ok) found++;
    net.run(5_000);
  }
  const maxCopies = net.sent.length > 0 ? net.maxCopiesPerDirectedEdge(MsgType.ROUTE_QUERY, qidKey) : 1;
  return { found, costs, maxCopies, errors: net.errors.length };
}

/** The figures of a discovery run from its parts (shared with test/sim/parallel.ts). */
export function discoveryResult(
  opts: DiscoveryOptions,
  ring: DiscoveryPart,
  flood: DiscoveryPart,
  t: { edges: number; workers: number; buildMs: number; ringWallMs: number; ringCpuMs: number; floodWallMs: number; wallMs: number },
): DiscoveryResult {
  const ringMedian = median(ring.costs);
  const floodMedian = median(flood.costs);
  return {
    nodes: opts.nodes,
    edges: t.edges,
    discoveries: ring.costs.length,
    succeeded: ring.found,
    successRate: ring.found / Math.max(1, ring.costs.length),
    ringCosts: ring.costs,
    ringMedian,
    ringMean: ring.costs.reduce((x, y) => x + y, 0) / Math.max(1, ring.costs.length),
    floodSample: flood.costs.length,
    floodMedian,
    floodMax: Math.max(0, ...flood.costs),
    ringAdvantage: floodMedian / Math.max(1, ringMedian),
    maxQueryCopiesPerEdge: Math.max(ring.maxCopies, flood.maxCopies),
    workers: t.workers,
    buildMs: t.buildMs,
    ringWallMs: t.ringWallMs,
    ringCpuMs: t.ringCpuMs,
    floodWallMs: t.floodWallMs,
    wallMs: t.wallMs,
    errors: ring.errors + flood.errors,
  };
}

/**
 * Random pairs discover each other by expanding rings on one network, one after another
 * (test/sim/parallel.ts runs shares of them on several networks at once); the first
 * `floodSample` pairs again as one full flood each, on a network with the same graph and keys.
 */
export function discoveryScenario(opts: DiscoveryOptions): DiscoveryResult {
  const t0 = Date.now();
  const pairs = discoveryPairs(opts);
  const { net, edges } = discoveryNetwork(opts, false);
  const buildMs = Date.now() - t0;
  const tr = Date.now();
  const cpu0 = process.cpuUsage();
  const ring = runDiscoveries(net, pairs);
  const ringWallMs = Date.now() - tr;
  const cpu = process.cpuUsage(cpu0);
  const tf = Date.now();
  const flood = runDiscoveries(discoveryNetwork(opts, true).net, pairs.slice(0, opts.floodSample));
  const floodWallMs = Date.now() - tf;
  return discoveryResult(opts, ring, flood, {
    edges,
    workers: 1,
    buildMs,
    ringWallMs,
    ringCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    floodWallMs,
    wallMs: Date.now() - t0,
  });
}

export interface QueryFloodResult {
  /** Queries the flooder sent to its neighbour. */
  sent: number;
  /** Of those, forwarded or answered by the neighbour (not rate limited). */
  accepted: number;
  /** The per-neighbour budget over the run (rate × seconds + burst). */
  budget: number;
  /** The honest neighbour's discovery still succeeded during the flood. */
  honestFound: boolean;
}

/** One neighbour sends route queries at 100× the per-neighbour rate for `seconds`. */
export function queryFloodScenario(opts: { nodes: number; seed: string; seconds: number }): QueryFloodResult {
  const graph = seedGraph({ ...opts, degree: 8 });
  const net = new SimNetwork({ seed: opts.seed, graph, encode: false, busyGraceMs: 2_000 });
  const victim = 0;
  const [flooder, honest] = net.neighbours(victim);
  if (flooder === undefined || honest === undefined) throw new Error('node 0 needs two neighbours');
  const cfgRate = 20; // CORE_DEFAULTS.queryPerNeighbour.ratePerSec
  const burst = 40;
  const perSecond = cfgRate * 100;
  const rng = new Rng(`${opts.seed}/flood`);
  let sent = 0;
  const before = (name: string) => net.metrics.get(name) ?? 0;
  const limitedBefore = before('query.ratelimited.neighbour');
  let honestFound = false;
  const honestTarget = net.node(opts.nodes - 1).entity.publicKey;
  const off = net.onAction((node, a) => {
    if (node === honest && a.type === 'route-found' && toHex(a.target) === toHex(honestTarget)) honestFound = true;
  });
  for (let s = 0; s < opts.seconds; s++) {
    for (let i = 0; i < perSecond; i++) {
      const msg: WireMessage = { t: MsgType.ROUTE_QUERY, qid: rng.bytes(16), target: rng.bytes(32), ttl: 1 };
      net.inject(flooder, victim, msg);
      sent++;
    }
    if (s === Math.floor(opts.seconds / 2)) net.step(honest, (core) => core.discover(honestTarget));
    net.run(1000);
  }
  net.runUntilIdle(60_000);
  off();
  const limited = before('query.ratelimited.neighbour') - limitedBefore;
  return { sent, accepted: sent - limited, budget: cfgRate * opts.seconds + burst, honestFound };
}

export interface SpamResult {
  honest: number;
  sybils: number;
  spammerTrustedBy: number;
  spamSent: number;
  /** Spam messages that reached an honest recipient's inbox. */
  spamDelivered: number;
  /** Spam delivered before the last honest neighbour cut the spammer off. */
  spamDeliveredBeforeCutoff: number;
  cutoffAtMs: number | null;
  /** Honest neighbours of the spammer that revoked it. */
  revokedSpammer: number;
  /** Honest agents revoked by anyone (must be 0). */
  honestRevoked: number;
  honestSent: number;
  honestDelivered: number;
  complaints: number;
  wallMs: number;
  errors: number;
}

/**
 * A spammer's agent S, trusted by `trustedBy` honest agents, whitelists `sybils` fresh
 * entities (trusted only by S). Every `intervalMs` a random Sybil sends spam to a random
 * honest agent, who complains on receipt; honest agents keep messaging each other.
 */
export function spamScenario(opts: {
  honest: number;
  degree: number;
  sybils: number;
  trustedBy: number;
  seed: string;
  durationMs: number;
  intervalMs: number;
  honestIntervalMs: number;
}): SpamResult {
  const t0 = Date.now();
  const rng = new Rng(`${opts.seed}/graph`);
  const base = smallWorld(opts.honest, opts.degree, 0.1, rng);
  const S = opts.honest;
  const firstSybil = S + 1;
  const n = firstSybil + opts.sybils;
  const edges: Array<[number, number]> = [...base.edges];
  const sponsors = new Set<number>();
  while (sponsors.size < opts.trustedBy) sponsors.add(rng.int(opts.honest));
  for (const h of sponsors) edges.push([S, h]);
  for (let i = firstSybil; i < n; i++) edges.push([S, i]);
  const graph: Graph = { n, edges };
  const net = new SimNetwork({ seed: opts.seed, graph, encode: false, busyGraceMs: 5_000 });
  const isSybil = (i: number) => i >= firstSybil;
  const isHonest = (i: number) => i < S;
  const spammer = toHex(net.node(S).entity.publicKey);
  const r: SpamResult = {
    honest: opts.honest,
    sybils: opts.sybils,
    spammerTrustedBy: opts.trustedBy,
    spamSent: 0,
    spamDelivered: 0,
    spamDeliveredBeforeCutoff: 0,
    cutoffAtMs: null,
    revokedSpammer: 0,
    honestRevoked: 0,
    honestSent: 0,
    honestDelivered: 0,
    complaints: 0,
    wallMs: 0,
    errors: 0,
  };
  const start = net.now();
  const cutBy = new Set<number>();
  net.onAction((node, a) => {
    if (a.type === 'delivered-to-app' && isHonest(node)) {
      const from = net.indexOf(a.item.from);
      if (from !== undefined && isSybil(from)) {
        r.spamDelivered++;
        if (r.cutoffAtMs === null) r.spamDeliveredBeforeCutoff++;
        net.step(node, (core) => core.complain(a.item.id, 'spam'));
        r.complaints++;
      } else if (from !== undefined && isHonest(from)) {
        r.honestDelivered++;
      }
    }
    if (a.type === 'auto-revoked') {
      const who = net.indexOf(a.entity);
      if (toHex(a.entity) === spammer && sponsors.has(node)) {
        cutBy.add(node);
        r.revokedSpammer = cutBy.size;
        if (cutBy.size === sponsors.size && r.cutoffAtMs === null) r.cutoffAtMs = net.now() - start;
      } else if (who !== undefined && isHonest(who)) {
        r.honestRevoked++;
      }
    }
  });
  const srng = new Rng(`${opts.seed}/spam`);
  const hrng = new Rng(`${opts.seed}/honest`);
  let nextSpam = start;
  let nextHonest = start;
  const end = start + opts.durationMs;
  while (net.now() < end) {
    const t = Math.min(nextSpam, nextHonest);
    net.runUntil(t);
    if (t === nextSpam) {
      const from = firstSybil + srng.int(opts.sybils);
      const to = srng.int(opts.honest);
      net.send(from, to, `spam ${r.spamSent}`);
      r.spamSent++;
      nextSpam += opts.intervalMs;
    }
    if (t === nextHonest) {
      const from = hrng.int(opts.honest);
      const nb = net.neighbours(from).filter(isHonest);
      // Honest traffic: to a friend or a friend of a friend.
      let to = nb.length ? nb[hrng.int(nb.length)]! : (from + 1) % opts.honest;
      const nb2 = net.neighbours(to).filter((x) => isHonest(x) && x !== from);
      if (nb2.length && hrng.float() < 0.5) to = nb2[hrng.int(nb2.length)]!;
      net.send(from, to, `hello ${r.honestSent}`);
      r.honestSent++;
      nextHonest += opts.honestIntervalMs;
    }
  }
  net.runUntilIdle(10 * 60_000);
  r.wallMs = Date.now() - t0;
  r.errors = net.errors.length;
  return r;
}

export interface ListResult {
  nodes: number;
  edges: number;
  subscribers: number;
  joined: number;
  posts: number;
  /** Per post: subscribers that got it exactly once / more than once / not at all. */
  receivedOnce: number[];
  duplicates: number;
  missing: number;
  /** Messages on all links per post (copies, hop reports, acks, custody), mean. */
  messagesPerPost: number;
  /** Virtual time from the post to the last subscriber's delivery, mean (s). */
  virtualSecondsPerPost: number;
  /** Wall time per post (ms), mean. */
  wallMsPerPost: number;
  joinWallMs: number;
  buildMs: number;
  errors: number;
}

/**
 * A mailing list at scale: node 0 hosts an announcement list owned by node 1; every other
 * node subscribes (its route to the list is the BFS tree path and it holds the list's
 * certificate, as a discovery would leave them; the list learns the reverse paths from the
 * subscribe requests), then the owner posts.
 * Counts, for each post, how many subscribers got it exactly once, and the cost per post.
 */
export function listScenario(opts: { nodes: number; degree: number; seed: string; posts: number }): ListResult {
  const t0 = Date.now();
  const graph = seedGraph(opts);
  const net = new SimNetwork({
    seed: opts.seed,
    graph,
    record: false,
    encode: false,
    busyGraceMs: 2_000,
    coreConfig: { routeCacheTargets: opts.nodes + 100, routeTtlMs: 24 * 3600_000, outboxPerRecipient: 1000, outboxMax: opts.nodes * (opts.posts + 2) },
  });
  const L = 0;
  const owner = 1;
  const listEntity = net.node(L).entity.publicKey;
  new ListHost(net.node(L).core, net.node(L).store, { name: 'sim', policy: 'announce', owner: net.node(owner).entity.publicKey }, { fanoutPerTick: opts.nodes }, net.now());
  // BFS tree from the list: each node's route to it is its tree path.
  const { parent } = bfs(adjacency(graph), L);
  // Links come up with an announcement each way: let that settle (counted in buildMs).
  net.runUntilIdle(3600_000);
  const listNode = net.node(L);
  const listCert = { agent: listNode.agent.publicKey, entity: listEntity, cert: listNode.certBytes, seq: listNode.cert.seq, notAfter: listNode.cert.notAfter, seenAt: net.now() };
  const buildMs = Date.now() - t0;
  const tj = Date.now();
  for (let i = 0; i < opts.nodes; i++) {
    if (i === L) continue;
    const route: Uint8Array[] = [];
    for (let v = parent[i]!; ; v = parent[v]!) {
      route.push(net.node(v).entity.publicKey);
      if (v === L) break;
    }
    // What a discovery would leave behind: the route, and the list's certificate (its X25519
    // key to seal to), which a route reply carries.
    net.node(i).core.learnRoute(listEntity, route);
    net.node(i).store.certs.put(listCert);
    net.step(i, (core) => core.listJoin(listEntity, undefined));
  }
  net.runUntilIdle(3600_000);
  const joinWallMs = Date.now() - tj;
  const joined = net.node(L).store.list.countMembers('member');
  const receivedOnce: number[] = [];
  let duplicates = 0;
  let missing = 0;
  let messages = 0;
  let virtual = 0;
  let wall = 0;
  for (let p = 0; p < opts.posts; p++) {
    const tw = Date.now();
    const sentBefore = net.counters.sent;
    const tv = net.now();
    let last = tv;
    const counts = new Map<number, number>();
    const off = net.onAction((node, a) => {
      if (a.type !== 'delivered-to-app' || !a.item.author) return;
      counts.set(node, (counts.get(node) ?? 0) + 1);
      last = net.now();
    });
    net.send(owner, L, `announcement ${p}`);
    net.runUntilIdle(3600_000);
    off();
    let once = 0;
    for (let i = 0; i < opts.nodes; i++) {
      if (i === L || i === owner) continue;
      const c = counts.get(i) ?? 0;
      if (c === 1) once++;
      else if (c > 1) duplicates++;
      else missing++;
    }
    receivedOnce.push(once);
    messages += net.counters.sent - sentBefore;
    virtual += (last - tv) / 1000;
    wall += Date.now() - tw;
  }
  return {
    nodes: opts.nodes,
    edges: graph.edges.length,
    subscribers: opts.nodes - 2,
    joined: joined - 1,
    posts: opts.posts,
    receivedOnce,
    duplicates,
    missing,
    messagesPerPost: messages / opts.posts,
    virtualSecondsPerPost: virtual / opts.posts,
    wallMsPerPost: wall / opts.posts,
    joinWallMs,
    buildMs,
    errors: net.errors.length,
  };
}
