/**
 * Forward-secret sessions (PROTOCOL.md 3.14) on the deterministic test network: the first
 * message needs no round trip, acks carry ratchet steps so later messages move to fresh
 * keys, and — tried, not assumed — a thief holding both parties' long-term keys and every
 * session state they hold after the session rotated cannot open a message captured before.
 * Also: the ratchet itself (out of order, forged, too far ahead), sessions surviving a
 * restart, and a recipient that lost its state getting a fresh session.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  initReceiver,
  initSender,
  initiatorSecret,
  open as openSealed,
  peelOnion,
  ratchetDecrypt,
  ratchetEncrypt,
  responderSecret,
  generateBoxKey,
  utf8,
  type BoxKey,
  type RatchetState,
} from '../../agent/crypto/index.js';
import { sealAd } from '../../agent/core/core.js';
import { decodeSession, sessionAd } from '../../agent/core/session.js';
import type { SessionRow } from '../../agent/store/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import { decodeE2E, decodeMessage } from '../../agent/wire/index.js';
import type { Envelope, Onion, SessionMessage } from '../../agent/wire/types.js';
import { Net, line } from '../helpers/corenet.js';

const text = (s: string) => new TextEncoder().encode(s);

/** The envelope of message `id` as it went over the wire (the last copy seen). */
function captured(net: Net, id: Uint8Array): Envelope {
  const envs = net.wire.map((f) => decodeMessage(f.bytes)).filter((m): m is Envelope => m.t === MsgType.ENVELOPE && Buffer.from(m.id).equals(Buffer.from(id)));
  return envs[envs.length - 1]!;
}

function sessionMessage(e2e: Uint8Array): SessionMessage {
  const d = decodeE2E(e2e);
  if (!('session' in d)) throw new Error('not a session message');
  return d.session;
}

interface Loot {
  /** Long-term box keys of both parties (from their agent.key). */
  boxes: BoxKey[];
  /** Every session state row in both stores. */
  rows: SessionRow[];
}

function steal(net: Net, names: string[]): Loot {
  const rows: SessionRow[] = [];
  for (const n of names) {
    const s = net.n(n).store;
    for (const peer of names) rows.push(...s.sessions.byPeer(net.n(peer).peer.entity, Infinity));
  }
  return { boxes: names.map((n) => net.n(n).deps.identity.box), rows };
}

/**
 * Everything a thief can try on a captured session message `m` addressed to `to`: every
 * stolen state as it stands, every stolen chain key run forward from every position up to
 * the message number, every stolen skipped key, and setting the session up again from the
 * long-term keys. Returns the plaintext if any attempt opens it.
 */
function attack(m: SessionMessage, to: Uint8Array, loot: Loot, now: number): Uint8Array | null {
  const ad = sessionAd(m.sid, to, m.i);
  const header = { dh: m.dh, pn: m.pn, n: m.n };
  const tries: RatchetState[] = [];
  for (const row of loot.rows) {
    const r = decodeSession(row).r;
    tries.push(r);
    for (const ck of [r.cks, r.ckr]) {
      if (!ck) continue;
      for (let nr = 0; nr <= m.n; nr++) tries.push({ ...r, dhr: m.dh, ckr: ck, nr, skipped: [] });
    }
    tries.push({ ...r, dhr: m.dh, ckr: null, nr: m.n + 1, skipped: r.skipped.map((k) => ({ ...k, dh: m.dh, n: m.n })) });
  }
  for (const box of loot.boxes) {
    for (const row of loot.rows) tries.push(initReceiver(decodeSession(row).r.rk, box));
    if (m.i) tries.push(initReceiver(responderSecret(box, m.i.ek), box));
  }
  for (const st of tries) {
    const res = ratchetDecrypt(st, header, m.ct, ad, now, 3600_000);
    if (res) return res.plaintext;
  }
  return null;
}

test('forward secrecy (clear mode): after the session rotated, both parties\' stolen keys and session states do not open an earlier message', () => {
  const net = line(['A', 'B']);
  const A = net.n('A');
  const B = net.n('B');
  // m1 needs no round trip: it sets the session up from B's certificate key.
  const m1 = net.send('A', 'B', 'first contact');
  const e1 = sessionMessage(openSealed(B.deps.identity.box, captured(net, m1).body, sealAd(m1, B.peer.entity))!);
  assert.ok(e1.i, 'the first message carries the session setup');
  assert.is(A.store.outbox.get(m1)!.state, 'delivered');
  // B's ack carried a ratchet step: A's next message is on a fresh DH ratchet key.
  const beforeM2 = B.store.sessions.byPeer(A.peer.entity, Infinity);
  const m2 = net.send('A', 'B', 'the message the thief captured');
  const e2 = sessionMessage(openSealed(B.deps.identity.box, captured(net, m2).body, sealAd(m2, B.peer.entity))!);
  assert.is(e2.i, undefined, 'no setup any more: A heard back');
  assert.not.equal([...e2.dh], [...e1.dh], 'a new ratchet key');
  // The conversation goes on (the session rotates again both ways).
  net.send('B', 'A', 'a reply');
  net.send('A', 'B', 'and another');
  assert.is(new TextDecoder().decode(B.store.inbox.get(m2)!.body), 'the message the thief captured');
  // Now a thief takes everything both agents hold: long-term keys, every session state.
  const loot = steal(net, ['A', 'B']);
  assert.ok(loot.rows.length >= 2);
  assert.is(attack(e2, B.peer.entity, loot, net.clock), null, 'the captured message stays closed');
  // The same attack with B's state from before m2 arrived does open it: the attempt is real.
  const old = attack(e2, B.peer.entity, { boxes: loot.boxes, rows: beforeM2 }, net.clock);
  assert.ok(old, 'control: with the keys of that time the attack works');
  assert.match(new TextDecoder().decode(old!), 'the message the thief captured');
});

test('forward secrecy (onion mode): acks carry the ratchet steps back through the relays; the recipient\'s final layer, peeled with its stolen key, still does not open', () => {
  const net = line(['S', 'A', 'B', 'R']);
  const R = net.n('R');
  const send = (body: string) => {
    const S = net.n('S');
    const { id, actions } = S.store.tx(() => S.core.send(R.peer.entity, 'text', text(body), undefined, { onion: 2 }));
    net.perform('S', actions);
    net.advance(5_000);
    return id;
  };
  send('hello');
  const mark = net.wire.length;
  const m2 = send('captured under onion');
  assert.ok(R.store.inbox.get(m2));
  const last = net.wire.slice(mark).filter((f) => f.to === 'R').map((f) => decodeMessage(f.bytes)).find((m): m is Onion => m.t === MsgType.ONION)!;
  const loot = steal(net, ['S', 'R']);
  const peeled = peelOnion(R.deps.identity.box, last.o);
  assert.ok(peeled.ok && peeled.layer.kind === 'final', 'the thief peels the final layer with the stolen key');
  const e2 = sessionMessage(peeled.ok && peeled.layer.kind === 'final' ? peeled.layer.body : new Uint8Array(0));
  assert.is(e2.i, undefined, 'the session rotated through the sealed acks');
  assert.is(attack(e2, R.peer.entity, loot, net.clock), null);
});

test('the ratchet: out-of-order messages open with skipped keys (once), a forged one changes nothing, a header too far ahead is refused', () => {
  const bob = generateBoxKey();
  const ek = generateBoxKey();
  const sk = initiatorSecret(ek, bob.publicKey);
  assert.equal([...responderSecret(bob, ek.publicKey)], [...sk], 'both sides derive the same secret');
  const alice = initSender(sk, bob.publicKey);
  let b: RatchetState = initReceiver(sk, bob);
  const ad = utf8('ad');
  const msgs = [0, 1, 2, 3].map((i) => ratchetEncrypt(alice, utf8(`m${i}`), ad));
  const now = 1000;
  const open = (k: number) => {
    const r = ratchetDecrypt(b, msgs[k]!.header, msgs[k]!.ct, ad, now, 60_000);
    if (r) b = r.state;
    return r ? new TextDecoder().decode(r.plaintext) : null;
  };
  assert.is(open(2), 'm2');
  assert.is(b.skipped.length, 2, 'keys for m0 and m1 kept');
  assert.is(open(0), 'm0');
  assert.is(open(0), null, 'a skipped key opens once');
  const tampered = { ...msgs[1]!, ct: Uint8Array.from(msgs[1]!.ct).map((x, i) => (i === 0 ? x ^ 1 : x)) };
  const before = JSON.stringify(b, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v));
  assert.is(ratchetDecrypt(b, tampered.header, tampered.ct, ad, now, 60_000), null);
  assert.is(JSON.stringify(b, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)), before, 'a forged message leaves the state as it was');
  assert.is(open(1), 'm1');
  assert.is(open(3), 'm3');
  const far = ratchetEncrypt(alice, utf8('x'), ad);
  assert.is(ratchetDecrypt(b, { ...far.header, n: far.header.n + 5000 }, far.ct, ad, now, 60_000), null, 'more than 1000 skipped keys are refused');
  // Skipped keys expire.
  const late = ratchetEncrypt(alice, utf8('late'), ad);
  const next = ratchetEncrypt(alice, utf8('next'), ad);
  const r = ratchetDecrypt(b, next.header, next.ct, ad, now, 60_000)!;
  assert.is(ratchetDecrypt(r.state, late.header, late.ct, ad, now + 61_000, 60_000), null, 'an expired skipped key is gone');
});

test('sessions survive a restart (they are in the store); a recipient that lost its state gets a fresh session after the sender\'s retries', () => {
  const net = line(['A', 'B'], { custodyRetryMs: 1_000 });
  net.send('A', 'B', 'one');
  net.send('A', 'B', 'two');
  net.restart('A');
  net.restart('B');
  const three = net.send('A', 'B', 'three, after restarts');
  assert.ok(net.n('B').store.inbox.get(three), 'the stored sessions still work');
  // B loses its database's sessions (say, restored from an old backup).
  const B = net.n('B');
  for (const sid of B.core.sessions.idsWith(net.n('A').peer.entity)) B.store.sessions.delete(Buffer.from(sid, 'hex'));
  const four = net.send('A', 'B', 'four');
  assert.not.ok(B.store.inbox.get(four), 'B cannot open it');
  assert.ok(net.count('B', 'dropped.ERR_DECRYPT') >= 1);
  net.advance(11 * 60_000);
  assert.ok(B.store.inbox.get(four), 'a fresh session after the retries');
  assert.is(net.n('A').store.outbox.get(four)!.state, 'delivered');
});

test.run();
