/**
 * Relay custody queue repository: envelopes this agent holds for others until the next hop
 * (or the recipient, or a mailbox) takes them.
 *
 * Two parts, one queue to its callers:
 *  - cold: table `relayq`, a row per envelope, for envelopes that wait (no way on yet, a
 *    backoff, a deposit). Per-waitFor and total counts are kept in `relayq_counts` /
 *    `relayq_totals` by triggers, so they are read in O(1) and always agree with the rows.
 *  - hot: envelopes taken into custody inside a store transaction (Store.tx) and handed on at
 *    once, waiting only for the next hop's HOLD — nearly all of them on a busy relay. They are
 *    kept in memory (relayq-memory.ts) and made durable by a journal: at the commit of the
 *    transaction that took them, one row of `relayq_journal` holds all of them; releasing one
 *    sets its bit in `relayq_journal_passed`, and the row goes when all its envelopes have
 *    gone. So custody costs one journal write per commit, not a row, two index updates, a
 *    reschedule and a delete per envelope (issue 8). On open, the journal's unreleased
 *    envelopes become cold rows, due at once: nothing accepted is lost by a crash, and one
 *    released just before it may be handed on once more (the next hop, or the recipient's
 *    inbox, drops the duplicate by id).
 *  - release marks are lazy: a commit that writes nothing else (a turn of HOLDs) leaves them
 *    in memory, and the next commit that writes anyway (the next envelopes taken, a tick
 *    after MARKS_WAIT_MS, MARKS_WAIT_MAX of them waiting, or close) writes them all. So a relay
 *    pays one write commit per envelope instead of two; a crash can only make it hand on
 *    again the at most MARKS_WAIT_MAX envelopes released in the last MARKS_WAIT_MS.
 * An envelope leaves the hot part for a cold row when it starts to wait (an attempt counted,
 * a deposit chosen); the hot part holds at most HOT_MAX envelopes and HOT_MAX_BYTES.
 */
import type * as Msgpackr from 'msgpackr';
import { requireCjs } from '../cjs.js';
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';
import type { PublicOf } from './types.js';
import { k } from './memkeys.js';
import { MemoryRelayQueueRepo } from './relayq-memory.js';

const { Packr } = requireCjs('msgpackr') as typeof Msgpackr;

export interface RelayRow {
  /** Message id (16 bytes). */
  id: Uint8Array;
  /** Recipient entity. */
  to: Uint8Array;
  /** Entity whose link/route lets it move: next hop, recipient or mailbox. */
  waitFor: Uint8Array;
  /** Mailbox entity it is being deposited at, if any. */
  dep: Uint8Array | null;
  /** Entity that handed it to us. */
  prev: Uint8Array | null;
  /** Encoded envelope as received. */
  envelope: Uint8Array;
  receivedAt: number;
  expiresAt: number;
  attempts: number;
  nextAttemptAt: number;
}

/** Messages and their bytes (sum of envelope lengths). */
export interface QueueCount {
  n: number;
  bytes: number;
}

export interface RelayRescheduleOptions {
  /** New deposit mailbox (null clears it); unchanged when not given. */
  dep?: Uint8Array | null;
  /** Count one more attempt (default true). */
  countAttempt?: boolean;
}

interface RelayDbRow {
  id: Buffer;
  to_entity: Buffer;
  wait_for: Buffer;
  dep: Buffer | null;
  prev: Buffer | null;
  envelope: Buffer;
  received_at: number;
  expires_at: number;
  attempts: number;
  next_attempt_at: number;
}

const COLS = 'id, to_entity, wait_for, dep, prev, envelope, received_at, expires_at, attempts, next_attempt_at';

function fromDb(r: RelayDbRow): RelayRow {
  return {
    id: r.id,
    to: r.to_entity,
    waitFor: r.wait_for,
    dep: r.dep,
    prev: r.prev,
    envelope: r.envelope,
    receivedAt: r.received_at,
    expiresAt: r.expires_at,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
  };
}

/** The queue as the core sees it (the store calls beforeCommit itself). */
export type RelayQueue = Omit<PublicOf<RelayQueueRepo>, 'beforeCommit' | 'hotStats' | 'flushMarks'>;

/** At most this many envelopes, and bytes of them, in the hot part; more go to cold rows. */
export const HOT_MAX = 20_000;
export const HOT_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Release marks wait in memory for a commit that writes anyway, but at most this many and
 * this long (ms; the daemon's one-second tick commits, so a mark waits at most about
 * MARKS_WAIT_MS + 1 s): what a crash can make the relay hand on a second time.
 */
export const MARKS_WAIT_MAX = 256;
export const MARKS_WAIT_MS = 1000;

/** What the hot part needs from the store (db.ts): its transactions and their undo hooks. */
export interface RelayTxHooks {
  /** True inside Store.tx, whose outermost level calls beforeCommit() before it commits. */
  inTx(): boolean;
  /** Runs `undo` if the enclosing Store.tx level (transaction or savepoint) rolls back. */
  onRollback(undo: () => void): void;
  /** Monotonic milliseconds: how long release marks have waited (default performance.now). */
  mono?: () => number;
}

/** A journal row's state: its envelopes still in custody, and which have been released. */
interface JournalState {
  live: number;
  passed: Uint8Array;
  dirty: boolean;
}

type JournalEntry = [Uint8Array, Uint8Array, Uint8Array, Uint8Array | null, Uint8Array | null, Uint8Array, number, number, number, number];

/** Journal rows: msgpack arrays of entries, no records extension (plain, stable encoding). */
const journalCodec = new Packr({ useRecords: false });

const toEntry = (r: RelayRow): JournalEntry => [r.id, r.to, r.waitFor, r.dep, r.prev, r.envelope, r.receivedAt, r.expiresAt, r.attempts, r.nextAttemptAt];
const u8 = (b: Uint8Array | null): Uint8Array | null => (b === null ? null : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
const fromEntry = (e: JournalEntry): RelayRow => ({
  id: u8(e[0])!,
  to: u8(e[1])!,
  waitFor: u8(e[2])!,
  dep: u8(e[3]),
  prev: u8(e[4]),
  envelope: u8(e[5])!,
  receivedAt: e[6],
  expiresAt: e[7],
  attempts: e[8],
  nextAttemptAt: e[9],
});

/** Oldest received first, as the SQL queries order them (insertion breaks ties there). */
const byReceived = (a: RelayRow, b: RelayRow): number => a.receivedAt - b.receivedAt;

const sameId = (a: Uint8Array, b: Uint8Array): boolean => a === b || Buffer.compare(a, b) === 0;

export class RelayQueueRepo {
  private readonly sInsert: Database.Statement<[Record<string, unknown>]>;
  private readonly sGet: Database.Statement<[Uint8Array], RelayDbRow>;
  private readonly sHas: Database.Statement<[Uint8Array], { one: number }>;
  private readonly sDelete: Database.Statement<[Uint8Array]>;
  private readonly sReschedule: Database.Statement<[Record<string, unknown>]>;
  private readonly sDue: Database.Statement<[number, number], RelayDbRow>;
  private readonly sByWaitFor: Database.Statement<[Uint8Array, number], RelayDbRow>;
  private readonly sByTo: Database.Statement<[Uint8Array, number], RelayDbRow>;
  private readonly sCountFor: Database.Statement<[Uint8Array], QueueCount>;
  private readonly sTotals: Database.Statement<[], QueueCount>;
  private readonly sPerWaitFor: Database.Statement<[number], { wait_for: Buffer; n: number; bytes: number }>;
  private readonly sExpiredIds: Database.Statement<[number, number], { id: Buffer }>;
  private readonly sList: Database.Statement<[number], RelayDbRow>;
  private readonly sShift: Database.Statement<[number]>;
  private readonly sJournalPut: Database.Statement<[number, Uint8Array]>;
  private readonly sJournalDel: Database.Statement<[number]>;
  private readonly sPassedPut: Database.Statement<[number, Uint8Array]>;
  private readonly sPassedDel: Database.Statement<[number]>;
  private readonly sChanges: Database.Statement<[], number>;

  /** The hot part: envelopes handed on, waiting for HOLD; durable through the journal. */
  private readonly hot = new MemoryRelayQueueRepo();
  /** Hot envelope (id key) → its journal row and place in it; absent until its transaction commits. */
  private readonly slotOf = new Map<string, { seq: number; idx: number }>();
  private readonly journals = new Map<number, JournalState>();
  /** Hot envelopes taken in the open transaction: journaled when it commits. */
  private fresh: RelayRow[] = [];
  private nextSeq: number;
  /** Released envelopes whose marks are not written yet, and since when (mono ms). */
  private marksWaiting = 0;
  private marksSince = 0;
  /** The next commit writes every waiting mark (close, or a release outside Store.tx). */
  private marksNow = false;
  /** The connection's total_changes() after the last commit's own writes. */
  private changesSeen = 0;
  private readonly mono: () => number;
  /**
   * Read-through caches of the cold part, valid inside one Store.tx until the repository
   * writes a cold row (and dropped when the transaction ends): the id has() just found
   * absent (insert() checks it again), and the counts read for the queue bounds.
   */
  private absent: Uint8Array | null = null;
  /** Whether the open transaction has a hook to forget the caches if it rolls back. */
  private cacheHooked = false;
  private coldTotals: QueueCount | null = null;
  private readonly coldCounts = new Map<string, QueueCount>();

  constructor(
    private readonly db: Database.Database,
    private readonly hooks: RelayTxHooks = { inTx: () => false, onRollback: () => {} },
    readOnly = false,
  ) {
    this.sInsert = db.prepare(
      `INSERT INTO relayq (${COLS})
       VALUES (@id, @to_entity, @wait_for, @dep, @prev, @envelope, @received_at, @expires_at, @attempts, @next_attempt_at)
       ON CONFLICT (id) DO NOTHING`,
    );
    this.sGet = db.prepare(`SELECT ${COLS} FROM relayq WHERE id = ?`);
    this.sHas = db.prepare(`SELECT 1 AS one FROM relayq WHERE id = ?`);
    this.sDelete = db.prepare(`DELETE FROM relayq WHERE id = ?`);
    this.sReschedule = db.prepare(
      `UPDATE relayq SET wait_for = @wait_for, next_attempt_at = @next_attempt_at, attempts = attempts + @inc,
         dep = CASE WHEN @set_dep THEN @dep ELSE dep END
       WHERE id = @id`,
    );
    this.sDue = db.prepare(
      `SELECT ${COLS} FROM relayq WHERE next_attempt_at <= ? ORDER BY next_attempt_at, received_at, rowid LIMIT ?`,
    );
    this.sShift = db.prepare(`UPDATE relayq SET next_attempt_at = next_attempt_at + ?`);
    this.sByWaitFor = db.prepare(`SELECT ${COLS} FROM relayq WHERE wait_for = ? ORDER BY received_at, rowid LIMIT ?`);
    this.sByTo = db.prepare(`SELECT ${COLS} FROM relayq WHERE to_entity = ? ORDER BY received_at, rowid LIMIT ?`);
    this.sCountFor = db.prepare(`SELECT n, bytes FROM relayq_counts WHERE wait_for = ?`);
    this.sTotals = db.prepare(`SELECT n, bytes FROM relayq_totals WHERE one = 1`);
    this.sPerWaitFor = db.prepare(`SELECT wait_for, n, bytes FROM relayq_counts ORDER BY n DESC, bytes DESC, wait_for LIMIT ?`);
    this.sExpiredIds = db.prepare(`SELECT id FROM relayq WHERE expires_at <= ? ORDER BY expires_at, rowid LIMIT ?`);
    this.sList = db.prepare(`SELECT ${COLS} FROM relayq ORDER BY received_at, rowid LIMIT ?`);
    this.sJournalPut = db.prepare(`INSERT INTO relayq_journal (seq, entries) VALUES (?, ?)`);
    this.sJournalDel = db.prepare(`DELETE FROM relayq_journal WHERE seq = ?`);
    this.sPassedPut = db.prepare(`INSERT INTO relayq_journal_passed (seq, passed) VALUES (?, ?) ON CONFLICT (seq) DO UPDATE SET passed = excluded.passed`);
    this.sPassedDel = db.prepare(`DELETE FROM relayq_journal_passed WHERE seq = ?`);
    this.sChanges = db.prepare(`SELECT total_changes()`).pluck() as Database.Statement<[], number>;
    this.mono = hooks.mono ?? (() => performance.now());
    this.nextSeq = 1;
    this.recover(readOnly);
  }

  /**
   * After a restart: the journal's envelopes not yet released become cold rows, due at
   * once, and the journal is emptied. A read-only store shows them (hot, in memory) and
   * changes nothing.
   */
  private recover(readOnly: boolean): void {
    const journal = this.db.prepare(`SELECT seq, entries FROM relayq_journal ORDER BY seq`).all() as Array<{ seq: number; entries: Buffer }>;
    if (journal.length === 0) return;
    const passed = new Map((this.db.prepare(`SELECT seq, passed FROM relayq_journal_passed`).all() as Array<{ seq: number; passed: Buffer }>).map((r) => [r.seq, r.passed]));
    const rows: RelayRow[] = [];
    for (const j of journal) {
      const bits = passed.get(j.seq);
      const entries = journalCodec.unpack(j.entries) as JournalEntry[];
      entries.forEach((e, i) => {
        if (!bits || ((bits[i >> 3] ?? 0) & (1 << (i & 7))) === 0) rows.push(fromEntry(e));
      });
    }
    if (readOnly) {
      for (const r of rows) this.hot.insert(r);
      return;
    }
    this.db.transaction(() => {
      for (const r of rows) this.coldInsert({ ...r, nextAttemptAt: Math.min(r.nextAttemptAt, r.receivedAt) });
      this.db.exec(`DELETE FROM relayq_journal; DELETE FROM relayq_journal_passed;`);
    })();
  }

  /** Forgets what the cold-part caches hold (a cold write, or the transaction ended). */
  private coldChanged(): void {
    this.cacheHooked = false;
    this.absent = null;
    this.coldTotals = null;
    this.coldCounts.clear();
  }

  private coldInsert(row: RelayRow): boolean {
    this.coldChanged();
    return (
      this.sInsert.run({
        id: row.id,
        to_entity: row.to,
        wait_for: row.waitFor,
        dep: row.dep,
        prev: row.prev,
        envelope: row.envelope,
        received_at: row.receivedAt,
        expires_at: row.expiresAt,
        attempts: row.attempts,
        next_attempt_at: row.nextAttemptAt,
      }).changes === 1
    );
  }

  /**
   * Takes custody; false (and nothing changed) when that id is already queued. Inside a
   * transaction, while the hot part has room, the envelope goes there (journaled at commit).
   */
  insert(row: RelayRow): boolean {
    if (this.hot.has(row.id)) return false;
    if (!(this.absent !== null && this.hooks.inTx() && sameId(this.absent, row.id)) && this.sHas.get(row.id) !== undefined) return false;
    const t = this.hot.totals();
    if (!this.hooks.inTx() || t.n >= HOT_MAX || t.bytes + row.envelope.length > HOT_MAX_BYTES) return this.coldInsert(row);
    this.hot.insert(row);
    this.fresh.push(row);
    this.hooks.onRollback(() => {
      this.hot.delete(row.id);
      const i = this.fresh.indexOf(row);
      if (i >= 0) this.fresh.splice(i, 1);
    });
    return true;
  }

  /**
   * Writes what the open transaction did to the hot part: one journal row for the envelopes
   * it took, and — when this commit writes anyway, or the marks have waited long enough —
   * the released bits of the journal rows touched (a row whose envelopes have all gone is
   * deleted). Store.tx calls it just before the outermost commit.
   */
  beforeCommit(): void {
    this.coldChanged();
    const fresh = this.fresh.filter((r) => this.hot.has(r.id) && !this.slotOf.has(k(r.id)));
    this.fresh = [];
    if (fresh.length > 0) {
      const seq = this.nextSeq++;
      this.sJournalPut.run(seq, journalCodec.pack(fresh.map(toEntry)));
      this.journals.set(seq, { live: fresh.length, passed: new Uint8Array((fresh.length + 7) >> 3), dirty: false });
      fresh.forEach((r, idx) => this.slotOf.set(k(r.id), { seq, idx }));
      this.hooks.onRollback(() => {
        this.journals.delete(seq);
        for (const r of fresh) this.slotOf.delete(k(r.id));
      });
    }
    if (this.marksWaiting > 0 && this.marksDue()) this.writeMarks();
    this.marksNow = false;
    this.changesSeen = this.sChanges.get()!;
  }

  /** Whether the waiting marks go into this commit: it writes anyway, or they waited enough. */
  private marksDue(): boolean {
    return (
      this.marksNow ||
      this.sChanges.get()! !== this.changesSeen ||
      this.marksWaiting >= MARKS_WAIT_MAX ||
      this.mono() - this.marksSince >= MARKS_WAIT_MS
    );
  }

  private writeMarks(): void {
    const { marksWaiting, marksSince } = this;
    this.marksWaiting = 0;
    this.hooks.onRollback(() => {
      this.marksWaiting = marksWaiting;
      this.marksSince = marksSince;
    });
    for (const [seq, j] of this.journals) {
      if (!j.dirty) continue;
      j.dirty = false;
      this.hooks.onRollback(() => {
        j.dirty = true;
        this.journals.set(seq, j);
      });
      if (j.live === 0) {
        this.sJournalDel.run(seq);
        this.sPassedDel.run(seq);
        this.journals.delete(seq);
      } else {
        this.sPassedPut.run(seq, j.passed);
      }
    }
  }

  /** The next commit writes every waiting release mark (Store.close). */
  flushMarks(): void {
    this.marksNow = true;
  }

  /** The hot part's size and bounds (status --json → tables). */
  hotStats(): { size: number; max: number; bytes: number; maxBytes: number; journalRows: number; marksWaiting: number } {
    const t = this.hot.totals();
    return { size: t.n, max: HOT_MAX, bytes: t.bytes, maxBytes: HOT_MAX_BYTES, journalRows: this.journals.size, marksWaiting: this.marksWaiting };
  }

  /** Removes a hot envelope: its journal bit is set (written at a later commit, see beforeCommit). */
  private releaseHot(id: Uint8Array): RelayRow {
    const row = this.hot.get(id)!;
    this.hot.delete(id);
    const key = k(id);
    const slot = this.slotOf.get(key);
    if (slot) {
      this.slotOf.delete(key);
      const j = this.journals.get(slot.seq)!;
      const was = j.dirty;
      const { marksSince } = this;
      j.passed[slot.idx >> 3]! |= 1 << (slot.idx & 7);
      j.live--;
      j.dirty = true;
      if (this.marksWaiting++ === 0) this.marksSince = this.mono();
      this.hooks.onRollback(() => {
        this.hot.insert(row);
        this.slotOf.set(key, slot);
        j.passed[slot.idx >> 3]! &= ~(1 << (slot.idx & 7));
        j.live++;
        j.dirty = was;
        this.marksWaiting--;
        this.marksSince = marksSince;
      });
    } else {
      this.hooks.onRollback(() => this.hot.insert(row));
    }
    // Outside Store.tx no later commit is known to come: write the bit now.
    if (!this.hooks.inTx()) {
      this.marksNow = true;
      this.db.transaction(() => this.beforeCommit())();
    }
    return row;
  }

  get(id: Uint8Array): RelayRow | undefined {
    const h = this.hot.get(id);
    if (h) return h;
    const r = this.sGet.get(id);
    return r ? fromDb(r) : undefined;
  }

  has(id: Uint8Array): boolean {
    if (this.hot.has(id)) return true;
    if (this.sHas.get(id) !== undefined) return true;
    if (this.hooks.inTx()) {
      this.absent = id;
      this.forgetOnRollback();
    }
    return false;
  }

  /** Releases custody. Returns false when no row has that id. */
  delete(id: Uint8Array): boolean {
    if (this.hot.has(id)) {
      this.releaseHot(id);
      return true;
    }
    this.coldChanged();
    return this.sDelete.run(id).changes > 0;
  }

  /**
   * Sets what the row waits for and when it is next tried; counts an attempt unless
   * `countAttempt` is false; changes dep only when given. Returns false when no row has that id.
   * A hot envelope stays hot while it is only handed to another next hop (or its wait for
   * HOLD extended); when it starts to wait (an attempt counted, a deposit) it becomes a cold row.
   */
  reschedule(id: Uint8Array, waitFor: Uint8Array, nextAttemptAt: number, opts: RelayRescheduleOptions = {}): boolean {
    if (this.hot.has(id)) {
      if (opts.countAttempt === false && opts.dep === undefined) {
        const before = this.hot.get(id)!;
        this.hot.reschedule(id, waitFor, nextAttemptAt, opts);
        this.hooks.onRollback(() => this.hot.reschedule(id, before.waitFor, before.nextAttemptAt, { countAttempt: false }));
        return true;
      }
      const row = this.releaseHot(id);
      return this.coldInsert({
        ...row,
        waitFor,
        nextAttemptAt,
        attempts: row.attempts + (opts.countAttempt === false ? 0 : 1),
        dep: opts.dep === undefined ? row.dep : opts.dep,
      });
    }
    this.coldChanged();
    return (
      this.sReschedule.run({
        id,
        wait_for: waitFor,
        next_attempt_at: nextAttemptAt,
        inc: opts.countAttempt === false ? 0 : 1,
        set_dep: opts.dep === undefined ? 0 : 1,
        dep: opts.dep ?? null,
      }).changes > 0
    );
  }

  /** Moves every row's next attempt by `deltaMs` (after a wall-clock step). Returns the rows moved. */
  shiftSchedule(deltaMs: number): number {
    const hot = this.hot.shiftSchedule(deltaMs);
    if (hot > 0) this.hooks.onRollback(() => this.hot.shiftSchedule(-deltaMs));
    return hot + this.sShift.run(deltaMs).changes;
  }

  /** Rows due at `now`: by nextAttemptAt, then receivedAt, then insertion. */
  due(now: number, limit: number): RelayRow[] {
    const cold = this.sDue.all(now, sqlLimit(limit)).map(fromDb);
    return merged(this.hot.due(now, limit), cold, limit, (a, b) => a.nextAttemptAt - b.nextAttemptAt || byReceived(a, b));
  }

  /** Rows waiting for `entity`, oldest received first. */
  byWaitFor(entity: Uint8Array, limit: number): RelayRow[] {
    return merged(this.hot.byWaitFor(entity, limit), this.sByWaitFor.all(entity, sqlLimit(limit)).map(fromDb), limit, byReceived);
  }

  /** Rows addressed to `entity`, oldest received first. */
  byTo(entity: Uint8Array, limit: number): RelayRow[] {
    return merged(this.hot.byTo(entity, limit), this.sByTo.all(entity, sqlLimit(limit)).map(fromDb), limit, byReceived);
  }

  /** Messages and bytes waiting for `waitFor` (O(1)). */
  countFor(waitFor: Uint8Array): QueueCount {
    const h = this.hot.countFor(waitFor);
    const r = this.cached(this.coldCounts.get(k(waitFor)), () => this.sCountFor.get(waitFor) ?? { n: 0, bytes: 0 }, (c) => this.coldCounts.set(k(waitFor), c));
    return { n: r.n + h.n, bytes: r.bytes + h.bytes };
  }

  /** Messages and bytes in the whole queue (O(1)). */
  totals(): QueueCount {
    const h = this.hot.totals();
    const r = this.cached(this.coldTotals, () => this.sTotals.get()!, (c) => (this.coldTotals = c));
    return { n: r.n + h.n, bytes: r.bytes + h.bytes };
  }

  /** One rollback hook per transaction for the caches, not one per cached read (a hot path). */
  private forgetOnRollback(): void {
    if (this.cacheHooked) return;
    this.cacheHooked = true;
    this.hooks.onRollback(() => this.coldChanged());
  }

  /** A cold count from the cache inside Store.tx, else read (and cached when inside one). */
  private cached(hit: QueueCount | null | undefined, read: () => QueueCount, keep: (c: QueueCount) => void): QueueCount {
    if (hit && this.hooks.inTx()) return hit;
    const c = read();
    if (this.hooks.inTx()) {
      keep({ n: c.n, bytes: c.bytes });
      this.forgetOnRollback();
    }
    return c;
  }

  /** Counts per waitFor, most messages first (then most bytes, then waitFor bytes ascending). */
  perWaitFor(limit: number): Array<{ waitFor: Uint8Array } & QueueCount> {
    const all = new Map<string, { waitFor: Uint8Array } & QueueCount>();
    for (const r of this.sPerWaitFor.all(-1)) all.set(k(r.wait_for), { waitFor: r.wait_for, n: r.n, bytes: r.bytes });
    for (const h of this.hot.perWaitFor(Infinity)) {
      const c = all.get(k(h.waitFor));
      if (c) {
        c.n += h.n;
        c.bytes += h.bytes;
      } else all.set(k(h.waitFor), { ...h });
    }
    const sorted = [...all.values()].sort((a, b) => b.n - a.n || b.bytes - a.bytes || Buffer.compare(a.waitFor, b.waitFor));
    const n = sqlLimit(limit);
    return n < 0 ? sorted : sorted.slice(0, n);
  }

  /**
   * Deletes at most `limit` rows with expiresAt <= now (soonest expiry first in each part,
   * the hot part first); returns their ids. Atomic.
   */
  expire(now: number, limit: number): Uint8Array[] {
    const outer = !this.hooks.inTx();
    return this.db.transaction(() => {
      const n = sqlLimit(limit);
      const rows = this.hot.expiring(now, n);
      for (const r of rows) this.releaseHot(r.id);
      const ids = rows.map((r) => r.id);
      const more = n < 0 ? -1 : n - ids.length;
      if (more !== 0) {
        for (const { id } of this.sExpiredIds.all(now, more)) {
          this.coldChanged();
          this.sDelete.run(id);
          ids.push(id);
        }
      }
      if (outer) this.beforeCommit();
      return ids;
    })();
  }

  /** Rows, oldest received first. */
  list(limit: number): RelayRow[] {
    return merged(this.hot.list(limit), this.sList.all(sqlLimit(limit)).map(fromDb), limit, byReceived);
  }
}

/** Two lists each sorted by `cmp`, merged and cut to `limit` (-1: all). */
function merged(a: RelayRow[], b: RelayRow[], limit: number, cmp: (x: RelayRow, y: RelayRow) => number): RelayRow[] {
  if (a.length === 0) return b;
  const all = [...a, ...b].sort(cmp);
  const n = sqlLimit(limit);
  return n < 0 ? all : all.slice(0, n);
}
