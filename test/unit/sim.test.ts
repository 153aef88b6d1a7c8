/**
 * The in-process simulator (test/sim): virtual clock ordering and ties, seeded rng
 * determinism and fork independence, graph generators, sim keys equal to agent/crypto's,
 * and SimNetwork running real cores: direct messages delivered exactly once and acked,
 * determinism of the trace hash, kill/revive with retries, the exception policy, links
 * and trust gates, and lazy ticking.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { boxKeyFromSecret, signingKeyFromSeed, toHex } from '../../agent/crypto/index.js';
import { issueCert, verifyCert } from '../../agent/identity/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import type { WireMessage } from '../../agent/wire/types.js';
import { VirtualClock } from '../sim/clock.js';
import { Rng } from '../sim/rng.js';
import { adjacency, grid, isConnected, line, smallWorld, type Graph } from '../sim/graphs.js';
import { simBoxKey, simIssueCert, simSigningKey } from '../sim/keys.js';
import { SimNetwork, type SimNetworkOptions } from '../sim/network.js';
import { seedGraph } from '../sim/scenarios.js';

// ---------------------------------------------------------------- clock

test('clock: events run in time order, ties in scheduling order, and same-time events scheduled while running run after', () => {
  const c = new VirtualClock(1000);
  const order: string[] = [];
  c.schedule(1030, () => order.push('c30'));
  c.schedule(1010, () => order.push('a10'));
  c.schedule(1020, () => order.push('b20'));
  c.schedule(1010, () => {
    order.push('a10-second');
    c.after(0, () => order.push('a10-nested'));
  });
  c.schedule(1010, () => order.push('a10-third'));
  c.after(5, () => order.push('five'));
  const n = c.runUntilIdle();
  assert.is(n, 7);
  assert.equal(order, ['five', 'a10', 'a10-second', 'a10-third', 'a10-nested', 'b20', 'c30']);
  assert.is(c.now(), 1030);
});

test('clock: runUntil runs what is due (inclusive), sets now, and leaves later events; cancel and past times', () => {
  const c = new VirtualClock(0);
  const seen: number[] = [];
  for (const t of [5, 10, 15]) c.schedule(t, () => seen.push(c.now()));
  const timer = c.schedule(12, () => seen.push(-1));
  timer.cancel();
  timer.cancel();
  assert.is(c.pending(), 3);
  c.runUntil(10);
  assert.equal(seen, [5, 10]);
  assert.is(c.now(), 10);
  assert.is(c.nextAt(), 15);
  c.schedule(3, () => seen.push(c.now())); // in the past: runs at now
  c.runUntil(12);
  assert.equal(seen, [5, 10, 10]);
  assert.is(c.now(), 12);
  c.runUntilIdle();
  assert.equal(seen, [5, 10, 10, 15]);
  assert.is(c.pending(), 0);
});

test('clock: the heap orders 5000 random events exactly by (time, insertion)', () => {
  const c = new VirtualClock(0);
  const rng = new Rng('heap');
  const ran: Array<[number, number]> = [];
  for (let i = 0; i < 5000; i++) {
    const t = rng.int(200);
    c.schedule(t, () => ran.push([t, i]));
  }
  c.runUntilIdle();
  const sorted = [...ran].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.equal(ran, sorted);
});

test('clock: runUntilIdle refuses to run forever', () => {
  const c = new VirtualClock(0);
  const again = (): void => void c.after(1, again);
  again();
  assert.throws(() => c.runUntilIdle(1000), /still busy after 1000 events/);
});

// ---------------------------------------------------------------- rng

test('rng: the same seed gives the same stream, another seed another one', () => {
  const a = new Rng('seed-1');
  const b = new Rng('seed-1');
  const c = new Rng('seed-2');
  const xa = [a.u32(), a.u32(), toHex(a.bytes(7)), a.int(1000), a.float()];
  const xb = [b.u32(), b.u32(), toHex(b.bytes(7)), b.int(1000), b.float()];
  const xc = [c.u32(), c.u32(), toHex(c.bytes(7)), c.int(1000), c.float()];
  assert.equal(xa, xb);
  assert.not.equal(xa, xc);
});

test('rng: a fork depends only on the seed and label, not on what the parent consumed', () => {
  const p1 = new Rng('root');
  const p2 = new Rng('root');
  for (let i = 0; i < 100; i++) p2.u32();
  assert.equal(toHex(p1.fork('node/3').bytes(32)), toHex(p2.fork('node/3').bytes(32)));
  assert.not.equal(toHex(p1.fork('node/3').bytes(32)), toHex(p1.fork('node/4').bytes(32)));
  // Drawing from a fork does not move the parent.
  const q1 = new Rng('root');
  const q2 = new Rng('root');
  q1.fork('x').bytes(100);
  assert.is(q1.u32(), q2.u32());
});

test('rng: int stays in range and covers it, float in [0,1), pick and shuffle', () => {
  const r = new Rng('ranges');
  const counts = new Array<number>(7).fill(0);
  for (let i = 0; i < 7000; i++) counts[r.int(7)]!++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `bucket count ${c}`);
  for (let i = 0; i < 1000; i++) {
    const f = r.float();
    assert.ok(f >= 0 && f < 1);
    const big = r.int(2 ** 40 + 3);
    assert.ok(Number.isInteger(big) && big >= 0 && big < 2 ** 40 + 3);
  }
  assert.is(r.int(1), 0);
  assert.throws(() => r.int(0), /maxExclusive must be > 0/);
  assert.throws(() => r.pick([]), /empty/);
  const arr = Array.from({ length: 50 }, (_, i) => i);
  const sh = r.shuffle([...arr]);
  assert.not.equal(sh, arr);
  assert.equal([...sh].sort((a, b) => a - b), arr);
  assert.ok(arr.includes(r.pick(arr)));
});

// ---------------------------------------------------------------- graphs

function checkSimple(g: Graph): void {
  const seen = new Set<string>();
  for (const [a, b] of g.edges) {
    assert.ok(a !== b, `self loop at ${a}`);
    assert.ok(a >= 0 && a < g.n && b >= 0 && b < g.n, `edge ${a}-${b} out of range`);
    const k = a < b ? `${a}-${b}` : `${b}-${a}`;
    assert.not.ok(seen.has(k), `duplicate edge ${k}`);
    seen.add(k);
  }
}

test('graphs: smallWorld has n*degree/2 edges, no self loops or duplicates, and is connected', () => {
  const cases: Array<[number, number, number]> = [
    [50, 8, 0.1],
    [300, 8, 0.3],
    [100, 4, 1],
    [60, 6, 0],
    [200, 2, 0.5], // degree 2 rewired: almost surely disconnected before the repair
    [10, 8, 0.5],
  ];
  for (const [n, k, p] of cases) {
    for (const seed of ['a', 'b', 'c']) {
      const g = smallWorld(n, k, p, new Rng(`${seed}/${n}/${k}/${p}`));
      assert.is(g.n, n);
      assert.is(g.edges.length, (n * k) / 2, `edge count for ${n},${k},${p}`);
      checkSimple(g);
      assert.ok(isConnected(g), `connected for ${n},${k},${p},${seed}`);
    }
  }
  // p = 0 is the ring lattice: every vertex has degree k.
  assert.ok(adjacency(smallWorld(30, 4, 0, new Rng('lattice'))).every((nb) => nb.length === 4));
  // The same rng seed gives the same graph.
  assert.equal(smallWorld(100, 8, 0.2, new Rng('same')), smallWorld(100, 8, 0.2, new Rng('same')));
  assert.throws(() => smallWorld(10, 3, 0.1, new Rng('x')), /even integer/);
});

test('graphs: line and grid have the expected edges; adjacency is symmetric', () => {
  const l = line(5);
  assert.equal(l.edges, [[0, 1], [1, 2], [2, 3], [3, 4]]);
  assert.ok(isConnected(l));
  const g = grid(4, 3);
  assert.is(g.n, 12);
  assert.is(g.edges.length, 3 * 3 + 4 * 2);
  checkSimple(g);
  const adj = adjacency(g);
  assert.equal([...adj[5]!].sort((a, b) => a - b), [1, 4, 6, 9]);
  for (let v = 0; v < g.n; v++) for (const w of adj[v]!) assert.ok(adj[w]!.includes(v));
});

// ---------------------------------------------------------------- keys

test('keys: simSigningKey, simBoxKey and simIssueCert equal signingKeyFromSeed, boxKeyFromSecret and issueCert', () => {
  const r = new Rng('keys');
  for (let i = 0; i < 20; i++) {
    const s = r.bytes(32);
    assert.equal(toHex(simSigningKey(s).publicKey), toHex(signingKeyFromSeed(s).publicKey));
    assert.equal(toHex(simBoxKey(s).publicKey), toHex(boxKeyFromSecret(s).publicKey));
    const entity = simSigningKey(r.bytes(32));
    const f = { agent: simSigningKey(r.bytes(32)).publicKey, x25519: simBoxKey(s).publicKey, notBefore: r.int(2 ** 40), notAfter: 2 ** 41 + r.int(2 ** 40), seq: r.int(1000) };
    assert.equal(toHex(simIssueCert(entity, f)), toHex(issueCert(signingKeyFromSeed(entity.seed), f)));
  }
});

// ---------------------------------------------------------------- network

/** A 50-node small world, settled: the announcements neighbours exchange on link-up have arrived. */
function net50(seed: string, over: Partial<SimNetworkOptions> = {}): SimNetwork {
  const net = new SimNetwork({ seed, graph: smallWorld(50, 8, 0.1, new Rng(seed).fork('graph')), ...over });
  net.runUntilIdle(60_000);
  return net;
}

interface Sent {
  id: string;
  from: number;
  to: number;
}

/** `count` sends between random neighbours, spread over virtual time, then run until idle. */
function directSends(net: SimNetwork, rng: Rng, count: number): Sent[] {
  const sent: Sent[] = [];
  for (let k = 0; k < count; k++) {
    const from = rng.int(net.n);
    const to = rng.pick(net.neighbours(from));
    sent.push({ id: toHex(net.send(from, to, `msg ${k}`)), from, to });
    net.run(rng.int(20));
  }
  assert.ok(net.runUntilIdle(3600_000), 'network went idle');
  return sent;
}

const idOf = (m: WireMessage): string => ('id' in m && m.id instanceof Uint8Array ? toHex(m.id) : '');

test('network: 200 direct messages between neighbours in a 50-node small world are each delivered exactly once and acked', () => {
  const net = net50('direct');
  const appDelivered = new Map<string, number[]>();
  const acked = new Set<string>();
  net.onAction((node, a) => {
    if (a.type === 'delivered-to-app') {
      const k = toHex(a.item.id);
      appDelivered.set(k, [...(appDelivered.get(k) ?? []), node]);
    }
    if (a.type === 'outbox-state' && a.state === 'delivered') acked.add(toHex(a.id));
  });
  const sent = directSends(net, new Rng('direct/sends'), 200);
  assert.equal(net.errors.map((e) => e.message), []);
  const expectedInbox = new Array<number>(50).fill(0);
  for (const s of sent) {
    assert.equal(appDelivered.get(s.id), [s.to], `message ${s.id} delivered once, to node ${s.to}`);
    assert.ok(acked.has(s.id), `message ${s.id} acked`);
    assert.is(net.node(s.from).store.outbox.get(Buffer.from(s.id, 'hex'))?.state, 'delivered');
    expectedInbox[s.to]!++;
  }
  assert.equal(Array.from({ length: 50 }, (_, i) => net.node(i).store.inbox.count()), expectedInbox);
  assert.is(appDelivered.size, 200);
  const byType = net.sentByType();
  assert.is(byType['ENVELOPE']?.count, 200);
  assert.is(byType['ACK']?.count, 200);
  assert.ok(byType['ENVELOPE']!.bytes > 200 * 300, 'bytes counted from the real encoding');
  assert.is(net.maxCopiesPerDirectedEdge(MsgType.ENVELOPE, idOf), 1);
  const s0 = sent[0]!;
  assert.ok(net.edgeCount(MsgType.ENVELOPE, s0.from, s0.to) >= 1);
  assert.ok(net.edgeCount(MsgType.ACK, s0.to, s0.from) >= 1);
  assert.is(net.edgeCounts(MsgType.ENVELOPE).reduce((x, e) => x + e.count, 0), 200);
  assert.is((byType['ENVELOPE']?.count ?? 0) + (byType['ACK']?.count ?? 0), 400, 'nothing but envelopes and acks for the sends');
  assert.is(net.inFlight, 0);
  assert.is(net.tickingNodes(), 0, 'an idle network stops ticking');
});

test('network: the same seed gives the same trace hash and ids; another seed a different trace', () => {
  const run = (seed: string, encode = true) => {
    const net = net50(seed, { encode });
    const sent = directSends(net, new Rng(`${seed}/sends`), 60);
    assert.equal(net.errors, []);
    return { trace: net.traceHash(), ids: sent.map((s) => s.id), now: net.now(), byType: net.sentByType() };
  };
  const a = run('det-1');
  const b = run('det-1');
  const c = run('det-2');
  assert.is(a.trace, b.trace);
  assert.equal(a.ids, b.ids);
  assert.is(a.now, b.now);
  assert.equal(a.byType, b.byType);
  assert.not.equal(a.trace, c.trace);
  // Skipping the codec changes nothing the trace sees.
  assert.is(run('det-1', false).trace, a.trace);
});

test('network: sends to a killed node stay queued while ticks retry; reviving it lets the retries deliver them', () => {
  const net = net50('kill');
  const from = 0;
  const to = net.neighbours(from)[0]!;
  net.kill(to);
  assert.not.ok(net.isLinked(from, to));
  assert.throws(() => net.send(to, from, 'x'), /killed/);
  const ids = [net.send(from, to, 'one'), net.send(from, to, 'two'), net.send(from, to, 'three')];
  net.run(60_000);
  const outbox = net.node(from).store.outbox;
  assert.equal(ids.map((id) => outbox.get(id)?.state), ['queued', 'queued', 'queued']);
  assert.ok(outbox.get(ids[0]!)!.attempts >= 3, 'ticks retried');
  assert.ok(net.counters.dialsFailed >= 2, 'dials to the dead node failed');
  assert.is(net.node(to).store.inbox.count(), 0);
  net.revive(to, { reconnect: false });
  assert.not.ok(net.isLinked(from, to), 'no reconnect: only the sender retrying links them');
  net.run(10 * 60_000);
  assert.ok(net.isLinked(from, to));
  assert.equal(ids.map((id) => outbox.get(id)?.state), ['delivered', 'delivered', 'delivered']);
  assert.is(net.node(to).store.inbox.count(), 3);
  assert.equal(net.errors, []);
});

test('network: kill loses messages in flight; revive with reconnect dials every trusted neighbour', () => {
  const net = net50('kill2', { latencyMs: 50 });
  const victim = 7;
  const nbs = net.neighbours(victim);
  net.send(nbs[0]!, victim, 'in flight');
  net.run(10);
  assert.is(net.inFlight, 1);
  net.kill(victim);
  for (const nb of nbs) assert.not.ok(net.isLinked(victim, nb));
  net.run(100);
  assert.is(net.counters.lost, 1);
  net.revive(victim);
  net.run(1000);
  assert.equal(net.neighbours(victim), nbs);
  assert.ok(net.runUntilIdle());
  assert.is(net.node(victim).store.inbox.count(), 1, 'the sender retried after the link came back');
  assert.equal(net.errors, []);
});

test('network: an exception thrown by a core is recorded with node, event and message type, and the run goes on', () => {
  const net = net50('errors');
  const bad = 3;
  const core = net.node(bad).core;
  const original = core.onMessage.bind(core);
  core.onMessage = (link, msg) => {
    if (msg.t === MsgType.ENVELOPE) throw new Error('boom in onMessage');
    return original(link, msg);
  };
  const other = net.neighbours(bad).find((x) => x !== 0)!;
  const otherNb = net.neighbours(other).find((x) => x !== bad)!;
  net.send(net.neighbours(bad)[0]!, bad, 'to the broken node');
  net.send(otherNb, other, 'to a healthy node');
  net.run(30_000);
  // The sender keeps retrying, so the bug shows up more than once; every record is that bug.
  assert.ok(net.errors.length >= 1);
  for (const e of net.errors) {
    assert.is(e.node, bad);
    assert.is(e.event, 'onMessage');
    assert.is(e.msgType, MsgType.ENVELOPE);
    assert.match(e.message, /boom in onMessage/);
  }
  assert.is(net.node(bad).store.inbox.count(), 0);
  assert.is(net.node(other).store.inbox.count(), 1);
});

test('network: disconnect/connect run peerDown/peerUp on both sides; the trust gate refuses strangers until trusted', () => {
  const net = new SimNetwork({ seed: 'links', graph: line(4) });
  assert.ok(net.isLinked(1, 2));
  assert.ok(net.disconnect(1, 2));
  assert.not.ok(net.node(1).core.isConnected(net.node(2).entity.publicKey));
  assert.not.ok(net.node(2).core.isConnected(net.node(1).entity.publicKey));
  assert.ok(net.connect(2, 1));
  assert.ok(net.node(1).core.isConnected(net.node(2).entity.publicKey));
  // 0 and 3 are strangers: both gates say no.
  assert.not.ok(net.connect(0, 3));
  assert.is(net.counters.gateRefused, 1);
  // Trust both ways (with addresses): the dial goes through the gates and links them.
  net.step(3, (c) => c.trustAdd(net.node(0).entity.publicKey, undefined, net.node(0).addr).actions);
  net.step(0, (c) => c.trustAdd(net.node(3).entity.publicKey, 'three', net.node(3).addr).actions);
  net.run(1000);
  assert.ok(net.isLinked(0, 3));
  assert.equal(net.neighbours(0), [1, 3]);
  assert.equal(net.errors, []);
});

test('network: busy ticking stops when idle; tickPolicy all keeps every live node ticking', () => {
  const busy = new SimNetwork({ seed: 'ticks', graph: line(6) });
  assert.is(busy.tickingNodes(), 0, 'building schedules no ticks');
  busy.send(0, 1, 'hi');
  assert.ok(busy.tickingNodes() >= 1);
  assert.ok(busy.runUntilIdle());
  assert.is(busy.tickingNodes(), 0);
  const all = new SimNetwork({ seed: 'ticks', graph: line(6), tickPolicy: 'all', tickMs: 500 });
  assert.is(all.tickingNodes(), 6);
  all.run(10_000);
  assert.is(all.counters.ticks, 6 * 20);
  all.kill(2);
  all.run(10_000);
  assert.is(all.counters.ticks, 6 * 20 + 5 * 20);
  assert.not.ok(all.runUntilIdle(5000), 'never idle with tickPolicy all');
});

test('network: idleTick false skips only ticks with nothing due: discoveries give the same trace, costs and routes', () => {
  const run = (idleTick: boolean) => {
    const seed = 'idle-tick';
    const net = new SimNetwork({ seed, graph: smallWorld(300, 8, 0.1, new Rng(seed).fork('graph')), busyGraceMs: 0, idleTick });
    net.runUntilIdle(60_000);
    const rng = new Rng(`${seed}/pairs`);
    let found = 0;
    const off = net.onAction((_node, a) => {
      if (a.type === 'route-found') found++;
    });
    for (let k = 0; k < 6; k++) {
      const a = rng.int(net.n);
      const b = (a + 1 + rng.int(net.n - 1)) % net.n;
      net.step(a, (core) => core.discover(net.node(b).entity.publicKey));
      assert.ok(net.runUntilIdle(10 * 60_000));
      net.run(5_000);
    }
    off();
    assert.equal(net.errors, []);
    return { trace: net.traceHash(), byType: net.sentByType(), found, ticks: net.counters.ticks };
  };
  const every = run(true);
  const needed = run(false);
  assert.ok(every.found >= 6, 'routes found');
  assert.is(needed.trace, every.trace);
  assert.equal(needed.byType, every.byType);
  assert.is(needed.found, every.found);
  assert.ok(needed.ticks * 10 < every.ticks, `the forwarders' idle ticks are skipped (${needed.ticks} vs ${every.ticks})`);
});

test('network: ticks kept in reserve (lazyTicks) give the trace, times and ticks of ticks all posted, through sends, kills and revivals', () => {
  const run = (lazyTicks: boolean) => {
    const seed = 'lazy-ticks';
    const net = new SimNetwork({ seed, graph: smallWorld(120, 6, 0.1, new Rng(seed).fork('graph')), busyGraceMs: 0, idleTick: false, lazyTicks });
    const idle: boolean[] = [idleRun(net)];
    const rng = new Rng(`${seed}/steps`);
    const ticking: number[] = [];
    for (let k = 0; k < 6; k++) {
      const a = rng.int(net.n);
      const b = (a + 1 + rng.int(net.n - 1)) % net.n;
      net.step(a, (core) => core.discover(net.node(b).entity.publicKey));
      ticking.push(net.tickingNodes());
      net.send((a + 7) % net.n, b, `hello ${k}`);
      if (k === 2) net.kill(b);
      if (k === 4) net.revive((b + 1) % net.n);
      idle.push(idleRun(net));
      net.run(3_000 + k * 117);
      ticking.push(net.tickingNodes());
    }
    net.revive(net.n - 1);
    idle.push(net.runUntilIdle(30_000), idleRun(net));
    assert.equal(net.errors, []);
    return { trace: net.traceHash(), now: net.now(), ticks: net.counters.ticks, idle, ticking, byType: net.sentByType(), events: net.clock.executed };
  };
  const idleRun = (net: SimNetwork): boolean => net.runUntilIdle(10 * 60_000);
  const posted = run(false);
  const reserved = run(true);
  assert.ok(posted.ticks > 0);
  assert.ok(reserved.events < posted.events, `fewer clock events (${reserved.events} vs ${posted.events})`);
  assert.equal({ ...reserved, events: 0 }, { ...posted, events: 0 });
});

// Taken on commit f016387, before this round's speed work (see the test below).
const PINNED_COSTS = [85, 12, 304, 875, 1234, 2619, 410, 303];
const PINNED_TRACE = '3bacd2a326e38fd950a883c9726dbbf921f7b2b848a40e9bc3500a4acc82d13a';
const PINNED_NOW = 1767225691810;

/** The discovery benchmark's settings on 400 agents, 8 discoveries of the seed's pairs. */
function pinnedRun(extra: Partial<SimNetworkOptions> = {}): { net: SimNetwork; costs: number[] } {
  const seed = 'pinned-discovery';
  const net = new SimNetwork({ seed, graph: seedGraph({ nodes: 400, degree: 8, seed }), record: false, busyGraceMs: 0, idleTick: false, encode: false, ...extra });
  net.runUntilIdle(10 * 60_000);
  const rng = new Rng(`${seed}/pairs`);
  const count = () => net.sentCount(MsgType.ROUTE_QUERY, MsgType.ROUTE_REPLY);
  const costs: number[] = [];
  for (let k = 0; k < 8; k++) {
    const a = rng.int(net.n);
    const b = (a + 1 + rng.int(net.n - 1)) % net.n;
    const before = count();
    net.step(a, (core) => core.discover(net.node(b).entity.publicKey));
    assert.ok(net.runUntilIdle(10 * 60_000));
    costs.push(count() - before);
    net.run(5_000);
  }
  return { net, costs };
}

test('network: a fixed discovery run keeps its pinned trace hash and per-discovery costs (speed work must not change behaviour)', () => {
  // These figures were taken before the per-message speed work of issue 8 and must not move
  // with such work; a change of the protocol's behaviour on purpose (different messages,
  // order or timing) updates them.
  const { net, costs } = pinnedRun();
  assert.equal(net.errors, []);
  assert.equal(costs, PINNED_COSTS);
  assert.is(net.traceHash(), PINNED_TRACE);
  assert.is(net.now(), PINNED_NOW);
});

test('network: trace false changes no decision (the pinned run\'s costs and time) and traceHash then refuses', () => {
  const { net, costs } = pinnedRun({ trace: false });
  assert.equal(net.errors, []);
  assert.equal(costs, PINNED_COSTS);
  assert.is(net.now(), PINNED_NOW);
  assert.throws(() => net.traceHash(), /traceHash needs the trace/);
});

test('network: node certificates verify and node keys are deterministic per seed and index', () => {
  const a = new SimNetwork({ seed: 'ids', graph: line(3) });
  const b = new SimNetwork({ seed: 'ids', graph: line(5) });
  for (let i = 0; i < 3; i++) {
    const cert = verifyCert(a.node(i).certBytes, a.now());
    assert.equal(toHex(cert.entity), toHex(a.node(i).entity.publicKey));
    assert.equal(toHex(cert.x25519), toHex(a.node(i).box.publicKey));
    // Adding nodes does not change the others' keys.
    assert.equal(toHex(a.node(i).entity.publicKey), toHex(b.node(i).entity.publicKey));
    assert.is(a.indexOf(a.node(i).entity.publicKey), i);
  }
});

test.run();
