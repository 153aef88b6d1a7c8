/**
 * X25519 key agreement via node:crypto, with raw 32-byte keys wrapped in DER KeyObjects.
 * Rejects an all-zero shared secret (low-order peer point); `isStrictBoxPublicKey` checks a
 * public key on its own (canonical and not of low order) before it is stored or used.
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
function privateKeyObject(sk: Uint8Array): KeyObject {
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

export function boxKeyFromSecret(sk: Uint8Array): BoxKey {
  if (!(sk instanceof Uint8Array) || sk.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', 'X25519 secret key must be 32 bytes');
  }
  const secretKey = Uint8Array.from(sk);
  const spki = createPublicKey(privateKeyObject(secretKey)).export({ format: 'der', type: 'spki' });
  const publicKey = Uint8Array.from(asU8(spki).subarray(spki.length - 32));
  return Object.freeze({ secretKey, publicKey });
}

/** Raw X25519 shared secret; throws ERR_BAD_FIELD on wrong lengths or a low-order peer point. */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', 'X25519 secret key must be 32 bytes');
  }
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', `X25519 public key must be 32 bytes, got ${publicKey?.length}`);
  }
  let shared: Uint8Array;
  try {
    const pub = publicKeyObject(publicKey);
    shared = asU8(diffieHellman({ privateKey: privateKeyObject(secretKey), publicKey: pub }));
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

/** 2^255 - 19, the field prime of Curve25519. */
const P25519 = (1n << 255n) - 19n;
/** A fixed scalar for the low-order test: clamped, it is a multiple of 8, so it kills exactly the torsion points. */
const PROBE_SECRET = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 7) & 0xff);

/**
 * True when `pub` is a canonical X25519 public key (32 bytes, top bit clear, u < p) that is
 * not of low order (the shared secret with it would not be zero). Certificates carry only
 * keys that pass, so sealing to a certified key cannot fail later.
 */
export function isStrictBoxPublicKey(pub: Uint8Array): boolean {
  if (!(pub instanceof Uint8Array) || pub.length !== 32) return false;
  let u = 0n;
  for (let i = 31; i >= 0; i--) u = (u << 8n) | BigInt(pub[i]!);
  if (u >= P25519) return false; // also covers the top bit
  try {
    x25519(PROBE_SECRET, pub);
    return true;
  } catch {
    return false;
  }
}
