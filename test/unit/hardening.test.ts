/**
 * Hardening cases that need no sockets (test/ADVERSARIAL.md lists every case and its test):
 * certificates carrying small-order or non-canonical keys (2), and such keys in onion layers
 * and session messages (2), forged and misrouted hop chains kept as evidence (7), truncated,
 * resized and reordered onion layers (8), complaint forgery (11), a route-query flood from 20
 * neighbours (13), a store commit that fails (disk full) at a relay (17), wall-clock steps
 * against the monotonic clock (18), and the bounds of the core's in-memory tables (21).
 * All run on sans-I/O cores under a fake clock (test/helpers/corenet.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { immediateSigner } from '../../agent/core/batch.js';
import { createCipheriv } from 'node:crypto';
import {
  boxKeyFromSecret,
  buildOnion,
  concatBytes,
  equalBytes,
  generateBoxKey,
  generateSigningKey,
  hkdfSha256,
  hmacSha256,
  initReceiver,
  initSender,
  layerKeys,
  ONION_HEADER_BYTES,
  ONION_PAYLOAD_CLASSES,
  ONION_ROUTING_BYTES,
  ONION_SIZES,
  ONION_SLOT_BYTES,
  peelOnion,
  randomBytes,
  ratchetDecrypt,
  ratchetEncrypt,
  responderSecret,
  sha256,
  sign,
  toHex,
  u64be,
  utf8,
  x25519,
  type SigningKey,
} from '../../agent/crypto/index.js';
import { BoundedMap, ComplaintTracker, COMPLAINT_DEFAULTS, EVIDENCE_MAX, EvidenceLog, KeyedBuckets, RouteCache, complaintBytes, signHop, signPathEntry } from '../../agent/core/index.js';
import { sessionAd } from '../../agent/core/session.js';
import { decodeE2E, decodeMessage, encodeSessionMessage } from '../../agent/wire/index.js';
import { CERT_VERSION, createAnnouncement, issueCert, verifyAnnouncement, verifyCert } from '../../agent/identity/index.js';
import { Metrics } from '../../agent/daemon/daemon.js';
import { MemoryStore, Store } from '../../agent/store/index.js';
import { Domain, MsgType } from '../../agent/wire/constants.js';
import { isWotError } from '../../agent/wire/errors.js';
import type { Complaint, Envelope, Onion, SessionMessage, WireMessage } from '../../agent/wire/types.js';
import { line, Net, onionSignedBy, onionsTo, progress, sendOnion } from '../helpers/corenet.js';
import { Rng } from '../sim/rng.js';
import { simIssueCert } from '../sim/keys.js';

function throwsCode(fn: () => unknown, code: string, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isWotError(e), `${what}: a WotError, not ${String(e)}`);
    assert.is(e.code, code, `${what}: ${e.message}`);
    return;
  }
  assert.unreachable(`${what}: did not throw`);
}

const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const ff = (first: string) => hex(first + 'ff'.repeat(30) + '7f');

// Ed25519: small-order points and non-canonical encodings (y >= p).
const ED_BAD: Record<string, Uint8Array> = {
  'identity (order 1)': hex('01' + '00'.repeat(31)),
  'order 2': ff('ec'),
  'order 4': new Uint8Array(32),
  'order 8': hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'),
  'y = p (non-canonical 0)': ff('ed'),
  'y = p + 3 (non-canonical 3)': ff('f0'),
};
// X25519: the low-order u-coordinates, then non-canonical encodings.
const X_BAD: Record<string, Uint8Array> = {
  'u = 0': new Uint8Array(32),
  'u = 1': hex('01' + '00'.repeat(31)),
  'order 8 (e0eb…)': hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'),
  'order 8 (5f9c…)': hex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157'),
  'u = p - 1': ff('ec'),
  'u = p': ff('ed'),
  'u = p + 1': ff('ee'),
  'u = p + 9 (non-canonical 9)': ff('f6'),
};

// ---------------------------------------------------------------- case 2

test('case 2: certificates with small-order or non-canonical Ed25519 or X25519 keys are refused (ERR_BAD_CERT), even when genuinely signed', () => {
  const now = Date.UTC(2026, 10, 21);
  const entity = generateSigningKey();
  const good = { agent: generateSigningKey().publicKey, x25519: generateBoxKey().publicKey, notBefore: now - 1000, notAfter: now + 86400_000, seq: 1 };
  verifyCert(simIssueCert(entity, good), now); // the baseline verifies
  for (const [what, x] of Object.entries(X_BAD)) {
    // simIssueCert signs any fields with the real entity key: only the key check can refuse it.
    throwsCode(() => verifyCert(simIssueCert(entity, { ...good, x25519: x }), now), 'ERR_BAD_CERT', `x25519 ${what}`);
    throwsCode(() => issueCert(entity, { ...good, x25519: x }), 'ERR_BAD_CERT', `issueCert x25519 ${what}`);
  }
  const topBit = Uint8Array.from(good.x25519);
  topBit[31]! |= 0x80;
  throwsCode(() => verifyCert(simIssueCert(entity, { ...good, x25519: topBit }), now), 'ERR_BAD_CERT', 'x25519 with the top bit set');
  for (const [what, a] of Object.entries(ED_BAD)) {
    throwsCode(() => verifyCert(simIssueCert(entity, { ...good, agent: a }), now), 'ERR_BAD_CERT', `agent key ${what}`);
  }
  // An entity key of small order can "sign" anything: (R = identity, S = 0) satisfies the
  // cofactored equation for A = identity. The key check comes before the signature.
  for (const [what, e] of Object.entries(ED_BAD)) {
    const body = concatBytes(Uint8Array.of(CERT_VERSION), e, good.agent, good.x25519, u64be(good.notBefore), u64be(good.notAfter), u64be(1));
    const forged = concatBytes(body, ED_BAD['identity (order 1)']!, new Uint8Array(32));
    throwsCode(() => verifyCert(forged, now), 'ERR_BAD_CERT', `entity key ${what}`);
  }
  // Announcements carry certificates: one with a low-order X25519 key is refused as a whole.
  const agentKey = generateSigningKey();
  const badCert = simIssueCert(entity, { ...good, agent: agentKey.publicKey, x25519: X_BAD['u = 1']! });
  const ann = createAnnouncement(agentKey, badCert, { addrs: ['192.0.2.1:7117'], relays: [], mailboxes: [], seq: 1, ts: now });
  throwsCode(() => verifyAnnouncement(ann, now), 'ERR_BAD_CERT', 'announcement with a low-order X25519 key');
});

test('case 2: a route reply naming a target certificate with a low-order X25519 key is dropped; nothing is stored and no send can fail on it later', () => {
  const net = line(['A', 'B']);
  const A = net.n('A');
  const B = net.n('B');
  const target = generateSigningKey();
  const tAgent = generateSigningKey();
  const tc = simIssueCert(target, { agent: tAgent.publicKey, x25519: X_BAD['u = 1']!, notBefore: net.clock - 1000, notAfter: net.clock + 86400_000, seq: 1 });
  net.perform('A', A.store.tx(() => A.core.discover(target.publicKey)));
  const q = net.sent.filter((m) => m.t === MsgType.ROUTE_QUERY).pop()!;
  assert.ok(q && q.t === MsgType.ROUTE_QUERY);
  net.queue.length = 0;
  // B answers as if it could reach the target, handing over the bad certificate.
  const entry = signPathEntry(B.deps.identity.agent, B.deps.identity.certBytes, q.qid, target.publicKey, [], A.peer.entity);
  const fromB = [...A.links.entries()].find(([, v]) => v === 'B')![0];
  const r = A.store.tx(() => A.core.onMessage(fromB, { t: MsgType.ROUTE_REPLY, qid: q.qid, target: target.publicKey, path: [entry], tc }));
  assert.ok(r.some((a) => a.type === 'metric' && a.name === 'dropped.ERR_BAD_CERT'), JSON.stringify(r.filter((a) => a.type === 'metric')));
  assert.is(A.store.certs.latestForEntity(target.publicKey), undefined, 'the certificate was not stored');
  assert.equal(A.core.routesTo(target.publicKey), [], 'no route learnt');
});

// ---------------------------------------------------------------- case 2 (onion mode)

/** `key` with the top bit set: the same point to node:crypto (it masks the bit), another encoding on the wire. */
function topBitSet(key: Uint8Array): Uint8Array {
  const k = Uint8Array.from(key);
  k[31]! |= 0x80;
  return k;
}

const chachaStream = (key: Uint8Array, n: number): Uint8Array => new Uint8Array(createCipheriv('chacha20', key, new Uint8Array(16)).update(new Uint8Array(n)));
const xorBytes = (a: Uint8Array, b: Uint8Array): Uint8Array => a.map((x, i) => x ^ b[i]!);

/**
 * A recipient's (innermost) layer made by hand after PROTOCOL.md 3.13, with `ephOnWire` as the
 * ephemeral key on the wire while the secret is `ephSecret`'s: a layer its own maker can
 * produce with any encoding of its key, which buildOnion never would.
 */
function handMadeFinalLayer(hopPub: Uint8Array, ephSecret: Uint8Array, ephOnWire: Uint8Array, exp: number, body: Uint8Array): Uint8Array {
  const keys = layerKeys(x25519(ephSecret, hopPub), ephOnWire, hopPub);
  const data = new Uint8Array(ONION_SLOT_BYTES);
  data[0] = 0x02; // recipient layer, 0 relays
  data.set(u64be(exp), 2);
  data.set(randomBytes(32), 10);
  const routing = xorBytes(concatBytes(data, randomBytes(ONION_ROUTING_BYTES - ONION_SLOT_BYTES)), chachaStream(keys.rho, ONION_ROUTING_BYTES));
  const plain = new Uint8Array(ONION_PAYLOAD_CLASSES[0]!);
  new DataView(plain.buffer).setUint32(0, body.length);
  plain.set(body, 4);
  const payload = xorBytes(plain, chachaStream(keys.pi, plain.length));
  return concatBytes(ephOnWire, routing, hmacSha256(keys.mu, ephOnWire, routing, payload), payload);
}

/** Frames `name` put on the wire since index `from` that answer an onion: HOLD, REFUSE, ONION_BACK. */
const onionAnswers = (net: Net, name: string, from: number): WireMessage[] =>
  net.wire
    .slice(from)
    .filter((f) => f.from === name)
    .map((f) => decodeMessage(f.bytes))
    .filter((m) => m.t === MsgType.HOLD || m.t === MsgType.REFUSE || m.t === MsgType.ONION_BACK);

test('case 2: an onion layer whose ephemeral key is of low order or non-canonical is dropped at that hop (dropped.onion-key): nothing sent back, forwarded or delivered, no session', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  sendOnion(net, 'S', 'R', 'warm-up', 3);
  net.advance(5_000);
  const B = net.n('B');
  const R = net.n('R');
  const good = onionsTo(net, 'B')[0]!.o;
  const toC = onionsTo(net, 'C').length;
  const before = net.wire.length;
  // A, turned bad, puts each key in the layer it hands B, and signs what it sends.
  const bad: Record<string, Uint8Array> = { ...X_BAD, 'the layer\'s own key with the top bit set': topBitSet(good.subarray(0, 32)) };
  for (const [what, key] of Object.entries(bad)) {
    const o = Uint8Array.from(good);
    o.set(key, 0);
    const dropped = net.count('B', 'dropped.onion-key');
    net.inject('A', 'B', onionSignedBy(net, 'A', 'B', randomBytes(16), o));
    assert.is(net.count('B', 'dropped.onion-key'), dropped + 1, what);
  }
  assert.equal(onionAnswers(net, 'B', before), [], 'B answered nothing');
  assert.is(B.store.relayq.totals().n, 0, 'B took no custody');
  assert.is(onionsTo(net, 'C').length, toC, 'nothing forwarded');

  // A layer whose maker chose a non-canonical encoding of its ephemeral key and computed the
  // keys and MAC over those bytes: node:crypto reduces the key, so without the check this
  // layer opened — the same layer under a second encoding.
  const ephSecret = randomBytes(32);
  const eph = boxKeyFromSecret(ephSecret).publicKey;
  const exp = net.clock + 3600_000;
  const body = utf8('any body');
  const Rbox = R.deps.identity.box;
  const canonical = peelOnion(Rbox, handMadeFinalLayer(Rbox.publicKey, ephSecret, eph, exp, body));
  assert.ok(canonical.ok && canonical.layer.kind === 'final' && equalBytes(canonical.layer.body, body), 'the hand-made layer is sound with its canonical key');
  const crafted = handMadeFinalLayer(Rbox.publicKey, ephSecret, topBitSet(eph), exp, body);
  assert.equal(peelOnion(Rbox, crafted), { ok: false, why: 'key' });
  const inbox = R.store.inbox.count();
  const sessions = R.store.sessions.count();
  const atR = net.wire.length;
  net.inject('C', 'R', onionSignedBy(net, 'C', 'R', randomBytes(16), crafted));
  assert.is(net.count('R', 'dropped.onion-key'), 1);
  assert.equal(onionAnswers(net, 'R', atR), [], 'R answered nothing');
  assert.is(R.store.inbox.count(), inbox);
  assert.is(R.store.sessions.count(), sessions, 'no session');
});

test('case 2: a session setup key (ek) or ratchet key (dh) from the wire of low order or non-canonical is refused before use: not delivered, no session, no ack, nothing crashes', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  const R = net.n('R');
  const Rent = R.peer.entity;
  const Rbox = R.deps.identity.box;
  // S's onion never reaches R: C keeps it, and the test opens R's layer with R's key to
  // get S's genuine signed content. It is then re-sent to R on hand-made sessions.
  let held: Onion | undefined;
  net.intercept = (from, to, msg) => {
    if (from === 'C' && to === 'R' && msg.t === MsgType.ONION) {
      held ??= msg;
      return null;
    }
    return msg;
  };
  const id = sendOnion(net, 'S', 'R', 'for R, once', 3);
  net.advance(3_000);
  net.intercept = null;
  assert.ok(held, 'C had the onion for R');
  const peeled = peelOnion(Rbox, held!.o);
  assert.ok(peeled.ok && peeled.layer.kind === 'final');
  const first = decodeE2E(peeled.ok && peeled.layer.kind === 'final' ? peeled.layer.body : new Uint8Array(0));
  assert.ok('session' in first && first.session.i);
  const m0 = (first as { session: SessionMessage }).session;
  const opened = ratchetDecrypt(initReceiver(responderSecret(Rbox, m0.i!.ek), Rbox), { dh: m0.dh, pn: m0.pn, n: m0.n }, m0.ct, sessionAd(m0.sid, Rent, m0.i), net.clock, 3600_000);
  assert.ok(opened, 'S\'s signed content');
  const signedContent = opened!.plaintext;

  const sidOf = (ek: Uint8Array) => sha256(utf8('wotrelay/v1/session-id'), ek).slice(0, 16);
  /** A first message on a new session, as any sender may make it, with `ekOnWire` and `dhOnWire` on the wire. */
  const session = (enc: { ekOnWire?: (k: Uint8Array) => Uint8Array; dhOnWire?: (k: Uint8Array) => Uint8Array }): SessionMessage => {
    const ek = generateBoxKey();
    const ekw = (enc.ekOnWire ?? ((k) => k))(ek.publicKey);
    const sk = hkdfSha256(x25519(ek.secretKey, Rbox.publicKey), concatBytes(ekw, Rbox.publicKey), 'wotrelay/v1/session-setup', 32);
    const dhs = generateBoxKey();
    const st = initSender(sk, Rbox.publicKey, dhs);
    st.dhs = { secretKey: dhs.secretKey, publicKey: (enc.dhOnWire ?? ((k) => k))(dhs.publicKey) };
    const i = { ek: ekw, ik: Rbox.publicKey, ts: net.clock };
    const sid = sidOf(ekw);
    const { header, ct } = ratchetEncrypt(st, signedContent, sessionAd(sid, Rent, i));
    return { v: 1, sid, dh: header.dh, pn: header.pn, n: header.n, i, ct };
  };
  /** C hands R a one-layer onion carrying session message `m`. */
  const handToR = (m: SessionMessage) => {
    const o = buildOnion({ hops: [{ entity: Rent, x25519: Rbox.publicKey }], exp: net.clock + 3600_000, cs: randomBytes(32), body: encodeSessionMessage(m) });
    net.inject('C', 'R', onionSignedBy(net, 'C', 'R', randomBytes(16), o.packet));
  };

  const good = session({});
  const cases: Array<[string, SessionMessage]> = [
    ['ek with the top bit set (keys and tag computed over it by its maker)', session({ ekOnWire: topBitSet })],
    ['dh with the top bit set (the ratchet message authenticated over it by its maker)', session({ dhOnWire: topBitSet })],
    ...Object.entries(X_BAD).flatMap(([what, k]): Array<[string, SessionMessage]> => [
      [`ek ${what}`, { ...good, sid: sidOf(k), i: { ...good.i!, ek: k } }],
      [`dh ${what}`, { ...good, dh: k }],
    ]),
  ];
  const from = net.wire.length;
  for (const [what, m] of cases) {
    const dropped = net.count('R', 'dropped.ERR_DECRYPT');
    handToR(m);
    assert.is(net.count('R', 'dropped.ERR_DECRYPT'), dropped + 1, what);
    assert.not.ok(R.store.inbox.has(id), `${what}: not delivered`);
    assert.is(R.store.sessions.count(), 0, `${what}: no session`);
  }
  const answers = onionAnswers(net, 'R', from);
  assert.ok(answers.every((m) => m.t === MsgType.HOLD), 'no ack and no error: only HOLD to the neighbour (custody ends at R)');
  assert.not.ok(R.actions.some((a) => a.type === 'delivered-to-app'));
  // The control: the same content on a session with canonical keys is delivered.
  handToR(good);
  assert.ok(R.store.inbox.has(id), 'delivered with canonical keys');
  assert.is(R.store.sessions.count(), 1);
});

// ---------------------------------------------------------------- case 7

test('case 7: forged hop signature, a signature over another payload or route, a signer that is not the previous hop → dropped at the recipient, counted, and kept as evidence', () => {
  const net = line(['A', 'B', 'C']);
  net.add('X'); // an agent with a genuine certificate, not on the path
  const id1 = net.send('A', 'C', 'first');
  const id2 = net.send('A', 'C', 'second');
  net.advance(3_000);
  const C = net.n('C');
  assert.ok(C.store.inbox.get(id1) && C.store.inbox.get(id2));
  const got = (id: Uint8Array) => net.sent.find((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, id) && m.hops.length === 2) as Envelope;
  const e1 = got(id1);
  const e2 = got(id2);
  const A = net.n('A').deps.identity;
  const B = net.n('B').deps.identity;
  const Cent = C.peer.entity;
  const fromB = [...C.links.entries()].find(([, v]) => v === 'B')![0];
  const Xid = net.n('X').deps.identity;
  const X = Xid.entityPub;
  // B re-signs its hop over whatever chain it is given, so each forgery reaches C with a valid last hop.
  const viaB = (env: Envelope, hops0: Envelope['hops']): Envelope => {
    const base = { ...env, hops: hops0 };
    return { ...base, hops: [...hops0, signHop(immediateSigner(B.agent), B.certBytes, base, Cent)] };
  };
  const cases: Array<[string, Envelope]> = [
    ['forged hop signature', viaB(e1, [{ ...e1.hops[0]!, s: new Uint8Array(64).fill(7) }])],
    ['signature over another payload (the body of another message)', { ...e1, body: e2.body }],
    ['signature over another route (A named X as its next hop, not B)', viaB(e1, [signHop(immediateSigner(A.agent), A.certBytes, { ...e1, hops: [] }, X)])],
    ['signer not the previous hop (A handed it to B, X signed the next entry)', viaB(e1, [e1.hops[0]!, signHop(immediateSigner(Xid.agent), Xid.certBytes, { ...e1, hops: [e1.hops[0]!] }, B.entityPub)])],
    ['a chain that starts at B (A\'s entry cut off)', { ...e1, hops: [signHop(immediateSigner(B.agent), B.certBytes, { ...e1, hops: [] }, Cent)] }],
    ['last entry signed by someone other than the neighbour', { ...e1, hops: [e1.hops[0]!, signHop(immediateSigner(A.agent), A.certBytes, { ...e1, hops: [e1.hops[0]!] }, Cent)] }],
  ];
  const inboxBefore = C.store.inbox.count();
  const evBefore = C.core.evidence.total;
  for (const [what, env] of cases) {
    const acts = C.store.tx(() => C.core.onMessage(fromB, env));
    assert.ok(acts.some((a) => a.type === 'metric' && a.name.startsWith('dropped.ERR_')), `${what}: dropped and counted`);
    assert.not.ok(acts.some((a) => a.type === 'send'), `${what}: no ack, nothing sent`);
    assert.not.ok(acts.some((a) => a.type === 'delivered-to-app'), `${what}: not delivered`);
  }
  assert.is(C.store.inbox.count(), inboxBefore, 'nothing delivered');
  assert.is(C.core.evidence.total, evBefore + cases.length, 'every drop is recorded');
  const kept = C.core.evidence.list().slice(-cases.length);
  for (let i = 0; i < cases.length; i++) {
    const [what, env] = cases[i]!;
    const ev = kept[i]!;
    assert.equal(ev.from, net.n('B').peer.entity, `${what}: names the neighbour that handed it over`);
    assert.ok(ev.code.startsWith('ERR_') && ev.reason.length > 0, `${what}: says why`);
    assert.equal(ev.id, env.id);
    assert.equal(ev.bodyHash, sha256(env.body), `${what}: keeps what the signatures cover`);
    assert.equal(ev.hops.map((h) => toHex(h.s)), env.hops.map((h) => toHex(h.s)), `${what}: keeps the signed chain as received`);
  }
  // Evidence is bounded: the newest EVIDENCE_MAX are kept.
  const log = new EvidenceLog();
  for (let i = 0; i < EVIDENCE_MAX + 10; i++) log.add({ ...e1, id: new Uint8Array(16).fill(i) }, Cent, 'ERR_BAD_SIGNATURE', 'x', i);
  assert.is(log.list().length, EVIDENCE_MAX);
  assert.is(log.total, EVIDENCE_MAX + 10);
  assert.equal(log.list()[0]!.id, new Uint8Array(16).fill(10));
});

// ---------------------------------------------------------------- case 8

type DropReason = 'size' | 'key' | 'mac';

/** Swaps the `n` bytes at `a` and at `b` in a copy of `o`. */
function swapped(o: Uint8Array, a: number, b: number, n: number): Uint8Array {
  const out = Uint8Array.from(o);
  out.set(o.subarray(b, b + n), a);
  out.set(o.subarray(a, a + n), b);
  return out;
}

const EPH = 0;
const ROUTING = 32;
const MAC = ROUTING + ONION_ROUTING_BYTES;
const PAYLOAD = ONION_HEADER_BYTES;
/** Grows or cuts `o` to `size` (zeros appended when it grows). */
const resized = (o: Uint8Array, size: number): Uint8Array => {
  const out = new Uint8Array(size);
  out.set(o.subarray(0, Math.min(size, o.length)));
  return out;
};
const classBelow = (o: Uint8Array) => ONION_SIZES[ONION_SIZES.indexOf(o.length) - 1];
const classAbove = (o: Uint8Array) => ONION_SIZES[ONION_SIZES.indexOf(o.length) + 1];

/**
 * Ways to resize or reorder a layer (packet = eph 32 || routing 1152 || mac 32 || payload),
 * and the reasons a hop may give for dropping it. Those that need a class below or above
 * return undefined when there is none.
 */
const LAYER_MUTATIONS: Array<[string, (o: Uint8Array) => Uint8Array | undefined, DropReason[]]> = [
  ['truncated by one byte', (o) => o.subarray(0, o.length - 1), ['size']],
  ['truncated to the header alone', (o) => o.subarray(0, ONION_HEADER_BYTES), ['size']],
  ['grown by one byte', (o) => resized(o, o.length + 1), ['size']],
  ['grown by a 32-byte block', (o) => resized(o, o.length + 32), ['size']],
  ['cut to the size class below', (o) => (classBelow(o) ? resized(o, classBelow(o)!) : undefined), ['mac']],
  ['grown to the size class above', (o) => (classAbove(o) ? resized(o, classAbove(o)!) : undefined), ['mac']],
  ['two 32-byte blocks of the routing header swapped', (o) => swapped(o, ROUTING, ROUTING + 32, 32), ['mac']],
  ['the first two per-hop slots of the routing header swapped', (o) => swapped(o, ROUTING, ROUTING + ONION_SLOT_BYTES, ONION_SLOT_BYTES), ['mac']],
  ['the routing header rotated by one per-hop slot', (o) => concatBytes(o.subarray(0, ROUTING), o.subarray(MAC - ONION_SLOT_BYTES, MAC), o.subarray(ROUTING, MAC - ONION_SLOT_BYTES), o.subarray(MAC)), ['mac']],
  ['ephemeral key and MAC swapped', (o) => swapped(o, EPH, MAC, 32), ['key', 'mac']],
  ['two 64-byte blocks of the payload swapped', (o) => swapped(o, PAYLOAD, PAYLOAD + 64, 64), ['mac']],
  ['the header moved behind the payload', (o) => concatBytes(o.subarray(PAYLOAD), o.subarray(0, PAYLOAD)), ['key', 'mac']],
];

const REASONS: DropReason[] = ['size', 'key', 'mac'];
const dropCounts = (net: Net, name: string) => Object.fromEntries(REASONS.map((r) => [r, net.count(name, `dropped.onion-${r}`)])) as Record<DropReason, number>;

/** Asserts that `name` dropped exactly one more layer since `before`, for one of `allowed`. */
function droppedOnce(net: Net, name: string, before: Record<DropReason, number>, allowed: DropReason[], what: string): void {
  const after = dropCounts(net, name);
  const grew = REASONS.filter((r) => after[r] !== before[r]);
  assert.ok(grew.length === 1 && after[grew[0]!] === before[grew[0]!] + 1 && allowed.includes(grew[0]!), `${what}: dropped once as ${allowed.join('|')}, got ${JSON.stringify({ before, after })}`);
}

test('case 8: a layer truncated, grown, cut or grown to another size class, or with header or payload blocks reordered, is dropped silently at the hop that gets it and counted; nothing forwarded, nothing sent back', () => {
  const net = line(['S', 'A', 'B', 'C', 'R']);
  // A body over 4 KiB: its layers are in the middle size class, so both neighbours exist.
  const id = sendOnion(net, 'S', 'R', 'x'.repeat(5_000), 3);
  net.advance(5_000);
  assert.ok(net.n('R').store.inbox.get(id), 'the genuine onion is delivered');
  const good = onionsTo(net, 'B')[0]!.o;
  assert.is(good.length, ONION_SIZES[1]);
  const toC = onionsTo(net, 'C').length;
  const before = net.wire.length;
  for (const [what, mutate, reasons] of LAYER_MUTATIONS) {
    const o = mutate(good)!;
    assert.ok(o && !equalBytes(o, good), what);
    const counts = dropCounts(net, 'B');
    // A, turned bad, hands B the altered layer and signs what it hands over.
    net.inject('A', 'B', onionSignedBy(net, 'A', 'B', randomBytes(16), o));
    droppedOnce(net, 'B', counts, reasons, what);
  }
  assert.equal(onionAnswers(net, 'B', before), [], 'B answered nothing: no HOLD, no REFUSE, no report');
  assert.is(net.n('B').store.relayq.totals().n, 0, 'B took no custody');
  assert.is(onionsTo(net, 'C').length, toC, 'nothing forwarded');
  assert.is(net.n('R').store.inbox.count(), 1, 'nothing more reached R');
});

test('case 8: a relay that resizes or reorders the layer it hands on, to a relay or to the recipient: dropped there, nothing of the message delivered, the sender hears `stalled` from the hop before and nothing from the hop that dropped it', () => {
  for (const [bad, next] of [['B', 'C'], ['C', 'R']] as const) {
    const net = line(['S', 'A', 'B', 'C', 'R']);
    const nextEntity = toHex(net.n(next).peer.entity);
    const badEntity = toHex(net.n(bad).peer.entity);
    // Layers of the smallest class: the class below does not exist, the others all do.
    const mutations = LAYER_MUTATIONS.filter(([what]) => what !== 'cut to the size class below');
    for (const [what, mutate, reasons] of mutations) {
      // The bad relay alters every onion it hands on and signs it (its reports stay honest).
      net.intercept = (from, to, msg) => (from === bad && to === next && msg.t === MsgType.ONION ? onionSignedBy(net, bad, next, msg.id, mutate(msg.o)!) : msg);
      const counts = dropCounts(net, next);
      const from = net.wire.length;
      const id = sendOnion(net, 'S', 'R', `${what}, via ${bad}→${next}`, 3);
      net.advance(12_000);
      const after = dropCounts(net, next);
      assert.ok(REASONS.some((r) => after[r] > counts[r]) && REASONS.every((r) => after[r] === counts[r] || reasons.includes(r)), `${bad}→${next} ${what}: ${next} dropped it as ${reasons.join('|')}: ${JSON.stringify(after)}`);
      assert.equal(onionAnswers(net, next, from), [], `${bad}→${next} ${what}: ${next} answered nothing`);
      const steps = progress(net, 'S', id);
      assert.ok(steps.some((p) => p.status === 'stalled' && toHex(p.reporter) === badEntity), `${bad}→${next} ${what}: ${bad} reports stalled`);
      assert.not.ok(steps.some((p) => toHex(p.reporter) === nextEntity), `${bad}→${next} ${what}: ${next}, which dropped it, says nothing`);
      assert.not.ok(steps.some((p) => p.status === 'delivered'));
      assert.is.not(net.n('S').store.outbox.get(id)!.state, 'delivered');
    }
    net.intercept = null;
    const R = net.n('R');
    assert.is(R.store.inbox.count(), 0, `${bad}→${next}: nothing, whole or in part, reached R's inbox`);
    assert.is(R.store.held.count(), 0, `${bad}→${next}: nor is anything held at R`);
    assert.is(R.store.sessions.count(), 0, `${bad}→${next}: R set up no session`);
    assert.not.ok(R.actions.some((a) => a.type === 'delivered-to-app'), `${bad}→${next}: R's app got nothing`);
  }
});

// ---------------------------------------------------------------- case 9 (at an agent)

test('case 9: at an agent, an announcement rolled back (valid signature, older or equal seq, other addresses) is refused; the address book keeps the newest', () => {
  const net = line(['A', 'B']);
  const A = net.n('A');
  const B = net.n('B').deps.identity;
  const ann = (seq: number, addr: string) => createAnnouncement(B.agent, B.certBytes, { addrs: [addr], relays: [], mailboxes: [], seq, ts: net.clock });
  const learn = (bytes: Uint8Array) => A.store.tx(() => A.core.learnAnnouncement(bytes)).filter((a) => a.type === 'metric').map((a) => (a.type === 'metric' ? a.name : ''));
  assert.ok(learn(ann(1_000_000, '192.0.2.5:7117')).includes('announce.learned'));
  const stored = A.store.addrbook.get(B.entityPub, net.clock)!;
  for (const [seq, addr] of [[999_999, '198.51.100.66:7117'], [1_000_000, '198.51.100.66:7117'], [0, '198.51.100.66:7117']] as const) {
    assert.equal(learn(ann(seq, addr)), ['announce.stale'], `seq ${seq} refused`);
    assert.equal(A.store.addrbook.get(B.entityPub, net.clock)!.announcement, stored.announcement, 'the stored record is unchanged');
  }
});

// ---------------------------------------------------------------- case 11

test('case 11: complaint forgery (wrong signer, bad signature, a message never relayed, a replayed complaint, a complaint from the wrong side) changes no trust', () => {
  const net = line(['A', 'B', 'C']);
  const id = net.send('A', 'C', 'hello');
  net.advance(3_000);
  const B = net.n('B');
  const C = net.n('C');
  const fromC = [...B.links.entries()].find(([, v]) => v === 'C')![0];
  const fromA = [...B.links.entries()].find(([, v]) => v === 'A')![0];
  const aHex = toHex(net.n('A').peer.entity);
  const complaint = (signer: { agent: SigningKey; certBytes: Uint8Array }, mid: Uint8Array, reason: string): Complaint => {
    const ts = net.clock;
    return { t: MsgType.COMPLAINT, id: mid, reason, ts, c: signer.certBytes, s: sign(signer.agent, Domain.COMPLAINT, complaintBytes(mid, reason, ts)), w: 0 };
  };
  const stranger = () => {
    const e = generateSigningKey();
    const agent = generateSigningKey();
    return { agent, certBytes: issueCert(e, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: net.clock - 1000, notAfter: net.clock + 86400_000, seq: 1 }) };
  };
  const metric = (acts: ReturnType<typeof B.core.onMessage>) => acts.filter((a) => a.type === 'metric').map((a) => (a.type === 'metric' ? a.name : ''));
  // Five distinct wrong signers (each a genuine identity, none the recipient): more than the threshold of 3 if they counted.
  for (let i = 0; i < 5; i++) assert.equal(metric(B.store.tx(() => B.core.onMessage(fromC, complaint(stranger(), id, `forged ${i}`)))), ['complaint.forged']);
  // The recipient's certificate with a signature over other bytes.
  const bad = { ...complaint(C.deps.identity, id, 'x'), reason: 'y' };
  assert.equal(metric(B.store.tx(() => B.core.onMessage(fromC, bad))), ['complaint.forged']);
  // A message B never relayed.
  assert.equal(metric(B.store.tx(() => B.core.onMessage(fromC, complaint(C.deps.identity, new Uint8Array(16).fill(3), 'x')))), ['complaint.unrelated']);
  // A complaint arriving from the side the message came from (A), not from where it went.
  assert.equal(metric(B.store.tx(() => B.core.onMessage(fromA, complaint(C.deps.identity, id, 'x')))), ['complaint.unrelated']);
  assert.is(B.core.complaints.count(aHex, net.clock), 0, 'nothing counted against A yet');
  // The genuine complaint counts once; replayed ten times it counts for nothing more.
  const genuine = complaint(C.deps.identity, id, 'spam');
  assert.ok(metric(B.store.tx(() => B.core.onMessage(fromC, genuine))).includes('complaint.counted'));
  for (let i = 0; i < 10; i++) assert.equal(metric(B.store.tx(() => B.core.onMessage(fromC, genuine))), ['complaint.duplicate']);
  assert.is(B.core.complaints.count(aHex, net.clock), 1, 'only the genuine complainant counts');
  net.advance(120_000);
  assert.is(B.store.trust.get(net.n('A').peer.entity)!.state, 'active', 'A is not revoked');
  assert.not.ok(B.actions.some((a) => a.type === 'auto-revoked'), 'no automatic revocation anywhere on B');
});

// ---------------------------------------------------------------- case 13

test('case 13: 20 neighbours flooding route queries at 100× their limit are held to the per-neighbour and global budgets; an honest neighbour\'s queries are all answered', () => {
  const net = new Net();
  const F = Array.from({ length: 20 }, (_, i) => `F${i}`);
  for (const n of ['V', 'H', 'T', ...F]) net.add(n);
  for (const n of ['H', 'T', ...F]) net.connect('V', n);
  net.run();
  const V = net.n('V');
  const links = new Map([...V.links.entries()].map(([l, name]) => [name, l]));
  const linkOf = (name: string) => links.get(name)!;
  const rng = new Rng('flood20');
  const rnd = (n: number) => rng.bytes(n);
  const perNeighbour = { ratePerSec: 20, burst: 40 }; // CORE_DEFAULTS
  const global = { ratePerSec: 200, burst: 400 };
  const accepted = new Map<string, number>();
  const seconds = 2;
  let asked = 0;
  let answered = 0;
  for (let ms = 0; ms < seconds * 1000; ms++) {
    net.clock += 1;
    for (const f of F) {
      for (let k = 0; k < 2; k++) {
        // 2 per ms = 2,000/s = 100 × the per-neighbour rate, each for a new target.
        const acts = V.core.onMessage(linkOf(f), { t: MsgType.ROUTE_QUERY, qid: rnd(16), target: rnd(32), ttl: 3 } as WireMessage);
        if (!acts.some((a) => a.type === 'metric' && a.name.startsWith('query.ratelimited'))) accepted.set(f, (accepted.get(f) ?? 0) + 1);
      }
    }
    if (ms % 100 === 0) {
      asked++;
      const acts = V.core.onMessage(linkOf('H'), { t: MsgType.ROUTE_QUERY, qid: rnd(16), target: net.n('T').peer.entity, ttl: 2 } as WireMessage);
      if (acts.some((a) => a.type === 'send' && a.link === linkOf('H') && a.msg.t === MsgType.ROUTE_REPLY)) answered++;
    }
  }
  const total = [...accepted.values()].reduce((a, b) => a + b, 0);
  for (const [f, n] of accepted) assert.ok(n <= perNeighbour.ratePerSec * seconds + perNeighbour.burst, `${f} accepted ${n}`);
  assert.ok(total + asked <= global.ratePerSec * seconds + global.burst, `all neighbours together: ${total} + ${asked}`);
  assert.ok(total >= global.ratePerSec * seconds * 0.5, `the flood is held, not shut out entirely (${total})`);
  assert.is(answered, asked, `honest queries answered: ${answered}/${asked}`);
  // The same flood from one neighbour: held to its own budget, the honest one untouched.
  const one = new KeyedBuckets(perNeighbour);
  let passed = 0;
  for (let i = 0; i < 2000 * seconds; i++) if (one.take('f', i / 2)) passed++;
  assert.ok(passed <= perNeighbour.ratePerSec * seconds + perNeighbour.burst);
});

test('rate limits: a bucket KeyedBuckets drops (bound or delete) is marked, so a neighbour holding it looks its key up again', () => {
  const kb = new KeyedBuckets({ ratePerSec: 1, burst: 2 }, 2);
  const a = kb.bucket('a', 0);
  assert.ok(a.take(0) && a.take(0) && !a.take(0), 'a is empty');
  assert.is(kb.bucket('a', 0), a, 'the same bucket while kept');
  kb.bucket('b', 0);
  kb.bucket('c', 0); // over the bound of 2: the oldest key, a, goes
  assert.ok(a.dropped, 'the evicted bucket says so');
  assert.not.ok(kb.bucket('b', 0).dropped);
  const a2 = kb.bucket('a', 0);
  assert.is.not(a2, a);
  assert.ok(a2.take(0), 'a fresh, full bucket for a key looked up again');
  const c = kb.bucket('c', 0);
  kb.delete('c');
  assert.ok(c.dropped, 'a deleted bucket says so too');
  assert.is(kb.size, 1);
});

// ---------------------------------------------------------------- case 17 (the core's side)

test('case 17: a relay whose commit fails (disk full) sends no HOLD, and takes the retried envelope into custody once the disk has room', () => {
  // A → B → C → D with C's disk full. B retries from its relay queue, so C sees the very same
  // copy (same bytes, same hop signature) again: it must not answer it as a copy it holds.
  // (A's own end-to-end re-send is put far off, so only custody taken by C can deliver it in time.)
  const net = line(['A', 'B', 'C', 'D'], { stallMs: 2_000, retryBaseMs: 500, maxRetryMs: 4_000, custodyRetryMs: 600_000 });
  const C = net.n('C');
  const realTx = C.store.tx.bind(C.store);
  let full = false;
  // While the disk is "full" every transaction of C fails at commit: its writes roll back.
  C.store.tx = <T>(fn: () => T): T =>
    realTx(() => {
      const r = fn();
      if (full) throw new Error('SQLITE_FULL: database or disk is full');
      return r;
    });
  // Like the daemon, a failed step performs none of its actions.
  net.run = (max = 100_000) => {
    for (let i = 0; i < max && net.queue.length > 0; i++) {
      const m = net.queue.shift()!;
      if (net.dead.has(m.to)) continue;
      const N = net.n(m.to);
      net.clock += 1;
      let acts;
      try {
        acts = N.store.tx(() => N.core.onMessage(m.link, decodeMessage(m.bytes)));
      } catch {
        continue;
      }
      net.perform(m.to, acts);
    }
  };
  const tickAll = (ms: number) => {
    for (let t = 0; t < ms; t += 1000) {
      net.clock += 1000;
      for (const [name, N] of net.nodes) {
        try {
          net.perform(name, N.store.tx(() => N.core.tick()));
        } catch {
          /* C's ticks fail too while its disk is full */
        }
      }
      net.run();
    }
  };
  net.send('A', 'D', 'warm-up');
  tickAll(3_000);
  full = true;
  const id = net.send('A', 'D', 'through a full disk');
  tickAll(15_000);
  const copiesToC = net.sent.filter((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, id) && m.hops.length === 2);
  assert.ok(copiesToC.length >= 2, `B tried C more than once (${copiesToC.length})`);
  // The same hop entry each time (its leaf; the batch signature over it differs per batch).
  assert.ok(copiesToC.every((m) => m.t === MsgType.ENVELOPE && equalBytes(m.hops[1]!.l, (copiesToC[0] as Envelope).hops[1]!.l)), 'each time the same copy');
  const holdsFromC = () => net.sent.filter((m) => m.t === MsgType.HOLD && equalBytes(m.id, id)).length;
  const holdsBefore = holdsFromC(); // B's HOLD to A
  assert.is(holdsBefore, 1, 'only B took custody');
  assert.not.ok(C.store.relayq.has(id), 'C holds nothing');
  assert.ok(net.n('B').store.relayq.has(id), 'B still owns the message');
  full = false;
  tickAll(20_000);
  assert.is(net.count('C', 'dropped.replay'), 0, 'C never answered HOLD for a copy it does not hold');
  assert.ok(holdsFromC() > holdsBefore, 'C took custody once its disk had room');
  assert.ok(net.n('D').store.inbox.get(id), 'delivered');
  assert.is(net.n('D').store.inbox.count(), 2, 'each message once');
  assert.is(net.n('A').store.outbox.get(id)!.state, 'delivered');
});

// ---------------------------------------------------------------- case 18 (the core's side)

test('case 18: a wall clock stepping back a day does not delay retries (outbox, relay queue) or the causal wait; rate limits follow the monotonic clock', () => {
  const net = line(['A', 'B', 'C'], { custodyRetryMs: 30_000, retryBaseMs: 1_000, maxRetryMs: 60_000 });
  // Certificates were issued two days ago, so a clock a day behind still finds them valid
  // (beyond the ±10 min tolerance a certificate from "the future" is refused: hardening-clock.test.ts).
  net.clock += 2 * 24 * 3600_000;
  let mono = net.clock;
  let skew = 0;
  const stepClocks = (n: string) => {
    const N = net.n(n);
    // Rebuild the core with a wall clock that can step and a monotonic one that cannot (as the daemon has).
    N.deps.now = () => net.clock + skew;
    N.deps.mono = () => mono;
    net.restart(n);
  };
  for (const n of ['A', 'B']) stepClocks(n);
  const tick = (ms: number) => {
    const end = net.clock + ms;
    while (net.clock < end) {
      net.clock += 1000;
      mono += 1000;
      for (const [name, N] of net.nodes) if (!net.dead.has(name)) net.perform(name, N.store.tx(() => N.core.tick()));
      net.run();
    }
  };
  // A learns its way to C, then C goes away: B keeps A's next message in its relay queue and retries with backoff.
  net.send('A', 'C', 'warm-up');
  tick(3_000);
  net.kill('C');
  const id = net.send('A', 'C', 'across a clock step');
  tick(3_000);
  assert.ok(net.n('B').store.relayq.has(id), 'B holds it for C');
  const attemptsBefore = net.n('B').store.relayq.get(id)!.attempts;
  skew = -24 * 3600_000;
  tick(90_000);
  assert.ok(net.count('B', 'clock.stepped-back') >= 1, 'B noticed the step');
  const attemptsAfter = net.n('B').store.relayq.get(id)!.attempts;
  assert.ok(attemptsAfter >= attemptsBefore + 2, `B kept retrying in real time, not a day later (${attemptsBefore} → ${attemptsAfter})`);
  // A's message is relayed (held by B) and waits for the end-to-end ack: it is re-sent after custodyRetryMs of real time.
  const sendsBefore = net.sent.filter((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, id) && m.hops.length === 1).length;
  tick(80_000);
  const sendsAfter = net.sent.filter((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, id) && m.hops.length === 1).length;
  assert.ok(sendsAfter > sendsBefore, `A re-sent after the custody retry (${sendsBefore} → ${sendsAfter})`);
  net.restart('C', ['B']);
  tick(10_000);
  assert.ok(net.n('C').store.inbox.get(id), 'delivered once C is back');
  // Rate limits use the monotonic clock: a wall clock jumping a day ahead refills nothing.
  const B = net.n('B');
  const fromA = [...B.links.entries()].find(([, v]) => v === 'A')![0];
  const rng = new Rng('jump');
  const rnd = (n: number) => rng.bytes(n);
  const q = () => B.core.onMessage(fromA, { t: MsgType.ROUTE_QUERY, qid: rnd(16), target: rnd(32), ttl: 1 } as WireMessage);
  let limited = false;
  for (let i = 0; i < 200 && !limited; i++) limited = q().some((a) => a.type === 'metric' && a.name === 'query.ratelimited.neighbour');
  assert.ok(limited, 'A is rate limited');
  skew += 2 * 24 * 3600_000;
  assert.ok(q().some((a) => a.type === 'metric' && a.name === 'query.ratelimited.neighbour'), 'still limited after the wall clock jumped ahead');
});

test('case 18: the causal wait for a missing parent is measured in real time across a step back', () => {
  const net = line(['A', 'B'], { causalWaitMs: 60_000 });
  net.clock += 2 * 24 * 3600_000;
  let mono = net.clock;
  let skew = 0;
  const B = net.n('B');
  B.deps.now = () => net.clock + skew;
  B.deps.mono = () => mono;
  net.restart('B');
  const tick = (ms: number) => {
    const end = net.clock + ms;
    while (net.clock < end) {
      net.clock += 1000;
      mono += 1000;
      for (const [name, N] of net.nodes) net.perform(name, N.store.tx(() => N.core.tick()));
      net.run();
    }
  };
  // A's first message is lost on the wire; the second names it as its parent and is held at B.
  const A = net.n('A');
  const { id: lost, actions } = A.store.tx(() => A.core.send(B.peer.entity, 'text', utf8('one')));
  void actions; // dropped: never performed
  A.store.outbox.setState(lost, 'failed', net.clock); // and never retried
  const second = net.send('A', 'B', 'two');
  assert.ok(B.store.held.has(second), 'held for its parent');
  skew = -24 * 3600_000;
  tick(70_000);
  assert.not.ok(B.store.held.has(second), 'released after the causal wait, not a day later');
  assert.ok(B.store.inbox.get(second)!.gap.length === 1, 'with a gap marker');
});

// ---------------------------------------------------------------- case 16 (what kill -9 runs found)

test('case 16: a backlog of 3,000 messages held for their parents (as after relays restart out of order) is released in one linear pass, in causal order', () => {
  const net = line(['A', 'B'], { heldMax: 10_000, causalWaitMs: 60_000 });
  const B = net.n('B');
  const from = net.n('A').peer.entity;
  const n = 3_000;
  const hash = (i: number) => sha256(utf8(`h${i}`));
  // A chain m0 ← m1 ← … ← m2999, all held, having arrived newest first; m0 waits for a parent that never comes.
  B.store.tx(() => {
    for (let i = n - 1; i >= 0; i--) {
      B.store.held.put({
        id: sha256(utf8(`id${i}`)).subarray(0, 16),
        hash: hash(i),
        from,
        fromAgent: net.n('A').deps.identity.agent.publicKey,
        receivedAt: net.clock,
        sentAt: net.clock,
        kind: 'text',
        body: utf8(`m${i}`),
        name: null,
        path: '[]',
        parents: [i === 0 ? hash(-1) : hash(i - 1)],
        author: null,
        heldAt: i === 0 ? net.clock - 120_000 : net.clock,
      });
    }
  });
  let lookups = 0;
  for (const repo of [B.store.inbox, B.store.outbox]) {
    const orig = repo.hasHash.bind(repo);
    repo.hasHash = (h: Uint8Array) => {
      lookups++;
      return orig(h);
    };
  }
  // m0 is overdue: it goes to the app with a gap marker, and everything held behind it follows.
  net.perform('B', B.store.tx(() => B.core.tick()));
  assert.is(B.store.held.count(), 0, 'none left held');
  const shown = B.store.inbox.list({ limit: n }).map((r) => new TextDecoder().decode(r.body));
  assert.equal(shown, Array.from({ length: n }, (_, i) => `m${i}`), 'in causal order');
  assert.ok(lookups < 10 * n, `parent lookups: ${lookups} for ${n} messages (the quadratic release did ~${(n * n) / 2})`);
});

test('case 16: 400 messages arriving newest first make the recipient ask for the missing parents in a few batched wants, not one per message', () => {
  const net = line(['A', 'B'], { heldMax: 10_000 });
  const n = 400;
  net.unlink('A', 'B');
  for (let i = 0; i < n; i++) net.send('A', 'B', `m${i}`);
  net.relink('A', 'B');
  const toB = net.queue.filter((m) => m.to === 'B');
  net.queue = [...net.queue.filter((m) => m.to !== 'B'), ...toB.reverse()];
  net.run();
  net.advance(3_000);
  const B = net.n('B');
  assert.is(B.store.inbox.count(), n, 'all delivered');
  assert.equal(B.store.inbox.list({ limit: n }).map((r) => new TextDecoder().decode(r.body)), Array.from({ length: n }, (_, i) => `m${i}`), 'in causal order');
  assert.ok(net.count('B', 'causal.held') >= n - 1, 'all but the first waited');
  assert.ok(net.count('B', 'causal.want') <= 2, `wants sent: ${net.count('B', 'causal.want')} (one per held message before)`);
  assert.ok(net.count('A', 'causal.resent') <= 2, `re-sends: ${net.count('A', 'causal.resent')}`);
});

test('case 16: a next hop working through a backlog (answering, but slowly) is given time, not flooded with duplicates of what it has not reached yet', () => {
  const net = line(['A', 'B', 'C'], { stallMs: 2_000, retryBaseMs: 500 });
  net.send('A', 'C', 'warm-up');
  net.advance(3_000);
  net.unlink('B', 'C');
  const n = 200;
  for (let i = 0; i < n; i++) net.send('A', 'C', `m${i}`);
  net.advance(2_000); // B holds them all, waiting for C
  const copiesBefore = net.sent.filter((m) => m.t === MsgType.ENVELOPE && m.hops.length === 2).length;
  net.relink('B', 'C');
  // C takes 25 messages a second: the 200 need 8 s, four times B's stall deadline.
  for (let t = 0; t < 30_000; t += 100) {
    net.clock += 100;
    if (t % 1000 === 0) for (const [name, N] of net.nodes) net.perform(name, N.store.tx(() => N.core.tick()));
    let forC = 0;
    const later: typeof net.queue = [];
    while (net.queue.length > 0) {
      const m = net.queue.shift()!;
      if (m.to === 'C' && forC++ >= 2) {
        later.push(m);
        continue;
      }
      const N = net.n(m.to);
      net.perform(m.to, N.store.tx(() => N.core.onMessage(m.link, decodeMessage(m.bytes))));
    }
    net.queue.push(...later);
  }
  assert.is(net.n('C').store.inbox.count(), n + 1, 'all delivered');
  const copies = net.sent.filter((m) => m.t === MsgType.ENVELOPE && m.hops.length === 2).length - copiesBefore;
  assert.ok(copies <= n + 10, `B handed C ${copies} copies of ${n} envelopes`);
  assert.is(net.count('B', 'relay.stalled'), 0, 'none taken for stalled while C kept answering');
});

// ---------------------------------------------------------------- case 21

test('case 21: every in-memory table of the core stays within its bound when driven past it', () => {
  const net = line(['A', 'B', 'C'], { fwdMaxEntries: 40, queryPerNeighbour: { ratePerSec: 1e9, burst: 1e9 }, queryGlobal: { ratePerSec: 1e9, burst: 1e9 } });
  const B = net.n('B');
  // Forwarding log: 60 messages through B with a bound of 40.
  for (let i = 0; i < 60; i++) net.send('A', 'C', `m${i}`);
  net.advance(2_000);
  // Query ids: 100,500 distinct queries from one neighbour (the bound is 100,000).
  const fromA = [...B.links.entries()].find(([, v]) => v === 'A')![0];
  const rng = new Rng('ids');
  const rnd = (n: number) => rng.bytes(n);
  for (let i = 0; i < 100_500; i++) B.core.onMessage(fromA, { t: MsgType.ROUTE_QUERY, qid: rnd(16), target: rnd(32), ttl: 1 } as WireMessage);
  // Discoveries running at once: 1,100 targets (the bound is 1,000).
  const acts = B.store.tx(() => {
    const out = [];
    for (let i = 0; i < 1_100; i++) out.push(...B.core.discover(rnd(32)));
    return out;
  });
  assert.ok(acts.some((a) => a.type === 'metric' && a.name === 'discovery.too-many'));
  const b = B.core.bounds();
  // Full: at its bound, or just under it (a full BoundedMap drops its oldest sixteenth at once).
  const full = (name: string, max: number): void => {
    const t = b[name]!;
    assert.ok(t.max === max && t.size <= max && t.size > max - Math.max(1, max >>> 4), `${name}: ${t.size} of ${t.max}, expected full (${max})`);
  };
  full('forwarding log', 40);
  full('query ids', 100_000);
  full('discoveries', 1_000);
  for (const [name, { size, max }] of Object.entries(b)) assert.ok(size <= max, `${name}: ${size} <= ${max}`);
  // The store's certificate and address-book tables: pruned to their bounds on the tick, a
  // trusted entity's certificate kept, expired ones dropped (SQLite and the simulator's MemoryStore alike).
  for (const store of [Store.open(':memory:'), new MemoryStore()]) {
    const trusted = generateSigningKey().publicKey;
    const row = (i: number, entity = generateSigningKey().publicKey, notAfter = net.clock + 86400_000) => ({ agent: sha256(utf8(`a${i}`)), entity, cert: new Uint8Array(185), seq: 1, notAfter, seenAt: i });
    store.certs.put(row(0, trusted));
    for (let i = 1; i <= 50; i++) store.certs.put(row(i));
    store.certs.put(row(51, undefined, net.clock - 86400_000)); // expired
    store.certs.prune(net.clock, 20, (e) => equalBytes(e, trusted));
    assert.is(store.certs.count(), 20, 'certificates held to their bound');
    assert.ok(store.certs.get(sha256(utf8('a0'))), 'the trusted entity\'s certificate is kept though it is the oldest');
    assert.ok(store.certs.get(sha256(utf8('a50'))), 'the newest are kept');
    assert.not.ok(store.certs.get(sha256(utf8('a51'))), 'the expired one is gone');
    for (let i = 0; i < 30; i++) store.addrbook.put({ entity: sha256(utf8(`e${i}`)), announcement: new Uint8Array(8), seq: 1, receivedAt: i, expiresAt: net.clock + 86400_000 });
    store.addrbook.prune(10);
    assert.is(store.addrbook.count(), 10);
    assert.ok(store.addrbook.get(sha256(utf8('e29')), net.clock), 'the most recent kept');
    assert.not.ok(store.addrbook.get(sha256(utf8('e0')), net.clock), 'the oldest dropped');
  }
  // The building blocks themselves, driven past their bounds.
  const bm = new BoundedMap<number>(100);
  for (let i = 0; i < 1_000; i++) bm.set(`k${i}`, i, 1e12);
  assert.ok(bm.size <= 100 && bm.size > 100 - 100 / 16, `full: between 94 and 100 entries (the oldest sixteenth goes at once), not ${bm.size}`);
  assert.is(bm.get('k999', 0), 999, 'the newest kept');
  assert.is(bm.get('k906', 0), 906, 'the newest 94 kept');
  assert.is(bm.get('k0', 0), undefined, 'the oldest dropped');
  // sweep drops the expired prefix in insertion order, whatever it skipped before.
  const sw = new BoundedMap<number>(100);
  for (let i = 0; i < 10; i++) sw.set(`s${i}`, i, 100 + 10 * i);
  sw.sweep(99);
  assert.is(sw.size, 10, 'nothing due yet');
  sw.sweep(125);
  assert.is(sw.size, 7, 'the three due by 125 dropped');
  sw.set('late', 0, 105); // out of expiry order: stays until read, evicted, or at the front
  sw.sweep(130);
  assert.is(sw.size, 7, 's3 (exp 130) is the first entry and due: dropped; late (105) is behind live ones and stays');
  for (let i = 4; i < 10; i++) sw.delete(`s${i}`);
  sw.sweep(131);
  assert.is(sw.size, 0, 'once the expired out-of-order entry is at the front, a sweep drops it');
  sw.set('again', 1, 500);
  sw.sweep(499);
  assert.is(sw.get('again', 499), 1);
  sw.sweep(500);
  assert.is(sw.size, 0);
  assert.is(sw.get('again', 0), undefined, 'swept: gone, also for the key read last');
  // The last entry read or written is answered without the table: never stale.
  const lk = new BoundedMap<number>(32);
  lk.set('a', 1, 100);
  assert.is(lk.get('a', 0), 1);
  lk.set('a', 2, 100);
  assert.is(lk.get('a', 0), 2, 'a re-set is seen');
  lk.delete('a');
  assert.is(lk.get('a', 0), undefined, 'a delete is seen');
  lk.set('b', 3, 50);
  assert.is(lk.get('b', 60), undefined, 'expired on read');
  assert.is(lk.size, 0, 'and dropped');
  lk.set('c', 4, 100);
  assert.is(lk.get(`${'c'}`, 0), 4, 'an equal key made apart hits');
  for (let i = 0; i < 40; i++) lk.set(`f${i}`, i, 100);
  assert.is(lk.get('c', 0), undefined, 'evicted by the bound (it was read last)');
  const kb = new KeyedBuckets({ ratePerSec: 1, burst: 1 }, 1_000);
  for (let i = 0; i < 5_000; i++) kb.take(`n${i}`, 0);
  assert.is(kb.size, 1_000);
  const ct = new ComplaintTracker(COMPLAINT_DEFAULTS);
  for (let i = 0; i < ComplaintTracker.MAX_NEIGHBOURS + 500; i++) ct.record(`n${i}`, 'c', null, 0);
  assert.is(ct.size, ComplaintTracker.MAX_NEIGHBOURS);
  for (let i = 0; i < 1_000; i++) ct.record('busy', `c${i}`, `v${i}`, 0);
  assert.ok(ct.count('busy', 0) <= 256, 'blames per neighbour are bounded');
  const rc = new RouteCache(60_000, 50, 4);
  const ent = (i: number) => sha256(utf8(`e${i}`));
  for (let i = 0; i < 200; i++) for (let j = 0; j < 10; j++) rc.add(ent(i), [ent(1000 + j), ent(i)], 0);
  assert.is(rc.size, 50);
  assert.is(rc.get(ent(199), 0).length, 4, 'at most 4 routes per target');
  const m = new Metrics();
  for (let i = 0; i < 2_000; i++) m.inc(`name${i}`);
  assert.is(m.size, Metrics.MAX_METRICS);
  assert.is(Object.keys(m.snapshot()).length, Metrics.MAX_METRICS);
});

test.run();
