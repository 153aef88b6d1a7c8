/**
 * Ed25519 signatures with domain separation. Signing and verification use libsodium
 * (sodium.ts) when it loads, else node:crypto (OpenSSL) with cached KeyObjects; strict
 * public-key validation (canonical encoding, not of small order) uses @noble/ed25519, and
 * happens before either verifies. Every signature covers `utf8(domain) || 0x00 || msg`.
 */
import {
  createPrivateKey,
  createPublicKey,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { Point } from '@noble/ed25519';
import type { DomainTag } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import { asU8, concatBytes, toHex, utf8 } from './bytes.js';
import { randomBytes } from './hash.js';
import { sodium } from './sodium.js';

export interface SigningKey {
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

// DER prefixes for raw Ed25519 keys (RFC 8410).
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/** Private KeyObjects, one per SigningKey object (the object is frozen and owns a copy of the seed). */
const privateKeys = new WeakMap<SigningKey, KeyObject>();

/** A small bounded LRU map (insertion order of Map = recency). */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }
}

// Sized for an agent with 10,000 neighbours (and the simulator's 10,000 agents in one process):
// a smaller cache thrashes and every verification re-imports its key.
const publicKeys = new Lru<KeyObject>(32_768);
const strictCache = new Lru<boolean>(32_768);

export function generateSigningKey(): SigningKey {
  return signingKeyFromSeed(randomBytes(32));
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new WotError('ERR_BAD_FIELD', 'Ed25519 seed must be 32 bytes');
  }
  const ownSeed = Uint8Array.from(seed);
  const priv = createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, ownSeed)), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  const publicKey = Uint8Array.from(asU8(spki).subarray(spki.length - 32));
  const key: SigningKey = Object.freeze({ seed: ownSeed, publicKey });
  privateKeys.set(key, priv);
  return key;
}

function privateKeyObject(key: SigningKey): KeyObject {
  let ko = privateKeys.get(key);
  if (ko === undefined) {
    // A SigningKey built elsewhere (e.g. a plain object literal): derive and cache.
    if (!(key.seed instanceof Uint8Array) || key.seed.length !== 32) {
      throw new WotError('ERR_BAD_FIELD', 'Ed25519 seed must be 32 bytes');
    }
    // JWK import is much faster than DER; x must match d (it does for every SigningKey we make).
    ko = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(key.seed).toString('base64url'), x: Buffer.from(key.publicKey).toString('base64url') },
      format: 'jwk',
    });
    privateKeys.set(key, ko);
  }
  return ko;
}

function domainMessage(domain: DomainTag, msg: Uint8Array): Uint8Array {
  return concatBytes(utf8(domain), Uint8Array.of(0), msg);
}

/** libsodium secret keys (seed || public key), one per SigningKey object. */
const sodiumKeys = new WeakMap<SigningKey, Uint8Array>();

/** 64-byte Ed25519 signature over `utf8(domain) || 0x00 || msg`. */
export function sign(key: SigningKey, domain: DomainTag, msg: Uint8Array): Uint8Array {
  if (sodium) {
    let sk = sodiumKeys.get(key);
    if (sk === undefined) {
      // Check the pair once (a SigningKey built elsewhere could carry a wrong public key).
      if (!(key.seed instanceof Uint8Array) || key.seed.length !== 32) throw new WotError('ERR_BAD_FIELD', 'Ed25519 seed must be 32 bytes');
      const derived = createPublicKey(privateKeyObject(key)).export({ format: 'jwk' }).x;
      if (derived !== Buffer.from(key.publicKey).toString('base64url')) throw new WotError('ERR_BAD_FIELD', 'Ed25519 public key does not belong to the seed');
      sk = concatBytes(key.seed, key.publicKey);
      sodiumKeys.set(key, sk);
    }
    const sig = new Uint8Array(64);
    sodium.crypto_sign_detached(sig, domainMessage(domain, msg), sk);
    return sig;
  }
  return asU8(nodeSign(null, domainMessage(domain, msg), privateKeyObject(key)));
}

/**
 * True only for a 32-byte canonical encoding (y < p, no negative zero) of a curve point
 * that is not of small order.
 */
export function isStrictPublicKey(pub: Uint8Array): boolean {
  if (!(pub instanceof Uint8Array) || pub.length !== 32) return false;
  const k = toHex(pub);
  const cached = strictCache.get(k);
  if (cached !== undefined) return cached;
  let ok: boolean;
  try {
    const p = Point.fromBytes(pub, false);
    ok = !p.isSmallOrder();
  } catch {
    ok = false;
  }
  strictCache.set(k, ok);
  return ok;
}

/** Verifies a domain-separated signature; false (never throws) on any problem. */
export function verify(publicKey: Uint8Array, domain: DomainTag, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    if (!(sig instanceof Uint8Array) || sig.length !== 64) return false;
    if (!(msg instanceof Uint8Array)) return false;
    if (!isStrictPublicKey(publicKey)) return false;
    if (sodium) return sodium.crypto_sign_verify_detached(sig, domainMessage(domain, msg), publicKey);
    const k = toHex(publicKey);
    let ko = publicKeys.get(k);
    if (ko === undefined) {
      ko = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
      publicKeys.set(k, ko);
    }
    return nodeVerify(null, domainMessage(domain, msg), ko, sig);
  } catch {
    return false;
  }
}
