/**
 * libsodium through sodium-native, when it loads: the faster backend for the relay's hot
 * path (Ed25519 sign/verify about 1.7× node:crypto's, SHA-256 of a Merkle node about 2×, a
 * link record's ChaCha20-Poly1305 about 4× for a few hundred bytes —
 * measured in test/bench/crypto.ts; the decision is in test/bench/README.md). sodium-native
 * ships prebuilt binaries (no install script) and is already what noise-handshake uses for
 * the link handshake. When it cannot load, `sodium` is null and agent/crypto falls back to
 * node:crypto for everything; behaviour is the same, only slower.
 */
import { createRequire } from 'node:module';

/** The few libsodium calls wotrelay uses (sodium-native's API; outputs are written in place). */
export interface Sodium {
  crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  crypto_hash_sha256(out: Uint8Array, input: Uint8Array): void;
  /** X25519 public key of secret `n` (ephemeral keys, x25519.ts). */
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  /** X25519 agreement of secret `n` with public `p` (x25519.ts); throws when the result is all zero. */
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  /** ChaCha20-Poly1305 IETF (aead.ts): writes ciphertext ‖ tag into `c` (m.length + 16 bytes). */
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  /** The opposite; throws when the tag does not authenticate. */
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
}

function load(): Sodium | null {
  if (process.env['WOTRELAY_NO_SODIUM'] === '1') return null;
  try {
    const s = createRequire(import.meta.url)('sodium-native') as Sodium;
    // Self-test: SHA-256("abc").
    const out = new Uint8Array(32);
    s.crypto_hash_sha256(out, new TextEncoder().encode('abc'));
    return Buffer.from(out).toString('hex') === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' ? s : null;
  } catch {
    return null;
  }
}

/** libsodium, or null (node:crypto is used instead). WOTRELAY_NO_SODIUM=1 turns it off. */
export const sodium: Sodium | null = load();
