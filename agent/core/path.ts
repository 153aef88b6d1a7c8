/**
 * The signed hop chain of an envelope. Each hop appends `{a, n, s, p?, x?, c}`: its agent
 * key, the entity it hands the message to, and a batch signature (agent/crypto/merkle.ts)
 * over the item (Domain.HOP)
 *
 *   id (16) || sha256(body) (32) || H(previous entry) (32, zeros for the first) || n (32)
 *
 * where H(entry) = sha256(a || n || s || u32be(x) || p[0] || p[1] || …). Each hop's item is
 * one leaf of the Merkle tree its agent signed for a batch; `s` signs the root, `p` and `x`
 * prove the leaf is in it. The recipient verifies the whole chain (every root signature,
 * through a cache of verified roots; every certificate; every hand-over naming the next
 * signer's entity; the last naming itself and signed by the neighbour it came from) before
 * delivering.
 */
import { concatBytes, equalBytes, sha256, verifyBatched } from '../crypto/index.js';
import { verifyCert, type AgentCert } from '../identity/index.js';
import { Domain } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import type { Envelope, HopEntry } from '../wire/types.js';
import { PENDING_SIG, type ItemSigner } from './batch.js';

const ZERO32 = new Uint8Array(32);

/** H(entry): binds the signer, the hand-over, the root signature and the leaf's place under it. */
export function entryHash(e: HopEntry): Uint8Array {
  const x = new Uint8Array(4);
  new DataView(x.buffer).setUint32(0, e.x ?? 0);
  return sha256(e.a, e.n, e.s, x, ...(e.p ?? []));
}

/** The bytes a hop signs (as one item of its batch). */
export function hopSigningBytes(id: Uint8Array, bodyHash: Uint8Array, prevHash: Uint8Array, next: Uint8Array): Uint8Array {
  return concatBytes(id, bodyHash, prevHash, next);
}

/**
 * Builds this agent's hop entry handing `env` to entity `next`. The entry's signature is
 * filled by `signer`: at once, or when the signer's open batch closes.
 */
export function signHop(
  signer: ItemSigner,
  certBytes: Uint8Array,
  env: Pick<Envelope, 'id' | 'body' | 'hops'>,
  next: Uint8Array,
  bodyHash: Uint8Array = sha256(env.body),
): HopEntry {
  const last = env.hops[env.hops.length - 1];
  const prev = last ? entryHash(last) : ZERO32;
  const entry: HopEntry = { a: signer.publicKey, n: next, s: PENDING_SIG, c: certBytes };
  signer.sign(Domain.HOP, hopSigningBytes(env.id, bodyHash, prev, next), entry);
  return entry;
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
  const last = env.hops[env.hops.length - 1]!;
  // Cheap checks first: a chain not meant for us, or not from this neighbour, costs no hashing.
  if (!equalBytes(last.n, self)) throw new WotError('ERR_BAD_SIGNATURE', 'last hop handed the message to another entity');
  if (!equalBytes(last.a, fromAgent)) throw new WotError('ERR_BAD_SIGNATURE', 'last hop is not the neighbour it came from');
  const bodyHash = sha256(env.body);
  const path: VerifiedHop[] = [];
  let prev: Uint8Array = ZERO32;
  for (let i = 0; i < env.hops.length; i++) {
    const h = env.hops[i]!;
    if (!h.c) throw new WotError('ERR_BAD_CERT', `hop ${i} carries no certificate`);
    const cert = verifyCert(h.c, now);
    if (!equalBytes(cert.agent, h.a)) throw new WotError('ERR_BAD_CERT', `hop ${i} certificate names another agent`);
    if (i > 0 && !equalBytes(env.hops[i - 1]!.n, cert.entity)) {
      throw new WotError('ERR_BAD_SIGNATURE', `hop ${i - 1} handed the message to another entity than hop ${i}`);
    }
    if (!verifyBatched(h.a, Domain.HOP, hopSigningBytes(env.id, bodyHash, prev, h.n), h)) {
      throw new WotError('ERR_BAD_SIGNATURE', `hop ${i} signature does not verify`);
    }
    path.push({ agent: h.a, entity: cert.entity, cert });
    prev = entryHash(h);
  }
  return path;
}
