/**
 * Batch signatures: one Ed25519 signature over the Merkle root of many items, each item
 * carrying its inclusion proof, so a signer pays one signature per batch and a verifier one
 * verification per root (PROTOCOL.md 3.16).
 *
 *   leaf(domain, bytes) = sha256(0x00 || utf8(domain) || 0x00 || bytes)
 *   node(l, r)          = sha256(0x01 || l || r)
 *   root signature      = Ed25519 over utf8("wotrelay/v1/batch") || 0x00 || root (agent/crypto sign)
 *
 * The tree is built level by level from the leaves in order, pairing neighbours; an odd node
 * at the end of a level moves up unchanged (never duplicated). An item's proof is the list of
 * sibling hashes from its leaf up (`p`) and a bitmask (`x`, bit i set when sibling i is on the
 * left). A batch of one has root = leaf and an empty proof. Leaves and inner nodes hash with
 * different prefixes, and every leaf names its domain, so no leaf can stand for an inner node
 * or for an item of another kind.
 *
 * Verification climbs from the leaf and stops at the first node already known to be under a
 * root that this public key signed, by the same path as the rest of the proof (a bounded
 * cache, per process): the first item of a batch costs one signature check, the others a
 * hash or two.
 */
import { Domain, Limits, type DomainTag } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import { sign, verify, type SigningKey } from './ed25519.js';
import { ByteCache } from './bytecache.js';
import { sameBytes as same } from './bytes.js';
import { sha256, sha256One } from './hash.js';

/** How an item proves it is in a signed batch: root signature, sibling path, directions. */
export interface BatchSig {
  /** Ed25519 signature (64 bytes) over the batch root, domain Domain.BATCH. */
  s: Uint8Array;
  /** Sibling hashes (32 bytes each) from the leaf up; absent or empty for a batch of one. */
  p?: Uint8Array[];
  /** Bit i set: sibling i is the left one. Absent means 0. */
  x?: number;
}

const encoder = new TextEncoder();
const domainPrefix = new Map<string, Uint8Array>();

function prefixOf(domain: DomainTag): Uint8Array {
  let p = domainPrefix.get(domain);
  if (!p) {
    const d = encoder.encode(domain);
    p = new Uint8Array(d.length + 2);
    p[0] = 0x00;
    p.set(d, 1);
    p[d.length + 1] = 0x00;
    domainPrefix.set(domain, p);
  }
  return p;
}

const digest = sha256One;

/** The leaf of an item: sha256(0x00 || utf8(domain) || 0x00 || bytes). */
export function merkleLeaf(domain: DomainTag, bytes: Uint8Array): Uint8Array {
  return merkleLeafOf(domain, bytes);
}

/** The leaf of an item given in parts (their concatenation), without building the item first. */
export function merkleLeafOf(domain: DomainTag, ...parts: Uint8Array[]): Uint8Array {
  return sha256(prefixOf(domain), ...parts);
}

const pair = new Uint8Array(65);
pair[0] = 0x01;

/** An inner node: sha256(0x01 || left || right). */
export function merkleNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  pair.set(left, 1);
  pair.set(right, 33);
  return digest(pair);
}

/** The root of `leaves` (at least one) and each leaf's proof. */
export function merkleTree(leaves: readonly Uint8Array[]): { root: Uint8Array; proofs: Array<{ p: Uint8Array[]; x: number }> } {
  if (leaves.length === 0) throw new WotError('ERR_BAD_FIELD', 'a Merkle tree needs at least one leaf');
  if (leaves.length > 2 ** Limits.MAX_PROOF) throw new WotError('ERR_LIMIT_EXCEEDED', `a batch holds at most ${2 ** Limits.MAX_PROOF} items`);
  const proofs = leaves.map(() => ({ p: [] as Uint8Array[], x: 0 }));
  // pos[i]: index of leaf i's ancestor in the current level.
  const pos = leaves.map((_, i) => i);
  let level: Uint8Array[] = [...leaves];
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(merkleNode(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    for (let j = 0; j < leaves.length; j++) {
      const at = pos[j]!;
      const sib = at ^ 1;
      if (sib < level.length) {
        const pr = proofs[j]!;
        if (sib < at) pr.x |= 1 << pr.p.length;
        pr.p.push(level[sib]!);
      }
      pos[j] = at >> 1;
    }
    level = next;
  }
  return { root: level[0]!, proofs };
}

/** The root a leaf and its proof lead to. */
export function merkleRoot(leaf: Uint8Array, p: readonly Uint8Array[] = [], x = 0): Uint8Array {
  let node = leaf;
  for (let i = 0; i < p.length; i++) node = (x >>> i) & 1 ? merkleNode(p[i]!, node) : merkleNode(node, p[i]!);
  return node;
}

/** Signs one batch: a BatchSig per item, in order. */
export function signBatch(key: SigningKey, items: ReadonlyArray<{ domain: DomainTag; bytes: Uint8Array }>): BatchSig[] {
  return signLeaves(key, items.map((it) => merkleLeaf(it.domain, it.bytes)));
}

/** Signs one batch given its leaves (merkleLeaf of each item): a BatchSig per leaf, in order. */
export function signLeaves(key: SigningKey, leaves: readonly Uint8Array[]): BatchSig[] {
  const { root, proofs } = merkleTree(leaves);
  const s = sign(key, Domain.BATCH, root);
  return proofs.map((pr) => (pr.p.length === 0 ? { s } : { s, p: pr.p, x: pr.x }));
}

/**
 * The cache of verified nodes: inner nodes, roots and siblings known to lie under a root that
 * a public key signed, as a tree. Each entry names its node, its sibling and on which side
 * that sibling is, and its parent entry (hash of the pair); a root entry instead holds the
 * public key and the signature that were verified over it. An entry exists only because a
 * climb that ended at a verified root (or at an entry that did) computed its parent from it
 * and its sibling, so an entry's chain up is a proof that checked out.
 *
 * A climb stops early only at an entry whose chain up is exactly the rest of its proof — the
 * same siblings, directions and number of levels — ending at a root verified with exactly its
 * `s` and public key; so an item is always checked in full, a cache hit only saves recomputing
 * hashes and the Ed25519 check that gave the same answer before. A wrong sibling, direction or
 * signature climbs to a root that must then verify.
 *
 * The entries live in a ByteCache (bytecache.ts) by their node: at most KNOWN_MAX, oldest
 * generation out first. An entry keeps its parents alive (at most MAX_PROOF of them), so
 * memory is bounded too.
 */
interface Known {
  node: Uint8Array;
  /** The sibling hashed with `node` into `up.node`; null at a root. */
  sib: Uint8Array | null;
  /** 1 when `sib` is the left one. */
  left: number;
  up: Known | null;
  /** At a root: the public key and the signature verified over it. */
  pub: Uint8Array | null;
  s: Uint8Array | null;
}
const KNOWN_MAX = 131_072;
const known = new ByteCache<Known>(KNOWN_MAX, (k) => k.node);
let rootsVerified = 0;

/**
 * True when `k`'s chain up is siblings p[i..] with directions x >>> i and ends at a root that
 * `pub` signed with `s`.
 */
function samePath(k: Known, pub: Uint8Array, p: readonly Uint8Array[], i: number, x: number, s: Uint8Array): boolean {
  let e = k;
  for (; e.up !== null; e = e.up, i++) {
    if (i >= p.length || e.left !== ((x >>> i) & 1) || !same(e.sib!, p[i]!)) return false;
  }
  return i === p.length && same(e.s!, s) && same(e.pub!, pub);
}

/**
 * Remembers a verified climb: `climbed[j]` is the node at level j (the leaf at 0), `top` the
 * known entry of level climbed.length (the verified root, or where the climb met the cache).
 * Each level gets two entries, the climbed node and its sibling p[j], whose parent is the
 * level above; the next item of the same batch then usually meets a known node after one
 * hash, or none when it is a sibling seen already. The leaf itself is not kept (an item is
 * not verified twice in a row); its sibling is.
 */
function remember(climbed: Uint8Array[], p: readonly Uint8Array[], x: number, top: Known): void {
  let up = top;
  for (let j = climbed.length - 1; j >= 0; j--) {
    const left = (x >>> j) & 1;
    // Copies: the node and siblings may be views into a received buffer about to be reused.
    const node = j === 0 ? climbed[0]!.slice() : climbed[j]!;
    const sib = p[j]!.slice();
    known.set({ node: sib, sib: node, left: 1 - left, up, pub: null, s: null });
    if (j === 0) break;
    const self: Known = { node, sib, left, up, pub: null, s: null };
    known.set(self);
    up = self;
  }
}

/**
 * True when the item (`domain`, `bytes`) is in a batch whose root `pub` signed, by exactly
 * this proof. Never throws: malformed proofs, wrong keys and bad signatures give false.
 */
export function verifyBatched(pub: Uint8Array, domain: DomainTag, bytes: Uint8Array, sig: BatchSig): boolean {
  let leaf: Uint8Array;
  try {
    leaf = merkleLeaf(domain, bytes);
  } catch {
    return false;
  }
  return verifyBatchedLeaf(pub, leaf, sig);
}

/** verifyBatched for a leaf the caller has computed already (merkleLeaf of the item). */
export function verifyBatchedLeaf(pub: Uint8Array, leaf: Uint8Array, sig: BatchSig): boolean {
  try {
    if (!(pub instanceof Uint8Array) || pub.length !== 32) return false;
    if (!(sig.s instanceof Uint8Array) || sig.s.length !== 64) return false;
    const p = sig.p ?? [];
    const x = sig.x ?? 0;
    if (!Array.isArray(p) || p.length > Limits.MAX_PROOF || !Number.isInteger(x) || x < 0 || x >= 2 ** p.length) return false;
    for (let i = 0; i < p.length; i++) {
      const sib = p[i];
      if (!(sib instanceof Uint8Array) || sib.length !== 32) return false;
    }
    if (!(leaf instanceof Uint8Array) || leaf.length !== 32) return false;
    // The leaf itself may be known: the sibling of an item verified before.
    const atLeaf = known.get(leaf);
    if (atLeaf && samePath(atLeaf, pub, p, 0, x, sig.s)) return true;
    let node = leaf;
    const climbed: Uint8Array[] = [leaf];
    for (let i = 0; i < p.length; i++) {
      node = (x >>> i) & 1 ? merkleNode(p[i]!, node) : merkleNode(node, p[i]!);
      // A known node whose chain up is exactly the rest of this proof: done. (The same item
      // may be in several batches, so another path is not an error: climb on.)
      const k = known.get(node);
      if (k && samePath(k, pub, p, i + 1, x, sig.s)) {
        remember(climbed, p, x, k);
        return true;
      }
      climbed.push(node);
    }
    if (!verify(pub, Domain.BATCH, node, sig.s)) return false;
    rootsVerified++;
    climbed.pop(); // the root (the leaf itself for a batch of one)
    const root: Known = { node: p.length === 0 ? leaf.slice() : node, sib: null, left: 0, up: null, pub: pub.slice(), s: sig.s.slice() };
    known.set(root);
    remember(climbed, p, x, root);
    return true;
  } catch {
    return false;
  }
}

/** The verified-node cache's size and bound, and how many root signatures it has checked. */
export function batchCacheStats(): { size: number; max: number; rootsVerified: number } {
  return { size: known.size, max: known.max, rootsVerified };
}

/** Forgets every verified root (tests measure cold verification with it). */
export function clearBatchCache(): void {
  known.clear();
}
