/**
 * Forward-secret session repository (agent/core/session.ts): one row per Double Ratchet
 * session, its state as one blob. Every ratchet step overwrites the row, and the database
 * runs with `secure_delete` on, so a replaced state (and the keys in it) is not left behind
 * in the file; the daemon truncates the WAL regularly (Store.checkpoint) so no old page
 * survives there either. Table `sessions`.
 */
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';

export interface SessionRow {
  /** Session id (16 bytes). */
  sid: Uint8Array;
  /** The peer entity. */
  peer: Uint8Array;
  /** Order among a peer's sessions: the initiator's setup time, ms (higher wins). */
  rank: number;
  /** Encoded session state (core/session.ts). */
  state: Uint8Array;
  createdAt: number;
  usedAt: number;
}

interface SessionDbRow {
  sid: Buffer;
  peer: Buffer;
  rank: number;
  state: Buffer;
  created_at: number;
  used_at: number;
}

const COLS = 'sid, peer, rank, state, created_at, used_at';

function fromDb(r: SessionDbRow): SessionRow {
  return { sid: r.sid, peer: r.peer, rank: r.rank, state: r.state, createdAt: r.created_at, usedAt: r.used_at };
}

export class SessionRepo {
  private readonly sPut: Database.Statement<[Record<string, unknown>]>;
  private readonly sGet: Database.Statement<[Uint8Array], SessionDbRow>;
  private readonly sByPeer: Database.Statement<[Uint8Array, number], SessionDbRow>;
  private readonly sDelete: Database.Statement<[Uint8Array]>;
  private readonly sCount: Database.Statement<[], { n: number }>;
  private readonly sUnused: Database.Statement<[number, number]>;
  private readonly sOldest: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    this.sPut = db.prepare(
      `INSERT INTO sessions (${COLS}) VALUES (@sid, @peer, @rank, @state, @created_at, @used_at)
       ON CONFLICT (sid) DO UPDATE SET state = excluded.state, used_at = excluded.used_at`,
    );
    this.sGet = db.prepare(`SELECT ${COLS} FROM sessions WHERE sid = ?`);
    this.sByPeer = db.prepare(`SELECT ${COLS} FROM sessions WHERE peer = ? ORDER BY rank DESC, sid DESC LIMIT ?`);
    this.sDelete = db.prepare(`DELETE FROM sessions WHERE sid = ?`);
    this.sCount = db.prepare(`SELECT count(*) AS n FROM sessions`);
    this.sUnused = db.prepare(
      `DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE used_at < ? ORDER BY used_at, rowid LIMIT ?)`,
    );
    this.sOldest = db.prepare(`DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions ORDER BY used_at, rowid LIMIT ?)`);
  }

  /** Inserts a session, or replaces the state and usedAt of an existing one (peer, rank and createdAt stay). */
  put(row: SessionRow): void {
    this.sPut.run({ sid: row.sid, peer: row.peer, rank: row.rank, state: row.state, created_at: row.createdAt, used_at: row.usedAt });
  }

  get(sid: Uint8Array): SessionRow | undefined {
    const r = this.sGet.get(sid);
    return r ? fromDb(r) : undefined;
  }

  /** A peer's sessions, highest rank first (then sid bytes descending). */
  byPeer(peer: Uint8Array, limit: number): SessionRow[] {
    return this.sByPeer.all(peer, sqlLimit(limit)).map(fromDb);
  }

  /** Returns false when no session has that id. */
  delete(sid: Uint8Array): boolean {
    return this.sDelete.run(sid).changes > 0;
  }

  count(): number {
    return this.sCount.get()!.n;
  }

  /** Deletes at most `limit` sessions last used before `before`, least recently used first; returns how many. */
  deleteUnusedBefore(before: number, limit: number): number {
    return this.sUnused.run(before, sqlLimit(limit)).changes;
  }

  /** Deletes the `n` least recently used sessions (ties: oldest inserted); returns how many. */
  deleteOldest(n: number): number {
    return this.sOldest.run(sqlLimit(n)).changes;
  }
}
