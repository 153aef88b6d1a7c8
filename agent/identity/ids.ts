/**
 * Printable ids owned by agent/identity: bech32m (BIP-350) entity ids ('wot1…') and agent
 * ids ('wota1…') for 32-byte Ed25519 public keys, plus the spoken fingerprint and short id.
 * bech32m detects any single mistyped character with certainty.
 */
import { sha256, utf8 } from '../crypto/index.js';
import { WotError } from '../wire/errors.js';

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const BECH32M_CONST = 0x2bc830a3;
const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

export const ENTITY_HRP = 'wot';
export const AGENT_HRP = 'wota';
const KEY_BYTES = 32;
/** 32 bytes = 256 bits → 52 five-bit groups; plus 6 checksum characters. */
const DATA_CHARS = 52;
const CHECKSUM_CHARS = 6;

/** One step of the bech32 checksum: `chk` with the 5-bit value `v` appended. */
function polymodStep(chk: number, v: number): number {
  const top = chk >>> 25;
  chk = (((chk & 0x1ffffff) << 5) ^ v) >>> 0;
  for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk = (chk ^ GEN[i]!) >>> 0;
  return chk;
}

/** GEN terms xor-ed together for each value of a checksum's top five bits (one table look-up per step). */
const GEN_BY_TOP = new Int32Array(32);
for (let top = 0; top < 32; top++) for (let i = 0; i < 5; i++) if ((top >>> i) & 1) GEN_BY_TOP[top]! ^= GEN[i]!;

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) chk = polymodStep(chk, v);
  return chk;
}

/** CHARSET position of each ASCII code, -1 for the rest. */
const CHARSET_REV = new Int8Array(128).fill(-1);
for (let i = 0; i < CHARSET.length; i++) CHARSET_REV[CHARSET.charCodeAt(i)] = i;

/** The checksum state after each known prefix's expansion (hrpExpand), computed once. */
const HRP_CHK = new Map<string, number>();
function hrpChecksum(hrp: string): number {
  let c = HRP_CHK.get(hrp);
  if (c === undefined) {
    c = polymod(hrpExpand(hrp));
    if (KIND[hrp] !== undefined) HRP_CHK.set(hrp, c);
  }
  return c;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >>> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function createChecksum(hrp: string, data: number[]): number[] {
  const pm = polymod([...hrpExpand(hrp), ...data, 0, 0, 0, 0, 0, 0]) ^ BECH32M_CONST;
  const out: number[] = [];
  for (let i = 0; i < 6; i++) out.push((pm >>> (5 * (5 - i))) & 31);
  return out;
}

function toWords(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push((acc >>> bits) & 31);
    }
  }
  if (bits > 0) out.push((acc << (5 - bits)) & 31);
  return out;
}

/** 5-bit words → bytes; null if the padding is longer than 4 bits or not zero. */
function fromWords(words: ArrayLike<number>): Uint8Array | null {
  const out = new Uint8Array(Math.floor((words.length * 5) / 8));
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < words.length; i++) {
    acc = ((acc << 5) | words[i]!) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >>> bits) & 0xff;
    }
  }
  if (bits >= 5 || ((acc << (8 - bits)) & 0xff) !== 0) return null;
  return out;
}

function encode(hrp: string, pub: Uint8Array, what: string): string {
  if (!(pub instanceof Uint8Array) || pub.length !== KEY_BYTES) {
    throw new WotError('ERR_BAD_ID', `${what} public key must be ${KEY_BYTES} bytes`);
  }
  const data = toWords(pub);
  return hrp + '1' + [...data, ...createChecksum(hrp, data)].map((d) => CHARSET[d]).join('');
}

const KIND: Record<string, string> = { [ENTITY_HRP]: 'entity id', [AGENT_HRP]: 'agent id' };

/**
 * The key of `input` when it is exactly `hrp1` + 58 lower-case data and checksum characters
 * with a valid checksum and zero padding (the form encode() gives), else null: the common
 * case, without the copies and per-step loops of the general path. Every string it accepts
 * the general path accepts too, with the same key; anything else goes to the general path,
 * which accepts the other spellings or says what is wrong.
 */
function decodeCanonical(hrp: string, input: string, out?: Uint8Array): Uint8Array | null {
  const start = hrp.length + 1;
  if (input.length !== start + DATA_CHARS + CHECKSUM_CHARS || input.charCodeAt(hrp.length) !== 0x31 || !input.startsWith(hrp)) return null;
  if (out === undefined) out = new Uint8Array(KEY_BYTES);
  else if (out.length !== KEY_BYTES) throw new RangeError(`the key is written into ${KEY_BYTES} bytes, not ${out.length}`);
  let chk = hrpChecksum(hrp);
  let acc = 0;
  let bits = 0;
  let n = 0;
  const end = input.length;
  for (let i = start; i < end; i++) {
    const code = input.charCodeAt(i);
    const v = code < 128 ? CHARSET_REV[code]! : -1;
    if (v < 0) return null;
    // (chk & 0x1ffffff) << 5 and the GEN terms stay below 2^30: no sign or overflow to mind.
    chk = ((chk & 0x1ffffff) << 5) ^ v ^ GEN_BY_TOP[chk >>> 25]!;
    if (i >= end - CHECKSUM_CHARS) continue;
    acc = ((acc << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = acc >>> bits;
    }
  }
  // 52 five-bit groups carry 260 bits: the last 4 are padding and must be zero.
  if (chk !== BECH32M_CONST || n !== KEY_BYTES || (acc & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

function decode(expectedHrp: string, input: string): Uint8Array {
  if (typeof input === 'string') {
    const fast = decodeCanonical(expectedHrp, input);
    if (fast !== null) return fast;
  }
  const what = KIND[expectedHrp]!;
  const hint = `an ${what} looks like ${expectedHrp}1… (${expectedHrp.length + 1 + DATA_CHARS + CHECKSUM_CHARS} characters); copy it again`;
  if (typeof input !== 'string') throw new WotError('ERR_BAD_ID', `${what} must be a string`, hint);
  const s0 = input.trim();
  if (s0.length === 0) throw new WotError('ERR_BAD_ID', `${what} is empty`, hint);
  const lower = s0.toLowerCase();
  if (s0 !== lower && s0 !== s0.toUpperCase()) {
    throw new WotError('ERR_BAD_ID', `${what} mixes upper and lower case`, hint);
  }
  const s = lower;
  const sep = s.lastIndexOf('1');
  if (sep < 1) {
    throw new WotError('ERR_BAD_ID', `not a wotrelay ${what}: it must start with '${expectedHrp}1'`, hint);
  }
  const hrp = s.slice(0, sep);
  if (hrp !== expectedHrp) {
    const other = KIND[hrp];
    if (other !== undefined) {
      throw new WotError('ERR_BAD_ID', `this is an ${other}, not an ${what}`, hint);
    }
    throw new WotError('ERR_BAD_ID', `not a wotrelay ${what}: it starts with '${hrp}1' instead of '${expectedHrp}1'`, hint);
  }
  const rest = s.slice(sep + 1);
  const values = new Uint8Array(rest.length);
  let chk = hrpChecksum(hrp);
  for (let i = 0; i < rest.length; i++) {
    const code = rest.charCodeAt(i);
    const v = code < 128 ? CHARSET_REV[code]! : -1;
    if (v < 0) {
      const ch = rest[i]!;
      const shown = /^[\x21-\x7e]$/.test(ch) ? `'${ch}'` : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      throw new WotError(
        'ERR_BAD_ID',
        `${what} has an invalid character ${shown} at position ${sep + 2 + i} (ids never contain 1, b, i or o after the prefix)`,
        hint,
      );
    }
    values[i] = v;
    chk = polymodStep(chk, v);
  }
  if (values.length !== DATA_CHARS + CHECKSUM_CHARS) {
    throw new WotError(
      'ERR_BAD_ID',
      `${what} has the wrong length: ${s.length} characters, expected ${expectedHrp.length + 1 + DATA_CHARS + CHECKSUM_CHARS}`,
      hint,
    );
  }
  if (chk !== BECH32M_CONST) {
    throw new WotError('ERR_BAD_ID', `${what} checksum mismatch: a character is mistyped`, hint);
  }
  const bytes = fromWords(values.subarray(0, DATA_CHARS));
  if (bytes === null || bytes.length !== KEY_BYTES) {
    throw new WotError('ERR_BAD_ID', `${what} does not encode a ${KEY_BYTES}-byte key`, hint);
  }
  return bytes;
}

export function encodeEntityId(pub: Uint8Array): string {
  return encode(ENTITY_HRP, pub, 'entity');
}
export function decodeEntityId(s: string): Uint8Array {
  return decode(ENTITY_HRP, s);
}
/**
 * The key of `s` when it is an entity id exactly as encodeEntityId writes it (lower case,
 * nothing around it, valid checksum), written into `out` (32 bytes) when given; else null
 * — then decodeEntityId accepts the other spellings or says what is wrong. For hot paths
 * (the directory's lookups), which then know the string holds only [a-z0-9].
 */
export function decodeCanonicalEntityId(s: string, out?: Uint8Array): Uint8Array | null {
  return decodeCanonical(ENTITY_HRP, s, out);
}
export function encodeAgentId(pub: Uint8Array): string {
  return encode(AGENT_HRP, pub, 'agent');
}
export function decodeAgentId(s: string): Uint8Array {
  return decode(AGENT_HRP, s);
}

export function isEntityId(s: string): boolean {
  try {
    decodeEntityId(s);
    return true;
  } catch {
    return false;
  }
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** First 80 bits of sha256('wotrelay/v1/fingerprint' || pub) as RFC 4648 base32, 'XXXX-XXXX-XXXX-XXXX'. */
export function fingerprint(pub: Uint8Array): string {
  const h = sha256(utf8('wotrelay/v1/fingerprint'), pub).subarray(0, 10);
  let acc = 0;
  let bits = 0;
  let out = '';
  for (const b of h) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32[(acc >>> bits) & 31];
    }
  }
  return out.match(/.{4}/g)!.join('-');
}

/** The first two fingerprint groups ('XXXX-XXXX'), for compact logs. */
export function shortId(pub: Uint8Array): string {
  return fingerprint(pub).slice(0, 9);
}
