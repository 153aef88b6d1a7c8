/**
 * Onion mode in the sans-I/O core, on the deterministic test network (fake clock, every
 * frame through the real codec, SQLite stores in memory): delivery over several relays with
 * sealed reports and the ack coming back; what each relay sees (no ids, one size); replays,
 * tampered, foreign and truncated layers dropped and counted at the hop that gets them, with
 * nothing back but a `stalled` report from the hop before; cover hops through the sender's
 * neighbours; complaints walking back hop by hop with the honest relays spared.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildOnion, equalBytes, randomBytes, sign, toHex } from '../../agent/crypto/index.js';
import { onionComplaintBytes } from '../../agent/core/onion.js';
import { Domain, MsgType } from '../../agent/wire/constants.js';
import { decodeMessage } from '../../agent/wire/index.js';
import type { OnionComplaint, WireMessage } from '../../agent/wire/types.js';
import { Net, line, onionSignedBy, onionsTo, progress, sendOnion } from '../helpers/corenet.js';

const text = (s: string) => new TextEncoder().encode(s);

const frames = (net: Net, pred: (f: { from: string; to: string }) => boolean) =>
  net.wire.filter(pred).map((f) => ({ ...f, msg: decodeMessage(f.bytes) }));

test('S sends to R over three relays: delivered once, path unknown to R, every relay reports (sealed), the ack comes back', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  const id = sendOnion(net, 'S', 'R', 'hello through the onion', 3);
  net.advance(10_000);
  const R = net.n('R');
  const row = R.store.inbox.get(id);
  assert.ok(row, 'delivered to R');
  assert.is(new TextDecoder().decode(row!.body), 'hello through the onion');
  assert.is(row!.path, '[]', 'R does not know the path');
  assert.ok(equalBytes(row!.from, net.n('S').peer.entity), 'R knows the sender from its signature');
  assert.is(net.n('S').store.outbox.get(id)!.state, 'delivered');
  const steps = progress(net, 'S', id);
  for (const hop of ['A', 'B', 'C']) {
    assert.ok(steps.some((p) => toHex(p.reporter) === toHex(net.n(hop).peer.entity) && p.status === 'forwarded'), `sealed report from ${hop}`);
  }
  assert.ok(steps.some((p) => toHex(p.reporter) === toHex(R.peer.entity) && p.status === 'delivered'), 'the ack from R');
  assert.ok(steps.some((p) => p.status === 'sent' && /3 relays/.test(p.detail ?? '')), 'the sender was told the path length');
  assert.is(R.store.inbox.count(), 1);
  for (const hop of ['A', 'B', 'C']) assert.is(net.n(hop).store.relayq.totals().n, 0, `${hop} passed custody on`);
});

test('what each relay sees of the onion: no sender, recipient or text, one layer size, ids that change at every hop', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  // Discovery first (it names the target; onion mode hides everything after it).
  const S = net.n('S');
  net.perform('S', S.store.tx(() => S.core.discover(net.n('R').peer.entity)));
  net.advance(10_000);
  assert.ok(S.core.routesTo(net.n('R').peer.entity).length > 0, 'a route is known');
  const from = net.wire.length;
  sendOnion(net, 'S', 'R', 'the secret plan', 3);
  net.advance(10_000);
  const secrets = [net.n('S').peer.entity, net.n('R').peer.entity, net.n('S').peer.agent, net.n('R').peer.agent, text('the secret plan')];
  const sizes = new Set<number>();
  const ids = new Set<string>();
  for (const hop of ['A', 'B', 'C']) {
    const seen = net.wire.slice(from).filter((f) => f.to === hop || f.from === hop);
    assert.ok(seen.length > 0);
    for (const f of seen) {
      for (const x of secrets) assert.not.ok(Buffer.from(f.bytes).includes(Buffer.from(x)), `${hop} ${f.from}→${f.to} (t=${decodeMessage(f.bytes).t}): leaks ${toHex(x).slice(0, 8)}`);
      const m = decodeMessage(f.bytes);
      if (m.t === MsgType.ONION) {
        sizes.add(f.bytes.length);
        ids.add(toHex(m.id));
      }
    }
  }
  assert.is(sizes.size, 1, `every onion on every link has one size: ${[...sizes].join(', ')}`);
  assert.is(ids.size, 4, 'each of the four links carries its own id');
  const backs = net.wire.slice(from).map((f) => decodeMessage(f.bytes)).filter((m) => m.t === MsgType.ONION_BACK);
  assert.ok(backs.length >= 4);
  assert.is(new Set(backs.map((m) => encodeLen(m))).size, 1, 'every report and the ack have one size');
});

const encodeLen = (m: WireMessage) => (m.t === MsgType.ONION_BACK ? m.p.length + m.b.length : -1);

test('a replayed onion is dropped and counted at the hop, HOLD again, nothing forwarded twice', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  const id = sendOnion(net, 'S', 'R', 'once', 3);
  net.advance(5_000);
  assert.ok(net.n('R').store.inbox.get(id));
  const toB = onionsTo(net, 'B')[0]!;
  const onionsToC = onionsTo(net, 'C').length;
  net.inject('A', 'B', toB);
  net.advance(5_000);
  assert.is(net.count('B', 'dropped.onion-replay'), 1);
  assert.is(onionsTo(net, 'C').length, onionsToC, 'not forwarded again');
  assert.is(net.n('B').store.relayq.totals().n, 0);
  const holds = frames(net, (f) => f.from === 'B' && f.to === 'A').filter((f) => f.msg.t === MsgType.HOLD && equalBytes((f.msg as { id: Uint8Array }).id, toB.id));
  assert.is(holds.length, 2, 'HOLD again: a retransmission is answered, a replay learns nothing new');
  // The recipient drops a replay of its layer too, and shows the message once.
  const toR = onionsTo(net, 'R')[0]!;
  net.inject('C', 'R', toR);
  assert.is(net.count('R', 'dropped.onion-replay'), 1);
  assert.is(net.n('R').store.inbox.count(), 1);
});

test('tampered, foreign and truncated layers: dropped at that hop and counted, nothing sent back, nothing crashes', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  sendOnion(net, 'S', 'R', 'warm-up', 3);
  net.advance(5_000);
  const good = onionsTo(net, 'B')[0]!;
  const before = net.wire.length;
  // A (turned bad) flips a bit in the layer it hands B, and signs what it sends.
  const flipped = Uint8Array.from(good.o);
  flipped[2000] ^= 0x40;
  net.inject('A', 'B', onionSignedBy(net, 'A', 'B', randomBytes(16), flipped));
  // An onion whose layer was made for C's key, handed to B.
  const C = net.n('C');
  const foreign = buildOnion({ hops: [{ entity: C.peer.entity, x25519: C.peer.cert.x25519 }, { entity: net.n('R').peer.entity, x25519: net.n('R').peer.cert.x25519 }], exp: net.clock + 60_000, cs: randomBytes(32), body: text('x') });
  net.inject('A', 'B', onionSignedBy(net, 'A', 'B', randomBytes(16), foreign.packet));
  // A layer cut short.
  net.inject('A', 'B', onionSignedBy(net, 'A', 'B', randomBytes(16), good.o.subarray(0, good.o.length - 100)));
  // A packet that is not signed by the neighbour handing it over.
  net.inject('A', 'B', { ...good, id: randomBytes(16) });
  assert.is(net.count('B', 'dropped.onion-mac'), 2, 'tampered and foreign layers fail the layer MAC');
  assert.is(net.count('B', 'dropped.onion-size'), 1, 'the truncated layer has no valid size');
  assert.is(net.count('B', 'dropped.ERR_BAD_SIGNATURE'), 1);
  const answers = net.wire.slice(before).filter((f) => f.from === 'B');
  assert.is(answers.length, 0, `B answered nothing: ${answers.map((f) => decodeMessage(f.bytes).t).join(',')}`);
  assert.is(net.n('B').store.relayq.totals().n, 0);
});

test('a relay that tampers in flight: the next hop drops it; the sender hears "stalled" from the hop before, and nothing else', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  // The link B→C corrupts onions (B itself stays honest: it reports).
  net.intercept = (from, to, msg) => {
    if (from !== 'B' || to !== 'C' || msg.t !== MsgType.ONION) return msg;
    const o = Uint8Array.from(msg.o);
    o[100] ^= 1;
    return onionSignedBy(net, 'B', 'C', msg.id, o);
  };
  const id = sendOnion(net, 'S', 'R', 'never arrives', 3);
  net.advance(20_000);
  assert.not.ok(net.n('R').store.inbox.get(id));
  assert.ok(net.count('C', 'dropped.onion-mac') >= 1, 'C dropped it');
  const steps = progress(net, 'S', id);
  const B = toHex(net.n('B').peer.entity);
  assert.ok(steps.some((p) => p.status === 'stalled' && toHex(p.reporter) === B), 'B reports stalled');
  assert.not.ok(steps.some((p) => toHex(p.reporter) === toHex(net.n('C').peer.entity)), 'C, which dropped it, says nothing');
  assert.not.ok(steps.some((p) => p.status === 'delivered'));
  net.intercept = null;
});

test('cover: the discovered path is one relay; the sender finds a longer one through its own neighbours', () => {
  // S–A–R is the shortest way; S–X–A is a detour through S's other neighbour.
  const net = new Net();
  for (const n of ['S', 'A', 'X', 'R']) net.add(n);
  net.connect('S', 'A');
  net.connect('A', 'R');
  net.connect('S', 'X');
  net.connect('X', 'A');
  const id = sendOnion(net, 'S', 'R', 'with cover', 2);
  net.advance(15_000);
  assert.ok(net.n('R').store.inbox.get(id), 'delivered');
  const steps = progress(net, 'S', id);
  const reporters = new Set(steps.filter((p) => p.status === 'forwarded').map((p) => toHex(p.reporter)));
  assert.ok(reporters.has(toHex(net.n('X').peer.entity)) && reporters.has(toHex(net.n('A').peer.entity)), 'went S → X → A → R');
  assert.ok(steps.some((p) => p.status === 'sent' && /2 relays/.test(p.detail ?? '')));
  assert.ok(net.count('S', 'onion.cover-probe') >= 1);
});

test('no longer path known: the sender goes with a shorter one and says so', () => {
  const net = line(['S', 'A', 'R']);
  const id = sendOnion(net, 'S', 'R', 'short', 4);
  net.advance(15_000);
  assert.ok(net.n('R').store.inbox.get(id));
  assert.ok(progress(net, 'S', id).some((p) => p.status === 'sent' && /1 relay \(4 asked; no longer path known\)/.test(p.detail ?? '')));
});

test('a relay whose next hop is down keeps the onion (custody), reports queued, and sends it when the hop is back', () => {
  const net = line(['S', 'A', 'B', 'R']);
  sendOnion(net, 'S', 'R', 'warm-up', 2);
  net.advance(5_000);
  net.unlink('B', 'R');
  const id = sendOnion(net, 'S', 'R', 'patience', 2);
  net.advance(10_000);
  assert.not.ok(net.n('R').store.inbox.get(id));
  assert.is(net.n('B').store.relayq.totals().n, 1, 'B holds it');
  assert.ok(progress(net, 'S', id).some((p) => p.status === 'queued' && toHex(p.reporter) === toHex(net.n('B').peer.entity)));
  net.relink('B', 'R');
  net.advance(5_000);
  assert.ok(net.n('R').store.inbox.get(id), 'delivered once the hop is back');
  assert.is(net.n('S').store.outbox.get(id)!.state, 'delivered');
});

test('complaints walk back hop by hop; the spammer is cut off by its sponsor, the honest relays behind it are spared', () => {
  // Z spams through its sponsor H and relays X, Y to three victims behind Y.
  const net = new Net();
  for (const n of ['Z', 'H', 'X', 'Y', 'V1', 'V2', 'V3']) net.add(n);
  net.connect('Z', 'H');
  net.connect('H', 'X');
  net.connect('X', 'Y');
  for (const v of ['V1', 'V2', 'V3']) net.connect('Y', v);
  const ids: Array<[string, Uint8Array]> = [];
  for (const v of ['V1', 'V2', 'V3']) ids.push([v, sendOnion(net, 'Z', v, `buy now, ${v}`, 3)]);
  net.advance(10_000);
  for (const [v, id] of ids) assert.ok(net.n(v).store.inbox.get(id), `spam reached ${v}`);
  for (const [v, id] of ids) {
    const V = net.n(v);
    net.perform(v, V.store.tx(() => V.core.complain(id, 'spam')));
    net.run();
  }
  for (const hop of ['Y', 'X', 'H']) assert.is(net.count(hop, 'complaint.counted'), 3, `${hop} counted every complaint`);
  net.advance(30_000);
  const revoked = (n: string) => net.n(n).actions.filter((a) => a.type === 'auto-revoked').map((a) => (a.type === 'auto-revoked' ? toHex(a.entity) : ''));
  assert.equal(revoked('H'), [toHex(net.n('Z').peer.entity)], 'the sponsor revoked the spammer');
  assert.equal(revoked('X'), [], 'X spared');
  assert.equal(revoked('Y'), [], 'Y spared');
  for (const v of ['V1', 'V2', 'V3']) assert.equal(revoked(v), [], `${v} kept Y`);
  assert.ok(net.count('X', 'quench.honoured') >= 1 && net.count('Y', 'quench.honoured') >= 1, 'the QUENCH walked down the complaint path');
});

test('a complaint a relay makes up (it has no complaint secret) or sends about a message it never got counts for nothing', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  const id = sendOnion(net, 'S', 'R', 'fine', 3);
  net.advance(5_000);
  assert.ok(net.n('R').store.inbox.get(id));
  const C = net.n('C');
  // C complains about the onion it forwarded, signed as itself, guessing the secret, and
  // hands it to B as if it were walking back from R.
  const cs = randomBytes(32);
  const forged: OnionComplaint = {
    t: MsgType.ONION_COMPLAINT,
    id: onionsTo(net, 'C')[0]!.id,
    cs,
    k: 3,
    reason: 'spam',
    ts: net.clock,
    c: C.deps.identity.certBytes,
    s: sign(C.deps.identity.agent, Domain.ONION_COMPLAINT, onionComplaintBytes(cs, 3, 'spam', net.clock)),
    w: 0,
  };
  net.inject('C', 'B', forged);
  assert.is(net.count('B', 'complaint.counted'), 0);
  assert.is(net.count('B', 'complaint.forged'), 1);
  net.inject('C', 'B', { ...forged, id: randomBytes(16) });
  assert.is(net.count('B', 'complaint.unrelated'), 1);
});

test.run();
