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
import { sameBytes as same } from './bytes.js';
import { digestInput, hashInput, sha256 } from './hash.js';

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

/** The bytes a leaf of `domain` hashes before its item: 0x00 || utf8(domain) || 0x00. */
export function leafPrefix(domain: DomainTag): Uint8Array {
  return prefixOf(domain);
}

/** The leaf of an item: sha256(0x00 || utf8(domain) || 0x00 || bytes). */
export function merkleLeaf(domain: DomainTag, bytes: Uint8Array): Uint8Array {
  return merkleLeafOf(domain, bytes);
}

/** The leaf of an item given in parts (their concatenation), without building the item first. */
export function merkleLeafOf(domain: DomainTag, ...parts: Uint8Array[]): Uint8Array {
  return sha256(prefixOf(domain), ...parts);
}

/** An inner node: sha256(0x01 || left || right). */
export function merkleNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return nodeDigest(left, right).slice();
}

/**
 * merkleNode without the copy: hashed from the shared off-heap input into the shared digest
 * buffer, valid until the next hash (the verified climb copies it where it belongs).
 */
function nodeDigest(left: Uint8Array, right: Uint8Array): Uint8Array {
  hashInput[0] = 0x01;
  hashInput.set(left, 1);
  hashInput.set(right, 33);
  return digestInput(65);
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
 * a public key signed, as a tree. Nodes are kept in pairs of siblings (the two children of
 * one parent, left and right); a pair names its parent node, and a root (a pair of its own)
 * the public key and the signature verified over it. A pair exists only because a climb that
 * ended at a verified root (or at a node that did) computed its parent from its two nodes, so
 * a node's chain up is a proof that checked out.
 *
 * A climb stops early only at a node whose chain up is exactly the rest of its proof — the
 * same siblings, directions and number of levels — ending at a root verified with exactly its
 * `s` and public key; so an item is always checked in full, a cache hit only saves recomputing
 * hashes and the Ed25519 check that gave the same answer before. A wrong sibling, direction or
 * signature climbs to a root that must then verify.
 *
 * Storage is flat and allocated once (on first use), so a verification allocates nothing and
 * leaves no objects for the garbage collector (which an object per node did: a third of the
 * recipient's time went to collecting them): node hashes in one byte array of NODE_SLOTS × 32
 * bytes, pairs in a ring of NODE_SLOTS / 2 (the oldest pair is overwritten first; each
 * rewrite bumps the pair's sequence number, and a link up holds the sequence number it was
 * made with, so a chain through an overwritten pair is a miss), and a direct-mapped look-up
 * table from 19 bits of a node's hash to its slot (two nodes sharing those bits take turns:
 * a miss, never a wrong hit, as every byte is compared). Memory: about 8 MiB, whatever comes.
 */
const NODE_SLOTS = 131_072;
const PAIRS = NODE_SLOTS >>> 1;
const TABLE_BITS = 19;
const NO_PARENT = -1;

interface VerifiedRoot {
  pub: Uint8Array;
  s: Uint8Array;
}

interface NodeCache {
  /** Node hashes: slot i at bytes [32 i, 32 i + 32). Pair q holds slots 2q (left) and 2q + 1 (right). */
  nodes: Uint8Array;
  /** Slot of pair q's parent node, or NO_PARENT for a root (then slot 2q is the root, 2q + 1 unused). */
  parent: Int32Array;
  /** The parent's pair's sequence number when the link was made. */
  parentSeq: Int32Array;
  /** Bumped each time pair q is rewritten. */
  seq: Int32Array;
  /** 0: pair q unused; 1: a pair of siblings; 2: a root. */
  kind: Uint8Array;
  /** What was verified over root pair q. */
  roots: Array<VerifiedRoot | undefined>;
  /** Look-up: 19 bits of a node's hash → its slot + 1 (0: none). */
  table: Int32Array;
  /** The pair to (re)write next. */
  next: number;
  /** Nodes held. */
  size: number;
  /** Pairs taken since the cache was made or cleared (clearing costs what was used). */
  taken: number;
}

let cache: NodeCache | null = null;
let rootsVerified = 0;

function nodeCache(): NodeCache {
  cache ??= {
    nodes: new Uint8Array(NODE_SLOTS * 32),
    parent: new Int32Array(PAIRS),
    parentSeq: new Int32Array(PAIRS),
    seq: new Int32Array(PAIRS),
    kind: new Uint8Array(PAIRS),
    roots: new Array<VerifiedRoot | undefined>(PAIRS).fill(undefined),
    table: new Int32Array(1 << TABLE_BITS),
    next: 0,
    size: 0,
    taken: 0,
  };
  return cache;
}

/** The look-up key of the 32-byte hash at b[off]: 19 bits of it (node hashes are SHA-256 output). */
function keyAt(b: Uint8Array, off: number): number {
  return (b[off]! << 11) | (b[off + 1]! << 3) | (b[off + 2]! >>> 5);
}

/** True when slot `slot` holds exactly the 32 bytes b[off, off + 32). */
function holds(c: NodeCache, slot: number, b: Uint8Array, off: number): boolean {
  const nodes = c.nodes;
  const at = slot * 32;
  for (let i = 0; i < 32; i += 4) {
    if (nodes[at + i] !== b[off + i] || nodes[at + i + 1] !== b[off + i + 1] || nodes[at + i + 2] !== b[off + i + 2] || nodes[at + i + 3] !== b[off + i + 3]) return false;
  }
  return true;
}

/** The slot holding exactly the hash b[off, off + 32), or -1. */
function find(c: NodeCache, b: Uint8Array, off: number): number {
  const slot = c.table[keyAt(b, off)]! - 1;
  return slot >= 0 && holds(c, slot, b, off) ? slot : -1;
}

function index(c: NodeCache, slot: number): void {
  c.table[keyAt(c.nodes, slot * 32)] = slot + 1;
}

function unindex(c: NodeCache, slot: number): void {
  const k = keyAt(c.nodes, slot * 32);
  if (c.table[k] === slot + 1) c.table[k] = 0;
}

/** Drops what pair q holds. */
function dropPair(c: NodeCache, q: number): void {
  const kind = c.kind[q]!;
  if (kind === 0) return;
  unindex(c, 2 * q);
  if (kind === 1) unindex(c, 2 * q + 1);
  c.size -= kind === 1 ? 2 : 1;
  c.roots[q] = undefined;
  c.kind[q] = 0;
}

/** Takes the next pair of the ring, dropping what it held. */
function takePair(c: NodeCache): number {
  const q = c.next;
  c.next = (q + 1) % PAIRS;
  c.taken++;
  dropPair(c, q);
  c.seq[q] = (c.seq[q]! + 1) | 0;
  return q;
}

/**
 * True when the chain up from `slot` is siblings p[i..] with directions x >>> i and ends at a
 * root that `pub` signed with `s`, every link of it still in place.
 */
function samePath(c: NodeCache, slot: number, pub: Uint8Array, p: readonly Uint8Array[], i: number, x: number, s: Uint8Array): boolean {
  let e = slot;
  for (;;) {
    const q = e >>> 1;
    const up = c.parent[q]!;
    if (up === NO_PARENT) {
      const r = c.roots[q]!;
      return i === p.length && same(r.s, s) && same(r.pub, pub);
    }
    // A node in the right slot has its sibling on the left: bit i set.
    if (i >= p.length || (e & 1) !== ((x >>> i) & 1) || !holds(c, e ^ 1, p[i]!, 0)) return false;
    if (c.seq[up >>> 1] !== c.parentSeq[q]) return false;
    e = up;
    i++;
  }
}

/**
 * The climb of the item being verified: its leaf at bytes [0, 32), the node of level j at
 * [32 j, 32 j + 32). `levels[j]` is a view of level j, made once.
 */
const climb = new Uint8Array((Limits.MAX_PROOF + 1) * 32);
const levels = Array.from({ length: Limits.MAX_PROOF + 1 }, (_, j) => climb.subarray(32 * j, 32 * j + 32));

/**
 * Remembers a verified climb: levels 0 .. `top` - 1 of `climb`, each with its sibling p[j] as
 * one pair, under the node at `topSlot` (the verified root, or where the climb met the cache)
 * whose pair had sequence number `topSeq`. The next item of the same batch then usually meets
 * a known node after one hash, or none when its leaf is a sibling seen already.
 */
function remember(c: NodeCache, top: number, p: readonly Uint8Array[], x: number, topSlot: number, topSeq: number): void {
  let up = topSlot;
  let upSeq = topSeq;
  for (let j = top - 1; j >= 0; j--) {
    const q = takePair(c);
    const self = 2 * q + ((x >>> j) & 1);
    c.nodes.set(levels[j]!, self * 32);
    c.nodes.set(p[j]!, (self ^ 1) * 32);
    index(c, self);
    index(c, self ^ 1);
    c.parent[q] = up;
    c.parentSeq[q] = upSeq;
    c.kind[q] = 1;
    c.size += 2;
    up = self;
    upSeq = c.seq[q]!;
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
    if (!Array.isArray(p) || p.length > Limits.MAX_PROOF || !Number.isInteger(x) || x < 0 || x >= 1 << p.length) return false;
    for (let i = 0; i < p.length; i++) {
      const sib = p[i];
      if (!(sib instanceof Uint8Array) || sib.length !== 32) return false;
    }
    if (!(leaf instanceof Uint8Array) || leaf.length !== 32) return false;
    const c = nodeCache();
    climb.set(leaf, 0);
    // The leaf itself may be known: the sibling of an item verified before.
    const atLeaf = find(c, climb, 0);
    if (atLeaf >= 0 && samePath(c, atLeaf, pub, p, 0, x, sig.s)) return true;
    for (let i = 0; i < p.length; i++) {
      // Bit i set: this level's node is the right child, its sibling the left.
      climb.set((x >>> i) & 1 ? nodeDigest(p[i]!, levels[i]!) : nodeDigest(levels[i]!, p[i]!), 32 * (i + 1));
      // A known node whose chain up is exactly the rest of this proof: done. (The same item
      // may be in several batches, so another path is not an error: climb on.)
      const k = find(c, climb, 32 * (i + 1));
      if (k >= 0 && samePath(c, k, pub, p, i + 1, x, sig.s)) {
        remember(c, i + 1, p, x, k, c.seq[k >>> 1]!);
        return true;
      }
    }
    const root = levels[p.length]!;
    if (!verify(pub, Domain.BATCH, root, sig.s)) return false;
    rootsVerified++;
    const q = takePair(c);
    c.nodes.set(root, 64 * q);
    index(c, 2 * q);
    c.parent[q] = NO_PARENT;
    c.roots[q] = { pub: pub.slice(), s: sig.s.slice() };
    c.kind[q] = 2;
    c.size += 1;
    remember(c, p.length, p, x, 2 * q, c.seq[q]!);
    return true;
  } catch {
    return false;
  }
}

/** The verified-node cache's size and bound (nodes), and how many root signatures it has checked. */
export function batchCacheStats(): { size: number; max: number; rootsVerified: number } {
  return { size: cache?.size ?? 0, max: NODE_SLOTS, rootsVerified };
}

/** Forgets every verified root (tests measure cold verification with it). */
export function clearBatchCache(): void {
  const c = cache;
  if (!c) return;
  // Since the last clear, pairs were taken from 0 on: drop those (the table then holds nothing).
  const used = Math.min(c.taken, PAIRS);
  for (let q = 0; q < used; q++) dropPair(c, q);
  c.next = 0;
  c.taken = 0;
}
