/**
 * Anonymous sealed box to a recipient X25519 key (end-to-end payload encryption):
 * ephPub(32) || ChaCha20-Poly1305(k, zero nonce, plaintext, ad), with
 * k = HKDF-SHA256(x25519(ephSk, recipientPub), salt = ephPub || recipientPub, 'wotrelay/v1/seal').
 */
import { concatBytes } from './bytes.js';
import { aeadOpen, aeadSeal } from './aead.js';
import { hkdfSha256 } from './hash.js';
import { generateEphemeralBoxKey, x25519, x25519Ephemeral, type BoxKey } from './x25519.js';

const SEAL_INFO = 'wotrelay/v1/seal';
const ZERO_NONCE = new Uint8Array(12);
export const SEAL_OVERHEAD = 32 + 16;

function sealKey(shared: Uint8Array, ephPub: Uint8Array, recipientPub: Uint8Array): Uint8Array {
  return hkdfSha256(shared, concatBytes(ephPub, recipientPub), SEAL_INFO, 32);
}

/** Seals `plaintext` to `recipientPub`; a fresh ephemeral key per call makes the zero nonce safe. */
export function seal(recipientPub: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  // The ephemeral secret is used once and never cached, so it is gone with this call.
  const eph = generateEphemeralBoxKey();
  const k = sealKey(x25519Ephemeral(eph, recipientPub), eph.publicKey, recipientPub);
  return concatBytes(eph.publicKey, aeadSeal(k, ZERO_NONCE, plaintext, ad));
}

/** Opens a sealed box; null on any failure. */
export function open(recipient: BoxKey, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  try {
    if (sealed.length < SEAL_OVERHEAD) return null;
    const ephPub = sealed.subarray(0, 32);
    const k = sealKey(x25519(recipient.secretKey, ephPub), ephPub, recipient.publicKey);
    return aeadOpen(k, ZERO_NONCE, sealed.subarray(32), ad);
  } catch {
    return null;
  }
}
