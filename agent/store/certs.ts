/**
 * Certificate repository: peer agent certificates we have seen (verified by the caller
 * before they are stored), one row per agent key, keeping the highest seq. Table `certs`.
 */
import type Database from 'better-sqlite3';

export interface CertRow {
  agent: Uint8Array;
  entity: Uint8Array;
  cert: Uint8Array;
  seq: number;
  notAfter: number;
  seenAt: number;
}

interface CertDbRow {
  agent: Buffer;
  entity: Buffer;
  cert: Buffer;
  seq: number;
  not_after: number;
  seen_at: number;
}

const COLS = 'agent, entity, cert, seq, not_after, seen_at';

function fromDb(r: CertDbRow): CertRow {
  return { agent: r.agent, entity: r.entity, cert: r.cert, seq: r.seq, notAfter: r.not_after, seenAt: r.seen_at };
}

export class CertRepo {
  private readonly sPut: Database.Statement<[Record<string, unknown>]>;
  private readonly sGet: Database.Statement<[Uint8Array], CertDbRow>;
  private readonly sLatest: Database.Statement<[Uint8Array], CertDbRow>;

  constructor(private readonly db: Database.Database) {
    this.sPut = db.prepare(
      `INSERT INTO certs (${COLS}) VALUES (@agent, @entity, @cert, @seq, @not_after, @seen_at)
       ON CONFLICT (agent) DO UPDATE SET
         entity = excluded.entity, cert = excluded.cert, seq = excluded.seq,
         not_after = excluded.not_after, seen_at = excluded.seen_at
       WHERE excluded.seq >= certs.seq`,
    );
    this.sGet = db.prepare(`SELECT ${COLS} FROM certs WHERE agent = ?`);
    this.sLatest = db.prepare(`SELECT ${COLS} FROM certs WHERE entity = ? ORDER BY seq DESC, not_after DESC LIMIT 1`);
  }

  /**
   * Stores the cert unless a row for the same agent has a higher seq (same seq replaces).
   * Returns true when the row was written.
   */
  put(row: CertRow): boolean {
    return (
      this.sPut.run({
        agent: row.agent,
        entity: row.entity,
        cert: row.cert,
        seq: row.seq,
        not_after: row.notAfter,
        seen_at: row.seenAt,
      }).changes > 0
    );
  }

  get(agent: Uint8Array): CertRow | undefined {
    const r = this.sGet.get(agent);
    return r ? fromDb(r) : undefined;
  }

  /**
   * Keeps the table bounded: deletes every certificate expired at `now`, then, while more than
   * `max` rows remain, the least recently seen ones whose entity `keep` does not protect.
   * Returns the rows deleted.
   */
  prune(now: number, max: number, keep: (entity: Uint8Array) => boolean): number {
    let n = this.db.prepare(`DELETE FROM certs WHERE not_after < ?`).run(now).changes;
    let excess = (this.db.prepare(`SELECT count(*) AS n FROM certs`).get() as { n: number }).n - max;
    if (excess <= 0) return n;
    const del = this.db.prepare(`DELETE FROM certs WHERE agent = ?`);
    const oldestFirst = this.db.prepare(`SELECT agent, entity FROM certs ORDER BY seen_at, rowid`).all() as Array<{ agent: Uint8Array; entity: Uint8Array }>;
    for (const r of oldestFirst) {
      if (excess <= 0) break;
      if (keep(r.entity)) continue;
      n += del.run(r.agent).changes;
      excess--;
    }
    return n;
  }

  count(): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM certs`).get() as { n: number }).n;
  }

  /** The entity's cert with the highest seq, then the latest notAfter. */
  latestForEntity(entity: Uint8Array): CertRow | undefined {
    const r = this.sLatest.get(entity);
    return r ? fromDb(r) : undefined;
  }
}
