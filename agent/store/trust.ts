/**
 * Trust repository: the entities we trust (or have revoked), their petnames and last known
 * addresses. Table `trust` (schema in db.ts).
 */
import type Database from 'better-sqlite3';
import { WotError } from '../wire/errors.js';

export type TrustHow = 'manual' | 'invite' | 'invited' | 'sent';
export type TrustState = 'active' | 'revoked';

export interface TrustEntry {
  entity: Uint8Array;
  petname: string | null;
  how: TrustHow;
  addedAt: number;
  state: TrustState;
  addr: string | null;
  updatedAt: number;
  note: string | null;
}

interface TrustDbRow {
  entity: Buffer;
  petname: string | null;
  how: TrustHow;
  added_at: number;
  state: TrustState;
  addr: string | null;
  updated_at: number;
  note: string | null;
}

const COLS = 'entity, petname, how, added_at, state, addr, updated_at, note';

function fromDb(r: TrustDbRow): TrustEntry {
  return {
    entity: r.entity,
    petname: r.petname,
    how: r.how,
    addedAt: r.added_at,
    state: r.state,
    addr: r.addr,
    updatedAt: r.updated_at,
    note: r.note,
  };
}

function isPetnameConflict(e: unknown): boolean {
  return (
    e instanceof Error &&
    (e as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE' &&
    e.message.includes('trust.petname')
  );
}

const hexPrefix = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').slice(0, 16);

export class TrustRepo {
  private readonly sGet: Database.Statement<[Uint8Array], TrustDbRow>;
  private readonly sByPetname: Database.Statement<[string], TrustDbRow>;
  private readonly sList: Database.Statement<[], TrustDbRow>;
  private readonly sUpsert: Database.Statement<[Record<string, unknown>]>;
  private readonly sSetState: Database.Statement<[TrustState, number, Uint8Array]>;
  private readonly sSetAddr: Database.Statement<[string | null, number, Uint8Array]>;
  private readonly sSetPetname: Database.Statement<[string | null, number, Uint8Array]>;
  private readonly sIsTrusted: Database.Statement<[Uint8Array], { one: number }>;

  constructor(db: Database.Database) {
    this.sGet = db.prepare(`SELECT ${COLS} FROM trust WHERE entity = ?`);
    this.sByPetname = db.prepare(`SELECT ${COLS} FROM trust WHERE petname = ?`);
    this.sList = db.prepare(`SELECT ${COLS} FROM trust ORDER BY added_at, rowid`);
    this.sUpsert = db.prepare(
      `INSERT INTO trust (${COLS}) VALUES (@entity, @petname, @how, @added_at, @state, @addr, @updated_at, @note)
       ON CONFLICT (entity) DO UPDATE SET
         petname = excluded.petname, how = excluded.how, added_at = excluded.added_at, state = excluded.state,
         addr = excluded.addr, updated_at = excluded.updated_at, note = excluded.note`,
    );
    this.sSetState = db.prepare(`UPDATE trust SET state = ?, updated_at = ? WHERE entity = ?`);
    this.sSetAddr = db.prepare(`UPDATE trust SET addr = ?, updated_at = ? WHERE entity = ?`);
    this.sSetPetname = db.prepare(`UPDATE trust SET petname = ?, updated_at = ? WHERE entity = ?`);
    this.sIsTrusted = db.prepare(`SELECT 1 AS one FROM trust WHERE entity = ? AND state = 'active'`);
  }

  get(entity: Uint8Array): TrustEntry | undefined {
    const r = this.sGet.get(entity);
    return r ? fromDb(r) : undefined;
  }

  /** Exact, case-sensitive petname lookup. */
  byPetname(name: string): TrustEntry | undefined {
    const r = this.sByPetname.get(name);
    return r ? fromDb(r) : undefined;
  }

  /** All entries, oldest first. */
  list(): TrustEntry[] {
    return this.sList.all().map(fromDb);
  }

  /** Inserts or fully replaces the entry for e.entity. Throws ERR_BAD_REQUEST on a duplicate petname. */
  upsert(e: TrustEntry): void {
    try {
      this.sUpsert.run({
        entity: e.entity,
        petname: e.petname,
        how: e.how,
        added_at: e.addedAt,
        state: e.state,
        addr: e.addr,
        updated_at: e.updatedAt,
        note: e.note,
      });
    } catch (err) {
      if (isPetnameConflict(err) && e.petname !== null) throw this.petnameTaken(e.petname, e.entity);
      throw err;
    }
  }

  /** Returns false when the entity is not in the trust list. */
  setState(entity: Uint8Array, state: TrustState, now: number): boolean {
    return this.sSetState.run(state, now, entity).changes > 0;
  }

  /** Returns false when the entity is not in the trust list. */
  setAddr(entity: Uint8Array, addr: string | null, now: number): boolean {
    return this.sSetAddr.run(addr, now, entity).changes > 0;
  }

  /**
   * Sets (or clears, with null) the petname. Returns false when the entity is not in the
   * trust list; throws ERR_BAD_REQUEST when another entity already has that petname.
   */
  setPetname(entity: Uint8Array, name: string | null, now: number): boolean {
    try {
      return this.sSetPetname.run(name, now, entity).changes > 0;
    } catch (err) {
      if (isPetnameConflict(err) && name !== null) throw this.petnameTaken(name, entity);
      throw err;
    }
  }

  /** True when the entity is in the trust list and not revoked. */
  isTrusted(entity: Uint8Array): boolean {
    return this.sIsTrusted.get(entity) !== undefined;
  }

  private petnameTaken(name: string, entity: Uint8Array): WotError {
    const other = this.byPetname(name);
    const who = other ? `entity ${hexPrefix(other.entity)}…` : 'another entity';
    return new WotError(
      'ERR_BAD_REQUEST',
      `petname "${name}" is already used by ${who}; cannot give it to ${hexPrefix(entity)}…`,
      'choose another name, or rename the other entry first',
    );
  }
}
