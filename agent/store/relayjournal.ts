/**
 * The relay custody queue of a daemon, kept in memory and made durable by an append-only
 * journal file beside the database (`wotrelay.db-relayq`, mode 0600), instead of in SQLite:
 * a relayed message used to cost an indexed row insert, an update and a delete with their
 * count triggers, more than everything else a relay does for it (test/bench/README.md).
 *
 * Same behaviour as the SQLite `relayq` table (the checks of test/unit/memory-store.test.ts
 * run against it), and the same transactions: Store.tx opens a level here too; a level that
 * throws undoes its changes; when the outermost level has committed in SQLite, the records it
 * produced are appended with one write() before Store.tx returns — before the daemon sends
 * any HOLD — so an accepted envelope survives kill -9 exactly as a SQLite commit does
 * (synchronous=NORMAL: the page cache; fsync 'full' adds fdatasync). When that write fails
 * (disk full), the level is undone in memory and the error goes to the caller, which then
 * acknowledges nothing.
 *
 * File: 8-byte magic, then records `u32 length || type || payload || sha256(type ||
 * payload)[0..4]`: PUT (a whole row), DEL (id), MOVE (id with its new waitFor, nextAttemptAt,
 * attempts, dep). Opening replays it; a torn or corrupt tail (a crash in the middle of a
 * write) is cut off. When the file is past 64 MiB and four times the live rows' envelopes
 * (plus 1 MiB), it is rewritten as one PUT per live row (temp file, fsync, rename).
 */
import fs from 'node:fs';
import path from 'node:path';
import { sha256One } from '../crypto/index.js';
import { WotError } from '../wire/errors.js';
import { MemoryRelayQueueRepo } from './memory.js';
import type { QueueCount, RelayQueueRepo, RelayRescheduleOptions, RelayRow } from './relayq.js';
import type { PublicOf } from './types.js';

const MAGIC = Buffer.from('WRRQJ001', 'latin1');
const PUT = 1;
const DEL = 2;
const MOVE = 3;
const COMPACT_MIN_BYTES = 64 * 1024 * 1024;
/** A record bigger than this is corrupt (an envelope is at most ~1 MiB). */
const MAX_RECORD = 4 * 1024 * 1024;

/**
 * The record checksum: the first 4 bytes of SHA-256 (libsodium when it loads: a few µs for a
 * whole envelope, where a CRC-32 in JavaScript cost more than the rest of the append).
 */
export function checksum(b: Uint8Array, start = 0, end = b.length): number {
  const h = sha256One(b.subarray(start, end));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

/** Appends one framed record built by `fill` (which writes `size` payload bytes after the type byte). */
function frame(type: number, size: number, fill: (b: Buffer, off: number) => void): Buffer {
  const b = Buffer.allocUnsafe(4 + 1 + size + 4);
  b.writeUInt32BE(1 + size, 0);
  b[4] = type;
  fill(b, 5);
  b.writeUInt32BE(checksum(b, 4, 5 + size), 5 + size);
  return b;
}

const optKey = (b: Buffer, off: number, k: Uint8Array | null): number => {
  if (k) b.set(k, off);
  return off + (k ? 32 : 0);
};

function putRecord(r: RelayRow): Buffer {
  const size = 16 + 32 + 32 + 1 + (r.dep ? 32 : 0) + (r.prev ? 32 : 0) + 8 * 3 + 4 + 4 + r.envelope.length;
  return frame(PUT, size, (b, o) => {
    b.set(r.id, o);
    b.set(r.to, o + 16);
    b.set(r.waitFor, o + 48);
    b[o + 80] = (r.dep ? 1 : 0) | (r.prev ? 2 : 0);
    let p = optKey(b, o + 81, r.dep);
    p = optKey(b, p, r.prev);
    b.writeDoubleBE(r.receivedAt, p);
    b.writeDoubleBE(r.expiresAt, p + 8);
    b.writeDoubleBE(r.nextAttemptAt, p + 16);
    b.writeUInt32BE(r.attempts >>> 0, p + 24);
    b.writeUInt32BE(r.envelope.length, p + 28);
    b.set(r.envelope, p + 32);
  });
}

function delRecord(id: Uint8Array): Buffer {
  return frame(DEL, 16, (b, o) => b.set(id, o));
}

function moveRecord(r: RelayRow): Buffer {
  return frame(MOVE, 16 + 32 + 1 + (r.dep ? 32 : 0) + 8 + 4, (b, o) => {
    b.set(r.id, o);
    b.set(r.waitFor, o + 16);
    b[o + 48] = r.dep ? 1 : 0;
    const p = optKey(b, o + 49, r.dep);
    b.writeDoubleBE(r.nextAttemptAt, p);
    b.writeUInt32BE(r.attempts >>> 0, p + 8);
  });
}

/** A copy of n bytes at off, as a plain Uint8Array (not a view of the file buffer). */
const bytes = (b: Buffer, off: number, n: number): Uint8Array => Uint8Array.from(b.subarray(off, off + n));

/** Applies one record's payload to `mem` (replay). */
function apply(mem: MemoryRelayQueueRepo, type: number, b: Buffer, o: number): void {
  const id = bytes(b, o, 16);
  if (type === DEL) {
    mem.delete(id);
    return;
  }
  if (type === MOVE) {
    const waitFor = bytes(b, o + 16, 32);
    const hasDep = b[o + 48]! & 1;
    const dep = hasDep ? bytes(b, o + 49, 32) : null;
    const p = o + 49 + (hasDep ? 32 : 0);
    mem.patch(id, { waitFor, dep, nextAttemptAt: b.readDoubleBE(p), attempts: b.readUInt32BE(p + 8) });
    return;
  }
  if (type !== PUT) throw new Error(`unknown record type ${type}`);
  const flags = b[o + 80]!;
  let p = o + 81;
  const dep = flags & 1 ? bytes(b, p, 32) : null;
  p += flags & 1 ? 32 : 0;
  const prev = flags & 2 ? bytes(b, p, 32) : null;
  p += flags & 2 ? 32 : 0;
  const len = b.readUInt32BE(p + 28);
  const row: RelayRow = {
    id,
    to: bytes(b, o + 16, 32),
    waitFor: bytes(b, o + 48, 32),
    dep,
    prev,
    receivedAt: b.readDoubleBE(p),
    expiresAt: b.readDoubleBE(p + 8),
    nextAttemptAt: b.readDoubleBE(p + 16),
    attempts: b.readUInt32BE(p + 24),
    envelope: bytes(b, p + 32, len),
  };
  mem.delete(id);
  mem.insert(row);
}

export interface JournalOptions {
  /** Open only to read (no writes, no repair of a torn tail). */
  readonly?: boolean;
  /** 'full': fdatasync after every append (durable against power loss, much slower). */
  fsync?: 'normal' | 'full';
  /** Compact once the file is past this size and four times the live rows (default 64 MiB). */
  compactMinBytes?: number;
}

export class JournaledRelayQueue implements PublicOf<RelayQueueRepo> {
  private readonly mem = new MemoryRelayQueueRepo();
  private fd: number | null = null;
  /** Bytes in the file, and of live rows' PUT records (for compaction). */
  private fileBytes = 0;
  /** Records of the open transaction, and what undoes each change, newest last. */
  private pending: Buffer[] = [];
  private undo: Array<() => void> = [];
  /** Per open level: where its undo entries and records start. */
  private levels: Array<{ undo: number; pending: number }> = [];
  /** What opening found: records replayed and bytes of a torn tail cut off. */
  readonly recovered = { records: 0, truncatedBytes: 0 };

  private constructor(
    readonly file: string,
    private readonly opts: JournalOptions,
  ) {}

  /** Opens (creating it, mode 0600) and replays the journal at `file`. */
  static open(file: string, opts: JournalOptions = {}): JournaledRelayQueue {
    const q = new JournaledRelayQueue(file, opts);
    q.load();
    return q;
  }

  private load(): void {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw this.ioError('read', e);
      buf = Buffer.alloc(0);
    }
    let good = 0;
    if (buf.length >= MAGIC.length) {
      if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) {
        throw new WotError('ERR_INTERNAL', `${this.file} is not a wotrelay relay-queue journal`, 'move it away (the messages in it are lost) and start again');
      }
      good = MAGIC.length;
      for (let off = good; off + 4 <= buf.length; ) {
        const len = buf.readUInt32BE(off);
        if (len < 1 || len > MAX_RECORD || off + 4 + len + 4 > buf.length) break;
        if (checksum(buf, off + 4, off + 4 + len) !== buf.readUInt32BE(off + 4 + len)) break;
        try {
          apply(this.mem, buf[off + 4]!, buf, off + 5);
        } catch {
          break;
        }
        this.recovered.records++;
        off += 4 + len + 4;
        good = off;
      }
    }
    this.recovered.truncatedBytes = buf.length > MAGIC.length ? buf.length - good : 0;
    if (this.opts.readonly) return;
    try {
      this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
      if (good === 0) {
        fs.ftruncateSync(this.fd, 0);
        fs.writeSync(this.fd, MAGIC, 0, MAGIC.length, 0);
        good = MAGIC.length;
      } else if (good < buf.length) {
        fs.ftruncateSync(this.fd, good); // a torn tail: the write that a crash interrupted
      }
    } catch (e) {
      throw this.ioError('open', e);
    }
    this.fileBytes = good;
  }

  private ioError(what: string, e: unknown): WotError {
    const code = (e as NodeJS.ErrnoException).code;
    return new WotError(
      'ERR_INTERNAL',
      `relay queue journal ${this.file}: cannot ${what} (${code ?? (e as Error).message})`,
      code === 'ENOSPC' ? 'free some disk space and retry' : 'check the disk and the file permissions',
    );
  }

  // ---------------------------------------------------------------- transactions (Store.tx)

  /** Opens a transaction level (Store.tx calls it; nested levels are savepoints). */
  begin(): void {
    this.levels.push({ undo: this.undo.length, pending: this.pending.length });
  }

  /** The level's changes stay; the outermost level writes them. Throws (having undone them) when the write fails. */
  commit(): void {
    this.levels.pop();
    if (this.levels.length === 0) this.flush();
  }

  /** Undoes the level's changes. */
  rollback(): void {
    const l = this.levels.pop();
    if (!l) return;
    while (this.undo.length > l.undo) this.undo.pop()!();
    this.pending.length = l.pending;
  }

  private flush(): void {
    const records = this.pending;
    const undo = this.undo;
    this.pending = [];
    this.undo = [];
    if (records.length === 0) return;
    if (this.fd === null) {
      while (undo.length > 0) undo.pop()!();
      throw new WotError('ERR_INTERNAL', `relay queue journal ${this.file} is open read-only`);
    }
    const data = records.length === 1 ? records[0]! : Buffer.concat(records);
    try {
      let off = 0;
      while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off, this.fileBytes + off);
      if (this.opts.fsync === 'full') fs.fdatasyncSync(this.fd);
    } catch (e) {
      // Nothing of this transaction may count as kept: undo it, cut the file back, tell the caller.
      while (undo.length > 0) undo.pop()!();
      try {
        fs.ftruncateSync(this.fd, this.fileBytes);
      } catch {
        /* the next open cuts a torn tail anyway */
      }
      throw this.ioError('write', e);
    }
    this.fileBytes += data.length;
    const min = this.opts.compactMinBytes ?? COMPACT_MIN_BYTES;
    if (this.fileBytes > min && this.fileBytes > 4 * this.mem.totals().bytes + Math.min(min, 1024 * 1024)) this.compact();
  }

  /** Bytes in the journal file. */
  get size(): number {
    return this.fileBytes;
  }

  /** Rewrites the journal as the live rows only. */
  private compact(): void {
    const tmp = `${this.file}.compact`;
    let fd: number | null = null;
    try {
      fd = fs.openSync(tmp, 'w', 0o600);
      const parts: Buffer[] = [MAGIC];
      let size = MAGIC.length;
      for (const { row } of this.mem.all()) {
        const r = putRecord(row);
        parts.push(r);
        size += r.length;
        if (parts.length >= 1024) {
          fs.writeSync(fd, Buffer.concat(parts));
          parts.length = 0;
        }
      }
      if (parts.length > 0) fs.writeSync(fd, Buffer.concat(parts));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = null;
      fs.renameSync(tmp, this.file);
      try {
        const dir = fs.openSync(path.dirname(this.file), 'r');
        fs.fsyncSync(dir);
        fs.closeSync(dir);
      } catch {
        /* not every platform syncs a directory */
      }
      fs.closeSync(this.fd!);
      this.fd = fs.openSync(this.file, fs.constants.O_RDWR);
      this.fileBytes = size;
    } catch {
      // Compaction is an optimisation: the old journal stays valid when it fails.
      if (fd !== null) fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Runs one change as its own transaction when none is open (a call outside Store.tx). */
  private change<T>(fn: () => T): T {
    if (this.levels.length > 0) return fn();
    this.begin();
    let ok = false;
    try {
      const r = fn();
      ok = true;
      return r;
    } finally {
      if (ok) this.commit();
      else this.rollback();
    }
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  // ---------------------------------------------------------------- RelayQueueRepo

  insert(row: RelayRow): boolean {
    return this.change(() => {
      if (!this.mem.insert(row)) return false;
      this.pending.push(putRecord(row));
      this.undo.push(() => this.mem.delete(row.id));
      return true;
    });
  }

  delete(id: Uint8Array): boolean {
    return this.change(() => {
      const before = this.mem.snapshot(id);
      if (!before) return false;
      this.mem.delete(id);
      this.pending.push(delRecord(id));
      this.undo.push(() => this.mem.restore(before.row, before.rowid));
      return true;
    });
  }

  reschedule(id: Uint8Array, waitFor: Uint8Array, nextAttemptAt: number, opts: RelayRescheduleOptions = {}): boolean {
    return this.change(() => {
      const before = this.mem.snapshot(id);
      if (!before) return false;
      this.mem.reschedule(id, waitFor, nextAttemptAt, opts);
      this.pending.push(moveRecord(this.mem.snapshot(id)!.row));
      const b = before.row;
      this.undo.push(() => this.mem.patch(id, { waitFor: b.waitFor, nextAttemptAt: b.nextAttemptAt, attempts: b.attempts, dep: b.dep }));
      return true;
    });
  }

  expire(now: number, limit: number): Uint8Array[] {
    return this.change(() => {
      const ids = this.mem.expiring(now, limit);
      for (const id of ids) this.delete(id);
      return ids;
    });
  }

  get(id: Uint8Array): RelayRow | undefined {
    return this.mem.get(id);
  }

  has(id: Uint8Array): boolean {
    return this.mem.has(id);
  }

  due(now: number, limit: number): RelayRow[] {
    return this.mem.due(now, limit);
  }

  byWaitFor(entity: Uint8Array, limit: number): RelayRow[] {
    return this.mem.byWaitFor(entity, limit);
  }

  byTo(entity: Uint8Array, limit: number): RelayRow[] {
    return this.mem.byTo(entity, limit);
  }

  countFor(waitFor: Uint8Array): QueueCount {
    return this.mem.countFor(waitFor);
  }

  totals(): QueueCount {
    return this.mem.totals();
  }

  perWaitFor(limit: number): Array<{ waitFor: Uint8Array } & QueueCount> {
    return this.mem.perWaitFor(limit);
  }

  list(limit: number): RelayRow[] {
    return this.mem.list(limit);
  }
}
