/**
 * ChaCha20-Poly1305 (IETF, 12-byte nonce, 16-byte tag) — libsodium when it loads (sodium.ts;
 * a few hundred bytes cost about a quarter of what a node:crypto cipher object does, which
 * every link record pays), node:crypto otherwise — and the Noise-style counter nonce.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { WotError } from '../wire/errors.js';
import { offHeap } from './bytes.js';
import { sodium } from './sodium.js';

const TAG = 16;
const EMPTY = new Uint8Array(0);

function checkKeyNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== 32) throw new WotError('ERR_BAD_FIELD', 'AEAD key must be 32 bytes');
  if (nonce.length !== 12) throw new WotError('ERR_BAD_FIELD', 'AEAD nonce must be 12 bytes');
}

/**
 * Writes ciphertext ‖ 16-byte tag into `out`, which must be exactly plaintext.length + 16
 * bytes (a caller framing records puts its header in front without another copy).
 */
export function aeadSealInto(out: Uint8Array, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = EMPTY): void {
  checkKeyNonce(key, nonce);
  if (out.length !== plaintext.length + TAG) throw new WotError('ERR_BAD_FIELD', 'AEAD output must be 16 bytes longer than the plaintext');
  if (sodium) {
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad.length > 0 ? ad : null, null, nonce, key);
    return;
  }
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const head = c.update(plaintext);
  out.set(head, 0);
  out.set(c.final(), head.length);
  out.set(c.getAuthTag(), plaintext.length);
}

/** Returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
  const out = offHeap(plaintext.length + TAG);
  aeadSealInto(out, key, nonce, plaintext, ad);
  return out;
}

/** Plaintext, or null on authentication failure, short input or bad key/nonce length. Never throws. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array | null {
  try {
    if (key.length !== 32 || nonce.length !== 12 || ciphertext.length < TAG) return null;
    const out = offHeap(ciphertext.length - TAG);
    if (sodium) {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, ad.length > 0 ? ad : null, nonce, key);
      return out;
    }
    const body = ciphertext.subarray(0, ciphertext.length - TAG);
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
    d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG));
    d.setAAD(ad, { plaintextLength: body.length });
    const head = d.update(body);
    out.set(head, 0);
    out.set(d.final(), head.length);
    return out;
  } catch {
    return null;
  }
}

/** 12-byte nonce: 4 zero bytes || u64 little-endian counter (Noise style). */
export function counterNonce(counter: number): Uint8Array {
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new WotError('ERR_BAD_FIELD', `nonce counter must be a safe integer >= 0, got ${String(counter)}`);
  }
  const n = offHeap(12);
  const dv = new DataView(n.buffer);
  dv.setUint32(4, counter % 0x1_0000_0000, true);
  dv.setUint32(8, Math.floor(counter / 0x1_0000_0000), true);
  return n;
}
