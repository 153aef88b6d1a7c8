/**
 * Token buckets for the core's rate limits (route queries per neighbour and overall,
 * complaints per neighbour). Time comes from the injected monotonic clock, so a wall-clock
 * jump neither refills nor drains a bucket, and the simulator stays deterministic.
 */
export interface BucketConfig {
  /** Tokens added per second. */
  ratePerSec: number;
  /** Bucket size (the largest burst). */
  burst: number;
}

export class TokenBucket {
  /** Set when a KeyedBuckets let go of it: whoever kept a reference looks the key up again. */
  dropped = false;
  private tokens: number;
  private last: number;

  constructor(
    private readonly cfg: BucketConfig,
    now: number,
  ) {
    this.tokens = cfg.burst;
    this.last = now;
  }

  /** Takes one token if one is left above `keep` (tokens held back for others). */
  take(now: number, keep = 0): boolean {
    this.refill(now);
    if (this.tokens < 1 + keep) return false;
    this.tokens -= 1;
    return true;
  }

  /** How full the bucket is, 0..1. */
  fill(now: number): number {
    this.refill(now);
    return this.tokens / this.cfg.burst;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.cfg.burst, this.tokens + (elapsed / 1000) * this.cfg.ratePerSec);
  }
}

/** One bucket per key, at most `maxKeys` of them (the oldest is dropped first). */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly cfg: BucketConfig,
    private readonly maxKeys = 10_000,
  ) {}

  take(key: string, now: number): boolean {
    return this.bucket(key, now).take(now);
  }

  /** `key`'s bucket, made full if it has none (the oldest key goes when at the bound). */
  bucket(key: string, now: number): TokenBucket {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.delete(oldest);
      }
      b = new TokenBucket(this.cfg, now);
      this.buckets.set(key, b);
    }
    return b;
  }

  get size(): number {
    return this.buckets.size;
  }

  get maxSize(): number {
    return this.maxKeys;
  }

  /** How full `key`'s bucket is, 0..1 (1 for a key not seen yet). */
  fill(key: string, now: number): number {
    return this.buckets.get(key)?.fill(now) ?? 1;
  }

  delete(key: string): void {
    const b = this.buckets.get(key);
    if (!b) return;
    b.dropped = true;
    this.buckets.delete(key);
  }
}
