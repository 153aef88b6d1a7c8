/**
 * The relay custody queue held in memory, with exactly the behaviour of the SQL table
 * (relayq.ts): the simulator's store (memory.ts) uses it for the whole queue, and the SQL
 * repository for its hot part — envelopes handed on and waiting for the next hop's HOLD,
 * made durable by a journal instead of a row each.
 */
import type { QueueCount, RelayQueue, RelayRescheduleOptions, RelayRow } from './relayq.js';
import { applyLimit, cmpBytes, group, k, ungroup } from './memkeys.js';

interface RelayRec extends RelayRow {
  rowid: number;
  waitKey: string;
  toKey: string;
}

interface CountRec {
  key: Uint8Array;
  n: number;
  bytes: number;
}

function copyRelay(r: RelayRow): RelayRow {
  return {
    id: r.id,
    to: r.to,
    waitFor: r.waitFor,
    dep: r.dep,
    prev: r.prev,
    envelope: r.envelope,
    receivedAt: r.receivedAt,
    expiresAt: r.expiresAt,
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
  };
}

const byReceived = (a: RelayRec, b: RelayRec): number => a.receivedAt - b.receivedAt || a.rowid - b.rowid;

/** Adjusts a count row like the SQLite triggers: created on first use, deleted when n reaches 0. */
function tally(m: Map<string, CountRec>, g: string, key: Uint8Array, dn: number, dbytes: number): void {
  const c = m.get(g);
  if (!c) {
    m.set(g, { key, n: dn, bytes: dbytes });
    return;
  }
  c.n += dn;
  c.bytes += dbytes;
  if (c.n === 0) m.delete(g);
}

export class MemoryRelayQueueRepo implements RelayQueue {
  private rows: Map<string, RelayRec> | undefined;
  private byWait: Map<string, Map<string, RelayRec>> | undefined;
  private byToKey: Map<string, Map<string, RelayRec>> | undefined;
  /** waitFor key → messages/bytes (relayq_counts). */
  private counts: Map<string, CountRec> | undefined;
  private totalN = 0;
  private totalBytes = 0;
  private nextRowid = 1;
  /** Lower bounds on nextAttemptAt and expiresAt of the rows (due/expire return at once before them). */
  private minDue = Infinity;
  private minExp = Infinity;

  insert(row: RelayRow): boolean {
    const key = k(row.id);
    const rows = (this.rows ??= new Map());
    if (rows.has(key)) return false;
    // A literal of fixed shape (a spread here made each insert ~5× slower).
    const rec: RelayRec = {
      id: row.id,
      to: row.to,
      waitFor: row.waitFor,
      dep: row.dep,
      prev: row.prev,
      envelope: row.envelope,
      receivedAt: row.receivedAt,
      expiresAt: row.expiresAt,
      attempts: row.attempts,
      nextAttemptAt: row.nextAttemptAt,
      rowid: this.nextRowid++,
      waitKey: k(row.waitFor),
      toKey: k(row.to),
    };
    rows.set(key, rec);
    if (rec.nextAttemptAt < this.minDue) this.minDue = rec.nextAttemptAt;
    if (rec.expiresAt < this.minExp) this.minExp = rec.expiresAt;
    group((this.byWait ??= new Map()), rec.waitKey, key, rec);
    group((this.byToKey ??= new Map()), rec.toKey, key, rec);
    tally((this.counts ??= new Map()), rec.waitKey, rec.waitFor, 1, rec.envelope.length);
    this.totalN += 1;
    this.totalBytes += rec.envelope.length;
    return true;
  }

  get(id: Uint8Array): RelayRow | undefined {
    const r = this.rows?.get(k(id));
    return r ? copyRelay(r) : undefined;
  }

  has(id: Uint8Array): boolean {
    return this.rows?.has(k(id)) ?? false;
  }

  delete(id: Uint8Array): boolean {
    const key = k(id);
    const r = this.rows?.get(key);
    if (!r) return false;
    this.rows!.delete(key);
    ungroup(this.byWait!, r.waitKey, key);
    ungroup(this.byToKey!, r.toKey, key);
    tally(this.counts!, r.waitKey, r.waitFor, -1, -r.envelope.length);
    this.totalN -= 1;
    this.totalBytes -= r.envelope.length;
    return true;
  }

  reschedule(id: Uint8Array, waitFor: Uint8Array, nextAttemptAt: number, opts: RelayRescheduleOptions = {}): boolean {
    const key = k(id);
    const r = this.rows?.get(key);
    if (!r) return false;
    const waitKey = k(waitFor);
    if (waitKey !== r.waitKey) {
      ungroup(this.byWait!, r.waitKey, key);
      tally(this.counts!, r.waitKey, r.waitFor, -1, -r.envelope.length);
      group(this.byWait!, waitKey, key, r);
      tally(this.counts!, waitKey, waitFor, 1, r.envelope.length);
      r.waitKey = waitKey;
    }
    r.waitFor = waitFor;
    r.nextAttemptAt = nextAttemptAt;
    if (nextAttemptAt < this.minDue) this.minDue = nextAttemptAt;
    if (opts.countAttempt !== false) r.attempts += 1;
    if (opts.dep !== undefined) r.dep = opts.dep;
    return true;
  }

  shiftSchedule(deltaMs: number): number {
    if (!this.rows) return 0;
    for (const r of this.rows.values()) r.nextAttemptAt += deltaMs;
    return this.rows.size;
  }

  due(now: number, limit: number): RelayRow[] {
    if (!this.rows || now < this.minDue) return [];
    const out: RelayRec[] = [];
    let min = Infinity;
    for (const r of this.rows.values()) {
      if (r.nextAttemptAt <= now) out.push(r);
      if (r.nextAttemptAt < min) min = r.nextAttemptAt;
    }
    this.minDue = min;
    out.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || byReceived(a, b));
    return applyLimit(out, limit).map(copyRelay);
  }

  byWaitFor(entity: Uint8Array, limit: number): RelayRow[] {
    const mine = this.byWait?.get(k(entity));
    return mine ? applyLimit([...mine.values()].sort(byReceived), limit).map(copyRelay) : [];
  }

  byTo(entity: Uint8Array, limit: number): RelayRow[] {
    const mine = this.byToKey?.get(k(entity));
    return mine ? applyLimit([...mine.values()].sort(byReceived), limit).map(copyRelay) : [];
  }

  countFor(waitFor: Uint8Array): QueueCount {
    const c = this.counts?.get(k(waitFor));
    return c ? { n: c.n, bytes: c.bytes } : { n: 0, bytes: 0 };
  }

  totals(): QueueCount {
    return { n: this.totalN, bytes: this.totalBytes };
  }

  perWaitFor(limit: number): Array<{ waitFor: Uint8Array } & QueueCount> {
    if (!this.counts) return [];
    const all = [...this.counts.values()].sort((a, b) => b.n - a.n || b.bytes - a.bytes || cmpBytes(a.key, b.key));
    return applyLimit(all, limit).map((c) => ({ waitFor: c.key, n: c.n, bytes: c.bytes }));
  }

  expire(now: number, limit: number): Uint8Array[] {
    const gone = this.expired(now, limit);
    for (const r of gone) this.delete(r.id);
    return gone.map((r) => r.id);
  }

  /** The rows expire() would delete now, soonest expiry first; the caller deletes them all. */
  expiring(now: number, limit: number): RelayRow[] {
    return this.expired(now, limit).map(copyRelay);
  }

  /** Rows with expiresAt <= now, soonest first, at most `limit`; minExp moves past them. */
  private expired(now: number, limit: number): RelayRec[] {
    if (!this.rows || now < this.minExp) return [];
    const out: RelayRec[] = [];
    let min = Infinity;
    for (const r of this.rows.values()) {
      if (r.expiresAt <= now) out.push(r);
      else if (r.expiresAt < min) min = r.expiresAt;
    }
    const gone = applyLimit(out.sort((a, b) => a.expiresAt - b.expiresAt || a.rowid - b.rowid), limit);
    // Expired rows beyond the limit stay: the bound must not pass them.
    this.minExp = gone.length < out.length ? Math.min(min, out[gone.length]!.expiresAt) : min;
    return gone;
  }

  list(limit: number): RelayRow[] {
    if (!this.rows) return [];
    return applyLimit([...this.rows.values()].sort(byReceived), limit).map(copyRelay);
  }
}
