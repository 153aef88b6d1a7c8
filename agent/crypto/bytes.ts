/**
 * Byte helpers owned by agent/crypto: hex, base64url, concatenation, constant-time
 * comparison, big-endian u64 and UTF-8. All results are plain Uint8Arrays (never Buffers),
 * so deep equality in tests compares like with like.
 */
import { timingSafeEqual } from 'node:crypto';
import { WotError } from '../wire/errors.js';

/**
 * A zeroed array whose bytes live outside the JS heap, for libsodium to read or write. A fresh
 * small Uint8Array (64 bytes or less) lives on the heap, and V8 moves it out on its first
 * native call at a cost larger than a hash or a cipher of a few hundred bytes.
 */
export function offHeap(n: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(n));
}

/** A Uint8Array view over a Buffer's bytes (no copy). */
export function asU8(b: Buffer | Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Node's own hex encoder, called on the Uint8Array itself: `Buffer.from(view).toString('hex')`
 * makes a Buffer object first, which cost 3–4× the encoding for the 16- and 32-byte ids the
 * core turns into map keys on every message (measured: ~800 → ~200 ns). It is what
 * `Buffer#toString('hex')` calls; if a Node version lacks it, the Buffer path is used.
 */
const hexSlice = (Buffer.prototype as unknown as { hexSlice?: (this: Uint8Array, start: number, end: number) => string }).hexSlice;

export function toHex(b: Uint8Array): string {
  return hexSlice !== undefined ? hexSlice.call(b, 0, b.length) : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Strict hex decoding. The offending input is not echoed (it may be secret). */
export function fromHex(s: string): Uint8Array {
  if (typeof s !== 'string' || !HEX_RE.test(s)) {
    throw new WotError('ERR_BAD_FIELD', 'bad hex string: expected an even number of characters 0-9 a-f');
  }
  return asU8(Buffer.from(s, 'hex'));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Equality; constant time in the contents when the lengths match. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return timingSafeEqual(a, b);
}

/**
 * Equality of two byte strings of public data (keys, hashes, signatures), faster than
 * equalBytes on short inputs; not constant time, so never for anything secret. Up to 48 bytes
 * a JS loop (four bytes a turn: about half the time of one a turn), beyond that one native
 * memcmp (about 140 ns whatever the length, where the loop takes 2.4 ns a byte: a 185-byte
 * certificate in a third of the time).
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  if (n > 48) return Buffer.compare(a, b) === 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2] || a[i + 3] !== b[i + 3]) return false;
  }
  for (; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** 8-byte big-endian encoding of a safe integer >= 0. */
export function u64be(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new WotError('ERR_BAD_FIELD', `u64 value must be a safe integer >= 0, got ${String(n)}`);
  }
  const out = new Uint8Array(8);
  const hi = Math.floor(n / 0x1_0000_0000);
  const lo = n % 0x1_0000_0000;
  const dv = new DataView(out.buffer);
  dv.setUint32(0, hi);
  dv.setUint32(4, lo);
  return out;
}

/** Reads a big-endian u64 at `off`; throws ERR_BAD_FIELD if short or above 2^53-1. */
export function readU64be(b: Uint8Array, off: number): number {
  if (!Number.isInteger(off) || off < 0 || off + 8 > b.length) {
    throw new WotError('ERR_BAD_FIELD', `u64 at offset ${off} is out of bounds (${b.length} bytes)`);
  }
  const dv = new DataView(b.buffer, b.byteOffset + off, 8);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  if (hi > 0x1f_ffff) {
    throw new WotError('ERR_BAD_FIELD', `u64 at offset ${off} is larger than 2^53-1`);
  }
  return hi * 0x1_0000_0000 + lo;
}

const encoder = new TextEncoder();
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

export function toBase64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** Strict unpadded base64url decoding. The offending input is not echoed (it may be secret). */
export function fromBase64url(s: string): Uint8Array {
  if (typeof s !== 'string' || !B64URL_RE.test(s) || s.length % 4 === 1) {
    throw new WotError('ERR_BAD_FIELD', 'bad base64url string: expected characters A-Z a-z 0-9 - _ without padding');
  }
  const out = asU8(Buffer.from(s, 'base64url'));
  // Reject non-canonical encodings (non-zero trailing bits) so each value has one spelling.
  if (toBase64url(out) !== s) {
    throw new WotError('ERR_BAD_FIELD', 'bad base64url string: non-canonical trailing bits');
  }
  return out;
}
