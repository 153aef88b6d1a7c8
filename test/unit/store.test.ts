/**
 * The SQLite store: migrations, reopening a file database, refusing a newer schema,
 * exactly-once invite redemption, inbox dedup, outbox queue ordering/expiry, petname
 * uniqueness, cert seq replacement, transactions, integrity check, file mode 0600 and a
 * clean disk-full error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { Store, SCHEMA_VERSION, type TrustEntry, type OutboxRow, type InboxRow } from '../../agent/store/index.js';
import { WotError } from '../../agent/wire/errors.js';

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
  for (const t of ['meta', 'kv', 'trust', 'certs', 'invites', 'inbox', 'outbox']) assert.ok(tables.includes(t), `table ${t} missing`);
  assert.is(s.db.pragma('foreign_keys', { simple: true }), 1);
  assert.is(s.db.pragma('busy_timeout', { simple: true }), 5000);
  s.close();
  s.close(); // idempotent
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

test('outbox due: only queued/sent rows with nextAttemptAt <= now, ordered by createdAt, limited', () => {
  const s = Store.open(':memory:');
  // Inserted out of createdAt order on purpose.
  s.outbox.insert(outboxRow(3, { createdAt: 30, nextAttemptAt: 10 }));
  s.outbox.insert(outboxRow(1, { createdAt: 10, nextAttemptAt: 100 }));
  s.outbox.insert(outboxRow(2, { createdAt: 20, nextAttemptAt: 50, state: 'sent' }));
  s.outbox.insert(outboxRow(4, { createdAt: 5, nextAttemptAt: 0, state: 'delivered' }));
  s.outbox.insert(outboxRow(5, { createdAt: 15, nextAttemptAt: 101 }));
  assert.equal(s.outbox.due(100, 10).map((r) => r.id[0]), [1, 2, 3]);
  assert.equal(s.outbox.due(100, 2).map((r) => r.id[0]), [1, 2]);
  assert.equal(s.outbox.due(49, 10).map((r) => r.id[0]), [3]);

  assert.ok(s.outbox.scheduleRetry(key(3), 500, 60));
  const r3 = s.outbox.get(key(3))!;
  assert.is(r3.attempts, 1);
  assert.is(r3.nextAttemptAt, 500);
  assert.is(r3.updatedAt, 60);
  assert.equal(s.outbox.due(100, 10).map((r) => r.id[0]), [1, 2]);
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
    'ERR_INTERNAL',
    /disk is full/,
  );
  assert.ok(e.message.includes(p));
  assert.is(s.inbox.count(), 0);
  s.close();
});

test.run();
