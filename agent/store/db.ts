/**
 * The embedded database: opens the SQLite file, applies pragmas and schema migrations, and
 * owns the repositories (trust, certs, invites, inbox, outbox, kv, addrbook, relayq, mailbox,
 * myMailboxes, held, convo, list). Synchronous API.
 *
 * Why SQLite (better-sqlite3): real transactions (the daemon runs each core event inside one),
 * WAL journaling (durable against a process crash / kill -9 with synchronous=NORMAL), a
 * built-in `PRAGMA integrity_check`, indexed queries for the outbox queue, inbox and logs, and
 * a disk-full condition reported cleanly as SQLITE_FULL instead of a half-written file.
 * better-sqlite3 builds from its bundled SQLite source with node-gyp when no prebuilt binary
 * can be downloaded (package.json `allowScripts` approves its install script), so it does not
 * depend on a system libsqlite3.
 *
 * Schema (version 6). All tables are STRICT; byte columns are BLOB; timestamps are INTEGER
 * milliseconds since the Unix epoch; booleans are INTEGER 0/1. "Hash lists" are the
 * concatenation of 32-byte sha256 hashes, NULL when empty (hashes.ts).
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)
 *     key 'schema_version' = number of migrations applied.
 *
 *   kv(key TEXT PRIMARY KEY, value TEXT NOT NULL)                     -- small settings
 *
 *   trust                                                              -- our trust list
 *     entity      BLOB PRIMARY KEY        entity public key
 *     petname     TEXT NULL UNIQUE        local name, case-sensitive; NULLs allowed many times
 *     how         TEXT NOT NULL           'manual' | 'invite' | 'invited' | 'sent'
 *     added_at    INTEGER NOT NULL
 *     state       TEXT NOT NULL           'active' | 'revoked'
 *     addr        TEXT NULL               last known host:port
 *     updated_at  INTEGER NOT NULL
 *     note        TEXT NULL
 *     INDEX trust_added (added_at)
 *
 *   certs                                                              -- peer agent certs seen (verified)
 *     agent       BLOB PRIMARY KEY        agent public key
 *     entity      BLOB NOT NULL           entity that signed the cert
 *     cert        BLOB NOT NULL           exact certificate bytes
 *     seq         INTEGER NOT NULL        cert sequence number (higher replaces lower)
 *     not_after   INTEGER NOT NULL
 *     seen_at     INTEGER NOT NULL
 *     INDEX certs_entity (entity, seq, not_after)
 *
 *   invites                                                            -- invites we issued
 *     key         BLOB PRIMARY KEY        invite public key (= invite id)
 *     created_at  INTEGER NOT NULL
 *     expires_at  INTEGER NOT NULL        valid while expires_at > now
 *     uses_left   INTEGER NOT NULL CHECK (uses_left >= 0)
 *     uses_total  INTEGER NOT NULL
 *     note        TEXT NULL
 *     INDEX invites_expires (expires_at)
 *
 *   addrbook                                                           -- verified announcements (v2)
 *     entity       BLOB PRIMARY KEY
 *     announcement BLOB NOT NULL          exact announcement bytes
 *     seq          INTEGER NOT NULL
 *     received_at  INTEGER NOT NULL
 *     expires_at   INTEGER NOT NULL
 *     invalid      INTEGER NOT NULL DEFAULT 0
 *     INDEX addrbook_expires (expires_at)
 *
 *   inbox                                                              -- messages delivered to us
 *     seq         INTEGER PRIMARY KEY AUTOINCREMENT   local insertion order, never reused
 *     id          BLOB NOT NULL UNIQUE    message id (dedup: each id stored exactly once)
 *     from_entity BLOB NOT NULL
 *     from_agent  BLOB NOT NULL
 *     received_at INTEGER NOT NULL
 *     sent_at     INTEGER NOT NULL
 *     kind        TEXT NOT NULL           'text' | 'file'
 *     body        BLOB NOT NULL
 *     name        TEXT NULL               file name (kind 'file')
 *     path        TEXT NOT NULL           JSON of the verified path
 *     read        INTEGER NOT NULL DEFAULT 0
 *     hash        BLOB NULL               sha256 of the signed content (v3)
 *     parents     BLOB NULL               hash list: causal parents named by the sender (v3)
 *     gap         BLOB NULL               hash list: parents given up on at delivery (v3)
 *     INDEX inbox_from (from_entity, seq)
 *     INDEX inbox_hash (hash) WHERE hash IS NOT NULL
 *
 *   outbox                                                             -- messages we send
 *     id              BLOB PRIMARY KEY    message id
 *     to_entity       BLOB NOT NULL
 *     created_at      INTEGER NOT NULL
 *     expires_at      INTEGER NOT NULL
 *     state           TEXT NOT NULL       'queued'|'sent'|'relayed'|'delivered'|'read'|'failed'|'expired'
 *     kind            TEXT NOT NULL DEFAULT 'text'   'text'|'file'|'receipt'|'want' (v3)
 *     hash            BLOB NULL           sha256 of the signed content (v3)
 *     envelope        BLOB NOT NULL       encoded Envelope
 *     attempts        INTEGER NOT NULL
 *     next_attempt_at INTEGER NOT NULL
 *     updated_at      INTEGER NOT NULL
 *     error           TEXT NULL
 *     Pending = state IN ('queued','sent','relayed'); done = the other four.
 *     INDEX outbox_created (created_at)
 *     INDEX outbox_due (next_attempt_at, created_at) WHERE pending
 *     INDEX outbox_pending_to (to_entity, created_at) WHERE pending
 *     INDEX outbox_pending_expires (expires_at) WHERE pending
 *     INDEX outbox_done (updated_at) WHERE done
 *     INDEX outbox_hash (hash) WHERE hash IS NOT NULL
 *
 *   held                                                               -- received, waiting for causal parents (v3)
 *     id BLOB PRIMARY KEY; hash BLOB NOT NULL; from_entity, from_agent, received_at, sent_at,
 *     kind, body, name, path as in inbox; parents BLOB NULL (hash list); held_at INTEGER NOT NULL
 *     INDEX held_hash (hash), INDEX held_from (from_entity, held_at), INDEX held_at (held_at)
 *
 *   convo_heads                                                        -- causal DAG heads per peer (v3)
 *     peer BLOB, hash BLOB, added_at INTEGER, PRIMARY KEY (peer, hash)   at most 8 per peer
 *
 *   relayq                                                             -- envelopes in our custody (v3)
 *     id              BLOB PRIMARY KEY    message id
 *     to_entity       BLOB NOT NULL       recipient
 *     wait_for        BLOB NOT NULL       entity whose link/route lets it move
 *     dep             BLOB NULL           mailbox it is being deposited at
 *     prev            BLOB NULL           entity that handed it to us
 *     envelope        BLOB NOT NULL       encoded envelope as received
 *     received_at, expires_at, attempts, next_attempt_at   INTEGER NOT NULL
 *     INDEX relayq_wait (wait_for, received_at), INDEX relayq_to (to_entity, received_at),
 *     INDEX relayq_due (next_attempt_at, received_at), INDEX relayq_expires (expires_at)
 *   relayq_counts(wait_for BLOB PRIMARY KEY, n, bytes)                 -- per wait_for; no row when n = 0
 *   relayq_totals(one = 1 PRIMARY KEY, n, bytes)                       -- single row
 *     Both kept by triggers relayq_count_insert/_delete/_update (AFTER INSERT, AFTER DELETE,
 *     AFTER UPDATE OF wait_for, envelope); bytes = sum of length(envelope).
 *   relayq_journal(seq INTEGER PRIMARY KEY, entries BLOB)              -- hot custody, one row per commit (v7)
 *     entries: msgpack array of [id, to, wait_for, dep, prev, envelope, received_at, expires_at,
 *     attempts, next_attempt_at]; emptied into relayq when the store opens (relayq.ts)
 *   relayq_journal_passed(seq INTEGER PRIMARY KEY, passed BLOB)        -- bit i: entry i released (v7)
 *
 *   mailbox_accounts                                                   -- entities we are a mailbox for (v3)
 *     owner BLOB PRIMARY KEY, ann_seq INTEGER, created_at INTEGER, updated_at INTEGER
 *   mailbox                                                            -- messages stored for them (v3)
 *     seq         INTEGER PRIMARY KEY AUTOINCREMENT
 *     owner       BLOB NOT NULL
 *     id          BLOB NOT NULL           UNIQUE (owner, id)
 *     envelope    BLOB NOT NULL
 *     bytes       INTEGER NOT NULL        length(envelope)
 *     stored_at   INTEGER NOT NULL
 *     expires_at  INTEGER NOT NULL
 *     INDEX mailbox_owner (owner, seq), INDEX mailbox_expires (expires_at)
 *   mailbox_counts(owner BLOB PRIMARY KEY, n, bytes)                   -- per owner; no row when n = 0
 *   mailbox_totals(one = 1 PRIMARY KEY, n, bytes, owners)              -- owners = rows of mailbox_counts
 *     Both kept by triggers mailbox_count_insert/_delete/_update.
 *
 *   my_mailboxes(entity BLOB PRIMARY KEY, added_at INTEGER)            -- our own mailboxes (v3)
 *
 *   Mailing-list entity state (v4; only a list agent writes them, every store has them):
 *   list_members                                                       -- the list's members
 *     entity      BLOB PRIMARY KEY
 *     state       TEXT NOT NULL           'member' | 'pending' | 'banned'
 *     role        TEXT NOT NULL           'owner' | 'member'
 *     joined_at, updated_at   INTEGER NOT NULL
 *     muted_until INTEGER NOT NULL DEFAULT 0   0 = not muted; muted while muted_until > now
 *     note        TEXT NULL               e.g. the reason of a ban or of a subscribe request
 *     INDEX list_members_state (state, entity)           subscribers paging
 *     INDEX list_members_joined (state, joined_at, entity)
 *   list_member_counts(state TEXT PRIMARY KEY, n)                      -- one row per state, always present
 *     Kept by triggers list_member_count_insert/_delete/_update (AFTER UPDATE OF state).
 *   list_posts                                                         -- the post archive
 *     seq         INTEGER PRIMARY KEY AUTOINCREMENT   archive order, never reused
 *     post_id     BLOB NOT NULL UNIQUE    the author's message id
 *     hash        BLOB NOT NULL           sha256 of the author's content bytes
 *     author      BLOB NOT NULL
 *     signed      BLOB NOT NULL           the author's signed content bytes
 *     received_at INTEGER NOT NULL
 *     INDEX list_posts_author (author), INDEX list_posts_hash (hash)   (rowid = seq implied)
 *   list_fanout                                                        -- one copy of a post per subscriber
 *     post_id, subscriber BLOB NOT NULL   PRIMARY KEY (post_id, subscriber)
 *     copy_id     BLOB NOT NULL UNIQUE    message id of the copy
 *     state       TEXT NOT NULL           'waiting' | 'queued'
 *     created_at  INTEGER NOT NULL
 *     INDEX list_fanout_next (state, created_at)   (+ rowid implied: ORDER BY created_at, rowid)
 *     INDEX list_fanout_post (post_id)             (+ rowid implied: a post's rows in insertion order)
 *   list_fanout_counts(post_id BLOB PRIMARY KEY, waiting, queued)     -- per post; no row when both are 0
 *     Kept by triggers list_fanout_count_insert/_delete/_update (AFTER UPDATE OF post_id, state).
 *   list_complaints                                                    -- complaints about authors
 *     author, complainant, post_id BLOB NOT NULL, at INTEGER NOT NULL
 *     PRIMARY KEY (author, complainant, post_id), INDEX list_complaints_author (author, at)
 *
 *   Onion mode and forward-secret sessions (v5):
 *   outbox.onion  INTEGER NULL              relays wanted for an onion message (0..8); NULL = clear mode
 *   sessions                                                           -- Double Ratchet sessions
 *     sid         BLOB PRIMARY KEY        session id (16 bytes)
 *     peer        BLOB NOT NULL           the peer entity
 *     rank        INTEGER NOT NULL        the initiator's setup time: the highest rank per peer is used
 *     state       BLOB NOT NULL           encoded ratchet state (overwritten at every step)
 *     created_at, used_at  INTEGER NOT NULL
 *     INDEX sessions_peer (peer, rank), INDEX sessions_used (used_at)
 *   onion_tags(tag BLOB PRIMARY KEY, expires_at INTEGER NOT NULL)     -- replay cache of peeled layers
 *     INDEX onion_tags_expires (expires_at)
 *
 *   Onion copies of a mailing list (v6):
 *   list_members.onion  INTEGER NOT NULL DEFAULT 0   how the member wants its copies: 0 = clear,
 *                       1..8 = onion mode over that many relays (from its subscribe request)
 *
 * The connection runs with `secure_delete = ON`: deleted and overwritten content is zeroed in
 * the file, so erased session keys do not linger in free pages; `checkpoint()` also truncates
 * the WAL, where old page images would otherwise stay.
 *
 * Migrations: MIGRATIONS[i] takes the schema from version i to i+1, each in its own
 * transaction. A database whose schema_version is newer than MIGRATIONS.length is refused.
 */
import { AddrBookRepo } from './addrbook.js';
import type BetterSqlite3 from 'better-sqlite3';
import { requireCjs } from '../cjs.js';
import * as fs from 'node:fs';
import { WotError } from '../wire/errors.js';
import { TrustRepo } from './trust.js';
import { CertRepo } from './certs.js';
import { InviteRepo } from './invites.js';
import { InboxRepo } from './inbox.js';
import { OutboxRepo } from './outbox.js';
import { KvRepo } from './kv.js';
import { RelayQueueRepo } from './relayq.js';
import { MailboxRepo } from './mailbox.js';
import { MyMailboxesRepo } from './mymailboxes.js';
import { HeldRepo } from './held.js';
import { ConvoRepo } from './convo.js';
import { ListRepo } from './list.js';
import { SessionRepo } from './sessions.js';
import { OnionTagRepo } from './oniontags.js';
import { RollbackHooks } from './rollback.js';

const Database = requireCjs('better-sqlite3') as typeof BetterSqlite3;

/** Ordered schema migrations; index i upgrades version i → i+1. Never edit a shipped entry. */
export const MIGRATIONS: readonly string[] = [
  // 1: initial schema
  `
  CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;

  CREATE TABLE trust (
    entity     BLOB PRIMARY KEY,
    petname    TEXT UNIQUE,
    how        TEXT NOT NULL CHECK (how IN ('manual','invite','invited','sent')),
    added_at   INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('active','revoked')),
    addr       TEXT,
    updated_at INTEGER NOT NULL,
    note       TEXT
  ) STRICT;
  CREATE INDEX trust_added ON trust (added_at);

  CREATE TABLE certs (
    agent     BLOB PRIMARY KEY,
    entity    BLOB NOT NULL,
    cert      BLOB NOT NULL,
    seq       INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    seen_at   INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX certs_entity ON certs (entity, seq, not_after);

  CREATE TABLE invites (
    key        BLOB PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
    uses_total INTEGER NOT NULL,
    note       TEXT
  ) STRICT;
  CREATE INDEX invites_expires ON invites (expires_at);

  CREATE TABLE inbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          BLOB NOT NULL UNIQUE,
    from_entity BLOB NOT NULL,
    from_agent  BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('text','file')),
    body        BLOB NOT NULL,
    name        TEXT,
    path        TEXT NOT NULL,
    read        INTEGER NOT NULL DEFAULT 0 CHECK (read IN (0,1))
  ) STRICT;
  CREATE INDEX inbox_from ON inbox (from_entity, seq);

  CREATE TABLE outbox (
    id              BLOB PRIMARY KEY,
    to_entity       BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued','sent','delivered','read','failed','expired')),
    envelope        BLOB NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    error           TEXT
  ) STRICT;
  CREATE INDEX outbox_created ON outbox (created_at);
  CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state IN ('queued','sent');
  CREATE INDEX outbox_pending_to ON outbox (to_entity, created_at) WHERE state IN ('queued','sent');
  CREATE INDEX outbox_pending_expires ON outbox (expires_at) WHERE state IN ('queued','sent');
  `,
  // 2: address book (verified announcements)
  `
  CREATE TABLE addrbook (
    entity       BLOB PRIMARY KEY,
    announcement BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    invalid      INTEGER NOT NULL DEFAULT 0 CHECK (invalid IN (0,1))
  ) STRICT;
  CREATE INDEX addrbook_expires ON addrbook (expires_at);
  `,
  // 3: store-and-forward. Outbox gains the 'relayed' state, kind and hash (rebuilt: SQLite
  // cannot alter a CHECK); inbox gains hash, parents and gap (rebuilt alike); new tables for
  // held messages, conversation heads, the relay custody queue, mailbox storage and our own
  // mailboxes. Rebuilds copy rowids (outbox ties) and the inbox AUTOINCREMENT high-water mark.
  `
  CREATE TABLE outbox_new (
    id              BLOB PRIMARY KEY,
    to_entity       BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued','sent','relayed','delivered','read','failed','expired')),
    kind            TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text','file','receipt','want')),
    hash            BLOB,
    envelope        BLOB NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    error           TEXT
  ) STRICT;
  INSERT INTO outbox_new (rowid, id, to_entity, created_at, expires_at, state, envelope, attempts, next_attempt_at, updated_at, error)
    SELECT rowid, id, to_entity, created_at, expires_at, state, envelope, attempts, next_attempt_at, updated_at, error
    FROM outbox ORDER BY rowid;
  DROP TABLE outbox;
  ALTER TABLE outbox_new RENAME TO outbox;
  CREATE INDEX outbox_created ON outbox (created_at);
  CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at) WHERE state IN ('queued','sent','relayed');
  CREATE INDEX outbox_pending_to ON outbox (to_entity, created_at) WHERE state IN ('queued','sent','relayed');
  CREATE INDEX outbox_pending_expires ON outbox (expires_at) WHERE state IN ('queued','sent','relayed');
  CREATE INDEX outbox_done ON outbox (updated_at) WHERE state IN ('delivered','read','failed','expired');
  CREATE INDEX outbox_hash ON outbox (hash) WHERE hash IS NOT NULL;

  CREATE TABLE inbox_new (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          BLOB NOT NULL UNIQUE,
    from_entity BLOB NOT NULL,
    from_agent  BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('text','file')),
    body        BLOB NOT NULL,
    name        TEXT,
    path        TEXT NOT NULL,
    read        INTEGER NOT NULL DEFAULT 0 CHECK (read IN (0,1)),
    hash        BLOB,
    parents     BLOB CHECK (parents IS NULL OR (length(parents) > 0 AND length(parents) % 32 = 0)),
    gap         BLOB CHECK (gap IS NULL OR (length(gap) > 0 AND length(gap) % 32 = 0))
  ) STRICT;
  INSERT INTO inbox_new (seq, id, from_entity, from_agent, received_at, sent_at, kind, body, name, path, read)
    SELECT seq, id, from_entity, from_agent, received_at, sent_at, kind, body, name, path, read
    FROM inbox ORDER BY seq;
  -- Keep the old AUTOINCREMENT high-water mark (a seq is never reused, even one whose row is gone).
  DELETE FROM sqlite_sequence WHERE name = 'inbox_new';
  UPDATE sqlite_sequence SET name = 'inbox_new' WHERE name = 'inbox';
  DROP TABLE inbox;
  ALTER TABLE inbox_new RENAME TO inbox;
  CREATE INDEX inbox_from ON inbox (from_entity, seq);
  CREATE INDEX inbox_hash ON inbox (hash) WHERE hash IS NOT NULL;

  CREATE TABLE held (
    id          BLOB PRIMARY KEY,
    hash        BLOB NOT NULL,
    from_entity BLOB NOT NULL,
    from_agent  BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('text','file')),
    body        BLOB NOT NULL,
    name        TEXT,
    path        TEXT NOT NULL,
    parents     BLOB CHECK (parents IS NULL OR (length(parents) > 0 AND length(parents) % 32 = 0)),
    held_at     INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX held_hash ON held (hash);
  CREATE INDEX held_from ON held (from_entity, held_at);
  CREATE INDEX held_at ON held (held_at);

  CREATE TABLE convo_heads (
    peer     BLOB NOT NULL,
    hash     BLOB NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (peer, hash)
  ) STRICT;

  CREATE TABLE relayq (
    id              BLOB PRIMARY KEY,
    to_entity       BLOB NOT NULL,
    wait_for        BLOB NOT NULL,
    dep             BLOB,
    prev            BLOB,
    envelope        BLOB NOT NULL,
    received_at     INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX relayq_wait ON relayq (wait_for, received_at);
  CREATE INDEX relayq_to ON relayq (to_entity, received_at);
  CREATE INDEX relayq_due ON relayq (next_attempt_at, received_at);
  CREATE INDEX relayq_expires ON relayq (expires_at);

  CREATE TABLE relayq_counts (
    wait_for BLOB PRIMARY KEY,
    n        INTEGER NOT NULL CHECK (n >= 0),
    bytes    INTEGER NOT NULL CHECK (bytes >= 0)
  ) STRICT;
  CREATE TABLE relayq_totals (
    one   INTEGER PRIMARY KEY CHECK (one = 1),
    n     INTEGER NOT NULL CHECK (n >= 0),
    bytes INTEGER NOT NULL CHECK (bytes >= 0)
  ) STRICT;
  INSERT INTO relayq_totals (one, n, bytes) VALUES (1, 0, 0);

  CREATE TRIGGER relayq_count_insert AFTER INSERT ON relayq BEGIN
    INSERT INTO relayq_counts (wait_for, n, bytes) VALUES (NEW.wait_for, 1, length(NEW.envelope))
      ON CONFLICT (wait_for) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
    UPDATE relayq_totals SET n = n + 1, bytes = bytes + length(NEW.envelope) WHERE one = 1;
  END;
  CREATE TRIGGER relayq_count_delete AFTER DELETE ON relayq BEGIN
    UPDATE relayq_counts SET n = n - 1, bytes = bytes - length(OLD.envelope) WHERE wait_for = OLD.wait_for;
    DELETE FROM relayq_counts WHERE wait_for = OLD.wait_for AND n = 0;
    UPDATE relayq_totals SET n = n - 1, bytes = bytes - length(OLD.envelope) WHERE one = 1;
  END;
  CREATE TRIGGER relayq_count_update AFTER UPDATE OF wait_for, envelope ON relayq
    WHEN OLD.wait_for IS NOT NEW.wait_for OR length(OLD.envelope) <> length(NEW.envelope)
  BEGIN
    UPDATE relayq_counts SET n = n - 1, bytes = bytes - length(OLD.envelope) WHERE wait_for = OLD.wait_for;
    DELETE FROM relayq_counts WHERE wait_for = OLD.wait_for AND n = 0;
    INSERT INTO relayq_counts (wait_for, n, bytes) VALUES (NEW.wait_for, 1, length(NEW.envelope))
      ON CONFLICT (wait_for) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
    UPDATE relayq_totals SET bytes = bytes - length(OLD.envelope) + length(NEW.envelope) WHERE one = 1;
  END;

  CREATE TABLE mailbox_accounts (
    owner      BLOB PRIMARY KEY,
    ann_seq    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE mailbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    owner      BLOB NOT NULL,
    id         BLOB NOT NULL,
    envelope   BLOB NOT NULL,
    bytes      INTEGER NOT NULL CHECK (bytes >= 0),
    stored_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (owner, id)
  ) STRICT;
  CREATE INDEX mailbox_owner ON mailbox (owner, seq);
  CREATE INDEX mailbox_expires ON mailbox (expires_at);

  CREATE TABLE mailbox_counts (
    owner BLOB PRIMARY KEY,
    n     INTEGER NOT NULL CHECK (n >= 0),
    bytes INTEGER NOT NULL CHECK (bytes >= 0)
  ) STRICT;
  CREATE TABLE mailbox_totals (
    one    INTEGER PRIMARY KEY CHECK (one = 1),
    n      INTEGER NOT NULL CHECK (n >= 0),
    bytes  INTEGER NOT NULL CHECK (bytes >= 0),
    owners INTEGER NOT NULL CHECK (owners >= 0)
  ) STRICT;
  INSERT INTO mailbox_totals (one, n, bytes, owners) VALUES (1, 0, 0, 0);

  CREATE TRIGGER mailbox_count_insert AFTER INSERT ON mailbox BEGIN
    UPDATE mailbox_totals SET owners = owners + 1
      WHERE one = 1 AND NOT EXISTS (SELECT 1 FROM mailbox_counts WHERE owner = NEW.owner);
    INSERT INTO mailbox_counts (owner, n, bytes) VALUES (NEW.owner, 1, NEW.bytes)
      ON CONFLICT (owner) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
    UPDATE mailbox_totals SET n = n + 1, bytes = bytes + NEW.bytes WHERE one = 1;
  END;
  CREATE TRIGGER mailbox_count_delete AFTER DELETE ON mailbox BEGIN
    UPDATE mailbox_counts SET n = n - 1, bytes = bytes - OLD.bytes WHERE owner = OLD.owner;
    UPDATE mailbox_totals SET owners = owners - 1
      WHERE one = 1 AND EXISTS (SELECT 1 FROM mailbox_counts WHERE owner = OLD.owner AND n = 0);
    DELETE FROM mailbox_counts WHERE owner = OLD.owner AND n = 0;
    UPDATE mailbox_totals SET n = n - 1, bytes = bytes - OLD.bytes WHERE one = 1;
  END;
  CREATE TRIGGER mailbox_count_update AFTER UPDATE OF owner, bytes ON mailbox
    WHEN OLD.owner IS NOT NEW.owner OR OLD.bytes <> NEW.bytes
  BEGIN
    UPDATE mailbox_counts SET n = n - 1, bytes = bytes - OLD.bytes WHERE owner = OLD.owner;
    UPDATE mailbox_totals SET owners = owners - 1
      WHERE one = 1 AND EXISTS (SELECT 1 FROM mailbox_counts WHERE owner = OLD.owner AND n = 0);
    DELETE FROM mailbox_counts WHERE owner = OLD.owner AND n = 0;
    UPDATE mailbox_totals SET owners = owners + 1
      WHERE one = 1 AND NOT EXISTS (SELECT 1 FROM mailbox_counts WHERE owner = NEW.owner);
    INSERT INTO mailbox_counts (owner, n, bytes) VALUES (NEW.owner, 1, NEW.bytes)
      ON CONFLICT (owner) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
    UPDATE mailbox_totals SET bytes = bytes - OLD.bytes + NEW.bytes WHERE one = 1;
  END;

  CREATE TABLE my_mailboxes (
    entity   BLOB PRIMARY KEY,
    added_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 4: mailing-list entity state (members, post archive, fan-out, complaints) with
  // per-state member counts and per-post fan-out counts kept by triggers; inbox and held
  // rows gain the post's author (messages that came through a list); the outbox kind CHECK
  // gains the list kinds (rebuilt: SQLite cannot alter a CHECK; rowids kept).
  `
  ALTER TABLE inbox ADD COLUMN author BLOB CHECK (author IS NULL OR length(author) = 32);
  ALTER TABLE held ADD COLUMN author BLOB CHECK (author IS NULL OR length(author) = 32);

  CREATE TABLE outbox_new (
    id              BLOB PRIMARY KEY,
    to_entity       BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued','sent','relayed','delivered','read','failed','expired')),
    kind            TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text','file','receipt','want','post','subscribe','unsubscribe','fetch','notice')),
    hash            BLOB,
    envelope        BLOB NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    error           TEXT
  ) STRICT;
  INSERT INTO outbox_new (rowid, id, to_entity, created_at, expires_at, state, kind, hash, envelope, attempts, next_attempt_at, updated_at, error)
    SELECT rowid, id, to_entity, created_at, expires_at, state, kind, hash, envelope, attempts, next_attempt_at, updated_at, error
    FROM outbox ORDER BY rowid;
  DROP TABLE outbox;
  ALTER TABLE outbox_new RENAME TO outbox;
  CREATE INDEX outbox_created ON outbox (created_at);
  CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at) WHERE state IN ('queued','sent','relayed');
  CREATE INDEX outbox_pending_to ON outbox (to_entity, created_at) WHERE state IN ('queued','sent','relayed');
  CREATE INDEX outbox_pending_expires ON outbox (expires_at) WHERE state IN ('queued','sent','relayed');
  CREATE INDEX outbox_done ON outbox (updated_at) WHERE state IN ('delivered','read','failed','expired');
  CREATE INDEX outbox_hash ON outbox (hash) WHERE hash IS NOT NULL;

  CREATE TABLE list_members (
    entity      BLOB PRIMARY KEY,
    state       TEXT NOT NULL CHECK (state IN ('member','pending','banned')),
    role        TEXT NOT NULL CHECK (role IN ('owner','member')),
    joined_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    muted_until INTEGER NOT NULL DEFAULT 0,
    note        TEXT
  ) STRICT;
  CREATE INDEX list_members_state ON list_members (state, entity);
  CREATE INDEX list_members_joined ON list_members (state, joined_at, entity);

  CREATE TABLE list_member_counts (
    state TEXT PRIMARY KEY CHECK (state IN ('member','pending','banned')),
    n     INTEGER NOT NULL CHECK (n >= 0)
  ) STRICT;
  INSERT INTO list_member_counts (state, n) VALUES ('member', 0), ('pending', 0), ('banned', 0);

  CREATE TRIGGER list_member_count_insert AFTER INSERT ON list_members BEGIN
    UPDATE list_member_counts SET n = n + 1 WHERE state = NEW.state;
  END;
  CREATE TRIGGER list_member_count_delete AFTER DELETE ON list_members BEGIN
    UPDATE list_member_counts SET n = n - 1 WHERE state = OLD.state;
  END;
  CREATE TRIGGER list_member_count_update AFTER UPDATE OF state ON list_members
    WHEN OLD.state IS NOT NEW.state
  BEGIN
    UPDATE list_member_counts SET n = n - 1 WHERE state = OLD.state;
    UPDATE list_member_counts SET n = n + 1 WHERE state = NEW.state;
  END;

  CREATE TABLE list_posts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id     BLOB NOT NULL UNIQUE,
    hash        BLOB NOT NULL,
    author      BLOB NOT NULL,
    signed      BLOB NOT NULL,
    received_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX list_posts_author ON list_posts (author);
  CREATE INDEX list_posts_hash ON list_posts (hash);

  CREATE TABLE list_fanout (
    post_id    BLOB NOT NULL,
    subscriber BLOB NOT NULL,
    copy_id    BLOB NOT NULL UNIQUE,
    state      TEXT NOT NULL CHECK (state IN ('waiting','queued')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (post_id, subscriber)
  ) STRICT;
  -- Every index ends with the rowid: these serve ORDER BY created_at, rowid and ORDER BY rowid.
  CREATE INDEX list_fanout_next ON list_fanout (state, created_at);
  CREATE INDEX list_fanout_post ON list_fanout (post_id);

  CREATE TABLE list_fanout_counts (
    post_id BLOB PRIMARY KEY,
    waiting INTEGER NOT NULL CHECK (waiting >= 0),
    queued  INTEGER NOT NULL CHECK (queued >= 0)
  ) STRICT;

  CREATE TRIGGER list_fanout_count_insert AFTER INSERT ON list_fanout BEGIN
    INSERT INTO list_fanout_counts (post_id, waiting, queued)
      VALUES (NEW.post_id, NEW.state = 'waiting', NEW.state = 'queued')
      ON CONFLICT (post_id) DO UPDATE SET waiting = waiting + excluded.waiting, queued = queued + excluded.queued;
  END;
  CREATE TRIGGER list_fanout_count_delete AFTER DELETE ON list_fanout BEGIN
    UPDATE list_fanout_counts SET waiting = waiting - (OLD.state = 'waiting'), queued = queued - (OLD.state = 'queued')
      WHERE post_id = OLD.post_id;
    DELETE FROM list_fanout_counts WHERE post_id = OLD.post_id AND waiting = 0 AND queued = 0;
  END;
  CREATE TRIGGER list_fanout_count_update AFTER UPDATE OF post_id, state ON list_fanout
    WHEN OLD.post_id IS NOT NEW.post_id OR OLD.state IS NOT NEW.state
  BEGIN
    UPDATE list_fanout_counts SET waiting = waiting - (OLD.state = 'waiting'), queued = queued - (OLD.state = 'queued')
      WHERE post_id = OLD.post_id;
    DELETE FROM list_fanout_counts WHERE post_id = OLD.post_id AND waiting = 0 AND queued = 0;
    INSERT INTO list_fanout_counts (post_id, waiting, queued)
      VALUES (NEW.post_id, NEW.state = 'waiting', NEW.state = 'queued')
      ON CONFLICT (post_id) DO UPDATE SET waiting = waiting + excluded.waiting, queued = queued + excluded.queued;
  END;

  CREATE TABLE list_complaints (
    author      BLOB NOT NULL,
    complainant BLOB NOT NULL,
    post_id     BLOB NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (author, complainant, post_id)
  ) STRICT;
  CREATE INDEX list_complaints_author ON list_complaints (author, at);
  `,
  // 5: onion mode (the outbox remembers how many relays an onion message wants; a replay
  // cache of peeled layers) and forward-secret sessions.
  `
  ALTER TABLE outbox ADD COLUMN onion INTEGER CHECK (onion IS NULL OR (onion >= 0 AND onion <= 8));

  CREATE TABLE sessions (
    sid        BLOB PRIMARY KEY,
    peer       BLOB NOT NULL,
    rank       INTEGER NOT NULL,
    state      BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX sessions_peer ON sessions (peer, rank);
  CREATE INDEX sessions_used ON sessions (used_at);

  CREATE TABLE onion_tags (
    tag        BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX onion_tags_expires ON onion_tags (expires_at);
  `,
  // 6: a list member may ask for its copies in onion mode (relays wanted; 0 = clear mode).
  `
  ALTER TABLE list_members ADD COLUMN onion INTEGER NOT NULL DEFAULT 0 CHECK (onion >= 0 AND onion <= 8);
  `,
  // 7: the relay custody queue's hot part is journaled, one row per commit (relayq.ts).
  `
  CREATE TABLE relayq_journal (
    seq     INTEGER PRIMARY KEY,
    entries BLOB NOT NULL
  ) STRICT;
  CREATE TABLE relayq_journal_passed (
    seq    INTEGER PRIMARY KEY,
    passed BLOB NOT NULL
  ) STRICT;
  `,
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface StoreOptions {
  /** Open read-only: no migrations, no pragma writes, no chmod. The file must exist. */
  readonly?: boolean;
  /** 'normal' (default): durable against process crash; 'full': also against power loss. */
  fsync?: 'normal' | 'full';
  /** Monotonic ms for how long the relay queue's release marks wait (relayq.ts); tests pass a virtual one. */
  mono?: () => number;
}

/** The SQLite error codes we translate into a message a person can act on. */
function sqliteCode(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const code: unknown = (e as Error & { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Turns a disk/corruption SqliteError into a WotError naming the file; passes others through. */
export function translateSqliteError(e: unknown, path: string): unknown {
  if (e instanceof WotError) return e;
  const code = sqliteCode(e);
  if (code === undefined || !code.startsWith('SQLITE_')) return e;
  const msg = (e as Error).message;
  if (code === 'SQLITE_FULL') {
    return new WotError('ERR_DISK_FULL', `database ${path}: disk is full (${msg}); nothing was changed`, 'free some disk space and retry');
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new WotError(
      'ERR_INTERNAL',
      `database ${path} is damaged or not a wotrelay database (${msg})`,
      'restore it from a backup, or move it away to start with an empty database',
    );
  }
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_')) {
    return new WotError('ERR_INTERNAL', `database ${path} is read-only (${msg})`, 'check the file permissions and owner');
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN')) {
    return new WotError('ERR_INTERNAL', `database ${path}: I/O error (${msg})`, 'check the disk and the file permissions');
  }
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) {
    return new WotError('ERR_INTERNAL', `database ${path} is locked by another process (${msg})`, 'is another wotrelay daemon running on the same home?');
  }
  return e;
}

const isMemory = (path: string): boolean => path === ':memory:' || path === '';

/**
 * A fresh in-memory database with every migration applied, as bytes: the first `:memory:`
 * store of a process runs the migrations (~20 ms) and keeps the result; later ones open a copy
 * of it (~0.1 ms). In-memory stores are what tests open by the thousand (a property test
 * opens two per run); the copy is the migrated database itself, so its schema cannot drift
 * from what the migrations make. Files are always migrated in place.
 */
let migratedMemoryImage: Buffer | undefined;

export class Store {
  readonly db: BetterSqlite3.Database;
  readonly path: string;
  readonly readonly: boolean;
  readonly trust: TrustRepo;
  readonly certs: CertRepo;
  readonly invites: InviteRepo;
  readonly inbox: InboxRepo;
  readonly outbox: OutboxRepo;
  readonly kv: KvRepo;
  readonly addrbook: AddrBookRepo;
  readonly relayq: RelayQueueRepo;
  readonly mailbox: MailboxRepo;
  readonly myMailboxes: MyMailboxesRepo;
  readonly held: HeldRepo;
  readonly convo: ConvoRepo;
  readonly list: ListRepo;
  readonly sessions: SessionRepo;
  readonly onionTags: OnionTagRepo;
  private readonly runTx: BetterSqlite3.Transaction<(fn: () => unknown) => unknown>;
  private readonly rollbackHooks = new RollbackHooks();

  private constructor(db: BetterSqlite3.Database, path: string, readonly: boolean, mono?: () => number) {
    this.db = db;
    this.path = path;
    this.readonly = readonly;
    this.trust = new TrustRepo(db);
    this.certs = new CertRepo(db);
    this.invites = new InviteRepo(db);
    this.inbox = new InboxRepo(db);
    this.outbox = new OutboxRepo(db);
    this.kv = new KvRepo(db);
    this.addrbook = new AddrBookRepo(db);
    this.relayq = new RelayQueueRepo(db, { inTx: () => this.rollbackHooks.open, onRollback: (undo) => this.rollbackHooks.add(undo), mono }, readonly);
    this.mailbox = new MailboxRepo(db);
    this.myMailboxes = new MyMailboxesRepo(db);
    this.held = new HeldRepo(db);
    this.convo = new ConvoRepo(db);
    this.list = new ListRepo(db);
    this.sessions = new SessionRepo(db);
    this.onionTags = new OnionTagRepo(db);
    this.runTx = db.transaction((fn: () => unknown) => fn());
  }

  /**
   * Opens (creating if needed, mode 0600) the database at `path` and brings its schema up
   * to date. `:memory:` gives a private in-memory database (tests).
   */
  static open(path: string, opts: StoreOptions = {}): Store {
    const readonly = opts.readonly === true;
    const memory = isMemory(path);
    if (!memory && !readonly) {
      // Create the file ourselves so it never exists with looser permissions.
      try {
        fs.closeSync(fs.openSync(path, 'a', 0o600));
      } catch (e) {
        throw new WotError('ERR_INTERNAL', `cannot create database ${path}: ${(e as Error).message}`, 'check that the directory exists and is writable');
      }
    }
    let db: BetterSqlite3.Database;
    try {
      db = memory && !readonly && migratedMemoryImage ? new Database(migratedMemoryImage) : new Database(path, readonly && !memory ? { readonly: true, fileMustExist: true } : {});
    } catch (e) {
      const t = translateSqliteError(e, path);
      if (t instanceof WotError) throw t;
      throw new WotError('ERR_INTERNAL', `cannot open database ${path}: ${(e as Error).message}`, 'check that the file exists and is readable');
    }
    try {
      if (!memory && !readonly) Store.tightenModes(path);
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      if (!readonly) {
        // Erased session keys must not linger in free pages (core/session.ts).
        db.pragma('secure_delete = ON');
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${opts.fsync === 'full' ? 'FULL' : 'NORMAL'}`);
      }
      Store.migrate(db, path, readonly);
      if (!memory && !readonly) Store.tightenModes(path);
      if (memory && !readonly && !migratedMemoryImage) migratedMemoryImage = db.serialize();
      return new Store(db, path, readonly, opts.mono);
    } catch (e) {
      db.close();
      throw translateSqliteError(e, path);
    }
  }

  /** chmod 0600 the db file and its WAL/SHM companions if they exist. */
  private static tightenModes(path: string): void {
    for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
      try {
        fs.chmodSync(p, 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new WotError('ERR_INTERNAL', `cannot set mode 0600 on ${p}: ${(e as Error).message}`, 'check the file owner');
        }
      }
    }
  }

  /** Reads meta.schema_version (0 for an empty database). */
  private static readVersion(db: BetterSqlite3.Database, path: string): number {
    const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get();
    if (!hasMeta) return 0;
    const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: unknown } | undefined;
    if (!row) return 0;
    const v = typeof row.value === 'string' && /^\d+$/.test(row.value) ? Number(row.value) : NaN;
    if (!Number.isSafeInteger(v)) {
      throw new WotError('ERR_INTERNAL', `database ${path}: meta.schema_version is ${JSON.stringify(row.value)}, not a number`, 'the database is damaged; restore it from a backup');
    }
    return v;
  }

  private static migrate(db: BetterSqlite3.Database, path: string, readonly: boolean): void {
    const version = Store.readVersion(db, path);
    if (version > SCHEMA_VERSION) {
      throw new WotError('ERR_INTERNAL', `database schema version ${version} is newer than this wotrelay supports`, 'upgrade wotrelay');
    }
    if (version === SCHEMA_VERSION) return;
    if (readonly) {
      throw new WotError(
        'ERR_INTERNAL',
        `database ${path} has schema version ${version}, this wotrelay needs ${SCHEMA_VERSION}`,
        'open it read-write once (start the daemon) to upgrade it',
      );
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      const sql = MIGRATIONS[v]!;
      db.transaction(() => {
        db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`);
        db.exec(sql);
        db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(v + 1));
      }).immediate();
    }
  }

  /** The schema version stored in the database. */
  schemaVersion(): number {
    return Store.readVersion(this.db, this.path);
  }

  /**
   * Runs `fn` in one transaction (BEGIN IMMEDIATE; nested calls become savepoints). Commits
   * when fn returns, rolls back when it throws. fn must be synchronous.
   */
  tx<T>(fn: () => T): T {
    try {
      if (this.readonly) return this.rollbackHooks.run(() => this.runTx.deferred(fn) as T);
      if (this.rollbackHooks.open) return this.rollbackHooks.run(() => this.runTx.immediate(fn) as T);
      // The outermost level: the relay queue journals its hot part just before the commit.
      return this.rollbackHooks.run(
        () =>
          this.runTx.immediate(() => {
            const r = fn();
            this.relayq.beforeCommit();
            return r;
          }) as T,
      );
    } catch (e) {
      throw translateSqliteError(e, this.path);
    }
  }

  /**
   * Copies the WAL into the database and truncates it (`wal_checkpoint(TRUNCATE)`), so page
   * images holding overwritten data (old session keys) leave the WAL file too. Returns false
   * when a reader kept part of the WAL (try again later). A no-op on a read-only store.
   * Waiting release marks are committed first, so a checkpoint before close leaves the WAL empty.
   */
  checkpoint(): boolean {
    if (this.readonly || isMemory(this.path)) return true;
    this.writeWaiting();
    const r = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    return r[0]?.busy === 0;
  }

  /** Runs `undo` if the enclosing tx() rolls back (its commit included). */
  onRollback(undo: () => void): void {
    this.rollbackHooks.add(undo);
  }

  /** `PRAGMA integrity_check`: 'ok', or the problems found, one per line. */
  integrityCheck(): string {
    const rows = this.db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    return rows.map((r) => r.integrity_check).join('\n');
  }

  /** Commits what still waits in memory: the relay queue's release marks (relayq.ts). */
  private writeWaiting(): void {
    if (this.relayq.hotStats().marksWaiting > 0) this.tx(() => this.relayq.flushMarks());
  }

  /** Writes what still waits in memory (the relay queue's release marks), then closes (idempotent). */
  close(): void {
    if (!this.db.open) return;
    if (!this.readonly) {
      try {
        this.writeWaiting();
      } catch {
        // Closing anyway: unwritten marks only make the relay hand those envelopes on again.
      }
    }
    this.db.close();
  }
}
