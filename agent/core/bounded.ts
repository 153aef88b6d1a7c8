/**
 * A Map with a size bound and per-entry expiry on an injected clock: the oldest entries
 * go first when it is full, expired entries are dropped on access and by `sweep`.
 * Used for the forwarding log, seen query ids and pending state, so every table the core
 * keeps has a bound.
 */
/**
 * Stand-ins for ±Infinity in the expiry bookkeeping below: small integers, so these fields
 * never hold a boxed double, which V8 keeps as a separate heap object read (and, for lastExp,
 * written) on every set — one more cache miss per query id on 10,000 simulated agents, whose
 * times are integers. A time past FAR (12 days of the monotonic clock) only makes `sweep` look
 * at the map's first entry instead of returning at once: what it drops is the same.
 */
const FAR = 2 ** 30 - 1;
const LONG_AGO = -FAR;

export class BoundedMap<V> {
  private readonly map = new Map<string, { v: V; exp: number }>();
  /**
   * No entry expires before this (FAR when empty), so `sweep` returns without walking the
   * map while nothing can be due: the core sweeps eight of these maps on every tick, and with
   * thousands of agents ticking that walk was ~3 % of a simulated discovery.
   */
  private minExp = FAR;
  /** Every entry so far was stored with an expiry ≥ the one before (see `sweep`). */
  private ordered = true;
  private lastExp = LONG_AGO;
  /**
   * The entry last read or written, by key: a flood brings an agent the same query id from
   * each neighbour in turn, and a hit here reads no hash table. Cleared whenever an entry goes.
   */
  private lastKey: string | undefined = undefined;
  private lastEntry: { v: V; exp: number } | undefined = undefined;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  /** Its size and bound, as the status tables show them. */
  stats(): { size: number; max: number } {
    return { size: this.map.size, max: this.maxEntries };
  }

  get(key: string, now: number): V | undefined {
    let e = key === this.lastKey ? this.lastEntry : undefined;
    if (e === undefined) {
      e = this.map.get(key);
      if (!e) return undefined;
      this.lastKey = key;
      this.lastEntry = e;
    }
    if (e.exp <= now) {
      this.delete(key);
      return undefined;
    }
    return e.v;
  }

  has(key: string, now: number): boolean {
    return this.get(key, now) !== undefined;
  }

  /**
   * Stores `v` until `exp`. When full, the oldest sixteenth goes at once: evicting one entry
   * per insert made each insert into a full map walk the deleted slots V8 keeps at the front
   * of a Map's order until it rehashes (11–15 µs per insert at 10,000–100,000 entries,
   * paid per relayed message once the forwarding log is full); in a batch that walk is paid
   * once per maxEntries / 16 inserts.
   */
  set(key: string, v: V, exp: number): void {
    // Re-inserted, not updated in place: insertion order stays expiry order (see sweep).
    this.lastKey = undefined;
    this.lastEntry = undefined;
    if (!this.map.delete(key) && this.map.size >= this.maxEntries) {
      let n = Math.max(1, this.maxEntries >>> 4);
      for (const k of this.map.keys()) {
        this.map.delete(k);
        if (--n === 0) break;
      }
    }
    const e = { v, exp };
    this.map.set(key, e);
    this.lastKey = key;
    this.lastEntry = e;
    if (exp < this.lastExp) this.ordered = false;
    this.lastExp = exp;
    if (exp < this.minExp) this.minExp = exp;
  }

  delete(key: string): boolean {
    if (key === this.lastKey) {
      this.lastKey = undefined;
      this.lastEntry = undefined;
    }
    return this.map.delete(key);
  }

  /**
   * Drops expired entries in insertion order, at most `budget` of them, stopping at the first
   * live one: O(expired) per call, not O(size). Exact for a map whose entries all get the same
   * lifetime (insertion order is then expiry order), which is how the core uses it; an entry
   * that expires out of order is dropped when read, or evicted by the size bound.
   */
  sweep(now: number, budget = 1000): void {
    if (now < this.minExp) return;
    if (this.map.size === 0) {
      this.minExp = FAR;
      return;
    }
    let n = 0;
    for (const [k, e] of this.map) {
      if (e.exp > now) {
        // Stored in expiry order, the first live entry expires first of all that are left.
        if (this.ordered) this.minExp = e.exp;
        return;
      }
      if (n >= budget) return;
      this.delete(k);
      n++;
    }
    this.minExp = FAR;
  }

  *values(now: number): IterableIterator<[string, V]> {
    for (const [k, e] of this.map) if (e.exp > now) yield [k, e.v];
  }
}
