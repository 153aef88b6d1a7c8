/**
 * Crypto primitives for wotrelay (CONTRACT: implemented in the sibling files): signatures,
 * X25519, AEAD, hashing, sealed boxes, onion layers (onion.ts) and the Double Ratchet (ratchet.ts).
 * Hot-path primitives use libsodium through sodium-native when it loads (Ed25519, X25519,
 * SHA-256 of small inputs, HMAC/HKDF of short ones; sodium.ts) and node:crypto (OpenSSL)
 * otherwise and for AEAD and long inputs; @noble/ed25519 is used for strict
 * public-key checks (canonical encoding, small order) and tweetnacl as an independent
 * implementation in tests. merkle.ts signs batches: one signature over a Merkle root of many
 * items, each with its inclusion proof (the relay's hot path; see test/bench/README.md for
 * the measurements behind these choices).
 */
export * from './bytes.js';
export * from './ed25519.js';
export * from './x25519.js';
export * from './aead.js';
export * from './hash.js';
export * from './bytecache.js';
export * from './seal.js';
export * from './merkle.js';
export * from './onion.js';
export * from './ratchet.js';
