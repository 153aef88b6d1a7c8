/**
 * Signed announcements owned by agent/identity: "entity E's agent A can be reached at these
 * addresses (or through these relaying neighbours / mailboxes)", signed by the agent key
 * under Domain.ANNOUNCE and carrying the entity's agent certificate, so anyone (a neighbour,
 * the directory server) can check it without trusting whoever handed it over.
 *
 *   body         = msgpack map, keys in this order:
 *                  {v: 1, cert: bin(185), addrs: [str "host:port" (≤ 64 chars)] (≤ 8),
 *                   relays: [bin(32) entity key] (≤ 8), mailboxes: [bin(32) entity key] (≤ 8),
 *                   seq: uint, ts: uint (ms since epoch)}
 *   announcement = msgpack map {b: bin(body), s: bin(64)}
 *                  s = Ed25519 signature by the certificate's agent key over
 *                      utf8("wotrelay/v1/announce") || 0x00 || body
 *
 * The signature covers the exact body bytes (never a re-encoding). A whole announcement is
 * at most MAX_ANNOUNCEMENT_BYTES (4 KiB). `seq` increases with every new announcement of an
 * entity (a holder keeps only the highest); `ts` may be at most ANNOUNCE_CLOCK_SKEW_MS ahead
 * of the verifier's clock.
 */
import { decodeCertUnverified, verifyCert, type AgentCert } from './cert.js';
import { equalBytes, sign, verify, type SigningKey } from '../crypto/index.js';
import { packValue, unpackValue } from '../wire/codec.js';
import { Domain, KEY_BYTES, SIG_BYTES } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import {
  CERT_BYTES,
  arrayField,
  badField,
  bytesField,
  keySet,
  onlyKeys,
  uintField,
  type Obj,
} from '../wire/messages.js';

export const ANNOUNCE_VERSION = 1;
/** Max bytes of a whole encoded announcement ({b, s}). */
export const MAX_ANNOUNCEMENT_BYTES = 4096;
export const ANNOUNCE_MAX_ADDRS = 8;
/** Max characters of one "host:port" address. */
export const ANNOUNCE_MAX_ADDR = 64;
export const ANNOUNCE_MAX_RELAYS = 8;
export const ANNOUNCE_MAX_MAILBOXES = 8;
/** How far `ts` may be ahead of the verifier's clock. */
export const ANNOUNCE_CLOCK_SKEW_MS = 10 * 60 * 1000;

/** What the announcing agent says about itself (createAnnouncement input). */
export interface AnnounceFields {
  /** Where the agent accepts connections, "host:port" (IPv6 in brackets). */
  addrs: readonly string[];
  /** Entity keys of neighbours that relay for this agent. */
  relays?: readonly Uint8Array[];
  /** Entity keys of mailbox agents holding messages for this entity. */
  mailboxes?: readonly Uint8Array[];
  /** Increases with every new announcement of this entity. */
  seq: number;
  /** When the announcement was made, ms since epoch. */
  ts: number;
}

/** A decoded announcement. Every byte field is a copy (not a view of the input). */
export interface Announcement {
  /** Entity public key (from the certificate). */
  entity: Uint8Array;
  /** Agent public key (from the certificate), which signed the announcement. */
  agent: Uint8Array;
  cert: AgentCert;
  certBytes: Uint8Array;
  addrs: string[];
  relays: Uint8Array[];
  mailboxes: Uint8Array[];
  seq: number;
  ts: number;
  /** The exact announcement bytes ({b, s}). */
  bytes: Uint8Array;
}

const K_OUTER = keySet('b', 's');
const K_BODY = keySet('v', 'cert', 'addrs', 'relays', 'mailboxes', 'seq', 'ts');

/** 'host:port' with a non-empty host (IPv6 in brackets) and port 1..65535 (same rule as invite codes). */
const ADDR_RE = /^(\[[0-9a-fA-F:.%a-zA-Z]+\]|[^\s[\]:/?#&=]+):(\d{1,5})$/;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}

function checkAddrs(v: Obj): string[] {
  const arr = arrayField(v, 'addrs', ANNOUNCE_MAX_ADDRS);
  for (let i = 0; i < arr.length; i++) {
    const a = arr[i];
    if (typeof a !== 'string') throw badField(`addrs[${i}]`, `expected a string, got ${describe(a)}`);
    if (a.length > ANNOUNCE_MAX_ADDR) throw badField(`addrs[${i}]`, `expected at most ${ANNOUNCE_MAX_ADDR} characters, got ${a.length}`);
    const m = ADDR_RE.exec(a);
    const port = m === null ? 0 : Number(m[2]);
    if (port < 1 || port > 65535) {
      throw badField(`addrs[${i}]`, `${JSON.stringify(a)} is not host:port with a port in 1..65535`);
    }
  }
  return arr as string[];
}

function checkKeys(v: Obj, name: string, max: number): Uint8Array[] {
  const arr = arrayField(v, name, max);
  for (let i = 0; i < arr.length; i++) {
    const k = arr[i];
    if (!(k instanceof Uint8Array)) throw badField(`${name}[${i}]`, `expected bytes, got ${describe(k)}`);
    if (k.length !== KEY_BYTES) throw badField(`${name}[${i}]`, `expected ${KEY_BYTES} bytes, got ${k.length}`);
  }
  return arr as Uint8Array[];
}

interface Parsed {
  body: Uint8Array;
  sig: Uint8Array;
  certBytes: Uint8Array;
  addrs: string[];
  relays: Uint8Array[];
  mailboxes: Uint8Array[];
  seq: number;
  ts: number;
}

/** Size, msgpack profile and field checks (no signature or time checks). */
function parse(bytes: Uint8Array): Parsed {
  if (!(bytes instanceof Uint8Array)) throw new WotError('ERR_MALFORMED_FRAME', 'an announcement must be bytes');
  if (bytes.length > MAX_ANNOUNCEMENT_BYTES) {
    throw new WotError('ERR_TOO_LARGE', `announcement is ${bytes.length} bytes, over the ${MAX_ANNOUNCEMENT_BYTES}-byte limit`);
  }
  const outer = unpackValue(bytes);
  if (typeof outer !== 'object' || outer === null || Array.isArray(outer) || outer instanceof Uint8Array) {
    throw new WotError('ERR_MALFORMED_FRAME', `an announcement must be a map {b, s}, got ${describe(outer)}`);
  }
  const o = outer as Obj;
  onlyKeys(o, K_OUTER, 'an announcement');
  const body = bytesField(o, 'b', { min: 1, max: MAX_ANNOUNCEMENT_BYTES });
  const sig = bytesField(o, 's', SIG_BYTES);
  const inner = unpackValue(body);
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner) || inner instanceof Uint8Array) {
    throw new WotError('ERR_MALFORMED_FRAME', `an announcement body must be a map, got ${describe(inner)}`);
  }
  const v = inner as Obj;
  onlyKeys(v, K_BODY, 'an announcement body');
  if (v['v'] !== ANNOUNCE_VERSION) {
    throw badField('v', v['v'] === undefined ? 'is required (announcement)' : `expected ${ANNOUNCE_VERSION}, got ${String(v['v'])} (announcement)`);
  }
  return {
    body,
    sig,
    certBytes: bytesField(v, 'cert', CERT_BYTES),
    addrs: checkAddrs(v),
    relays: checkKeys(v, 'relays', ANNOUNCE_MAX_RELAYS),
    mailboxes: checkKeys(v, 'mailboxes', ANNOUNCE_MAX_MAILBOXES),
    seq: uintField(v, 'seq'),
    ts: uintField(v, 'ts'),
  };
}

function toAnnouncement(p: Parsed, cert: AgentCert, bytes: Uint8Array): Announcement {
  return {
    entity: cert.entity.slice(),
    agent: cert.agent.slice(),
    cert,
    certBytes: p.certBytes.slice(),
    addrs: p.addrs.slice(),
    relays: p.relays.map((k) => k.slice()),
    mailboxes: p.mailboxes.map((k) => k.slice()),
    seq: p.seq,
    ts: p.ts,
    bytes: bytes.slice(),
  };
}

/**
 * Builds and signs an announcement with the agent key named by `certBytes`. Throws
 * ERR_BAD_FIELD for a bad field, ERR_KEY_MISMATCH when the certificate names another agent
 * key, ERR_TOO_LARGE when the result would exceed MAX_ANNOUNCEMENT_BYTES.
 */
export function createAnnouncement(agent: SigningKey, certBytes: Uint8Array, fields: AnnounceFields): Uint8Array {
  const cert = decodeCertUnverified(certBytes);
  if (!equalBytes(cert.agent, agent.publicKey)) {
    throw new WotError('ERR_KEY_MISMATCH', 'the agent certificate names another agent key than the one signing the announcement', 'announce with the agent key of this certificate');
  }
  const v: Obj = {
    v: ANNOUNCE_VERSION,
    cert: certBytes,
    addrs: [...fields.addrs],
    relays: [...(fields.relays ?? [])],
    mailboxes: [...(fields.mailboxes ?? [])],
    seq: fields.seq,
    ts: fields.ts,
  };
  checkAddrs(v);
  checkKeys(v, 'relays', ANNOUNCE_MAX_RELAYS);
  checkKeys(v, 'mailboxes', ANNOUNCE_MAX_MAILBOXES);
  uintField(v, 'seq');
  uintField(v, 'ts');
  const body = packValue(v);
  const out = packValue({ b: body, s: sign(agent, Domain.ANNOUNCE, body) });
  if (out.length > MAX_ANNOUNCEMENT_BYTES) {
    throw new WotError('ERR_TOO_LARGE', `announcement encodes to ${out.length} bytes, over the ${MAX_ANNOUNCEMENT_BYTES}-byte limit`, 'announce fewer or shorter addresses');
  }
  return out;
}

/**
 * Checks an announcement: size and fields, the agent certificate (verifyCert at `now`), the
 * agent's signature over the body, then that `ts` is not more than ANNOUNCE_CLOCK_SKEW_MS in
 * the future. Only then are the fields returned. Throws WotError: ERR_TOO_LARGE,
 * ERR_MALFORMED_FRAME / ERR_LIMIT_EXCEEDED / ERR_BAD_FIELD, ERR_BAD_CERT, ERR_CERT_EXPIRED,
 * ERR_BAD_SIGNATURE, ERR_BAD_FIELD (clock skew).
 */
/**
 * Announcements whose fields and signature checked out, parsed, by their exact bytes (bounded;
 * the certificate's window and `ts` are checked again on every use). Agents read the same
 * announcements again and again (reachability looks at every neighbour's).
 */
const verifiedAnns = new Map<string, Parsed>();
const VERIFIED_MAX = 32_768;

export function verifyAnnouncement(bytes: Uint8Array, now: number): Announcement {
  if (!(bytes instanceof Uint8Array)) throw new WotError('ERR_MALFORMED_FRAME', 'an announcement must be bytes');
  const key = bytes.length <= MAX_ANNOUNCEMENT_BYTES ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1') : '';
  let p = verifiedAnns.get(key);
  let cert: AgentCert;
  if (p) {
    cert = verifyCert(p.certBytes, now);
  } else {
    p = parse(bytes);
    cert = verifyCert(p.certBytes, now);
    if (!verify(cert.agent, Domain.ANNOUNCE, p.body, p.sig)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'announcement signature is not valid for the agent key of its certificate');
    }
    // Keep copies: the parsed fields are views of `bytes`, which the caller may reuse.
    const own: Parsed = { ...p, body: p.body.slice(), sig: p.sig.slice(), certBytes: p.certBytes.slice(), relays: p.relays.map((x) => x.slice()), mailboxes: p.mailboxes.map((x) => x.slice()), addrs: [...p.addrs] };
    if (verifiedAnns.size >= VERIFIED_MAX) verifiedAnns.delete(verifiedAnns.keys().next().value!);
    verifiedAnns.set(key, own);
  }
  if (p.ts > now + ANNOUNCE_CLOCK_SKEW_MS) {
    throw badField('ts', `is ${Math.round((p.ts - now) / 1000)} s in the future (clock skew over ${ANNOUNCE_CLOCK_SKEW_MS / 60000} minutes)`);
  }
  return toAnnouncement(p, cert, bytes);
}

/** Decodes without checking the signature or times: only for display of stored, already verified announcements. */
export function decodeAnnouncementUnverified(bytes: Uint8Array): Announcement {
  const p = parse(bytes);
  return toAnnouncement(p, decodeCertUnverified(p.certBytes), bytes);
}
