/**
 * Fast deterministic keys and certificates for the simulator. agent/crypto imports secrets
 * as DER PKCS#8, which costs ~0.5 ms per key on OpenSSL 3 and would dominate building
 * 10,000 nodes. Importing them as JWK gives the same keys ~15x faster (Node derives the
 * public half from `d`). The returned objects are the plain `SigningKey` / `BoxKey` shapes
 * agent/crypto accepts (signing with one derives and caches its KeyObject on first use).
 * `simIssueCert` produces the same bytes as agent/identity `issueCert` (Ed25519 signatures
 * are deterministic); SimNetwork checks that on every build and test/unit/sim.test.ts
 * checks keys and certs, so a change of the cert layout fails loudly instead of drifting.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { concatBytes, u64be, utf8, type BoxKey, type SigningKey } from '../../agent/crypto/index.js';
import { CERT_VERSION } from '../../agent/identity/index.js';
import { Domain } from '../../agent/wire/constants.js';
import { WotError } from '../../agent/wire/errors.js';

const PLACEHOLDER_X = 'A'.repeat(43);
const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

function check32(what: string, secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) throw new WotError('ERR_BAD_FIELD', `${what} secret must be 32 bytes`);
}

function publicFromSecret(crv: 'Ed25519' | 'X25519', secret: Uint8Array): Uint8Array {
  check32(crv, secret);
  const priv = createPrivateKey({ key: { kty: 'OKP', crv, d: b64(secret), x: PLACEHOLDER_X }, format: 'jwk' });
  const jwk = createPublicKey(priv).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new WotError('ERR_INTERNAL', `${crv} public key export failed`);
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

/**
 * Keys and certificates made lately, by their inputs: a process that builds several networks
 * from one seed (a scenario comparing two configurations on the same graph) derives each key
 * once. Bounded (oldest out first); the objects are frozen, so sharing them is safe.
 */
const made = new Map<string, SigningKey | BoxKey | Uint8Array>();
const MADE_MAX = 100_000;

function memo<T extends SigningKey | BoxKey | Uint8Array>(key: string, make: () => T): T {
  const hit = made.get(key);
  if (hit !== undefined) return hit as T;
  const v = make();
  if (made.size >= MADE_MAX) made.delete(made.keys().next().value!);
  made.set(key, v);
  return v;
}

/** Same key as agent/crypto `signingKeyFromSeed(seed)`. */
export function simSigningKey(seed: Uint8Array): SigningKey {
  check32('Ed25519', seed);
  return memo(`e${b64(seed)}`, () => Object.freeze({ seed: Uint8Array.from(seed), publicKey: publicFromSecret('Ed25519', seed) }));
}

/** Same key as agent/crypto `boxKeyFromSecret(sk)`. */
export function simBoxKey(sk: Uint8Array): BoxKey {
  check32('X25519', sk);
  return memo(`x${b64(sk)}`, () => Object.freeze({ secretKey: Uint8Array.from(sk), publicKey: publicFromSecret('X25519', sk) }));
}

function privateKey(key: SigningKey): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64(key.seed), x: b64(key.publicKey) }, format: 'jwk' });
}

/** Same bytes as agent/identity `issueCert(entityKey, f)` for valid fields (no field checks). */
export function simIssueCert(
  entityKey: SigningKey,
  f: { agent: Uint8Array; x25519: Uint8Array; notBefore: number; notAfter: number; seq: number },
): Uint8Array {
  const body = concatBytes(Uint8Array.of(CERT_VERSION), entityKey.publicKey, f.agent, f.x25519, u64be(f.notBefore), u64be(f.notAfter), u64be(f.seq));
  // Ed25519 is deterministic: the same key and body always give the same certificate.
  const cert = memo(`c${b64(entityKey.seed)}${b64(body)}`, () => {
    const sig = nodeSign(null, concatBytes(utf8(Domain.AGENT_CERT), Uint8Array.of(0), body), privateKey(entityKey));
    return concatBytes(body, new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength));
  });
  return cert.slice();
}
