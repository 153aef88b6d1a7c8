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
  private tokens: number;
  private last: number;

  constructor(
    private readonly cfg: BucketConfig,
    now: number,
  ) {
    this.tokens = cfg.burst;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.cfg.burst, this.tokens + (elapsed / 1000) * this.cfg.ratePerSec);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
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
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = new TokenBucket(this.cfg, now);
      this.buckets.set(key, b);
    }
    return b.take(now);
  }

  delete(key: string): void {
    this.buckets.delete(key);
  }
}
