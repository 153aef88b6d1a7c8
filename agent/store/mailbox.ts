/**
 * Mailbox storage repository: messages this agent stores as a mailbox for entities that
 * named it (their accounts), until the owner fetches and deletes them or they expire.
 * Per-owner usage and the totals are kept in `mailbox_counts` / `mailbox_totals` by
 * triggers (O(1) reads, always consistent with the rows). Tables `mailbox_accounts`, `mailbox`.
 */
import type Database from 'better-sqlite3';
import { sqlLimit } from './limits.js';
import type { QueueCount } from './relayq.js';

export interface MailRow {
  /** Local insertion order (AUTOINCREMENT: never reused; a duplicate does not consume one). */
  seq: number;
  owner: Uint8Array;
  /** Message id. */
  id: Uint8Array;
  /** Encoded envelope as received. */
  envelope: Uint8Array;
  storedAt: number;
  expiresAt: number;
}

export interface MailAccount {
  owner: Uint8Array;
  /** Seq of the owner's announcement that named us as its mailbox. */
  annSeq: number;
  createdAt: number;
  updatedAt: number;
}

export type MailPutResult = 'stored' | 'duplicate';

interface MailDbRow {
  seq: number;
  owner: Buffer;
  id: Buffer;
  envelope: Buffer;
  stored_at: number;
  expires_at: number;
}

interface AccountDbRow {
  owner: Buffer;
  ann_seq: number;
  created_at: number;
  updated_at: number;
}

const COLS = 'seq, owner, id, envelope, stored_at, expires_at';
const ACCOUNT_COLS = 'owner, ann_seq, created_at, updated_at';

function fromDb(r: MailDbRow): MailRow {
  return { seq: r.seq, owner: r.owner, id: r.id, envelope: r.envelope, storedAt: r.stored_at, expiresAt: r.expires_at };
}

function accountFromDb(r: AccountDbRow): MailAccount {
  return { owner: r.owner, annSeq: r.ann_seq, createdAt: r.created_at, updatedAt: r.updated_at };
}

export class MailboxRepo {
  private readonly sSetAccount: Database.Statement<[Uint8Array, number, number, number]>;
  private readonly sRemoveAccount: Database.Statement<[Uint8Array]>;
  private readonly sAccount: Database.Statement<[Uint8Array], AccountDbRow>;
  private readonly sAccounts: Database.Statement<[], AccountDbRow>;
  private readonly sPut: Database.Statement<[Record<string, unknown>]>;
  private readonly sUsage: Database.Statement<[Uint8Array], QueueCount>;
  private readonly sList: Database.Statement<[Uint8Array, number, number], MailDbRow>;
  private readonly sDelete: Database.Statement<[Uint8Array, string]>;
  private readonly sExpire: Database.Statement<[number]>;
  private readonly sTotals: Database.Statement<[], { n: number; bytes: number; owners: number }>;

  constructor(db: Database.Database) {
    this.sSetAccount = db.prepare(
      `INSERT INTO mailbox_accounts (${ACCOUNT_COLS}) VALUES (?, ?, ?, ?)
       ON CONFLICT (owner) DO UPDATE SET ann_seq = excluded.ann_seq, updated_at = excluded.updated_at`,
    );
    this.sRemoveAccount = db.prepare(`DELETE FROM mailbox_accounts WHERE owner = ?`);
    this.sAccount = db.prepare(`SELECT ${ACCOUNT_COLS} FROM mailbox_accounts WHERE owner = ?`);
    this.sAccounts = db.prepare(`SELECT ${ACCOUNT_COLS} FROM mailbox_accounts ORDER BY created_at, owner`);
    // The NOT EXISTS guard keeps a duplicate from consuming a seq number (as in the inbox).
    this.sPut = db.prepare(
      `INSERT INTO mailbox (owner, id, envelope, bytes, stored_at, expires_at)
       SELECT @owner, @id, @envelope, length(@envelope), @stored_at, @expires_at
       WHERE NOT EXISTS (SELECT 1 FROM mailbox WHERE owner = @owner AND id = @id)
       ON CONFLICT (owner, id) DO NOTHING`,
    );
    this.sUsage = db.prepare(`SELECT n, bytes FROM mailbox_counts WHERE owner = ?`);
    this.sList = db.prepare(`SELECT ${COLS} FROM mailbox WHERE owner = ? AND seq > ? ORDER BY seq LIMIT ?`);
    // ?2: JSON array of seqs.
    this.sDelete = db.prepare(`DELETE FROM mailbox WHERE owner = ? AND seq IN (SELECT value FROM json_each(?))`);
    this.sExpire = db.prepare(`DELETE FROM mailbox WHERE expires_at <= ?`);
    this.sTotals = db.prepare(`SELECT n, bytes, owners FROM mailbox_totals WHERE one = 1`);
  }

  /** Opens the account of `owner`, or updates its annSeq (createdAt is kept). */
  setAccount(owner: Uint8Array, annSeq: number, now: number): void {
    this.sSetAccount.run(owner, annSeq, now, now);
  }

  /** Closes the account (stored messages stay until fetched or expired). False when there was none. */
  removeAccount(owner: Uint8Array): boolean {
    return this.sRemoveAccount.run(owner).changes > 0;
  }

  account(owner: Uint8Array): MailAccount | undefined {
    const r = this.sAccount.get(owner);
    return r ? accountFromDb(r) : undefined;
  }

  /** All accounts, oldest first (createdAt, then owner bytes). */
  accounts(): MailAccount[] {
    return this.sAccounts.all().map(accountFromDb);
  }

  /** Stores a message for its owner; 'duplicate' (nothing written) when (owner, id) is stored already. */
  put(row: Omit<MailRow, 'seq'>): MailPutResult {
    const changes = this.sPut.run({
      owner: row.owner,
      id: row.id,
      envelope: row.envelope,
      stored_at: row.storedAt,
      expires_at: row.expiresAt,
    }).changes;
    return changes === 1 ? 'stored' : 'duplicate';
  }

  /** Messages and envelope bytes stored for `owner` (O(1)). */
  usage(owner: Uint8Array): QueueCount {
    const r = this.sUsage.get(owner);
    return r ? { n: r.n, bytes: r.bytes } : { n: 0, bytes: 0 };
  }

  /** The owner's messages with seq > afterSeq, ascending seq. */
  list(owner: Uint8Array, afterSeq: number, limit: number): MailRow[] {
    return this.sList.all(owner, afterSeq, sqlLimit(limit)).map(fromDb);
  }

  /** Deletes the owner's messages with these seqs (other owners' rows are never touched); returns how many. */
  delete(owner: Uint8Array, seqs: number[]): number {
    if (seqs.length === 0) return 0;
    return this.sDelete.run(owner, JSON.stringify(seqs)).changes;
  }

  /** Deletes messages with expiresAt <= now; returns how many. */
  expire(now: number): number {
    return this.sExpire.run(now).changes;
  }

  /** Messages and bytes stored for all owners, and how many owners have at least one (O(1)). */
  totals(): QueueCount & { owners: number } {
    const r = this.sTotals.get()!;
    return { n: r.n, bytes: r.bytes, owners: r.owners };
  }
}
