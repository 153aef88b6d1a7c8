/**
 * The Double Ratchet (Trevor Perrin and Moxie Marlinspike, "The Double Ratchet Algorithm",
 * Signal, revision 1, 2016-11-20), as a pure state machine over node:crypto primitives:
 *
 *   DH        X25519 (ratchet secrets never enter the KeyObject cache; a peer's ratchet key that
 *             is not canonical or of low order is refused before use)
 *   KDF_RK    HKDF-SHA256(salt = root key, ikm = DH output, info "wotrelay/v1/ratchet-rk") → root key, chain key
 *   KDF_CK    message key = HMAC-SHA256(ck, 0x01), next chain key = HMAC-SHA256(ck, 0x02)
 *   ENCRYPT   HKDF-SHA256(mk, info "wotrelay/v1/ratchet-mk") → ChaCha20-Poly1305 key and nonce;
 *             associated data = caller's ad || dh || u32(pn) || u32(n)
 *
 * Every message has its own key, derived by a one-way chain; each reply brings a fresh DH
 * ratchet step. A chain key, once advanced, and a message key, once used, are replaced in
 * the state (the caller overwrites the stored state), so stealing the current state later
 * reveals no earlier message. `decrypt` works on a copy and returns a new state only on
 * success: a forged message changes nothing.
 *
 * Session setup (who talks first, with which keys) lives in agent/core/session.ts.
 */
import { WotError } from '../wire/errors.js';
import { aeadOpen, aeadSeal } from './aead.js';
import { concatBytes, equalBytes } from './bytes.js';
import { hkdfSha256, hmacSha256 } from './hash.js';
import { boxKeyFromSecret, generateEphemeralBoxKey, isStrictBoxPublicKey, x25519, x25519Ephemeral, type BoxKey } from './x25519.js';

/** Message keys skipped in one step at most (a header claiming more is refused). */
export const RATCHET_MAX_SKIP = 1000;
/** Skipped message keys kept at most per session (oldest dropped first). */
export const RATCHET_MAX_STORED_SKIPPED = 2000;

export interface SkippedKey {
  dh: Uint8Array;
  n: number;
  mk: Uint8Array;
  /** Dropped after this time (ms). */
  exp: number;
}

export interface RatchetState {
  rk: Uint8Array;
  /** Our current ratchet key pair. */
  dhs: BoxKey;
  /** The peer's current ratchet public key (null until it has sent one). */
  dhr: Uint8Array | null;
  cks: Uint8Array | null;
  ckr: Uint8Array | null;
  ns: number;
  nr: number;
  pn: number;
  skipped: SkippedKey[];
}

export interface RatchetHeader {
  dh: Uint8Array;
  pn: number;
  n: number;
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);

function kdfRk(rk: Uint8Array, dhOut: Uint8Array): [Uint8Array, Uint8Array] {
  const okm = hkdfSha256(dhOut, rk, 'wotrelay/v1/ratchet-rk', 64);
  return [okm.slice(0, 32), okm.slice(32)];
}

function kdfCk(ck: Uint8Array): [Uint8Array, Uint8Array] {
  return [hmacSha256(ck, TWO), hmacSha256(ck, ONE)];
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** The header bytes bound into each message's associated data. */
export function headerBytes(h: RatchetHeader): Uint8Array {
  return concatBytes(h.dh, u32(h.pn), u32(h.n));
}

function messageCipher(mk: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const okm = hkdfSha256(mk, new Uint8Array(32), 'wotrelay/v1/ratchet-mk', 44);
  return { key: okm.slice(0, 32), nonce: okm.slice(32) };
}

function dh(kp: BoxKey, pub: Uint8Array): Uint8Array {
  return x25519Ephemeral(kp, pub);
}

/**
 * The side that speaks first ("Alice"): shared secret `sk` from the session setup and the
 * peer's initial ratchet key (its certificate X25519 key). `dhs` may be injected (test vectors).
 */
export function initSender(sk: Uint8Array, peerRatchetPub: Uint8Array, dhs: BoxKey = generateEphemeralBoxKey()): RatchetState {
  const [rk, cks] = kdfRk(sk, dh(dhs, peerRatchetPub));
  return { rk, dhs, dhr: peerRatchetPub, cks, ckr: null, ns: 0, nr: 0, pn: 0, skipped: [] };
}

/**
 * The side that answers ("Bob"): `own` is the key pair the sender used as our first ratchet
 * key (our certificate's X25519 key). It is replaced by a fresh one at the first message, so
 * a stored state never holds it.
 */
export function initReceiver(sk: Uint8Array, own: BoxKey): RatchetState {
  return { rk: sk, dhs: own, dhr: null, cks: null, ckr: null, ns: 0, nr: 0, pn: 0, skipped: [] };
}

/** Encrypts one message, advancing the sending chain in `state` (mutated). */
export function ratchetEncrypt(state: RatchetState, plaintext: Uint8Array, ad: Uint8Array): { header: RatchetHeader; ct: Uint8Array } {
  if (!state.cks) throw new WotError('ERR_INTERNAL', 'ratchet has no sending chain yet');
  const [ck, mk] = kdfCk(state.cks);
  state.cks = ck;
  const header: RatchetHeader = { dh: state.dhs.publicKey, pn: state.pn, n: state.ns };
  state.ns += 1;
  const { key, nonce } = messageCipher(mk);
  return { header, ct: aeadSeal(key, nonce, plaintext, concatBytes(ad, headerBytes(header))) };
}

function copyState(s: RatchetState): RatchetState {
  return { ...s, skipped: s.skipped.map((k) => ({ ...k })) };
}

/**
 * Decrypts one message. Returns the plaintext and the state after it, or null when it does
 * not authenticate (or asks to skip too many keys); `state` itself is never changed.
 */
export function ratchetDecrypt(
  state: RatchetState,
  header: RatchetHeader,
  ct: Uint8Array,
  ad: Uint8Array,
  now: number,
  skippedTtlMs: number,
): { state: RatchetState; plaintext: Uint8Array } | null {
  const s = copyState(state);
  const fullAd = concatBytes(ad, headerBytes(header));
  s.skipped = s.skipped.filter((k) => k.exp > now);
  const hit = s.skipped.findIndex((k) => k.n === header.n && equalBytes(k.dh, header.dh));
  if (hit >= 0) {
    const { key, nonce } = messageCipher(s.skipped[hit]!.mk);
    const pt = aeadOpen(key, nonce, ct, fullAd);
    if (!pt) return null;
    s.skipped.splice(hit, 1);
    return { state: s, plaintext: pt };
  }
  try {
    if (!s.dhr || !equalBytes(header.dh, s.dhr)) {
      // A new ratchet key from the wire: canonical and of full order, or nothing is done with it.
      if (!isStrictBoxPublicKey(header.dh)) return null;
      if (!skip(s, header.pn, now + skippedTtlMs)) return null;
      // DH ratchet step: a new receiving chain from their new key, then a new key pair of ours.
      s.pn = s.ns;
      s.ns = 0;
      s.nr = 0;
      s.dhr = header.dh;
      let ck: Uint8Array;
      [s.rk, ck] = kdfRk(s.rk, dh(s.dhs, s.dhr));
      s.ckr = ck;
      s.dhs = generateEphemeralBoxKey();
      [s.rk, ck] = kdfRk(s.rk, dh(s.dhs, s.dhr));
      s.cks = ck;
    }
    if (!skip(s, header.n, now + skippedTtlMs)) return null;
    if (!s.ckr) return null;
    const [ck, mk] = kdfCk(s.ckr);
    s.ckr = ck;
    s.nr += 1;
    const { key, nonce } = messageCipher(mk);
    const pt = aeadOpen(key, nonce, ct, fullAd);
    return pt ? { state: s, plaintext: pt } : null;
  } catch {
    // Defence in depth: x25519 refuses a non-canonical or low-order key too.
    return null;
  }
}

/** Stores the receiving chain's keys up to (not including) `until`; false when too many. */
function skip(s: RatchetState, until: number, exp: number): boolean {
  if (!s.ckr) return true;
  if (until < s.nr) return true;
  if (until - s.nr > RATCHET_MAX_SKIP) return false;
  while (s.nr < until) {
    const [ck, mk] = kdfCk(s.ckr);
    s.skipped.push({ dh: s.dhr!, n: s.nr, mk, exp });
    s.ckr = ck;
    s.nr += 1;
  }
  if (s.skipped.length > RATCHET_MAX_STORED_SKIPPED) s.skipped.splice(0, s.skipped.length - RATCHET_MAX_STORED_SKIPPED);
  return true;
}

/**
 * Session setup without a round trip (the recipient's certificate key stands in for X3DH's
 * signed prekey, there are no one-time prekeys): sk = HKDF(X25519(ek, ik)). Returns
 * the initiator's shared secret; `ek` is used once and must then be forgotten.
 */
export function initiatorSecret(ek: BoxKey, ik: Uint8Array): Uint8Array {
  return setupKdf(dh(ek, ik), ek.publicKey, ik);
}

/**
 * The responder's side of initiatorSecret, with its long-term box key. Throws ERR_BAD_FIELD
 * when `ekPub` (from the wire) is not canonical or of low order.
 */
export function responderSecret(own: BoxKey, ekPub: Uint8Array): Uint8Array {
  return setupKdf(x25519(own.secretKey, ekPub), ekPub, own.publicKey);
}

function setupKdf(dhOut: Uint8Array, ek: Uint8Array, ik: Uint8Array): Uint8Array {
  return hkdfSha256(dhOut, concatBytes(ek, ik), 'wotrelay/v1/session-setup', 32);
}

/** A key pair from a stored secret, kept out of the KeyObject cache. */
export function ratchetKeyFromSecret(secret: Uint8Array): BoxKey {
  return boxKeyFromSecret(secret, false);
}
