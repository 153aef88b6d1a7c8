/**
 * Outbox repository: messages we send, their delivery state and retry schedule. Table
 * `outbox`.
 *
 * Pending means not finished: 'queued' (no hop has it yet), 'sent' (transmitted, no hop
 * confirmed), 'relayed' (a hop took custody; waiting for the end-to-end ack). Done means
 * 'delivered', 'read', 'failed' or 'expired'. `pendingFor` returns only rows no hop holds
 * (queued/sent); `due`, `countPending*` and `expire` cover every pending state.
 */
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';

export type OutboxState = 'queued' | 'sent' | 'relayed' | 'delivered' | 'read' | 'failed' | 'expired';

/** Every state, in display order. */
export const OUTBOX_STATES: readonly OutboxState[] = ['queued', 'sent', 'relayed', 'delivered', 'read', 'failed', 'expired'];

/** What an outbox row carries: app messages, control messages (receipts, wants), or mailing-list traffic. */
export type OutboxKind = 'text' | 'file' | 'receipt' | 'want' | 'post' | 'subscribe' | 'unsubscribe' | 'fetch' | 'notice';

export interface OutboxRow {
  id: Uint8Array;
  to: Uint8Array;
  createdAt: number;
  expiresAt: number;
  state: OutboxState;
  kind: OutboxKind;
  /** sha256 of the signed content bytes (the message's causal hash); null when unknown. */
  hash: Uint8Array | null;
  /** Encoded Envelope. */
  envelope: Uint8Array;
  attempts: number;
  nextAttemptAt: number;
  updatedAt: number;
  error: string | null;
  /** Onion mode: relays wanted (0..8); null or absent for clear mode. */
  onion?: number | null;
}

export interface OutboxListOptions {
  /** Only rows in one of these states (default: all states). */
  states?: OutboxState[];
  /** At most this many rows (default: all). */
  limit?: number;
}

interface OutboxDbRow {
  id: Buffer;
  to_entity: Buffer;
  created_at: number;
  expires_at: number;
  state: OutboxState;
  kind: OutboxKind;
  hash: Buffer | null;
  envelope: Buffer;
  attempts: number;
  next_attempt_at: number;
  updated_at: number;
  error: string | null;
  onion: number | null;
}

const COLS = 'id, to_entity, created_at, expires_at, state, kind, hash, envelope, attempts, next_attempt_at, updated_at, error, onion';
/** Must match the WHERE of the partial indexes outbox_due/_pending_to/_pending_expires. */
const PENDING = `state IN ('queued','sent','relayed')`;
/** Not yet held by any hop (a subset of PENDING; the PENDING term lets the partial index serve). */
const UNHELD = `${PENDING} AND state IN ('queued','sent')`;
/** Must match the WHERE of the partial index outbox_done. */
const DONE = `state IN ('delivered','read','failed','expired')`;

function fromDb(r: OutboxDbRow): OutboxRow {
  return {
    id: r.id,
    to: r.to_entity,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    state: r.state,
    kind: r.kind,
    hash: r.hash,
    envelope: r.envelope,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    updatedAt: r.updated_at,
    error: r.error,
    onion: r.onion,
  };
}

export class OutboxRepo {
  private readonly sInsert: Database.Statement<[Record<string, unknown>]>;
  private readonly sGet: Database.Statement<[Uint8Array], OutboxDbRow>;
  private readonly sByHash: Database.Statement<[Uint8Array], OutboxDbRow>;
  private readonly sHasHash: Database.Statement<[Uint8Array], { one: number }>;
  private readonly sSetState: Database.Statement<[OutboxState, number, string | null, Uint8Array]>;
  private readonly sSetError: Database.Statement<[string | null, number, Uint8Array]>;
  private readonly sSetOnion: Database.Statement<[number | null, number, Uint8Array]>;
  private readonly sRetry: Database.Statement<[number, number, Uint8Array]>;
  private readonly sReschedule: Database.Statement<[number, number, Uint8Array]>;
  private readonly sDue: Database.Statement<[number, number], OutboxDbRow>;
  private readonly sPendingFor: Database.Statement<[Uint8Array, number], OutboxDbRow>;
  private readonly sList: Database.Statement<[{ states: string | null; limit: number }], OutboxDbRow>;
  private readonly sCountPending: Database.Statement<[], { n: number }>;
  private readonly sCountPendingFor: Database.Statement<[Uint8Array], { n: number }>;
  private readonly sExpire: Database.Statement<[number, number]>;
  private readonly sPurgeDone: Database.Statement<[number, number]>;
  private readonly sShift: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    this.sInsert = db.prepare(
      `INSERT INTO outbox (${COLS})
       VALUES (@id, @to_entity, @created_at, @expires_at, @state, @kind, @hash, @envelope, @attempts, @next_attempt_at, @updated_at, @error, @onion)`,
    );
    this.sGet = db.prepare(`SELECT ${COLS} FROM outbox WHERE id = ?`);
    this.sByHash = db.prepare(`SELECT ${COLS} FROM outbox WHERE hash = ? ORDER BY rowid LIMIT 1`);
    this.sHasHash = db.prepare(`SELECT 1 AS one FROM outbox WHERE hash = ? LIMIT 1`);
    this.sSetState = db.prepare(`UPDATE outbox SET state = ?, updated_at = ?, error = ? WHERE id = ?`);
    this.sSetError = db.prepare(`UPDATE outbox SET error = ?, updated_at = ? WHERE id = ?`);
    this.sSetOnion = db.prepare(`UPDATE outbox SET onion = ?, updated_at = ? WHERE id = ?`);
    this.sRetry = db.prepare(`UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ? WHERE id = ?`);
    this.sReschedule = db.prepare(`UPDATE outbox SET next_attempt_at = ?, updated_at = ? WHERE id = ?`);
    this.sShift = db.prepare(`UPDATE outbox SET next_attempt_at = next_attempt_at + ? WHERE ${PENDING}`);
    this.sDue = db.prepare(
      `SELECT ${COLS} FROM outbox WHERE ${PENDING} AND next_attempt_at <= ?
       ORDER BY next_attempt_at, created_at, rowid LIMIT ?`,
    );
    this.sPendingFor = db.prepare(
      `SELECT ${COLS} FROM outbox WHERE to_entity = ? AND ${UNHELD} ORDER BY created_at, rowid LIMIT ?`,
    );
    // @states: JSON array of states, or NULL for all states.
    this.sList = db.prepare(
      `SELECT ${COLS} FROM outbox
       WHERE @states IS NULL OR state IN (SELECT value FROM json_each(@states))
       ORDER BY created_at DESC, rowid DESC LIMIT @limit`,
    );
    this.sCountPending = db.prepare(`SELECT count(*) AS n FROM outbox WHERE ${PENDING}`);
    this.sCountPendingFor = db.prepare(`SELECT count(*) AS n FROM outbox WHERE to_entity = ? AND ${PENDING}`);
    this.sExpire = db.prepare(`UPDATE outbox SET state = 'expired', updated_at = ? WHERE ${PENDING} AND expires_at <= ?`);
    this.sPurgeDone = db.prepare(
      `DELETE FROM outbox WHERE rowid IN
         (SELECT rowid FROM outbox WHERE ${DONE} AND updated_at < ? ORDER BY updated_at, rowid LIMIT ?)`,
    );
  }

  insert(row: OutboxRow): void {
    this.sInsert.run({
      id: row.id,
      to_entity: row.to,
      created_at: row.createdAt,
      expires_at: row.expiresAt,
      state: row.state,
      kind: row.kind,
      hash: row.hash,
      envelope: row.envelope,
      attempts: row.attempts,
      next_attempt_at: row.nextAttemptAt,
      updated_at: row.updatedAt,
      error: row.error,
      onion: row.onion ?? null,
    });
  }

  get(id: Uint8Array): OutboxRow | undefined {
    const r = this.sGet.get(id);
    return r ? fromDb(r) : undefined;
  }

  /** The row whose content hash is `hash` (the first inserted, should several share it). */
  byHash(hash: Uint8Array): OutboxRow | undefined {
    const r = this.sByHash.get(hash);
    return r ? fromDb(r) : undefined;
  }

  /** True when some row (in any state) has content hash `hash`. */
  hasHash(hash: Uint8Array): boolean {
    return this.sHasHash.get(hash) !== undefined;
  }

  /** Sets state and error (cleared when not given). Returns false when no row has that id. */
  setState(id: Uint8Array, state: OutboxState, now: number, error?: string | null): boolean {
    return this.sSetState.run(state, now, error ?? null, id).changes > 0;
  }

  /** Sets (or clears) the error and updatedAt only. Returns false when no row has that id. */
  setError(id: Uint8Array, error: string | null, now: number): boolean {
    return this.sSetError.run(error, now, id).changes > 0;
  }

  /** Sets how the row is sent from its next attempt on (relays of an onion; null = clear mode) and updatedAt. False when no row has that id. */
  setOnion(id: Uint8Array, onion: number | null, now: number): boolean {
    return this.sSetOnion.run(onion, now, id).changes > 0;
  }

  /** Counts one more attempt and schedules the next one. Returns false when no row has that id. */
  scheduleRetry(id: Uint8Array, nextAttemptAt: number, now: number): boolean {
    return this.sRetry.run(nextAttemptAt, now, id).changes > 0;
  }

  /** Moves the next attempt without counting one. Returns false when no row has that id. */
  reschedule(id: Uint8Array, nextAttemptAt: number, now: number): boolean {
    return this.sReschedule.run(nextAttemptAt, now, id).changes > 0;
  }

  /**
   * Moves the next attempt of every pending row by `deltaMs` (negative: earlier), after the
   * wall clock stepped by that much, so retries keep their distance in real time. Returns the rows moved.
   */
  shiftSchedule(deltaMs: number): number {
    return this.sShift.run(deltaMs).changes;
  }

  /** Pending rows (queued/sent/relayed) due at `now`: by nextAttemptAt, then createdAt, then insertion. */
  due(now: number, limit: number): OutboxRow[] {
    return this.sDue.all(now, sqlLimit(limit)).map(fromDb);
  }

  /** Rows addressed to `to` that no hop holds yet (queued/sent), oldest first. */
  pendingFor(to: Uint8Array, limit: number): OutboxRow[] {
    return this.sPendingFor.all(to, sqlLimit(limit)).map(fromDb);
  }

  /** Rows, newest first, optionally only in the given states. */
  list(opts: OutboxListOptions = {}): OutboxRow[] {
    const states = opts.states === undefined ? null : JSON.stringify(opts.states);
    return this.sList.all({ states, limit: sqlLimit(opts.limit) }).map(fromDb);
  }

  /** Rows in queued/sent/relayed. */
  countPending(): number {
    return this.sCountPending.get()!.n;
  }

  /** Rows to `to` in queued/sent/relayed. */
  countPendingFor(to: Uint8Array): number {
    return this.sCountPendingFor.get(to)!.n;
  }

  /** Moves pending (queued/sent/relayed) rows whose expiresAt <= now to 'expired'; returns how many. */
  expire(now: number): number {
    return this.sExpire.run(now, now).changes;
  }

  /**
   * Deletes at most `limit` done rows (delivered/read/failed/expired) last updated before
   * `before`, least recently updated first; returns how many.
   */
  purgeDone(before: number, limit: number): number {
    return this.sPurgeDone.run(before, sqlLimit(limit)).changes;
  }
}
