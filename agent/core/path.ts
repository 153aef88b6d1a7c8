/**
 * The signed hop chain of an envelope. Each hop appends `{a, n, l, s, p?, x?, c}`: its agent
 * key, the entity it hands the message to, the leaf `l` of its item, and a batch signature
 * (agent/crypto/merkle.ts, PROTOCOL.md 3.16) whose item (Domain.HOP) is
 *
 *   id (16) || sha256(body) (32) || l of the previous entry (32, zeros for the first) || n (32) || a (32)
 *
 * so `l` = leaf(Domain.HOP, item) chains every entry to all before it and to its signer. `s`
 * signs the root of the Merkle tree the agent signed for its batch; `p` and `x` prove the
 * leaf is under it. Relays take the previous `l` as given (they do not verify); the recipient
 * recomputes every leaf from the envelope and checks it against `l`, then every certificate,
 * every hand-over naming the next signer's entity, the last naming itself and signed by the
 * neighbour it came from, and every batch signature (through its cache of verified roots)
 * before delivering.
 */
import { HASH_INPUT_BYTES, concatBytes, digestInput, hashInput, leafPrefix, merkleLeafOf, sameBytes as same, sha256, verifyBatchedLeaf } from '../crypto/index.js';
import { verifyCert, type AgentCert } from '../identity/index.js';
import { Domain } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import type { Envelope, HopEntry } from '../wire/types.js';
import { PENDING_SIG, type ItemSigner } from './batch.js';

const ZERO32 = new Uint8Array(32);

/** The item a hop signs (as one leaf of its batch). */
export function hopSigningBytes(id: Uint8Array, bodyHash: Uint8Array, prevLeaf: Uint8Array, next: Uint8Array, agent: Uint8Array): Uint8Array {
  return concatBytes(id, bodyHash, prevLeaf, next, agent);
}

/** The leaf of a hop's item: merkleLeaf(Domain.HOP, hopSigningBytes(…)), in one step. */
export function hopLeaf(id: Uint8Array, bodyHash: Uint8Array, prevLeaf: Uint8Array, next: Uint8Array, agent: Uint8Array): Uint8Array {
  return merkleLeafOf(Domain.HOP, id, bodyHash, prevLeaf, next, agent);
}

const HOP_PREFIX = leafPrefix(Domain.HOP);

/**
 * True when hopLeaf(id, bodyHash, prevLeaf, next, agent) is `expected`: hashed from the shared
 * off-heap input, compared where it lands (a recipient checks five of these per message).
 */
function hopLeafIs(expected: Uint8Array, id: Uint8Array, bodyHash: Uint8Array, prevLeaf: Uint8Array, next: Uint8Array, agent: Uint8Array): boolean {
  const len = HOP_PREFIX.length + id.length + bodyHash.length + prevLeaf.length + next.length + agent.length;
  if (len > HASH_INPUT_BYTES) return same(hopLeaf(id, bodyHash, prevLeaf, next, agent), expected);
  const input = hashInput;
  input.set(HOP_PREFIX, 0);
  let off = HOP_PREFIX.length;
  input.set(id, off);
  off += id.length;
  input.set(bodyHash, off);
  off += bodyHash.length;
  input.set(prevLeaf, off);
  off += prevLeaf.length;
  input.set(next, off);
  off += next.length;
  input.set(agent, off);
  return same(digestInput(len), expected);
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
  const entry: HopEntry = { a: signer.publicKey, n: next, l: hopLeaf(env.id, bodyHash, last ? last.l : ZERO32, next, signer.publicKey), s: PENDING_SIG, c: certBytes };
  signer.signLeaf(entry.l, entry);
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
export function verifyChain(env: Envelope, self: Uint8Array, fromAgent: Uint8Array, now: number, knownBodyHash?: Uint8Array): VerifiedHop[] {
  if (env.hops.length === 0) throw new WotError('ERR_BAD_FIELD', 'envelope has no hop entries');
  const last = env.hops[env.hops.length - 1]!;
  // Cheap checks first: a chain not meant for us, or not from this neighbour, costs no hashing.
  if (!same(last.n, self)) throw new WotError('ERR_BAD_SIGNATURE', 'last hop handed the message to another entity');
  if (!same(last.a, fromAgent)) throw new WotError('ERR_BAD_SIGNATURE', 'last hop is not the neighbour it came from');
  const bodyHash = knownBodyHash ?? sha256(env.body);
  const path: VerifiedHop[] = [];
  let prev: Uint8Array = ZERO32;
  for (let i = 0; i < env.hops.length; i++) {
    const h = env.hops[i]!;
    if (!h.c) throw new WotError('ERR_BAD_CERT', `hop ${i} carries no certificate`);
    const cert = verifyCert(h.c, now);
    if (!same(cert.agent, h.a)) throw new WotError('ERR_BAD_CERT', `hop ${i} certificate names another agent`);
    if (i > 0 && !same(env.hops[i - 1]!.n, cert.entity)) {
      throw new WotError('ERR_BAD_SIGNATURE', `hop ${i - 1} handed the message to another entity than hop ${i}`);
    }
    // The leaf recomputed from the message must be the one the entry carries (so `h.l` is it).
    if (!hopLeafIs(h.l, env.id, bodyHash, prev, h.n, h.a)) throw new WotError('ERR_BAD_SIGNATURE', `hop ${i} entry does not match the message and the hops before it`);
    if (!verifyBatchedLeaf(h.a, h.l, h)) throw new WotError('ERR_BAD_SIGNATURE', `hop ${i} signature does not verify`);
    path.push({ agent: h.a, entity: cert.entity, cert });
    prev = h.l;
  }
  return path;
}
