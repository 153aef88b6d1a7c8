/**
 * Unit tests for agent/identity: bech32m ids (exhaustive single-substitution detection),
 * fingerprints, agent certificates under a fake clock, key-file permissions, the on-disk
 * identity with certificate renewal, invite codes and invite proofs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { generateBoxKey, generateSigningKey, randomBytes, sha256, signingKeyFromSeed, utf8 } from '../../agent/crypto/index.js';
import {
  CERT_BYTES,
  CERT_CLOCK_SKEW_MS,
  certCacheStats,
  createIdentity,
  decodeAgentId,
  decodeCanonicalEntityId,
  decodeCertUnverified,
  decodeEntityId,
  decodeInvite,
  encodeAgentId,
  encodeEntityId,
  encodeInvite,
  fingerprint,
  identityExists,
  inviteKeyFromSecret,
  inviteProof,
  isEntityId,
  issueCert,
  loadIdentity,
  readKeyFile,
  shortId,
  verifyCert,
  verifyInviteProof,
  writeKeyFile,
  type InviteCode,
} from '../../agent/identity/index.js';
import { isWotError, type WotError } from '../../agent/wire/errors.js';

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const DAY = 24 * 3600 * 1000;
const T0 = Date.UTC(2030, 0, 1);

function catchWot(fn: () => unknown, what: string): WotError {
  try {
    fn();
  } catch (e) {
    if (isWotError(e)) return e;
    throw new Error(`${what}: expected a WotError, got ${String(e)}`);
  }
  throw new Error(`${what}: did not throw`);
}

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'wotrelay-identity-test-'));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------- ids

test('ids: entity and agent ids round trip, have the documented shape and hrp', () => {
  const pub = generateSigningKey().publicKey;
  const e = encodeEntityId(pub);
  const a = encodeAgentId(pub);
  assert.match(e, /^wot1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/);
  assert.is(e.length, 62);
  assert.match(a, /^wota1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/);
  assert.equal(decodeEntityId(e), pub);
  assert.equal(decodeAgentId(a), pub);
  assert.ok(isEntityId(e));
  assert.not.ok(isEntityId(a));
});

test('ids: bech32m reference vector (BIP-350 style checksum constant) on the all-zero key', () => {
  // Independent check of the checksum: recompute the BIP-350 polymod over the decoded string.
  const e = encodeEntityId(new Uint8Array(32));
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  const vals = [...'wot'].map((c) => c.charCodeAt(0) >> 5).concat([0], [...'wot'].map((c) => c.charCodeAt(0) & 31), [...e.slice(4)].map((c) => CHARSET.indexOf(c)));
  for (const v of vals) {
    const b = chk >>> 25;
    chk = (((chk & 0x1ffffff) << 5) ^ v) >>> 0;
    for (let i = 0; i < 5; i++) if ((b >> i) & 1) chk = (chk ^ GEN[i]!) >>> 0;
  }
  assert.is(chk, 0x2bc830a3);
  assert.is(e.slice(0, 56), 'wot1' + 'q'.repeat(52));
});

test('ids: every single-character substitution at every position is rejected', () => {
  for (const id of [encodeEntityId(generateSigningKey().publicKey), encodeEntityId(new Uint8Array(32))]) {
    let tried = 0;
    for (let pos = 0; pos < id.length; pos++) {
      for (const ch of CHARSET) {
        if (ch === id[pos]) continue;
        const bad = id.slice(0, pos) + ch + id.slice(pos + 1);
        const err = catchWot(() => decodeEntityId(bad), `pos ${pos} -> ${ch}`);
        assert.is(err.code, 'ERR_BAD_ID');
        tried++;
      }
    }
    assert.ok(tried > 62 * 30, `tried ${tried} substitutions`);
  }
});

test('ids: non-zero padding bits under a valid checksum are refused (the canonical fast path as the general one)', () => {
  // 52 data characters carry 260 bits: the last 4 must be zero. Build ids whose last data
  // character sets them, with a correct bech32m checksum (computed here independently).
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  const polymod = (vals: number[]): number => {
    let chk = 1;
    for (const v of vals) {
      const b = chk >>> 25;
      chk = (((chk & 0x1ffffff) << 5) ^ v) >>> 0;
      for (let i = 0; i < 5; i++) if ((b >> i) & 1) chk = (chk ^ GEN[i]!) >>> 0;
    }
    return chk;
  };
  const good = encodeEntityId(generateSigningKey().publicKey);
  const words = [...good.slice(4, 56)].map((c) => CHARSET.indexOf(c));
  for (const pad of [1, 2, 4, 8, 15]) {
    const data = [...words.slice(0, 51), (words[51]! & 0x10) | pad];
    const hrp = [...'wot'].map((c) => c.charCodeAt(0) >> 5).concat([0], [...'wot'].map((c) => c.charCodeAt(0) & 31));
    const pm = polymod([...hrp, ...data, 0, 0, 0, 0, 0, 0]) ^ 0x2bc830a3;
    const check = Array.from({ length: 6 }, (_, i) => (pm >>> (5 * (5 - i))) & 31);
    const id = 'wot1' + [...data, ...check].map((d) => CHARSET[d]).join('');
    assert.is(polymod([...hrp, ...data, ...check]), 0x2bc830a3, 'the checksum is valid');
    for (const form of [id, id.toUpperCase()]) {
      assert.match(catchWot(() => decodeEntityId(form), `padding ${pad}`).message, /does not encode a 32-byte key/);
    }
  }
});

test('ids: decodeCanonicalEntityId gives the key of the canonical form only (into the buffer given), null for what decodeEntityId must word', () => {
  const pub = generateSigningKey().publicKey;
  const id = encodeEntityId(pub);
  assert.equal(decodeCanonicalEntityId(id), pub);
  const out = Buffer.alloc(32, 0xff);
  assert.is(decodeCanonicalEntityId(id, out), out, 'written into the buffer given');
  assert.equal(new Uint8Array(out), pub);
  const c = id[20] === 'q' ? 'p' : 'q';
  for (const other of [id.toUpperCase(), ` ${id}`, `${id} `, id.slice(0, -1), `${id}q`, id.slice(0, 20) + c + id.slice(21), encodeAgentId(pub), id.replace('wot1', 'wot2'), '']) {
    assert.is(decodeCanonicalEntityId(other), null, JSON.stringify(other));
  }
  assert.equal(decodeEntityId(id.toUpperCase()), pub, 'the general path still takes the upper-case form');
  assert.throws(() => decodeCanonicalEntityId(id, new Uint8Array(31)), RangeError);
});

test('ids: a mistyped data character reports a checksum mismatch', () => {
  const id = encodeEntityId(generateSigningKey().publicKey);
  const c = id[20] === 'q' ? 'p' : 'q';
  const err = catchWot(() => decodeEntityId(id.slice(0, 20) + c + id.slice(21)), 'mistyped');
  assert.match(err.message, /checksum mismatch: a character is mistyped/);
});

test('ids: wrong hrp says which kind of id it is', () => {
  const pub = generateSigningKey().publicKey;
  assert.match(catchWot(() => decodeEntityId(encodeAgentId(pub)), 'agent as entity').message, /this is an agent id, not an entity id/);
  assert.match(catchWot(() => decodeAgentId(encodeEntityId(pub)), 'entity as agent').message, /this is an entity id, not an agent id/);
  assert.match(catchWot(() => decodeEntityId('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'), 'bitcoin').message, /starts with 'bc1'/);
});

test('ids: upper case accepted, mixed case and bad characters and lengths refused, whitespace trimmed', () => {
  const pub = generateSigningKey().publicKey;
  const id = encodeEntityId(pub);
  assert.equal(decodeEntityId(id.toUpperCase()), pub);
  assert.equal(decodeEntityId(`  ${id}\n`), pub);
  const mixed = id.slice(0, 10) + id.slice(10).toUpperCase();
  assert.match(catchWot(() => decodeEntityId(mixed), 'mixed').message, /mixes upper and lower case/);
  const withB = id.slice(0, 30) + 'b' + id.slice(31);
  assert.match(catchWot(() => decodeEntityId(withB), 'b').message, /invalid character 'b' at position 31/);
  assert.match(catchWot(() => decodeEntityId(id.slice(0, -1)), 'short').message, /wrong length/);
  assert.match(catchWot(() => decodeEntityId(id + 'q'), 'long').message, /wrong length|checksum/);
  assert.match(catchWot(() => decodeEntityId(''), 'empty').message, /empty/);
  assert.is(catchWot(() => encodeEntityId(new Uint8Array(31)), 'encode short').code, 'ERR_BAD_ID');
});

test('ids (property): decodeEntityId(encodeEntityId(k)) == k for random 32-byte k', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (k) => {
      const back = decodeEntityId(encodeEntityId(k));
      return back.length === 32 && back.every((b, i) => b === k[i]);
    }),
    { numRuns: 500 },
  );
});

test('fingerprint: 4 groups of 4 RFC 4648 base32 characters from the domain-separated hash', () => {
  const pub = generateSigningKey().publicKey;
  const fp = fingerprint(pub);
  assert.match(fp, /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/);
  assert.is(shortId(pub), fp.slice(0, 9));
  assert.is.not(fingerprint(generateSigningKey().publicKey), fp);
  // Independent computation: first 10 bytes of the hash, base32 via bit string.
  const h = sha256(utf8('wotrelay/v1/fingerprint'), pub).subarray(0, 10);
  const bits = [...h].map((b) => b.toString(2).padStart(8, '0')).join('');
  const b32 = bits.match(/.{5}/g)!.map((g) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[parseInt(g, 2)]).join('');
  assert.is(fp.replace(/-/g, ''), b32);
});

// ---------------------------------------------------------------- certs

function makeCert(over: Partial<{ notBefore: number; notAfter: number; seq: number }> = {}) {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const box = generateBoxKey();
  const f = { agent: agent.publicKey, x25519: box.publicKey, notBefore: T0, notAfter: T0 + 30 * DAY, seq: 3, ...over };
  return { entity, agent, box, f, bytes: issueCert(entity, f) };
}

test('cert: issue/verify returns the fields; the layout is 185 bytes with the documented offsets', () => {
  const { entity, agent, box, bytes } = makeCert();
  assert.is(bytes.length, CERT_BYTES);
  const c = verifyCert(bytes, T0 + DAY);
  assert.is(c.version, 1);
  assert.equal(c.entity, entity.publicKey);
  assert.equal(c.agent, agent.publicKey);
  assert.equal(c.x25519, box.publicKey);
  assert.is(c.notBefore, T0);
  assert.is(c.notAfter, T0 + 30 * DAY);
  assert.is(c.seq, 3);
  assert.is(bytes[0], 1);
  assert.equal(bytes.slice(1, 33), entity.publicKey);
  assert.is(bytes[120], 3, 'seq is the last body byte (big-endian)');
  assert.equal(decodeCertUnverified(bytes), c);
});

test('cert: every tampered byte → ERR_BAD_SIGNATURE or ERR_BAD_CERT', () => {
  const { bytes } = makeCert();
  for (let i = 0; i < bytes.length; i++) {
    const t = Uint8Array.from(bytes);
    t[i]! ^= 0x01;
    const err = catchWot(() => verifyCert(t, T0 + DAY), `byte ${i}`);
    assert.ok(err.code === 'ERR_BAD_SIGNATURE' || err.code === 'ERR_BAD_CERT', `byte ${i}: ${err.code}`);
  }
  assert.is(catchWot(() => verifyCert(bytes.subarray(0, 184), T0), 'short').code, 'ERR_BAD_CERT');
  const v2 = Uint8Array.from(bytes);
  v2[0] = 2;
  assert.is(catchWot(() => verifyCert(v2, T0), 'version').code, 'ERR_BAD_CERT');
});

test('cert: a cert signed by another entity key than the one it names fails', () => {
  const { bytes } = makeCert();
  const other = makeCert();
  const swapped = Uint8Array.from(bytes);
  swapped.set(other.entity.publicKey, 1);
  assert.is(catchWot(() => verifyCert(swapped, T0 + DAY), 'swapped entity').code, 'ERR_BAD_SIGNATURE');
});

test('cert: expired / not-yet-valid → ERR_CERT_EXPIRED, honouring the clock-skew tolerance (fake now)', () => {
  const { bytes, f } = makeCert();
  // Inside the tolerance on both sides.
  verifyCert(bytes, f.notBefore - CERT_CLOCK_SKEW_MS);
  verifyCert(bytes, f.notAfter + CERT_CLOCK_SKEW_MS);
  const early = catchWot(() => verifyCert(bytes, f.notBefore - CERT_CLOCK_SKEW_MS - 1), 'too early');
  assert.is(early.code, 'ERR_CERT_EXPIRED');
  assert.ok(early.message.includes(`not valid until ${new Date(f.notBefore).toISOString()}`), early.message);
  const late = catchWot(() => verifyCert(bytes, f.notAfter + CERT_CLOCK_SKEW_MS + 1), 'too late');
  assert.is(late.code, 'ERR_CERT_EXPIRED');
  assert.ok(late.message.includes(`expired at ${new Date(f.notAfter).toISOString()}`), late.message);
  assert.match(late.hint ?? '', /clock|wotrelay init --renew/);
  // A custom skew is honoured.
  assert.is(catchWot(() => verifyCert(bytes, f.notAfter + 1, 0), 'zero skew').code, 'ERR_CERT_EXPIRED');
  verifyCert(bytes, f.notAfter + 5000, 5000);
});

test('cert cache: a repeated certificate is a hit with the same fields; changed bytes miss and fail; the window is checked on every hit', () => {
  const { bytes, f } = makeCert();
  const first = verifyCert(bytes, T0 + DAY);
  const size = certCacheStats().size;
  const again = verifyCert(Uint8Array.from(bytes), T0 + DAY);
  assert.equal(again, first, 'same fields from another copy of the bytes');
  assert.is(certCacheStats().size, size, 'no second entry');
  assert.ok(certCacheStats().size <= certCacheStats().max);
  // Bytes that share the look-up bits (the signature's first bytes) but differ elsewhere.
  for (const i of [5, 40, 100, 130, 184]) {
    const t = Uint8Array.from(bytes);
    t[i]! ^= 0x04;
    const err = catchWot(() => verifyCert(t, T0 + DAY), `byte ${i}`);
    assert.ok(err.code === 'ERR_BAD_SIGNATURE' || err.code === 'ERR_BAD_CERT', `byte ${i}: ${err.code}`);
  }
  assert.equal(verifyCert(bytes, T0 + DAY), first, 'the genuine one still passes');
  assert.is(catchWot(() => verifyCert(bytes, f.notAfter + CERT_CLOCK_SKEW_MS + 1), 'expired, cached').code, 'ERR_CERT_EXPIRED');
  assert.is(catchWot(() => verifyCert(bytes, f.notBefore - CERT_CLOCK_SKEW_MS - 1), 'not yet valid, cached').code, 'ERR_CERT_EXPIRED');
  // A caller changing the returned object does not change what the cache returns.
  (again as { seq: number }).seq = 99;
  assert.is(verifyCert(bytes, T0 + DAY).seq, 3);
});

test('cert: issueCert refuses notBefore > notAfter and a bad agent key', () => {
  const e = generateSigningKey();
  const box = generateBoxKey();
  assert.is(catchWot(() => issueCert(e, { agent: generateSigningKey().publicKey, x25519: box.publicKey, notBefore: 2, notAfter: 1, seq: 1 }), 'order').code, 'ERR_BAD_CERT');
  const identityPoint = new Uint8Array(32);
  identityPoint[0] = 1;
  assert.is(catchWot(() => issueCert(e, { agent: identityPoint, x25519: box.publicKey, notBefore: 1, notAfter: 2, seq: 1 }), 'small order').code, 'ERR_BAD_CERT');
});

// ---------------------------------------------------------------- key files

test('keyfile: written 0600, read back; a 0644 file → ERR_KEY_FILE_PERMS naming the path and chmod 600', () => {
  const dir = tmp();
  const p = join(dir, 'agent.key');
  const seed = randomBytes(32);
  const xs = randomBytes(32);
  writeKeyFile(p, { kind: 'agent', ed25519Seed: seed, x25519Secret: xs });
  assert.is(statSync(p).mode & 0o777, 0o600);
  const text = readFileSync(p, 'utf8');
  assert.ok(text.endsWith('\n'));
  assert.is(JSON.parse(text).type, 'wotrelay-agent-key');
  const back = readKeyFile(p, 'agent');
  assert.equal(back, { kind: 'agent', ed25519Seed: seed, x25519Secret: xs });
  chmodSync(p, 0o644);
  const err = catchWot(() => readKeyFile(p, 'agent'), '0644');
  assert.is(err.code, 'ERR_KEY_FILE_PERMS');
  assert.ok(err.message.includes(p), err.message);
  assert.ok(err.message.includes('chmod 600'), err.message);
  assert.ok(err.message.includes('0644'), err.message);
  assert.is(err.hint, `fix it with: chmod 600 ${p}`);
  chmodSync(p, 0o640);
  assert.is(catchWot(() => readKeyFile(p, 'agent'), '0640').code, 'ERR_KEY_FILE_PERMS');
  chmodSync(p, 0o600);
  readKeyFile(p, 'agent');
});

test('keyfile: overwriting keeps 0600 and leaves no temp files', () => {
  const dir = tmp();
  const p = join(dir, 'entity.key');
  writeKeyFile(p, { kind: 'entity', ed25519Seed: randomBytes(32) });
  const seed = randomBytes(32);
  writeKeyFile(p, { kind: 'entity', ed25519Seed: seed });
  assert.is(statSync(p).mode & 0o777, 0o600);
  assert.equal(readKeyFile(p, 'entity').ed25519Seed, seed);
  assert.equal(readdirSync(dir), ['entity.key']);
});

test('keyfile: a symlink is refused with ERR_KEY_FILE_PERMS', () => {
  const dir = tmp();
  const real = join(dir, 'real.key');
  writeKeyFile(real, { kind: 'entity', ed25519Seed: randomBytes(32) });
  const link = join(dir, 'entity.key');
  symlinkSync(real, link);
  const err = catchWot(() => readKeyFile(link, 'entity'), 'symlink');
  assert.is(err.code, 'ERR_KEY_FILE_PERMS');
  assert.match(err.message, /symlink/);
  assert.ok(err.message.includes(link));
  assert.match(err.hint ?? '', /replace the symlink with the real file/);
});

test('keyfile: missing, bad JSON and wrong type → ERR_KEY_FILE, never echoing key material', () => {
  const dir = tmp();
  const p = join(dir, 'x.key');
  assert.is(catchWot(() => readKeyFile(p, 'entity'), 'missing').code, 'ERR_KEY_FILE');
  const secretish = 'SECRETSECRETSECRET';
  writeFileSync(p, `{"type":"wotrelay-entity-key", ${secretish}`, { mode: 0o600 });
  const bad = catchWot(() => readKeyFile(p, 'entity'), 'bad json');
  assert.is(bad.code, 'ERR_KEY_FILE');
  assert.not.ok(bad.message.includes(secretish));
  writeKeyFile(p, { kind: 'entity', ed25519Seed: randomBytes(32) });
  const wrong = catchWot(() => readKeyFile(p, 'agent'), 'wrong type');
  assert.is(wrong.code, 'ERR_KEY_FILE');
  assert.match(wrong.message, /entity key, expected an agent key/);
  const seedText = JSON.parse(readFileSync(p, 'utf8')).ed25519Seed as string;
  writeFileSync(p, JSON.stringify({ type: 'wotrelay-entity-key', version: 1, ed25519Seed: seedText.slice(0, 20) }), { mode: 0o600 });
  const short = catchWot(() => readKeyFile(p, 'entity'), 'short seed');
  assert.is(short.code, 'ERR_KEY_FILE');
  assert.not.ok(short.message.includes(seedText.slice(0, 20)));
});

// ---------------------------------------------------------------- identity

test('identity: createIdentity/loadIdentity round trip; files and modes as documented', () => {
  const home = join(tmp(), 'home');
  assert.not.ok(identityExists(home));
  const id = createIdentity(home, T0);
  assert.ok(identityExists(home));
  assert.is(statSync(home).mode & 0o777, 0o700);
  assert.is(statSync(join(home, 'entity.key')).mode & 0o777, 0o600);
  assert.is(statSync(join(home, 'agent.key')).mode & 0o777, 0o600);
  assert.is(readFileSync(join(home, 'agent.cert')).length, CERT_BYTES);
  assert.is(id.cert.seq, 1);
  assert.is(id.cert.notAfter - id.cert.notBefore, 365 * DAY);
  const loaded = loadIdentity(home, T0 + DAY);
  assert.equal(loaded.entityPub, id.entityPub);
  assert.equal(loaded.entityKey!.publicKey, id.entityKey!.publicKey);
  assert.equal(loaded.agent.publicKey, id.agent.publicKey);
  assert.equal(loaded.box.publicKey, id.box.publicKey);
  assert.equal(loaded.certBytes, id.certBytes);
  assert.is(loaded.cert.seq, 1);
  const again = catchWot(() => createIdentity(home, T0), 'exists');
  assert.is(again.code, 'ERR_KEY_FILE');
  assert.ok(again.hint !== undefined);
});

test('identity: the cert is renewed near expiry (seq+1, rewritten on disk), not before', () => {
  const home = tmp();
  createIdentity(home, T0, 30 * DAY);
  assert.is(loadIdentity(home, T0 + 22 * DAY).cert.seq, 1, 'more than 7 days left: unchanged');
  const renewed = loadIdentity(home, T0 + 24 * DAY);
  assert.is(renewed.cert.seq, 2);
  assert.is(renewed.cert.notBefore, T0 + 24 * DAY);
  assert.ok(renewed.cert.notAfter > T0 + 300 * DAY);
  assert.equal(new Uint8Array(readFileSync(join(home, 'agent.cert'))), renewed.certBytes);
  // Long expired, still renewable with the entity key present.
  const later = loadIdentity(home, T0 + 1000 * DAY);
  assert.is(later.cert.seq, 3);
});

test('identity: without entity.key an expired cert cannot be renewed → ERR_CERT_EXPIRED', () => {
  const home = tmp();
  const id = createIdentity(home, T0, 30 * DAY);
  unlinkSync(join(home, 'entity.key'));
  const l = loadIdentity(home, T0 + 25 * DAY);
  assert.is(l.entityKey, null);
  assert.equal(l.entityPub, id.entityPub);
  assert.is(l.cert.seq, 1);
  assert.is(catchWot(() => loadIdentity(home, T0 + 60 * DAY), 'expired').code, 'ERR_CERT_EXPIRED');
});

test('identity: a cert that does not match agent.key is refused; loose key perms are refused', () => {
  const home = tmp();
  createIdentity(home, T0);
  const other = tmp();
  createIdentity(other, T0);
  writeFileSync(join(home, 'agent.cert'), readFileSync(join(other, 'agent.cert')));
  assert.is(catchWot(() => loadIdentity(home, T0), 'mismatch').code, 'ERR_BAD_CERT');
  chmodSync(join(other, 'agent.key'), 0o644);
  assert.is(catchWot(() => loadIdentity(other, T0), 'perms').code, 'ERR_KEY_FILE_PERMS');
  assert.ok(existsSync(join(other, 'agent.key')));
});

// ---------------------------------------------------------------- invites

function sampleInvite(): InviteCode {
  return {
    entity: generateSigningKey().publicKey,
    addrs: ['127.0.0.1:4000', '[::1]:4001', 'relay.example.org:443'],
    secret: randomBytes(32),
    expiresAt: T0 + 3600_000,
  };
}

test('invite: encode/decode round trip (IPv6 addresses URL-encoded)', () => {
  const c = sampleInvite();
  const s = encodeInvite(c);
  assert.match(s, /^wotrelay:invite\?v=1&e=wot1[a-z0-9]+&a=127\.0\.0\.1%3A4000&a=%5B%3A%3A1%5D%3A4001&a=relay\.example\.org%3A443&x=\d+&s=[A-Za-z0-9_-]{43}&c=[0-9a-f]{12}$/);
  assert.equal(decodeInvite(s), c);
  assert.equal(decodeInvite(`  ${s}\n`), c);
  const none = { ...c, addrs: [] };
  assert.equal(decodeInvite(encodeInvite(none)), none);
});

test('invite: a changed address character → ERR_INVITE_INVALID saying altered/mistyped', () => {
  const s = encodeInvite(sampleInvite());
  const tampered = s.replace('127.0.0.1%3A4000', '127.0.0.2%3A4000');
  assert.is.not(tampered, s);
  const err = catchWot(() => decodeInvite(tampered), 'tampered');
  assert.is(err.code, 'ERR_INVITE_INVALID');
  assert.match(err.message, /altered or mistyped/);
  // Every single-character change anywhere after the prefix is caught.
  for (let i = 'wotrelay:invite?'.length; i < s.length; i++) {
    const ch = s[i] === 'A' ? 'B' : 'A';
    assert.is(catchWot(() => decodeInvite(s.slice(0, i) + ch + s.slice(i + 1)), `pos ${i}`).code, 'ERR_INVITE_INVALID');
  }
});

test('invite: not an invite, bad version, truncated, bad fields → clear ERR_INVITE_INVALID', () => {
  const c = sampleInvite();
  const s = encodeInvite(c);
  assert.match(catchWot(() => decodeInvite('hello'), 'not invite').message, /not an invite/);
  assert.match(catchWot(() => decodeInvite(s.replace('v=1', 'v=2')), 'version').message, /unsupported invite version 2/);
  assert.match(catchWot(() => decodeInvite(s.slice(0, s.indexOf('&c='))), 'no checksum').message, /checksum/);
  assert.match(catchWot(() => decodeInvite(s.slice(0, -2)), 'cut').message, /altered or mistyped/);
  // Well-formed checksum over bad contents: the field is named.
  const withSum = (head: string) => `${head}&c=${createHash('sha256').update(head).digest('hex').slice(0, 12)}`;
  const head = s.slice(0, s.indexOf('&c='));
  assert.match(catchWot(() => decodeInvite(withSum(head.replace(/&s=[^&]+/, ''))), 'no secret').message, /field s/);
  assert.match(catchWot(() => decodeInvite(withSum(head.replace(/&x=\d+/, '&x=soon'))), 'bad x').message, /field x/);
  assert.match(catchWot(() => decodeInvite(withSum(head.replace(/a=[^&]+/, 'a=nohostport'))), 'bad a').message, /field a/);
  const agentId = encodeAgentId(c.entity);
  assert.match(catchWot(() => decodeInvite(withSum(head.replace(/e=[^&]+/, `e=${agentId}`))), 'agent id').message, /field e.*agent id, not an entity id/);
});

test('invite: proof verifies only for the right handshake hash, acceptor and invite key', () => {
  const secret = randomBytes(32);
  const key = inviteKeyFromSecret(secret);
  assert.equal(key.publicKey, signingKeyFromSeed(sha256(utf8('wotrelay/v1/invite-key'), secret)).publicKey);
  const h = randomBytes(32);
  const acceptor = generateSigningKey().publicKey;
  const proof = inviteProof(secret, h, acceptor);
  assert.ok(verifyInviteProof(key.publicKey, h, acceptor, proof));
  assert.not.ok(verifyInviteProof(key.publicKey, randomBytes(32), acceptor, proof), 'other handshake');
  assert.not.ok(verifyInviteProof(key.publicKey, h, generateSigningKey().publicKey, proof), 'other acceptor');
  assert.not.ok(verifyInviteProof(inviteKeyFromSecret(randomBytes(32)).publicKey, h, acceptor, proof), 'other invite');
  assert.not.ok(verifyInviteProof(key.publicKey, h, acceptor, proof.subarray(1)), 'short proof');
});

test.run();
