/**
 * Hashing, key derivation and randomness for wotrelay: SHA-256, HMAC-SHA256, HKDF-SHA256
 * (RFC 5869) and a CSPRNG, all via node:crypto.
 */
import { createHash, createHmac, hkdfSync, randomBytes as nodeRandomBytes } from 'node:crypto';
import { WotError } from '../wire/errors.js';
import { asU8 } from './bytes.js';

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
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
