/**
 * Invite repository: invites we issued (keyed by invite public key), with atomic
 * redemption so a one-use invite is redeemed exactly once. Table `invites`.
 */
import type Database from 'better-sqlite3';

export interface InviteRow {
  /** Invite public key = invite id. */
  key: Uint8Array;
  createdAt: number;
  expiresAt: number;
  usesLeft: number;
  usesTotal: number;
  note: string | null;
}

export type RedeemResult = 'ok' | 'unknown' | 'expired' | 'used';

interface InviteDbRow {
  key: Buffer;
  created_at: number;
  expires_at: number;
  uses_left: number;
  uses_total: number;
  note: string | null;
}

const COLS = 'key, created_at, expires_at, uses_left, uses_total, note';

function fromDb(r: InviteDbRow): InviteRow {
  return {
    key: r.key,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usesLeft: r.uses_left,
    usesTotal: r.uses_total,
    note: r.note,
  };
}

export class InviteRepo {
  private readonly sCreate: Database.Statement<[Record<string, unknown>]>;
  private readonly sGet: Database.Statement<[Uint8Array], InviteDbRow>;
  private readonly sList: Database.Statement<[number], InviteDbRow>;
  private readonly sRedeem: Database.Statement<[Uint8Array, number]>;
  private readonly sRevoke: Database.Statement<[Uint8Array]>;
  private readonly sPurge: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    this.sCreate = db.prepare(
      `INSERT INTO invites (${COLS}) VALUES (@key, @created_at, @expires_at, @uses_left, @uses_total, @note)`,
    );
    this.sGet = db.prepare(`SELECT ${COLS} FROM invites WHERE key = ?`);
    this.sList = db.prepare(`SELECT ${COLS} FROM invites WHERE expires_at > ? AND uses_left > 0 ORDER BY created_at, rowid`);
    this.sRedeem = db.prepare(`UPDATE invites SET uses_left = uses_left - 1 WHERE key = ? AND uses_left > 0 AND expires_at > ?`);
    this.sRevoke = db.prepare(`DELETE FROM invites WHERE key = ?`);
    this.sPurge = db.prepare(`DELETE FROM invites WHERE expires_at <= ?`);
  }

  create(row: InviteRow): void {
    this.sCreate.run({
      key: row.key,
      created_at: row.createdAt,
      expires_at: row.expiresAt,
      uses_left: row.usesLeft,
      uses_total: row.usesTotal,
      note: row.note,
    });
  }

  get(key: Uint8Array): InviteRow | undefined {
    const r = this.sGet.get(key);
    return r ? fromDb(r) : undefined;
  }

  /** Invites still redeemable at `now` (unexpired, uses left), oldest first. */
  list(now: number): InviteRow[] {
    return this.sList.all(now).map(fromDb);
  }

  /**
   * Uses up one redemption: a single conditional UPDATE, so concurrent redemptions of a
   * one-use invite yield exactly one 'ok'. A used-up invite reports 'used' even when it has
   * also expired. Runs inside whatever transaction the caller has.
   */
  redeem(key: Uint8Array, now: number): RedeemResult {
    if (this.sRedeem.run(key, now).changes === 1) return 'ok';
    const r = this.sGet.get(key);
    if (!r) return 'unknown';
    if (r.uses_left <= 0) return 'used';
    return 'expired';
  }

  /** Deletes the invite; later redemptions report 'unknown'. Returns false if it did not exist. */
  revoke(key: Uint8Array): boolean {
    return this.sRevoke.run(key).changes > 0;
  }

  /** Deletes invites that expired at or before `now`; returns how many. */
  purgeExpired(now: number): number {
    return this.sPurge.run(now).changes;
  }
}
