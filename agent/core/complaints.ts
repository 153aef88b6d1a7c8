/**
 * Complaint accounting of one agent: which neighbour handed over messages that drew
 * complaints, from how many distinct complainants, and when a neighbour must be revoked.
 *
 * A neighbour that draws complaints from at least K distinct complainants within window
 * W is revoked after a grace period, unless within that grace it tells us (QUENCH) that
 * it revoked the source upstream itself. That grace keeps honest relays between a spam
 * source and its victims from being blamed for spam they only carried: the hop next to
 * the source cuts it off and the QUENCH walks down the complaint path. A neighbour is
 * forgiven that way at most `maxForgiven` times per window, so a spammer cannot quench
 * its way out forever. Every table has a bound.
 */
export interface ComplaintConfig {
  /** Distinct complainants needed to revoke a neighbour. */
  threshold: number;
  /** Window in which they count. */
  windowMs: number;
  /**
   * Wait graceMs + graceStepMs × p after the threshold before revoking, where p is the
   * smallest position (hop entries before us) at which we relayed any of the complained-
   * about messages: hops nearer the source act first, and their QUENCH reaches the hops
   * behind them before those give up waiting.
   */
  graceMs: number;
  graceStepMs: number;
  /** QUENCHes honoured per neighbour per window. */
  maxForgiven: number;
}

export const COMPLAINT_DEFAULTS: ComplaintConfig = {
  threshold: 3,
  windowMs: 24 * 3600_000,
  graceMs: 5_000,
  graceStepMs: 1_000,
  maxForgiven: 3,
};

interface Blame {
  complainant: string;
  at: number;
}

interface NeighbourRecord {
  blames: Blame[];
  revokeAt: number | null;
  /** When the threshold was crossed, and the smallest path position seen. */
  crossedAt: number | null;
  minPos: number;
  forgiven: number[];
  /** Downstream neighbours whose complaints about this one's messages we passed on. */
  via: Set<string>;
}

const MAX_NEIGHBOURS = 10_000;
const MAX_BLAMES = 256;
const MAX_VIA = 256;

export class ComplaintTracker {
  private readonly records = new Map<string, NeighbourRecord>();

  constructor(readonly cfg: ComplaintConfig) {}

  private rec(key: string): NeighbourRecord {
    let r = this.records.get(key);
    if (!r) {
      if (this.records.size >= MAX_NEIGHBOURS) {
        const oldest = this.records.keys().next().value;
        if (oldest !== undefined) this.records.delete(oldest);
      }
      r = { blames: [], revokeAt: null, crossedAt: null, minPos: Infinity, forgiven: [], via: new Set() };
      this.records.set(key, r);
    }
    return r;
  }

  /**
   * Counts a complaint against neighbour `against` (hex entity). `via` is the downstream
   * neighbour it came from (null when we are the complainant). Returns the number of
   * distinct complainants in the window; schedules a revocation when it reaches K.
   */
  record(against: string, complainant: string, via: string | null, now: number, pos = 0): number {
    const r = this.rec(against);
    if (pos < r.minPos) r.minPos = pos;
    r.blames = r.blames.filter((b) => now - b.at < this.cfg.windowMs);
    if (!r.blames.some((b) => b.complainant === complainant)) {
      r.blames.push({ complainant, at: now });
      if (r.blames.length > MAX_BLAMES) r.blames.shift();
    }
    if (via !== null && r.via.size < MAX_VIA) r.via.add(via);
    const distinct = r.blames.length;
    if (distinct >= this.cfg.threshold) {
      if (r.crossedAt === null) r.crossedAt = now;
      r.forgiven = r.forgiven.filter((t) => now - t < this.cfg.windowMs);
      const grace = this.cfg.graceMs + this.cfg.graceStepMs * Math.min(r.minPos, 32);
      r.revokeAt = r.crossedAt + (r.forgiven.length < this.cfg.maxForgiven ? grace : 0);
    }
    return distinct;
  }

  /**
   * Remembers that complaints about `against`'s messages came from downstream neighbour `via`
   * without counting one (an onion complaint we could not check): a QUENCH about `against`
   * is still passed on to `via`.
   */
  noteVia(against: string, via: string): void {
    const r = this.rec(against);
    if (r.via.size < MAX_VIA) r.via.add(via);
  }

  /**
   * A QUENCH from neighbour `from`: it cut off a source upstream. Cancels a pending
   * revocation (if it still has forgiveness left) and clears its count. Returns the
   * downstream neighbours to pass the QUENCH on to, or null if it was not honoured.
   */
  quench(from: string, now: number): string[] | null {
    const r = this.records.get(from);
    if (!r) return null;
    r.forgiven = r.forgiven.filter((t) => now - t < this.cfg.windowMs);
    if (r.forgiven.length >= this.cfg.maxForgiven) return null;
    r.forgiven.push(now);
    r.blames = [];
    r.revokeAt = null;
    r.crossedAt = null;
    r.minPos = Infinity;
    const via = [...r.via];
    r.via.clear();
    return via;
  }

  /** Neighbours whose revocation is due; each is returned once with its downstream set. */
  due(now: number): Array<{ neighbour: string; complainants: number; via: string[] }> {
    const out: Array<{ neighbour: string; complainants: number; via: string[] }> = [];
    for (const [k, r] of this.records) {
      if (r.revokeAt !== null && r.revokeAt <= now) {
        out.push({ neighbour: k, complainants: r.blames.length, via: [...r.via] });
        this.records.delete(k);
      }
    }
    return out;
  }

  /** Earliest pending revocation time, for timer scheduling. */
  nextDue(): number {
    // Asked on every simulated event of an agent with a tick in reserve: no iterator while empty.
    if (this.records.size === 0) return Infinity;
    let t = Infinity;
    for (const r of this.records.values()) if (r.revokeAt !== null && r.revokeAt < t) t = r.revokeAt;
    return t;
  }

  /** Neighbours with a record, and the bound on them. */
  get size(): number {
    return this.records.size;
  }

  static readonly MAX_NEIGHBOURS = MAX_NEIGHBOURS;

  count(against: string, now: number): number {
    const r = this.records.get(against);
    return r ? r.blames.filter((b) => now - b.at < this.cfg.windowMs).length : 0;
  }
}
