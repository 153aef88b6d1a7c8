/**
 * Invite codes owned by agent/identity:
 *   wotrelay:invite?v=1&e=<entity id>&a=<host:port>…&x=<expiry, s>&s=<secret b64url>&c=<checksum>
 * with checksum = hex of the first 6 bytes of sha256(everything before '&c='), the invite key
 * derived from the secret (its public key is the invite's id), and the proof an acceptor
 * gives inside the handshake.
 */
import {
  concatBytes,
  fromBase64url,
  sha256,
  sign,
  signingKeyFromSeed,
  toBase64url,
  toHex,
  utf8,
  verify,
  type SigningKey,
} from '../crypto/index.js';
import { Domain } from '../wire/constants.js';
import { WotError, isWotError } from '../wire/errors.js';
import { decodeEntityId, encodeEntityId } from './ids.js';

export interface InviteCode {
  entity: Uint8Array;
  addrs: string[];
  secret: Uint8Array;
  expiresAt: number;
}

export const INVITE_PREFIX = 'wotrelay:invite?';
export const INVITE_MAX_ADDRS = 8;
const HINT = 'ask the inviter for the code again and paste it whole';

function invalid(msg: string, hint: string = HINT): WotError {
  return new WotError('ERR_INVITE_INVALID', msg, hint);
}

/** 'host:port' with a non-empty host (IPv6 in brackets) and port 1..65535; returns the error or null. */
function addrProblem(a: string): string | null {
  const m = /^(\[[0-9a-fA-F:.%a-zA-Z]+\]|[^\s[\]:/?#&=]+):(\d{1,5})$/.exec(a);
  if (m === null) return `"${a}" is not host:port`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `"${a}" has port out of range 1..65535`;
  return null;
}

function checksum(s: string): string {
  return toHex(sha256(utf8(s)).subarray(0, 6));
}

/** Encodes an invite; expiresAt is carried in whole seconds (rounded down). */
export function encodeInvite(c: InviteCode): string {
  if (c.addrs.length > INVITE_MAX_ADDRS) throw invalid(`invite field a: at most ${INVITE_MAX_ADDRS} addresses, got ${c.addrs.length}`);
  for (const a of c.addrs) {
    const p = addrProblem(a);
    if (p !== null) throw invalid(`invite field a: ${p}`);
  }
  if (!(c.secret instanceof Uint8Array) || c.secret.length !== 32) throw invalid('invite field s: the secret must be 32 bytes');
  if (!Number.isSafeInteger(c.expiresAt) || c.expiresAt < 0) throw invalid('invite field x: expiresAt must be a time in ms >= 0');
  const parts = [`v=1`, `e=${encodeEntityId(c.entity)}`];
  for (const a of c.addrs) parts.push(`a=${encodeURIComponent(a)}`);
  parts.push(`x=${Math.floor(c.expiresAt / 1000)}`, `s=${toBase64url(c.secret)}`);
  const head = INVITE_PREFIX + parts.join('&');
  return `${head}&c=${checksum(head)}`;
}

export function decodeInvite(input: string): InviteCode {
  if (typeof input !== 'string') throw invalid('an invite code must be a string');
  const s = input.trim();
  if (!s.startsWith(INVITE_PREFIX)) {
    throw invalid(`not an invite code: it must start with "${INVITE_PREFIX}"`);
  }
  const ver = /^v=([^&]*)/.exec(s.slice(INVITE_PREFIX.length));
  if (ver === null) throw invalid('invite field v (version) is missing');
  if (ver[1] !== '1') throw invalid(`unsupported invite version ${ver[1]!.slice(0, 8)}`, 'upgrade wotrelay, or ask for a version 1 invite');
  const cIdx = s.lastIndexOf('&c=');
  if (cIdx < 0) throw invalid('invite field c (checksum) is missing: the code was cut short; copy it again');
  const sum = s.slice(cIdx + 3);
  if (!/^[0-9a-f]{12}$/.test(sum) || checksum(s.slice(0, cIdx)) !== sum) {
    throw invalid('invite checksum mismatch: the code was altered or mistyped; copy it again');
  }

  // The checksum matched: what follows are problems of a code made wrongly, not mistyped.
  const params: [string, string][] = [];
  for (const p of s.slice(INVITE_PREFIX.length, cIdx).split('&')) {
    const eq = p.indexOf('=');
    if (eq < 1) throw invalid('invite code is malformed: a field is not name=value');
    params.push([p.slice(0, eq), p.slice(eq + 1)]);
  }
  const get = (k: string): string[] => params.filter(([n]) => n === k).map(([, v]) => v);

  const e = get('e');
  if (e.length !== 1) throw invalid('invite field e (entity id) is missing');
  let entity: Uint8Array;
  try {
    entity = decodeEntityId(e[0]!);
  } catch (err) {
    throw invalid(`invite field e (entity id) is bad: ${isWotError(err) ? err.message : 'invalid'}`);
  }

  const addrs: string[] = [];
  for (const raw of get('a')) {
    let a: string;
    try {
      a = decodeURIComponent(raw);
    } catch {
      throw invalid('invite field a (address) has bad %-encoding');
    }
    const p = addrProblem(a);
    if (p !== null) throw invalid(`invite field a (address): ${p}`);
    addrs.push(a);
  }
  if (addrs.length > INVITE_MAX_ADDRS) throw invalid(`invite field a (address): at most ${INVITE_MAX_ADDRS} addresses, got ${addrs.length}`);

  const x = get('x');
  if (x.length !== 1) throw invalid('invite field x (expiry) is missing');
  if (!/^\d{1,15}$/.test(x[0]!)) throw invalid('invite field x (expiry) must be whole seconds since 1970');
  const expiresAt = Number(x[0]) * 1000;
  if (!Number.isSafeInteger(expiresAt)) throw invalid('invite field x (expiry) is out of range');

  const sec = get('s');
  if (sec.length !== 1) throw invalid('invite field s (secret) is missing');
  let secret: Uint8Array;
  try {
    secret = fromBase64url(sec[0]!);
  } catch {
    throw invalid('invite field s (secret) is not base64url');
  }
  if (secret.length !== 32) throw invalid('invite field s (secret) must be 32 bytes');

  return { entity, addrs, secret, expiresAt };
}

/** The invite's signing key: seed = sha256('wotrelay/v1/invite-key' || secret). */
export function inviteKeyFromSecret(secret: Uint8Array): SigningKey {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) {
    throw new WotError('ERR_INVITE_INVALID', 'invite secret must be 32 bytes');
  }
  return signingKeyFromSeed(sha256(utf8('wotrelay/v1/invite-key'), secret));
}

/** Proof of knowing the invite secret, bound to one handshake and one acceptor entity. */
export function inviteProof(secret: Uint8Array, handshakeHash: Uint8Array, acceptorEntity: Uint8Array): Uint8Array {
  return sign(inviteKeyFromSecret(secret), Domain.INVITE_PROOF, concatBytes(handshakeHash, acceptorEntity));
}

export function verifyInviteProof(
  invitePub: Uint8Array,
  handshakeHash: Uint8Array,
  acceptorEntity: Uint8Array,
  proof: Uint8Array,
): boolean {
  return verify(invitePub, Domain.INVITE_PROOF, concatBytes(handshakeHash, acceptorEntity), proof);
}
