/**
/**
 * Hashing, key derivation and randomness for wotrelay: SHA-256 (libsodium when it loads,
 * else node:crypto), HMAC-SHA256, HKDF-SHA256 (RFC 5869) and a CSPRNG via node:crypto.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac, hkdfSync, randomBytes as nodeRandomBytes } from 'node:crypto';
import { WotError } from '../wire/errors.js';
import { asU8 } from './bytes.js';
import { sodium } from './sodium.js';

/**
 * node:crypto's one-shot hash (Node ≥ 20.12): one native call instead of create, update per
 * part and digest; hashing is on the hot path of relays and recipients (hop chains, batch
 * proofs). Undefined on older Node 20 releases, which then use createHash.
 */
const oneShot: ((algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer) | undefined = (nodeCrypto as { hash?: (a: string, d: Uint8Array, e: 'buffer') => Buffer }).hash;

/** SHA-256 of `data` (one part). */
export function sha256One(data: Uint8Array): Uint8Array {
  if (sodium) {
    const out = new Uint8Array(32);
    sodium.crypto_hash_sha256(out, data);
    return out;
  }
  return asU8(oneShot ? oneShot('sha256', data, 'buffer') : createHash('sha256').update(data).digest());
}

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return sha256One(parts[0]!);
  let len = 0;
  for (const p of parts) len += p.length;
  if ((sodium || oneShot) && len <= 16 * 1024) {
    const buf = new Uint8Array(len);
    let off = 0;
    for (const p of parts) {
      buf.set(p, off);
      off += p.length;
    }
    return sha256One(buf);
  }
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return asU8(h.digest());
}

/** HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under `key`. */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return asU8(h.digest());
}

/** HKDF-SHA256 (extract and expand) producing `length` bytes; a string `info` is UTF-8 encoded. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new WotError('ERR_BAD_FIELD', `hkdf length must be 1..8160, got ${String(length)}`);
  }
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

export function randomBytes(n: number): Uint8Array {
  return asU8(nodeRandomBytes(n));
}
