/**
 * MemoryStore: a Map-based `CoreStore` for the in-process simulator (test/sim), where
 * thousands of cores share one process. Each repository mirrors its SQLite twin in
 * trust.ts, certs.ts, invites.ts, inbox.ts and outbox.ts: same return values, dedup rules,
 * orderings (rowid = first-insertion order) and errors. test/unit/memory-store.test.ts runs
 * the same checks against both so they cannot drift apart.
 *
 * Differences, on purpose:
 * - `tx(fn)` just runs fn: there is NO rollback when fn throws (the simulator never needs
 *   it; a core exception there is recorded as a bug, not recovered from).
 * - Rows are returned as fresh objects (like SQLite), but their byte fields share memory
 *   with what was stored; callers must not mutate returned or stored byte arrays.
 * - Byte fields come back as the Uint8Arrays that were stored, not as Buffers.
 * - CHECK constraints on enum columns are left to the type system; the primary-key and
 *   `uses_left >= 0` constraints throw errors shaped like SqliteError (same `code`).
 *
 * Memory: maps are created lazily on first write, so an idle node costs a few objects.
 */
import type { TrustEntry, TrustRepo, TrustState } from './trust.js';
import type { CertRepo, CertRow } from './certs.js';
import type { InviteRepo, InviteRow, RedeemResult } from './invites.js';
import type { InboxListOptions, InboxRepo, InboxRow } from './inbox.js';
import type { OutboxListOptions, OutboxRepo, OutboxRow, OutboxState } from './outbox.js';
import type { AddrBookRepo, AddrBookRow } from './addrbook.js';
import type { CoreStore, PublicOf } from './types.js';
import { sqlLimit } from './limits.js';
import { WotError } from '../wire/errors.js';

/** Map key for a byte string: one latin1 char per byte (compact, exact, length-preserving). */
const k = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

const hexPrefix = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').slice(0, 16);

/** An error shaped like better-sqlite3's SqliteError for a violated constraint. */
function constraintError(code: 'SQLITE_CONSTRAINT_PRIMARYKEY' | 'SQLITE_CONSTRAINT_CHECK', message: string): Error {
  const e = new Error(message) as Error & { code: string };
  e.name = 'SqliteError';
  e.code = code;
  return e;
}

/** SQLite `LIMIT n` applied to an array (n = -1: everything). */
function applyLimit<T>(rows: T[], limit: number | undefined): T[] {
  const n = sqlLimit(limit);
  return n < 0 || rows.length <= n ? rows : rows.slice(0, n);
}

// ---------------------------------------------------------------- trust

function copyTrust(e: TrustEntry): TrustEntry {
  return {
    entity: e.entity,
    petname: e.petname,
    how: e.how,
    addedAt: e.addedAt,
    state: e.state,
    addr: e.addr,
    updatedAt: e.updatedAt,
    note: e.note,
  };
}

export class MemoryTrustRepo implements PublicOf<TrustRepo> {
  /** Insertion order of the Map = SQLite rowid order (an upsert keeps its row). */
  private rows: Map<string, TrustEntry> | undefined;
  private names: Map<string, string> | undefined;

  get(entity: Uint8Array): TrustEntry | undefined {
    const e = this.rows?.get(k(entity));
    return e ? copyTrust(e) : undefined;
  }

  byPetname(name: string): TrustEntry | undefined {
    const key = this.names?.get(name);
    const e = key === undefined ? undefined : this.rows?.get(key);
    return e ? copyTrust(e) : undefined;
  }

  list(): TrustEntry[] {
    if (!this.rows) return [];
    // Array.prototype.sort is stable: ties keep rowid order, as ORDER BY added_at, rowid.
    return [...this.rows.values()].sort((a, b) => a.addedAt - b.addedAt).map(copyTrust);
  }

  upsert(e: TrustEntry): void {
    const key = k(e.entity);
    if (e.petname !== null) this.checkPetname(e.petname, key, e.entity);
    const rows = (this.rows ??= new Map());
    const old = rows.get(key);
    if (old && old.petname !== null && old.petname !== e.petname) this.names!.delete(old.petname);
    rows.set(key, copyTrust(e));
    if (e.petname !== null) (this.names ??= new Map()).set(e.petname, key);
  }

  setState(entity: Uint8Array, state: TrustState, now: number): boolean {
    const e = this.rows?.get(k(entity));
    if (!e) return false;
    e.state = state;
    e.updatedAt = now;
    return true;
  }

  setAddr(entity: Uint8Array, addr: string | null, now: number): boolean {
    const e = this.rows?.get(k(entity));
    if (!e) return false;
    e.addr = addr;
    e.updatedAt = now;
    return true;
  }

  setPetname(entity: Uint8Array, name: string | null, now: number): boolean {
    const key = k(entity);
    const e = this.rows?.get(key);
    if (!e) return false;
    if (name !== null) this.checkPetname(name, key, entity);
    if (e.petname !== null) this.names!.delete(e.petname);
    e.petname = name;
    e.updatedAt = now;
    if (name !== null) (this.names ??= new Map()).set(name, key);
    return true;
  }

  isTrusted(entity: Uint8Array): boolean {
    return this.rows?.get(k(entity))?.state === 'active';
  }

  private checkPetname(name: string, key: string, entity: Uint8Array): void {
    const owner = this.names?.get(name);
    if (owner === undefined || owner === key) return;
    const other = this.rows!.get(owner)!;
    throw new WotError(
      'ERR_BAD_REQUEST',
      `petname "${name}" is already used by entity ${hexPrefix(other.entity)}…; cannot give it to ${hexPrefix(entity)}…`,
      'choose another name, or rename the other entry first',
    );
  }
}

// ---------------------------------------------------------------- certs

interface CertRec extends CertRow {
  rowid: number;
}

export class MemoryCertRepo implements PublicOf<CertRepo> {
  private rows: Map<string, CertRec> | undefined;
  /** entity key → agent keys (usually one). */
  private byEntity: Map<string, string[]> | undefined;
  private nextRowid = 1;

  put(row: CertRow): boolean {
    const ak = k(row.agent);
    const rows = (this.rows ??= new Map());
    const old = rows.get(ak);
    if (old && row.seq < old.seq) return false;
    const ek = k(row.entity);
    const byEntity = (this.byEntity ??= new Map());
    if (old) {
      const oldEk = k(old.entity);
      if (oldEk !== ek) {
        const list = byEntity.get(oldEk)!;
        list.splice(list.indexOf(ak), 1);
        if (list.length === 0) byEntity.delete(oldEk);
        addTo(byEntity, ek, ak);
      }
    } else {
      addTo(byEntity, ek, ak);
    }
    rows.set(ak, {
      agent: row.agent,
      entity: row.entity,
      cert: row.cert,
      seq: row.seq,
      notAfter: row.notAfter,
      seenAt: row.seenAt,
      rowid: old ? old.rowid : this.nextRowid++,
    });
    return true;
  }

  get(agent: Uint8Array): CertRow | undefined {
    const r = this.rows?.get(k(agent));
    return r ? copyCert(r) : undefined;
  }

  latestForEntity(entity: Uint8Array): CertRow | undefined {
    const agents = this.byEntity?.get(k(entity));
    if (!agents) return undefined;
    let best: CertRec | undefined;
    for (const ak of agents) {
      const r = this.rows!.get(ak)!;
      // ORDER BY seq DESC, not_after DESC; the index scan then yields the higher rowid first.
      if (
        !best ||
        r.seq > best.seq ||
        (r.seq === best.seq && (r.notAfter > best.notAfter || (r.notAfter === best.notAfter && r.rowid > best.rowid)))
      ) {
        best = r;
      }
    }
    return best ? copyCert(best) : undefined;
  }
}

function addTo(m: Map<string, string[]>, key: string, v: string): void {
  const list = m.get(key);
  if (list) list.push(v);
  else m.set(key, [v]);
}

function copyCert(r: CertRec): CertRow {
  return { agent: r.agent, entity: r.entity, cert: r.cert, seq: r.seq, notAfter: r.notAfter, seenAt: r.seenAt };
}

// ---------------------------------------------------------------- invites

function copyInvite(r: InviteRow): InviteRow {
  return { key: r.key, createdAt: r.createdAt, expiresAt: r.expiresAt, usesLeft: r.usesLeft, usesTotal: r.usesTotal, note: r.note };
}

export class MemoryInviteRepo implements PublicOf<InviteRepo> {
  /** Insertion order = rowid order (a revoked then re-created key goes to the end, as in SQLite). */
  private rows: Map<string, InviteRow> | undefined;

  create(row: InviteRow): void {
    const key = k(row.key);
    const rows = (this.rows ??= new Map());
    if (rows.has(key)) throw constraintError('SQLITE_CONSTRAINT_PRIMARYKEY', 'UNIQUE constraint failed: invites.key');
    if (!(row.usesLeft >= 0)) throw constraintError('SQLITE_CONSTRAINT_CHECK', 'CHECK constraint failed: uses_left >= 0');
    rows.set(key, copyInvite(row));
  }

  get(key: Uint8Array): InviteRow | undefined {
    const r = this.rows?.get(k(key));
    return r ? copyInvite(r) : undefined;
  }

  list(now: number): InviteRow[] {
    if (!this.rows) return [];
    return [...this.rows.values()]
      .filter((r) => r.expiresAt > now && r.usesLeft > 0)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map(copyInvite);
  }

  /** Atomic by construction (single-threaded): exactly one 'ok' per remaining use. */
  redeem(key: Uint8Array, now: number): RedeemResult {
    const r = this.rows?.get(k(key));
    if (!r) return 'unknown';
    if (r.usesLeft > 0 && r.expiresAt > now) {
      r.usesLeft -= 1;
      return 'ok';
    }
    return r.usesLeft <= 0 ? 'used' : 'expired';
  }

  revoke(key: Uint8Array): boolean {
    return this.rows?.delete(k(key)) ?? false;
  }

  purgeExpired(now: number): number {
    if (!this.rows) return 0;
    let n = 0;
    for (const [key, r] of this.rows) {
      if (r.expiresAt <= now) {
        this.rows.delete(key);
        n++;
      }
    }
    return n;
  }
}

// ---------------------------------------------------------------- inbox

interface InboxRec extends InboxRow {
  fromKey: string;
}

function copyInbox(r: InboxRec): InboxRow {
  return {
    id: r.id,
    from: r.from,
    fromAgent: r.fromAgent,
    receivedAt: r.receivedAt,
    sentAt: r.sentAt,
    kind: r.kind,
    body: r.body,
    name: r.name,
    path: r.path,
    seq: r.seq,
    read: r.read,
  };
}

export class MemoryInboxRepo implements PublicOf<InboxRepo> {
  /** Rows in ascending seq (nothing is ever deleted). */
  private rows: InboxRec[] | undefined;
  private byId: Map<string, InboxRec> | undefined;
  /** AUTOINCREMENT: a seq is never reused; a duplicate does not consume one. */
  private lastSeq = 0;

  insert(row: Omit<InboxRow, 'seq' | 'read'>): boolean {
    const key = k(row.id);
    const byId = (this.byId ??= new Map());
    if (byId.has(key)) return false;
    const rec: InboxRec = {
      id: row.id,
      from: row.from,
      fromAgent: row.fromAgent,
      receivedAt: row.receivedAt,
      sentAt: row.sentAt,
      kind: row.kind,
      body: row.body,
      name: row.name,
      path: row.path,
      seq: ++this.lastSeq,
      read: false,
      fromKey: k(row.from),
    };
    byId.set(key, rec);
    (this.rows ??= []).push(rec);
    return true;
  }

  has(id: Uint8Array): boolean {
    return this.byId?.has(k(id)) ?? false;
  }

  get(id: Uint8Array): InboxRow | undefined {
    const r = this.byId?.get(k(id));
    return r ? copyInbox(r) : undefined;
  }

  list(opts: InboxListOptions = {}): InboxRow[] {
    const rows = this.rows;
    if (!rows) return [];
    const after = opts.afterSeq ?? 0;
    const limit = sqlLimit(opts.limit);
    const fromKey = opts.from !== undefined ? k(opts.from) : undefined;
    // First index with seq > after (seqs ascend).
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rows[mid]!.seq > after) hi = mid;
      else lo = mid + 1;
    }
    const out: InboxRow[] = [];
    for (let i = lo; i < rows.length && (limit < 0 || out.length < limit); i++) {
      const r = rows[i]!;
      if (fromKey === undefined || r.fromKey === fromKey) out.push(copyInbox(r));
    }
    return out;
  }

  count(): number {
    return this.rows?.length ?? 0;
  }

  markRead(id: Uint8Array): boolean {
    const r = this.byId?.get(k(id));
    if (!r) return false;
    r.read = true;
    return true;
  }
}

// ---------------------------------------------------------------- outbox

interface OutboxRec extends OutboxRow {
  rowid: number;
  toKey: string;
}

function copyOutbox(r: OutboxRow): OutboxRow {
  return {
    id: r.id,
    to: r.to,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    state: r.state,
    envelope: r.envelope,
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
    updatedAt: r.updatedAt,
    error: r.error,
  };
}

const isPending = (s: OutboxState): boolean => s === 'queued' || s === 'sent';
const byCreated = (a: OutboxRec, b: OutboxRec): number => a.createdAt - b.createdAt || a.rowid - b.rowid;

export class MemoryOutboxRepo implements PublicOf<OutboxRepo> {
  private rows: Map<string, OutboxRec> | undefined;
  /** The rows in state 'queued' or 'sent' (the partial indexes of the SQLite table). */
  private pending: Map<string, OutboxRec> | undefined;
  private nextRowid = 1;

  insert(row: OutboxRow): void {
    const key = k(row.id);
    const rows = (this.rows ??= new Map());
    if (rows.has(key)) throw constraintError('SQLITE_CONSTRAINT_PRIMARYKEY', 'UNIQUE constraint failed: outbox.id');
    const rec: OutboxRec = { ...copyOutbox(row), rowid: this.nextRowid++, toKey: k(row.to) };
    rows.set(key, rec);
    if (isPending(rec.state)) (this.pending ??= new Map()).set(key, rec);
  }

  get(id: Uint8Array): OutboxRow | undefined {
    const r = this.rows?.get(k(id));
    return r ? copyOutbox(r) : undefined;
  }

  setState(id: Uint8Array, state: OutboxState, now: number, error?: string | null): boolean {
    const key = k(id);
    const r = this.rows?.get(key);
    if (!r) return false;
    r.state = state;
    r.updatedAt = now;
    r.error = error ?? null;
    if (isPending(state)) (this.pending ??= new Map()).set(key, r);
    else this.pending?.delete(key);
    return true;
  }

  scheduleRetry(id: Uint8Array, nextAttemptAt: number, now: number): boolean {
    const r = this.rows?.get(k(id));
    if (!r) return false;
    r.attempts += 1;
    r.nextAttemptAt = nextAttemptAt;
    r.updatedAt = now;
    return true;
  }

  due(now: number, limit: number): OutboxRow[] {
    if (!this.pending || this.pending.size === 0) return [];
    const out: OutboxRec[] = [];
    for (const r of this.pending.values()) if (r.nextAttemptAt <= now) out.push(r);
    return applyLimit(out.sort(byCreated), limit).map(copyOutbox);
  }

  pendingFor(to: Uint8Array, limit: number): OutboxRow[] {
    if (!this.pending || this.pending.size === 0) return [];
    const toKey = k(to);
    const out: OutboxRec[] = [];
    for (const r of this.pending.values()) if (r.toKey === toKey) out.push(r);
    return applyLimit(out.sort(byCreated), limit).map(copyOutbox);
  }

  list(opts: OutboxListOptions = {}): OutboxRow[] {
    if (!this.rows) return [];
    const states = opts.states === undefined ? undefined : new Set<OutboxState>(opts.states);
    const out: OutboxRec[] = [];
    for (const r of this.rows.values()) if (!states || states.has(r.state)) out.push(r);
    out.sort((a, b) => b.createdAt - a.createdAt || b.rowid - a.rowid);
    return applyLimit(out, opts.limit).map(copyOutbox);
  }

  countPending(): number {
    return this.pending?.size ?? 0;
  }

  expire(now: number): number {
    if (!this.pending || this.pending.size === 0) return 0;
    let n = 0;
    for (const [key, r] of this.pending) {
      if (r.expiresAt <= now) {
        r.state = 'expired';
        r.updatedAt = now;
        this.pending.delete(key);
        n++;
      }
    }
    return n;
  }
}

// ---------------------------------------------------------------- address book

export class MemoryAddrBookRepo implements PublicOf<AddrBookRepo> {
  private rows: Map<string, AddrBookRow> | null = null;

  private map(): Map<string, AddrBookRow> {
    return (this.rows ??= new Map());
  }

  put(row: Omit<AddrBookRow, 'invalid'>): boolean {
    const k = Buffer.from(row.entity).toString('hex');
    const old = this.map().get(k);
    if (old && !(row.seq > old.seq || old.expiresAt <= row.receivedAt)) return false;
    this.map().set(k, { ...row, entity: new Uint8Array(row.entity), announcement: new Uint8Array(row.announcement), invalid: false });
    return true;
  }

  get(entity: Uint8Array, now: number): AddrBookRow | undefined {
    const r = this.rows?.get(Buffer.from(entity).toString('hex'));
    if (!r || r.expiresAt <= now) return undefined;
    return { ...r };
  }

  markInvalid(entity: Uint8Array): boolean {
    const r = this.rows?.get(Buffer.from(entity).toString('hex'));
    if (!r) return false;
    r.invalid = true;
    return true;
  }

  purgeExpired(now: number): number {
    let n = 0;
    for (const [k, r] of this.rows ?? []) {
      if (r.expiresAt <= now) {
        this.rows!.delete(k);
        n++;
      }
    }
    return n;
  }

  count(): number {
    return this.rows?.size ?? 0;
  }
}

// ---------------------------------------------------------------- store

export class MemoryStore implements CoreStore {
  readonly addrbook = new MemoryAddrBookRepo();
  readonly trust = new MemoryTrustRepo();
  readonly certs = new MemoryCertRepo();
  readonly invites = new MemoryInviteRepo();
  readonly inbox = new MemoryInboxRepo();
  readonly outbox = new MemoryOutboxRepo();

  /**
   * Runs fn. NOT atomic: writes made before fn throws stay (no rollback). The simulator
   * treats a throwing core as a bug and never relies on rollback.
   */
  tx<T>(fn: () => T): T {
    return fn();
  }
}
