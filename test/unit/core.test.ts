/**
 * The sans-I/O core without sockets: two cores with in-memory stores exchange messages by
 * hand, under a fake clock. Checks the trust gate (trusted, invite redeemed once, expired,
 * used, forged, revoked), sealed+signed delivery, exactly-once inbox, acks, and that a
 * broken hop chain or a forged ack is dropped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { AgentCore, type Action } from '../../agent/core/index.js';
import {
  generateSigningKey,
  generateBoxKey,
  type SigningKey,
} from '../../agent/crypto/index.js';
import { issueCert, verifyCert, decodeInvite, inviteProof } from '../../agent/identity/index.js';
import { Store } from '../../agent/store/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import type { Envelope, WireMessage } from '../../agent/wire/types.js';
import type { PeerIdentity } from '../../agent/link/index.js';

/** Deterministic bytes from a counter (seeded randomness for the core). */
function seededRandom(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
      const take = Math.min(block.length, n - off);
      out.set(block.subarray(0, take), off);
      off += take;
    }
    return out;
  };
}

interface Node {
  core: AgentCore;
  store: Store;
  entity: SigningKey;
  agent: SigningKey;
  certBytes: Uint8Array;
  peer: PeerIdentity;
}

let clock = Date.UTC(2026, 10, 21);
const now = () => clock;

function makeNode(name: string): Node {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const box = generateBoxKey();
  const certBytes = issueCert(entity, { agent: agent.publicKey, x25519: box.publicKey, notBefore: clock - 1000, notAfter: clock + 365 * 86400_000, seq: 1 });
  const cert = verifyCert(certBytes, clock);
  const store = Store.open(':memory:');
  const core = new AgentCore({
    identity: { entityPub: entity.publicKey, agent, box, certBytes, cert },
    store,
    now,
    randomBytes: seededRandom(name),
    addrs: () => ['127.0.0.1:1'],
  });
  const peer: PeerIdentity = { agent: agent.publicKey, entity: entity.publicKey, cert, certBytes, remoteAddress: '127.0.0.1', remotePort: 1 };
  return { core, store, entity, agent, certBytes, peer };
}

const sends = (actions: Action[]): WireMessage[] => actions.flatMap((a) => (a.type === 'send' ? [a.msg] : []));

test('gate: an untrusted peer without an invite is refused with ERR_UNTRUSTED', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  const r = a.core.gate({ peer: b.peer, responder: true });
  assert.equal(r, { ok: false, code: 'ERR_UNTRUSTED', msg: 'not trusted: ask for an invite' });
});

test('gate: an invite is redeemed exactly once, then refused as used', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  const c = makeNode('c');
  const { code } = a.store.tx(() => a.core.createInvite(1, 3600_000));
  const inv = decodeInvite(code);
  const h = new Uint8Array(64).fill(1);
  const keyPub = (() => {
    // the invite key is derivable from the secret only
    return inviteKeyPub(inv.secret);
  })();
  const first = a.store.tx(() => a.core.gate({ peer: b.peer, responder: true, invite: { key: keyPub, proof: inviteProof(inv.secret, h, b.entity.publicKey), handshakeHash: h } }));
  assert.equal(first, { ok: true });
  assert.is(a.store.trust.get(b.entity.publicKey)?.how, 'invite');
  const second = a.store.tx(() => a.core.gate({ peer: c.peer, responder: true, invite: { key: keyPub, proof: inviteProof(inv.secret, h, c.entity.publicKey), handshakeHash: h } }));
  assert.is(second.ok, false);
  assert.is(!second.ok && second.code, 'ERR_INVITE_USED');
  assert.not.ok(a.store.trust.get(c.entity.publicKey));
});

test('gate: an expired invite is refused (fake clock, no sleeping)', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  const { code } = a.store.tx(() => a.core.createInvite(1, 60_000));
  const inv = decodeInvite(code);
  const h = new Uint8Array(64).fill(2);
  const saved = clock;
  clock += 61_000;
  const r = a.store.tx(() => a.core.gate({ peer: b.peer, responder: true, invite: { key: inviteKeyPub(inv.secret), proof: inviteProof(inv.secret, h, b.entity.publicKey), handshakeHash: h } }));
  clock = saved;
  assert.is(!r.ok && r.code, 'ERR_INVITE_EXPIRED');
});

test('gate: a proof bound to another handshake or another entity is refused', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  const c = makeNode('c');
  const { code } = a.store.tx(() => a.core.createInvite(5, 60_000));
  const inv = decodeInvite(code);
  const h = new Uint8Array(64).fill(3);
  const otherH = new Uint8Array(64).fill(4);
  const replayed = a.core.gate({ peer: b.peer, responder: true, invite: { key: inviteKeyPub(inv.secret), proof: inviteProof(inv.secret, otherH, b.entity.publicKey), handshakeHash: h } });
  assert.is(!replayed.ok && replayed.code, 'ERR_INVITE_INVALID');
  const stolen = a.core.gate({ peer: c.peer, responder: true, invite: { key: inviteKeyPub(inv.secret), proof: inviteProof(inv.secret, h, b.entity.publicKey), handshakeHash: h } });
  assert.is(!stolen.ok && stolen.code, 'ERR_INVITE_INVALID');
  assert.is(a.store.invites.get(inviteKeyPub(inv.secret))?.usesLeft, 5, 'no use consumed');
});

test('gate: a revoked entity is refused', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  a.store.tx(() => a.core.trustAdd(b.entity.publicKey, 'bob', undefined));
  assert.equal(a.core.gate({ peer: b.peer, responder: true }), { ok: true });
  a.store.tx(() => a.core.trustRevoke(b.entity.publicKey));
  assert.is(a.core.gate({ peer: b.peer, responder: true }).ok, false);
});

function connect(a: Node, b: Node): void {
  a.store.tx(() => a.core.trustAdd(b.entity.publicKey, undefined, undefined));
  b.store.tx(() => b.core.trustAdd(a.entity.publicKey, undefined, undefined));
  a.store.tx(() => a.core.peerUp(1, b.peer));
  b.store.tx(() => b.core.peerUp(1, a.peer));
}

test('send: sealed, signed, delivered once, acked; the duplicate is acked but not shown again', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  connect(a, b);
  // Long enough that sealed bytes cannot contain it by chance (a 2-byte text turned up in
  // ciphertext now and then: a chance of (body length)/65,536 per run).
  const plain = 'hi, a plaintext long enough not to turn up in random bytes';
  const { id, actions } = a.store.tx(() => a.core.send(b.entity.publicKey, 'text', new TextEncoder().encode(plain), undefined));
  const env = sends(actions).find((m) => m.t === MsgType.ENVELOPE) as Envelope;
  assert.ok(env, 'an envelope is sent');
  assert.not.ok(Buffer.from(env.body).includes(Buffer.from(plain)), 'the body is sealed');
  const got = b.store.tx(() => b.core.onMessage(1, env));
  assert.is(got.filter((x) => x.type === 'delivered-to-app').length, 1);
  assert.is(b.store.inbox.count(), 1);
  const ack = sends(got).find((m) => m.t === MsgType.ACK)!;
  const again = b.store.tx(() => b.core.onMessage(1, env));
  assert.is(again.filter((x) => x.type === 'delivered-to-app').length, 0, 'duplicate not shown twice');
  assert.ok(sends(again).some((m) => m.t === MsgType.ACK), 'duplicate acked again');
  assert.is(b.store.inbox.count(), 1);
  const acked = a.store.tx(() => a.core.onMessage(1, ack));
  assert.ok(acked.some((x) => x.type === 'outbox-state' && x.state === 'delivered'));
  assert.is(a.store.outbox.get(id)?.state, 'delivered');
});

test('receive: a tampered body or broken hop signature is dropped and counted', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  connect(a, b);
  const { actions } = a.store.tx(() => a.core.send(b.entity.publicKey, 'text', new TextEncoder().encode('x'), undefined));
  const env = sends(actions).find((m) => m.t === MsgType.ENVELOPE) as Envelope;
  const body = new Uint8Array(env.body);
  body[body.length - 1]! ^= 1;
  const r1 = b.store.tx(() => b.core.onMessage(1, { ...env, body }));
  assert.ok(r1.some((x) => x.type === 'metric' && x.name === 'dropped.ERR_BAD_SIGNATURE'), 'hop signature covers the body');
  const hop = { ...env.hops[0]!, s: new Uint8Array(64) };
  const r2 = b.store.tx(() => b.core.onMessage(1, { ...env, hops: [hop] }));
  assert.ok(r2.some((x) => x.type === 'metric' && x.name === 'dropped.ERR_BAD_SIGNATURE'));
  assert.is(b.store.inbox.count(), 0);
});

test('ack: an ack signed by someone other than the recipient is ignored', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  const m = makeNode('m');
  connect(a, b);
  const { id, actions } = a.store.tx(() => a.core.send(b.entity.publicKey, 'text', new TextEncoder().encode('x'), undefined));
  const env = sends(actions).find((x) => x.t === MsgType.ENVELOPE) as Envelope;
  // Mallory receives nothing but forges an ack with her own valid cert.
  connect(m, a);
  const forged = { t: MsgType.ACK, id: env.id, st: 'delivered' as const, by: m.agent.publicKey, s: new Uint8Array(64), c: m.certBytes };
  a.store.tx(() => a.core.onMessage(1, forged));
  assert.is(a.store.outbox.get(id)?.state, 'sent');
});

test('send while the recipient is offline: queued, then flushed when it connects', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  a.store.tx(() => a.core.trustAdd(b.entity.publicKey, undefined, '127.0.0.1:9'));
  const { id, actions } = a.store.tx(() => a.core.send(b.entity.publicKey, 'text', new TextEncoder().encode('later'), undefined));
  assert.ok(actions.some((x) => x.type === 'dial'), 'asks to dial');
  assert.is(a.store.outbox.get(id)?.state, 'queued');
  // b comes up; its cert becomes known on peer-up and the outbox is flushed.
  b.store.tx(() => b.core.trustAdd(a.entity.publicKey, undefined, undefined));
  const up = a.store.tx(() => a.core.peerUp(7, b.peer));
  const env = sends(up).find((m) => m.t === MsgType.ENVELOPE) as Envelope;
  assert.ok(env);
  b.store.tx(() => b.core.peerUp(7, a.peer));
  const got = b.store.tx(() => b.core.onMessage(7, env));
  assert.ok(got.some((x) => x.type === 'delivered-to-app'));
});

test('sending trusts the recipient for replies', () => {
  const a = makeNode('a');
  const b = makeNode('b');
  a.store.tx(() => a.core.send(b.entity.publicKey, 'text', new TextEncoder().encode('x'), undefined));
  assert.is(a.store.trust.get(b.entity.publicKey)?.how, 'sent');
  assert.equal(a.core.gate({ peer: b.peer, responder: true }), { ok: true });
});

import { inviteKeyFromSecret } from '../../agent/identity/index.js';
function inviteKeyPub(secret: Uint8Array): Uint8Array {
  return inviteKeyFromSecret(secret).publicKey;
}

test.run();
