/**
 * Identities for the memory benchmark, derived from a prefix and an index (so the process
 * that opens the links and the one that fills the agent's trust list agree without
 * exchanging 10,000 keys). Keys and certificates come from test/sim/keys.ts (JWK import:
 * fast enough to make ten thousand).
 */
import { createHash } from 'node:crypto';
import { boxKeyFromSecret, type SigningKey } from '../../agent/crypto/index.js';
import { simIssueCert, simSigningKey } from '../sim/keys.js';

export function farmIdentity(prefix: string, n: number): { entity: SigningKey; agent: SigningKey; cert: Uint8Array } {
  const seed = (what: string) => new Uint8Array(createHash('sha256').update(`${prefix}/${what}/${n}`).digest());
  const entity = simSigningKey(seed('e'));
  const agent = simSigningKey(seed('a'));
  const now = Date.now();
  const cert = simIssueCert(entity, { agent: agent.publicKey, x25519: boxKeyFromSecret(seed('x')).publicKey, notBefore: now - 3600_000, notAfter: now + 86400_000, seq: 1 });
  return { entity, agent, cert };
}
