/**
 * The embedded RecordStore: one SQLite file (better-sqlite3, WAL journal), owned by one
 * process. The file is locked exclusively while open, so a second directory process on the
 * same file fails at start with a clear message instead of both writing (several instances
 * share records through --store redis://… instead).
 *
 * Schema (user_version 1):
 *   records(entity BLOB PRIMARY KEY,   -- 32-byte entity key
 *           seq INTEGER, ts INTEGER, stored_at INTEGER, expires_at INTEGER,  -- ms since epoch
 *           bytes BLOB)                -- the verified announcement
 *   INDEX records_expires (expires_at)
 *
 * `put` runs in one transaction (read, compare seq, write), which is the compare-and-set.
 * The record count is kept in memory (exact: only this process writes) so the bound check
 * does not scan the table.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreError, type PutConditions, type PutOutcome, type RecordStore, type StoredRecord } from './store.js';

const SCHEMA_VERSION = 1;

interface Row {
  seq: number;
  ts: number;
  stored_at: number;
  expires_at: number;
  bytes: Buffer;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export class SqliteStore implements RecordStore {
  readonly kind = 'sqlite' as const;
  private n: number;
  private readonly stmts: {
    get: Database.Statement<[Buffer, number], Row>;
    getAny: Database.Statement<[Buffer], Row>;
    insert: Database.Statement<[Buffer, number, number, number, number, Buffer]>;
    update: Database.Statement<[number, number, number, number, Buffer, Buffer]>;
    sweep: Database.Statement<[number]>;
    count: Database.Statement<[], { n: number }>;
  };
  private readonly putTxn: (entity: Buffer, r: StoredRecord, c: PutConditions) => PutOutcome;

  private constructor(
    private readonly db: Database.Database,
    readonly description: string,
  ) {
    this.stmts = {
      get: db.prepare('SELECT seq, ts, stored_at, expires_at, bytes FROM records WHERE entity = ? AND expires_at > ?'),
      getAny: db.prepare('SELECT seq, ts, stored_at, expires_at, bytes FROM records WHERE entity = ?'),
      insert: db.prepare('INSERT INTO records (entity, seq, ts, stored_at, expires_at, bytes) VALUES (?, ?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE records SET seq = ?, ts = ?, stored_at = ?, expires_at = ?, bytes = ? WHERE entity = ?'),
      sweep: db.prepare('DELETE FROM records WHERE expires_at <= ?'),
      count: db.prepare('SELECT COUNT(*) AS n FROM records'),
    };
    this.n = this.stmts.count.get()!.n;
    this.putTxn = db.transaction((entity: Buffer, r: StoredRecord, c: PutConditions): PutOutcome => {
      const cur = this.stmts.getAny.get(entity);
      const bytes = asBuffer(r.bytes);
      if (cur !== undefined && cur.expires_at > c.now) {
        if (r.seq <= cur.seq) {
          return { kind: 'stale', storedSeq: cur.seq, conflict: r.seq === cur.seq && !cur.bytes.equals(bytes) };
        }
        this.stmts.update.run(r.seq, r.ts, r.storedAt, r.expiresAt, bytes, entity);
        return { kind: 'replaced', previousSeq: cur.seq };
      }
      if (cur !== undefined) {
        // An expired record counts as absent: replace it whatever its seq.
        this.stmts.update.run(r.seq, r.ts, r.storedAt, r.expiresAt, bytes, entity);
        return { kind: 'created' };
      }
      if (this.n >= c.maxRecords) {
        this.n -= this.stmts.sweep.run(c.now).changes;
        if (this.n >= c.maxRecords) return { kind: 'full', count: this.n };
      }
      this.stmts.insert.run(entity, r.seq, r.ts, r.storedAt, r.expiresAt, bytes);
      this.n++;
      return { kind: 'created' };
    });
  }

  /**
   * Opens (creating if needed) the store file, waiting up to `lockWaitMs` for another process
   * to let go of it (e.g. the previous instance during a restart). Throws StoreError with a hint.
   */
  static open(file: string, opts: { lockWaitMs?: number } = {}): SqliteStore {
    const abs = path.resolve(file);
    const dir = path.dirname(abs);
    if (!fs.existsSync(dir)) {
      throw new StoreError(`the folder ${dir} for the store ${abs} does not exist`, `create it (mkdir -p ${dir}) or pick another --store sqlite:/path/directory.db`);
    }
    let db: Database.Database;
    try {
      db = new Database(abs);
    } catch (e) {
      throw new StoreError(`cannot open the store ${abs}: ${e instanceof Error ? e.message : String(e)}`, 'check the path and its permissions, or pick another --store');
    }
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.lockWaitMs ?? 2000))}`);
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new StoreError(`the store ${abs} was made by a newer wotrelay-directory (schema ${version})`, 'upgrade wotrelay-directory or pick another --store');
      }
      // The first write transaction takes the exclusive lock, held until close.
      db.exec(`BEGIN IMMEDIATE;
        CREATE TABLE IF NOT EXISTS records (
          entity BLOB PRIMARY KEY,
          seq INTEGER NOT NULL,
          ts INTEGER NOT NULL,
          stored_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          bytes BLOB NOT NULL
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS records_expires ON records (expires_at);
        PRAGMA user_version = ${SCHEMA_VERSION};
        COMMIT;`);
    } catch (e) {
      db.close();
      if (e instanceof StoreError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      if (/locked|busy/i.test(msg)) {
        throw new StoreError(
          `the store ${abs} is in use by another process`,
          'only one wotrelay-directory can use a SQLite store; stop the other one, or run several instances over --store redis://HOST:PORT',
        );
      }
      throw new StoreError(`cannot use the store ${abs}: ${msg}`, 'check the file (it must be a wotrelay-directory SQLite store) or pick another --store');
    }
    return new SqliteStore(db, `sqlite:${abs}`);
  }

  async get(entity: Uint8Array, now: number): Promise<StoredRecord | null> {
    const row = this.stmts.get.get(asBuffer(entity), now);
    if (row === undefined) return null;
    return { seq: row.seq, ts: row.ts, storedAt: row.stored_at, expiresAt: row.expires_at, bytes: new Uint8Array(row.bytes) };
  }

  async put(entity: Uint8Array, record: StoredRecord, cond: PutConditions): Promise<PutOutcome> {
    try {
      return this.putTxn(asBuffer(entity), record, cond);
    } catch (e) {
      // The transaction rolled back; resynchronise the in-memory count.
      this.n = this.stmts.count.get()!.n;
      throw e;
    }
  }

  async count(_now: number): Promise<number> {
    return this.n;
  }

  async sweep(now: number): Promise<number> {
    const removed = this.stmts.sweep.run(now).changes;
    this.n -= removed;
    return removed;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
