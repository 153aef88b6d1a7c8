/**
 * The address book: the newest verified announcement of each entity we have heard of
 * (from the entity itself over a link, from a neighbour's where-is answer or from a
 * directory server), with an expiry and a flag set when dialling its addresses failed.
 */
import type Database from 'better-sqlite3';

export interface AddrBookRow {
  entity: Uint8Array;
  /** The exact announcement bytes (agent/identity/announce.ts). */
  announcement: Uint8Array;
  seq: number;
  receivedAt: number;
  expiresAt: number;
  /** Set when a dial to its addresses failed or answered with another key. */
  invalid: boolean;
}

interface Raw {
  entity: Buffer;
  announcement: Buffer;
  seq: number;
  received_at: number;
  expires_at: number;
  invalid: number;
}

const fromRaw = (r: Raw): AddrBookRow => ({
  entity: r.entity,
  announcement: r.announcement,
  seq: r.seq,
  receivedAt: r.received_at,
  expiresAt: r.expires_at,
  invalid: r.invalid === 1,
});

export class AddrBookRepo {
  private readonly sPut: Database.Statement;
  private readonly sGet: Database.Statement;
  private readonly sInvalid: Database.Statement;
  private readonly sPurge: Database.Statement;
  private readonly sCount: Database.Statement;
  private readonly sPrune: Database.Statement;

  constructor(db: Database.Database) {
    this.sPut = db.prepare(
      `INSERT INTO addrbook (entity, announcement, seq, received_at, expires_at, invalid) VALUES (?, ?, ?, ?, ?, 0)
       ON CONFLICT (entity) DO UPDATE SET announcement = excluded.announcement, seq = excluded.seq,
         received_at = excluded.received_at, expires_at = excluded.expires_at, invalid = 0
       WHERE excluded.seq > addrbook.seq OR addrbook.expires_at <= excluded.received_at`,
    );
    this.sGet = db.prepare(`SELECT * FROM addrbook WHERE entity = ?`);
    this.sInvalid = db.prepare(`UPDATE addrbook SET invalid = 1 WHERE entity = ?`);
    this.sPurge = db.prepare(`DELETE FROM addrbook WHERE expires_at <= ?`);
    this.sCount = db.prepare(`SELECT count(*) AS n FROM addrbook`);
    this.sPrune = db.prepare(`DELETE FROM addrbook WHERE entity IN (SELECT entity FROM addrbook ORDER BY received_at, rowid LIMIT ?)`);
  }

  /** Stores a newer announcement (higher seq, or the old one expired). Returns whether it was stored. */
  put(row: Omit<AddrBookRow, 'invalid'>): boolean {
    return this.sPut.run(row.entity, row.announcement, row.seq, row.receivedAt, row.expiresAt).changes > 0;
  }

  /** The entry, if present and not expired at `now`. */
  get(entity: Uint8Array, now: number): AddrBookRow | undefined {
    const r = this.sGet.get(entity) as Raw | undefined;
    if (!r || r.expires_at <= now) return undefined;
    return fromRaw(r);
  }

  markInvalid(entity: Uint8Array): boolean {
    return this.sInvalid.run(entity).changes > 0;
  }

  purgeExpired(now: number): number {
    return this.sPurge.run(now).changes;
  }

  count(): number {
    return (this.sCount.get() as { n: number }).n;
  }

  /** Keeps at most `max` entries, dropping the least recently received first. Returns the rows deleted. */
  prune(max: number): number {
    const excess = this.count() - max;
    if (excess <= 0) return 0;
    return this.sPrune.run(excess).changes;
  }
}
