/**
 * The signed hop chain of an envelope. Each hop appends `{a, n, s, c}`: its agent key,
 * the entity it hands the message to, and a signature (Domain.HOP) over
 *
 *   id (16) || sha256(body) (32) || hash of the previous entry (32, zeros for the first) || n (32)
 *
 * where an entry's hash is sha256(a || n || s). The recipient verifies the whole chain
 * (every signature, every certificate, every hand-over naming the next signer's entity,
 * the last naming itself and signed by the neighbour it came from) before delivering.
 */
import { concatBytes, equalBytes, sha256, sign, verify, type SigningKey } from '../crypto/index.js';
import { verifyCert, type AgentCert } from '../identity/index.js';
import { Domain } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import type { Envelope, HopEntry } from '../wire/types.js';

const ZERO32 = new Uint8Array(32);

export function entryHash(e: HopEntry): Uint8Array {
  return sha256(e.a, e.n, e.s);
}

export function hopSigningBytes(id: Uint8Array, bodyHash: Uint8Array, prevHash: Uint8Array, next: Uint8Array): Uint8Array {
  return concatBytes(id, bodyHash, prevHash, next);
}

/** Builds this agent's hop entry handing `env` to entity `next`. */
export function signHop(
  agent: SigningKey,
  certBytes: Uint8Array,
  env: Pick<Envelope, 'id' | 'body' | 'hops'>,
  next: Uint8Array,
  bodyHash: Uint8Array = sha256(env.body),
): HopEntry {
  const last = env.hops[env.hops.length - 1];
  const prev = last ? entryHash(last) : ZERO32;
  const s = sign(agent, Domain.HOP, hopSigningBytes(env.id, bodyHash, prev, next));
  return { a: agent.publicKey, n: next, s, c: certBytes };
}

export interface VerifiedHop {
  agent: Uint8Array;
  entity: Uint8Array;
  cert: AgentCert;
}

/**
 * Verifies the chain of `env` as received by entity `self` from the neighbour whose agent
 * key is `fromAgent`. Returns the path, sender first. Throws WotError('ERR_BAD_SIGNATURE'
 * | 'ERR_BAD_CERT' | 'ERR_CERT_EXPIRED' | 'ERR_BAD_FIELD') naming the broken hop.
 */
export function verifyChain(env: Envelope, self: Uint8Array, fromAgent: Uint8Array, now: number): VerifiedHop[] {
  if (env.hops.length === 0) throw new WotError('ERR_BAD_FIELD', 'envelope has no hop entries');
  const bodyHash = sha256(env.body);
  const path: VerifiedHop[] = [];
  let prev: Uint8Array = ZERO32;
  for (let i = 0; i < env.hops.length; i++) {
    const h = env.hops[i]!;
    if (!h.c) throw new WotError('ERR_BAD_CERT', `hop ${i} carries no certificate`);
    const cert = verifyCert(h.c, now);
    if (!equalBytes(cert.agent, h.a)) throw new WotError('ERR_BAD_CERT', `hop ${i} certificate names another agent`);
    if (!verify(h.a, Domain.HOP, hopSigningBytes(env.id, bodyHash, prev, h.n), h.s)) {
      throw new WotError('ERR_BAD_SIGNATURE', `hop ${i} signature does not verify`);
    }
    if (i > 0 && !equalBytes(env.hops[i - 1]!.n, cert.entity)) {
      throw new WotError('ERR_BAD_SIGNATURE', `hop ${i - 1} handed the message to another entity than hop ${i}`);
    }
    path.push({ agent: h.a, entity: cert.entity, cert });
    prev = entryHash(h);
  }
  const last = env.hops[env.hops.length - 1]!;
  if (!equalBytes(last.n, self)) throw new WotError('ERR_BAD_SIGNATURE', 'last hop handed the message to another entity');
  if (!equalBytes(last.a, fromAgent)) throw new WotError('ERR_BAD_SIGNATURE', 'last hop is not the neighbour it came from');
  return path;
}
