/**
 * X25519 key agreement via node:crypto, with raw 32-byte keys wrapped in KeyObjects.
 * Every agreement refuses a peer key that is not canonical (u >= p, or the top bit set:
 * node:crypto would reduce it, so one key would have many encodings) and an all-zero shared
 * secret (a low-order peer point): a peer key from the wire is strict before it is used.
 *
 * Importing a key costs far more than using it, and a PKCS#8 (DER) import costs about eight
 * times a JWK import. So: our own long-lived box key is imported once and cached; fresh
 * ephemerals are generated as KeyObjects and keep theirs beside the BoxKey object (a
 * WeakMap: it goes when the BoxKey goes, never into a shared cache); a key pair read back from
 * storage (a ratchet key) is imported from JWK with its known public half. Ephemeral and
 * ratchet secrets never enter the cache, so they can be forgotten.
 *
 * When libsodium loads (sodium.ts), an agreement is its `crypto_scalarmult` on the raw
 * secret instead: no KeyObject at all, 2.2× cheaper than a JWK import plus OpenSSL's
 * agreement and 1.3× cheaper than a cached one (measured here). The same checks apply
 * either way: a non-canonical peer key is refused before, an all-zero secret after.
 *
 * `isStrictBoxPublicKey` checks a public key on its own (canonical and not of low order)
 * before it is stored or used.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { WotError } from '../wire/errors.js';
import { asU8, concatBytes } from './bytes.js';
import { randomBytes } from './hash.js';
import { sodium, type Sodium } from './sodium.js';

export interface BoxKey {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

// DER prefix for a raw X25519 private key (RFC 8410), used when the public half is unknown.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

const b64u = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

function importPrivate(sk: Uint8Array, pub?: Uint8Array): KeyObject {
  if (pub) return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(sk), x: b64u(pub) }, format: 'jwk' });
  return createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, sk)), format: 'der', type: 'pkcs8' });
}

/** Long-lived secret keys (our own box key opens every message): imported once. */
const privCache = new Map<string, KeyObject>();
/** Enough for a simulator of 10,000 agents, each opening with its own key. */
const PRIV_CACHE_MAX = 16_384;
function cachedPrivate(sk: Uint8Array): KeyObject {
  const k = Buffer.from(sk).toString('base64');
  let ko = privCache.get(k);
  if (!ko) {
    ko = importPrivate(sk);
    if (privCache.size >= PRIV_CACHE_MAX) privCache.delete(privCache.keys().next().value!);
    privCache.set(k, ko);
  }
  return ko;
}

/** The KeyObject of a BoxKey made here from a KeyObject (ephemerals), for as long as the BoxKey lives. */
const ownObjects = new WeakMap<BoxKey, KeyObject>();

function publicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(pub) }, format: 'jwk' });
}

export function generateBoxKey(): BoxKey {
  return boxKeyFromSecret(randomBytes(32));
}

/**
 * A fresh key pair whose secret is never cached (ratchet and onion ephemerals): a random
 * secret, its public half from libsodium when it loads (which then also does its agreements:
 * no KeyObject), else from OpenSSL. Not `generateKeyPairSync`: on Node 20, a garbage collection that frees its key
 * generation job while the same key is being exported deadlocks the process (the job's
 * destructor waits for the key's mutex, which the export holds) — seen in the test suite.
 */
export function generateEphemeralBoxKey(): BoxKey {
  const secretKey = randomBytes(32);
  if (!sodium) return boxKeyFromSecret(secretKey, false);
  const publicKey = new Uint8Array(32);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return Object.freeze({ secretKey, publicKey });
}

/** The key pair of secret `sk`; `cache: false` keeps the secret out of the KeyObject cache. */
export function boxKeyFromSecret(sk: Uint8Array, cache = true): BoxKey {
  if (!(sk instanceof Uint8Array) || sk.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', 'X25519 secret key must be 32 bytes');
  }
  const secretKey = Uint8Array.from(sk);
  if (sodium) {
    const publicKey = new Uint8Array(32);
    sodium.crypto_scalarmult_base(publicKey, secretKey);
    return Object.freeze({ secretKey, publicKey });
  }
  const ko = cache ? cachedPrivate(secretKey) : importPrivate(secretKey);
  const spki = createPublicKey(ko).export({ format: 'der', type: 'spki' });
  const publicKey = Uint8Array.from(asU8(spki).subarray(spki.length - 32));
  const box: BoxKey = Object.freeze({ secretKey, publicKey });
  if (!cache) ownObjects.set(box, ko);
  return box;
}

/**
 * X25519 with a key pair whose secret must not be cached (an ephemeral or ratchet key): its
 * own KeyObject when it was made here, else imported (fast, from JWK) for this call only.
 */
export function x25519Ephemeral(own: BoxKey, publicKey: Uint8Array): Uint8Array {
  if (sodium) return deriveSodium(sodium, checkSecret(own.secretKey), publicKey);
  const ko = ownObjects.get(own) ?? importPrivate(checkSecret(own.secretKey), own.publicKey);
  return derive(ko, publicKey);
}

/** Raw X25519 shared secret with a long-lived (cached) secret key; throws ERR_BAD_FIELD on wrong lengths, a non-canonical or a low-order peer point. */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (sodium) return deriveSodium(sodium, checkSecret(secretKey), publicKey);
  return derive(cachedPrivate(checkSecret(secretKey)), publicKey);
}

function checkSecret(secretKey: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', 'X25519 secret key must be 32 bytes');
  }
  return secretKey;
}

function checkPeer(publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', `X25519 public key must be 32 bytes, got ${publicKey?.length}`);
  }
  if (!isCanonicalBoxPublicKey(publicKey)) {
    throw new WotError('ERR_BAD_FIELD', 'X25519 public key is not canonical (u >= 2^255 - 19, or the top bit set)');
  }
}

const LOW_ORDER = 'X25519 public key is a low-order point (shared secret would be zero)';

function deriveSodium(s: Sodium, secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkPeer(publicKey);
  const shared = new Uint8Array(32);
  try {
    s.crypto_scalarmult(shared, secretKey, publicKey);
  } catch {
    // libsodium refuses to return an all-zero secret itself.
    throw new WotError('ERR_BAD_FIELD', LOW_ORDER);
  }
  return nonZero(shared);
}

function derive(privateKey: KeyObject, publicKey: Uint8Array): Uint8Array {
  checkPeer(publicKey);
  let shared: Uint8Array;
  try {
    shared = asU8(diffieHellman({ privateKey, publicKey: publicKeyObject(publicKey) }));
  } catch {
    // OpenSSL refuses to derive an all-zero secret itself.
    throw new WotError('ERR_BAD_FIELD', LOW_ORDER);
  }
  return nonZero(shared);
}

function nonZero(shared: Uint8Array): Uint8Array {
  let acc = 0;
  for (const b of shared) acc |= b;
  if (acc === 0) throw new WotError('ERR_BAD_FIELD', LOW_ORDER);
  return shared;
}

/** A fixed scalar for the low-order test: clamped, it is a multiple of 8, so it kills exactly the torsion points. */
const PROBE_SECRET = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 7) & 0xff);

/**
 * True when `pub` is the one canonical encoding of its u-coordinate: 32 bytes, little-endian
 * u < p = 2^255 - 19 (so the top bit is clear). Cheap (no curve arithmetic); the low-order
 * test is the agreement itself.
 */
export function isCanonicalBoxPublicKey(pub: Uint8Array): boolean {
  if (!(pub instanceof Uint8Array) || pub.length !== 32) return false;
  if (pub[31]! < 0x7f) return true;
  if (pub[31]! > 0x7f) return false;
  // The top byte is 0x7f: u >= p exactly when bytes 30..1 are all 0xff and byte 0 is >= 0xed.
  for (let i = 30; i >= 1; i--) if (pub[i] !== 0xff) return true;
  return pub[0]! < 0xed;
}

/**
 * True when `pub` is a canonical X25519 public key (32 bytes, top bit clear, u < p) that is
 * not of low order (the shared secret with it would not be zero). Certificates carry only
 * keys that pass, so sealing to a certified key cannot fail later. (An agreement with a key
 * that fails throws anyway: this answers the question without an agreement of one's own.)
 */
export function isStrictBoxPublicKey(pub: Uint8Array): boolean {
  if (!isCanonicalBoxPublicKey(pub)) return false;
  try {
    x25519(PROBE_SECRET, pub);
    return true;
  } catch {
    return false;
  }
}
