/**
 * Held messages repository: messages that reached us but wait for their causal parents
 * before the app sees them (then they move to the inbox, or are given up on after a while).
 * Table `held`.
 */
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';
import { packHashes, unpackHashes } from './hashes.js';
import type { InboxRow } from './inbox.js';

export interface HeldRow extends Omit<InboxRow, 'seq' | 'read' | 'gap'> {
  /** sha256 of the signed content bytes (always known for a held message). */
  hash: Uint8Array;
  /** When we started holding it. */
  heldAt: number;
}

interface HeldDbRow {
  id: Buffer;
  hash: Buffer;
  from_entity: Buffer;
  from_agent: Buffer;
  received_at: number;
  sent_at: number;
  kind: 'text' | 'file';
  body: Buffer;
  name: string | null;
  path: string;
  parents: Buffer | null;
  held_at: number;
  author: Buffer | null;
}

const COLS = 'id, hash, from_entity, from_agent, received_at, sent_at, kind, body, name, path, parents, held_at, author';

function fromDb(r: HeldDbRow): HeldRow {
  return {
    id: r.id,
    from: r.from_entity,
    fromAgent: r.from_agent,
    receivedAt: r.received_at,
    sentAt: r.sent_at,
    kind: r.kind,
    body: r.body,
    name: r.name,
    path: r.path,
    hash: r.hash,
    parents: unpackHashes(r.parents),
    author: r.author,
    heldAt: r.held_at,
  };
}

export class HeldRepo {
  private readonly sPut: Database.Statement<[Record<string, unknown>]>;
  private readonly sGet: Database.Statement<[Uint8Array], HeldDbRow>;
  private readonly sHas: Database.Statement<[Uint8Array], { one: number }>;
  private readonly sDelete: Database.Statement<[Uint8Array]>;
  private readonly sListFrom: Database.Statement<[Uint8Array, number], HeldDbRow>;
  private readonly sOlderThan: Database.Statement<[number, number], HeldDbRow>;
  private readonly sCount: Database.Statement<[], { n: number }>;
  private readonly sShift: Database.Statement<[number]>;
  private readonly sWaitingFrom: Database.Statement<[Uint8Array, number], { id: Buffer; hash: Buffer; parents: Buffer | null }>;

  constructor(db: Database.Database) {
    this.sPut = db.prepare(
      `INSERT INTO held (${COLS})
       VALUES (@id, @hash, @from_entity, @from_agent, @received_at, @sent_at, @kind, @body, @name, @path, @parents, @held_at, @author)
       ON CONFLICT (id) DO NOTHING`,
    );
    this.sGet = db.prepare(`SELECT ${COLS} FROM held WHERE id = ?`);
    this.sHas = db.prepare(`SELECT 1 AS one FROM held WHERE id = ?`);
    this.sDelete = db.prepare(`DELETE FROM held WHERE id = ?`);
    this.sListFrom = db.prepare(`SELECT ${COLS} FROM held WHERE from_entity = ? ORDER BY held_at, rowid LIMIT ?`);
    this.sWaitingFrom = db.prepare(`SELECT id, hash, parents FROM held WHERE from_entity = ? ORDER BY held_at, rowid LIMIT ?`);
    this.sOlderThan = db.prepare(`SELECT ${COLS} FROM held WHERE held_at <= ? ORDER BY held_at, rowid LIMIT ?`);
    this.sCount = db.prepare(`SELECT count(*) AS n FROM held`);
    this.sShift = db.prepare(`UPDATE held SET held_at = held_at + ?`);
  }

  /**
   * Holds the message; false (and nothing written) when its id is already held. A parent
   * hash that is not 32 bytes is a RangeError.
   */
  put(row: HeldRow): boolean {
    const parents = packHashes('held parents', row.parents);
    return (
      this.sPut.run({
        id: row.id,
        hash: row.hash,
        from_entity: row.from,
        from_agent: row.fromAgent,
        received_at: row.receivedAt,
        sent_at: row.sentAt,
        kind: row.kind,
        body: row.body,
        name: row.name,
        path: row.path,
        parents,
        held_at: row.heldAt,
        author: row.author,
      }).changes === 1
    );
  }

  get(id: Uint8Array): HeldRow | undefined {
    const r = this.sGet.get(id);
    return r ? fromDb(r) : undefined;
  }

  has(id: Uint8Array): boolean {
    return this.sHas.get(id) !== undefined;
  }

  /** Returns false when nothing with that id is held. */
  delete(id: Uint8Array): boolean {
    return this.sDelete.run(id).changes > 0;
  }

  /** Messages held from entity `from`, oldest held first. */
  listFrom(from: Uint8Array, limit: number): HeldRow[] {
    return this.sListFrom.all(from, sqlLimit(limit)).map(fromDb);
  }

  /** Id, hash and parents of the messages held from `from`, oldest held first (no bodies). */
  waitingFrom(from: Uint8Array, limit: number): Array<{ id: Uint8Array; hash: Uint8Array; parents: Uint8Array[] }> {
    return this.sWaitingFrom.all(from, sqlLimit(limit)).map((r) => ({ id: r.id, hash: r.hash, parents: unpackHashes(r.parents) }));
  }

  /** Messages held at or before `t`, oldest held first. */
  olderThan(t: number, limit: number): HeldRow[] {
    return this.sOlderThan.all(t, sqlLimit(limit)).map(fromDb);
  }

  count(): number {
    return this.sCount.get()!.n;
  }

  /** Moves every row's heldAt by `deltaMs` (after a wall-clock step), so the causal wait keeps its real length. */
  shiftHeldAt(deltaMs: number): number {
    return this.sShift.run(deltaMs).changes;
  }
}
