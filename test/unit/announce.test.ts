/**
 * Unit tests for signed announcements (agent/identity/announce.ts): round trip with exact
 * bytes, tampering, a wrong signing key, certificate expiry, size limits and clock skew,
 * all under a fake clock.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateBoxKey, generateSigningKey, sign, type SigningKey } from '../../agent/crypto/index.js';
import {
  ANNOUNCE_CLOCK_SKEW_MS,
  MAX_ANNOUNCEMENT_BYTES,
  createAnnouncement,
  decodeAnnouncementUnverified,
  issueCert,
  verifyAnnouncement,
} from '../../agent/identity/index.js';
import { Domain } from '../../agent/wire/constants.js';
import { packValue, unpackValue } from '../../agent/wire/codec.js';
import { isWotError, type WotError } from '../../agent/wire/errors.js';

const DAY = 24 * 3600 * 1000;
const T0 = Date.UTC(2030, 0, 1);

interface Who {
  entity: SigningKey;
  agent: SigningKey;
  cert: Uint8Array;
}

function who(notBefore = T0 - DAY, notAfter = T0 + 30 * DAY): Who {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const cert = issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore, notAfter, seq: 1 });
  return { entity, agent, cert };
}

function catchWot(fn: () => unknown, what: string): WotError {
  try {
    fn();
  } catch (e) {
    if (isWotError(e)) return e;
    throw new Error(`${what}: expected a WotError, got ${String(e)}`);
  }
  throw new Error(`${what}: did not throw`);
}

const alice = who();
const relay = generateSigningKey().publicKey;
const mailbox = generateSigningKey().publicKey;

test('round trip: verify returns every field, the signer and the exact bytes', () => {
  const bytes = createAnnouncement(alice.agent, alice.cert, {
    addrs: ['192.0.2.10:7117', '[2001:db8::1]:7117', 'alice.example.org:7117'],
    relays: [relay],
    mailboxes: [mailbox],
    seq: 7,
    ts: T0,
  });
  const a = verifyAnnouncement(bytes, T0);
  assert.equal(a.entity, alice.entity.publicKey);
  assert.equal(a.agent, alice.agent.publicKey);
  assert.equal(a.certBytes, alice.cert);
  assert.equal(a.addrs, ['192.0.2.10:7117', '[2001:db8::1]:7117', 'alice.example.org:7117']);
  assert.equal(a.relays, [relay]);
  assert.equal(a.mailboxes, [mailbox]);
  assert.is(a.seq, 7);
  assert.is(a.ts, T0);
  assert.equal(a.bytes, bytes);
  assert.is(a.cert.seq, 1);
  // Deterministic: the same fields give the same bytes (Ed25519 signatures are deterministic).
  const again = createAnnouncement(alice.agent, alice.cert, {
    addrs: ['192.0.2.10:7117', '[2001:db8::1]:7117', 'alice.example.org:7117'],
    relays: [relay],
    mailboxes: [mailbox],
    seq: 7,
    ts: T0,
  });
  assert.equal(again, bytes);
  // Optional relays/mailboxes default to empty lists; the layout is {b, s} with body keys in order.
  const minimal = createAnnouncement(alice.agent, alice.cert, { addrs: [], seq: 0, ts: T0 });
  const m = verifyAnnouncement(minimal, T0);
  assert.equal(m.relays, []);
  assert.equal(m.mailboxes, []);
  const outer = unpackValue(minimal) as { b: Uint8Array; s: Uint8Array };
  assert.equal(Object.keys(outer), ['b', 's']);
  assert.equal(Object.keys(unpackValue(outer.b) as object), ['v', 'cert', 'addrs', 'relays', 'mailboxes', 'seq', 'ts']);
  assert.equal(decodeAnnouncementUnverified(minimal).entity, alice.entity.publicKey);
});

test('tampered body (one flipped byte anywhere in an address) → ERR_BAD_SIGNATURE', () => {
  const bytes = createAnnouncement(alice.agent, alice.cert, { addrs: ['192.0.2.10:7117'], seq: 1, ts: T0 });
  const outer = unpackValue(bytes) as { b: Uint8Array; s: Uint8Array };
  const body = Uint8Array.from(outer.b);
  const at = Buffer.from(body).indexOf('192.0.2.10');
  assert.ok(at > 0);
  body[at] = '9'.charCodeAt(0); // 992.0.2.10 → still a syntactically valid host
  const forged = packValue({ b: body, s: Uint8Array.from(outer.s) });
  assert.is(catchWot(() => verifyAnnouncement(forged, T0), 'tampered').code, 'ERR_BAD_SIGNATURE');
  // Raising seq without re-signing is caught the same way.
  const raised = unpackValue(Uint8Array.from(outer.b)) as Record<string, unknown>;
  raised['seq'] = 2;
  const forged2 = packValue({ b: packValue(raised), s: Uint8Array.from(outer.s) });
  assert.is(catchWot(() => verifyAnnouncement(forged2, T0), 'seq raised').code, 'ERR_BAD_SIGNATURE');
});

test('wrong key: signed by the entity key, or by another agent, or created with a foreign cert → refused', () => {
  const good = unpackValue(createAnnouncement(alice.agent, alice.cert, { addrs: ['192.0.2.10:7117'], seq: 1, ts: T0 })) as {
    b: Uint8Array;
  };
  const body = Uint8Array.from(good.b);
  for (const [name, key] of [
    ['entity key', alice.entity],
    ['another agent', generateSigningKey()],
  ] as const) {
    const forged = packValue({ b: body, s: sign(key, Domain.ANNOUNCE, body) });
    assert.is(catchWot(() => verifyAnnouncement(forged, T0), name).code, 'ERR_BAD_SIGNATURE', name);
  }
  // Right key, wrong domain tag.
  const wrongDomain = packValue({ b: body, s: sign(alice.agent, Domain.MESSAGE, body) });
  assert.is(catchWot(() => verifyAnnouncement(wrongDomain, T0), 'domain').code, 'ERR_BAD_SIGNATURE');
  // createAnnouncement refuses an agent key that the certificate does not name.
  const bob = who();
  assert.is(catchWot(() => createAnnouncement(bob.agent, alice.cert, { addrs: [], seq: 1, ts: T0 }), 'mismatch').code, 'ERR_KEY_MISMATCH');
  // A certificate whose signature does not check out is refused before the announcement is trusted.
  const badCert = Uint8Array.from(alice.cert);
  badCert[150] = (badCert[150] ?? 0) ^ 1;
  const withBadCert = packValue({ b: packValue({ v: 1, cert: badCert, addrs: [], relays: [], mailboxes: [], seq: 1, ts: T0 }), s: new Uint8Array(64) });
  assert.is(catchWot(() => verifyAnnouncement(withBadCert, T0), 'bad cert').code, 'ERR_BAD_SIGNATURE');
});

test('expired certificate → ERR_CERT_EXPIRED (outside the 10-minute tolerance only)', () => {
  const old = who(T0 - 10 * DAY, T0 - DAY);
  const bytes = createAnnouncement(old.agent, old.cert, { addrs: ['192.0.2.10:7117'], seq: 1, ts: T0 - DAY });
  assert.is(catchWot(() => verifyAnnouncement(bytes, T0), 'expired').code, 'ERR_CERT_EXPIRED');
  assert.is(catchWot(() => verifyAnnouncement(bytes, T0 - DAY + 11 * 60_000), 'just past tolerance').code, 'ERR_CERT_EXPIRED');
  assert.ok(verifyAnnouncement(bytes, T0 - DAY + 5 * 60_000), 'within tolerance');
  const future = who(T0 + DAY, T0 + 10 * DAY);
  const fb = createAnnouncement(future.agent, future.cert, { addrs: [], seq: 1, ts: T0 });
  assert.is(catchWot(() => verifyAnnouncement(fb, T0), 'not yet valid').code, 'ERR_CERT_EXPIRED');
});

test('oversized: over 4 KiB, too many or too long addresses, too many relays → refused with the field named', () => {
  const big = new Uint8Array(MAX_ANNOUNCEMENT_BYTES + 1);
  assert.is(catchWot(() => verifyAnnouncement(big, T0), 'big').code, 'ERR_TOO_LARGE');
  const nine = Array.from({ length: 9 }, (_, i) => `192.0.2.${i}:7117`);
  const e1 = catchWot(() => createAnnouncement(alice.agent, alice.cert, { addrs: nine, seq: 1, ts: T0 }), 'nine');
  assert.is(e1.code, 'ERR_BAD_FIELD');
  assert.match(e1.message, /addrs/);
  const long = `${'a'.repeat(60)}.org:7117`;
  const e2 = catchWot(() => createAnnouncement(alice.agent, alice.cert, { addrs: [long], seq: 1, ts: T0 }), 'long');
  assert.match(e2.message, /addrs\[0\]/);
  const e3 = catchWot(() => createAnnouncement(alice.agent, alice.cert, { addrs: ['no-port'], seq: 1, ts: T0 }), 'no port');
  assert.match(e3.message, /host:port/);
  const keys = Array.from({ length: 9 }, () => relay);
  assert.match(catchWot(() => createAnnouncement(alice.agent, alice.cert, { addrs: [], relays: keys, seq: 1, ts: T0 }), 'relays').message, /relays/);
  // A hand-made body past the limits is refused on verify too (the signature does not help it).
  const body = packValue({ v: 1, cert: alice.cert, addrs: nine, relays: [], mailboxes: [], seq: 1, ts: T0 });
  const signed = packValue({ b: body, s: sign(alice.agent, Domain.ANNOUNCE, body) });
  assert.match(catchWot(() => verifyAnnouncement(signed, T0), 'verify nine').message, /addrs/);
  // Unknown keys and a wrong version are refused.
  const extra = packValue({ v: 1, cert: alice.cert, addrs: [], relays: [], mailboxes: [], seq: 1, ts: T0, x: 1 });
  assert.is(catchWot(() => verifyAnnouncement(packValue({ b: extra, s: sign(alice.agent, Domain.ANNOUNCE, extra) }), T0), 'extra').code, 'ERR_BAD_FIELD');
  const v2 = packValue({ v: 2, cert: alice.cert, addrs: [], relays: [], mailboxes: [], seq: 1, ts: T0 });
  assert.match(catchWot(() => verifyAnnouncement(packValue({ b: v2, s: sign(alice.agent, Domain.ANNOUNCE, v2) }), T0), 'v2').message, /"v"/);
  assert.is(catchWot(() => verifyAnnouncement(new Uint8Array([0xc1]), T0), 'garbage').code, 'ERR_MALFORMED_FRAME');
});

test('future ts: more than 10 minutes ahead → ERR_BAD_FIELD "clock skew"; up to 10 minutes is accepted', () => {
  const ahead = createAnnouncement(alice.agent, alice.cert, { addrs: [], seq: 1, ts: T0 + ANNOUNCE_CLOCK_SKEW_MS + 1000 });
  const e = catchWot(() => verifyAnnouncement(ahead, T0), 'future');
  assert.is(e.code, 'ERR_BAD_FIELD');
  assert.match(e.message, /clock skew/);
  const near = createAnnouncement(alice.agent, alice.cert, { addrs: [], seq: 1, ts: T0 + ANNOUNCE_CLOCK_SKEW_MS });
  assert.is(verifyAnnouncement(near, T0).ts, T0 + ANNOUNCE_CLOCK_SKEW_MS);
});

test.run();
