/**
 * Outbox repository: messages we send, their delivery state and retry schedule. Pending
 * means state 'queued' or 'sent' (not yet acknowledged). Table `outbox`.
 */
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';

export type OutboxState = 'queued' | 'sent' | 'delivered' | 'read' | 'failed' | 'expired';

export interface OutboxRow {
  id: Uint8Array;
  to: Uint8Array;
  createdAt: number;
  expiresAt: number;
  state: OutboxState;
  /** Encoded Envelope. */
  envelope: Uint8Array;
  attempts: number;
  nextAttemptAt: number;
  updatedAt: number;
  error: string | null;
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
  envelope: Buffer;
  attempts: number;
  next_attempt_at: number;
  updated_at: number;
  error: string | null;
}

const COLS = 'id, to_entity, created_at, expires_at, state, envelope, attempts, next_attempt_at, updated_at, error';
const PENDING = `state IN ('queued','sent')`;

function fromDb(r: OutboxDbRow): OutboxRow {
  return {
    id: r.id,
    to: r.to_entity,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    state: r.state,
    envelope: r.envelope,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    updatedAt: r.updated_at,
    error: r.error,
  };
}

export class OutboxRepo {
  private readonly sInsert: Database.Statement<[Record<string, unknown>]>;
  private readonly sGet: Database.Statement<[Uint8Array], OutboxDbRow>;
  private readonly sSetState: Database.Statement<[OutboxState, number, string | null, Uint8Array]>;
  private readonly sRetry: Database.Statement<[number, number, Uint8Array]>;
  private readonly sDue: Database.Statement<[number, number], OutboxDbRow>;
  private readonly sPendingFor: Database.Statement<[Uint8Array, number], OutboxDbRow>;
  private readonly sList: Database.Statement<[{ states: string | null; limit: number }], OutboxDbRow>;
  private readonly sCountPending: Database.Statement<[], { n: number }>;
  private readonly sExpire: Database.Statement<[number, number]>;

  constructor(db: Database.Database) {
    this.sInsert = db.prepare(
      `INSERT INTO outbox (${COLS})
       VALUES (@id, @to_entity, @created_at, @expires_at, @state, @envelope, @attempts, @next_attempt_at, @updated_at, @error)`,
    );
    this.sGet = db.prepare(`SELECT ${COLS} FROM outbox WHERE id = ?`);
    this.sSetState = db.prepare(`UPDATE outbox SET state = ?, updated_at = ?, error = ? WHERE id = ?`);
    this.sRetry = db.prepare(`UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ? WHERE id = ?`);
    this.sDue = db.prepare(
      `SELECT ${COLS} FROM outbox WHERE ${PENDING} AND next_attempt_at <= ? ORDER BY created_at, rowid LIMIT ?`,
    );
    this.sPendingFor = db.prepare(
      `SELECT ${COLS} FROM outbox WHERE to_entity = ? AND ${PENDING} ORDER BY created_at, rowid LIMIT ?`,
    );
    // @states: JSON array of states, or NULL for all states.
    this.sList = db.prepare(
      `SELECT ${COLS} FROM outbox
       WHERE @states IS NULL OR state IN (SELECT value FROM json_each(@states))
       ORDER BY created_at DESC, rowid DESC LIMIT @limit`,
    );
    this.sCountPending = db.prepare(`SELECT count(*) AS n FROM outbox WHERE ${PENDING}`);
    this.sExpire = db.prepare(`UPDATE outbox SET state = 'expired', updated_at = ? WHERE ${PENDING} AND expires_at <= ?`);
  }

  insert(row: OutboxRow): void {
    this.sInsert.run({
      id: row.id,
      to_entity: row.to,
      created_at: row.createdAt,
      expires_at: row.expiresAt,
      state: row.state,
      envelope: row.envelope,
      attempts: row.attempts,
      next_attempt_at: row.nextAttemptAt,
      updated_at: row.updatedAt,
      error: row.error,
    });
  }

  get(id: Uint8Array): OutboxRow | undefined {
    const r = this.sGet.get(id);
    return r ? fromDb(r) : undefined;
  }

  /** Sets state and error (cleared when not given). Returns false when no row has that id. */
  setState(id: Uint8Array, state: OutboxState, now: number, error?: string | null): boolean {
    return this.sSetState.run(state, now, error ?? null, id).changes > 0;
  }

  /** Counts one more attempt and schedules the next one. Returns false when no row has that id. */
  scheduleRetry(id: Uint8Array, nextAttemptAt: number, now: number): boolean {
    return this.sRetry.run(nextAttemptAt, now, id).changes > 0;
  }

  /** Pending rows whose next attempt is due at `now`, oldest first. */
  due(now: number, limit: number): OutboxRow[] {
    return this.sDue.all(now, sqlLimit(limit)).map(fromDb);
  }

  /** Pending rows addressed to `to`, oldest first. */
  pendingFor(to: Uint8Array, limit: number): OutboxRow[] {
    return this.sPendingFor.all(to, sqlLimit(limit)).map(fromDb);
  }

  /** Rows, newest first, optionally only in the given states. */
  list(opts: OutboxListOptions = {}): OutboxRow[] {
    const states = opts.states === undefined ? null : JSON.stringify(opts.states);
    return this.sList.all({ states, limit: sqlLimit(opts.limit) }).map(fromDb);
  }

  countPending(): number {
    return this.sCountPending.get()!.n;
  }

  /** Moves pending rows whose expiresAt <= now to 'expired'; returns how many. */
  expire(now: number): number {
    return this.sExpire.run(now, now).changes;
  }
}
