/**
 * X25519 key agreement via node:crypto, with raw 32-byte keys wrapped in DER KeyObjects.
 * Rejects an all-zero shared secret (low-order peer point).
 *
 * Long-lived secret keys (our own box key) are imported once and cached; short-lived ones
 * (ratchet and onion ephemerals, which must be forgotten once used) go through the
 * `ephemeral` variants, which never enter the cache.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { WotError } from '../wire/errors.js';
import { asU8, concatBytes } from './bytes.js';
import { randomBytes } from './hash.js';

export interface BoxKey {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

// DER prefixes for raw X25519 keys (RFC 8410).
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

// Importing a key costs far more than using it: keep the KeyObjects of recent secret keys
// (our own box key opens every message) and import public keys from JWK (the fast path).
const privCache = new Map<string, KeyObject>();
function privateKeyObject(sk: Uint8Array, cache = true): KeyObject {
  if (!cache) return createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, sk)), format: 'der', type: 'pkcs8' });
  const k = Buffer.from(sk).toString('base64');
  let ko = privCache.get(k);
  if (!ko) {
    ko = createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, sk)), format: 'der', type: 'pkcs8' });
    if (privCache.size >= 1024) privCache.delete(privCache.keys().next().value!);
    privCache.set(k, ko);
  }
  return ko;
}

function publicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(pub).toString('base64url') }, format: 'jwk' });
}

export function generateBoxKey(): BoxKey {
  return boxKeyFromSecret(randomBytes(32));
}

/** A fresh key pair whose secret is never cached (ratchet and onion ephemerals). */
export function generateEphemeralBoxKey(): BoxKey {
  return boxKeyFromSecret(randomBytes(32), false);
}

/** The key pair of secret `sk`; `cache: false` keeps the secret out of the KeyObject cache. */
export function boxKeyFromSecret(sk: Uint8Array, cache = true): BoxKey {
  if (!(sk instanceof Uint8Array) || sk.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', 'X25519 secret key must be 32 bytes');
  }
  const secretKey = Uint8Array.from(sk);
  const spki = createPublicKey(privateKeyObject(secretKey, cache)).export({ format: 'der', type: 'spki' });
  const publicKey = Uint8Array.from(asU8(spki).subarray(spki.length - 32));
  return Object.freeze({ secretKey, publicKey });
}

/** x25519 with a secret that must not be cached (an ephemeral or ratchet key). */
export function x25519Ephemeral(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return x25519(secretKey, publicKey, false);
}

/** Raw X25519 shared secret; throws ERR_BAD_FIELD on wrong lengths or a low-order peer point. */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array, cache = true): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', 'X25519 secret key must be 32 bytes');
  }
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', `X25519 public key must be 32 bytes, got ${publicKey?.length}`);
  }
  let shared: Uint8Array;
  try {
    const pub = publicKeyObject(publicKey);
    shared = asU8(diffieHellman({ privateKey: privateKeyObject(secretKey, cache), publicKey: pub }));
  } catch {
    // OpenSSL refuses to derive an all-zero secret itself.
    throw new WotError('ERR_BAD_FIELD', 'X25519 public key is a low-order point (shared secret would be zero)');
  }
  let acc = 0;
  for (const b of shared) acc |= b;
  if (acc === 0) {
    throw new WotError('ERR_BAD_FIELD', 'X25519 public key is a low-order point (shared secret would be zero)');
  }
  return shared;
}
