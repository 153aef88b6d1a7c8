/**
 * Agent certificates owned by agent/identity: a fixed 185-byte layout (canonical by
 * construction) binding an agent's Ed25519 and X25519 keys to an entity for a time window,
 * signed by the entity key under Domain.AGENT_CERT.
 *
 *   body (121) = version u8 (=1) || entity (32) || agent (32) || x25519 (32)
 *                || notBefore u64 || notAfter u64 || seq u64      (big-endian, ms since epoch)
 *   cert (185) = body || Ed25519 signature (64)
 */
import { ByteCache, concatBytes, isStrictBoxPublicKey, isStrictPublicKey, readU64be, sign, u64be, verify, type SigningKey } from '../crypto/index.js';
import { Domain } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';

export interface AgentCert {
  version: 1;
  entity: Uint8Array;
  agent: Uint8Array;
  x25519: Uint8Array;
  notBefore: number;
  notAfter: number;
  seq: number;
}

export const CERT_VERSION = 1;
export const CERT_BODY_BYTES = 121;
export const CERT_BYTES = 185;
export const CERT_CLOCK_SKEW_MS = 10 * 60 * 1000;

const RENEW_HINT = 'check this computer\'s clock, or renew the certificate with `wotrelay init --renew`';

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms since epoch` : d.toISOString();
}

function checkInt(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new WotError('ERR_BAD_CERT', `cert field ${name} must be a safe integer >= 0, got ${String(n)}`);
  }
}

export function issueCert(
  entityKey: SigningKey,
  f: { agent: Uint8Array; x25519: Uint8Array; notBefore: number; notAfter: number; seq: number },
): Uint8Array {
  if (!isStrictPublicKey(f.agent)) throw new WotError('ERR_BAD_CERT', 'cert field agent is not a valid Ed25519 public key');
  if (!(f.x25519 instanceof Uint8Array) || f.x25519.length !== 32) {
    throw new WotError('ERR_BAD_CERT', 'cert field x25519 must be 32 bytes');
  }
  if (!isStrictBoxPublicKey(f.x25519)) throw new WotError('ERR_BAD_CERT', 'cert field x25519 is not a canonical X25519 public key of full order');
  checkInt('notBefore', f.notBefore);
  checkInt('notAfter', f.notAfter);
  checkInt('seq', f.seq);
  if (f.notBefore > f.notAfter) throw new WotError('ERR_BAD_CERT', 'cert notBefore is after notAfter');
  const body = concatBytes(
    Uint8Array.of(CERT_VERSION),
    entityKey.publicKey,
    f.agent,
    f.x25519,
    u64be(f.notBefore),
    u64be(f.notAfter),
    u64be(f.seq),
  );
  return concatBytes(body, sign(entityKey, Domain.AGENT_CERT, body));
}

function parseLayout(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== CERT_BYTES) {
    throw new WotError('ERR_BAD_CERT', `agent certificate must be ${CERT_BYTES} bytes, got ${bytes?.length}`);
  }
  if (bytes[0] !== CERT_VERSION) {
    throw new WotError('ERR_BAD_CERT', `unsupported agent certificate version ${bytes[0]}`, 'upgrade wotrelay');
  }
}

function parseFields(bytes: Uint8Array): AgentCert {
  try {
    return {
      version: 1,
      entity: bytes.slice(1, 33),
      agent: bytes.slice(33, 65),
      x25519: bytes.slice(65, 97),
      notBefore: readU64be(bytes, 97),
      notAfter: readU64be(bytes, 105),
      seq: readU64be(bytes, 113),
    };
  } catch {
    throw new WotError('ERR_BAD_CERT', 'agent certificate has a time or seq field above 2^53-1');
  }
}

/**
 * Certificates whose keys and signature already checked out, by their exact bytes (the
 * same certificate arrives again and again: handshakes, every hop entry of every envelope,
 * route replies, announcements). Only the time window is checked again. Found by bits of the
 * signature; bounded, oldest generation out first (agent/crypto/bytecache.ts).
 */
const VERIFIED_CERTS_MAX = 32_768;
const verifiedCerts = new ByteCache<{ cert: AgentCert; bytes: Uint8Array }>(VERIFIED_CERTS_MAX, (e) => e.bytes, CERT_BODY_BYTES);

/**
 * Verifies layout, keys, signature (before looking at any other field) and validity time.
 * Throws ERR_BAD_CERT, ERR_BAD_SIGNATURE or ERR_CERT_EXPIRED. `remember: false` uses the
 * cache but adds nothing to it: a handshake from a stranger must leave no state behind.
 */
export function verifyCert(bytes: Uint8Array, now: number, skewMs: number = CERT_CLOCK_SKEW_MS, remember = true): AgentCert {
  parseLayout(bytes);
  const known = verifiedCerts.get(bytes);
  if (known) {
    checkWindow(known.cert, now, skewMs);
    return { ...known.cert };
  }
  const cert = verifyUncached(bytes);
  if (remember) verifiedCerts.set({ cert, bytes: bytes.slice() });
  checkWindow(cert, now, skewMs);
  return { ...cert };
}

/** The verified-certificate cache's size and bound. */
export function certCacheStats(): { size: number; max: number } {
  return { size: verifiedCerts.size, max: verifiedCerts.max };
}

function checkWindow(cert: AgentCert, now: number, skewMs: number): void {
  if (now + skewMs < cert.notBefore) {
    throw new WotError('ERR_CERT_EXPIRED', `agent certificate is not valid until ${iso(cert.notBefore)}`, RENEW_HINT);
  }
  if (now - skewMs > cert.notAfter) {
    throw new WotError('ERR_CERT_EXPIRED', `agent certificate expired at ${iso(cert.notAfter)}`, RENEW_HINT);
  }
}

function verifyUncached(bytes: Uint8Array): AgentCert {
  const entity = bytes.subarray(1, 33);
  const agent = bytes.subarray(33, 65);
  if (!isStrictPublicKey(entity)) throw new WotError('ERR_BAD_CERT', 'agent certificate has an invalid entity public key');
  if (!isStrictPublicKey(agent)) throw new WotError('ERR_BAD_CERT', 'agent certificate has an invalid agent public key');
  if (!isStrictBoxPublicKey(bytes.subarray(65, 97))) throw new WotError('ERR_BAD_CERT', 'agent certificate has an invalid X25519 key (non-canonical or of low order)');
  const body = bytes.subarray(0, CERT_BODY_BYTES);
  const sig = bytes.subarray(CERT_BODY_BYTES);
  if (!verify(entity, Domain.AGENT_CERT, body, sig)) {
    throw new WotError('ERR_BAD_SIGNATURE', 'agent certificate signature is not valid for its entity key');
  }
  const cert = parseFields(bytes);
  if (cert.notBefore > cert.notAfter) {
    throw new WotError('ERR_BAD_CERT', 'agent certificate notBefore is after notAfter');
  }
  return cert;
}

/** Decodes without checking the signature or time: only for display of stored, already verified certs. */
export function decodeCertUnverified(bytes: Uint8Array): AgentCert {
  parseLayout(bytes);
  return parseFields(bytes);
}
