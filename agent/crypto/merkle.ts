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
 * Inner nodes and roots known to lie under a root signed by a public key, each with the rest
 * of its path up to that root (siblings from `from` on in `rest`, directions `x`) and the
 * root's verified signature. A climb stops early only where the rest of its proof and its
 * signature are exactly those, so an item is always checked in full: a wrong sibling,
 * direction or signature climbs to a root that must then verify.
 *
 * Keyed by the node's first 48 bits (a number: no string to build per lookup); an entry
 * counts only when its whole node and public key match, so a key collision is just a miss.
 * Two generations bound it (at most KNOWN_MAX entries): when the young one is full it becomes
 * the old one and the old one is dropped, O(1) per entry (deleting the oldest entry of a Map
 * one by one is not).
 */
interface KnownPath {
  node: Uint8Array;
  pub: Uint8Array;
  rest: Uint8Array[];
  from: number;
  x: number;
  /** The root signature that was verified. */
  s: Uint8Array;
}
const KNOWN_MAX = 131_072;
let young = new Map<number, KnownPath>();
let old = new Map<number, KnownPath>();

const keyOf = (node: Uint8Array): number => (node[0]! * 0x1000000 + node[1]! * 0x10000 + node[2]! * 0x100 + node[3]!) * 0x10000 + node[4]! * 0x100 + node[5]!;

/** Equality of two byte strings of public data (not constant time). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function lookup(pub: Uint8Array, node: Uint8Array): KnownPath | undefined {
  const key = keyOf(node);
  const k = young.get(key) ?? old.get(key);
  return k && same(k.node, node) && same(k.pub, pub) ? k : undefined;
}

function put(v: KnownPath): void {
  if (young.size >= KNOWN_MAX / 2) {
    old = young;
    young = new Map();
  }
  young.set(keyOf(v.node), v);
}

/**
 * Remembers what a verified climb showed to be under the root: the nodes climbed above the
 * leaf (node j's path up is siblings j.. of `path`), and each sibling met on the way (its
 * path up starts with the node it was paired with). The next item of the same batch then
 * usually meets a known node after one hash, or none when it is a sibling seen already.
 */
function remember(pub: Uint8Array, nodes: Uint8Array[], path: Uint8Array[], x: number, s: Uint8Array): void {
  for (let j = 0; j < nodes.length; j++) {
    if (j > 0) put({ node: nodes[j]!, pub, rest: path, from: j, x: x >>> j, s });
    if (j < path.length) put({ node: path[j]!, pub, rest: [nodes[j]!, ...path.slice(j + 1)], from: 0, x: ((x >>> (j + 1)) << 1) | (1 - ((x >>> j) & 1)), s });
  }
}

/** True when siblings p[i..], directions x >>> i and the root signature are exactly the known path's. */
function samePath(k: KnownPath, p: readonly Uint8Array[], i: number, x: number, s: Uint8Array): boolean {
  if (k.x !== x >>> i || k.rest.length - k.from !== p.length - i || !same(k.s, s)) return false;
  for (let j = 0; i + j < p.length; j++) {
    if (!same(k.rest[k.from + j]!, p[i + j]!)) return false;
  }
  return true;
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
    for (const sib of p) if (!(sib instanceof Uint8Array) || sib.length !== 32) return false;
    if (!(leaf instanceof Uint8Array) || leaf.length !== 32) return false;
    let node = leaf;
    // The leaf itself may be known: the sibling of an item verified before.
    const atLeaf = lookup(pub, leaf);
    if (atLeaf && samePath(atLeaf, p, 0, x, sig.s)) return true;
    const climbed: Uint8Array[] = [node];
    for (let i = 0; i < p.length; i++) {
      node = (x >>> i) & 1 ? merkleNode(p[i]!, node) : merkleNode(node, p[i]!);
      // A known node whose known path up is exactly the rest of this proof: done. (The same
      // item may be in several batches, so another path is not an error: climb on.)
      const k = lookup(pub, node);
      if (k && samePath(k, p, i + 1, x, sig.s)) {
        // p[i + 1..] is the known path: p is this leaf's whole path to the root.
        remember(k.pub, climbed, p.map((b) => b.slice()), x, k.s);
        return true;
      }
      climbed.push(node);
    }
    if (!verify(pub, Domain.BATCH, node, sig.s)) return false;
    // Copies: the siblings may be views into a received buffer that is about to be reused.
    const s = sig.s.slice();
    const owner = pub.slice();
    if (p.length === 0) put({ node: node.slice(), pub: owner, rest: [], from: 0, x: 0, s });
    else remember(owner, climbed, p.map((b) => b.slice()), x, s);
    return true;
  } catch {
    return false;
  }
}

/** Forgets every verified root (tests measure cold verification with it). */
export function clearBatchCache(): void {
  young = new Map();
  old = new Map();
}
