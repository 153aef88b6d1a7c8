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
 *
 * Lookups go through a bounded cache of recently read records (`cacheRecords` slots, 0 for
 * none): a direct-mapped table (RecordSlots below), so that every operation is O(1) and
 * touches one slot. Exact because this process is the store's only writer (the file is
 * locked): a `put` of an entity drops its cached record before the transaction, whatever
 * its outcome, and a cached record is served only until its expiresAt, like a row. Records
 * are read and cached with their bytes as a latin1 string (ReadRecord), which the server
 * writes as the body.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreError, type CacheStats, type PutConditions, type PutOutcome, type RecordStore, type StoredRecord } from './store.js';

const SCHEMA_VERSION = 1;

interface Row {
  seq: number;
  ts: number;
  stored_at: number;
  expires_at: number;
  bytes: Buffer;
}

/** A lookup's row as an array (a raw statement: no object per row): seq, ts, stored_at, expires_at, bytes. */
type RawRow = [number, number, number, number, Buffer];

/**
 * Address space the store file is read through (PRAGMA mmap_size): a lookup reads its B-tree
 * pages from the OS page cache without a read() per page (1.5–2× the lookups/s on a million
 * records). Address space only, not memory: pages stay in the OS page cache, shared and
 * evictable. Writes still go through SQLite's own pager.
 */
const MMAP_BYTES = 1 << 30;

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A record as read (and cached). Its bytes are kept as a latin1 string: one heap object per
 * cached record and no ArrayBuffer (a Buffer per record is three objects and an off-heap
 * block the GC has to track and free), and what the server writes as the body. `bytes`
 * makes a Buffer of them on demand (the JSON answer, tests).
 */
class ReadRecord implements StoredRecord {
  constructor(
    readonly seq: number,
    readonly ts: number,
    readonly storedAt: number,
    readonly expiresAt: number,
    readonly latin1: string,
  ) {}

  get bytes(): Uint8Array {
    return Buffer.from(this.latin1, 'latin1');
  }
}

const KEY_BYTES = 32;

/**
 * The record cache: a direct-mapped table of `max` slots. A record goes in the slot picked
 * by 30 bits of its entity key (keys are public keys: uniformly spread bits) and replaces
 * whatever was there; a look-up compares the key with the one kept for that slot, the keys
 * of all slots lying side by side in one byte array (one cache line to compare, no object
 * to follow; two keys sharing a slot take turns: a miss, never a wrong record). No hash
 * table to probe: where two Maps of tens of thousands of entries (ByteCache's generations)
 * took four or five probes per miss, each likely a CPU cache miss, about 2 µs per lookup
 * under load, this reads one slot and writes one. For keys spread evenly it hits about as
 * often as an LRU of the same size would (over twice its size: 43 % against 50 %), and a
 * record asked for often stays unless another one asked for as often shares its slot.
 */
class RecordSlots {
  private slots: (ReadRecord | undefined)[];
  private readonly keys: Uint8Array;
  /** Slots holding a record. */
  size = 0;

  constructor(readonly max: number) {
    this.slots = new Array<ReadRecord | undefined>(max).fill(undefined);
    this.keys = new Uint8Array(max * KEY_BYTES);
  }

  /** The slot a key goes in: 30 bits of it, modulo the table's size. */
  private slotOf(key: Uint8Array): number {
    return (((key[0]! << 22) | (key[1]! << 14) | (key[2]! << 6) | (key[3]! >>> 2)) >>> 0) % this.max;
  }

  /** The slot of `key`, if it holds the record of exactly this key; else -1. */
  private find(key: Uint8Array): number {
    if (key.length !== KEY_BYTES) return -1;
    const i = this.slotOf(key);
    if (this.slots[i] === undefined) return -1;
    const keys = this.keys;
    const at = i * KEY_BYTES;
    for (let j = 0; j < KEY_BYTES; j++) if (keys[at + j] !== key[j]) return -1;
    return i;
  }

  get(key: Uint8Array): ReadRecord | undefined {
    const i = this.find(key);
    return i < 0 ? undefined : this.slots[i];
  }

  set(key: Uint8Array, r: ReadRecord): void {
    if (key.length !== KEY_BYTES) return;
    const i = this.slotOf(key);
    if (this.slots[i] === undefined) this.size++;
    this.slots[i] = r;
    this.keys.set(key, i * KEY_BYTES);
  }

  delete(key: Uint8Array): void {
    const i = this.find(key);
    if (i < 0) return;
    this.slots[i] = undefined;
    this.size--;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.size = 0;
  }
}

export class SqliteStore implements RecordStore {
  readonly kind = 'sqlite' as const;
  private n: number;
  /** Recently read live records by entity key (null without a cache). */
  private readonly hot: RecordSlots | null;
  private hits = 0;
  private misses = 0;
  private readonly stmts: {
    get: Database.Statement<[Buffer, number], RawRow>;
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
    private readonly cacheRecords: number,
  ) {
    // Entity keys are public keys (uniformly spread bits): the look-up bits come from the first bytes.
    // (A cache needs room for two records: --cache-records 1 is none.)
    this.hot = cacheRecords >= 2 ? new RecordSlots(cacheRecords) : null;
    this.stmts = {
      get: db.prepare<[Buffer, number], RawRow>('SELECT seq, ts, stored_at, expires_at, bytes FROM records WHERE entity = ? AND expires_at > ?').raw(true),
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
  static open(file: string, opts: { lockWaitMs?: number; cacheRecords?: number } = {}): SqliteStore {
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
      db.pragma(`mmap_size = ${MMAP_BYTES}`);
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
    return new SqliteStore(db, `sqlite:${abs}`, Math.max(0, Math.floor(opts.cacheRecords ?? 0)));
  }

  /** The live record of `entity`; the object may be shared with other callers: do not modify it. */
  async get(entity: Uint8Array, now: number): Promise<StoredRecord | null> {
    return this.getSync(entity, now);
  }

  /** `get` without the promise (SQLite answers synchronously). */
  getSync(entity: Uint8Array, now: number): StoredRecord | null {
    const hot = this.hot;
    if (hot !== null) {
      const hit = hot.get(entity);
      if (hit !== undefined && hit.expiresAt > now) {
        this.hits++;
        return hit;
      }
      this.misses++;
    }
    // A Buffer is bound as it is; a plain Uint8Array gets a pooled copy (a view of it would
    // move a small on-heap array off the heap first).
    const row = this.stmts.get.get(Buffer.isBuffer(entity) ? entity : Buffer.from(entity), now);
    if (row === undefined) return null;
    // Few objects per cached record: each one that stays costs the GC. (The cache copies the
    // key: the caller's may be a view of a buffer it reuses.)
    const rec = new ReadRecord(row[0], row[1], row[2], row[3], row[4].toString('latin1'));
    if (hot !== null) hot.set(entity, rec);
    return rec;
  }

  async put(entity: Uint8Array, record: StoredRecord, cond: PutConditions): Promise<PutOutcome> {
    const key = asBuffer(entity);
    this.hot?.delete(entity);
    try {
      return this.putTxn(key, record, cond);
    } catch (e) {
      // The transaction rolled back; resynchronise the in-memory count.
      this.n = this.stmts.count.get()!.n;
      throw e;
    }
  }

  /** The record cache's counters (null when there is none). */
  cacheStats(): CacheStats | null {
    if (this.hot === null) return null;
    return { hits: this.hits, misses: this.misses, records: this.hot.size, maxRecords: this.cacheRecords };
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
    this.hot?.clear();
    if (this.db.open) this.db.close();
  }
}
