/**
 * Multi-hop relaying in the sans-I/O core, with a tiny deterministic pump (fake clock,
 * FIFO delivery, every message through the real codec): route discovery, signed path
 * forwarding with a verified path at the recipient, progress reports and acks walking
 * back, rerouting around a dead hop, complaints walking back and counting where they
 * should, and bad input (forged hop, replay, absurd ttl, unrelated report/complaint; forged
 * batch proofs, roots signed by another key, entries not in their root).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toHex, equalBytes, merkleLeaf, merkleRoot, sha256, sign, signBatch } from '../../agent/crypto/index.js';
import { hopSigningBytes } from '../../agent/core/path.js';
import { encodeEntityId } from '../../agent/identity/index.js';
import { Domain, MsgType } from '../../agent/wire/constants.js';
import { decodeMessage } from '../../agent/wire/index.js';
import type { Envelope, HopEntry, WireMessage } from '../../agent/wire/types.js';
import { Net, line, progress, seeded } from '../helpers/corenet.js';

test('A sends to E it has never met: discovery, delivery over A→B→C→D→E, verified path, reports and ack', () => {
  const net = line(['A', 'B', 'C', 'D', 'E']);
  const id = net.send('A', 'E', 'hello Erin');
  net.advance(10_000);
  const E = net.n('E');
  const row = E.store.inbox.get(id);
  assert.ok(row, 'delivered to E');
  const path = (JSON.parse(row!.path) as Array<{ entity: string }>).map((h) => h.entity);
  assert.equal(path, ['A', 'B', 'C', 'D'].map((x) => encodeEntityId(net.n(x).peer.entity)), 'E verified the exact path');
  assert.is(net.n('A').store.outbox.get(id)!.state, 'delivered');
  const reporters = progress(net, 'A', id).map((p) => [toHex(p.reporter), p.status]);
  for (const hop of ['B', 'C', 'D']) {
    assert.ok(reporters.some(([r, s]) => r === toHex(net.n(hop).peer.entity) && s === 'forwarded'), `report from ${hop}`);
  }
  assert.ok(reporters.some(([r, s]) => r === toHex(net.n('E').peer.entity) && s === 'delivered'), 'delivered ack from E');
  assert.is(E.store.inbox.count(), 1);
});

test('expanding ring: a neighbour-of-neighbour target is found without flooding the whole line', () => {
  const names = Array.from({ length: 12 }, (_, i) => `N${i}`);
  const net = line(names);
  net.n('N0').store.tx(() => net.perform('N0', net.n('N0').core.discover(net.n('N2').peer.entity)));
  net.run();
  const queries = net.sent.filter((m) => m.t === MsgType.ROUTE_QUERY).length;
  assert.ok(net.n('N0').core.routesTo(net.n('N2').peer.entity).length > 0, 'route found');
  assert.ok(queries <= 2, `ring 1 only: ${queries} queries`);
});

test('kill D mid-send with an alternate path B–F–E: the message is rerouted and delivered once', () => {
  const net = line(['A', 'B', 'C', 'D', 'E']);
  // A learns the route through C and D first; the detour via F appears afterwards.
  const warm = net.send('A', 'E', 'warm-up');
  net.advance(5_000);
  assert.ok(net.n('E').store.inbox.get(warm));
  net.add('F');
  net.connect('B', 'F');
  net.connect('F', 'E');
  // Now D dies while the next message is on its way.
  const F = net.n('A');
  const { id, actions } = F.store.tx(() => F.core.send(net.n('E').peer.entity, 'text', new TextEncoder().encode('through the storm')));
  net.perform('A', actions);
  // deliver only as far as C, then kill D
  for (let i = 0; i < 2; i++) {
    const m = net.queue.shift()!;
    const N = net.n(m.to);
    net.perform(m.to, N.store.tx(() => N.core.onMessage(m.link, decodeMessage(m.bytes))));
  }
  net.kill('D');
  net.run();
  net.advance(60_000);
  assert.ok(net.n('E').store.inbox.get(id), 'delivered after rerouting');
  assert.is(net.n('E').store.inbox.count(), 2);
  assert.ok(progress(net, 'A', id).some((p) => p.status === 'rerouted' || p.status === 'queued'), 'sender saw the detour');
  assert.is(net.n('A').store.outbox.get(id)!.state, 'delivered');
});

test('with no way on, a relay holds the message and keeps looking (backoff) until a route appears', () => {
  const net = line(['A', 'B', 'C', 'D', 'E']);
  const warm = net.send('A', 'E', 'warm-up');
  net.advance(5_000);
  assert.ok(net.n('E').store.inbox.get(warm));
  net.unlink('C', 'D');
  const id = net.send('A', 'E', 'patience');
  net.advance(30_000);
  assert.not.ok(net.n('E').store.inbox.get(id), 'no path yet');
  assert.ok(progress(net, 'A', id).some((p) => p.status === 'queued'), 'the sender heard "queued"');
  net.relink('C', 'D');
  net.advance(120_000);
  assert.ok(net.n('E').store.inbox.get(id), 'delivered once a route exists again');
  assert.is(net.n('E').store.inbox.count(), 2);
});

test('announcements fill the address book; a neighbour answers where-is from it and we dial the answer', () => {
  const net = line(['A', 'B', 'C']);
  const A = net.n('A');
  const C = net.n('C');
  net.run();
  // B holds C's announcement (sent when their link came up).
  assert.ok(net.n('B').store.addrbook.get(C.peer.entity, net.clock), 'B learned C from its announcement');
  // A trusts C by entity id only, and has mail for it.
  A.store.tx(() => A.core.trustAdd(C.peer.entity, 'C', undefined));
  const { actions } = A.store.tx(() => A.core.send(C.peer.entity, 'text', new TextEncoder().encode('hi')));
  net.perform('A', actions);
  assert.ok(actions.some((a) => a.type === 'directory-lookup'), 'A asks the directories too');
  net.run();
  const dials = A.actions.filter((a) => a.type === 'dial' && equalBytes(a.entity, C.peer.entity));
  assert.ok(dials.some((a) => a.type === 'dial' && a.addr === '10.0.0.3:7117'), 'A dials the address B told it');
  assert.is(A.store.trust.get(C.peer.entity)!.addr, '10.0.0.3:7117');
  // An announcement about someone else, passed off as the neighbour's own, is refused.
  const fromB = [...A.links.entries()].find(([, v]) => v === 'B')![0];
  const cAnn = net.n('B').store.addrbook.get(C.peer.entity, net.clock)!.announcement;
  const r = A.core.onMessage(fromB, { t: MsgType.ANNOUNCE, a: cAnn });
  assert.ok(r.some((a) => a.type === 'metric' && a.name === 'dropped.announce-not-self'));
});

test('complaint walks back to the origin side and counts against each hop\'s previous hop', () => {
  const net = line(['A', 'B', 'C', 'D', 'E']);
  const id = net.send('A', 'E', 'spam');
  net.advance(5_000);
  const E = net.n('E');
  net.perform('E', E.store.tx(() => E.core.complain(id, 'spam')));
  net.run();
  const hex = (x: string) => toHex(net.n(x).peer.entity);
  assert.is(net.n('B').core.complaints.count(hex('A'), net.clock), 1, 'B counts against A, the origin');
  assert.is(net.n('C').core.complaints.count(hex('B'), net.clock), 1);
  assert.is(net.n('D').core.complaints.count(hex('C'), net.clock), 1);
  assert.is(E.core.complaints.count(hex('D'), net.clock), 1);
  assert.is(net.count('B', 'complaint.counted'), 1);
  // The same complaint again counts for nothing.
  net.perform('E', E.store.tx(() => E.core.complain(id, 'spam')));
  net.run();
  assert.is(net.count('D', 'complaint.duplicate'), 1);
  assert.is(net.n('B').core.complaints.count(hex('A'), net.clock), 1);
});

test('a neighbour drawing complaints from K distinct complainants is revoked; downstream hops are spared by QUENCH', () => {
  // S (spammer side) — H (honest relay) — M (honest relay) — victims V1..V3
  const net = new Net();
  for (const n of ['S', 'H', 'M', 'V1', 'V2', 'V3']) net.add(n);
  net.connect('S', 'H');
  net.connect('H', 'M');
  for (const v of ['V1', 'V2', 'V3']) net.connect('M', v);
  const ids = ['V1', 'V2', 'V3'].map((v) => [v, net.send('S', v, 'buy now')] as const);
  net.advance(5_000);
  for (const [v, id] of ids) {
    assert.ok(net.n(v).store.inbox.get(id), `spam reached ${v}`);
    const V = net.n(v);
    net.perform(v, V.store.tx(() => V.core.complain(id, 'spam')));
  }
  net.run();
  net.advance(120_000);
  assert.is(net.n('H').store.trust.get(net.n('S').peer.entity)!.state, 'revoked', 'H cut off S');
  assert.ok(net.n('H').actions.some((a) => a.type === 'auto-revoked'), 'H\'s owner is told');
  assert.is(net.n('M').store.trust.get(net.n('H').peer.entity)!.state, 'active', 'honest H is not revoked');
  for (const v of ['V1', 'V2', 'V3']) assert.is(net.n(v).store.trust.get(net.n('M').peer.entity)!.state, 'active', `honest M kept by ${v}`);
});

test('bad input: forged hop, replayed envelope, absurd ttl, unrelated report and complaint are dropped and counted', () => {
  const net = line(['A', 'B', 'C']);
  const id = net.send('A', 'C', 'x');
  net.advance(5_000);
  const env = net.sent.find((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, id) && m.hops.length === 1) as Envelope;
  const B = net.n('B');
  const linkFromA = [...B.links.entries()].find(([, v]) => v === 'A')![0];
  // replay of the same envelope to B
  net.perform('B', B.store.tx(() => B.core.onMessage(linkFromA, env)));
  assert.is(net.count('B', 'dropped.replay'), 1);
  // forged hop: signature zeroed
  const forged = { ...env, id: new Uint8Array(16).fill(9), hops: [{ ...env.hops[0]!, s: new Uint8Array(64) }] };
  net.perform('B', B.store.tx(() => B.core.onMessage(linkFromA, forged)));
  net.run();
  assert.not.ok(net.n('C').store.inbox.get(forged.id), 'a forged chain is not delivered');
  assert.ok(net.count('C', 'dropped.ERR_BAD_SIGNATURE') >= 1, 'C counts the broken chain');
  // absurd ttl
  net.perform('B', B.store.tx(() => B.core.onMessage(linkFromA, { t: MsgType.ROUTE_QUERY, qid: new Uint8Array(16).fill(1), target: new Uint8Array(32), ttl: 200 })));
  assert.is(net.count('B', 'dropped.query-ttl'), 1);
  // report and complaint for a message never forwarded
  const A = net.n('A');
  const rep = { t: MsgType.REPORT, id: new Uint8Array(16).fill(5), st: 'forwarded' as const, ts: net.clock, c: A.peer.certBytes, s: new Uint8Array(64) };
  net.perform('B', B.store.tx(() => B.core.onMessage(linkFromA, rep)));
  assert.is(net.count('B', 'dropped.report-unrelated'), 1);
  const comp = { t: MsgType.COMPLAINT, id: new Uint8Array(16).fill(5), reason: 'x', ts: net.clock, c: A.peer.certBytes, s: new Uint8Array(64), w: 0 };
  net.perform('B', B.store.tx(() => B.core.onMessage(linkFromA, comp)));
  assert.is(net.count('B', 'complaint.unrelated'), 1);
});

test('bad input at the recipient: reordered or truncated hop chains are dropped, counted, never delivered', () => {
  const net = line(['A', 'B', 'C', 'D']);
  const id = net.send('A', 'D', 'original');
  net.advance(5_000);
  assert.ok(net.n('D').store.inbox.get(id));
  const full = net.sent.find((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, id) && m.hops.length === 3) as Envelope;
  const D = net.n('D');
  const fromC = [...D.links.entries()].find(([, v]) => v === 'C')![0];
  const fresh = (hops: Envelope['hops'], fill: number): Envelope => ({ ...full, id: new Uint8Array(16).fill(fill), hops });
  const before = net.count('D', 'dropped.ERR_BAD_SIGNATURE');
  net.perform('D', D.store.tx(() => D.core.onMessage(fromC, fresh([full.hops[1]!, full.hops[0]!, full.hops[2]!], 21))));
  net.perform('D', D.store.tx(() => D.core.onMessage(fromC, fresh([full.hops[0]!, full.hops[2]!], 22))));
  net.perform('D', D.store.tx(() => D.core.onMessage(fromC, { ...full, hops: [full.hops[0]!, full.hops[1]!, full.hops[2]!], body: new Uint8Array(full.body).fill(1, 40, 41) })));
  assert.is(net.count('D', 'dropped.ERR_BAD_SIGNATURE'), before + 3, 'each broken chain counted');
  assert.is(D.store.inbox.count(), 1, 'nothing but the original delivered');
  const logs = D.actions.filter((a) => a.type === 'log' && a.event === 'message-dropped');
  assert.ok(logs.length >= 3, 'and logged (the daemon rate-limits these lines)');
});

test('batch signatures at the recipient: a forged proof, a root signed by someone else, an entry not in its root are dropped', () => {
  const net = line(['A', 'B', 'C', 'D']);
  const id = net.send('A', 'D', 'original');
  net.advance(5_000);
  assert.ok(net.n('D').store.inbox.get(id));
  const full = net.sent.find((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, id) && m.hops.length === 3) as Envelope;
  const b = full.hops[1]!;
  // B signed its hop entry and its progress report in one batch: the entry carries a proof.
  assert.ok(b.p && b.p.length > 0, 'B\'s entry is one item of a batch');
  const D = net.n('D');
  const fromC = [...D.links.entries()].find(([, v]) => v === 'C')![0];
  const withB = (entry: HopEntry): Envelope => ({ ...full, hops: [full.hops[0]!, entry, full.hops[2]!] });
  const item = hopSigningBytes(full.id, sha256(full.body), full.hops[0]!.l, b.n, b.a);
  const root = merkleRoot(merkleLeaf(Domain.HOP, item), b.p, b.x);
  const before = net.count('D', 'dropped.ERR_BAD_SIGNATURE');
  // 1. a forged proof: one sibling changed
  const p = b.p!.map((x) => x.slice());
  p[0]![0]! ^= 1;
  net.perform('D', D.store.tx(() => D.core.onMessage(fromC, withB({ ...b, p }))));
  // 2. the same root, signed by C's agent instead of B's
  net.perform('D', D.store.tx(() => D.core.onMessage(fromC, withB({ ...b, s: sign(net.n('C').deps.identity.agent, Domain.BATCH, root) }))));
  // 3. a real batch signature of B, over a batch that does not hold this entry
  const elsewhere = signBatch(net.n('B').deps.identity.agent, [
    { domain: Domain.HOP, bytes: new Uint8Array(144).fill(1) },
    { domain: Domain.HOP, bytes: new Uint8Array(144).fill(2) },
  ])[0]!;
  net.perform('D', D.store.tx(() => D.core.onMessage(fromC, withB({ ...b, ...elsewhere }))));
  assert.is(net.count('D', 'dropped.ERR_BAD_SIGNATURE'), before + 3, 'each one dropped and counted');
  // C's entry signed again in another batch (a retransmission) is as good as the first.
  const c = full.hops[2]!;
  const cItem = hopSigningBytes(full.id, sha256(full.body), b.l, c.n, c.a);
  const again = signBatch(net.n('C').deps.identity.agent, [
    { domain: Domain.HOP, bytes: new Uint8Array(144).fill(3) },
    { domain: Domain.HOP, bytes: cItem },
  ])[1]!;
  const acksBefore = net.sent.filter((m) => m.t === MsgType.ACK && equalBytes(m.id, id)).length;
  net.perform('D', D.store.tx(() => D.core.onMessage(fromC, { ...full, hops: [full.hops[0]!, b, { ...c, ...again }] })));
  net.run();
  assert.is(net.count('D', 'dropped.ERR_BAD_SIGNATURE'), before + 3, 'a re-signed entry verifies');
  assert.ok(net.sent.filter((m) => m.t === MsgType.ACK && equalBytes(m.id, id)).length > acksBefore, 'the duplicate is acked again');
  assert.is(D.store.inbox.count(), 1, 'delivered once');
});

test('a neighbour flooding route queries is held to its rate limit while another neighbour\'s queries pass', () => {
  const net = new Net();
  for (const n of ['X', 'Y', 'Z']) net.add(n, { queryPerNeighbour: { ratePerSec: 5, burst: 10 }, queryGlobal: { ratePerSec: 1000, burst: 1000 } });
  net.connect('X', 'Y');
  net.connect('Z', 'Y');
  const Y = net.n('Y');
  const fromX = [...Y.links.entries()].find(([, v]) => v === 'X')![0];
  const fromZ = [...Y.links.entries()].find(([, v]) => v === 'Z')![0];
  const q = (i: number) => ({ t: MsgType.ROUTE_QUERY, qid: seeded('q')(16).map((b) => b ^ i), target: new Uint8Array(32).fill(i & 0xff), ttl: 2 }) as WireMessage;
  for (let i = 0; i < 100; i++) Y.store.tx(() => Y.core.onMessage(fromX, q(i)));
  const limited = Y.core.onMessage(fromX, q(101)).some((a) => a.type === 'metric' && a.name === 'query.ratelimited.neighbour');
  assert.ok(limited, 'X is rate limited');
  const zq = Y.core.onMessage(fromZ, q(102));
  assert.not.ok(zq.some((a) => a.type === 'metric' && a.name.startsWith('query.ratelimited')), 'Z still passes');
});

test('a route query is answered for the target its bytes name, also when the same array is reused with other bytes', () => {
  // The core remembers the hex of the last query target (a flood brings every agent the same
  // one): it must compare bytes, never trust the array it saw before.
  const net = new Net();
  for (const n of ['X', 'Y', 'Z']) net.add(n);
  net.connect('X', 'Y');
  net.connect('Y', 'Z');
  const Y = net.n('Y');
  const fromX = [...Y.links.entries()].find(([, v]) => v === 'X')![0];
  const target = new Uint8Array(32).fill(7);
  const ask = (i: number) => Y.store.tx(() => Y.core.onMessage(fromX, { t: MsgType.ROUTE_QUERY, qid: seeded('reuse')(16).map((b) => b ^ i), target, ttl: 2 } as WireMessage));
  const answered = (acts: ReturnType<typeof ask>) => acts.some((a) => a.type === 'metric' && a.name === 'query.answered');
  assert.not.ok(answered(ask(1)), 'an unknown target is forwarded, not answered');
  target.set(net.n('Z').peer.entity);
  assert.ok(answered(ask(2)), 'Y answers for its neighbour Z');
  target.set(Y.peer.entity);
  const self = ask(3);
  assert.ok(answered(self), 'Y answers for itself');
  const reply = self.find((a) => a.type === 'send' && a.msg.t === MsgType.ROUTE_REPLY);
  assert.ok(reply && reply.type === 'send' && reply.msg.t === MsgType.ROUTE_REPLY && reply.msg.tc === undefined, 'as the target, with no target certificate');
  target.fill(7);
  assert.not.ok(answered(ask(4)), 'the first target again: forwarded');
});

test.run();
