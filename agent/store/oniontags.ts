/**
 * Replay cache of onion layers (PROTOCOL.md 3.13): the tag of every layer this agent has
 * peeled, until the layer's expiry. Written in the same transaction as the custody it
 * leads to, so a replay is recognised across restarts too. Bounded by the core (evictOldest).
 * Table `onion_tags`.
 */
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';

export class OnionTagRepo {
  private readonly sAdd: Database.Statement<[Uint8Array, number]>;
  private readonly sHas: Database.Statement<[Uint8Array], { one: number }>;
  private readonly sCount: Database.Statement<[], { n: number }>;
  private readonly sPurge: Database.Statement<[number, number]>;
  private readonly sEvict: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    this.sAdd = db.prepare(`INSERT INTO onion_tags (tag, expires_at) VALUES (?, ?) ON CONFLICT (tag) DO NOTHING`);
    this.sHas = db.prepare(`SELECT 1 AS one FROM onion_tags WHERE tag = ?`);
    this.sCount = db.prepare(`SELECT count(*) AS n FROM onion_tags`);
    this.sPurge = db.prepare(
      `DELETE FROM onion_tags WHERE rowid IN (SELECT rowid FROM onion_tags WHERE expires_at <= ? ORDER BY expires_at, rowid LIMIT ?)`,
    );
    this.sEvict = db.prepare(`DELETE FROM onion_tags WHERE rowid IN (SELECT rowid FROM onion_tags ORDER BY expires_at, rowid LIMIT ?)`);
  }

  /** Remembers a tag; false (and nothing changed) when it is already known: a replay. */
  add(tag: Uint8Array, expiresAt: number): boolean {
    return this.sAdd.run(tag, expiresAt).changes === 1;
  }

  has(tag: Uint8Array): boolean {
    return this.sHas.get(tag) !== undefined;
  }

  count(): number {
    return this.sCount.get()!.n;
  }

  /** Forgets at most `limit` tags with expiresAt <= now (soonest first); returns how many. */
  purge(now: number, limit: number): number {
    return this.sPurge.run(now, sqlLimit(limit)).changes;
  }

  /** Forgets the `n` tags that expire soonest (ties: oldest inserted); returns how many. */
  evictOldest(n: number): number {
    return this.sEvict.run(sqlLimit(n)).changes;
  }
}
