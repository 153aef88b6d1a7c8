/**
 * A bounded cache of results of checks that passed, found by the exact bytes that were
 * checked: verified certificates (agent/identity/cert.ts), nodes under verified batch roots
 * (merkle.ts). A hit counts only when every byte is the same as those stored, so it can only
 * ever repeat the answer a full check gave for the same input; anything else is a miss and is
 * checked in full.
 *
 * Entries are found by 30 bits of their bytes (at `keyAt`: bytes that are already a hash or
 * a signature, so they spread evenly), a small integer for the Map: no string or heap number
 * is built per look-up. Two entries sharing those bits take turns (a miss, never a wrong hit).
 * Two generations bound it: new entries go to the young one; when it holds max/2, it becomes
 * the old one and the old one is dropped (O(1), where deleting a Map's oldest entries one by
 * one is not). A hit in the old generation moves the entry to the young one, so what is used
 * stays. At most `max` entries in all.
 */
import { sameBytes } from './bytes.js';

export class ByteCache<V> {
  private young = new Map<number, V>();
  private old = new Map<number, V>();

  /**
   * `bytesOf(v)` gives the bytes an entry stands for (kept by the entry: the caller stores
   * its own copy, never a view of a buffer that is reused); `keyAt` the offset of the 4 bytes
   * the look-up key is taken from (every stored byte string is longer than keyAt + 4).
   */
  constructor(
    readonly max: number,
    private readonly bytesOf: (v: V) => Uint8Array,
    private readonly keyAt = 0,
  ) {
    if (!Number.isInteger(max) || max < 2) throw new RangeError('ByteCache needs room for at least 2 entries');
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  private keyOf(b: Uint8Array): number {
    const o = this.keyAt;
    return ((b[o]! << 22) | (b[o + 1]! << 14) | (b[o + 2]! << 6) | (b[o + 3]! >>> 2)) >>> 0;
  }

  /** The entry stored for exactly `bytes`, or undefined. */
  get(bytes: Uint8Array): V | undefined {
    if (bytes.length < this.keyAt + 4) return undefined;
    const key = this.keyOf(bytes);
    const y = this.young.get(key);
    if (y !== undefined) return sameBytes(this.bytesOf(y), bytes) ? y : undefined;
    const o = this.old.get(key);
    if (o === undefined || !sameBytes(this.bytesOf(o), bytes)) return undefined;
    this.old.delete(key);
    this.store(key, o);
    return o;
  }

  /** Stores `v` (replacing any entry with the same key). */
  set(v: V): void {
    const b = this.bytesOf(v);
    if (b.length < this.keyAt + 4) return;
    const key = this.keyOf(b);
    this.old.delete(key);
    this.store(key, v);
  }

  /** Drops the entry stored for exactly `bytes`, if any (an entry sharing only its look-up bits stays). */
  delete(bytes: Uint8Array): void {
    if (bytes.length < this.keyAt + 4) return;
    const key = this.keyOf(bytes);
    const y = this.young.get(key);
    if (y !== undefined && sameBytes(this.bytesOf(y), bytes)) this.young.delete(key);
    const o = this.old.get(key);
    if (o !== undefined && sameBytes(this.bytesOf(o), bytes)) this.old.delete(key);
  }

  private store(key: number, v: V): void {
    if (this.young.size >= this.max >>> 1 && !this.young.has(key)) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, v);
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }
}
