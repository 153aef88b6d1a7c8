/**
 * msgpack codec for wire values. Owns encoding (a small deterministic encoder for the
 * wotrelay msgpack profile) and decoding (scanMsgpack, then msgpackr, then the validators).
 *
 * Encoding does not use msgpackr's Packr: Packr writes integers >= 2^32 (every `exp`/`ts` in
 * ms) as float64, which the profile refuses. The encoder here writes the smallest uint form
 * (fixint/u8/u16/u32/u64), bin for every Uint8Array (Buffer included), str, array, map; typed
 * messages are written with their fields in a fixed (PROTOCOL.md) order, so the same message
 * always gives the same bytes. Keys whose value is `undefined` are left out.
 *
 * Decoding: msgpackr Unpackr with mapsAsObjects, int64AsType 'number', no records, no
 * extensions; the pre-scan already guarantees the profile, so every integer fits a JS number.
 * Decoded byte fields are views (subarrays) of the input bytes: do not reuse the input buffer
 * while a decoded value is alive (copy first if you must).
 */
import type * as Msgpackr from 'msgpackr';
import { requireCjs } from '../cjs.js';
import { Limits, MsgType } from './constants.js';
import { WotError, isWotError } from './errors.js';
import {
  isSessionMessage,
  validateContent,
  validateHandshakePayload,
  validateMessage,
  validateSessionMessage,
  validateSignedContent,
} from './messages.js';
import { scanMsgpack } from './scan.js';
import type { Content, Envelope, HandshakePayload, MbItems, SessionMessage, SignedContent, WireMessage } from './types.js';

const { Unpackr } = requireCjs('msgpackr') as typeof Msgpackr;

// ---------------------------------------------------------------------------------------------
// Decoder

const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  moreTypes: false,
  bundleStrings: false,
  copyBuffers: false,
});

/** Scans then decodes one msgpack value; throws WotError only. */
export function unpackValue(bytes: Uint8Array): unknown {
  scanMsgpack(bytes);
  try {
    return unpackr.unpack(bytes) as unknown;
  } catch (e) {
    // Unreachable after a successful scan; kept so callers only ever see WotError.
    if (isWotError(e)) throw e;
    throw new WotError('ERR_MALFORMED_FRAME', `msgpack: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder: one module-level scratch buffer (encoding is synchronous and calls no user code for
// typed messages), grown on demand; each result is an exact-size copy.

let buf = new Uint8Array(64 * 1024);
let nodeBuf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
let pos = 0;

function grow(min: number): void {
  let cap = buf.length * 2;
  while (cap < min) cap *= 2;
  const nb = new Uint8Array(cap);
  nb.set(buf.subarray(0, pos));
  buf = nb;
  nodeBuf = Buffer.from(nb.buffer, nb.byteOffset, nb.byteLength);
}

function ensure(n: number): void {
  if (pos + n > buf.length) grow(pos + n);
}

function finish(): Uint8Array {
  const out = buf.slice(0, pos);
  pos = 0;
  return out;
}

function wByte(b: number): void {
  ensure(1);
  buf[pos++] = b;
}

function wUint(v: number): void {
  ensure(9);
  if (v < 0x80) {
    buf[pos++] = v;
  } else if (v < 0x100) {
    buf[pos++] = 0xcc;
    buf[pos++] = v;
  } else if (v < 0x10000) {
    buf[pos++] = 0xcd;
    buf[pos++] = v >>> 8;
    buf[pos++] = v & 0xff;
  } else if (v <= 0xffffffff) {
    buf[pos++] = 0xce;
    buf[pos++] = v >>> 24;
    buf[pos++] = (v >>> 16) & 0xff;
    buf[pos++] = (v >>> 8) & 0xff;
    buf[pos++] = v & 0xff;
  } else {
    const hi = Math.floor(v / 0x100000000);
    const lo = v >>> 0;
    buf[pos++] = 0xcf;
    buf[pos++] = hi >>> 24;
    buf[pos++] = (hi >>> 16) & 0xff;
    buf[pos++] = (hi >>> 8) & 0xff;
    buf[pos++] = hi & 0xff;
    buf[pos++] = lo >>> 24;
    buf[pos++] = (lo >>> 16) & 0xff;
    buf[pos++] = (lo >>> 8) & 0xff;
    buf[pos++] = lo & 0xff;
  }
}

function wLen(len: number, fix: number, fixMax: number, b8: number, b16: number, b32: number): void {
  ensure(5);
  if (len <= fixMax && fix >= 0) {
    buf[pos++] = fix | len;
  } else if (len < 0x100 && b8 >= 0) {
    buf[pos++] = b8;
    buf[pos++] = len;
  } else if (len < 0x10000) {
    buf[pos++] = b16;
    buf[pos++] = len >>> 8;
    buf[pos++] = len & 0xff;
  } else {
    buf[pos++] = b32;
    buf[pos++] = len >>> 24;
    buf[pos++] = (len >>> 16) & 0xff;
    buf[pos++] = (len >>> 8) & 0xff;
    buf[pos++] = len & 0xff;
  }
}

function wStr(s: string): void {
  const len = Buffer.byteLength(s, 'utf8');
  wLen(len, 0xa0, 31, 0xd9, 0xda, 0xdb);
  ensure(len);
  pos += nodeBuf.write(s, pos, len, 'utf8');
}

function wBin(b: Uint8Array): void {
  wLen(b.length, -1, -1, 0xc4, 0xc5, 0xc6);
  ensure(b.length);
  buf.set(b, pos);
  pos += b.length;
}

function wArray(n: number): void {
  wLen(n, 0x90, 15, -1, 0xdc, 0xdd);
}

function wMap(n: number): void {
  wLen(n, 0x80, 15, -1, 0xde, 0xdf);
}

/** Pre-encoded fixstr keys of the typed encoders. */
function key(s: string): Uint8Array {
  const b = Buffer.from(s, 'utf8');
  const out = new Uint8Array(b.length + 1);
  out[0] = 0xa0 | b.length;
  out.set(b, 1);
  return out;
}
const K = {
  t: key('t'),
  n: key('n'),
  code: key('code'),
  msg: key('msg'),
  name: key('name'),
  id: key('id'),
  to: key('to'),
  exp: key('exp'),
  route: key('route'),
  body: key('body'),
  hops: key('hops'),
  a: key('a'),
  s: key('s'),
  c: key('c'),
  st: key('st'),
  by: key('by'),
  v: key('v'),
  cert: key('cert'),
  invite: key('invite'),
  key: key('key'),
  proof: key('proof'),
  addrs: key('addrs'),
  from: key('from'),
  ts: key('ts'),
  kind: key('kind'),
  parents: key('parents'),
  dep: key('dep'),
  p: key('p'),
  x: key('x'),
  l: key('l'),
} as const;

function wKey(k: Uint8Array): void {
  ensure(k.length);
  buf.set(k, pos);
  pos += k.length;
}

// ---- generic values ----

function encodeError(path: string, msg: string): WotError {
  return new WotError('ERR_BAD_FIELD', `cannot encode ${path || 'value'}: ${msg}`);
}

function wValue(v: unknown, depth: number, path: string): void {
  switch (typeof v) {
    case 'number':
      if (!Number.isSafeInteger(v) || v < 0) throw encodeError(path, `${v} is not a non-negative safe integer`);
      wUint(v);
      return;
    case 'string':
      if (Buffer.byteLength(v, 'utf8') > Limits.MAX_STRING) {
        throw new WotError('ERR_LIMIT_EXCEEDED', `cannot encode ${path || 'value'}: string over ${Limits.MAX_STRING} bytes`);
      }
      wStr(v);
      return;
    case 'boolean':
      wByte(v ? 0xc3 : 0xc2);
      return;
    case 'object': {
      if (v === null) {
        wByte(0xc0);
        return;
      }
      if (v instanceof Uint8Array) {
        if (v.length > Limits.MAX_MESSAGE) {
          throw new WotError('ERR_LIMIT_EXCEEDED', `cannot encode ${path || 'value'}: bin over ${Limits.MAX_MESSAGE} bytes`);
        }
        wBin(v);
        return;
      }
      if (depth >= Limits.MAX_DEPTH) {
        throw new WotError('ERR_LIMIT_EXCEEDED', `cannot encode ${path || 'value'}: nesting over ${Limits.MAX_DEPTH}`);
      }
      if (Array.isArray(v)) {
        if (v.length > Limits.MAX_ARRAY) {
          throw new WotError('ERR_LIMIT_EXCEEDED', `cannot encode ${path || 'value'}: array over ${Limits.MAX_ARRAY} entries`);
        }
        wArray(v.length);
        for (let i = 0; i < v.length; i++) {
          const e: unknown = v[i];
          if (e === undefined) throw encodeError(`${path}[${i}]`, 'undefined');
          wValue(e, depth + 1, `${path}[${i}]`);
        }
        return;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw encodeError(path, `${(v as object).constructor?.name ?? 'object'} is not plain data`);
      }
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      let n = 0;
      for (const k of keys) if (o[k] !== undefined) n++;
      if (n > Limits.MAX_ARRAY) {
        throw new WotError('ERR_LIMIT_EXCEEDED', `cannot encode ${path || 'value'}: map over ${Limits.MAX_ARRAY} entries`);
      }
      wMap(n);
      for (const k of keys) {
        const e = o[k];
        if (e === undefined) continue;
        if (Buffer.byteLength(k, 'utf8') > Limits.MAX_STRING) throw encodeError(path, 'map key too long');
        wStr(k);
        wValue(e, depth + 1, path ? `${path}.${k}` : k);
      }
      return;
    }
    default:
      throw encodeError(path, `${typeof v} is not plain data`);
  }
}

/**
 * Encodes plain data of the wotrelay profile (null, booleans, non-negative safe integers,
 * strings, Uint8Array, arrays, plain objects; `undefined` object values are skipped) within
 * the scan limits, so whatever packs also unpacks. Throws WotError.
 */
export function packValue(v: unknown): Uint8Array {
  pos = 0;
  try {
    wValue(v, 0, '');
  } catch (e) {
    pos = 0;
    throw e;
  }
  return finish();
}

// ---- typed encoders (fields in PROTOCOL.md order; input already validated) ----

/** The proof half of a batch signature: `p` then `x`, each only when present. */
function wProof(p: Uint8Array[] | undefined, x: number | undefined): void {
  if (p !== undefined) {
    wKey(K.p);
    wArray(p.length);
    for (let i = 0; i < p.length; i++) wBin(p[i]!);
  }
  if (x !== undefined) {
    wKey(K.x);
    wUint(x);
  }
}

function wEnvelope(m: Envelope): void {
  wMap(m.dep !== undefined ? 8 : 7);
  wKey(K.t);
  wUint(m.t);
  wKey(K.id);
  wBin(m.id);
  wKey(K.to);
  wBin(m.to);
  wKey(K.exp);
  wUint(m.exp);
  wKey(K.route);
  wArray(m.route.length);
  for (let i = 0; i < m.route.length; i++) wBin(m.route[i]!);
  wKey(K.body);
  wBin(m.body);
  wKey(K.hops);
  wArray(m.hops.length);
  for (let i = 0; i < m.hops.length; i++) {
    const h = m.hops[i]!;
    wMap(4 + (h.c !== undefined ? 1 : 0) + (h.p !== undefined ? 1 : 0) + (h.x !== undefined ? 1 : 0));
    wKey(K.a);
    wBin(h.a);
    wKey(K.n);
    wBin(h.n);
    wKey(K.l);
    wBin(h.l);
    wKey(K.s);
    wBin(h.s);
    wProof(h.p, h.x);
    if (h.c !== undefined) {
      wKey(K.c);
      wBin(h.c);
    }
  }
  if (m.dep !== undefined) {
    wKey(K.dep);
    wBin(m.dep);
  }
}

const keyCache = new Map<string, Uint8Array>();
function cachedKey(k: string): Uint8Array {
  let b = keyCache.get(k);
  if (!b) keyCache.set(k, (b = key(k)));
  return b;
}

/** Writes `m` as a map with the given fields in this order, skipping undefined ones. */
function wOrdered(m: object, fields: readonly string[]): void {
  const o = m as Record<string, unknown>;
  let count = 0;
  for (const f of fields) if (o[f] !== undefined) count++;
  wMap(count);
  for (const f of fields) {
    const v = o[f];
    if (v === undefined) continue;
    wKey(cachedKey(f));
    wValue(v, 1, f);
  }
}

const F_REPORT = ['t', 'id', 'st', 'ts', 'c', 's', 'p', 'x'] as const;
const F_COMPLAINT = ['t', 'id', 'reason', 'ts', 'c', 's', 'w'] as const;
const F_QUENCH = ['t', 'about', 'ts'] as const;
const F_QUERY = ['t', 'qid', 'target', 'ttl'] as const;
const F_REPLY = ['t', 'qid', 'target', 'path', 'tc'] as const;
const F_ANNOUNCE = ['t', 'a'] as const;
const F_WHERE_IS = ['t', 'qid', 'entity'] as const;
const F_HERE_IS = ['t', 'qid', 'entity', 'a'] as const;
const F_HOLD = ['t', 'id'] as const;
const F_REFUSE = ['t', 'id', 'code', 'msg'] as const;
const F_MB_FETCH = ['t', 'after', 'max', 'ts', 's'] as const;
const F_MB_DELETE = ['t', 'seqs', 'ts', 's'] as const;
const F_ONION = ['t', 'id', 'o', 's'] as const;
const F_ONION_BACK = ['t', 'id', 'b', 'p'] as const;
const F_ONION_COMPLAINT = ['t', 'id', 'cs', 'k', 'reason', 'ts', 'c', 's', 'w'] as const;
const F_SESSION = ['v', 'sid', 'dh', 'pn', 'n', 'i', 'ct'] as const;

function wMbItems(m: MbItems): void {
  wMap(3);
  wKey(K.t);
  wUint(m.t);
  wKey(cachedKey('items'));
  wArray(m.items.length);
  for (const it of m.items) {
    wMap(2);
    wKey(cachedKey('q'));
    wUint(it.q);
    wKey(cachedKey('e'));
    wBin(it.e);
  }
  wKey(cachedKey('more'));
  wByte(m.more ? 0xc3 : 0xc2);
}

function wMessage(m: WireMessage): void {
  switch (m.t) {
    case MsgType.REPORT:
      return wOrdered(m, F_REPORT);
    case MsgType.COMPLAINT:
      return wOrdered(m, F_COMPLAINT);
    case MsgType.QUENCH:
      return wOrdered(m, F_QUENCH);
    case MsgType.ROUTE_QUERY:
      return wOrdered(m, F_QUERY);
    case MsgType.ROUTE_REPLY:
      return wOrdered(m, F_REPLY);
    case MsgType.ANNOUNCE:
      return wOrdered(m, F_ANNOUNCE);
    case MsgType.WHERE_IS:
      return wOrdered(m, F_WHERE_IS);
    case MsgType.HERE_IS:
      return wOrdered(m, F_HERE_IS);
    case MsgType.HOLD:
      return wOrdered(m, F_HOLD);
    case MsgType.REFUSE:
      return wOrdered(m, F_REFUSE);
    case MsgType.MB_FETCH:
      return wOrdered(m, F_MB_FETCH);
    case MsgType.MB_DELETE:
      return wOrdered(m, F_MB_DELETE);
    case MsgType.MB_ITEMS:
      return wMbItems(m);
    case MsgType.ONION:
      return wOrdered(m, F_ONION);
    case MsgType.ONION_BACK:
      return wOrdered(m, F_ONION_BACK);
    case MsgType.ONION_COMPLAINT:
      return wOrdered(m, F_ONION_COMPLAINT);
    case MsgType.PING:
    case MsgType.PONG:
      wMap(2);
      wKey(K.t);
      wUint(m.t);
      wKey(K.n);
      wUint(m.n);
      return;
    case MsgType.CLOSE:
      wMap(m.msg !== undefined ? 3 : 2);
      wKey(K.t);
      wUint(m.t);
      wKey(K.code);
      wStr(m.code);
      if (m.msg !== undefined) {
        wKey(K.msg);
        wStr(m.msg);
      }
      return;
    case MsgType.WELCOME:
      wMap(m.name !== undefined ? 2 : 1);
      wKey(K.t);
      wUint(m.t);
      if (m.name !== undefined) {
        wKey(K.name);
        wStr(m.name);
      }
      return;
    case MsgType.ENVELOPE:
      wEnvelope(m);
      return;
    case MsgType.ACK:
      wMap(6 + (m.p !== undefined ? 1 : 0) + (m.x !== undefined ? 1 : 0) + (m.r !== undefined ? 1 : 0));
      wKey(K.t);
      wUint(m.t);
      wKey(K.id);
      wBin(m.id);
      wKey(K.st);
      wStr(m.st);
      wKey(K.by);
      wBin(m.by);
      wKey(K.s);
      wBin(m.s);
      wKey(K.c);
      wBin(m.c);
      wProof(m.p, m.x);
      if (m.r !== undefined) {
        wKey(cachedKey('r'));
        wBin(m.r);
      }
      return;
  }
}

/**
 * Validates and encodes a transport message. Deterministic: fixed field order. Throws
 * ERR_TOO_LARGE when the encoding exceeds Limits.MAX_MESSAGE (the peer would refuse it).
 */
export function encodeMessage(m: WireMessage): Uint8Array {
  validateMessage(m);
  pos = 0;
  wMessage(m);
  if (pos > Limits.MAX_MESSAGE) {
    const size = pos;
    pos = 0;
    throw new WotError('ERR_TOO_LARGE', `message encodes to ${size} bytes, over the ${Limits.MAX_MESSAGE}-byte limit`, 'send a smaller body');
  }
  return finish();
}

/** Scans, decodes and validates a transport message; throws WotError only. */
export function decodeMessage(bytes: Uint8Array): WireMessage {
  return validateMessage(unpackValue(bytes));
}

export function encodeHandshakePayload(p: HandshakePayload): Uint8Array {
  validateHandshakePayload(p);
  pos = 0;
  wMap(2 + (p.invite !== undefined ? 1 : 0) + (p.addrs !== undefined ? 1 : 0));
  wKey(K.v);
  wUint(p.v);
  wKey(K.cert);
  wBin(p.cert);
  if (p.invite !== undefined) {
    wKey(K.invite);
    wMap(2);
    wKey(K.key);
    wBin(p.invite.key);
    wKey(K.proof);
    wBin(p.invite.proof);
  }
  if (p.addrs !== undefined) {
    wKey(K.addrs);
    wArray(p.addrs.length);
    for (let i = 0; i < p.addrs.length; i++) wStr(p.addrs[i]!);
  }
  return finish();
}

export function decodeHandshakePayload(bytes: Uint8Array): HandshakePayload {
  return validateHandshakePayload(unpackValue(bytes));
}

export function encodeContent(c: Content): Uint8Array {
  validateContent(c);
  pos = 0;
  wMap(7 + (c.name !== undefined ? 1 : 0) + (c.parents !== undefined ? 1 : 0));
  wKey(K.v);
  wUint(c.v);
  wKey(K.id);
  wBin(c.id);
  wKey(K.from);
  wBin(c.from);
  wKey(K.to);
  wBin(c.to);
  wKey(K.ts);
  wUint(c.ts);
  wKey(K.kind);
  wStr(c.kind);
  wKey(K.body);
  wBin(c.body);
  if (c.name !== undefined) {
    wKey(K.name);
    wStr(c.name);
  }
  if (c.parents !== undefined) {
    wKey(K.parents);
    wArray(c.parents.length);
    for (let i = 0; i < c.parents.length; i++) wBin(c.parents[i]!);
  }
  return finish();
}

export function decodeContent(bytes: Uint8Array): Content {
  return validateContent(unpackValue(bytes));
}

export function encodeSignedContent(s: SignedContent): Uint8Array {
  validateSignedContent(s);
  pos = 0;
  wMap(3);
  wKey(K.c);
  wBin(s.c);
  wKey(K.cert);
  wBin(s.cert);
  wKey(K.s);
  wBin(s.s);
  return finish();
}

export function decodeSignedContent(bytes: Uint8Array): SignedContent {
  return validateSignedContent(unpackValue(bytes));
}

/** Encodes a session message (the end-to-end body on a forward-secret session), fields in PROTOCOL.md order. */
export function encodeSessionMessage(m: SessionMessage): Uint8Array {
  validateSessionMessage(m);
  pos = 0;
  wOrdered(m, F_SESSION);
  return finish();
}

/**
 * Decodes an end-to-end body: a session message (PROTOCOL.md 3.14) or, for a sender
 * without a session, signed content (3.2). Throws WotError.
 */
export function decodeE2E(bytes: Uint8Array): { session: SessionMessage } | { signed: SignedContent } {
  const v = unpackValue(bytes);
  return isSessionMessage(v) ? { session: validateSessionMessage(v) } : { signed: validateSignedContent(v) };
}

/**
 * The type id `t` of an encoded transport message without decoding it (the encoder always
 * writes `t` first, as a positive fixint); undefined when `bytes` does not start that way.
 */
export function peekType(bytes: Uint8Array): number | undefined {
  if (bytes.length < 4 || (bytes[0]! & 0xf0) !== 0x80 || bytes[1] !== 0xa1 || bytes[2] !== 0x74 || bytes[3]! > 0x7f) return undefined;
  return bytes[3];
}
