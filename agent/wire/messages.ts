/**
 * Validators for decoded (or about-to-be-encoded) wire values: one per message family
 * (transport messages, handshake payload, content, signed content) plus the field helpers
 * they are built from. A validator checks types, sizes and limits, rejects unknown keys, and
 * returns its input typed (no copy). Errors are WotError ERR_BAD_FIELD naming the field
 * (`"id" expected 16 bytes, got 15`), ERR_UNKNOWN_TYPE for an unknown `t`.
 * An `undefined` value counts as an absent key (decoded input never holds one).
 */
import { ErrorCodes, KEY_BYTES, Limits, MESSAGE_ID_BYTES, MsgType, ONION_BACK_BLOCK_BYTES, ONION_BACK_SEALED_BYTES, SIG_BYTES, type ErrorCode } from './constants.js';
import { WotError } from './errors.js';
import type {
  Ack,
  Announce,
  HereIs,
  Hold,
  Refuse,
  MbFetch,
  MbItems,
  MbDelete,
  WhereIs,
  Complaint,
  Quench,
  Report,
  RouteQuery,
  RouteReply,
  Close,
  Content,
  Envelope,
  HandshakePayload,
  HopEntry,
  Onion,
  OnionBack,
  OnionComplaint,
  Ping,
  Pong,
  SessionMessage,
  SignedContent,
  Welcome,
  WireMessage,
} from './types.js';

/** Agent certificate size (PROTOCOL.md 1.2). */
export const CERT_BYTES = 185;
export const MAX_CLOSE_MSG = 256;
export const MAX_WELCOME_NAME = 64;
export const MAX_CONTENT_NAME = 255;
export const MAX_PARENTS = 16;
export const MAX_ADDRS = 8;
export const MAX_ADDR = 64;
export const U32_MAX = 0xffffffff;

/** A plain string-keyed record, as decoded from a msgpack map. */
export type Obj = Record<string, unknown>;

/** Byte length spec: exact length or an inclusive range. */
export type LenSpec = number | { readonly min: number; readonly max: number };

const ERROR_CODE_SET: ReadonlySet<string> = new Set<string>(ErrorCodes);

function fieldPath(name: string, parent?: string, index?: number): string {
  if (parent === undefined) return name;
  return index === undefined ? `${parent}.${name}` : `${parent}[${index}].${name}`;
}

export function badField(name: string, msg: string, parent?: string, index?: number): WotError {
  return new WotError('ERR_BAD_FIELD', `"${fieldPath(name, parent, index)}" ${msg}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}

/** True for a plain map-like object (not null, not an array, not bytes). */
export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** `v` must be a map; `name` names it in the error. */
export function objField(v: unknown, name: string, parent?: string, index?: number): Obj {
  if (!isObj(v)) throw badField(name, `expected a map, got ${describe(v)}`, parent, index);
  return v;
}

/**
 * Rejects keys of `obj` not in `allowed` (a null-prototype set). `what` names the object in
 * the error (a message type or a field path).
 */
export function onlyKeys(obj: Obj, allowed: Readonly<Record<string, true>>, what: string): void {
  for (const k in obj) {
    if (allowed[k] !== true) {
      throw new WotError('ERR_BAD_FIELD', `"${k}" is not a field of ${what}`, 'the sender speaks another protocol version or is buggy');
    }
  }
}

export function keySet(...keys: string[]): Readonly<Record<string, true>> {
  const s = Object.create(null) as Record<string, true>;
  for (const k of keys) s[k] = true;
  return Object.freeze(s);
}

function checkBytes(v: unknown, name: string, len: LenSpec, parent?: string, index?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) {
    throw badField(name, v === undefined ? 'is required' : `expected bytes, got ${describe(v)}`, parent, index);
  }
  if (typeof len === 'number') {
    if (v.length !== len) throw badField(name, `expected ${len} bytes, got ${v.length}`, parent, index);
  } else if (v.length < len.min || v.length > len.max) {
    throw badField(name, `expected ${len.min}..${len.max} bytes, got ${v.length}`, parent, index);
  }
  return v;
}

/** `obj[name]` must be bytes of length `len` (exact) or within `{min, max}`. */
export function bytesField(obj: Obj, name: string, len: LenSpec, parent?: string, index?: number): Uint8Array {
  return checkBytes(obj[name], name, len, parent, index);
}

export function optionalBytesField(
  obj: Obj,
  name: string,
  len: LenSpec,
  parent?: string,
  index?: number,
): Uint8Array | undefined {
  const v = obj[name];
  return v === undefined ? undefined : checkBytes(v, name, len, parent, index);
}

function checkUint(v: unknown, name: string, max: number, parent?: string, index?: number): number {
  if (typeof v !== 'number') {
    throw badField(name, v === undefined ? 'is required' : `expected an integer, got ${describe(v)}`, parent, index);
  }
  if (!Number.isSafeInteger(v) || v < 0) throw badField(name, `expected a non-negative integer, got ${v}`, parent, index);
  if (v > max) throw badField(name, `expected at most ${max}, got ${v}`, parent, index);
  return v;
}

/** `obj[name]` must be a non-negative safe integer <= max (default 2^53-1). */
export function uintField(obj: Obj, name: string, max: number = Number.MAX_SAFE_INTEGER, parent?: string, index?: number): number {
  return checkUint(obj[name], name, max, parent, index);
}

export function optionalUintField(
  obj: Obj,
  name: string,
  max: number = Number.MAX_SAFE_INTEGER,
  parent?: string,
  index?: number,
): number | undefined {
  const v = obj[name];
  return v === undefined ? undefined : checkUint(v, name, max, parent, index);
}

function checkStr(v: unknown, name: string, max: number, parent?: string, index?: number): string {
  if (typeof v !== 'string') {
    throw badField(name, v === undefined ? 'is required' : `expected a string, got ${describe(v)}`, parent, index);
  }
  if (v.length > max) throw badField(name, `expected at most ${max} characters, got ${v.length}`, parent, index);
  return v;
}

/** `obj[name]` must be a string of at most `max` characters (UTF-16 code units). */
export function strField(obj: Obj, name: string, max: number, parent?: string, index?: number): string {
  return checkStr(obj[name], name, max, parent, index);
}

export function optionalStrField(obj: Obj, name: string, max: number, parent?: string, index?: number): string | undefined {
  const v = obj[name];
  return v === undefined ? undefined : checkStr(v, name, max, parent, index);
}

/** `obj[name]` must be an array of at most `max` (and at least `min`) elements. */
export function arrayField(obj: Obj, name: string, max: number, min = 0, parent?: string, index?: number): unknown[] {
  const v = obj[name];
  if (!Array.isArray(v)) {
    throw badField(name, v === undefined ? 'is required' : `expected an array, got ${describe(v)}`, parent, index);
  }
  if (v.length > max) throw badField(name, `expected at most ${max} entries, got ${v.length}`, parent, index);
  if (v.length < min) throw badField(name, `expected at least ${min} entries, got ${v.length}`, parent, index);
  return v;
}

/** Every element of `arr` must be bytes of length `len`; errors name `name[i]`. */
function bytesArray(arr: unknown[], name: string, len: LenSpec): void {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (!(v instanceof Uint8Array)) throw badField(`${name}[${i}]`, `expected bytes, got ${describe(v)}`);
    if (typeof len === 'number' ? v.length !== len : v.length < len.min || v.length > len.max) {
      throw badField(`${name}[${i}]`, `expected ${typeof len === 'number' ? len : `${len.min}..${len.max}`} bytes, got ${v.length}`);
    }
  }
}

function literalField<T extends string>(obj: Obj, name: string, a: T, b: T): T {
  const v = obj[name];
  if (v !== a && v !== b) {
    throw badField(name, v === undefined ? 'is required' : `expected "${a}" or "${b}", got ${typeof v === 'string' ? JSON.stringify(v.slice(0, 32)) : describe(v)}`);
  }
  return v as T;
}

function versionField(obj: Obj, what: string): void {
  const v = obj['v'];
  if (v !== 1) {
    throw badField('v', v === undefined ? `is required (${what})` : `expected 1, got ${typeof v === 'number' ? v : describe(v)} (${what})`);
  }
}

// ---- key sets (module-level, no allocation per call) ----

const K_PING = keySet('t', 'n');
const K_CLOSE = keySet('t', 'code', 'msg');
const K_WELCOME = keySet('t', 'name');
const K_ENVELOPE = keySet('t', 'id', 'to', 'exp', 'route', 'body', 'hops', 'dep');
const K_HOLD = keySet('t', 'id');
const K_REFUSE = keySet('t', 'id', 'code', 'msg');
const K_MB_FETCH = keySet('t', 'after', 'max', 'ts', 's');
const K_MB_ITEMS = keySet('t', 'items', 'more');
const K_MAIL_ITEM = keySet('q', 'e');
const K_MB_DELETE = keySet('t', 'seqs', 'ts', 's');
const MAIL_ITEM_LEN: LenSpec = Object.freeze({ min: 1, max: Limits.MAX_MESSAGE });
const K_HOP = keySet('a', 'n', 'l', 's', 'p', 'x', 'c');
const K_ACK = keySet('t', 'id', 'st', 'by', 's', 'c', 'p', 'x', 'r');
const RATCHET_STEP_LEN: LenSpec = Object.freeze({ min: 1, max: Limits.MAX_RATCHET_STEP });
const K_ONION = keySet('t', 'id', 'o', 's');
const ONION_LEN: LenSpec = Object.freeze({ min: 1, max: Limits.MAX_MESSAGE });
const K_ONION_BACK = keySet('t', 'id', 'b', 'p');
const K_ONION_COMPLAINT = keySet('t', 'id', 'cs', 'k', 'reason', 'ts', 'c', 's', 'w');
const K_SESSION = keySet('v', 'sid', 'dh', 'pn', 'n', 'i', 'ct');
const K_SESSION_INIT = keySet('ek', 'ik', 'ts');
const SESSION_CT_LEN: LenSpec = Object.freeze({ min: 16, max: Limits.MAX_MESSAGE });
const K_REPORT = keySet('t', 'id', 'st', 'ts', 'c', 's', 'p', 'x');
const K_COMPLAINT = keySet('t', 'id', 'reason', 'ts', 'c', 's', 'w');
const K_QUENCH = keySet('t', 'about', 'ts');
const K_ANNOUNCE = keySet('t', 'a');
const K_WHERE_IS = keySet('t', 'qid', 'entity');
const K_HERE_IS = keySet('t', 'qid', 'entity', 'a');
const ANNOUNCE_LEN: LenSpec = Object.freeze({ min: 1, max: 4096 });
const K_QUERY = keySet('t', 'qid', 'target', 'ttl');
const K_REPLY = keySet('t', 'qid', 'target', 'path', 'tc');
const K_PATH_ENTRY = keySet('c', 'n', 's');
const REPORT_STATUSES: ReadonlySet<string> = new Set(['forwarded', 'queued', 'rerouted', 'delivered', 'stored']);
const K_HANDSHAKE = keySet('v', 'cert', 'invite', 'addrs');
const K_INVITE = keySet('key', 'proof');
const K_CONTENT = keySet('v', 'id', 'from', 'to', 'ts', 'kind', 'body', 'name', 'parents');
const K_SIGNED = keySet('c', 'cert', 's');
const CONTENT_KINDS: ReadonlySet<string> = new Set(['text', 'file', 'receipt', 'want', 'post', 'subscribe', 'unsubscribe', 'fetch', 'notice']);

const BODY_LEN: LenSpec = Object.freeze({ min: 0, max: Limits.MAX_MESSAGE });
const CONTENT_BODY_LEN: LenSpec = Object.freeze({ min: 0, max: Limits.MAX_BODY });
const SIGNED_C_LEN: LenSpec = Object.freeze({ min: 1, max: Limits.MAX_MESSAGE });

/**
 * The proof half of a batch signature (PROTOCOL.md 3.16): `p` absent (a batch of one) or
 * 1..MAX_PROOF sibling hashes of 32 bytes; `x` only with `p`, below 2^len(p).
 */
function batchProof(o: Obj, parent?: string, index?: number): void {
  const p = o['p'];
  if (p === undefined) {
    if (o['x'] !== undefined) throw badField('x', 'is only allowed with p', parent, index);
    return;
  }
  const arr = arrayField(o, 'p', Limits.MAX_PROOF, 1, parent, index);
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (!(v instanceof Uint8Array) || v.length !== 32) throw badField(`p[${i}]`, `expected ${32} bytes, got ${v instanceof Uint8Array ? v.length : describe(v)}`, parent, index);
  }
  optionalUintField(o, 'x', 2 ** arr.length - 1, parent, index);
}

function validateHop(h: Obj, i: number): HopEntry {
  for (const k in h) {
    if (K_HOP[k] !== true) throw new WotError('ERR_BAD_FIELD', `"hops[${i}].${k}" is not a field of a hop entry`);
  }
  bytesField(h, 'a', KEY_BYTES, 'hops', i);
  bytesField(h, 'n', KEY_BYTES, 'hops', i);
  bytesField(h, 'l', 32, 'hops', i);
  bytesField(h, 's', SIG_BYTES, 'hops', i);
  batchProof(h, 'hops', i);
  optionalBytesField(h, 'c', CERT_BYTES, 'hops', i);
  return h as unknown as HopEntry;
}

function validateEnvelope(o: Obj): Envelope {
  onlyKeys(o, K_ENVELOPE, 'ENVELOPE');
  bytesField(o, 'id', MESSAGE_ID_BYTES);
  bytesField(o, 'to', KEY_BYTES);
  uintField(o, 'exp');
  bytesArray(arrayField(o, 'route', Limits.MAX_HOPS), 'route', KEY_BYTES);
  bytesField(o, 'body', BODY_LEN);
  const hops = arrayField(o, 'hops', Limits.MAX_HOPS, 1);
  for (let i = 0; i < hops.length; i++) {
    const h = hops[i];
    if (!isObj(h)) throw badField(`hops[${i}]`, `expected a map, got ${describe(h)}`);
    validateHop(h, i);
  }
  optionalBytesField(o, 'dep', KEY_BYTES);
  return o as unknown as Envelope;
}

function validateAck(o: Obj): Ack {
  onlyKeys(o, K_ACK, 'ACK');
  bytesField(o, 'id', MESSAGE_ID_BYTES);
  literalField(o, 'st', 'delivered', 'read');
  bytesField(o, 'by', KEY_BYTES);
  bytesField(o, 's', SIG_BYTES);
  bytesField(o, 'c', CERT_BYTES);
  batchProof(o);
  optionalBytesField(o, 'r', RATCHET_STEP_LEN);
  return o as unknown as Ack;
}

function validateOnion(o: Obj): Onion {
  onlyKeys(o, K_ONION, 'ONION');
  bytesField(o, 'id', MESSAGE_ID_BYTES);
  // The packet size is checked by the onion layer (a wrong size is dropped and counted there).
  bytesField(o, 'o', ONION_LEN);
  bytesField(o, 's', SIG_BYTES);
  return o as unknown as Onion;
}

function validateOnionBack(o: Obj): OnionBack {
  onlyKeys(o, K_ONION_BACK, 'ONION_BACK');
  bytesField(o, 'id', MESSAGE_ID_BYTES);
  bytesField(o, 'b', ONION_BACK_BLOCK_BYTES);
  bytesField(o, 'p', ONION_BACK_SEALED_BYTES);
  return o as unknown as OnionBack;
}

function validateOnionComplaint(o: Obj): OnionComplaint {
  onlyKeys(o, K_ONION_COMPLAINT, 'ONION_COMPLAINT');
  bytesField(o, 'id', MESSAGE_ID_BYTES);
  bytesField(o, 'cs', KEY_BYTES);
  uintField(o, 'k', Limits.MAX_ONION_RELAYS);
  strField(o, 'reason', Limits.MAX_REASON);
  uintField(o, 'ts');
  bytesField(o, 'c', CERT_BYTES);
  bytesField(o, 's', SIG_BYTES);
  uintField(o, 'w', 255);
  return o as unknown as OnionComplaint;
}

function validateReport(o: Obj): Report {
  onlyKeys(o, K_REPORT, 'REPORT');
  bytesField(o, 'id', MESSAGE_ID_BYTES);
  const st = o['st'];
  if (typeof st !== 'string' || !REPORT_STATUSES.has(st)) throw badField('st', `expected a report status, got ${describe(st)}`);
  uintField(o, 'ts');
  bytesField(o, 'c', CERT_BYTES);
  bytesField(o, 's', SIG_BYTES);
  batchProof(o);
  return o as unknown as Report;
}

function validateComplaint(o: Obj): Complaint {
  onlyKeys(o, K_COMPLAINT, 'COMPLAINT');
  bytesField(o, 'id', MESSAGE_ID_BYTES);
  strField(o, 'reason', Limits.MAX_REASON);
  uintField(o, 'ts');
  uintField(o, 'w', 255);
  bytesField(o, 'c', CERT_BYTES);
  bytesField(o, 's', SIG_BYTES);
  return o as unknown as Complaint;
}

function validateQuench(o: Obj): Quench {
  onlyKeys(o, K_QUENCH, 'QUENCH');
  bytesField(o, 'about', KEY_BYTES);
  uintField(o, 'ts');
  return o as unknown as Quench;
}

function validateQuery(o: Obj): RouteQuery {
  onlyKeys(o, K_QUERY, 'ROUTE_QUERY');
  bytesField(o, 'qid', MESSAGE_ID_BYTES);
  bytesField(o, 'target', KEY_BYTES);
  // Absurd ttls are well-formed but dropped by the core (counted), not a link error.
  uintField(o, 'ttl', 255);
  return o as unknown as RouteQuery;
}

function validateReply(o: Obj): RouteReply {
  onlyKeys(o, K_REPLY, 'ROUTE_REPLY');
  bytesField(o, 'qid', MESSAGE_ID_BYTES);
  bytesField(o, 'target', KEY_BYTES);
  optionalBytesField(o, 'tc', CERT_BYTES);
  const path = arrayField(o, 'path', Limits.MAX_HOPS, 1);
  for (let i = 0; i < path.length; i++) {
    const e = path[i];
    if (!isObj(e)) throw badField(`path[${i}]`, `expected a map, got ${describe(e)}`);
    for (const k in e) {
      if (K_PATH_ENTRY[k] !== true) throw new WotError('ERR_BAD_FIELD', `"path[${i}].${k}" is not a field of a path entry`);
    }
    bytesField(e, 'c', CERT_BYTES, 'path', i);
    bytesField(e, 'n', KEY_BYTES, 'path', i);
    bytesField(e, 's', SIG_BYTES, 'path', i);
  }
  return o as unknown as RouteReply;
}

/** Validates a transport message (a map with `t`). */
export function validateMessage(v: unknown): WireMessage {
  if (!isObj(v)) throw new WotError('ERR_MALFORMED_FRAME', `a message must be a map, got ${describe(v)}`);
  const t = v['t'];
  if (typeof t !== 'number') throw badField('t', t === undefined ? 'is required' : `expected an integer, got ${describe(t)}`);
  switch (t) {
    case MsgType.PING:
    case MsgType.PONG:
      onlyKeys(v, K_PING, t === MsgType.PING ? 'PING' : 'PONG');
      uintField(v, 'n', U32_MAX);
      return v as unknown as Ping | Pong;
    case MsgType.CLOSE: {
      onlyKeys(v, K_CLOSE, 'CLOSE');
      const code = v['code'];
      if (typeof code !== 'string' || !ERROR_CODE_SET.has(code)) {
        throw badField('code', code === undefined ? 'is required' : `expected an error code, got ${typeof code === 'string' ? JSON.stringify(code.slice(0, 40)) : describe(code)}`);
      }
      optionalStrField(v, 'msg', MAX_CLOSE_MSG);
      return v as unknown as Close;
    }
    case MsgType.WELCOME:
      onlyKeys(v, K_WELCOME, 'WELCOME');
      optionalStrField(v, 'name', MAX_WELCOME_NAME);
      return v as unknown as Welcome;
    case MsgType.ENVELOPE:
      return validateEnvelope(v);
    case MsgType.ACK:
      return validateAck(v);
    case MsgType.REPORT:
      return validateReport(v);
    case MsgType.COMPLAINT:
      return validateComplaint(v);
    case MsgType.QUENCH:
      return validateQuench(v);
    case MsgType.ROUTE_QUERY:
      return validateQuery(v);
    case MsgType.ANNOUNCE:
      onlyKeys(v, K_ANNOUNCE, 'ANNOUNCE');
      bytesField(v, 'a', ANNOUNCE_LEN);
      return v as unknown as Announce;
    case MsgType.WHERE_IS:
      onlyKeys(v, K_WHERE_IS, 'WHERE_IS');
      bytesField(v, 'qid', MESSAGE_ID_BYTES);
      bytesField(v, 'entity', KEY_BYTES);
      return v as unknown as WhereIs;
    case MsgType.HERE_IS:
      onlyKeys(v, K_HERE_IS, 'HERE_IS');
      bytesField(v, 'qid', MESSAGE_ID_BYTES);
      bytesField(v, 'entity', KEY_BYTES);
      optionalBytesField(v, 'a', ANNOUNCE_LEN);
      return v as unknown as HereIs;
    case MsgType.ROUTE_REPLY:
      return validateReply(v);
    case MsgType.ONION:
      return validateOnion(v);
    case MsgType.ONION_BACK:
      return validateOnionBack(v);
    case MsgType.ONION_COMPLAINT:
      return validateOnionComplaint(v);
    case MsgType.HOLD:
      onlyKeys(v, K_HOLD, 'HOLD');
      bytesField(v, 'id', MESSAGE_ID_BYTES);
      return v as unknown as Hold;
    case MsgType.REFUSE: {
      onlyKeys(v, K_REFUSE, 'REFUSE');
      bytesField(v, 'id', MESSAGE_ID_BYTES);
      const code = v['code'];
      if (typeof code !== 'string' || !ERROR_CODE_SET.has(code)) throw badField('code', `expected an error code, got ${describe(code)}`);
      optionalStrField(v, 'msg', MAX_CLOSE_MSG);
      return v as unknown as Refuse;
    }
    case MsgType.MB_FETCH:
      onlyKeys(v, K_MB_FETCH, 'MB_FETCH');
      uintField(v, 'after');
      uintField(v, 'max', Limits.MAX_MAIL_ITEMS);
      uintField(v, 'ts');
      bytesField(v, 's', SIG_BYTES);
      return v as unknown as MbFetch;
    case MsgType.MB_ITEMS: {
      onlyKeys(v, K_MB_ITEMS, 'MB_ITEMS');
      const items = arrayField(v, 'items', Limits.MAX_MAIL_ITEMS);
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        if (!isObj(it)) throw badField(`items[${i}]`, `expected a map, got ${describe(it)}`);
        for (const k in it) if (K_MAIL_ITEM[k] !== true) throw new WotError('ERR_BAD_FIELD', `"items[${i}].${k}" is not a field of a mail item`);
        uintField(it, 'q', Number.MAX_SAFE_INTEGER, 'items', i);
        bytesField(it, 'e', MAIL_ITEM_LEN, 'items', i);
      }
      if (typeof v['more'] !== 'boolean') throw badField('more', `expected true or false, got ${describe(v['more'])}`);
      return v as unknown as MbItems;
    }
    case MsgType.MB_DELETE: {
      onlyKeys(v, K_MB_DELETE, 'MB_DELETE');
      const seqs = arrayField(v, 'seqs', Limits.MAX_MAIL_ITEMS, 1);
      for (let i = 0; i < seqs.length; i++) {
        const q = seqs[i];
        if (typeof q !== 'number' || !Number.isSafeInteger(q) || q < 0) throw badField(`seqs[${i}]`, `expected a non-negative integer, got ${describe(q)}`);
      }
      uintField(v, 'ts');
      bytesField(v, 's', SIG_BYTES);
      return v as unknown as MbDelete;
    }
    default:
      if (!Number.isSafeInteger(t) || t < 0) throw badField('t', `expected a non-negative integer, got ${t}`);
      throw new WotError('ERR_UNKNOWN_TYPE', `unknown message type t=${t}`, 'the peer may run a newer protocol version');
  }
}

/** Validates the payload carried in Noise handshake messages 2 and 3. */
export function validateHandshakePayload(v: unknown): HandshakePayload {
  if (!isObj(v)) throw new WotError('ERR_MALFORMED_FRAME', `the handshake payload must be a map, got ${describe(v)}`);
  onlyKeys(v, K_HANDSHAKE, 'the handshake payload');
  versionField(v, 'handshake payload');
  bytesField(v, 'cert', CERT_BYTES);
  const inv = v['invite'];
  if (inv !== undefined) {
    const o = objField(inv, 'invite');
    for (const k in o) {
      if (K_INVITE[k] !== true) throw new WotError('ERR_BAD_FIELD', `"invite.${k}" is not a field of an invite proof`);
    }
    bytesField(o, 'key', KEY_BYTES, 'invite');
    bytesField(o, 'proof', SIG_BYTES, 'invite');
  }
  if (v['addrs'] !== undefined) {
    const addrs = arrayField(v, 'addrs', MAX_ADDRS);
    for (let i = 0; i < addrs.length; i++) {
      const a = addrs[i];
      if (typeof a !== 'string') throw badField(`addrs[${i}]`, `expected a string, got ${describe(a)}`);
      if (a.length > MAX_ADDR) throw badField(`addrs[${i}]`, `expected at most ${MAX_ADDR} characters, got ${a.length}`);
    }
  }
  return v as unknown as HandshakePayload;
}

/** Validates message content (the signed inner of a sealed body). */
export function validateContent(v: unknown): Content {
  if (!isObj(v)) throw new WotError('ERR_MALFORMED_FRAME', `content must be a map, got ${describe(v)}`);
  onlyKeys(v, K_CONTENT, 'content');
  versionField(v, 'content');
  bytesField(v, 'id', MESSAGE_ID_BYTES);
  bytesField(v, 'from', KEY_BYTES);
  bytesField(v, 'to', KEY_BYTES);
  uintField(v, 'ts');
  const kind = v['kind'];
  if (typeof kind !== 'string' || !CONTENT_KINDS.has(kind)) throw badField('kind', `expected one of ${[...CONTENT_KINDS].join(', ')}, got ${describe(kind)}`);
  bytesField(v, 'body', CONTENT_BODY_LEN);
  optionalStrField(v, 'name', MAX_CONTENT_NAME);
  if (v['parents'] !== undefined) bytesArray(arrayField(v, 'parents', MAX_PARENTS), 'parents', KEY_BYTES);
  return v as unknown as Content;
}

/** Validates signed content `{c, cert, s}`. */
export function validateSignedContent(v: unknown): SignedContent {
  if (!isObj(v)) throw new WotError('ERR_MALFORMED_FRAME', `signed content must be a map, got ${describe(v)}`);
  onlyKeys(v, K_SIGNED, 'signed content');
  bytesField(v, 'c', SIGNED_C_LEN);
  bytesField(v, 'cert', CERT_BYTES);
  bytesField(v, 's', SIG_BYTES);
  return v as unknown as SignedContent;
}

/** Validates a Double Ratchet message (the end-to-end body on a session). */
export function validateSessionMessage(v: unknown): SessionMessage {
  if (!isObj(v)) throw new WotError('ERR_MALFORMED_FRAME', `a session message must be a map, got ${describe(v)}`);
  onlyKeys(v, K_SESSION, 'a session message');
  versionField(v, 'session message');
  bytesField(v, 'sid', MESSAGE_ID_BYTES);
  bytesField(v, 'dh', KEY_BYTES);
  uintField(v, 'pn', U32_MAX);
  uintField(v, 'n', U32_MAX);
  const i = v['i'];
  if (i !== undefined) {
    const o = objField(i, 'i');
    for (const k in o) if (K_SESSION_INIT[k] !== true) throw new WotError('ERR_BAD_FIELD', `"i.${k}" is not a field of a session setup`);
    bytesField(o, 'ek', KEY_BYTES, 'i');
    bytesField(o, 'ik', KEY_BYTES, 'i');
    uintField(o, 'ts', Number.MAX_SAFE_INTEGER, 'i');
  }
  bytesField(v, 'ct', SESSION_CT_LEN);
  return v as unknown as SessionMessage;
}

/** True for a decoded end-to-end body that is a session message (has `sid`), not signed content. */
export function isSessionMessage(v: unknown): boolean {
  return isObj(v) && v['sid'] !== undefined;
}

/** True when `s` is one of the stable error codes. */
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && ERROR_CODE_SET.has(s);
}
