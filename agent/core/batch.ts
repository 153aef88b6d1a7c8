/**
 * Deferred signing for the core. While a batch is open, the items the core signs for its
 * neighbours (hop entries, progress reports, acks) are collected, and when the outermost
 * batch closes they are signed together: one Merkle root, one Ed25519 signature, a proof per
 * item (agent/crypto/merkle.ts, PROTOCOL.md 3.16). Outside a batch an item is signed at once
 * (a batch of one). The daemon opens one batch per group of events it commits together, so a
 * relay signs once for whatever is queued for its neighbours at that moment; it never waits
 * for a batch to fill.
 *
 * An item to sign is an object with the BatchSig fields (`s`, `p`, `x`): `s` holds an empty
 * placeholder until the batch closes, then the signature; actions carrying it must not be
 * encoded before that (the core returns them only after its batch closed).
 */
import { merkleLeaf, signLeaves, type BatchSig, type SigningKey } from '../crypto/index.js';
import type { DomainTag } from '../wire/constants.js';

/** Placeholder signature of an item whose batch is still open (never valid on the wire). */
export const PENDING_SIG = new Uint8Array(0);

/** Something that signs items for the core, now or when its batch closes. */
export interface ItemSigner {
  readonly publicKey: Uint8Array;
  /** Fills `into.s` (and `into.p`, `into.x` when the batch has several items). */
  sign(domain: DomainTag, bytes: Uint8Array, into: BatchSig): void;
  /** The same for an item whose leaf (merkleLeaf) the caller has computed. */
  signLeaf(leaf: Uint8Array, into: BatchSig): void;
}

/** Signs each item alone, at once (a batch of one: root = leaf, empty proof). */
export function immediateSigner(key: SigningKey): ItemSigner {
  return {
    publicKey: key.publicKey,
    sign(domain, bytes, into) {
      fill(into, signLeaves(key, [merkleLeaf(domain, bytes)])[0]!);
    },
    signLeaf(leaf, into) {
      fill(into, signLeaves(key, [leaf])[0]!);
    },
  };
}

function fill(into: BatchSig, sig: BatchSig): void {
  into.s = sig.s;
  if (sig.p && sig.p.length > 0) {
    into.p = sig.p;
    into.x = sig.x ?? 0;
  } else {
    delete into.p;
    delete into.x;
  }
}

export class BatchSigner implements ItemSigner {
  private depth = 0;
  private items: Array<{ leaf: Uint8Array; into: BatchSig }> = [];
  /** Batches signed and items in them (for metrics and benchmarks). */
  readonly stats = { batches: 0, items: 0 };

  constructor(
    private readonly key: SigningKey,
    /** A batch is signed early when it reaches this many items (keeps proofs short). */
    private readonly maxItems = 4096,
  ) {}

  get publicKey(): Uint8Array {
    return this.key.publicKey;
  }

  /**
   * Runs `fn` inside a batch. When the outermost batch ends normally, everything collected
   * is signed; when `fn` throws, what it collected is dropped (its actions are never sent).
   */
  run<T>(fn: () => T): T {
    this.depth++;
    let ok = false;
    try {
      const r = fn();
      ok = true;
      return r;
    } finally {
      this.depth--;
      if (this.depth === 0) {
        if (ok) this.flush();
        else if (this.items.length > 0) this.items = [];
      }
    }
  }

  sign(domain: DomainTag, bytes: Uint8Array, into: BatchSig): void {
    this.signLeaf(merkleLeaf(domain, bytes), into);
  }

  signLeaf(leaf: Uint8Array, into: BatchSig): void {
    if (this.depth === 0) {
      this.stats.batches++;
      this.stats.items++;
      fill(into, signLeaves(this.key, [leaf])[0]!);
      return;
    }
    into.s = PENDING_SIG;
    this.items.push({ leaf, into });
    if (this.items.length >= this.maxItems) this.flush();
  }

  /** Signs what is collected so far (the batch stays open). */
  flush(): void {
    const items = this.items;
    if (items.length === 0) return;
    this.items = [];
    const sigs = signLeaves(this.key, items.map((it) => it.leaf));
    for (let i = 0; i < items.length; i++) fill(items[i]!.into, sigs[i]!);
    this.stats.batches++;
    this.stats.items += items.length;
  }
}
