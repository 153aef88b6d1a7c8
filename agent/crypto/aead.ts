/**
 * ChaCha20-Poly1305 (IETF, 12-byte nonce, 16-byte tag) via node:crypto, and the
 * Noise-style counter nonce.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { WotError } from '../wire/errors.js';
import { asU8, concatBytes } from './bytes.js';

const TAG = 16;
const EMPTY = new Uint8Array(0);

/** Returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
  if (key.length !== 32) throw new WotError('ERR_BAD_FIELD', 'AEAD key must be 32 bytes');
  if (nonce.length !== 12) throw new WotError('ERR_BAD_FIELD', 'AEAD nonce must be 12 bytes');
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const head = c.update(plaintext);
  const tail = c.final();
  return concatBytes(asU8(head), asU8(tail), asU8(c.getAuthTag()));
}

/** Plaintext, or null on authentication failure, short input or bad key/nonce length. Never throws. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array | null {
  try {
    if (key.length !== 32 || nonce.length !== 12 || ciphertext.length < TAG) return null;
    const body = ciphertext.subarray(0, ciphertext.length - TAG);
    const tag = ciphertext.subarray(ciphertext.length - TAG);
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
    d.setAuthTag(tag);
    d.setAAD(ad, { plaintextLength: body.length });
    const head = d.update(body);
    const tail = d.final();
    return tail.length === 0 ? Uint8Array.from(head) : concatBytes(asU8(head), asU8(tail));
  } catch {
    return null;
  }
}

/** 12-byte nonce: 4 zero bytes || u64 little-endian counter (Noise style). */
export function counterNonce(counter: number): Uint8Array {
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new WotError('ERR_BAD_FIELD', `nonce counter must be a safe integer >= 0, got ${String(counter)}`);
  }
  const n = new Uint8Array(12);
  const dv = new DataView(n.buffer);
  dv.setUint32(4, counter % 0x1_0000_0000, true);
  dv.setUint32(8, Math.floor(counter / 0x1_0000_0000), true);
  return n;
}
