/**
 * MemoryStore: a Map-based `CoreStore` for the in-process simulator (test/sim), where
 * thousands of cores share one process. Each repository mirrors its SQLite twin in
 * trust.ts, certs.ts, invites.ts, inbox.ts, outbox.ts, addrbook.ts, relayq.ts, mailbox.ts,
 * mymailboxes.ts, held.ts, convo.ts, list.ts, sessions.ts and oniontags.ts: same return values, dedup rules,
 * orderings (rowid = first-insertion order) and errors. test/unit/memory-store.test.ts runs
 * the same checks against both so they cannot drift apart.
 *
 * Differences, on purpose:
 * - `tx(fn)` just runs fn: there is NO rollback when fn throws (the simulator never needs
 *   it; a core exception there is recorded as a bug, not recovered from).
 * - Rows are returned as fresh objects (like SQLite), but their byte fields share memory
 *   with what was stored; callers must not mutate returned or stored byte arrays.
 * - Byte fields come back as the Uint8Arrays that were stored, not as Buffers.
 * - CHECK constraints on enum columns are left to the type system; the primary-key,
 *   `uses_left >= 0`, list_members.onion range and list_fanout.copy_id UNIQUE constraints throw errors shaped like
 *   SqliteError (same `code` and message).
 *   A parents/gap hash that is not 32 bytes is the same RangeError in both (hashes.ts).
 *
 * Memory: maps are created lazily on first write, so an idle node costs a few objects.
 */
import type { TrustEntry, TrustRepo, TrustState } from './trust.js';
import type { CertRepo, CertRow } from './certs.js';
import type { InviteRepo, InviteRow, RedeemResult } from './invites.js';
import type { InboxListOptions, InboxRepo, InboxRow } from './inbox.js';
import type { OutboxListOptions, OutboxRepo, OutboxRow, OutboxState } from './outbox.js';
import type { AddrBookRepo, AddrBookRow } from './addrbook.js';
import type { QueueCount } from './relayq.js';
import { MemoryRelayQueueRepo } from './relayq-memory.js';
import { applyLimit, cmpBytes, group, k, ungroup } from './memkeys.js';
import type { MailAccount, MailboxRepo, MailPutResult, MailRow } from './mailbox.js';
import type { MyMailboxesRepo } from './mymailboxes.js';
import type { HeldRepo, HeldRow } from './held.js';
import { MAX_HEADS, type ConvoRepo } from './convo.js';
import type { FanoutCount, FanoutRow, ListMember, ListMemberState, ListPost, ListRepo } from './list.js';
import { checkHashes } from './hashes.js';
import type { CoreStore, PublicOf } from './types.js';
import type { SessionRepo, SessionRow } from './sessions.js';
import type { OnionTagRepo } from './oniontags.js';
import { RollbackHooks } from './rollback.js';
import { keepCount, sqlLimit } from './limits.js';
import { WotError } from '../wire/errors.js';


const hexPrefix = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').slice(0, 16);

/** An error shaped like better-sqlite3's SqliteError for a violated constraint. */
function constraintError(code: 'SQLITE_CONSTRAINT_PRIMARYKEY' | 'SQLITE_CONSTRAINT_UNIQUE' | 'SQLITE_CONSTRAINT_CHECK', message: string): Error {
  const e = new Error(message) as Error & { code: string };
  e.name = 'SqliteError';
  e.code = code;
  return e;
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

  prune(now: number, max: number, keep: (entity: Uint8Array) => boolean): number {
    if (!this.rows) return 0;
    let n = 0;
    const drop = (ak: string, r: CertRec) => {
      this.rows!.delete(ak);
      const ek = k(r.entity);
      const list = this.byEntity!.get(ek)!;
      list.splice(list.indexOf(ak), 1);
      if (list.length === 0) this.byEntity!.delete(ek);
      n++;
    };
    // Deleting the entry being visited is safe in a Map's for-of: no copy of every row per prune.
    for (const [ak, r] of this.rows) if (r.notAfter < now) drop(ak, r);
    let excess = this.rows.size - max;
    if (excess <= 0) return n;
    const bySeen = [...this.rows].sort(([, a], [, b]) => a.seenAt - b.seenAt || a.rowid - b.rowid);
    for (const [ak, r] of bySeen) {
      if (excess <= 0) break;
      if (keep(r.entity)) continue;
      drop(ak, r);
      excess--;
    }
    return n;
  }

  count(): number {
    return this.rows?.size ?? 0;
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
    hash: r.hash,
    parents: [...r.parents],
    gap: [...r.gap],
    author: r.author,
    seq: r.seq,
    read: r.read,
  };
}

export class MemoryInboxRepo implements PublicOf<InboxRepo> {
  /** Rows in ascending seq (nothing is ever deleted). */
  private rows: InboxRec[] | undefined;
  private byId: Map<string, InboxRec> | undefined;
  /** Content hashes of the stored rows (the inbox_hash index). */
  private hashes: Set<string> | undefined;
  /** AUTOINCREMENT: a seq is never reused; a duplicate does not consume one. */
  private lastSeq = 0;

  insert(row: Omit<InboxRow, 'seq' | 'read'>): boolean {
    // Checked before the dedup, as the SQLite repo packs the hashes before its INSERT.
    checkHashes('inbox parents', row.parents);
    checkHashes('inbox gap', row.gap);
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
      hash: row.hash,
      parents: [...row.parents],
      gap: [...row.gap],
      author: row.author,
      seq: ++this.lastSeq,
      read: false,
      fromKey: k(row.from),
    };
    byId.set(key, rec);
    (this.rows ??= []).push(rec);
    if (row.hash !== null) (this.hashes ??= new Set()).add(k(row.hash));
    return true;
  }

  has(id: Uint8Array): boolean {
    return this.byId?.has(k(id)) ?? false;
  }

  hasHash(hash: Uint8Array): boolean {
    return this.hashes?.has(k(hash)) ?? false;
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
  hashKey: string | null;
}

function copyOutbox(r: OutboxRow): OutboxRow {
  return {
    id: r.id,
    to: r.to,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    state: r.state,
    kind: r.kind,
    hash: r.hash,
    envelope: r.envelope,
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
    updatedAt: r.updatedAt,
    error: r.error,
    onion: r.onion ?? null,
  };
}

/** queued/sent/relayed: not finished (the outbox_due/_pending_* partial indexes). */
const isPending = (s: OutboxState): boolean => s === 'queued' || s === 'sent' || s === 'relayed';
/** queued/sent: no hop holds it yet (pendingFor). */
const isUnheld = (s: OutboxState): boolean => s === 'queued' || s === 'sent';
const byCreated = (a: OutboxRec, b: OutboxRec): number => a.createdAt - b.createdAt || a.rowid - b.rowid;
const byNextAttempt = (a: OutboxRec, b: OutboxRec): number =>
  a.nextAttemptAt - b.nextAttemptAt || a.createdAt - b.createdAt || a.rowid - b.rowid;

export class MemoryOutboxRepo implements PublicOf<OutboxRepo> {
  private rows: Map<string, OutboxRec> | undefined;
  /** The rows in a pending state, overall and per recipient (the SQLite partial indexes). */
  private pending: Map<string, OutboxRec> | undefined;
  private pendingTo: Map<string, Map<string, OutboxRec>> | undefined;
  /** The rows in a done state (delivered/read/failed/expired), for purgeDone. */
  private done: Map<string, OutboxRec> | undefined;
  /** hash key → rows with that content hash, in rowid order. */
  private hashes: Map<string, OutboxRec[]> | undefined;
  /** SQLite gives a new row max(rowid)+1: larger than every live row, which is all ordering needs. */
  private nextRowid = 1;
  /**
   * Lower bounds on nextAttemptAt and expiresAt of the pending rows and on updatedAt of the
   * done rows: due/expire/purgeDone return at once while nothing can match (every core tick
   * calls them; a list agent holds tens of thousands of rows). Exact again after each scan.
   */
  private minDue = Infinity;
  private minExp = Infinity;
  private minDoneUpdated = Infinity;

  insert(row: OutboxRow): void {
    const key = k(row.id);
    const rows = (this.rows ??= new Map());
    if (rows.has(key)) throw constraintError('SQLITE_CONSTRAINT_PRIMARYKEY', 'UNIQUE constraint failed: outbox.id');
    const hashKey = row.hash === null ? null : k(row.hash);
    const rec: OutboxRec = { ...copyOutbox(row), rowid: this.nextRowid++, toKey: k(row.to), hashKey };
    rows.set(key, rec);
    this.enter(key, rec);
    if (hashKey !== null) {
      const hashes = (this.hashes ??= new Map());
      const list = hashes.get(hashKey);
      if (list) list.push(rec);
      else hashes.set(hashKey, [rec]);
    }
  }

  get(id: Uint8Array): OutboxRow | undefined {
    const r = this.rows?.get(k(id));
    return r ? copyOutbox(r) : undefined;
  }

  byHash(hash: Uint8Array): OutboxRow | undefined {
    const r = this.hashes?.get(k(hash))?.[0];
    return r ? copyOutbox(r) : undefined;
  }

  hasHash(hash: Uint8Array): boolean {
    return this.hashes?.has(k(hash)) ?? false;
  }

  setState(id: Uint8Array, state: OutboxState, now: number, error?: string | null): boolean {
    const key = k(id);
    const r = this.rows?.get(key);
    if (!r) return false;
    this.leave(key, r);
    r.state = state;
    r.updatedAt = now;
    r.error = error ?? null;
    this.enter(key, r);
    return true;
  }

  setError(id: Uint8Array, error: string | null, now: number): boolean {
    const r = this.rows?.get(k(id));
    if (!r) return false;
    r.error = error;
    r.updatedAt = now;
    this.bound(r);
    return true;
  }

  setOnion(id: Uint8Array, onion: number | null, now: number): boolean {
    const r = this.rows?.get(k(id));
    if (!r) return false;
    r.onion = onion;
    r.updatedAt = now;
    this.bound(r);
    return true;
  }

  scheduleRetry(id: Uint8Array, nextAttemptAt: number, now: number): boolean {
    const r = this.rows?.get(k(id));
    if (!r) return false;
    r.attempts += 1;
    r.nextAttemptAt = nextAttemptAt;
    r.updatedAt = now;
    this.bound(r);
    return true;
  }

  reschedule(id: Uint8Array, nextAttemptAt: number, now: number): boolean {
    const r = this.rows?.get(k(id));
    if (!r) return false;
    r.nextAttemptAt = nextAttemptAt;
    r.updatedAt = now;
    this.bound(r);
    return true;
  }

  shiftSchedule(deltaMs: number): number {
    if (!this.pending) return 0;
    for (const r of this.pending.values()) r.nextAttemptAt += deltaMs;
    return this.pending.size;
  }

  due(now: number, limit: number): OutboxRow[] {
    if (!this.pending || this.pending.size === 0 || now < this.minDue) return [];
    const out: OutboxRec[] = [];
    let min = Infinity;
    for (const r of this.pending.values()) {
      if (r.nextAttemptAt <= now) out.push(r);
      if (r.nextAttemptAt < min) min = r.nextAttemptAt;
    }
    this.minDue = min;
    return applyLimit(out.sort(byNextAttempt), limit).map(copyOutbox);
  }

  pendingFor(to: Uint8Array, limit: number): OutboxRow[] {
    const mine = this.pendingTo?.get(k(to));
    if (!mine) return [];
    const out: OutboxRec[] = [];
    for (const r of mine.values()) if (isUnheld(r.state)) out.push(r);
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

  countPendingFor(to: Uint8Array): number {
    return this.pendingTo?.get(k(to))?.size ?? 0;
  }

  expire(now: number): number {
    if (!this.pending || this.pending.size === 0 || now < this.minExp) return 0;
    const expired: Array<[string, OutboxRec]> = [];
    let min = Infinity;
    for (const entry of this.pending) {
      if (entry[1].expiresAt <= now) expired.push(entry);
      else if (entry[1].expiresAt < min) min = entry[1].expiresAt;
    }
    this.minExp = min;
    for (const [key, r] of expired) {
      this.leave(key, r);
      r.state = 'expired';
      r.updatedAt = now;
      this.enter(key, r);
    }
    return expired.length;
  }

  purgeDone(before: number, limit: number): number {
    if (!this.done || this.done.size === 0 || before <= this.minDoneUpdated) return 0;
    const old: OutboxRec[] = [];
    let min = Infinity;
    for (const r of this.done.values()) {
      if (r.updatedAt < before) old.push(r);
      if (r.updatedAt < min) min = r.updatedAt;
    }
    this.minDoneUpdated = min; // a lower bound still after the purge below
    const gone = applyLimit(old.sort((a, b) => a.updatedAt - b.updatedAt || a.rowid - b.rowid), limit);
    for (const r of gone) {
      const key = k(r.id);
      this.leave(key, r);
      this.rows!.delete(key);
      if (r.hashKey !== null) {
        const list = this.hashes!.get(r.hashKey)!;
        list.splice(list.indexOf(r), 1);
        if (list.length === 0) this.hashes!.delete(r.hashKey);
      }
    }
    return gone.length;
  }

  /** Keeps the lower bounds below the row's times. */
  private bound(r: OutboxRec): void {
    if (isPending(r.state)) {
      if (r.nextAttemptAt < this.minDue) this.minDue = r.nextAttemptAt;
      if (r.expiresAt < this.minExp) this.minExp = r.expiresAt;
    } else if (r.updatedAt < this.minDoneUpdated) {
      this.minDoneUpdated = r.updatedAt;
    }
  }

  /** Adds the row to the state indexes of its current state. */
  private enter(key: string, r: OutboxRec): void {
    this.bound(r);
    if (isPending(r.state)) {
      (this.pending ??= new Map()).set(key, r);
      group((this.pendingTo ??= new Map()), r.toKey, key, r);
    } else {
      (this.done ??= new Map()).set(key, r);
    }
  }

  /** Removes the row from the state indexes of its current state. */
  private leave(key: string, r: OutboxRec): void {
    if (isPending(r.state)) {
      this.pending!.delete(key);
      ungroup(this.pendingTo!, r.toKey, key);
    } else {
      this.done!.delete(key);
    }
  }
}

// ---------------------------------------------------------------- address book

export class MemoryAddrBookRepo implements PublicOf<AddrBookRepo> {
  private rows: Map<string, AddrBookRow> | null = null;
  /** Lower bound on expiresAt of the rows (purgeExpired returns at once before it). */
  private minExp = Infinity;

  private map(): Map<string, AddrBookRow> {
    return (this.rows ??= new Map());
  }

  put(row: Omit<AddrBookRow, 'invalid'>): boolean {
    const k = Buffer.from(row.entity).toString('hex');
    const old = this.map().get(k);
    if (old && !(row.seq > old.seq || old.expiresAt <= row.receivedAt)) return false;
    this.map().set(k, { ...row, entity: new Uint8Array(row.entity), announcement: new Uint8Array(row.announcement), invalid: false });
    if (row.expiresAt < this.minExp) this.minExp = row.expiresAt;
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
    if (now < this.minExp) return 0;
    let n = 0;
    let min = Infinity;
    for (const [k, r] of this.rows ?? []) {
      if (r.expiresAt <= now) {
        this.rows!.delete(k);
        n++;
      } else if (r.expiresAt < min) {
        min = r.expiresAt;
      }
    }
    this.minExp = min;
    return n;
  }

  count(): number {
    return this.rows?.size ?? 0;
  }

  prune(max: number): number {
    const excess = this.count() - max;
    if (excess <= 0) return 0;
    // Insertion order is rowid order; ties in receivedAt keep it (a stable sort).
    const old = [...this.rows!].sort(([, a], [, b]) => a.receivedAt - b.receivedAt).slice(0, excess);
    for (const [key] of old) this.rows!.delete(key);
    return old.length;
  }
}

// ---------------------------------------------------------------- held messages

interface HeldRec extends HeldRow {
  rowid: number;
  fromKey: string;
}

function copyHeld(r: HeldRow): HeldRow {
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
    hash: r.hash,
    parents: [...r.parents],
    author: r.author,
    heldAt: r.heldAt,
  };
}

const byHeldAt = (a: HeldRec, b: HeldRec): number => a.heldAt - b.heldAt || a.rowid - b.rowid;

export class MemoryHeldRepo implements PublicOf<HeldRepo> {
  private rows: Map<string, HeldRec> | undefined;
  /** from key → that sender's held rows (the held_from index). */
  private byFrom: Map<string, Map<string, HeldRec>> | undefined;
  private nextRowid = 1;

  put(row: HeldRow): boolean {
    checkHashes('held parents', row.parents);
    const key = k(row.id);
    const rows = (this.rows ??= new Map());
    if (rows.has(key)) return false;
    const rec: HeldRec = { ...copyHeld(row), rowid: this.nextRowid++, fromKey: k(row.from) };
    rows.set(key, rec);
    group((this.byFrom ??= new Map()), rec.fromKey, key, rec);
    return true;
  }

  get(id: Uint8Array): HeldRow | undefined {
    const r = this.rows?.get(k(id));
    return r ? copyHeld(r) : undefined;
  }

  has(id: Uint8Array): boolean {
    return this.rows?.has(k(id)) ?? false;
  }

  delete(id: Uint8Array): boolean {
    const key = k(id);
    const r = this.rows?.get(key);
    if (!r) return false;
    this.rows!.delete(key);
    ungroup(this.byFrom!, r.fromKey, key);
    return true;
  }

  listFrom(from: Uint8Array, limit: number): HeldRow[] {
    const mine = this.byFrom?.get(k(from));
    if (!mine) return [];
    return applyLimit([...mine.values()].sort(byHeldAt), limit).map(copyHeld);
  }

  waitingFrom(from: Uint8Array, limit: number): Array<{ id: Uint8Array; hash: Uint8Array; parents: Uint8Array[] }> {
    const mine = this.byFrom?.get(k(from));
    if (!mine) return [];
    return applyLimit([...mine.values()].sort(byHeldAt), limit).map((r) => ({ id: r.id, hash: r.hash, parents: [...r.parents] }));
  }

  shiftHeldAt(deltaMs: number): number {
    if (!this.rows) return 0;
    for (const r of this.rows.values()) r.heldAt += deltaMs;
    return this.rows.size;
  }

  olderThan(t: number, limit: number): HeldRow[] {
    if (!this.rows) return [];
    const out: HeldRec[] = [];
    for (const r of this.rows.values()) if (r.heldAt <= t) out.push(r);
    return applyLimit(out.sort(byHeldAt), limit).map(copyHeld);
  }

  count(): number {
    return this.rows?.size ?? 0;
  }
}

// ---------------------------------------------------------------- conversation heads

interface Head {
  hash: Uint8Array;
  key: string;
  addedAt: number;
}

/** SQLite's ORDER BY added_at, hash (a BLOB sorts as memcmp, then shorter first, like Buffer.compare). */
const byAdded = (a: Head, b: Head): number => a.addedAt - b.addedAt || cmpBytes(a.hash, b.hash);

export class MemoryConvoRepo implements PublicOf<ConvoRepo> {
  /** peer key → heads, kept sorted oldest first, at most MAX_HEADS. */
  private peers: Map<string, Head[]> | undefined;

  heads(peer: Uint8Array): Uint8Array[] {
    return this.peers?.get(k(peer))?.map((h) => h.hash) ?? [];
  }

  drop(peer: Uint8Array, hashes: Uint8Array[]): void {
    const pk = k(peer);
    const heads = this.peers?.get(pk);
    if (!heads) return;
    const gone = new Set(hashes.map(k));
    this.peers!.set(pk, heads.filter((h) => !gone.has(h.key)));
  }

  advance(peer: Uint8Array, hash: Uint8Array, parents: Uint8Array[], now: number): void {
    const pk = k(peer);
    const peers = (this.peers ??= new Map<string, Head[]>());
    let heads: Head[] = peers.get(pk) ?? [];
    if (parents.length > 0) {
      const gone = new Set(parents.map(k));
      heads = heads.filter((h) => !gone.has(h.key));
    }
    const hk = k(hash);
    if (!heads.some((h) => h.key === hk)) {
      heads.push({ hash, key: hk, addedAt: now });
      heads.sort(byAdded);
    }
    if (heads.length > MAX_HEADS) heads = heads.slice(heads.length - MAX_HEADS);
    peers.set(pk, heads);
  }
}

// ---------------------------------------------------------------- mailbox storage

interface OwnerBox {
  /** seq → row; Map order = ascending seq (seqs only grow and are never re-inserted). */
  bySeq: Map<number, MailRow>;
  byId: Map<string, MailRow>;
  n: number;
  bytes: number;
}

const copyMail = (r: MailRow): MailRow => ({ seq: r.seq, owner: r.owner, id: r.id, envelope: r.envelope, storedAt: r.storedAt, expiresAt: r.expiresAt });
const copyAccount = (a: MailAccount): MailAccount => ({ owner: a.owner, annSeq: a.annSeq, createdAt: a.createdAt, updatedAt: a.updatedAt });

export class MemoryMailboxRepo implements PublicOf<MailboxRepo> {
  private accountRows: Map<string, MailAccount> | undefined;
  /** owner key → that owner's stored messages; an owner with none has no entry (mailbox_counts). */
  private boxes: Map<string, OwnerBox> | undefined;
  private lastSeq = 0;
  private totalN = 0;
  private totalBytes = 0;

  setAccount(owner: Uint8Array, annSeq: number, now: number): void {
    const accounts = (this.accountRows ??= new Map());
    const key = k(owner);
    const a = accounts.get(key);
    if (a) {
      a.annSeq = annSeq;
      a.updatedAt = now;
    } else {
      accounts.set(key, { owner, annSeq, createdAt: now, updatedAt: now });
    }
  }

  removeAccount(owner: Uint8Array): boolean {
    return this.accountRows?.delete(k(owner)) ?? false;
  }

  account(owner: Uint8Array): MailAccount | undefined {
    const a = this.accountRows?.get(k(owner));
    return a ? copyAccount(a) : undefined;
  }

  accounts(): MailAccount[] {
    if (!this.accountRows) return [];
    return [...this.accountRows.values()].sort((a, b) => a.createdAt - b.createdAt || cmpBytes(a.owner, b.owner)).map(copyAccount);
  }

  put(row: Omit<MailRow, 'seq'>): MailPutResult {
    const ok = k(row.owner);
    const ik = k(row.id);
    const boxes = (this.boxes ??= new Map());
    let box = boxes.get(ok);
    if (box?.byId.has(ik)) return 'duplicate';
    if (!box) {
      box = { bySeq: new Map(), byId: new Map(), n: 0, bytes: 0 };
      boxes.set(ok, box);
    }
    const rec: MailRow = { seq: ++this.lastSeq, owner: row.owner, id: row.id, envelope: row.envelope, storedAt: row.storedAt, expiresAt: row.expiresAt };
    box.bySeq.set(rec.seq, rec);
    box.byId.set(ik, rec);
    box.n += 1;
    box.bytes += rec.envelope.length;
    this.totalN += 1;
    this.totalBytes += rec.envelope.length;
    return 'stored';
  }

  usage(owner: Uint8Array): QueueCount {
    const box = this.boxes?.get(k(owner));
    return box ? { n: box.n, bytes: box.bytes } : { n: 0, bytes: 0 };
  }

  list(owner: Uint8Array, afterSeq: number, limit: number): MailRow[] {
    const box = this.boxes?.get(k(owner));
    if (!box) return [];
    const n = sqlLimit(limit);
    const out: MailRow[] = [];
    for (const r of box.bySeq.values()) {
      if (n >= 0 && out.length >= n) break;
      if (r.seq > afterSeq) out.push(copyMail(r));
    }
    return out;
  }

  delete(owner: Uint8Array, seqs: number[]): number {
    const ok = k(owner);
    const box = this.boxes?.get(ok);
    if (!box) return 0;
    let n = 0;
    for (const seq of seqs) {
      const r = box.bySeq.get(seq);
      if (r && this.remove(ok, box, r)) n++;
    }
    return n;
  }

  expire(now: number): number {
    if (!this.boxes) return 0;
    let n = 0;
    for (const [ok, box] of [...this.boxes]) {
      for (const r of [...box.bySeq.values()]) if (r.expiresAt <= now && this.remove(ok, box, r)) n++;
    }
    return n;
  }

  totals(): QueueCount & { owners: number } {
    return { n: this.totalN, bytes: this.totalBytes, owners: this.boxes?.size ?? 0 };
  }

  private remove(ownerKey: string, box: OwnerBox, r: MailRow): boolean {
    if (!box.bySeq.delete(r.seq)) return false;
    box.byId.delete(k(r.id));
    box.n -= 1;
    box.bytes -= r.envelope.length;
    this.totalN -= 1;
    this.totalBytes -= r.envelope.length;
    if (box.n === 0) this.boxes!.delete(ownerKey);
    return true;
  }
}

// ---------------------------------------------------------------- our own mailboxes

export class MemoryMyMailboxesRepo implements PublicOf<MyMailboxesRepo> {
  private rows: Map<string, { entity: Uint8Array; addedAt: number }> | undefined;

  add(entity: Uint8Array, now: number): boolean {
    const rows = (this.rows ??= new Map());
    const key = k(entity);
    if (rows.has(key)) return false;
    rows.set(key, { entity, addedAt: now });
    return true;
  }

  remove(entity: Uint8Array): boolean {
    return this.rows?.delete(k(entity)) ?? false;
  }

  list(): Uint8Array[] {
    if (!this.rows) return [];
    return [...this.rows.values()].sort((a, b) => a.addedAt - b.addedAt || cmpBytes(a.entity, b.entity)).map((r) => r.entity);
  }

  has(entity: Uint8Array): boolean {
    return this.rows?.has(k(entity)) ?? false;
  }
}

// ---------------------------------------------------------------- mailing list

interface FanRec extends FanoutRow {
  rowid: number;
  postKey: string;
  copyKey: string;
}

/** One post's fan-out rows by subscriber key (Map order = insertion = rowid order) and their counts (list_fanout_counts). */
interface PostFanout {
  rows: Map<string, FanRec>;
  waiting: number;
  queued: number;
}

interface ComplaintRec {
  complainantKey: string;
  at: number;
}

const copyMember = (m: ListMember): ListMember => ({
  entity: m.entity,
  state: m.state,
  role: m.role,
  joinedAt: m.joinedAt,
  updatedAt: m.updatedAt,
  mutedUntil: m.mutedUntil,
  note: m.note,
  onion: m.onion,
});
const copyPost = (p: ListPost): ListPost => ({ seq: p.seq, postId: p.postId, hash: p.hash, author: p.author, signed: p.signed, receivedAt: p.receivedAt });
const copyFanout = (r: FanoutRow): FanoutRow => ({ postId: r.postId, subscriber: r.subscriber, copyId: r.copyId, state: r.state, createdAt: r.createdAt });
/** ORDER BY joined_at, entity. */
const byJoined = (a: ListMember, b: ListMember): number => a.joinedAt - b.joinedAt || cmpBytes(a.entity, b.entity);
/** ORDER BY created_at, rowid. */
const byCreatedRowid = (a: FanRec, b: FanRec): number => a.createdAt - b.createdAt || a.rowid - b.rowid;
/** An unambiguous key for a pair of byte strings (the first one's length, then both). */
const pairKey = (a: string, b: string): string => `${a.length}:${a}${b}`;

/**
 * First index in the ascending `keys` whose key sorts after `after`. Keys are k() strings:
 * one char code 0..255 per byte, so string order is the bytes' memcmp-then-shorter order.
 */
function upperBound(keys: readonly string[], after: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! > after) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export class MemoryListRepo implements PublicOf<ListRepo> {
  private memberRows: Map<string, ListMember> | undefined;
  /** state → its member rows (list_members_state index; sizes are list_member_counts). */
  private byState: Map<ListMemberState, Map<string, ListMember>> | undefined;
  /** Keys of the rows in state 'member', ascending (subscribers paging without a scan). */
  private subKeys: string[] | undefined;

  /** Ascending seq; trimPosts only ever removes from the front. */
  private posts: ListPost[] | undefined;
  private postsById: Map<string, ListPost> | undefined;
  /** hash key → posts with that hash, ascending seq (list_posts_hash index). */
  private postsByHash: Map<string, ListPost[]> | undefined;
  /** AUTOINCREMENT: a seq is never reused; a duplicate does not consume one. */
  private lastSeq = 0;

  private fanByPost: Map<string, PostFanout> | undefined;
  private fanByCopy: Map<string, FanRec> | undefined;
  /** Rows in state 'waiting'. Map order is (createdAt, rowid) unless waitingUnsorted (then sorted on next read). */
  private waiting: Map<string, FanRec> | undefined;
  private waitingUnsorted = false;
  /** >= the createdAt of every waiting row: an insert below it breaks the Map order. */
  private waitingTail = -Infinity;
  /** SQLite gives a new row max(rowid)+1: larger than every live row, which is all ordering needs. */
  private nextRowid = 1;

  /** author key → pairKey(complainant, postId) → complaint. */
  private complaints: Map<string, Map<string, ComplaintRec>> | undefined;

  // ------------------------------------------------------------ members

  member(entity: Uint8Array): ListMember | undefined {
    const m = this.memberRows?.get(k(entity));
    return m ? copyMember(m) : undefined;
  }

  upsertMember(m: ListMember): void {
    if (!(m.onion >= 0 && m.onion <= 8)) throw constraintError('SQLITE_CONSTRAINT_CHECK', 'CHECK constraint failed: onion >= 0 AND onion <= 8');
    const key = k(m.entity);
    const rows = (this.memberRows ??= new Map());
    const old = rows.get(key);
    if (old) this.unindexMember(key, old);
    const rec = copyMember(m);
    rows.set(key, rec);
    this.indexMember(key, rec);
  }

  setState(entity: Uint8Array, state: ListMemberState, now: number, note?: string | null): boolean {
    const key = k(entity);
    const m = this.memberRows?.get(key);
    if (!m) return false;
    if (m.state !== state) {
      this.unindexMember(key, m);
      m.state = state;
      this.indexMember(key, m);
    }
    m.updatedAt = now;
    m.note = note ?? null;
    return true;
  }

  setMuted(entity: Uint8Array, until: number, now: number): boolean {
    const m = this.memberRows?.get(k(entity));
    if (!m) return false;
    m.mutedUntil = until;
    m.updatedAt = now;
    return true;
  }

  removeMember(entity: Uint8Array): boolean {
    const key = k(entity);
    const m = this.memberRows?.get(key);
    if (!m) return false;
    this.unindexMember(key, m);
    this.memberRows!.delete(key);
    return true;
  }

  members(state?: ListMemberState, limit?: number): ListMember[] {
    const src = state === undefined ? this.memberRows : this.byState?.get(state);
    if (!src) return [];
    return applyLimit([...src.values()].sort(byJoined), limit).map(copyMember);
  }

  countMembers(state: ListMemberState): number {
    return this.byState?.get(state)?.size ?? 0;
  }

  subscribers(after: Uint8Array | null, limit: number): Uint8Array[] {
    const keys = this.subKeys;
    if (!keys) return [];
    const n = sqlLimit(limit);
    const start = after === null ? 0 : upperBound(keys, k(after));
    const end = n < 0 ? keys.length : Math.min(keys.length, start + n);
    const out: Uint8Array[] = [];
    for (let i = start; i < end; i++) out.push(this.memberRows!.get(keys[i]!)!.entity);
    return out;
  }

  private indexMember(key: string, m: ListMember): void {
    group((this.byState ??= new Map()), m.state, key, m);
    if (m.state === 'member') {
      const keys = (this.subKeys ??= []);
      keys.splice(upperBound(keys, key), 0, key);
    }
  }

  private unindexMember(key: string, m: ListMember): void {
    ungroup(this.byState!, m.state, key);
    if (m.state === 'member') {
      const keys = this.subKeys!;
      // upperBound lands just after the key itself (keys are unique).
      keys.splice(upperBound(keys, key) - 1, 1);
    }
  }

  // ------------------------------------------------------------ post archive

  putPost(p: Omit<ListPost, 'seq'>): ListPost | undefined {
    const key = k(p.postId);
    const byId = (this.postsById ??= new Map());
    if (byId.has(key)) return undefined;
    const rec: ListPost = { seq: ++this.lastSeq, postId: p.postId, hash: p.hash, author: p.author, signed: p.signed, receivedAt: p.receivedAt };
    byId.set(key, rec);
    (this.posts ??= []).push(rec);
    const byHash = (this.postsByHash ??= new Map());
    const hk = k(p.hash);
    const same = byHash.get(hk);
    if (same) same.push(rec);
    else byHash.set(hk, [rec]);
    return copyPost(rec);
  }

  post(postId: Uint8Array): ListPost | undefined {
    const p = this.postsById?.get(k(postId));
    return p ? copyPost(p) : undefined;
  }

  postByHash(hash: Uint8Array): ListPost | undefined {
    const p = this.postsByHash?.get(k(hash))?.[0];
    return p ? copyPost(p) : undefined;
  }

  recentPosts(limit: number): ListPost[] {
    const posts = this.posts;
    if (!posts) return [];
    const n = sqlLimit(limit);
    return posts.slice(n < 0 ? 0 : Math.max(0, posts.length - n)).map(copyPost);
  }

  trimPosts(keep: number): number {
    const n = keepCount('list trimPosts', keep);
    const posts = this.posts;
    if (n < 0 || !posts || posts.length <= n) return 0;
    const gone = posts.splice(0, posts.length - n);
    for (const p of gone) {
      const key = k(p.postId);
      this.postsById!.delete(key);
      const hk = k(p.hash);
      const same = this.postsByHash!.get(hk)!;
      same.splice(same.indexOf(p), 1);
      if (same.length === 0) this.postsByHash!.delete(hk);
      this.dropFanout(key);
    }
    return gone.length;
  }

  // ------------------------------------------------------------ fan-out

  addFanout(rows: FanoutRow[]): number {
    // Plan first: a copy-id conflict then leaves nothing inserted, as the SQLite transaction.
    const plan: Array<{ r: FanoutRow; postKey: string; subKey: string; copyKey: string }> = [];
    const pairs = new Set<string>();
    const copies = new Set<string>();
    for (const r of rows) {
      const postKey = k(r.postId);
      const subKey = k(r.subscriber);
      const pair = pairKey(postKey, subKey);
      if (pairs.has(pair) || this.fanByPost?.get(postKey)?.rows.has(subKey)) continue;
      const copyKey = k(r.copyId);
      if (copies.has(copyKey) || this.fanByCopy?.has(copyKey)) {
        throw constraintError('SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed: list_fanout.copy_id');
      }
      pairs.add(pair);
      copies.add(copyKey);
      plan.push({ r, postKey, subKey, copyKey });
    }
    const byPost = (this.fanByPost ??= new Map());
    const byCopy = (this.fanByCopy ??= new Map());
    for (const { r, postKey, subKey, copyKey } of plan) {
      const rec: FanRec = { ...copyFanout(r), rowid: this.nextRowid++, postKey, copyKey };
      let group = byPost.get(postKey);
      if (!group) {
        group = { rows: new Map(), waiting: 0, queued: 0 };
        byPost.set(postKey, group);
      }
      group.rows.set(subKey, rec);
      byCopy.set(copyKey, rec);
      if (rec.state === 'waiting') {
        group.waiting += 1;
        const waiting = (this.waiting ??= new Map());
        if (waiting.size === 0) {
          this.waitingUnsorted = false;
          this.waitingTail = rec.createdAt;
        } else if (rec.createdAt < this.waitingTail) {
          this.waitingUnsorted = true;
        } else {
          this.waitingTail = rec.createdAt;
        }
        waiting.set(copyKey, rec);
      } else {
        group.queued += 1;
      }
    }
    return plan.length;
  }

  nextWaiting(limit: number): FanoutRow[] {
    let waiting = this.waiting;
    if (!waiting || waiting.size === 0) return [];
    if (this.waitingUnsorted) {
      const sorted = [...waiting.values()].sort(byCreatedRowid);
      waiting = this.waiting = new Map(sorted.map((r) => [r.copyKey, r]));
      this.waitingUnsorted = false;
    }
    const n = sqlLimit(limit);
    const out: FanoutRow[] = [];
    for (const r of waiting.values()) {
      if (n >= 0 && out.length >= n) break;
      out.push(copyFanout(r));
    }
    return out;
  }

  markQueued(copyIds: Uint8Array[]): number {
    let n = 0;
    for (const id of copyIds) {
      const r = this.fanByCopy?.get(k(id));
      if (!r || r.state !== 'waiting') continue;
      r.state = 'queued';
      this.waiting!.delete(r.copyKey);
      const group = this.fanByPost!.get(r.postKey)!;
      group.waiting -= 1;
      group.queued += 1;
      n++;
    }
    return n;
  }

  fanoutFor(postId: Uint8Array, limit?: number): FanoutRow[] {
    const group = this.fanByPost?.get(k(postId));
    if (!group) return [];
    const n = sqlLimit(limit);
    const out: FanoutRow[] = [];
    for (const r of group.rows.values()) {
      if (n >= 0 && out.length >= n) break;
      out.push(copyFanout(r));
    }
    return out;
  }

  fanoutByCopy(copyId: Uint8Array): FanoutRow | undefined {
    const r = this.fanByCopy?.get(k(copyId));
    return r ? copyFanout(r) : undefined;
  }

  countFanout(postId: Uint8Array): FanoutCount {
    const group = this.fanByPost?.get(k(postId));
    return group ? { waiting: group.waiting, queued: group.queued } : { waiting: 0, queued: 0 };
  }

  countWaiting(): number {
    return this.waiting?.size ?? 0;
  }

  /** Deletes every fan-out row of the post (trimPosts). */
  private dropFanout(postKey: string): void {
    const group = this.fanByPost?.get(postKey);
    if (!group) return;
    for (const r of group.rows.values()) {
      this.fanByCopy!.delete(r.copyKey);
      if (r.state === 'waiting') this.waiting!.delete(r.copyKey);
    }
    this.fanByPost!.delete(postKey);
  }

  // ------------------------------------------------------------ complaints

  addComplaint(author: Uint8Array, complainant: Uint8Array, postId: Uint8Array, at: number): boolean {
    const complaints = (this.complaints ??= new Map());
    const ak = k(author);
    const ck = k(complainant);
    const tk = pairKey(ck, k(postId));
    let mine = complaints.get(ak);
    if (mine?.has(tk)) return false;
    if (!mine) {
      mine = new Map();
      complaints.set(ak, mine);
    }
    mine.set(tk, { complainantKey: ck, at });
    return true;
  }

  complainants(author: Uint8Array, since: number): number {
    const mine = this.complaints?.get(k(author));
    if (!mine) return 0;
    const who = new Set<string>();
    for (const c of mine.values()) if (c.at >= since) who.add(c.complainantKey);
    return who.size;
  }

  purgeComplaints(before: number): number {
    if (!this.complaints) return 0;
    let n = 0;
    for (const [ak, mine] of this.complaints) {
      for (const [tk, c] of mine) {
        if (c.at < before) {
          mine.delete(tk);
          n++;
        }
      }
      if (mine.size === 0) this.complaints.delete(ak);
    }
    return n;
  }
}

// ---------------------------------------------------------------- store

// ---------------------------------------------------------------- sessions and onion tags

interface SessionRec extends SessionRow {
  rowid: number;
  /** k(peer), the byPeerKey group it is in. */
  peerKey: string;
}

export class MemorySessionRepo implements PublicOf<SessionRepo> {
  /** Keyed by sid; a replaced state drops the old object (nothing else refers to it). */
  private rows: Map<string, SessionRec> | undefined;
  /** The same rows by peer, then sid: a peer's sessions without scanning everyone's (a list entity has one per subscriber). */
  private byPeerKey: Map<string, Map<string, SessionRec>> | undefined;
  private nextRowid = 1;

  put(row: SessionRow): void {
    const rows = (this.rows ??= new Map());
    const key = k(row.sid);
    const old = rows.get(key);
    const rec: SessionRec = old ? { ...old, state: row.state, usedAt: row.usedAt } : { ...row, rowid: this.nextRowid++, peerKey: k(row.peer) };
    rows.set(key, rec);
    group((this.byPeerKey ??= new Map()), rec.peerKey, key, rec);
  }

  get(sid: Uint8Array): SessionRow | undefined {
    const r = this.rows?.get(k(sid));
    return r ? copySession(r) : undefined;
  }

  byPeer(peer: Uint8Array, limit: number): SessionRow[] {
    const mine = this.byPeerKey?.get(k(peer));
    if (!mine) return [];
    const rows = [...mine.values()].sort((a, b) => b.rank - a.rank || cmpBytes(b.sid, a.sid));
    return applyLimit(rows, limit).map(copySession);
  }

  delete(sid: Uint8Array): boolean {
    const key = k(sid);
    const r = this.rows?.get(key);
    if (!r) return false;
    this.forget(key, r);
    return true;
  }

  count(): number {
    return this.rows?.size ?? 0;
  }

  deleteUnusedBefore(before: number, limit: number): number {
    if (!this.rows) return 0;
    // Runs every tick over every session (a list entity has one per subscriber): no copy of them all.
    const unused: SessionRec[] = [];
    for (const r of this.rows.values()) if (r.usedAt < before) unused.push(r);
    if (unused.length === 0) return 0;
    const victims = applyLimit(unused.sort(byUse), limit);
    for (const r of victims) this.forget(k(r.sid), r);
    return victims.length;
  }

  deleteOldest(n: number): number {
    if (!this.rows) return 0;
    const victims = applyLimit([...this.rows.values()].sort(byUse), n);
    for (const r of victims) this.forget(k(r.sid), r);
    return victims.length;
  }

  private forget(key: string, r: SessionRec): void {
    this.rows!.delete(key);
    ungroup(this.byPeerKey!, r.peerKey, key);
  }
}

const byUse = (a: SessionRec, b: SessionRec): number => a.usedAt - b.usedAt || a.rowid - b.rowid;

function copySession(r: SessionRow): SessionRow {
  return { sid: r.sid, peer: r.peer, rank: r.rank, state: r.state, createdAt: r.createdAt, usedAt: r.usedAt };
}

export class MemoryOnionTagRepo implements PublicOf<OnionTagRepo> {
  private rows: Map<string, { expiresAt: number; rowid: number }> | undefined;
  private nextRowid = 1;

  add(tag: Uint8Array, expiresAt: number): boolean {
    const rows = (this.rows ??= new Map());
    const key = k(tag);
    if (rows.has(key)) return false;
    rows.set(key, { expiresAt, rowid: this.nextRowid++ });
    return true;
  }

  has(tag: Uint8Array): boolean {
    return this.rows?.has(k(tag)) ?? false;
  }

  count(): number {
    return this.rows?.size ?? 0;
  }

  purge(now: number, limit: number): number {
    return this.drop((e) => e.expiresAt <= now, limit);
  }

  evictOldest(n: number): number {
    return this.drop(() => true, n);
  }

  private drop(which: (e: { expiresAt: number }) => boolean, limit: number): number {
    if (!this.rows) return 0;
    const victims = applyLimit(
      [...this.rows.entries()].filter(([, e]) => which(e)).sort(([, a], [, b]) => a.expiresAt - b.expiresAt || a.rowid - b.rowid),
      limit,
    );
    for (const [key] of victims) this.rows.delete(key);
    return victims.length;
  }
}

export class MemoryStore implements CoreStore {
  readonly addrbook = new MemoryAddrBookRepo();
  readonly trust = new MemoryTrustRepo();
  readonly certs = new MemoryCertRepo();
  readonly invites = new MemoryInviteRepo();
  readonly inbox = new MemoryInboxRepo();
  readonly outbox = new MemoryOutboxRepo();
  readonly relayq = new MemoryRelayQueueRepo();
  readonly mailbox = new MemoryMailboxRepo();
  readonly myMailboxes = new MemoryMyMailboxesRepo();
  readonly held = new MemoryHeldRepo();
  readonly convo = new MemoryConvoRepo();
  readonly list = new MemoryListRepo();
  readonly sessions = new MemorySessionRepo();
  readonly onionTags = new MemoryOnionTagRepo();

  /**
   * Runs fn. NOT atomic: writes made before fn throws stay (no rollback). The simulator
   * treats a throwing core as a bug and never relies on rollback.
   */
  tx<T>(fn: () => T): T {
    return this.rollbackHooks.run(fn);
  }

  private readonly rollbackHooks = new RollbackHooks();

  /** Like Store: `undo` runs if the enclosing tx's fn throws (the rows themselves stay, see above). */
  onRollback(undo: () => void): void {
    this.rollbackHooks.add(undo);
  }
}
