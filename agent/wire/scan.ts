/**
 * msgpack pre-scanner. Owns the wotrelay msgpack profile (PROTOCOL.md): untrusted bytes are
 * walked here BEFORE msgpackr decodes them. Accepted: nil, booleans, non-negative integers
 * up to 2^53-1, UTF-8 strings, bin, arrays, and maps with unique string keys. Refused: ext
 * types (timestamps included), floats, negative integers, 0xc1, trailing bytes. Every declared
 * length must fit in the bytes that remain and within the limits, so a hostile length is
 * rejected before anything is allocated. Iterative (explicit stack), no per-call allocation
 * for the default limits.
 */
import { Limits } from './constants.js';
import { WotError } from './errors.js';

export interface ScanLimits {
  /** Max nesting depth of containers (a top-level map is depth 1). */
  maxDepth: number;
  /** Max elements of an array, max entries of a map. */
  maxArray: number;
  /** Max bytes of a string. */
  maxString: number;
  /** Max bytes of a bin. */
  maxBin: number;
}

export const DEFAULT_SCAN_LIMITS: Readonly<ScanLimits> = Object.freeze({
  maxDepth: Limits.MAX_DEPTH,
  maxArray: Limits.MAX_ARRAY,
  maxString: Limits.MAX_STRING,
  maxBin: Limits.MAX_MESSAGE,
});

/** 2^53-1 split as (high 32 bits, low 32 bits): the high word of a u64 must be <= this. */
const MAX_SAFE_HI = 0x1fffff;

// Reusable stacks (the scanner is synchronous and calls no user code, so sharing is safe).
// They grow on demand and never shrink; sizes are bounded by the limits and the input length.
let remStack = new Float64Array(16); // items left in each open container (2n for maps)
let mapStack = new Uint8Array(16); // 1 when the container is a map
let keyBaseStack = new Int32Array(16); // first key-table slot of each open map
let keyStart = new Int32Array(256); // key table: byte offset, length and hash of each key
let keyLen = new Int32Array(256); //   of the currently open maps (for duplicate detection)
let keyHash = new Int32Array(256);

function malformed(msg: string): WotError {
  return new WotError('ERR_MALFORMED_FRAME', `msgpack: ${msg}`, 'the peer sent bytes that are not valid wotrelay msgpack');
}

function limit(msg: string): WotError {
  return new WotError('ERR_LIMIT_EXCEEDED', `msgpack: ${msg}`, 'the peer sent a value over a protocol limit');
}

function truncated(at: number, need: number, end: number): WotError {
  return malformed(`truncated at offset ${at}: needs ${need} more bytes, ${end - at} remain`);
}

function growStacks(size: number): void {
  let n = remStack.length;
  while (n < size) n *= 2;
  const r = new Float64Array(n);
  r.set(remStack);
  remStack = r;
  const m = new Uint8Array(n);
  m.set(mapStack);
  mapStack = m;
  const k = new Int32Array(n);
  k.set(keyBaseStack);
  keyBaseStack = k;
}

function growKeys(): void {
  const n = keyStart.length * 2;
  const s = new Int32Array(n);
  s.set(keyStart);
  keyStart = s;
  const l = new Int32Array(n);
  l.set(keyLen);
  keyLen = l;
  const h = new Int32Array(n);
  h.set(keyHash);
  keyHash = h;
}

/** Index of the first invalid byte of a UTF-8 sequence in bytes[start, end), or -1 when valid. */
function utf8Invalid(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      else if (b === 0xed) hi = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      else if (b === 0xf4) hi = 0x8f; // > U+10FFFF
    } else return i;
    if (i + need >= end) return i; // sequence cut by the end of the string
    const c1 = bytes[i + 1]!;
    if (c1 < lo || c1 > hi) return i;
    for (let j = 2; j <= need; j++) {
      const c = bytes[i + j]!;
      if (c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * Checks that `bytes` hold exactly one msgpack value of the wotrelay profile within `limits`.
 * Throws WotError ERR_LIMIT_EXCEEDED (naming the limit) or ERR_MALFORMED_FRAME; returns nothing.
 */
export function scanMsgpack(bytes: Uint8Array, limits: ScanLimits = DEFAULT_SCAN_LIMITS): void {
  if (!(bytes instanceof Uint8Array)) throw malformed('input is not a byte array');
  const maxDepth = limits.maxDepth;
  const maxArray = limits.maxArray;
  const maxString = limits.maxString;
  const maxBin = limits.maxBin;
  const end = bytes.length;
  if (end === 0) throw malformed('empty input');
  // The stack never exceeds maxDepth + 1 entries, nor one entry per input byte.
  if (remStack.length < Math.min(maxDepth, end) + 2) growStacks(Math.min(maxDepth, end) + 2);
  const rem = remStack;
  const isMap = mapStack;
  const keyBase = keyBaseStack;

  let pos = 0;
  let depth = 0;
  let keyTop = 0;
  rem[0] = 1; // a virtual root container holding exactly one value
  isMap[0] = 0;

  for (;;) {
    if (rem[depth] === 0) {
      if (depth === 0) break;
      if (isMap[depth] === 1) keyTop = keyBase[depth]!;
      depth--;
      continue;
    }
    const isKey = isMap[depth] === 1 && rem[depth]! % 2 === 0;
    rem[depth]!--;
    if (pos >= end) throw truncated(pos, 1, end);
    const at = pos;
    const b = bytes[pos]!;

    // ---- strings (and map keys, which must be strings) ----
    let strLen = -1;
    if (b >= 0xa0 && b <= 0xbf) {
      strLen = b & 0x1f;
      pos += 1;
    } else if (b === 0xd9) {
      if (pos + 2 > end) throw truncated(pos, 2, end);
      strLen = bytes[pos + 1]!;
      pos += 2;
    } else if (b === 0xda) {
      if (pos + 3 > end) throw truncated(pos, 3, end);
      strLen = (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
      pos += 3;
    } else if (b === 0xdb) {
      if (pos + 5 > end) throw truncated(pos, 5, end);
      strLen = bytes[pos + 1]! * 0x1000000 + ((bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!);
      pos += 5;
    }
    if (strLen >= 0) {
      if (strLen > maxString) throw limit(`string of ${strLen} bytes at offset ${at} exceeds maxString ${maxString}`);
      if (strLen > end - pos) throw truncated(pos, strLen, end);
      const bad = utf8Invalid(bytes, pos, pos + strLen);
      if (bad >= 0) throw malformed(`string at offset ${at} is not valid UTF-8 (byte ${bad})`);
      if (isKey) {
        // FNV-1a over the key bytes, then compare with the keys already seen in this map.
        let h = 0x811c9dc5 | 0;
        for (let i = pos; i < pos + strLen; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
        for (let k = keyBase[depth]!; k < keyTop; k++) {
          if (keyHash[k] !== h || keyLen[k] !== strLen) continue;
          const s = keyStart[k]!;
          let same = true;
          for (let i = 0; i < strLen; i++) {
            if (bytes[s + i] !== bytes[pos + i]) {
              same = false;
              break;
            }
          }
          if (same) throw malformed(`duplicate map key at offset ${at}`);
        }
        if (keyTop >= keyStart.length) growKeys();
        keyStart[keyTop] = pos;
        keyLen[keyTop] = strLen;
        keyHash[keyTop] = h;
        keyTop++;
      }
      pos += strLen;
      continue;
    }
    if (isKey) throw malformed(`map key at offset ${at} is not a string`);

    // ---- positive fixint ----
    if (b <= 0x7f) {
      pos += 1;
      continue;
    }

    // ---- containers ----
    let count = -1;
    let map = false;
    if (b <= 0x8f) {
      count = b & 0x0f;
      map = true;
      pos += 1;
    } else if (b <= 0x9f) {
      count = b & 0x0f;
      pos += 1;
    } else if (b === 0xdc || b === 0xde) {
      if (pos + 3 > end) throw truncated(pos, 3, end);
      count = (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
      map = b === 0xde;
      pos += 3;
    } else if (b === 0xdd || b === 0xdf) {
      if (pos + 5 > end) throw truncated(pos, 5, end);
      count = bytes[pos + 1]! * 0x1000000 + ((bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!);
      map = b === 0xdf;
      pos += 5;
    }
    if (count >= 0) {
      const kind = map ? 'map' : 'array';
      if (count > maxArray) throw limit(`${kind} of ${count} elements at offset ${at} exceeds maxArray ${maxArray}`);
      const need = map ? count * 2 : count;
      if (need > end - pos) {
        throw malformed(`${kind} of ${count} elements at offset ${at} needs at least ${need} bytes, ${end - pos} remain`);
      }
      if (depth + 1 > maxDepth) throw limit(`nesting at offset ${at} exceeds maxDepth ${maxDepth}`);
      depth++;
      rem[depth] = need;
      isMap[depth] = map ? 1 : 0;
      if (map) keyBase[depth] = keyTop;
      continue;
    }

    // ---- everything else ----
    switch (b) {
      case 0xc0: // nil
      case 0xc2: // false
      case 0xc3: // true
        pos += 1;
        continue;
      case 0xc4:
      case 0xc5:
      case 0xc6: {
        const hdr = b === 0xc4 ? 2 : b === 0xc5 ? 3 : 5;
        if (pos + hdr > end) throw truncated(pos, hdr, end);
        const len =
          b === 0xc4
            ? bytes[pos + 1]!
            : b === 0xc5
              ? (bytes[pos + 1]! << 8) | bytes[pos + 2]!
              : bytes[pos + 1]! * 0x1000000 + ((bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!);
        pos += hdr;
        if (len > maxBin) throw limit(`bin of ${len} bytes at offset ${at} exceeds maxBin ${maxBin}`);
        if (len > end - pos) throw truncated(pos, len, end);
        pos += len;
        continue;
      }
      case 0xcc:
        if (pos + 2 > end) throw truncated(pos, 2, end);
        pos += 2;
        continue;
      case 0xcd:
        if (pos + 3 > end) throw truncated(pos, 3, end);
        pos += 3;
        continue;
      case 0xce:
        if (pos + 5 > end) throw truncated(pos, 5, end);
        pos += 5;
        continue;
      case 0xcf: {
        if (pos + 9 > end) throw truncated(pos, 9, end);
        const hi = bytes[pos + 1]! * 0x1000000 + ((bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!);
        if (hi > MAX_SAFE_HI) throw limit(`integer at offset ${at} exceeds 2^53-1`);
        pos += 9;
        continue;
      }
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3: {
        const size = b === 0xd0 ? 1 : b === 0xd1 ? 2 : b === 0xd2 ? 4 : 8;
        if (pos + 1 + size > end) throw truncated(pos, 1 + size, end);
        if (bytes[pos + 1]! & 0x80) throw malformed(`negative integer at offset ${at}`);
        if (b === 0xd3) {
          const hi = bytes[pos + 1]! * 0x1000000 + ((bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!);
          if (hi > MAX_SAFE_HI) throw limit(`integer at offset ${at} exceeds 2^53-1`);
        }
        pos += 1 + size;
        continue;
      }
      case 0xca:
      case 0xcb:
        throw malformed(`float at offset ${at} (only integers are allowed)`);
      case 0xc7:
      case 0xc8:
      case 0xc9:
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        throw malformed(`ext type at offset ${at} (ext types and timestamps are not allowed)`);
      case 0xc1:
        throw malformed(`reserved byte 0xc1 at offset ${at}`);
      default:
        // 0xe0..0xff: negative fixint
        throw malformed(`negative integer at offset ${at}`);
    }
  }
  if (pos !== end) throw malformed(`${end - pos} trailing bytes after the value (at offset ${pos})`);
}
