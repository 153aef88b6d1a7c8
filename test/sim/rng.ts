/**
 * Seeded randomness for test/sim: sfc32 (a small, fast, well-tested 128-bit-state PRNG),
 * seeded from sha256(seed string). `fork(label)` derives an independent stream from the
 * seed and the label only (not from how much the parent has consumed), so giving each node
 * its own fork means adding a node or drawing more numbers elsewhere never perturbs it.
 * Not for cryptography: it only makes simulated keys, ids and jitter reproducible.
 */
import { createHash } from 'node:crypto';
import { WotError } from '../../agent/wire/errors.js';

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` is any string; the same seed always gives the same stream. */
  constructor(readonly seed: string) {
    const h = createHash('sha256').update('wotrelay-sim-rng\0').update(seed).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12);
    for (let i = 0; i < 15; i++) this.u32();
  }

  /** An independent stream named `label` (depends only on this stream's seed and the label). */
  fork(label: string): Rng {
    return new Rng(`${this.seed}/${label}`);
  }

  /** Next uniform 32-bit unsigned integer (sfc32). */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let i = 0;
    while (i < n) {
      let x = this.u32();
      for (let j = 0; j < 4 && i < n; j++, i++) {
        out[i] = x & 0xff;
        x >>>= 8;
      }
    }
    return out;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.u32() >>> 5; // 27 bits
    const lo = this.u32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, maxExclusive), unbiased (rejection sampling); maxExclusive ≤ 2^53. */
  int(maxExclusive: number): number {
    if (!Number.isSafeInteger(maxExclusive) && maxExclusive !== 2 ** 53) {
      throw new WotError('ERR_BAD_REQUEST', `Rng.int: maxExclusive must be an integer, got ${maxExclusive}`);
    }
    if (maxExclusive <= 0) throw new WotError('ERR_BAD_REQUEST', `Rng.int: maxExclusive must be > 0, got ${maxExclusive}`);
    if (maxExclusive <= 0x1_0000_0000) {
      // Largest multiple of maxExclusive that fits in 2^32.
      const limit = 0x1_0000_0000 - (0x1_0000_0000 % maxExclusive);
      for (;;) {
        const x = this.u32();
        if (x < limit) return x % maxExclusive;
      }
    }
    const limit = 2 ** 53 - (2 ** 53 % maxExclusive);
    for (;;) {
      const x = (this.u32() >>> 11) * 0x1_0000_0000 + this.u32();
      if (x < limit) return x % maxExclusive;
    }
  }

  pick<T>(arr: readonly T[]): T {
    if (arr.length === 0) throw new WotError('ERR_BAD_REQUEST', 'Rng.pick: the array is empty');
    return arr[this.int(arr.length)]!;
  }

  /** Fisher–Yates shuffle in place; returns arr. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i]!;
      arr[i] = arr[j]!;
      arr[j] = t;
    }
    return arr;
  }
}

/** A seeded stream; same as `new Rng(seed)`. */
export function rng(seed: string): Rng {
  return new Rng(seed);
}
