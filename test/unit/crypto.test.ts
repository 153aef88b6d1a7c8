/**
 * Unit tests for agent/crypto: domain-separated Ed25519 (cross-checked against
 * @noble/ed25519), strict public keys, X25519 (cross-checked against tweetnacl), AEAD,
 * sealed boxes and HKDF (RFC 5869 vectors).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import * as ed from '@noble/ed25519';
import nacl from 'tweetnacl';
import {
  ByteCache,
  aeadOpen,
  aeadSeal,
  boxKeyFromSecret,
  concatBytes,
  counterNonce,
  equalBytes,
  fromBase64url,
  fromHex,
  generateBoxKey,
  generateEphemeralBoxKey,
  generateSigningKey,
  hkdfSha256,
  hmacSha256,
  isCanonicalBoxPublicKey,
  isStrictPublicKey,
  open,
  randomBytes,
  readU64be,
  seal,
  sha256,
  sign,
  signingKeyFromSeed,
  toBase64url,
  toHex,
  u64be,
  utf8,
  verify,
  x25519,
  x25519Ephemeral,
} from '../../agent/crypto/index.js';
import { Domain } from '../../agent/wire/constants.js';
import { isWotError } from '../../agent/wire/errors.js';

ed.hashes.sha512 = (m: Uint8Array) => new Uint8Array(createHash('sha512').update(m).digest());

const msg = utf8('hello wotrelay');

function throwsCode(fn: () => unknown, code: string, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isWotError(e), `${what}: expected a WotError, got ${String(e)}`);
    assert.is(e.code, code, what);
    return;
  }
  assert.unreachable(`${what}: did not throw`);
}

// ---------------------------------------------------------------- bytes

test('bytes: hex and base64url round trip; bad hex and bad base64url throw ERR_BAD_FIELD', () => {
  const b = randomBytes(33);
  assert.equal(fromHex(toHex(b)), b);
  // A view into a larger buffer encodes only its own bytes.
  assert.is(toHex(new Uint8Array([1, 0xab, 0xff, 2]).subarray(1, 3)), 'abff');
  assert.is(toHex(new Uint8Array(0)), '');
  assert.equal(fromBase64url(toBase64url(b)), b);
  assert.ok(fromHex('') instanceof Uint8Array);
  throwsCode(() => fromHex('abc'), 'ERR_BAD_FIELD', 'odd hex');
  throwsCode(() => fromHex('zz'), 'ERR_BAD_FIELD', 'non-hex');
  throwsCode(() => fromBase64url('ab+/'), 'ERR_BAD_FIELD', 'standard base64 chars');
  throwsCode(() => fromBase64url('AAA='), 'ERR_BAD_FIELD', 'padding');
  throwsCode(() => fromBase64url('AB'), 'ERR_BAD_FIELD', 'non-canonical trailing bits');
});

test('bytes: u64be/readU64be round trip and bounds', () => {
  for (const n of [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    const b = u64be(n);
    assert.is(b.length, 8);
    assert.is(readU64be(concatBytes(Uint8Array.of(9), b), 1), n);
  }
  assert.equal(u64be(0x0102030405), Uint8Array.of(0, 0, 0, 1, 2, 3, 4, 5));
  throwsCode(() => u64be(-1), 'ERR_BAD_FIELD', 'negative');
  throwsCode(() => u64be(1.5), 'ERR_BAD_FIELD', 'fraction');
  throwsCode(() => readU64be(new Uint8Array(8).fill(0xff), 0), 'ERR_BAD_FIELD', 'above 2^53');
  throwsCode(() => readU64be(new Uint8Array(7), 0), 'ERR_BAD_FIELD', 'short');
});

test('bytes: equalBytes compares contents and lengths', () => {
  assert.ok(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
  assert.not.ok(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
  assert.not.ok(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)));
  assert.ok(equalBytes(new Uint8Array(0), new Uint8Array(0)));
});

// ---------------------------------------------------------------- ed25519

test('ed25519: sign/verify round trip', () => {
  const k = generateSigningKey();
  const sig = sign(k, Domain.MESSAGE, msg);
  assert.is(sig.length, 64);
  assert.ok(verify(k.publicKey, Domain.MESSAGE, msg, sig));
  assert.not.ok(verify(k.publicKey, Domain.MESSAGE, utf8('hello wotrelaY'), sig), 'other message');
  assert.not.ok(verify(generateSigningKey().publicKey, Domain.MESSAGE, msg, sig), 'other key');
});

test('ed25519: a signature under one domain fails under every other domain', () => {
  const k = generateSigningKey();
  const domains = Object.values(Domain);
  for (const d of domains) {
    const sig = sign(k, d, msg);
    for (const other of domains) assert.is(verify(k.publicKey, other, msg, sig), other === d, `${d} vs ${other}`);
  }
});

test('ed25519: verify returns false (never throws) for wrong lengths and garbage', () => {
  const k = generateSigningKey();
  const sig = sign(k, Domain.HOP, msg);
  assert.not.ok(verify(k.publicKey, Domain.HOP, msg, sig.subarray(0, 63)));
  assert.not.ok(verify(k.publicKey, Domain.HOP, msg, concatBytes(sig, Uint8Array.of(0))));
  assert.not.ok(verify(k.publicKey.subarray(0, 31), Domain.HOP, msg, sig));
  assert.not.ok(verify(new Uint8Array(0), Domain.HOP, msg, sig));
  assert.not.ok(verify(k.publicKey, Domain.HOP, msg, randomBytes(64)));
  assert.not.ok(verify(randomBytes(32), Domain.HOP, msg, randomBytes(64)));
  const flipped = Uint8Array.from(sig);
  flipped[10]! ^= 1;
  assert.not.ok(verify(k.publicKey, Domain.HOP, msg, flipped));
  // S >= L (non-canonical S) must be refused: add the group order to S.
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
  const s2 = s + L;
  const mall = Uint8Array.from(sig);
  for (let i = 0; i < 32; i++) mall[32 + i] = Number((s2 >> BigInt(8 * i)) & 0xffn);
  if (s2 < 2n ** 256n) assert.not.ok(verify(k.publicKey, Domain.HOP, msg, mall), 'malleated S');
});

test('ed25519: node:crypto and @noble/ed25519 agree (same seed → same public key; noble verifies our signature)', () => {
  for (let i = 0; i < 8; i++) {
    const seed = randomBytes(32);
    const k = signingKeyFromSeed(seed);
    assert.equal(k.publicKey, ed.getPublicKey(seed));
    const sig = sign(k, Domain.AGENT_CERT, msg);
    const prefixed = concatBytes(utf8(Domain.AGENT_CERT), Uint8Array.of(0), msg);
    assert.ok(ed.verify(sig, prefixed, k.publicKey, { zip215: false }), 'noble verifies domain-prefixed message');
    assert.not.ok(ed.verify(sig, msg, k.publicKey), 'the raw message alone is not what was signed');
    // And the other way: a noble signature over the prefixed message verifies with ours.
    assert.ok(verify(k.publicKey, Domain.AGENT_CERT, msg, ed.sign(prefixed, seed)));
  }
});

test('ed25519: signingKeyFromSeed copies the seed and rejects wrong lengths', () => {
  const seed = randomBytes(32);
  const k = signingKeyFromSeed(seed);
  const sig1 = sign(k, Domain.ACK, msg);
  seed.fill(0);
  assert.equal(sign(k, Domain.ACK, msg), sig1, 'mutating the input does not change the key');
  throwsCode(() => signingKeyFromSeed(new Uint8Array(31)), 'ERR_BAD_FIELD', 'short seed');
});

// Small-order points (the 8-torsion subgroup) and non-canonical encodings.
const IDENTITY = '0100000000000000000000000000000000000000000000000000000000000000';
const ORDER2 = 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
const ORDER4 = '0000000000000000000000000000000000000000000000000000000000000000';
const ORDER8 = 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a';
const Y_EQ_P = 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
const Y_EQ_P_PLUS_1 = 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
// y = 3 is on the curve and not of small order; p + 3 is its non-canonical encoding.
const Y_3 = '0300000000000000000000000000000000000000000000000000000000000000';
const Y_EQ_P_PLUS_3 = 'f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';

test('ed25519: the small-order test vectors really are of small order (sanity of the vectors)', () => {
  const p8 = ed.Point.fromHex(ORDER8);
  assert.ok(p8.multiplyUnsafe(8n).is0(), 'order divides 8');
  assert.not.ok(p8.multiplyUnsafe(4n).is0(), 'order is exactly 8');
  assert.ok(ed.Point.fromHex(IDENTITY).is0());
});

test('ed25519: small-order public keys are rejected by isStrictPublicKey and verify', () => {
  for (const h of [IDENTITY, ORDER2, ORDER4, ORDER8]) {
    assert.not.ok(isStrictPublicKey(fromHex(h)), h);
    assert.not.ok(verify(fromHex(h), Domain.MESSAGE, msg, randomBytes(64)), h);
  }
  // With A = identity, (R = identity, S = 0) satisfies [S]B = R + [k]A for every message:
  // a permissive (ZIP-215) verifier accepts it, ours must not.
  const forged = concatBytes(fromHex(IDENTITY), new Uint8Array(32));
  const prefixed = concatBytes(utf8(Domain.MESSAGE), Uint8Array.of(0), msg);
  assert.ok(ed.verify(forged, prefixed, fromHex(IDENTITY), { zip215: true }), 'forgery works against a permissive verifier');
  assert.not.ok(verify(fromHex(IDENTITY), Domain.MESSAGE, msg, forged));
});

test('ed25519: non-canonical encodings (y >= p) are rejected by isStrictPublicKey and verify', () => {
  assert.ok(isStrictPublicKey(fromHex(Y_3)), 'canonical y = 3 is accepted');
  assert.ok(ed.Point.fromHex(Y_EQ_P_PLUS_3, true).equals(ed.Point.fromHex(Y_3)), 'p + 3 decodes to the same point when lenient');
  for (const h of [Y_EQ_P, Y_EQ_P_PLUS_1, Y_EQ_P_PLUS_3]) {
    assert.not.ok(isStrictPublicKey(fromHex(h)), h);
    assert.not.ok(verify(fromHex(h), Domain.MESSAGE, msg, randomBytes(64)), h);
  }
  assert.not.ok(isStrictPublicKey(new Uint8Array(31)));
  assert.not.ok(isStrictPublicKey(new Uint8Array(33)));
  assert.ok(isStrictPublicKey(generateSigningKey().publicKey));
  // A point not on the curve (y = 2 has no x) is refused too.
  const notOnCurve = new Uint8Array(32);
  notOnCurve[0] = 2;
  assert.not.ok(isStrictPublicKey(notOnCurve));
});

// ---------------------------------------------------------------- x25519

test('x25519: agrees with tweetnacl (public key and shared secret)', () => {
  for (let i = 0; i < 8; i++) {
    const a = generateBoxKey();
    const b = generateBoxKey();
    assert.equal(a.publicKey, nacl.scalarMult.base(a.secretKey));
    const ab = x25519(a.secretKey, b.publicKey);
    assert.equal(ab, x25519(b.secretKey, a.publicKey));
    assert.equal(ab, nacl.scalarMult(a.secretKey, b.publicKey));
  }
  const sk = randomBytes(32);
  assert.equal(boxKeyFromSecret(sk).publicKey, nacl.scalarMult.base(sk));
});

test('x25519: ephemeral key pairs (onion layers, ratchet) agree with tweetnacl and with the cached path', () => {
  for (let i = 0; i < 16; i++) {
    const e = generateEphemeralBoxKey();
    const b = generateBoxKey();
    assert.equal(e.publicKey, nacl.scalarMult.base(e.secretKey), 'public half of the secret');
    assert.equal(x25519Ephemeral(e, b.publicKey), x25519(b.secretKey, e.publicKey));
    assert.equal(x25519Ephemeral(e, b.publicKey), nacl.scalarMult(e.secretKey, b.publicKey));
    // A copy of the key pair (as read back from the store) is imported for the call and agrees.
    assert.equal(x25519Ephemeral({ secretKey: e.secretKey, publicKey: e.publicKey }, b.publicKey), x25519(b.secretKey, e.publicKey));
  }
});

test('x25519: a low-order peer point throws ERR_BAD_FIELD', () => {
  const a = generateBoxKey();
  const one = new Uint8Array(32);
  one[0] = 1;
  throwsCode(() => x25519(a.secretKey, new Uint8Array(32)), 'ERR_BAD_FIELD', 'all zeros');
  throwsCode(() => x25519(a.secretKey, one), 'ERR_BAD_FIELD', 'u = 1');
  throwsCode(() => x25519(a.secretKey, new Uint8Array(31)), 'ERR_BAD_FIELD', 'short public key');
  throwsCode(() => x25519(new Uint8Array(31), a.publicKey), 'ERR_BAD_FIELD', 'short secret key');
});

test('x25519: a non-canonical peer key (u >= p, or the top bit set) throws ERR_BAD_FIELD, though node:crypto alone would reduce it; isCanonicalBoxPublicKey agrees with u < p at the edges', () => {
  const a = generateBoxKey();
  const b = generateBoxKey();
  const P = (1n << 255n) - 19n;
  const le = (u: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((u >> BigInt(8 * i)) & 0xffn));
  const topBit = Uint8Array.from(b.publicKey);
  topBit[31]! |= 0x80;
  // The same point under another encoding: tweetnacl (like node:crypto) ignores the top bit.
  assert.equal(nacl.scalarMult(a.secretKey, topBit), x25519(a.secretKey, b.publicKey));
  throwsCode(() => x25519(a.secretKey, topBit), 'ERR_BAD_FIELD', 'top bit set');
  throwsCode(() => x25519(a.secretKey, le(P + 9n)), 'ERR_BAD_FIELD', 'u = p + 9 (9, the base point, reduced)');
  assert.equal(x25519(a.secretKey, le(9n)), nacl.scalarMult(a.secretKey, le(9n)), 'its canonical form works');
  const edges = [0n, 9n, P - 20n, P - 2n, P - 1n, P, P + 1n, P + 18n, (1n << 255n) - 1n, 1n << 255n, (1n << 256n) - 1n, (1n << 248n) * 0x7fn, (1n << 248n) * 0x7fn - 1n];
  for (const u of edges) assert.is(isCanonicalBoxPublicKey(le(u)), u < P, `u = ${u.toString(16)}`);
  for (let i = 0; i < 64; i++) {
    const r = randomBytes(32);
    const u = r.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
    assert.is(isCanonicalBoxPublicKey(r), u < P);
  }
  assert.not.ok(isCanonicalBoxPublicKey(new Uint8Array(31)));
});

// ---------------------------------------------------------------- aead

test('aead: round trip; open fails on a flipped bit, wrong ad, wrong nonce, wrong key, short input', () => {
  const key = randomBytes(32);
  const nonce = counterNonce(7);
  const ad = utf8('header');
  const pt = utf8('attack at dawn');
  const ct = aeadSeal(key, nonce, pt, ad);
  assert.is(ct.length, pt.length + 16);
  assert.equal(aeadOpen(key, nonce, ct, ad), pt);
  for (let bit = 0; bit < ct.length * 8; bit += 13) {
    const t = Uint8Array.from(ct);
    t[bit >> 3]! ^= 1 << (bit & 7);
    assert.is(aeadOpen(key, nonce, t, ad), null, `bit ${bit}`);
  }
  assert.is(aeadOpen(key, nonce, ct, utf8('headex')), null, 'wrong ad');
  assert.is(aeadOpen(key, nonce, ct), null, 'missing ad');
  assert.is(aeadOpen(key, counterNonce(8), ct, ad), null, 'wrong nonce');
  assert.is(aeadOpen(randomBytes(32), nonce, ct, ad), null, 'wrong key');
  assert.is(aeadOpen(key, nonce, ct.subarray(0, 15), ad), null, 'short');
  assert.is(aeadOpen(key.subarray(0, 31), nonce, ct, ad), null, 'bad key length does not throw');
  // Empty plaintext still authenticates.
  assert.equal(aeadOpen(key, nonce, aeadSeal(key, nonce, new Uint8Array(0)), undefined), new Uint8Array(0));
});

test('aead: agrees with RFC 8439 section 2.8.2 test vector', () => {
  const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = fromHex('070000004041424344454647');
  const ad = fromHex('50515253c0c1c2c3c4c5c6c7');
  const pt = utf8("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
  const out = aeadSeal(key, nonce, pt, ad);
  assert.is(toHex(out.subarray(out.length - 16)), '1ae10b594f09e26a7e902ecbd0600691');
  assert.is(toHex(out.subarray(0, 16)), 'd31a8d34648e60db7b86afbc53ef7ec2');
});

test('aead: counterNonce is 4 zero bytes then the little-endian u64 counter', () => {
  assert.equal(counterNonce(0), new Uint8Array(12));
  assert.equal(counterNonce(0x0102030405), Uint8Array.of(0, 0, 0, 0, 5, 4, 3, 2, 1, 0, 0, 0));
  assert.equal(counterNonce(2 ** 53 - 1), Uint8Array.of(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0));
  throwsCode(() => counterNonce(-1), 'ERR_BAD_FIELD', 'negative counter');
});

// ---------------------------------------------------------------- seal

test('seal: round trip; fails on tamper, wrong key, wrong ad, truncation', () => {
  const r = generateBoxKey();
  const ad = utf8('msg-id');
  const pt = utf8('for your eyes only');
  const s = seal(r.publicKey, pt, ad);
  assert.is(s.length, 32 + pt.length + 16);
  assert.equal(open(r, s, ad), pt);
  assert.not.equal(toHex(seal(r.publicKey, pt, ad)), toHex(s), 'fresh ephemeral each call');
  for (const i of [0, 31, 32, s.length - 1]) {
    const t = Uint8Array.from(s);
    t[i]! ^= 0x40;
    assert.is(open(r, t, ad), null, `byte ${i}`);
  }
  assert.is(open(generateBoxKey(), s, ad), null, 'wrong key');
  assert.is(open(r, s, utf8('msg-iD')), null, 'wrong ad');
  assert.is(open(r, s.subarray(0, 47), ad), null, 'truncated');
  // A low-order ephemeral key makes open fail cleanly (no throw).
  assert.is(open(r, concatBytes(new Uint8Array(32), s.subarray(32)), ad), null, 'low-order ephemeral');
});

test('seal: sealing to a low-order recipient key throws', () => {
  throwsCode(() => seal(new Uint8Array(32), utf8('x'), new Uint8Array(0)), 'ERR_BAD_FIELD', 'zero recipient');
});

// ---------------------------------------------------------------- hash

test('hkdf: RFC 5869 test case 1 (SHA-256)', () => {
  const ikm = fromHex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b');
  const salt = fromHex('000102030405060708090a0b0c');
  const info = fromHex('f0f1f2f3f4f5f6f7f8f9');
  assert.is(
    toHex(hkdfSha256(ikm, salt, info, 42)),
    '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  );
});

test('hkdf: RFC 5869 test case 3 (empty salt and info)', () => {
  const ikm = fromHex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b');
  assert.is(
    toHex(hkdfSha256(ikm, new Uint8Array(0), '', 42)),
    '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  );
});

test('hkdf: RFC 5869 test case 2 (80-byte salt, IKM and info: longer than a block)', () => {
  const seq = (from: number) => Uint8Array.from({ length: 80 }, (_, i) => from + i);
  assert.is(
    toHex(hkdfSha256(seq(0x00), seq(0x60), seq(0xb0), 82)),
    'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
  );
});

test('hmac and hkdf: key, message and output lengths on both sides of the block and scratch limits match node:crypto', () => {
  const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + 1) & 0xff);
  for (const kl of [0, 1, 31, 32, 33, 63, 64, 65, 100]) {
    for (const ml of [0, 1, 32, 191, 192, 193, 300]) {
      const key = bytes(kl, 1);
      const msg = bytes(ml, 2);
      const want = toHex(createHmac('sha256', key).update(msg).digest());
      assert.is(toHex(hmacSha256(key, msg)), want, `hmac key ${kl} msg ${ml}`);
      assert.is(toHex(hmacSha256(key, msg.subarray(0, ml >> 1), msg.subarray(ml >> 1))), want, `hmac in parts, key ${kl} msg ${ml}`);
    }
  }
  for (const sl of [0, 32, 64, 65]) {
    for (const il of [0, 20, 158, 159, 200]) {
      for (const len of [1, 31, 32, 33, 44, 64, 100]) {
        const ikm = bytes(32, 3);
        const salt = bytes(sl, 4);
        const info = bytes(il, 5);
        assert.is(toHex(hkdfSha256(ikm, salt, info, len)), toHex(new Uint8Array(hkdfSync('sha256', ikm, salt, info, len))), `hkdf salt ${sl} info ${il} len ${len}`);
      }
    }
  }
  assert.is(toHex(hkdfSha256(bytes(32, 6), bytes(32, 7), 'wotrelay/v1/ratchet-mk', 44)), toHex(new Uint8Array(hkdfSync('sha256', bytes(32, 6), bytes(32, 7), 'wotrelay/v1/ratchet-mk', 44))), 'string info is UTF-8');
});

test('sha256: hashes the concatenation of its parts (FIPS 180 "abc")', () => {
  const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
  assert.is(toHex(sha256(utf8('abc'))), abc);
  assert.is(toHex(sha256(utf8('a'), utf8(''), utf8('bc'))), abc);
  assert.is(randomBytes(17).length, 17);
});

test('sha256: every length around the small-input/OpenSSL switch and the block edges matches node:crypto, in parts or whole', () => {
  const data = randomBytes(20_000);
  for (const n of [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 255, 256, 257, 700, 16_384, 16_385, 20_000]) {
    const want = createHash('sha256').update(data.subarray(0, n)).digest('hex');
    assert.is(toHex(sha256(data.subarray(0, n))), want, `one part of ${n} bytes`);
    const cut = Math.floor(n / 3);
    assert.is(toHex(sha256(data.subarray(0, cut), data.subarray(cut, 2 * cut), data.subarray(2 * cut, n))), want, `three parts of ${n} bytes`);
  }
  // Digests are fresh arrays, not views of a buffer the next call overwrites.
  const a = sha256(utf8('a'));
  const b = sha256(utf8('b'));
  assert.is(toHex(a), createHash('sha256').update('a').digest('hex'));
  assert.not.ok(a.buffer === b.buffer && a.byteOffset === b.byteOffset);
});

test('ByteCache: a hit needs the exact bytes; entries sharing the look-up bits take turns; the bound holds', () => {
  const cache = new ByteCache<{ bytes: Uint8Array; n: number }>(8, (e) => e.bytes, 2);
  const a = { bytes: Uint8Array.of(9, 9, 1, 2, 3, 4, 5), n: 1 };
  cache.set(a);
  assert.is(cache.get(Uint8Array.of(9, 9, 1, 2, 3, 4, 5)), a, 'same bytes, another array: the stored entry');
  assert.is(cache.get(Uint8Array.of(9, 9, 1, 2, 3, 4, 6)), undefined, 'a byte after the look-up bits changed');
  assert.is(cache.get(Uint8Array.of(8, 9, 1, 2, 3, 4, 5)), undefined, 'a byte before them changed');
  assert.is(cache.get(Uint8Array.of(9, 9, 1, 2, 3, 4)), undefined, 'one byte short');
  assert.is(cache.get(Uint8Array.of(9, 9, 1)), undefined, 'too short to have a key');
  // Same look-up bits (bytes 2..5 but the last two bits), different bytes: never the other's entry.
  const b = { bytes: Uint8Array.of(0, 0, 1, 2, 3, 7, 5), n: 2 };
  cache.set(b);
  assert.is(cache.get(b.bytes), b);
  assert.is(cache.get(a.bytes), undefined, 'a gave way to b');
  // The bound: never more than 8 entries, however many go in; one that keeps being used stays.
  const kept = { bytes: Uint8Array.of(0, 0, 200, 0, 0, 0), n: -1 };
  cache.set(kept);
  for (let i = 0; i < 1000; i++) {
    cache.set({ bytes: Uint8Array.of(0, 0, i >> 8, i & 255, 7, 7), n: i });
    assert.ok(cache.size <= 8, `size ${cache.size} after ${i + 1}`);
    assert.is(cache.get(kept.bytes), kept, `the entry in use is still there after ${i + 1}`);
  }
  assert.is(cache.get(Uint8Array.of(0, 0, 0, 0, 7, 7)), undefined, 'the oldest unused entries are gone');
  assert.is(cache.get(Uint8Array.of(0, 0, 999 >> 8, 999 & 255, 7, 7))?.n, 999, 'the newest is there');
  // delete drops exactly the entry of those bytes, in either generation; not one that only shares its look-up bits.
  const c2 = new ByteCache<{ bytes: Uint8Array; n: number }>(4, (e) => e.bytes, 2);
  const x = { bytes: Uint8Array.of(1, 1, 5, 5, 5, 5), n: 1 };
  const y = { bytes: Uint8Array.of(1, 1, 6, 6, 6, 6), n: 2 };
  c2.set(x);
  c2.set(y);
  c2.set({ bytes: Uint8Array.of(1, 1, 7, 7, 7, 7), n: 3 }); // x and y move to the old generation
  c2.delete(Uint8Array.of(2, 2, 5, 5, 5, 5));
  assert.is(c2.get(x.bytes), x, 'same look-up bits, other bytes: x stays');
  c2.delete(Uint8Array.of(1, 1, 5, 5, 5, 5));
  assert.is(c2.get(x.bytes), undefined, 'x deleted (young)');
  c2.delete(y.bytes);
  assert.is(c2.get(y.bytes), undefined, 'y deleted (old)');
  cache.clear();
  assert.is(cache.size, 0);
  assert.throws(() => new ByteCache(1, (e: Uint8Array) => e));
});

test.run();
