/**
 * The directory's storage interface (RecordStore) and the records it holds. Two
 * implementations: sqlite-store.ts (embedded, default) and redis-store.ts (shared, for
 * several stateless instances). Both make `put` an atomic compare-and-set on `seq`: a record
 * is replaced only by one with a strictly greater seq, so records cannot be rolled back, and
 * both treat an expired record as absent.
 */

/** One stored announcement (the entity is the key it is stored under). */
export interface StoredRecord {
  /** Announcement sequence number (strictly increasing per entity). */
  seq: number;
  /** The announcement's own `ts`, ms since epoch. */
  ts: number;
  /** When this directory stored it, ms since epoch. */
  storedAt: number;
  /** Not served from this time on (ms since epoch); swept later. */
  expiresAt: number;
  /** The exact, verified announcement bytes. */
  bytes: Uint8Array;
  /**
   * The same bytes as a latin1 string (one character per byte), when the store keeps them so:
   * one heap object to cache, and the server writes it together with the response head in one
   * piece (a Buffer body is a second chunk, written with writev).
   */
  readonly latin1?: string;
}

/** What `put` must hold atomically besides "seq greater than the stored live record's". */
export interface PutConditions {
  /** The caller's clock: records with expiresAt <= now count as absent. */
  now: number;
  /** A new entity is refused once this many records are stored. */
  maxRecords: number;
}

export type PutOutcome =
  | { readonly kind: 'created' }
  | { readonly kind: 'replaced'; readonly previousSeq: number }
  /** seq not greater than the stored one; `conflict` when equal with different bytes. Nothing changed. */
  | { readonly kind: 'stale'; readonly storedSeq: number; readonly conflict: boolean }
  /** The bound on records is reached (after sweeping expired ones). Nothing changed. */
  | { readonly kind: 'full'; readonly count: number };

/** Hits and misses of a store's in-memory record cache, and its size. */
export interface CacheStats {
  hits: number;
  misses: number;
  records: number;
  maxRecords: number;
}

export interface RecordStore {
  readonly kind: 'sqlite' | 'redis';
  /** Where the records live, for logs (no credentials). */
  readonly description: string;
  /** The live record of `entity` (32-byte key), or null if none or expired. */
  get(entity: Uint8Array, now: number): Promise<StoredRecord | null>;
  /**
   * The same answer as `get`, synchronously, for a store that has it at hand (the embedded
   * one): the server then answers a lookup without a promise. A remote store has none.
   */
  getSync?(entity: Uint8Array, now: number): StoredRecord | null;
  /** Atomic compare-and-set on seq (see PutOutcome). */
  put(entity: Uint8Array, record: StoredRecord, cond: PutConditions): Promise<PutOutcome>;
  /** Number of stored records (SQLite: rows, expired ones included until swept; Redis: live records). */
  count(now: number): Promise<number>;
  /** Deletes records with expiresAt <= now; returns how many were removed. */
  sweep(now: number): Promise<number>;
  /** Its in-memory record cache's counters, when it has one (the SQLite store). */
  cacheStats?(): CacheStats | null;
  /** Resolves when the store answers; rejects otherwise (for /healthz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A store that cannot be opened or used: a message for the operator and what to do. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
