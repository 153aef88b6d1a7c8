/**
 * The narrow store interface the sans-I/O core depends on. The daemon passes the SQLite
 * `Store`; the simulator passes `MemoryStore` (memory.ts), so thousands of cores fit in
 * one process. Each repository type is the public surface of its SQLite class.
 */
import type { TrustRepo } from './trust.js';
import type { CertRepo } from './certs.js';
import type { InviteRepo } from './invites.js';
import type { InboxRepo } from './inbox.js';
import type { OutboxRepo } from './outbox.js';
import type { AddrBookRepo } from './addrbook.js';
import type { RelayQueue } from './relayq.js';
import type { MailboxRepo } from './mailbox.js';
import type { MyMailboxesRepo } from './mymailboxes.js';
import type { HeldRepo } from './held.js';
import type { ConvoRepo } from './convo.js';
import type { ListRepo } from './list.js';
import type { SessionRepo } from './sessions.js';
import type { OnionTagRepo } from './oniontags.js';

/** The public methods of a class, without its constructor or private state. */
export type PublicOf<T> = { [K in keyof T]: T[K] };

export interface CoreStore {
  /** Runs fn atomically: all of its writes or none. */
  tx<T>(fn: () => T): T;
  /**
   * Registers `undo` to run if the enclosing transaction rolls back, for in-memory state
   * that stands for rows written in it (see rollback.ts).
   */
  onRollback(undo: () => void): void;
  readonly trust: PublicOf<TrustRepo>;
  readonly certs: PublicOf<CertRepo>;
  readonly invites: PublicOf<InviteRepo>;
  readonly inbox: PublicOf<InboxRepo>;
  readonly outbox: PublicOf<OutboxRepo>;
  readonly addrbook: PublicOf<AddrBookRepo>;
  readonly relayq: RelayQueue;
  readonly mailbox: PublicOf<MailboxRepo>;
  readonly myMailboxes: PublicOf<MyMailboxesRepo>;
  readonly held: PublicOf<HeldRepo>;
  readonly convo: PublicOf<ConvoRepo>;
  /** Mailing-list entity state (only list agents write it). */
  readonly list: PublicOf<ListRepo>;
  /** Forward-secret sessions (core/session.ts). */
  readonly sessions: PublicOf<SessionRepo>;
  /** Replay cache of peeled onion layers. */
  readonly onionTags: PublicOf<OnionTagRepo>;
}
