/**
 * A made-up identity for in-process benchmarks (relaycore, verify): an entity key, an agent
 * key, a box key and the agent certificate the entity issues, valid an hour either side of
 * `now`. Fresh random keys each call.
 */
import { generateBoxKey, randomBytes, signingKeyFromSeed, type BoxKey, type SigningKey } from '../../agent/crypto/index.js';
import { decodeCertUnverified, issueCert, type AgentCert } from '../../agent/identity/index.js';

export interface Party {
  entity: SigningKey;
  agent: SigningKey;
  box: BoxKey;
  certBytes: Uint8Array;
  cert: AgentCert;
}

export function benchParty(now: number): Party {
  const entity = signingKeyFromSeed(randomBytes(32));
  const agent = signingKeyFromSeed(randomBytes(32));
  const box = generateBoxKey();
  const certBytes = issueCert(entity, { agent: agent.publicKey, x25519: box.publicKey, notBefore: now - 3600_000, notAfter: now + 86400_000, seq: 1 });
  return { entity, agent, box, certBytes, cert: decodeCertUnverified(certBytes) };
}
