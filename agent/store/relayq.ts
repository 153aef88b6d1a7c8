/**
 * Relay custody queue repository: envelopes this agent holds for others until the next hop
 * (or the recipient, or a mailbox) takes them. Per-waitFor and total counts (messages and
 * envelope bytes) are kept in `relayq_counts` / `relayq_totals` by triggers, so they are read
 * in O(1) and always agree with the rows, inside the same transaction. Table `relayq`.
 */
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';

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
  private readonly expireTx: Database.Transaction<(now: number, limit: number) => Uint8Array[]>;

  constructor(db: Database.Database) {
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
    this.expireTx = db.transaction((now: number, limit: number) => {
      const ids = this.sExpiredIds.all(now, limit).map((r) => r.id);
      for (const id of ids) this.sDelete.run(id);
      return ids;
    });
  }

  /** Takes custody; false (and nothing changed) when a row with that id is already queued. */
  insert(row: RelayRow): boolean {
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

  get(id: Uint8Array): RelayRow | undefined {
    const r = this.sGet.get(id);
    return r ? fromDb(r) : undefined;
  }

  has(id: Uint8Array): boolean {
    return this.sHas.get(id) !== undefined;
  }

  /** Releases custody. Returns false when no row has that id. */
  delete(id: Uint8Array): boolean {
    return this.sDelete.run(id).changes > 0;
  }

  /**
   * Sets what the row waits for and when it is next tried; counts an attempt unless
   * `countAttempt` is false; changes dep only when given. Returns false when no row has that id.
   */
  reschedule(id: Uint8Array, waitFor: Uint8Array, nextAttemptAt: number, opts: RelayRescheduleOptions = {}): boolean {
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
    return this.sShift.run(deltaMs).changes;
  }

  /** Rows due at `now`: by nextAttemptAt, then receivedAt, then insertion. */
  due(now: number, limit: number): RelayRow[] {
    return this.sDue.all(now, sqlLimit(limit)).map(fromDb);
  }

  /** Rows waiting for `entity`, oldest received first. */
  byWaitFor(entity: Uint8Array, limit: number): RelayRow[] {
    return this.sByWaitFor.all(entity, sqlLimit(limit)).map(fromDb);
  }

  /** Rows addressed to `entity`, oldest received first. */
  byTo(entity: Uint8Array, limit: number): RelayRow[] {
    return this.sByTo.all(entity, sqlLimit(limit)).map(fromDb);
  }

  /** Messages and bytes waiting for `waitFor` (O(1)). */
  countFor(waitFor: Uint8Array): QueueCount {
    const r = this.sCountFor.get(waitFor);
    return r ? { n: r.n, bytes: r.bytes } : { n: 0, bytes: 0 };
  }

  /** Messages and bytes in the whole queue (O(1)). */
  totals(): QueueCount {
    const r = this.sTotals.get()!;
    return { n: r.n, bytes: r.bytes };
  }

  /** Counts per waitFor, most messages first (then most bytes, then waitFor bytes ascending). */
  perWaitFor(limit: number): Array<{ waitFor: Uint8Array } & QueueCount> {
    return this.sPerWaitFor.all(sqlLimit(limit)).map((r) => ({ waitFor: r.wait_for, n: r.n, bytes: r.bytes }));
  }

  /** Deletes at most `limit` rows with expiresAt <= now (soonest expiry first); returns their ids. Atomic. */
  expire(now: number, limit: number): Uint8Array[] {
    return this.expireTx(now, sqlLimit(limit));
  }

  /** Rows, oldest received first. */
  list(limit: number): RelayRow[] {
    return this.sList.all(sqlLimit(limit)).map(fromDb);
  }
}
