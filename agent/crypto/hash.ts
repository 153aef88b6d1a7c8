/**
/**
 * Hashing, key derivation and randomness for wotrelay: SHA-256 (libsodium when it loads,
 * else node:crypto), HMAC-SHA256, HKDF-SHA256 (RFC 5869) and a CSPRNG via node:crypto.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac, hkdfSync, randomBytes as nodeRandomBytes } from 'node:crypto';
import { WotError } from '../wire/errors.js';
import { asU8, offHeap } from './bytes.js';
import { sodium } from './sodium.js';

/**
 * node:crypto's one-shot hash (Node ≥ 20.12): one native call instead of create, update per
 * part and digest; hashing is on the hot path of relays and recipients (hop chains, batch
 * proofs). Undefined on older Node 20 releases, which then use createHash.
 */
const oneShot: ((algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer) | undefined = (nodeCrypto as { hash?: (a: string, d: Uint8Array, e: 'buffer') => Buffer }).hash;

/**
 * Which backend hashes what (measured, test/bench/README.md): libsodium's SHA-256 is portable
 * C (about 0.4 µs per 64-byte block here) with a small call cost; OpenSSL uses the CPU's SHA
 * instructions but each one-shot call costs about 2 µs. So inputs up to SMALL bytes (Merkle
 * nodes, leaves, certificate bodies) go to libsodium, longer ones (message bodies) to OpenSSL.
 */
const SMALL = 256;

/**
 * libsodium reads its input from and writes its digest to buffers that live outside the JS
 * heap; a fresh small Uint8Array lives on the heap and V8 moves it out on the first native
 * call, which costs more than the hash. So small inputs are copied into `scratchIn` (one view
 * per length, made once) and the digest is read from `scratchOut`. Hashing is synchronous and
 * calls no other code, so one scratch pair serves every call.
 */
const scratchIn = offHeap(SMALL);
const scratchOut = offHeap(32);
const views: Uint8Array[] = [];
for (let n = 0; n <= SMALL; n++) views.push(scratchIn.subarray(0, n));

/** libsodium's SHA-256 of the first `len` bytes of scratchIn. */
function sodiumDigest(len: number): Uint8Array {
  sodium!.crypto_hash_sha256(scratchOut, views[len]!);
  return scratchOut.slice();
}

/** How many bytes `hashInput` holds. */
export const HASH_INPUT_BYTES = SMALL;

/**
 * The shared off-heap input buffer of small hashes, for callers that hash many small inputs
 * without allocating (Merkle proofs, hop leaves): write the input into its first `len` bytes
 * and call digestInput(len) at once. Every other function of this module may overwrite it.
 */
export const hashInput: Uint8Array = scratchIn;

/**
 * SHA-256 of hashInput[0, len), len ≤ HASH_INPUT_BYTES, into a shared 32-byte buffer that is
 * returned: valid only until the next hash of this module, so compare it or copy it at once.
 */
export function digestInput(len: number): Uint8Array {
  if (sodium) {
    sodium.crypto_hash_sha256(scratchOut, views[len]!);
  } else {
    scratchOut.set(oneShot ? oneShot('sha256', views[len]!, 'buffer') : createHash('sha256').update(views[len]!).digest());
  }
  return scratchOut;
}

/** SHA-256 of `data` (one part). */
export function sha256One(data: Uint8Array): Uint8Array {
  if (sodium && data.length <= SMALL) {
    scratchIn.set(data, 0);
    return sodiumDigest(data.length);
  }
  if (oneShot) return asU8(oneShot('sha256', data, 'buffer'));
  if (sodium) {
    const out = new Uint8Array(32);
    sodium.crypto_hash_sha256(out, data);
    return out;
  }
  return asU8(createHash('sha256').update(data).digest());
}

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return sha256One(parts[0]!);
  let len = 0;
  for (const p of parts) len += p.length;
  if (sodium && len <= SMALL) {
    let off = 0;
    for (const p of parts) {
      scratchIn.set(p, off);
      off += p.length;
    }
    return sodiumDigest(len);
  }
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
  return hmacParts(key, parts).slice();
}

const BLOCK = 64;
/** The longest message HMAC'd in scratchIn: a block of padded key, then the message. */
const HMAC_SMALL = SMALL - BLOCK;

/**
 * HMAC-SHA256 of `parts` under `key`. Short keys and messages (every ratchet step: chain
 * keys, HKDF blocks) take two libsodium hashes in scratchIn (wiped after), an HKDF about
 * 40 % cheaper than node:crypto's hkdfSync; the result is scratchOut (copy it before the next
 * hash). Anything else goes to node:crypto.
 */
function hmacParts(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  if (!sodium || key.length > BLOCK || len > HMAC_SMALL) {
    const h = createHmac('sha256', key);
    for (const p of parts) h.update(p);
    scratchOut.set(h.digest());
    return scratchOut;
  }
  padKey(key, 0x36);
  let at = BLOCK;
  for (const p of parts) {
    scratchIn.set(p, at);
    at += p.length;
  }
  sodium.crypto_hash_sha256(scratchOut, views[at]!);
  padKey(key, 0x5c);
  scratchIn.set(scratchOut, BLOCK);
  sodium.crypto_hash_sha256(scratchOut, views[BLOCK + 32]!);
  // The padded key and the message are secrets (chain keys, agreements): not left behind.
  scratchIn.fill(0, 0, Math.max(at, BLOCK + 32));
  return scratchOut;
}

/** scratchIn[0, 64) = key, zero-padded to a block, XOR `pad` (RFC 2104's ipad or opad). */
function padKey(key: Uint8Array, pad: number): void {
  scratchIn.fill(pad, 0, BLOCK);
  for (let i = 0; i < key.length; i++) scratchIn[i] = key[i]! ^ pad;
}

const utf8 = new TextEncoder();

/** HKDF-SHA256 (extract and expand) producing `length` bytes; a string `info` is UTF-8 encoded. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new WotError('ERR_BAD_FIELD', `hkdf length must be 1..8160, got ${String(length)}`);
  }
  const infoBytes = typeof info === 'string' ? utf8.encode(info) : info;
  if (!sodium || salt.length > BLOCK || 32 + infoBytes.length + 1 > HMAC_SMALL) {
    return new Uint8Array(hkdfSync('sha256', ikm, salt, infoBytes, length));
  }
  // RFC 5869: PRK = HMAC(salt, IKM); T(i) = HMAC(PRK, T(i-1) | info | i); OKM = T(1) | T(2) | ...
  const prk = hmacParts(salt, [ikm]).slice();
  const out = new Uint8Array(Math.ceil(length / 32) * 32);
  const counter = new Uint8Array(1);
  let prev = out.subarray(0, 0);
  for (let at = 0; at < length; at += 32) {
    counter[0] = at / 32 + 1;
    out.set(hmacParts(prk, [prev, infoBytes, counter]), at);
    prev = out.subarray(at, at + 32);
  }
  prk.fill(0);
  return length === out.length ? out : out.slice(0, length);
}

export function randomBytes(n: number): Uint8Array {
  return asU8(nodeRandomBytes(n));
}
