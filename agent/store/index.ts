/** Public surface of the store: the Store class, its repositories and row types. */
export { Store, MIGRATIONS, SCHEMA_VERSION, translateSqliteError, type StoreOptions } from './db.js';
export { TrustRepo, type TrustEntry, type TrustHow, type TrustState } from './trust.js';
export { CertRepo, type CertRow } from './certs.js';
export { InviteRepo, type InviteRow, type RedeemResult } from './invites.js';
export { InboxRepo, type InboxRow, type InboxListOptions } from './inbox.js';
export { OutboxRepo, OUTBOX_STATES, type OutboxRow, type OutboxState, type OutboxKind, type OutboxListOptions } from './outbox.js';
export { KvRepo } from './kv.js';
export type { CoreStore, PublicOf } from './types.js';
export { MemoryStore } from './memory.js';
export { AddrBookRepo, type AddrBookRow } from './addrbook.js';
export { RelayQueueRepo, type RelayRow, type QueueCount, type RelayRescheduleOptions } from './relayq.js';
export { MailboxRepo, type MailRow, type MailAccount, type MailPutResult } from './mailbox.js';
export { MyMailboxesRepo } from './mymailboxes.js';
export { HeldRepo, type HeldRow } from './held.js';
export { ConvoRepo, MAX_HEADS } from './convo.js';
export {
  ListRepo,
  type ListMember,
  type ListMemberState,
  type ListRole,
  type ListPost,
  type FanoutRow,
  type FanoutState,
  type FanoutCount,
} from './list.js';
export { HASH_BYTES } from './hashes.js';
export { SessionRepo, type SessionRow } from './sessions.js';
export { OnionTagRepo } from './oniontags.js';
