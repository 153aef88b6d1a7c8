/**
 * Batch signatures: one Ed25519 signature over the Merkle root of many items, each item
 * carrying its inclusion proof, so a signer pays one signature per batch and a verifier one
 * verification per root (PROTOCOL.md 3.13).
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
import { hash as nodeHash } from 'node:crypto';
import { Domain, Limits, type DomainTag } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import { sign, verify, type SigningKey } from './ed25519.js';

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

function digest(b: Uint8Array): Uint8Array {
  const h = nodeHash('sha256', b, 'buffer');
  return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
}

/** The leaf of an item: sha256(0x00 || utf8(domain) || 0x00 || bytes). */
export function merkleLeaf(domain: DomainTag, bytes: Uint8Array): Uint8Array {
  const pre = prefixOf(domain);
  const buf = new Uint8Array(pre.length + bytes.length);
  buf.set(pre, 0);
  buf.set(bytes, pre.length);
  return digest(buf);
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
  const { root, proofs } = merkleTree(items.map((it) => merkleLeaf(it.domain, it.bytes)));
  const s = sign(key, Domain.BATCH, root);
  return proofs.map((pr) => (pr.p.length === 0 ? { s } : { s, p: pr.p, x: pr.x }));
}

/**
 * Nodes (leaves, inner nodes, roots) known to lie under a root signed by a public key, by
 * latin1(public key || node), each with the rest of its path up to that root (siblings from
 * `from` on in `rest`, directions `x`). A climb stops early only where the rest of its proof
 * is exactly that known path, so a proof is always checked in full: a wrong sibling or
 * direction climbs to a root nobody signed. Insertion order = age; the oldest go first.
 */
interface KnownPath {
  rest: Uint8Array[];
  from: number;
  x: number;
}
const known = new Map<string, KnownPath>();
const KNOWN_MAX = 131_072;

const keyBuf = new Uint8Array(64);
function knownKey(pub: Uint8Array, node: Uint8Array): string {
  keyBuf.set(pub, 0);
  keyBuf.set(node, 32);
  return Buffer.from(keyBuf.buffer, 0, 64).toString('latin1');
}

/** Remembers nodes[0..] of a verified climb; node j's path up starts at sibling j of `rest`. */
function remember(pub: Uint8Array, nodes: Uint8Array[], rest: Uint8Array[], x: number): void {
  for (let j = 0; j < nodes.length; j++) {
    if (known.size >= KNOWN_MAX) known.delete(known.keys().next().value!);
    known.set(knownKey(pub, nodes[j]!), { rest, from: j, x: x >>> j });
  }
}

/** True when siblings p[i..] and directions x >>> i are exactly the known path's. */
function samePath(k: KnownPath, p: readonly Uint8Array[], i: number, x: number): boolean {
  if (k.x !== x >>> i || k.rest.length - k.from !== p.length - i) return false;
  for (let j = 0; i + j < p.length; j++) {
    if (Buffer.compare(k.rest[k.from + j]!, p[i + j]!) !== 0) return false;
  }
  return true;
}

/**
 * True when the item (`domain`, `bytes`) is in a batch whose root `pub` signed, by exactly
 * this proof. Never throws: malformed proofs, wrong keys and bad signatures give false.
 */
export function verifyBatched(pub: Uint8Array, domain: DomainTag, bytes: Uint8Array, sig: BatchSig): boolean {
  try {
    if (!(pub instanceof Uint8Array) || pub.length !== 32) return false;
    if (!(sig.s instanceof Uint8Array) || sig.s.length !== 64) return false;
    const p = sig.p ?? [];
    const x = sig.x ?? 0;
    if (!Array.isArray(p) || p.length > Limits.MAX_PROOF || !Number.isInteger(x) || x < 0 || x >= 2 ** p.length) return false;
    for (const sib of p) if (!(sib instanceof Uint8Array) || sib.length !== 32) return false;
    let node = merkleLeaf(domain, bytes);
    const climbed: Uint8Array[] = [];
    for (let i = 0; ; i++) {
      // A known node whose known path up is exactly the rest of this proof: done. (The same
      // item may be in several batches, so another path is not an error: climb on.)
      const k = known.get(knownKey(pub, node));
      if (k && samePath(k, p, i, x)) {
        if (climbed.length > 0) remember(pub, climbed, [...p.slice(0, i).map((b) => b.slice()), ...k.rest.slice(k.from)], x);
        return true;
      }
      climbed.push(node);
      if (i === p.length) break;
      node = (x >>> i) & 1 ? merkleNode(p[i]!, node) : merkleNode(node, p[i]!);
    }
    if (!verify(pub, Domain.BATCH, node, sig.s)) return false;
    // Copies: the siblings may be views into a received buffer that is about to be reused.
    remember(pub, climbed, p.map((b) => b.slice()), x);
    return true;
  } catch {
    return false;
  }
}

/** Forgets every verified root (tests measure cold verification with it). */
export function clearBatchCache(): void {
  known.clear();
}
