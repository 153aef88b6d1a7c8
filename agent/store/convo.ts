/**
 * Conversation heads repository: for each peer entity, the current heads of the causal DAG
 * of our conversation with it (the messages nothing newer names as a parent yet), at most
 * MAX_HEADS per peer. A new message names the heads as its parents. Table `convo_heads`.
 */
import type Database from 'better-sqlite3';

/** Heads kept per peer; advance() drops the oldest beyond this. */
export const MAX_HEADS = 8;

export class ConvoRepo {
  private readonly sHeads: Database.Statement<[Uint8Array], { hash: Buffer }>;
  private readonly sDelete: Database.Statement<[Uint8Array, Uint8Array]>;
  private readonly sInsert: Database.Statement<[Uint8Array, Uint8Array, number]>;
  private readonly sTrim: Database.Statement<[{ peer: Uint8Array; max: number }]>;
  private readonly advanceTx: Database.Transaction<(peer: Uint8Array, hash: Uint8Array, parents: Uint8Array[], now: number) => void>;

  constructor(db: Database.Database) {
    this.sHeads = db.prepare(`SELECT hash FROM convo_heads WHERE peer = ? ORDER BY added_at, hash`);
    this.sDelete = db.prepare(`DELETE FROM convo_heads WHERE peer = ? AND hash = ?`);
    this.sInsert = db.prepare(`INSERT INTO convo_heads (peer, hash, added_at) VALUES (?, ?, ?) ON CONFLICT (peer, hash) DO NOTHING`);
    this.sTrim = db.prepare(
      `DELETE FROM convo_heads WHERE peer = @peer AND hash NOT IN
         (SELECT hash FROM convo_heads WHERE peer = @peer ORDER BY added_at DESC, hash DESC LIMIT @max)`,
    );
    this.advanceTx = db.transaction((peer: Uint8Array, hash: Uint8Array, parents: Uint8Array[], now: number) => {
      for (const p of parents) this.sDelete.run(peer, p);
      this.sInsert.run(peer, hash, now);
      this.sTrim.run({ peer, max: MAX_HEADS });
    });
  }

  /** The heads of the conversation with `peer`, oldest first (added_at, then hash bytes). */
  heads(peer: Uint8Array): Uint8Array[] {
    return this.sHeads.all(peer).map((r) => r.hash);
  }

  /**
   * Records message `hash` (whose parents are `parents`) in the conversation with `peer`:
   * the parents stop being heads, `hash` becomes one (kept as is when already a head), and
   * only the newest MAX_HEADS heads stay (by added_at, then hash bytes). Atomic.
   */
  advance(peer: Uint8Array, hash: Uint8Array, parents: Uint8Array[], now: number): void {
    this.advanceTx(peer, hash, parents, now);
  }

  /** Removes `hashes` from peer's heads (a message the peer refused is no parent of the next). */
  drop(peer: Uint8Array, hashes: Uint8Array[]): void {
    for (const h of hashes) this.sDelete.run(peer, h);
  }
}
