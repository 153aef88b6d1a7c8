/**
 * Inbox repository: messages delivered to us, stored exactly once per message id, in local
 * insertion order (`seq`, never reused), with their causal hash, parents and the parents
 * we gave up waiting for. Table `inbox`.
 */
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';
import { packHashes, unpackHashes } from './hashes.js';

export interface InboxRow {
  id: Uint8Array;
  from: Uint8Array;
  fromAgent: Uint8Array;
  receivedAt: number;
  sentAt: number;
  kind: 'text' | 'file';
  body: Uint8Array;
  name: string | null;
  /** JSON of the verified path. */
  path: string;
  /** sha256 of the signed content bytes; null when unknown. */
  hash: Uint8Array | null;
  /** Causal parents (32-byte hashes) named by the sender; [] for none. */
  parents: Uint8Array[];
  /** Parents given up on (never arrived) when the message was delivered; [] for none. */
  gap: Uint8Array[];
  /** The post's author (verified) when the message came through a mailing list (`from` is the list); else null. */
  author: Uint8Array | null;
  /** Local insertion order. */
  seq: number;
  read: boolean;
}

export interface InboxListOptions {
  /** Only rows with seq > afterSeq (default 0: from the start). */
  afterSeq?: number;
  /** At most this many rows (default: all). */
  limit?: number;
  /** Only messages from this entity. */
  from?: Uint8Array;
}

interface InboxDbRow {
  seq: number;
  id: Buffer;
  from_entity: Buffer;
  from_agent: Buffer;
  received_at: number;
  sent_at: number;
  kind: 'text' | 'file';
  body: Buffer;
  name: string | null;
  path: string;
  read: number;
  hash: Buffer | null;
  parents: Buffer | null;
  gap: Buffer | null;
  author: Buffer | null;
}

const COLS = 'seq, id, from_entity, from_agent, received_at, sent_at, kind, body, name, path, read, hash, parents, gap, author';

function fromDb(r: InboxDbRow): InboxRow {
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
    gap: unpackHashes(r.gap),
    author: r.author,
    seq: r.seq,
    read: r.read !== 0,
  };
}

export class InboxRepo {
  // The NOT EXISTS guard keeps a duplicate from consuming a seq number (no gaps from dedup);
  // the UNIQUE constraint + ON CONFLICT still makes it exactly-once across connections.
  private readonly sInsert: Database.Statement<[Record<string, unknown>]>;
  private readonly sHas: Database.Statement<[Uint8Array], { one: number }>;
  private readonly sHasHash: Database.Statement<[Uint8Array], { one: number }>;
  private readonly sGet: Database.Statement<[Uint8Array], InboxDbRow>;
  private readonly sList: Database.Statement<[number, number], InboxDbRow>;
  private readonly sListFrom: Database.Statement<[Uint8Array, number, number], InboxDbRow>;
  private readonly sCount: Database.Statement<[], { n: number }>;
  private readonly sMarkRead: Database.Statement<[Uint8Array]>;

  constructor(db: Database.Database) {
    this.sInsert = db.prepare(
      `INSERT INTO inbox (id, from_entity, from_agent, received_at, sent_at, kind, body, name, path, hash, parents, gap, author)
       SELECT @id, @from_entity, @from_agent, @received_at, @sent_at, @kind, @body, @name, @path, @hash, @parents, @gap, @author
       WHERE NOT EXISTS (SELECT 1 FROM inbox WHERE id = @id)
       ON CONFLICT (id) DO NOTHING`,
    );
    this.sHas = db.prepare(`SELECT 1 AS one FROM inbox WHERE id = ?`);
    this.sHasHash = db.prepare(`SELECT 1 AS one FROM inbox WHERE hash = ? LIMIT 1`);
    this.sGet = db.prepare(`SELECT ${COLS} FROM inbox WHERE id = ?`);
    this.sList = db.prepare(`SELECT ${COLS} FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?`);
    this.sListFrom = db.prepare(`SELECT ${COLS} FROM inbox WHERE from_entity = ? AND seq > ? ORDER BY seq LIMIT ?`);
    this.sCount = db.prepare(`SELECT count(*) AS n FROM inbox`);
    this.sMarkRead = db.prepare(`UPDATE inbox SET read = 1 WHERE id = ?`);
  }

  /**
   * Stores the message; false (and nothing written) when its id is already present. Empty
   * parents/gap are stored as NULL; a parent or gap hash that is not 32 bytes is a RangeError.
   */
  insert(row: Omit<InboxRow, 'seq' | 'read'>): boolean {
    const parents = packHashes('inbox parents', row.parents);
    const gap = packHashes('inbox gap', row.gap);
    return (
      this.sInsert.run({
        id: row.id,
        from_entity: row.from,
        from_agent: row.fromAgent,
        received_at: row.receivedAt,
        sent_at: row.sentAt,
        kind: row.kind,
        body: row.body,
        name: row.name,
        path: row.path,
        hash: row.hash,
        parents,
        gap,
        author: row.author,
      }).changes === 1
    );
  }

  has(id: Uint8Array): boolean {
    return this.sHas.get(id) !== undefined;
  }

  /** True when a stored message has content hash `hash`. */
  hasHash(hash: Uint8Array): boolean {
    return this.sHasHash.get(hash) !== undefined;
  }

  get(id: Uint8Array): InboxRow | undefined {
    const r = this.sGet.get(id);
    return r ? fromDb(r) : undefined;
  }

  /** Messages in ascending seq. */
  list(opts: InboxListOptions = {}): InboxRow[] {
    const after = opts.afterSeq ?? 0;
    const limit = sqlLimit(opts.limit);
    const rows = opts.from !== undefined ? this.sListFrom.all(opts.from, after, limit) : this.sList.all(after, limit);
    return rows.map(fromDb);
  }

  count(): number {
    return this.sCount.get()!.n;
  }

  /** Returns false when no message has that id. */
  markRead(id: Uint8Array): boolean {
    return this.sMarkRead.run(id).changes > 0;
  }
}
