/**
 * The SQLite store: migrations (2 → 3 and 3 → 4 keeping rows, atomically), reopening a file
 * database, refusing a newer schema, exactly-once invite redemption, inbox dedup, outbox
 * queue ordering/expiry and its schema/indexes, the relay queue, mailbox and mailing-list
 * count triggers, the mailing-list constraints and query plans, petname uniqueness, cert seq
 * replacement, transactions, integrity check, file mode 0600 and a clean disk-full error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { Store, MIGRATIONS, SCHEMA_VERSION, type TrustEntry, type OutboxRow, type InboxRow, type RelayRow, type MailRow, type FanoutRow, type ListMember } from '../../agent/store/index.js';
import { WotError } from '../../agent/wire/errors.js';
import { HOT_MAX_BYTES, MARKS_WAIT_MAX, MARKS_WAIT_MS } from '../../agent/store/relayq.js';
import { RollbackHooks } from '../../agent/store/rollback.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'wotrelay-store-test-'));
let dbCounter = 0;
const tmpDb = (): string => path.join(tmpRoot, `db-${++dbCounter}.sqlite`);

test.after(() => {
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

/** 32 bytes filled with `n` (a distinct fake key per n). */
const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const eq = (a: Uint8Array | undefined, b: Uint8Array): boolean =>
  a !== undefined && Buffer.from(a).equals(Buffer.from(b));

function trustEntry(n: number, petname: string | null, addedAt = 1000 + n): TrustEntry {
  return { entity: key(n), petname, how: 'manual', addedAt, state: 'active', addr: null, updatedAt: addedAt, note: null };
}

function outboxRow(n: number, over: Partial<OutboxRow> = {}): OutboxRow {
  return {
    id: key(n),
    to: key(200),
    createdAt: 1000 + n,
    expiresAt: 1_000_000,
    state: 'queued',
    envelope: new Uint8Array([1, 2, 3, n]),
    attempts: 0,
    nextAttemptAt: 0,
    updatedAt: 1000 + n,
    error: null,
    kind: 'text',
    hash: null,
    onion: null,
    ...over,
  };
}

function inboxRow(n: number, over: Partial<Omit<InboxRow, 'seq' | 'read'>> = {}): Omit<InboxRow, 'seq' | 'read'> {
  return {
    id: key(n),
    from: key(100),
    fromAgent: key(101),
    receivedAt: 5000 + n,
    sentAt: 4000 + n,
    kind: 'text',
    body: new TextEncoder().encode(`hello ${n}`),
    name: null,
    path: '[]',
    hash: null,
    parents: [],
    gap: [],
    author: null,
    ...over,
  };
}

function throwsWot(fn: () => unknown, code: string, re?: RegExp): WotError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof WotError, `expected WotError, got ${String(e)}`);
    assert.is(e.code, code);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.unreachable(`expected WotError ${code}`);
  throw new Error('unreachable');
}

test('migrations from empty: a new database gets every table and the current schema_version', () => {
  const s = Store.open(':memory:');
  assert.is(s.schemaVersion(), SCHEMA_VERSION);
  const meta = s.db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string };
  assert.is(meta.value, String(SCHEMA_VERSION));
  const tables = (s.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name);
  for (const t of ['meta', 'kv', 'trust', 'certs', 'invites', 'inbox', 'outbox', 'addrbook', 'held', 'convo_heads', 'relayq', 'relayq_counts', 'relayq_totals', 'mailbox_accounts', 'mailbox', 'mailbox_counts', 'mailbox_totals', 'my_mailboxes',
    'list_members', 'list_member_counts', 'list_posts', 'list_fanout', 'list_fanout_counts', 'list_complaints', 'sessions', 'onion_tags', 'relayq_journal', 'relayq_journal_passed']) {
    assert.ok(tables.includes(t), `table ${t} missing`);
  }
  assert.is(SCHEMA_VERSION, 7);
  assert.is(s.db.pragma('foreign_keys', { simple: true }), 1);
  assert.is(s.db.pragma('busy_timeout', { simple: true }), 5000);
  s.close();
  s.close(); // idempotent
});

test('in-memory stores after the first are copies of a freshly migrated database: the same schema, pragmas, none of another store\'s rows', () => {
  const first = Store.open(':memory:');
  first.trust.upsert(trustEntry(1, 'alice'));
  const second = Store.open(':memory:');
  const third = Store.open(':memory:');
  // What the migrations make from nothing, run here by hand.
  const raw = new Database(':memory:');
  for (const sql of MIGRATIONS) raw.exec(sql);
  const schema = (db: Database.Database): unknown => db.prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name <> 'meta' ORDER BY type, name`).all();
  assert.equal(schema(second.db), schema(raw));
  raw.close();
  assert.is(second.schemaVersion(), SCHEMA_VERSION);
  assert.is(second.trust.list().length, 0, 'no row of the first store');
  assert.is(first.trust.list().length, 1);
  // Each copy is its own database.
  second.trust.upsert(trustEntry(2, 'bob'));
  assert.is(third.trust.list().length, 0);
  assert.is(second.db.pragma('foreign_keys', { simple: true }), 1);
  assert.is(second.db.pragma('secure_delete', { simple: true }), 1);
  for (const s of [first, second, third]) s.close();
});

test('file db uses WAL and synchronous NORMAL, or FULL with fsync: full', () => {
  const p = tmpDb();
  const s = Store.open(p);
  assert.is(s.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.is(s.db.pragma('synchronous', { simple: true }), 1); // NORMAL
  s.close();
  const f = Store.open(p, { fsync: 'full' });
  assert.is(f.db.pragma('synchronous', { simple: true }), 2); // FULL
  f.close();
});

test('reopen keeps data: every repository reads back what was written before close', () => {
  const p = tmpDb();
  const s = Store.open(p);
  s.tx(() => {
    s.trust.upsert({ ...trustEntry(1, 'alice'), addr: '127.0.0.1:7000', note: 'n' });
    s.certs.put({ agent: key(2), entity: key(1), cert: new Uint8Array([9, 9]), seq: 3, notAfter: 99, seenAt: 7 });
    s.invites.create({ key: key(3), createdAt: 1, expiresAt: 10_000, usesLeft: 2, usesTotal: 2, note: 'inv' });
    assert.ok(s.inbox.insert(inboxRow(4, { kind: 'file', name: 'a.txt' })));
    s.outbox.insert(outboxRow(5));
    s.kv.set('listen', '0.0.0.0:7000');
  });
  s.close();

  const r = Store.open(p);
  assert.is(r.schemaVersion(), SCHEMA_VERSION);
  const t = r.trust.get(key(1));
  assert.ok(t);
  assert.ok(eq(t!.entity, key(1)));
  assert.equal({ ...t!, entity: null }, { ...trustEntry(1, 'alice'), addr: '127.0.0.1:7000', note: 'n', entity: null });
  const c = r.certs.get(key(2));
  assert.ok(c && eq(c.cert, new Uint8Array([9, 9])) && c.seq === 3 && c.notAfter === 99 && c.seenAt === 7);
  assert.is(r.invites.get(key(3))?.usesLeft, 2);
  assert.is(r.invites.get(key(3))?.note, 'inv');
  const m = r.inbox.get(key(4));
  assert.ok(m);
  assert.is(m!.kind, 'file');
  assert.is(m!.name, 'a.txt');
  assert.is(m!.read, false);
  assert.is(m!.seq, 1);
  assert.is(new TextDecoder().decode(m!.body), 'hello 4');
  assert.ok(m!.body instanceof Uint8Array);
  const o = r.outbox.get(key(5));
  assert.ok(o && eq(o.envelope, new Uint8Array([1, 2, 3, 5])) && o.state === 'queued' && o.error === null);
  assert.is(r.kv.get('listen'), '0.0.0.0:7000');
  assert.is(r.kv.get('missing'), undefined);
  r.kv.set('listen', '127.0.0.1:1');
  assert.is(r.kv.get('listen'), '127.0.0.1:1');
  r.close();
});

test('newer schema refused: ERR_INTERNAL "schema version N is newer", hint upgrade wotrelay', () => {
  const p = tmpDb();
  Store.open(p).close();
  const raw = new Database(p);
  raw.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(SCHEMA_VERSION + 1));
  raw.close();
  const e = throwsWot(() => Store.open(p), 'ERR_INTERNAL', new RegExp(`schema version ${SCHEMA_VERSION + 1} is newer than this wotrelay supports`));
  assert.is(e.hint, 'upgrade wotrelay');
});

test('readonly open reads an existing db and refuses writes; a missing file is an error', () => {
  const p = tmpDb();
  const w = Store.open(p);
  w.kv.set('a', 'b');
  w.close();
  const r = Store.open(p, { readonly: true });
  assert.is(r.kv.get('a'), 'b');
  assert.throws(() => r.kv.set('a', 'c'));
  r.close();
  throwsWot(() => Store.open(path.join(tmpRoot, 'nope.sqlite'), { readonly: true }), 'ERR_INTERNAL');
  assert.not.ok(fs.existsSync(path.join(tmpRoot, 'nope.sqlite')));
});

test('invite redeem exactly once: two connections redeeming a one-use invite give one ok', () => {
  const p = tmpDb();
  const a = Store.open(p);
  const b = Store.open(p);
  a.invites.create({ key: key(1), createdAt: 0, expiresAt: 10_000, usesLeft: 1, usesTotal: 1, note: null });
  // Both sides have seen the invite as redeemable before either redeems.
  assert.is(a.invites.get(key(1))?.usesLeft, 1);
  assert.is(b.invites.get(key(1))?.usesLeft, 1);
  const results = [a.tx(() => a.invites.redeem(key(1), 5)), b.tx(() => b.invites.redeem(key(1), 5))];
  assert.equal(results.sort(), ['ok', 'used']);
  assert.is(a.invites.get(key(1))?.usesLeft, 0);
  assert.equal(a.invites.list(5), []);
  a.close();
  b.close();
});

test('invite redeem: n uses and m attempts give exactly min(n, m) ok (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 8 }), (uses, attempts) => {
      const s = Store.open(':memory:');
      s.invites.create({ key: key(7), createdAt: 0, expiresAt: 100, usesLeft: uses, usesTotal: uses, note: null });
      let ok = 0;
      for (let i = 0; i < attempts; i++) {
        const r = s.invites.redeem(key(7), 50);
        if (r === 'ok') ok++;
        else assert.is(r, 'used');
      }
      const left = s.invites.get(key(7))!.usesLeft;
      s.close();
      return ok === Math.min(uses, attempts) && left === uses - ok;
    }),
  );
});

test('invite redeem: unknown, expired (expiresAt <= now), used; revoke and purgeExpired', () => {
  const s = Store.open(':memory:');
  s.invites.create({ key: key(1), createdAt: 0, expiresAt: 100, usesLeft: 1, usesTotal: 1, note: null });
  s.invites.create({ key: key(2), createdAt: 1, expiresAt: 200, usesLeft: 3, usesTotal: 3, note: null });
  assert.is(s.invites.redeem(key(9), 50), 'unknown');
  assert.is(s.invites.redeem(key(1), 100), 'expired');
  assert.is(s.invites.get(key(1))?.usesLeft, 1, 'an expired redemption does not use the invite up');
  assert.is(s.invites.redeem(key(1), 99), 'ok');
  assert.is(s.invites.redeem(key(1), 99), 'used');
  assert.equal(s.invites.list(50).map((r) => r.key[0]), [2]);
  assert.ok(s.invites.revoke(key(2)));
  assert.not.ok(s.invites.revoke(key(2)));
  assert.is(s.invites.redeem(key(2), 50), 'unknown');
  s.invites.create({ key: key(3), createdAt: 2, expiresAt: 300, usesLeft: 1, usesTotal: 1, note: null });
  assert.is(s.invites.purgeExpired(100), 1); // key 1 (expiresAt 100)
  assert.ok(s.invites.get(key(3)));
  assert.is(s.invites.get(key(1)), undefined);
  s.close();
});

test('inbox dedup: the same id is stored exactly once and the first copy is kept', () => {
  const s = Store.open(':memory:');
  assert.ok(s.inbox.insert(inboxRow(1)));
  assert.not.ok(s.inbox.insert(inboxRow(1, { body: new Uint8Array([0xff]) })));
  assert.ok(s.inbox.insert(inboxRow(2, { from: key(50) })));
  assert.ok(s.inbox.insert(inboxRow(3)));
  assert.is(s.inbox.count(), 3);
  assert.ok(s.inbox.has(key(1)));
  assert.not.ok(s.inbox.has(key(9)));
  assert.is(new TextDecoder().decode(s.inbox.get(key(1))!.body), 'hello 1');
  const all = s.inbox.list({});
  assert.equal(all.map((r) => r.seq), [1, 2, 3]);
  assert.equal(s.inbox.list({ afterSeq: 1, limit: 1 }).map((r) => r.id[0]), [2]);
  assert.equal(s.inbox.list({ from: key(100) }).map((r) => r.id[0]), [1, 3]);
  assert.equal(s.inbox.list({ from: key(100), afterSeq: 1 }).map((r) => r.id[0]), [3]);
  assert.ok(s.inbox.markRead(key(2)));
  assert.is(s.inbox.get(key(2))!.read, true);
  assert.is(s.inbox.get(key(3))!.read, false);
  assert.not.ok(s.inbox.markRead(key(9)));
  s.close();
});

test('outbox due: only pending rows with nextAttemptAt <= now, ordered by nextAttemptAt then createdAt, limited', () => {
  const s = Store.open(':memory:');
  // Inserted out of createdAt order on purpose.
  s.outbox.insert(outboxRow(3, { createdAt: 30, nextAttemptAt: 10 }));
  s.outbox.insert(outboxRow(1, { createdAt: 10, nextAttemptAt: 100 }));
  s.outbox.insert(outboxRow(2, { createdAt: 20, nextAttemptAt: 50, state: 'sent' }));
  s.outbox.insert(outboxRow(4, { createdAt: 5, nextAttemptAt: 0, state: 'delivered' }));
  s.outbox.insert(outboxRow(5, { createdAt: 15, nextAttemptAt: 101 }));
  assert.equal(s.outbox.due(100, 10).map((r) => r.id[0]), [3, 2, 1]);
  assert.equal(s.outbox.due(100, 2).map((r) => r.id[0]), [3, 2]);
  assert.equal(s.outbox.due(49, 10).map((r) => r.id[0]), [3]);

  assert.ok(s.outbox.scheduleRetry(key(3), 500, 60));
  const r3 = s.outbox.get(key(3))!;
  assert.is(r3.attempts, 1);
  assert.is(r3.nextAttemptAt, 500);
  assert.is(r3.updatedAt, 60);
  assert.equal(s.outbox.due(100, 10).map((r) => r.id[0]), [2, 1]);
  s.close();
});

test('outbox states: setState, pendingFor, countPending, list newest first, expire past expiresAt', () => {
  const s = Store.open(':memory:');
  s.outbox.insert(outboxRow(1, { createdAt: 10, expiresAt: 100 }));
  s.outbox.insert(outboxRow(2, { createdAt: 20, expiresAt: 1000, to: key(201) }));
  s.outbox.insert(outboxRow(3, { createdAt: 30, expiresAt: 1000 }));
  s.outbox.insert(outboxRow(4, { createdAt: 40, expiresAt: 50, state: 'delivered' }));
  assert.is(s.outbox.countPending(), 3);
  assert.ok(s.outbox.setState(key(3), 'failed', 70, 'no route'));
  assert.is(s.outbox.get(key(3))!.error, 'no route');
  assert.is(s.outbox.get(key(3))!.updatedAt, 70);
  assert.not.ok(s.outbox.setState(key(9), 'sent', 70));
  assert.equal(s.outbox.pendingFor(key(200), 10).map((r) => r.id[0]), [1]);
  assert.equal(s.outbox.list({}).map((r) => r.id[0]), [4, 3, 2, 1]);
  assert.equal(s.outbox.list({ states: ['queued', 'failed'], limit: 2 }).map((r) => r.id[0]), [3, 2]);
  assert.equal(s.outbox.list({ states: [] }), []);
  assert.is(s.outbox.expire(100), 1); // only row 1: pending and expiresAt <= 100
  assert.is(s.outbox.get(key(1))!.state, 'expired');
  assert.is(s.outbox.get(key(4))!.state, 'delivered', 'a delivered row never expires');
  assert.is(s.outbox.countPending(), 1);
  s.close();
});

// ---------------------------------------------------------------- schema 3: store-and-forward

/** A file database at schema version 2 (MIGRATIONS.slice(0, 2)), as an older wotrelay left it. */
function v2Db(p: string): Database.Database {
  const raw = new Database(p);
  raw.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`);
  for (const sql of MIGRATIONS.slice(0, 2)) raw.exec(sql);
  raw.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', '2')`).run();
  return raw;
}

const schemaOf = (db: Database.Database): unknown =>
  db.prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`).all();

test('migration 2 → 3 (→ current): outbox and inbox rows survive the rebuild with defaults for the new columns, seq high-water mark and rowid order kept', () => {
  const p = tmpDb();
  const raw = v2Db(p);
  const ins = raw.prepare(
    `INSERT INTO outbox (id, to_entity, created_at, expires_at, state, envelope, attempts, next_attempt_at, updated_at, error)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // Same createdAt and nextAttemptAt: only rowid order tells them apart (inserted 3, 1, 2).
  ins.run(key(3), key(200), 10, 1000, 'queued', Buffer.from([3]), 0, 5, 10, null);
  ins.run(key(1), key(200), 10, 1000, 'sent', Buffer.from([1]), 2, 5, 11, 'timeout');
  ins.run(key(2), key(201), 10, 1000, 'delivered', Buffer.from([2]), 1, 5, 12, null);
  const inb = raw.prepare(
    `INSERT INTO inbox (id, from_entity, from_agent, received_at, sent_at, kind, body, name, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const n of [1, 2, 3]) inb.run(key(n), key(100), key(101), 5000 + n, 4000 + n, n === 2 ? 'file' : 'text', Buffer.from(`hello ${n}`), n === 2 ? 'a.txt' : null, '[]');
  raw.prepare(`UPDATE inbox SET read = 1 WHERE seq = 2`).run();
  raw.prepare(`DELETE FROM inbox WHERE seq = 3`).run(); // high-water mark 3, max(seq) 2
  raw.prepare(`INSERT INTO trust (entity, petname, how, added_at, state, addr, updated_at, note) VALUES (?, 'bob', 'manual', 1, 'active', NULL, 1, NULL)`).run(key(7));
  raw.close();

  const s = Store.open(p);
  assert.is(s.schemaVersion(), SCHEMA_VERSION);
  assert.equal(s.outbox.get(key(1)), {
    ...outboxRow(1, { createdAt: 10, expiresAt: 1000, state: 'sent', attempts: 2, nextAttemptAt: 5, updatedAt: 11, error: 'timeout' }),
    id: Buffer.from(key(1)),
    to: Buffer.from(key(200)),
    envelope: Buffer.from([1]),
  });
  assert.equal([s.outbox.get(key(2))!.kind, s.outbox.get(key(2))!.hash, s.outbox.get(key(2))!.state], ['text', null, 'delivered']);
  assert.equal(s.outbox.due(100, 10).map((r) => r.id[0]), [3, 1], 'rowid order kept');
  assert.equal(s.outbox.list().map((r) => r.id[0]), [2, 1, 3]);
  const m1 = s.inbox.get(key(1))!;
  assert.equal([m1.seq, m1.read, m1.hash, m1.parents, m1.gap, new TextDecoder().decode(m1.body)], [1, false, null, [], [], 'hello 1']);
  const m2 = s.inbox.get(key(2))!;
  assert.equal([m2.seq, m2.read, m2.kind, m2.name], [2, true, 'file', 'a.txt']);
  assert.is(s.inbox.count(), 2);
  assert.ok(s.inbox.insert(inboxRow(4)));
  assert.is(s.inbox.get(key(4))!.seq, 4, 'seq 3 is never reused after the rebuild');
  assert.is(s.trust.get(key(7))!.petname, 'bob');
  // The new columns and states work on the migrated tables.
  assert.ok(s.outbox.setState(key(3), 'relayed', 20));
  s.outbox.insert(outboxRow(5, { kind: 'want', hash: key(55) }));
  assert.is(s.outbox.byHash(key(55))!.kind, 'want');
  assert.equal([s.relayq.totals(), s.mailbox.totals()], [{ n: 0, bytes: 0 }, { n: 0, bytes: 0, owners: 0 }]);
  assert.is(s.integrityCheck(), 'ok');
  assert.equal(s.db.pragma('foreign_key_check'), []);
  // Same schema as a database created by this version (no leftover *_new tables, same indexes and triggers).
  const fresh = Store.open(':memory:');
  assert.equal(schemaOf(s.db), schemaOf(fresh.db));
  fresh.close();
  s.close();

  const again = Store.open(p);
  assert.is(again.schemaVersion(), SCHEMA_VERSION);
  assert.is(again.outbox.get(key(3))!.state, 'relayed');
  assert.is(again.inbox.count(), 3);
  again.close();
});

test('migration 2 → 3 is atomic: when it fails the database stays at version 2 with its rows', () => {
  const p = tmpDb();
  const raw = v2Db(p);
  raw.prepare(
    `INSERT INTO outbox (id, to_entity, created_at, expires_at, state, envelope, attempts, next_attempt_at, updated_at, error)
     VALUES (?, ?, 1, 2, 'queued', x'01', 0, 0, 1, NULL)`,
  ).run(key(1), key(200));
  raw.exec(`CREATE TABLE relayq (x INTEGER) STRICT`); // makes migration 3 fail half-way
  raw.close();
  assert.throws(() => Store.open(p), /relayq already exists/);
  const check = new Database(p);
  assert.is((check.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string }).value, '2');
  assert.is((check.prepare(`SELECT count(*) AS n FROM outbox`).get() as { n: number }).n, 1);
  const tables = (check.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name);
  assert.not.ok(tables.includes('outbox_new'));
  assert.ok(/'sent','delivered'/.test((check.prepare(`SELECT sql FROM sqlite_master WHERE name = 'outbox'`).get() as { sql: string }).sql), 'old outbox definition kept');
  check.close();
});

test('outbox schema: state CHECK allows relayed, kind CHECK refuses unknown kinds; partial indexes cover queued/sent/relayed and serve the queue queries', () => {
  const s = Store.open(':memory:');
  s.outbox.insert(outboxRow(1, { state: 'relayed', kind: 'receipt' }));
  const bad = (() => {
    try {
      s.outbox.insert(outboxRow(2, { kind: 'bogus' as 'text' }));
    } catch (e) {
      return (e as { code?: unknown }).code;
    }
    return undefined;
  })();
  assert.is(bad, 'SQLITE_CONSTRAINT_CHECK');
  const idx = s.db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' AND sql IS NOT NULL`).all() as { name: string; sql: string }[];
  for (const name of ['outbox_due', 'outbox_pending_to', 'outbox_pending_expires']) {
    const i = idx.find((r) => r.name === name);
    assert.ok(i && i.sql.includes(`WHERE state IN ('queued','sent','relayed')`), `${name} uses the new pending set`);
  }
  const plan = (sql: string, ...args: unknown[]): string =>
    (s.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join(' | ');
  const P = `state IN ('queued','sent','relayed')`;
  assert.match(plan(`SELECT * FROM outbox WHERE ${P} AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at, rowid LIMIT 5`, 1), /USING INDEX outbox_due/);
  assert.match(plan(`SELECT * FROM outbox WHERE to_entity = ? AND ${P} AND state IN ('queued','sent') ORDER BY created_at, rowid LIMIT 5`, key(1)), /USING INDEX outbox_pending_to/);
  assert.match(plan(`SELECT count(*) FROM outbox WHERE to_entity = ? AND ${P}`, key(1)), /USING INDEX outbox_pending_to/);
  assert.match(plan(`SELECT 1 FROM outbox WHERE hash = ? LIMIT 1`, key(1)), /INDEX outbox_hash/);
  assert.match(plan(`SELECT 1 FROM inbox WHERE hash = ? LIMIT 1`, key(1)), /INDEX inbox_hash/);
  s.close();
});

/** relayq_counts / relayq_totals next to the same numbers computed from the rows. */
function relayCounts(s: Store): { kept: unknown; computed: unknown } {
  return {
    kept: {
      per: s.db.prepare(`SELECT hex(wait_for) AS w, n, bytes FROM relayq_counts ORDER BY w`).all(),
      totals: s.relayq.totals(),
    },
    computed: {
      per: s.db.prepare(`SELECT hex(wait_for) AS w, count(*) AS n, sum(length(envelope)) AS bytes FROM relayq GROUP BY wait_for ORDER BY w`).all(),
      totals: s.db.prepare(`SELECT count(*) AS n, coalesce(sum(length(envelope)), 0) AS bytes FROM relayq`).get(),
    },
  };
}

function relayRow(n: number, over: Partial<RelayRow> = {}): RelayRow {
  return { id: key(n).subarray(0, 16), to: key(200), waitFor: key(210), dep: null, prev: null, envelope: new Uint8Array(n + 1), receivedAt: n, expiresAt: 1000, attempts: 0, nextAttemptAt: 0, ...over };
}

test('rollback hooks: a level that throws undoes its own (newest first) and what its committed inner levels handed up; a commit drops them; outside a transaction none is kept', () => {
  const h = new RollbackHooks();
  const log: string[] = [];
  h.add(() => log.push('outside'));
  assert.not.ok(h.open);
  // Outermost commit: nothing runs, nothing is left for the next transaction.
  h.run(() => {
    h.add(() => log.push('committed'));
    h.run(() => h.add(() => log.push('committed-inner')));
  });
  assert.equal(log, []);
  // An inner level that throws undoes only its own hooks; the outer one goes on and commits.
  h.run(() => {
    h.add(() => log.push('outer-kept'));
    assert.throws(() =>
      h.run(() => {
        h.add(() => log.push('inner-1'));
        h.add(() => log.push('inner-2'));
        throw new Error('inner');
      }),
    );
  });
  assert.equal(log, ['inner-2', 'inner-1']);
  log.length = 0;
  // The outermost level throws: its hooks and those its committed inner levels (two deep) handed up run, newest first.
  assert.throws(() =>
    h.run(() => {
      h.add(() => log.push('a'));
      h.run(() => {
        h.add(() => log.push('b'));
        h.run(() => h.add(() => log.push('c')));
      });
      h.add(() => log.push('d'));
      throw new Error('outer');
    }),
  );
  assert.equal(log, ['d', 'c', 'b', 'a']);
  assert.not.ok(h.open);
  log.length = 0;
  h.run(() => undefined);
  assert.equal(log, [], 'a later transaction starts with no hooks');
});

test('relayq triggers: counts equal the rows after insert, duplicate, delete, reschedule to another waitFor, expire, raw SQL and rollback', () => {
  const s = Store.open(':memory:');
  const same = (msg: string): void => {
    const c = relayCounts(s);
    assert.equal(c.kept, c.computed, msg);
  };
  same('empty');
  s.relayq.insert(relayRow(1));
  s.relayq.insert(relayRow(2));
  s.relayq.insert(relayRow(3, { waitFor: key(211), expiresAt: 10 }));
  same('after inserts');
  assert.equal([s.relayq.countFor(key(210)), s.relayq.countFor(key(211)), s.relayq.totals()], [{ n: 2, bytes: 5 }, { n: 1, bytes: 4 }, { n: 3, bytes: 9 }]);
  assert.not.ok(s.relayq.insert(relayRow(1, { envelope: new Uint8Array(99) })));
  same('after a duplicate insert');
  assert.is(s.relayq.totals().bytes, 9);
  assert.ok(s.relayq.reschedule(key(2).subarray(0, 16), key(211), 5));
  same('after reschedule to another waitFor');
  assert.equal([s.relayq.countFor(key(210)), s.relayq.countFor(key(211))], [{ n: 1, bytes: 2 }, { n: 2, bytes: 7 }]);
  assert.ok(s.relayq.reschedule(key(1).subarray(0, 16), key(212), 5));
  same('after the last row of a waitFor moved away');
  assert.is((s.db.prepare(`SELECT count(*) AS n FROM relayq_counts WHERE wait_for = ?`).get(key(210)) as { n: number }).n, 0, 'a count row at n = 0 is deleted');
  assert.equal(s.relayq.expire(10, 10).map((id) => id[0]), [3]);
  same('after expire');
  assert.ok(s.relayq.delete(key(2).subarray(0, 16)));
  same('after delete');
  assert.equal(s.relayq.totals(), { n: 1, bytes: 2 });
  s.db.prepare(`UPDATE relayq SET envelope = zeroblob(100)`).run();
  same('after a raw envelope update');
  assert.equal(s.relayq.countFor(key(212)), { n: 1, bytes: 100 });
  assert.throws(() => s.tx(() => {
    s.relayq.insert(relayRow(4, { waitFor: key(213) }));
    s.relayq.delete(key(1).subarray(0, 16));
    throw new Error('boom');
  }), /boom/);
  same('after a rolled back transaction');
  assert.equal(s.relayq.totals(), { n: 1, bytes: 100 });
  s.db.prepare(`DELETE FROM relayq`).run();
  same('after a raw delete');
  assert.equal([s.relayq.totals(), s.relayq.perWaitFor(10)], [{ n: 0, bytes: 0 }, []]);
  s.close();
});

test('relayq triggers: counts equal the rows after any sequence of operations (property)', () => {
  const op = fc.oneof(
    fc.record({ t: fc.constant('insert' as const), id: fc.integer({ min: 0, max: 5 }), wait: fc.integer({ min: 0, max: 2 }), len: fc.integer({ min: 0, max: 6 }), exp: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ t: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ t: fc.constant('reschedule' as const), id: fc.integer({ min: 0, max: 5 }), wait: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ t: fc.constant('expire' as const), now: fc.integer({ min: 0, max: 9 }), limit: fc.integer({ min: 0, max: 3 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30, size: 'max' }), (ops) => {
      const s = Store.open(':memory:');
      try {
        for (const o of ops) {
          const id = 'id' in o ? key(o.id).subarray(0, 16) : key(0);
          if (o.t === 'insert') s.relayq.insert(relayRow(o.id, { waitFor: key(210 + o.wait), envelope: new Uint8Array(o.len), expiresAt: o.exp }));
          else if (o.t === 'delete') s.relayq.delete(id);
          else if (o.t === 'reschedule') s.relayq.reschedule(id, key(210 + o.wait), 1);
          else s.relayq.expire(o.now, o.limit);
          const c = relayCounts(s);
          assert.equal(c.kept, c.computed);
        }
      } finally {
        s.close();
      }
    }),
    { numRuns: 100 },
  );
});

/** mailbox_counts / mailbox_totals next to the same numbers computed from the rows. */
function mailCounts(s: Store): { kept: unknown; computed: unknown } {
  return {
    kept: {
      per: s.db.prepare(`SELECT hex(owner) AS o, n, bytes FROM mailbox_counts ORDER BY o`).all(),
      totals: s.mailbox.totals(),
    },
    computed: {
      per: s.db.prepare(`SELECT hex(owner) AS o, count(*) AS n, sum(length(envelope)) AS bytes FROM mailbox GROUP BY owner ORDER BY o`).all(),
      totals: s.db.prepare(`SELECT count(*) AS n, coalesce(sum(length(envelope)), 0) AS bytes, count(DISTINCT owner) AS owners FROM mailbox`).get(),
    },
  };
}

const mail = (owner: number, id: number, len: number, expiresAt = 1000): Omit<MailRow, 'seq'> =>
  ({ owner: key(owner), id: key(id).subarray(0, 16), envelope: new Uint8Array(len).fill(id), storedAt: 1, expiresAt });

test('mailbox: dedup per (owner, id) also after reopen, per-owner delete isolation, usage and totals kept equal to the rows by triggers', () => {
  const p = tmpDb();
  const s = Store.open(p);
  const same = (msg: string): void => {
    const c = mailCounts(s);
    assert.equal(c.kept, c.computed, msg);
  };
  s.mailbox.setAccount(key(1), 3, 10);
  assert.is(s.mailbox.put(mail(1, 1, 10)), 'stored');
  assert.is(s.mailbox.put(mail(1, 1, 99)), 'duplicate');
  assert.is(s.mailbox.put(mail(2, 1, 20)), 'stored');
  assert.is(s.mailbox.put(mail(1, 2, 30, 50)), 'stored');
  same('after puts');
  assert.equal([s.mailbox.usage(key(1)), s.mailbox.usage(key(2)), s.mailbox.totals()], [{ n: 2, bytes: 40 }, { n: 1, bytes: 20 }, { n: 3, bytes: 60, owners: 2 }]);
  s.close();

  const r = Store.open(p);
  assert.is(r.mailbox.put(mail(1, 1, 5)), 'duplicate', 'dedup survives a reopen');
  assert.equal(r.mailbox.list(key(1), 0, 10).map((m) => [m.seq, m.envelope.length]), [[1, 10], [3, 30]]);
  assert.is(r.mailbox.account(key(1))!.annSeq, 3);
  assert.is(r.mailbox.delete(key(1), [2]), 0, "seq 2 is owner 2's: owner 1 cannot delete it");
  assert.is(r.mailbox.list(key(2), 0, 10).length, 1);
  assert.is(r.mailbox.delete(key(1), [1, 2, 3]), 2);
  assert.equal([r.mailbox.usage(key(1)), r.mailbox.usage(key(2)), r.mailbox.totals()], [{ n: 0, bytes: 0 }, { n: 1, bytes: 20 }, { n: 1, bytes: 20, owners: 1 }]);
  const c = mailCounts(r);
  assert.equal(c.kept, c.computed, 'after delete');
  assert.is(r.mailbox.put(mail(3, 4, 7, 5)), 'stored');
  assert.is(r.mailbox.expire(5), 1);
  const c2 = mailCounts(r);
  assert.equal(c2.kept, c2.computed, 'after expire');
  r.db.prepare(`UPDATE mailbox SET owner = ?`).run(key(4));
  const c3 = mailCounts(r);
  assert.equal(c3.kept, c3.computed, 'after a raw owner update');
  assert.equal([r.mailbox.usage(key(2)), r.mailbox.usage(key(4)), r.mailbox.totals()], [{ n: 0, bytes: 0 }, { n: 1, bytes: 20 }, { n: 1, bytes: 20, owners: 1 }]);
  r.close();
});

test('reopen keeps the store-and-forward tables: relay queue, mailbox accounts, my mailboxes, held messages, conversation heads', () => {
  const p = tmpDb();
  const s = Store.open(p);
  s.tx(() => {
    s.relayq.insert(relayRow(1, { dep: key(230), prev: key(220) }));
    s.mailbox.setAccount(key(5), 9, 100);
    s.myMailboxes.add(key(6), 100);
    s.held.put({ ...inboxRow(2, { hash: key(62), parents: [key(71)] }), hash: key(62), heldAt: 100 });
    s.convo.advance(key(7), key(63), [], 100);
    s.convo.advance(key(7), key(64), [], 101);
  });
  s.close();
  const r = Store.open(p);
  const q = r.relayq.get(key(1).subarray(0, 16))!;
  assert.ok(eq(q.dep!, key(230)) && eq(q.prev!, key(220)) && q.envelope.length === 2);
  assert.equal(r.relayq.totals(), { n: 1, bytes: 2 });
  assert.is(r.mailbox.account(key(5))!.createdAt, 100);
  assert.ok(r.myMailboxes.has(key(6)));
  const h = r.held.get(key(2))!;
  assert.ok(eq(h.hash, key(62)) && h.parents.length === 1 && eq(h.parents[0]!, key(71)) && h.heldAt === 100);
  assert.equal(r.convo.heads(key(7)).map((x) => x[0]), [63, 64]);
  r.close();
});

// ---------------------------------------------------------------- schema 4: mailing lists

/** A file database at schema version `v` (MIGRATIONS.slice(0, v)), as an older wotrelay left it. */
function vNDb(p: string, v: number): Database.Database {
  const raw = new Database(p);
  raw.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`);
  for (const sql of MIGRATIONS.slice(0, v)) raw.exec(sql);
  raw.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(v));
  return raw;
}

const id16 = (n: number): Uint8Array => key(n).subarray(0, 16);

function listMember(n: number, over: Partial<ListMember> = {}): ListMember {
  return { entity: key(n), state: 'member', role: 'member', joinedAt: 100, updatedAt: 100, mutedUntil: 0, note: null, onion: 0, ...over };
}

function fan(post: number, sub: number, copy: number, over: Partial<FanoutRow> = {}): FanoutRow {
  return { postId: id16(post), subscriber: key(sub), copyId: id16(copy), state: 'waiting', createdAt: 100, ...over };
}

const listPost = (n: number, hash = 60 + n) =>
  ({ postId: id16(n), hash: key(hash), author: key(100), signed: new Uint8Array([n, 1, 2]), receivedAt: 1000 + n });

test('migration 3 → 4: a version-3 file keeps its rows and counts, gains the empty mailing-list tables, and matches a fresh schema', () => {
  const p = tmpDb();
  const raw = vNDb(p, 3);
  raw.prepare(`INSERT INTO trust (entity, petname, how, added_at, state, addr, updated_at, note) VALUES (?, 'bob', 'manual', 1, 'active', 'h:1', 2, 'n')`).run(key(7));
  raw.prepare(
    `INSERT INTO outbox (id, to_entity, created_at, expires_at, state, kind, hash, envelope, attempts, next_attempt_at, updated_at, error)
     VALUES (?, ?, 10, 1000, 'relayed', 'file', ?, x'0102', 1, 5, 11, NULL)`,
  ).run(key(1), key(200), key(55));
  const inb = raw.prepare(
    `INSERT INTO inbox (id, from_entity, from_agent, received_at, sent_at, kind, body, name, path, hash, parents) VALUES (?, ?, ?, 1, 1, 'text', ?, NULL, '[]', ?, ?)`,
  );
  inb.run(key(1), key(100), key(101), Buffer.from('one'), key(61), null);
  inb.run(key(2), key(100), key(101), Buffer.from('two'), key(62), Buffer.from(key(61)));
  raw.prepare(`DELETE FROM inbox WHERE id = ?`).run(key(2)); // high-water mark 2
  raw.prepare(
    `INSERT INTO relayq (id, to_entity, wait_for, dep, prev, envelope, received_at, expires_at, attempts, next_attempt_at)
     VALUES (?, ?, ?, NULL, NULL, zeroblob(7), 1, 1000, 0, 0)`,
  ).run(id16(3), key(200), key(210));
  raw.prepare(`INSERT INTO mailbox_accounts (owner, ann_seq, created_at, updated_at) VALUES (?, 4, 1, 1)`).run(key(5));
  raw.prepare(`INSERT INTO mailbox (owner, id, envelope, bytes, stored_at, expires_at) VALUES (?, ?, zeroblob(9), 9, 1, 1000)`).run(key(5), id16(4));
  raw.prepare(`INSERT INTO my_mailboxes (entity, added_at) VALUES (?, 3)`).run(key(6));
  raw.prepare(`INSERT INTO convo_heads (peer, hash, added_at) VALUES (?, ?, 1)`).run(key(8), key(63));
  raw.close();

  const s = Store.open(p);
  assert.is(s.schemaVersion(), SCHEMA_VERSION);
  assert.equal({ ...s.trust.get(key(7))!, entity: null }, { entity: null, petname: 'bob', how: 'manual', addedAt: 1, state: 'active', addr: 'h:1', updatedAt: 2, note: 'n' });
  const o = s.outbox.get(key(1))!;
  assert.equal([o.state, o.kind, eq(o.hash!, key(55)), [...o.envelope]], ['relayed', 'file', true, [1, 2]]);
  assert.equal([s.inbox.count(), s.inbox.get(key(1))!.seq, new TextDecoder().decode(s.inbox.get(key(1))!.body)], [1, 1, 'one']);
  assert.ok(s.inbox.insert(inboxRow(9)));
  assert.is(s.inbox.get(key(9))!.seq, 3, 'the inbox seq high-water mark survives');
  assert.equal([s.relayq.totals(), s.relayq.countFor(key(210))], [{ n: 1, bytes: 7 }, { n: 1, bytes: 7 }]);
  assert.equal([s.mailbox.totals(), s.mailbox.account(key(5))!.annSeq], [{ n: 1, bytes: 9, owners: 1 }, 4]);
  assert.ok(s.myMailboxes.has(key(6)));
  assert.equal(s.convo.heads(key(8)).map((h) => h[0]), [63]);
  // The new tables are empty and work.
  assert.equal([s.list.members(), s.list.recentPosts(10), s.list.nextWaiting(10), s.list.complainants(key(1), 0)], [[], [], [], 0]);
  assert.equal(['member', 'pending', 'banned'].map((st) => s.list.countMembers(st as 'member')), [0, 0, 0]);
  s.list.upsertMember(listMember(1));
  assert.is(s.list.putPost(listPost(1))!.seq, 1);
  assert.is(s.list.addFanout([fan(1, 1, 1)]), 1);
  assert.ok(s.list.addComplaint(key(100), key(1), id16(1), 5));
  assert.is(s.integrityCheck(), 'ok');
  const fresh = Store.open(':memory:');
  assert.equal(schemaOf(s.db), schemaOf(fresh.db), 'same tables, indexes and triggers as a new database');
  fresh.close();
  s.close();

  const again = Store.open(p);
  assert.is(again.schemaVersion(), SCHEMA_VERSION);
  assert.equal([again.list.countMembers('member'), again.list.countFanout(id16(1)), again.list.complainants(key(100), 0)], [1, { waiting: 1, queued: 0 }, 1]);
  assert.is(again.trust.get(key(7))!.petname, 'bob');
  again.close();
});

test('migration 4 → 5 (→ current): outbox rows gain onion = null, sessions and onion_tags exist empty, and the schema matches a fresh one', () => {
  const p = tmpDb();
  const raw = vNDb(p, 4);
  raw.prepare(
    `INSERT INTO outbox (id, to_entity, created_at, expires_at, state, kind, hash, envelope, attempts, next_attempt_at, updated_at, error)
     VALUES (?, ?, 10, 1000, 'queued', 'text', NULL, x'01', 0, 5, 11, NULL)`,
  ).run(key(1), key(200));
  raw.close();
  const s = Store.open(p);
  assert.is(s.schemaVersion(), SCHEMA_VERSION);
  assert.is(s.outbox.get(key(1))!.onion, null);
  s.outbox.insert(outboxRow(2, { onion: 4 }));
  assert.is(s.outbox.get(key(2))!.onion, 4);
  assert.equal([s.sessions.count(), s.onionTags.count()], [0, 0]);
  assert.throws(() => s.outbox.insert(outboxRow(3, { onion: 9 })), /CHECK constraint failed/);
  const fresh = Store.open(':memory:');
  assert.equal(schemaOf(s.db), schemaOf(fresh.db), 'same tables, indexes and triggers as a new database');
  fresh.close();
  s.close();
});

test('migration 5 → 6: list members gain onion = 0 (clear copies), the column refuses counts outside 0..8, and the schema matches a fresh one', () => {
  const p = tmpDb();
  const raw = vNDb(p, 5);
  raw.prepare(`INSERT INTO list_members (entity, state, role, joined_at, updated_at, muted_until, note) VALUES (?, 'member', 'member', 10, 11, 0, NULL)`).run(key(1));
  raw.prepare(`INSERT INTO list_members (entity, state, role, joined_at, updated_at, muted_until, note) VALUES (?, 'pending', 'member', 12, 12, 0, 'hi')`).run(key(2));
  raw.close();
  const s = Store.open(p);
  assert.is(s.schemaVersion(), SCHEMA_VERSION);
  assert.equal(s.list.members().map((m) => [m.entity[0], m.state, m.onion]), [[1, 'member', 0], [2, 'pending', 0]]);
  assert.equal([s.list.countMembers('member'), s.list.countMembers('pending')], [1, 1], 'the counts kept by triggers are intact');
  s.list.upsertMember(listMember(3, { onion: 8 }));
  assert.is(s.list.member(key(3))!.onion, 8);
  assert.throws(() => s.list.upsertMember(listMember(4, { onion: 9 })), /CHECK constraint failed: onion >= 0 AND onion <= 8/);
  assert.throws(() => s.list.upsertMember(listMember(4, { onion: -1 })), /CHECK constraint failed/);
  assert.is(s.list.member(key(4)), undefined);
  const fresh = Store.open(':memory:');
  assert.equal(schemaOf(s.db), schemaOf(fresh.db), 'same tables, indexes and triggers as a new database');
  fresh.close();
  s.close();
});

test('erasure: secure_delete is on, and checkpoint() empties the WAL so an overwritten session state is in no file', () => {
  const p = tmpDb();
  const s = Store.open(p);
  assert.is(s.db.pragma('secure_delete', { simple: true }), 1);
  const secret = new Uint8Array(48).fill(0xa5);
  s.sessions.put({ sid: key(1).subarray(0, 16), peer: key(2), rank: 1, state: secret, createdAt: 1, usedAt: 1 });
  const has = (): boolean => [p, `${p}-wal`].some((f) => fs.existsSync(f) && fs.readFileSync(f).includes(Buffer.from(secret)));
  assert.ok(has(), 'the state is on disk');
  s.sessions.put({ sid: key(1).subarray(0, 16), peer: key(2), rank: 1, state: new Uint8Array(48).fill(0x5a), createdAt: 1, usedAt: 2 });
  assert.ok(has(), 'before a checkpoint the old page image is still in the WAL');
  assert.ok(s.checkpoint());
  assert.is(fs.statSync(`${p}-wal`).size, 0, 'the WAL is truncated');
  assert.not.ok(has(), 'the overwritten state is gone from the database and the WAL');
  s.sessions.delete(key(1).subarray(0, 16));
  s.checkpoint();
  assert.not.ok(fs.readFileSync(p).includes(Buffer.from(new Uint8Array(48).fill(0x5a))), 'a deleted state is zeroed');
  s.close();
});

test('migration 3 → 4 is atomic: when it fails the database stays at version 3 with its rows and no list tables', () => {
  const p = tmpDb();
  const raw = vNDb(p, 3);
  raw.prepare(`INSERT INTO my_mailboxes (entity, added_at) VALUES (?, 3)`).run(key(6));
  raw.exec(`CREATE TABLE list_complaints (x INTEGER) STRICT`); // makes migration 4 fail at its last table
  raw.close();
  assert.throws(() => Store.open(p), /list_complaints already exists/);
  const check = new Database(p);
  assert.is((check.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string }).value, '3');
  assert.is((check.prepare(`SELECT count(*) AS n FROM my_mailboxes`).get() as { n: number }).n, 1);
  const tables = (check.prepare(`SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')`).all() as { name: string }[]).map((r) => r.name);
  assert.equal(tables.filter((t) => t.startsWith('list_')), ['list_complaints']);
  check.close();
});

test('list constraints: enum CHECKs, STRICT blob columns, post_id/copy_id UNIQUE, (post_id, subscriber) and complaint primary keys; a failed addFanout batch writes nothing', () => {
  const s = Store.open(':memory:');
  const code = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (e) {
      return (e as { code?: unknown }).code;
    }
    return undefined;
  };
  assert.is(code(() => s.list.upsertMember(listMember(1, { state: 'left' as 'member' }))), 'SQLITE_CONSTRAINT_CHECK');
  assert.is(code(() => s.list.upsertMember(listMember(1, { role: 'admin' as 'owner' }))), 'SQLITE_CONSTRAINT_CHECK');
  s.list.upsertMember(listMember(1));
  assert.is(code(() => s.list.setState(key(1), 'gone' as 'member', 5)), 'SQLITE_CONSTRAINT_CHECK');
  assert.is(s.list.member(key(1))!.state, 'member');
  assert.is(code(() => s.list.addFanout([fan(1, 1, 1, { state: 'sent' as 'queued' })])), 'SQLITE_CONSTRAINT_CHECK');
  assert.is(code(() => s.db.prepare(`UPDATE list_member_counts SET n = -1 WHERE state = 'banned'`).run()), 'SQLITE_CONSTRAINT_CHECK');
  assert.is(code(() => s.db.prepare(`INSERT INTO list_posts (post_id, hash, author, signed, received_at) VALUES ('text', x'01', x'02', x'03', 1)`).run()), 'SQLITE_CONSTRAINT_DATATYPE');
  assert.is(code(() => s.db.prepare(`INSERT INTO list_members (entity, state, role, joined_at, updated_at) VALUES (x'01', 'member', 'member', 1.5, 1)`).run()), 'SQLITE_CONSTRAINT_DATATYPE');
  assert.is(s.db.prepare(`SELECT muted_until FROM list_members WHERE entity = ?`).pluck().get(key(1)), 0);
  s.db.prepare(`INSERT INTO list_members (entity, state, role, joined_at, updated_at) VALUES (?, 'pending', 'member', 1, 1)`).run(key(2));
  assert.is(s.list.member(key(2))!.mutedUntil, 0, 'muted_until defaults to 0');
  assert.ok(s.list.putPost(listPost(1)));
  assert.is(code(() => s.db.prepare(`INSERT INTO list_posts (post_id, hash, author, signed, received_at) VALUES (?, x'01', x'02', x'03', 1)`).run(id16(1))), 'SQLITE_CONSTRAINT_UNIQUE');
  assert.is(s.list.addFanout([fan(1, 1, 1)]), 1);
  assert.is(code(() => s.db.prepare(`INSERT INTO list_fanout (post_id, subscriber, copy_id, state, created_at) VALUES (?, ?, x'77', 'waiting', 1)`).run(id16(1), key(1))), 'SQLITE_CONSTRAINT_PRIMARYKEY');
  let err: unknown;
  try {
    s.list.addFanout([fan(1, 2, 2), fan(1, 3, 3), fan(1, 4, 1)]);
  } catch (e) {
    err = e;
  }
  assert.equal([(err as { code?: unknown }).code, (err as Error).message], ['SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed: list_fanout.copy_id']);
  assert.equal(s.list.fanoutFor(id16(1)).map((r) => r.copyId[0]), [1], 'the rows before the failing one were rolled back');
  assert.equal(s.list.countFanout(id16(1)), { waiting: 1, queued: 0 });
  assert.ok(s.list.addComplaint(key(1), key(2), id16(1), 5));
  assert.is(code(() => s.db.prepare(`INSERT INTO list_complaints (author, complainant, post_id, at) VALUES (?, ?, ?, 9)`).run(key(1), key(2), id16(1))), 'SQLITE_CONSTRAINT_PRIMARYKEY');
  assert.equal(s.db.pragma('foreign_key_check'), []);
  s.close();
});

test('list posts: the seq AUTOINCREMENT high-water mark survives trimming every post, a rolled back transaction and a reopen', () => {
  const p = tmpDb();
  const s = Store.open(p);
  for (const n of [1, 2, 3]) s.list.putPost(listPost(n));
  assert.is(s.list.trimPosts(0), 3);
  assert.throws(() => s.tx(() => {
    assert.is(s.list.putPost(listPost(4))!.seq, 4);
    throw new Error('boom');
  }), /boom/);
  assert.is(s.list.post(id16(4)), undefined);
  s.close();
  const r = Store.open(p);
  assert.is(r.list.putPost(listPost(5))!.seq, 4, 'a rolled back seq may be given again; a committed one never');
  assert.is(r.list.putPost(listPost(1))!.seq, 5, 'a trimmed post id can be archived again with a new seq');
  assert.equal(r.list.recentPosts(10).map((x) => [x.seq, x.postId[0]]), [[4, 5], [5, 1]]);
  r.close();
});

/** list_member_counts / list_fanout_counts next to the same numbers computed from the rows. */
function listCounts(s: Store): { kept: unknown; computed: unknown } {
  return {
    kept: {
      members: s.db.prepare(`SELECT state, n FROM list_member_counts ORDER BY state`).all(),
      fanout: s.db.prepare(`SELECT hex(post_id) AS p, waiting, queued FROM list_fanout_counts ORDER BY p`).all(),
    },
    computed: {
      members: s.db.prepare(
        `SELECT s.state, (SELECT count(*) FROM list_members m WHERE m.state = s.state) AS n
         FROM (SELECT 'banned' AS state UNION ALL SELECT 'member' UNION ALL SELECT 'pending') s ORDER BY s.state`,
      ).all(),
      fanout: s.db.prepare(
        `SELECT hex(post_id) AS p, sum(state = 'waiting') AS waiting, sum(state = 'queued') AS queued FROM list_fanout GROUP BY post_id ORDER BY p`,
      ).all(),
    },
  };
}

test('list triggers: member and fan-out counts equal the rows after upserts, state changes, removals, fan-out, markQueued, trim, raw SQL and rollback', () => {
  const s = Store.open(':memory:');
  const same = (msg: string): void => {
    const c = listCounts(s);
    assert.equal(c.kept, c.computed, msg);
  };
  same('empty');
  s.list.upsertMember(listMember(1));
  s.list.upsertMember(listMember(2, { state: 'pending' }));
  s.list.upsertMember(listMember(3, { state: 'banned' }));
  s.list.upsertMember(listMember(2, { state: 'member', note: 'approved' }));
  same('after upserts');
  assert.equal([s.list.countMembers('member'), s.list.countMembers('pending'), s.list.countMembers('banned')], [2, 0, 1]);
  s.list.setState(key(1), 'banned', 5, 'spam');
  s.list.setState(key(1), 'banned', 6);
  s.list.setMuted(key(2), 50, 7);
  s.list.removeMember(key(3));
  same('after setState, setMuted, removeMember');
  assert.equal([s.list.countMembers('member'), s.list.countMembers('banned')], [1, 1]);
  for (const n of [1, 2]) s.list.putPost(listPost(n));
  s.list.addFanout([fan(1, 1, 1), fan(1, 2, 2), fan(1, 3, 3, { state: 'queued' }), fan(2, 1, 4), fan(7, 1, 5)]);
  s.list.addFanout([fan(1, 1, 6)]);
  same('after addFanout');
  assert.equal(s.list.countFanout(id16(1)), { waiting: 2, queued: 1 });
  s.list.markQueued([id16(1), id16(3), id16(4)]);
  same('after markQueued');
  assert.equal([s.list.countFanout(id16(1)), s.list.countFanout(id16(2))], [{ waiting: 1, queued: 2 }, { waiting: 0, queued: 1 }]);
  assert.is(s.list.trimPosts(1), 1);
  same('after trimPosts');
  assert.equal([s.list.countFanout(id16(1)), (s.db.prepare(`SELECT count(*) AS n FROM list_fanout_counts WHERE post_id = ?`).get(id16(1)) as { n: number }).n], [{ waiting: 0, queued: 0 }, 0]);
  s.db.prepare(`UPDATE list_fanout SET post_id = ?, state = 'waiting' WHERE copy_id = ?`).run(id16(9), id16(4));
  same('after a raw post_id and state update');
  assert.equal([s.list.countFanout(id16(9)), s.list.countFanout(id16(2)), s.list.countFanout(id16(7))], [{ waiting: 1, queued: 0 }, { waiting: 0, queued: 0 }, { waiting: 1, queued: 0 }]);
  s.db.prepare(`UPDATE list_fanout SET state = 'queued' WHERE copy_id = ?`).run(id16(5));
  same('after a raw state update');
  assert.equal(s.list.countFanout(id16(7)), { waiting: 0, queued: 1 });
  s.db.prepare(`UPDATE list_members SET state = 'pending'`).run();
  same('after a raw member state update');
  assert.throws(() => s.tx(() => {
    s.list.upsertMember(listMember(4));
    s.list.addFanout([fan(3, 1, 8)]);
    s.list.removeMember(key(1));
    throw new Error('boom');
  }), /boom/);
  same('after a rolled back transaction');
  assert.equal([s.list.countMembers('pending'), s.list.countMembers('member'), s.list.countFanout(id16(3))], [2, 0, { waiting: 0, queued: 0 }]);
  s.db.prepare(`DELETE FROM list_fanout`).run();
  s.db.prepare(`DELETE FROM list_members`).run();
  same('after raw deletes');
  assert.equal(s.db.prepare(`SELECT count(*) AS n FROM list_fanout_counts`).get(), { n: 0 });
  s.close();
});

test('list triggers: counts equal the rows after any sequence of operations (property)', () => {
  const st = fc.constantFrom<'member' | 'pending' | 'banned'>('member', 'pending', 'banned');
  const op = fc.oneof(
    fc.record({ t: fc.constant('upsert' as const), e: fc.integer({ min: 0, max: 4 }), state: st }),
    fc.record({ t: fc.constant('setState' as const), e: fc.integer({ min: 0, max: 4 }), state: st }),
    fc.record({ t: fc.constant('remove' as const), e: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ t: fc.constant('post' as const), id: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ t: fc.constant('fanout' as const), post: fc.integer({ min: 0, max: 4 }), sub: fc.integer({ min: 0, max: 3 }), copy: fc.integer({ min: 0, max: 12 }), queued: fc.boolean() }),
    fc.record({ t: fc.constant('markQueued' as const), copy: fc.integer({ min: 0, max: 12 }) }),
    fc.record({ t: fc.constant('trim' as const), keep: fc.integer({ min: 0, max: 3 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30, size: 'max' }), (ops) => {
      const s = Store.open(':memory:');
      try {
        for (const o of ops) {
          if (o.t === 'upsert') s.list.upsertMember(listMember(o.e, { state: o.state }));
          else if (o.t === 'setState') s.list.setState(key(o.e), o.state, 1);
          else if (o.t === 'remove') s.list.removeMember(key(o.e));
          else if (o.t === 'post') s.list.putPost(listPost(o.id));
          else if (o.t === 'fanout') {
            try {
              s.list.addFanout([fan(o.post, o.sub, o.copy, { state: o.queued ? 'queued' : 'waiting' })]);
            } catch { /* a copy id taken by another pair */ }
          } else if (o.t === 'markQueued') s.list.markQueued([id16(o.copy)]);
          else s.list.trimPosts(o.keep);
          const c = listCounts(s);
          assert.equal(c.kept, c.computed);
        }
      } finally {
        s.close();
      }
    }),
    { numRuns: 100 },
  );
});

test('list queries use their indexes: subscribers, members by state, nextWaiting and fanoutFor need no sort; postByHash, fanoutByCopy, complainants are index searches', () => {
  const s = Store.open(':memory:');
  const plan = (sql: string, ...args: unknown[]): string =>
    (s.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join(' | ');
  const noSort = (p: string, idx: RegExp, what: string): void => {
    assert.match(p, idx, what);
    assert.not.match(p, /TEMP B-TREE/, `${what}: ${p}`);
  };
  noSort(plan(`SELECT entity FROM list_members WHERE state = 'member' AND entity > ? ORDER BY entity LIMIT ?`, key(1), 10), /INDEX list_members_state/, 'subscribers');
  noSort(plan(`SELECT entity FROM list_members WHERE state = 'member' ORDER BY entity LIMIT ?`, 10), /INDEX list_members_state/, 'subscribers from the start');
  noSort(plan(`SELECT * FROM list_members WHERE state = ? ORDER BY joined_at, entity LIMIT ?`, 'pending', 10), /INDEX list_members_joined/, 'members(state)');
  noSort(plan(`SELECT * FROM list_fanout WHERE state = 'waiting' ORDER BY created_at, rowid LIMIT ?`, 10), /INDEX list_fanout_next/, 'nextWaiting');
  noSort(plan(`SELECT * FROM list_fanout WHERE post_id = ? ORDER BY rowid LIMIT ?`, id16(1), 10), /INDEX list_fanout_post/, 'fanoutFor');
  noSort(plan(`SELECT * FROM list_posts WHERE hash = ? ORDER BY seq LIMIT 1`, key(1)), /INDEX list_posts_hash/, 'postByHash');
  assert.match(plan(`SELECT * FROM list_fanout WHERE copy_id = ?`, id16(1)), /USING INDEX sqlite_autoindex_list_fanout/);
  assert.match(plan(`SELECT count(DISTINCT complainant) FROM list_complaints WHERE author = ? AND at >= ?`, key(1), 0), /INDEX list_complaints_author \(author=\? AND at>\?\)/);
  assert.match(plan(`SELECT * FROM list_posts WHERE author = ?`, key(1)), /INDEX list_posts_author/);
  s.close();
});

test('petname uniqueness: duplicate petname is ERR_BAD_REQUEST, case-sensitive, many nulls allowed', () => {
  const s = Store.open(':memory:');
  s.trust.upsert(trustEntry(1, 'alice'));
  const e = throwsWot(() => s.trust.upsert(trustEntry(2, 'alice')), 'ERR_BAD_REQUEST', /petname "alice" is already used by/);
  assert.ok(e.hint);
  assert.is(s.trust.get(key(2)), undefined);
  s.trust.upsert(trustEntry(2, 'Alice'));
  s.trust.upsert(trustEntry(3, null));
  s.trust.upsert(trustEntry(4, null));
  assert.ok(eq(s.trust.byPetname('Alice')?.entity, key(2)));
  assert.ok(eq(s.trust.byPetname('alice')?.entity, key(1)));
  throwsWot(() => s.trust.setPetname(key(3), 'alice', 9), 'ERR_BAD_REQUEST', /petname "alice"/);
  assert.is(s.trust.get(key(3))!.petname, null);
  // Renaming an entry to its own name, or clearing it, is fine.
  assert.ok(s.trust.setPetname(key(1), 'alice', 9));
  assert.ok(s.trust.setPetname(key(1), null, 10));
  assert.ok(s.trust.setPetname(key(3), 'alice', 11));
  assert.not.ok(s.trust.setPetname(key(9), 'zed', 11));
  s.close();
});

test('trust: list ordered by addedAt, setState/isTrusted, setAddr, upsert replaces', () => {
  const s = Store.open(':memory:');
  s.trust.upsert(trustEntry(1, 'a', 300));
  s.trust.upsert(trustEntry(2, 'b', 100));
  s.trust.upsert(trustEntry(3, 'c', 200));
  assert.equal(s.trust.list().map((t) => t.entity[0]), [2, 3, 1]);
  assert.ok(s.trust.isTrusted(key(1)));
  assert.ok(s.trust.setState(key(1), 'revoked', 400));
  assert.not.ok(s.trust.isTrusted(key(1)));
  assert.not.ok(s.trust.isTrusted(key(9)));
  assert.not.ok(s.trust.setState(key(9), 'revoked', 400));
  assert.ok(s.trust.setAddr(key(2), '10.0.0.1:1', 500));
  assert.is(s.trust.get(key(2))!.addr, '10.0.0.1:1');
  assert.is(s.trust.get(key(2))!.updatedAt, 500);
  s.trust.upsert({ ...trustEntry(2, 'bee', 100), how: 'invite', state: 'active' });
  assert.is(s.trust.get(key(2))!.petname, 'bee');
  assert.is(s.trust.get(key(2))!.how, 'invite');
  assert.is(s.trust.list().length, 3);
  s.close();
});

test('certs: higher seq replaces, lower seq ignored, same seq replaces; latestForEntity', () => {
  const s = Store.open(':memory:');
  const row = (agent: number, seq: number, notAfter: number, b: number) =>
    ({ agent: key(agent), entity: key(1), cert: new Uint8Array([b]), seq, notAfter, seenAt: 1 });
  assert.ok(s.certs.put(row(10, 2, 100, 1)));
  assert.not.ok(s.certs.put(row(10, 1, 999, 2)));
  assert.is(s.certs.get(key(10))!.cert[0], 1);
  assert.ok(s.certs.put(row(10, 2, 150, 3)));
  assert.is(s.certs.get(key(10))!.cert[0], 3);
  assert.ok(s.certs.put(row(11, 2, 200, 4)));
  assert.ok(eq(s.certs.latestForEntity(key(1))?.agent, key(11)), 'same seq: latest notAfter wins');
  assert.ok(s.certs.put(row(12, 3, 50, 5)));
  assert.ok(eq(s.certs.latestForEntity(key(1))?.agent, key(12)), 'highest seq wins');
  assert.is(s.certs.latestForEntity(key(2)), undefined);
  s.close();
});

test('tx: commits on return, rolls back everything on throw, nests', () => {
  const s = Store.open(':memory:');
  assert.is(s.tx(() => { s.kv.set('a', '1'); return 42; }), 42);
  assert.throws(() =>
    s.tx(() => {
      s.kv.set('a', '2');
      s.inbox.insert(inboxRow(1));
      throw new Error('boom');
    }),
  /boom/);
  assert.is(s.kv.get('a'), '1');
  assert.is(s.inbox.count(), 0);
  s.tx(() => {
    s.kv.set('b', '1');
    try {
      s.tx(() => { s.kv.set('b', '2'); throw new Error('inner'); });
    } catch { /* inner rolled back to its savepoint */ }
  });
  assert.is(s.kv.get('b'), '1');
  s.close();
});

test('integrityCheck returns ok on a fresh and on a used database', () => {
  const s = Store.open(tmpDb());
  assert.is(s.integrityCheck(), 'ok');
  for (let i = 0; i < 50; i++) s.inbox.insert(inboxRow(i));
  assert.is(s.integrityCheck(), 'ok');
  s.close();
});

test('db file mode 0600: new file, WAL file, and a pre-existing 0644 file are tightened', () => {
  const p = tmpDb();
  const s = Store.open(p);
  s.kv.set('x', 'y'); // makes the WAL file exist
  const mode = (f: string) => fs.statSync(f).mode & 0o777;
  assert.is(mode(p), 0o600);
  assert.ok(fs.existsSync(`${p}-wal`));
  assert.is(mode(`${p}-wal`), 0o600);
  s.close();
  fs.chmodSync(p, 0o644);
  Store.open(p).close();
  assert.is(mode(p), 0o600);
});

test('disk full is reported as a WotError naming the file, and the transaction rolls back', () => {
  const p = tmpDb();
  const s = Store.open(p);
  const pages = s.db.pragma('page_count', { simple: true }) as number;
  s.db.pragma(`max_page_count = ${pages + 2}`);
  const e = throwsWot(
    () => s.tx(() => { s.inbox.insert(inboxRow(1, { body: new Uint8Array(1 << 20) })); }),
    'ERR_DISK_FULL',
    /disk is full/,
  );
  assert.ok(e.message.includes(p));
  assert.is(s.inbox.count(), 0);
  s.close();
});

// ---------------------------------------------------------------- relay custody: hot part and journal

const journalRows = (s: Store): number => (s.db.prepare(`SELECT count(*) AS n FROM relayq_journal`).get() as { n: number }).n;
const coldRows = (s: Store): number => (s.db.prepare(`SELECT count(*) AS n FROM relayq`).get() as { n: number }).n;
const passedRows = (s: Store): number => (s.db.prepare(`SELECT count(*) AS n FROM relayq_journal_passed`).get() as { n: number }).n;

test('relayq hot part: envelopes taken in one transaction are one journal row, not rows; released ones set their bits; the row goes with the last', () => {
  const s = Store.open(tmpDb());
  s.tx(() => {
    for (let i = 1; i <= 5; i++) s.tx(() => assert.ok(s.relayq.insert(relayRow(i))));
    assert.not.ok(s.relayq.insert(relayRow(3)), 'a second insert of an id queued (hot) is refused');
  });
  assert.equal([coldRows(s), journalRows(s)], [0, 1], 'five envelopes: no relayq row, one journal row');
  assert.equal([s.relayq.totals(), s.relayq.countFor(key(210)).n, s.relayq.has(id16(2)), s.relayq.get(id16(4))!.envelope.length], [{ n: 5, bytes: 2 + 3 + 4 + 5 + 6 }, 5, true, 5]);
  assert.equal(s.relayq.list(Infinity).map((r) => r.receivedAt), [1, 2, 3, 4, 5]);
  // Forwarded (not counted as an attempt): stays hot.
  s.tx(() => assert.ok(s.relayq.reschedule(id16(1), key(211), 500, { countAttempt: false })));
  assert.equal([coldRows(s), s.relayq.countFor(key(211)).n, s.relayq.get(id16(1))!.nextAttemptAt], [0, 1, 500]);
  s.tx(() => {
    assert.ok(s.relayq.delete(id16(1)));
    assert.ok(s.relayq.delete(id16(2)));
  });
  assert.equal([passedRows(s), s.relayq.hotStats().marksWaiting], [0, 2], 'a commit that writes nothing else leaves the marks waiting');
  // Starting to wait (an attempt counted): a cold row with everything the envelope had; that
  // commit writes anyway, so the waiting marks go with it.
  s.tx(() => assert.ok(s.relayq.reschedule(id16(3), key(212), 900, { dep: key(230) })));
  const bits = s.db.prepare(`SELECT passed FROM relayq_journal_passed`).get() as { passed: Buffer };
  assert.equal([[...bits.passed], s.relayq.hotStats().marksWaiting], [[0b111], 0], 'entries 0, 1 (released) and 2 (now a cold row) marked');
  assert.equal([coldRows(s), s.relayq.get(id16(3))!.attempts, s.relayq.get(id16(3))!.nextAttemptAt, [...s.relayq.get(id16(3))!.dep!].length], [1, 1, 900, 32]);
  s.tx(() => {
    s.relayq.delete(id16(4));
    s.relayq.delete(id16(5));
  });
  assert.equal(journalRows(s), 1, 'the last releases wait too');
  assert.ok(s.checkpoint());
  assert.equal([journalRows(s), fs.statSync(`${s.path}-wal`).size], [0, 0], 'a checkpoint commits them first: the WAL it leaves is empty');
  s.close();
  const again = Store.open(s.path);
  assert.equal([journalRows(again), passedRows(again)], [0, 0], 'close wrote them: all released, the journal row and its bits are gone');
  assert.equal(again.relayq.totals(), { n: 1, bytes: 4 });
  again.close();
});

test('relayq hot part: a savepoint or transaction that rolls back takes its inserts, releases and reschedules back, in memory and in the journal', () => {
  const s = Store.open(tmpDb());
  s.tx(() => {
    s.relayq.insert(relayRow(1));
    try {
      s.tx(() => {
        s.relayq.insert(relayRow(2));
        throw new Error('boom');
      });
    } catch {
      /* the savepoint rolled back */
    }
  });
  assert.equal([s.relayq.has(id16(1)), s.relayq.has(id16(2)), s.relayq.totals().n], [true, false, 1]);
  assert.throws(() =>
    s.tx(() => {
      s.relayq.delete(id16(1));
      s.relayq.insert(relayRow(3));
      throw new Error('boom');
    }),
  );
  assert.equal([s.relayq.has(id16(1)), s.relayq.has(id16(3)), s.relayq.totals().n], [true, false, 1]);
  assert.throws(() =>
    s.tx(() => {
      s.relayq.reschedule(id16(1), key(219), 77, { countAttempt: false });
      throw new Error('boom');
    }),
  );
  assert.equal([s.relayq.get(id16(1))!.nextAttemptAt, s.relayq.countFor(key(210)).n], [0, 1]);
  s.close();
  // The journal agrees: reopened, the one envelope that was committed is there.
  const again = Store.open(s.path);
  assert.equal(again.relayq.list(Infinity).map((r) => r.receivedAt), [1]);
  again.close();
});

test('relayq hot part after a crash: reopening turns what was not released into cold rows due at once and empties the journal', () => {
  const p = tmpDb();
  const s = Store.open(p);
  s.tx(() => {
    for (let i = 1; i <= 20; i++) s.relayq.insert(relayRow(i, { nextAttemptAt: 100 + i, prev: key(220) }));
  });
  s.tx(() => {
    for (let i = 1; i <= 20; i += 2) s.relayq.delete(id16(i));
  });
  s.tx(() => s.relayq.insert(relayRow(30))); // writes anyway: the ten marks go with it
  // A crash: the process ends without closing; a second connection sees what was committed.
  const after = Store.open(p);
  assert.equal([journalRows(after), coldRows(after)], [0, 11], 'ten unreleased of the first twenty and the last one');
  const rows = after.relayq.list(Infinity);
  assert.equal(rows.map((r) => r.receivedAt), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 30]);
  assert.ok(rows.every((r) => r.nextAttemptAt <= r.receivedAt), 'due at once');
  assert.equal([[...rows[0]!.prev!][0], rows[0]!.envelope.length, after.relayq.totals().n], [220, 3, 11]);
  assert.equal(after.integrityCheck(), 'ok');
  after.close();
  s.close();
});

test('relayq release marks wait for a commit that writes anyway, at most MARKS_WAIT_MS and MARKS_WAIT_MAX; a rollback keeps them waiting', () => {
  let now = 0;
  // More envelopes than key() has distinct ids: ids numbered in two bytes.
  const wide = (i: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, b) => (b < 2 ? (i >> (8 * b)) & 0xff : 7));
  const s = Store.open(tmpDb(), { mono: () => now });
  const changes = s.db.prepare(`SELECT total_changes()`).pluck();
  const n = MARKS_WAIT_MAX + 10;
  s.tx(() => {
    for (let i = 1; i <= n; i++) s.relayq.insert(relayRow(i & 0x7f, { id: wide(i), receivedAt: i }));
  });
  // Turns of HOLDs, one release each: nothing is written (not even a statement's change).
  const before = changes.get();
  for (let i = 1; i <= 3; i++) s.tx(() => s.relayq.delete(wide(i)));
  assert.equal([changes.get(), s.relayq.hotStats().marksWaiting, passedRows(s)], [before, 3, 0]);
  // A commit that writes something else, in any table, takes them.
  s.tx(() => s.kv.set('x', '1'));
  assert.equal([s.relayq.hotStats().marksWaiting, passedRows(s)], [0, 1]);
  // Time: the first commit after MARKS_WAIT_MS (the daemon's tick) writes them.
  s.tx(() => s.relayq.delete(wide(4)));
  now += MARKS_WAIT_MS - 1;
  s.tx(() => {});
  assert.equal(s.relayq.hotStats().marksWaiting, 1, 'not yet');
  now += 1;
  s.tx(() => {});
  assert.equal(s.relayq.hotStats().marksWaiting, 0, 'waited MARKS_WAIT_MS: written by an empty commit');
  // Count: at MARKS_WAIT_MAX waiting, the commit writes them.
  for (let i = 5; i < 5 + MARKS_WAIT_MAX - 1; i++) s.tx(() => s.relayq.delete(wide(i)));
  assert.equal(s.relayq.hotStats().marksWaiting, MARKS_WAIT_MAX - 1);
  s.tx(() => s.relayq.delete(wide(5 + MARKS_WAIT_MAX - 1)));
  assert.equal(s.relayq.hotStats().marksWaiting, 0, 'MARKS_WAIT_MAX waiting: written');
  // A transaction that rolls back after the marks were written leaves them waiting, unwritten.
  const first = 5 + MARKS_WAIT_MAX;
  s.tx(() => s.relayq.delete(wide(first)));
  const bits = (): number[] => [...(s.db.prepare(`SELECT passed FROM relayq_journal_passed`).get() as { passed: Buffer }).passed];
  const written = bits();
  assert.throws(() =>
    s.tx(() => {
      s.relayq.delete(wide(first + 1));
      s.kv.set('y', '2');
      s.relayq.beforeCommit(); // what the commit writes, then a failure before it is durable
      throw new Error('boom');
    }),
  );
  assert.equal([bits(), s.relayq.hotStats().marksWaiting, s.relayq.has(wide(first + 1))], [written, 1, true]);
  s.close();
});

test('relayq after a crash with marks waiting: at most the waiting envelopes come back (to be handed on again, dropped by id downstream)', () => {
  const p = tmpDb();
  const s = Store.open(p, { mono: () => 0 }); // a clock that stands still: only a writing commit takes marks
  s.tx(() => {
    for (let i = 1; i <= 20; i++) s.relayq.insert(relayRow(i));
  });
  s.tx(() => {
    for (let i = 1; i <= 10; i++) s.relayq.delete(id16(i));
  });
  s.tx(() => s.relayq.insert(relayRow(30))); // writes anyway: marks 1..10 are durable
  for (let i = 11; i <= 15; i++) s.tx(() => s.relayq.delete(id16(i))); // five marks waiting
  assert.equal(s.relayq.hotStats().marksWaiting, 5);
  // A crash: the process ends without closing; a second connection sees what was committed.
  const after = Store.open(p);
  const back = after.relayq.list(Infinity).map((r) => r.receivedAt);
  assert.equal(back, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 30], 'the five released with their marks waiting come back, nothing accepted is lost');
  after.close();
  s.close();
});

test('relayq hot part: outside a transaction everything is a cold row; the hot part is bounded, then cold rows take the rest', () => {
  const s = Store.open(tmpDb());
  assert.ok(s.relayq.insert(relayRow(1)));
  assert.equal([coldRows(s), journalRows(s)], [1, 0]);
  const big = new Uint8Array(HOT_MAX_BYTES / 2 + 1);
  s.tx(() => {
    s.relayq.insert(relayRow(2, { envelope: big }));
    s.relayq.insert(relayRow(3, { envelope: big })); // would pass HOT_MAX_BYTES
  });
  assert.equal([coldRows(s), s.relayq.totals().n, s.relayq.get(id16(3))!.envelope.length], [2, 3, big.length]);
  s.close();
});

test('relayq counts read inside a transaction follow its own writes (hot and cold) and its rollback', () => {
  const s = Store.open(tmpDb());
  s.relayq.insert(relayRow(1)); // outside a transaction: a cold row
  s.tx(() => {
    assert.equal(s.relayq.totals(), { n: 1, bytes: 2 });
    assert.not.ok(s.relayq.has(id16(2)));
    assert.ok(s.relayq.insert(relayRow(2)), 'the id has() found absent is taken (hot)');
    assert.not.ok(s.relayq.insert(relayRow(1)), 'a cold id is still refused');
    assert.equal([s.relayq.totals(), s.relayq.countFor(key(210))], [{ n: 2, bytes: 5 }, { n: 2, bytes: 5 }]);
    s.relayq.reschedule(id16(2), key(211), 50); // starts to wait: a cold row now
    assert.equal([s.relayq.totals(), s.relayq.countFor(key(210)), s.relayq.countFor(key(211))], [{ n: 2, bytes: 5 }, { n: 1, bytes: 2 }, { n: 1, bytes: 3 }]);
    s.relayq.delete(id16(1));
    assert.equal([s.relayq.totals(), s.relayq.countFor(key(210))], [{ n: 1, bytes: 3 }, { n: 0, bytes: 0 }]);
  });
  assert.throws(() =>
    s.tx(() => {
      assert.equal(s.relayq.totals().n, 1);
      s.relayq.insert(relayRow(3));
      s.relayq.delete(id16(2));
      assert.equal(s.relayq.totals().n, 1);
      throw new Error('boom');
    }),
  );
  assert.equal([s.relayq.totals(), s.relayq.has(id16(2)), s.relayq.has(id16(3))], [{ n: 1, bytes: 3 }, true, false]);
  s.close();
});

test.run();
