/**
 * MemoryStore (the simulator's store) against the SQLite Store: every behavioural check
 * runs on both implementations (table-driven), and a differential property test applies
 * the same random operation sequences to both and requires identical results, so the two
 * cannot drift apart: return values, dedup, orderings, cert seq rules, invite redemption,
 * petname uniqueness errors and constraint errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MemoryStore, Store, type CoreStore, type InboxRow, type OutboxRow, type OutboxState, type TrustEntry } from '../../agent/store/index.js';
import { WotError } from '../../agent/wire/errors.js';

interface Impl {
  name: string;
  open(): { s: CoreStore; close(): void };
}

const IMPLS: Impl[] = [
  {
    name: 'sqlite',
    open: () => {
      const s = Store.open(':memory:');
      return { s, close: () => s.close() };
    },
  },
  { name: 'memory', open: () => ({ s: new MemoryStore(), close: () => undefined }) },
];

/** Byte arrays (Buffer or Uint8Array) become 'hex:…' so both stores compare alike. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = norm(x);
    return out;
  }
  return v;
}

const key = (n: number, len = 32): Uint8Array => new Uint8Array(len).fill(n);

function trustEntry(n: number, over: Partial<TrustEntry> = {}): TrustEntry {
  return { entity: key(n), petname: null, how: 'manual', addedAt: 1000, state: 'active', addr: null, updatedAt: 1000, note: null, ...over };
}

function inboxRow(n: number, over: Partial<Omit<InboxRow, 'seq' | 'read'>> = {}): Omit<InboxRow, 'seq' | 'read'> {
  return { id: key(n, 16), from: key(100), fromAgent: key(101), receivedAt: 5000 + n, sentAt: 4000 + n, kind: 'text', body: Uint8Array.of(n), name: null, path: '[]', ...over };
}

function outboxRow(n: number, over: Partial<OutboxRow> = {}): OutboxRow {
  return { id: key(n, 16), to: key(200), createdAt: 1000, expiresAt: 10_000, state: 'queued', envelope: Uint8Array.of(n), attempts: 0, nextAttemptAt: 0, updatedAt: 1000, error: null, ...over };
}

function caught(fn: () => unknown): { code: unknown; message: string; hint?: string | undefined } {
  try {
    fn();
  } catch (e) {
    const err = e as Error & { code?: unknown; hint?: string };
    return { code: err.code, message: err.message, ...(e instanceof WotError ? { hint: err.hint } : {}) };
  }
  throw new assert.Assertion({ message: 'expected an exception', generated: false, operator: 'throws', expects: 'throw', actual: 'none' });
}

const ids = (rows: Array<{ id: Uint8Array }>): number[] => rows.map((r) => r.id[0]!);

for (const impl of IMPLS) {
  const t = (name: string, fn: (s: CoreStore) => void): void => {
    test(`[${impl.name}] ${name}`, () => {
      const { s, close } = impl.open();
      try {
        fn(s);
      } finally {
        close();
      }
    });
  };

  t('trust: get/list round trip; list ordered by addedAt then first insertion; upsert keeps the position', (s) => {
    assert.is(s.trust.get(key(1)), undefined);
    assert.equal(s.trust.list(), []);
    s.trust.upsert(trustEntry(3, { addedAt: 20 }));
    s.trust.upsert(trustEntry(1, { addedAt: 10 }));
    s.trust.upsert(trustEntry(2, { addedAt: 10 }));
    s.trust.upsert(trustEntry(1, { addedAt: 10, addr: 'h:1', note: 'n', how: 'sent', updatedAt: 5 }));
    assert.equal(s.trust.list().map((e) => e.entity[0]), [1, 2, 3]);
    assert.equal(norm(s.trust.get(key(1))), norm(trustEntry(1, { addedAt: 10, addr: 'h:1', note: 'n', how: 'sent', updatedAt: 5 })));
    // An upsert moving addedAt reorders; ties keep first-insertion order.
    s.trust.upsert(trustEntry(3, { addedAt: 10 }));
    assert.equal(s.trust.list().map((e) => e.entity[0]), [3, 1, 2]);
  });

  t('trust: setState/setAddr/setPetname return false for unknown entities; isTrusted only when active', (s) => {
    assert.is(s.trust.setState(key(9), 'revoked', 1), false);
    assert.is(s.trust.setAddr(key(9), 'h:1', 1), false);
    assert.is(s.trust.setPetname(key(9), 'x', 1), false);
    s.trust.upsert(trustEntry(1));
    assert.ok(s.trust.isTrusted(key(1)));
    assert.is(s.trust.setState(key(1), 'revoked', 7), true);
    assert.not.ok(s.trust.isTrusted(key(1)));
    assert.is(s.trust.get(key(1))!.updatedAt, 7);
    assert.is(s.trust.setAddr(key(1), 'h:2', 8), true);
    assert.is(s.trust.get(key(1))!.addr, 'h:2');
    assert.not.ok(s.trust.isTrusted(key(2)));
    // Returned rows are copies: changing one does not change the store.
    const e = s.trust.get(key(1))!;
    e.state = 'active';
    assert.is(s.trust.get(key(1))!.state, 'revoked');
  });

  t('trust: petname uniqueness is ERR_BAD_REQUEST with the same message, case-sensitive, nulls unlimited', (s) => {
    s.trust.upsert(trustEntry(1, { petname: 'alice' }));
    s.trust.upsert(trustEntry(2));
    s.trust.upsert(trustEntry(3));
    s.trust.upsert(trustEntry(4, { petname: 'Alice' }));
    const e = caught(() => s.trust.upsert(trustEntry(2, { petname: 'alice' })));
    assert.equal(e, {
      code: 'ERR_BAD_REQUEST',
      message: `petname "alice" is already used by entity ${'01'.repeat(8)}…; cannot give it to ${'02'.repeat(8)}…`,
      hint: 'choose another name, or rename the other entry first',
    });
    assert.is(s.trust.get(key(2))!.petname, null);
    const e2 = caught(() => s.trust.setPetname(key(3), 'alice', 5));
    assert.is(e2.code, 'ERR_BAD_REQUEST');
    assert.match(e2.message, /already used by entity 0101/);
    // Re-upserting the owner with its own name is fine; renaming frees the old name.
    s.trust.upsert(trustEntry(1, { petname: 'alice', note: 'again' }));
    // An upsert that renames frees the old name.
    s.trust.upsert(trustEntry(2, { petname: 'bob' }));
    s.trust.upsert(trustEntry(2, { petname: 'rob' }));
    s.trust.upsert(trustEntry(3, { petname: 'bob' }));
    assert.is(s.trust.byPetname('bob')!.entity[0], 3);
    s.trust.upsert(trustEntry(3));
    assert.is(s.trust.byPetname('bob'), undefined);
    assert.is(s.trust.setPetname(key(1), 'al', 6), true);
    assert.is(s.trust.byPetname('alice'), undefined);
    assert.is(s.trust.byPetname('al')!.entity[0], 1);
    assert.is(s.trust.setPetname(key(3), 'alice', 7), true);
    assert.is(s.trust.byPetname('alice')!.entity[0], 3);
    assert.is(s.trust.byPetname('ALICE'), undefined);
    // An unknown entity with a taken name: false, no error (nothing to update).
    assert.is(s.trust.setPetname(key(9), 'al', 8), false);
  });

  t('certs: higher seq replaces, lower seq is ignored (false), same seq replaces; latestForEntity', (s) => {
    const row = (agent: number, entity: number, seq: number, notAfter: number, cert = seq) =>
      ({ agent: key(agent), entity: key(entity), cert: Uint8Array.of(cert), seq, notAfter, seenAt: 1 });
    assert.is(s.certs.latestForEntity(key(50)), undefined);
    assert.is(s.certs.put(row(1, 50, 2, 100)), true);
    assert.is(s.certs.put(row(1, 50, 1, 999)), false);
    assert.is(s.certs.get(key(1))!.seq, 2);
    assert.is(s.certs.put(row(1, 50, 2, 200, 7)), true);
    assert.equal(norm(s.certs.get(key(1))), norm(row(1, 50, 2, 200, 7)));
    assert.is(s.certs.put(row(2, 50, 3, 50)), true);
    assert.is(s.certs.latestForEntity(key(50))!.agent[0], 2);
    assert.is(s.certs.put(row(3, 50, 3, 60)), true);
    assert.is(s.certs.latestForEntity(key(50))!.agent[0], 3);
    // An agent's row can move to another entity.
    assert.is(s.certs.put(row(3, 51, 4, 60)), true);
    assert.is(s.certs.latestForEntity(key(50))!.agent[0], 2);
    assert.is(s.certs.latestForEntity(key(51))!.agent[0], 3);
    assert.is(s.certs.get(key(9)), undefined);
    // Full tie on (seq, notAfter): the row inserted last wins (SQLite's index scan order).
    assert.is(s.certs.put(row(5, 52, 1, 10)), true);
    assert.is(s.certs.put(row(4, 52, 1, 10)), true);
    assert.is(s.certs.put(row(5, 52, 1, 10)), true);
    assert.is(s.certs.latestForEntity(key(52))!.agent[0], 4);
  });

  t('invites: create/get/list (unexpired with uses, oldest first); duplicate key is a primary-key error', (s) => {
    const inv = (n: number, createdAt: number, expiresAt: number, uses: number) => ({ key: key(n), createdAt, expiresAt, usesLeft: uses, usesTotal: uses, note: null });
    s.invites.create(inv(1, 20, 100, 1));
    s.invites.create(inv(2, 10, 100, 0));
    s.invites.create(inv(3, 20, 50, 2));
    s.invites.create(inv(4, 5, 100, 3));
    assert.equal(norm(s.invites.get(key(1))), norm(inv(1, 20, 100, 1)));
    assert.equal(s.invites.list(0).map((r) => r.key[0]), [4, 1, 3]);
    assert.equal(s.invites.list(50).map((r) => r.key[0]), [4, 1]);
    const e = caught(() => s.invites.create(inv(1, 1, 2, 3)));
    assert.is(e.code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
    assert.is(e.message, 'UNIQUE constraint failed: invites.key');
    const neg = caught(() => s.invites.create(inv(8, 1, 2, -1)));
    assert.equal([neg.code, neg.message], ['SQLITE_CONSTRAINT_CHECK', 'CHECK constraint failed: uses_left >= 0']);
    assert.is(s.invites.get(key(8)), undefined);
  });

  t('invites: redeem gives ok per use then used; expired; used beats expired; unknown; revoke; purgeExpired', (s) => {
    s.invites.create({ key: key(1), createdAt: 0, expiresAt: 100, usesLeft: 2, usesTotal: 2, note: 'n' });
    assert.equal([s.invites.redeem(key(1), 10), s.invites.redeem(key(1), 10), s.invites.redeem(key(1), 10)], ['ok', 'ok', 'used']);
    assert.is(s.invites.get(key(1))!.usesLeft, 0);
    assert.is(s.invites.redeem(key(1), 100), 'used');
    s.invites.create({ key: key(2), createdAt: 0, expiresAt: 100, usesLeft: 1, usesTotal: 1, note: null });
    assert.is(s.invites.redeem(key(2), 100), 'expired');
    assert.is(s.invites.redeem(key(2), 99), 'ok');
    assert.is(s.invites.redeem(key(9), 1), 'unknown');
    assert.is(s.invites.revoke(key(2)), true);
    assert.is(s.invites.revoke(key(2)), false);
    assert.is(s.invites.redeem(key(2), 1), 'unknown');
    s.invites.create({ key: key(3), createdAt: 0, expiresAt: 200, usesLeft: 1, usesTotal: 1, note: null });
    assert.is(s.invites.purgeExpired(100), 1);
    assert.is(s.invites.get(key(1)), undefined);
    assert.ok(s.invites.get(key(3)));
  });

  t('inbox: exactly once per id, first copy kept, seq without gaps; list afterSeq/limit/from; markRead', (s) => {
    assert.is(s.inbox.insert(inboxRow(1)), true);
    assert.is(s.inbox.insert(inboxRow(1, { body: Uint8Array.of(99) })), false);
    assert.is(s.inbox.insert(inboxRow(2, { from: key(7) })), true);
    assert.is(s.inbox.insert(inboxRow(3)), true);
    assert.equal(s.inbox.get(key(1, 16))!.body[0], 1);
    assert.equal(s.inbox.list().map((r) => r.seq), [1, 2, 3]);
    assert.equal(ids(s.inbox.list({ afterSeq: 1 })), [2, 3]);
    assert.equal(ids(s.inbox.list({ limit: 2 })), [1, 2]);
    assert.equal(s.inbox.list({ limit: 0 }), []);
    assert.equal(ids(s.inbox.list({ from: key(100) })), [1, 3]);
    assert.equal(ids(s.inbox.list({ from: key(100), limit: 1, afterSeq: 1 })), [3]);
    assert.is(s.inbox.count(), 3);
    assert.ok(s.inbox.has(key(2, 16)));
    assert.not.ok(s.inbox.has(key(9, 16)));
    assert.is(s.inbox.get(key(2, 16))!.read, false);
    assert.is(s.inbox.markRead(key(2, 16)), true);
    assert.is(s.inbox.markRead(key(9, 16)), false);
    assert.is(s.inbox.get(key(2, 16))!.read, true);
    assert.equal(norm(s.inbox.get(key(3, 16))), norm({ ...inboxRow(3), seq: 3, read: false }));
  });

  t('outbox: due = pending and nextAttemptAt <= now, by createdAt then insertion, limited; pendingFor', (s) => {
    s.outbox.insert(outboxRow(1, { createdAt: 30 }));
    s.outbox.insert(outboxRow(2, { createdAt: 10, nextAttemptAt: 50 }));
    s.outbox.insert(outboxRow(3, { createdAt: 30, to: key(201) }));
    s.outbox.insert(outboxRow(4, { createdAt: 20, state: 'delivered' }));
    s.outbox.insert(outboxRow(5, { createdAt: 5, state: 'sent' }));
    assert.equal(ids(s.outbox.due(0, 10)), [5, 1, 3]);
    assert.equal(ids(s.outbox.due(50, 10)), [5, 2, 1, 3]);
    assert.equal(ids(s.outbox.due(50, 2)), [5, 2]);
    assert.equal(ids(s.outbox.pendingFor(key(200), 10)), [5, 2, 1]);
    assert.equal(ids(s.outbox.pendingFor(key(201), 10)), [3]);
    assert.is(s.outbox.countPending(), 4);
    const e = caught(() => s.outbox.insert(outboxRow(1)));
    assert.is(e.code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
    assert.is(e.message, 'UNIQUE constraint failed: outbox.id');
  });

  t('outbox: setState moves rows in and out of pending and clears error; scheduleRetry; list; expire', (s) => {
    s.outbox.insert(outboxRow(1, { createdAt: 10, expiresAt: 100 }));
    s.outbox.insert(outboxRow(2, { createdAt: 20, expiresAt: 200 }));
    s.outbox.insert(outboxRow(3, { createdAt: 20, expiresAt: 50 }));
    assert.is(s.outbox.setState(key(1, 16), 'failed', 5, 'boom'), true);
    assert.equal(norm(s.outbox.get(key(1, 16))), norm(outboxRow(1, { createdAt: 10, expiresAt: 100, state: 'failed', updatedAt: 5, error: 'boom' })));
    assert.is(s.outbox.countPending(), 2);
    assert.is(s.outbox.setState(key(1, 16), 'queued', 6), true);
    assert.is(s.outbox.get(key(1, 16))!.error, null);
    assert.is(s.outbox.countPending(), 3);
    assert.is(s.outbox.setState(key(9, 16), 'sent', 6), false);
    assert.is(s.outbox.scheduleRetry(key(2, 16), 77, 8), true);
    assert.is(s.outbox.scheduleRetry(key(9, 16), 77, 8), false);
    const r2 = s.outbox.get(key(2, 16))!;
    assert.equal([r2.attempts, r2.nextAttemptAt, r2.updatedAt], [1, 77, 8]);
    assert.equal(ids(s.outbox.list()), [3, 2, 1]);
    assert.equal(ids(s.outbox.list({ limit: 1 })), [3]);
    assert.is(s.outbox.expire(100), 2);
    assert.equal(ids(s.outbox.list({ states: ['expired'] })), [3, 1]);
    assert.equal(s.outbox.list({ states: [] }), []);
    assert.is(s.outbox.get(key(3, 16))!.updatedAt, 100);
    assert.is(s.outbox.countPending(), 1);
    assert.is(s.outbox.expire(100), 0);
  });

  t('tx returns what fn returns and runs it once', (s) => {
    let calls = 0;
    assert.is(s.tx(() => ++calls * 10), 10);
    assert.is(calls, 1);
  });
}

// ---------------------------------------------------------------- differential property

const small = (max: number) => fc.integer({ min: 0, max });
const states: OutboxState[] = ['queued', 'sent', 'delivered', 'read', 'failed', 'expired'];

const OPS = {
  trust: [
    fc.record({ op: fc.constant('trust.upsert'), e: small(4), pet: fc.constantFrom(null, 'a', 'b', 'A'), added: small(3), state: fc.constantFrom('active', 'revoked'), addr: fc.constantFrom(null, 'h:1') }),
    fc.record({ op: fc.constantFrom('trust.get', 'trust.isTrusted'), e: small(4) }),
    fc.record({ op: fc.constant('trust.byPetname'), pet: fc.constantFrom('a', 'b', 'A', 'z') }),
    fc.record({ op: fc.constant('trust.list') }),
    fc.record({ op: fc.constant('trust.setState'), e: small(4), state: fc.constantFrom('active', 'revoked'), now: small(9) }),
    fc.record({ op: fc.constant('trust.setAddr'), e: small(4), addr: fc.constantFrom(null, 'h:2'), now: small(9) }),
    fc.record({ op: fc.constant('trust.setPetname'), e: small(4), pet: fc.constantFrom(null, 'a', 'b'), now: small(9) }),
  ],
  certs: [
    fc.record({ op: fc.constant('certs.put'), agent: small(3), e: small(1), seq: small(2), notAfter: small(1), seen: small(9) }),
    fc.record({ op: fc.constant('certs.get'), agent: small(3) }),
    fc.record({ op: fc.constant('certs.latest'), e: small(1) }),
  ],
  invites: [
    fc.record({ op: fc.constant('invites.create'), k: small(3), created: small(3), expires: small(6), uses: small(2) }),
    fc.record({ op: fc.constantFrom('invites.redeem', 'invites.list', 'invites.purge'), k: small(3), now: small(7) }),
    fc.record({ op: fc.constantFrom('invites.get', 'invites.revoke'), k: small(3) }),
  ],
  inbox: [
    fc.record({ op: fc.constant('inbox.insert'), id: small(5), from: small(2), body: small(9) }),
    fc.record({ op: fc.constantFrom('inbox.get', 'inbox.has', 'inbox.markRead'), id: small(5) }),
    fc.record({ op: fc.constant('inbox.list'), after: small(4), limit: fc.option(small(3), { nil: undefined }), from: fc.option(small(2), { nil: undefined }) }),
    fc.record({ op: fc.constant('inbox.count') }),
  ],
  outbox: [
    fc.record({ op: fc.constant('outbox.insert'), id: small(5), to: small(2), created: small(3), expires: small(6), state: fc.constantFrom(...states), next: small(5) }),
    fc.record({ op: fc.constant('outbox.setState'), id: small(5), state: fc.constantFrom(...states), now: small(9), err: fc.option(fc.constantFrom('x', null), { nil: undefined }) }),
    fc.record({ op: fc.constant('outbox.retry'), id: small(5), next: small(6), now: small(9) }),
    fc.record({ op: fc.constantFrom('outbox.due', 'outbox.expire', 'outbox.countPending', 'outbox.get'), id: small(5), now: small(7), limit: small(4) }),
    fc.record({ op: fc.constant('outbox.pendingFor'), to: small(2), limit: small(4) }),
    fc.record({ op: fc.constant('outbox.list'), states: fc.option(fc.subarray(states), { nil: undefined }), limit: fc.option(small(4), { nil: undefined }) }),
  ],
};

type Op = Record<string, unknown> & { op: string };

function apply(s: CoreStore, o: Op): unknown {
  const n = (k: string): number => o[k] as number;
  switch (o.op) {
    case 'trust.upsert':
      return s.trust.upsert(trustEntry(n('e'), { petname: o['pet'] as string | null, addedAt: n('added'), state: o['state'] as 'active', addr: o['addr'] as string | null }));
    case 'trust.get': return s.trust.get(key(n('e')));
    case 'trust.isTrusted': return s.trust.isTrusted(key(n('e')));
    case 'trust.byPetname': return s.trust.byPetname(o['pet'] as string);
    case 'trust.list': return s.trust.list();
    case 'trust.setState': return s.trust.setState(key(n('e')), o['state'] as 'active', n('now'));
    case 'trust.setAddr': return s.trust.setAddr(key(n('e')), o['addr'] as string | null, n('now'));
    case 'trust.setPetname': return s.trust.setPetname(key(n('e')), o['pet'] as string | null, n('now'));
    case 'certs.put':
      return s.certs.put({ agent: key(n('agent')), entity: key(50 + n('e')), cert: Uint8Array.of(n('seq'), n('seen')), seq: n('seq'), notAfter: n('notAfter'), seenAt: n('seen') });
    case 'certs.get': return s.certs.get(key(n('agent')));
    case 'certs.latest': return s.certs.latestForEntity(key(50 + n('e')));
    case 'invites.create':
      return s.invites.create({ key: key(n('k')), createdAt: n('created'), expiresAt: n('expires'), usesLeft: n('uses'), usesTotal: n('uses'), note: null });
    case 'invites.redeem': return s.invites.redeem(key(n('k')), n('now'));
    case 'invites.list': return s.invites.list(n('now'));
    case 'invites.purge': return s.invites.purgeExpired(n('now'));
    case 'invites.get': return s.invites.get(key(n('k')));
    case 'invites.revoke': return s.invites.revoke(key(n('k')));
    case 'inbox.insert': return s.inbox.insert(inboxRow(n('id'), { from: key(100 + n('from')), body: Uint8Array.of(n('body')) }));
    case 'inbox.get': return s.inbox.get(key(n('id'), 16));
    case 'inbox.has': return s.inbox.has(key(n('id'), 16));
    case 'inbox.markRead': return s.inbox.markRead(key(n('id'), 16));
    case 'inbox.list': {
      const from = o['from'] as number | undefined;
      const limit = o['limit'] as number | undefined;
      return s.inbox.list({ afterSeq: n('after'), ...(limit !== undefined ? { limit } : {}), ...(from !== undefined ? { from: key(100 + from) } : {}) });
    }
    case 'inbox.count': return s.inbox.count();
    case 'outbox.insert':
      return s.outbox.insert(outboxRow(n('id'), { to: key(200 + n('to')), createdAt: n('created'), expiresAt: n('expires'), state: o['state'] as OutboxState, nextAttemptAt: n('next') }));
    case 'outbox.setState': {
      const err = o['err'] as string | null | undefined;
      return err === undefined ? s.outbox.setState(key(n('id'), 16), o['state'] as OutboxState, n('now')) : s.outbox.setState(key(n('id'), 16), o['state'] as OutboxState, n('now'), err);
    }
    case 'outbox.retry': return s.outbox.scheduleRetry(key(n('id'), 16), n('next'), n('now'));
    case 'outbox.due': return s.outbox.due(n('now'), n('limit'));
    case 'outbox.expire': return s.outbox.expire(n('now'));
    case 'outbox.countPending': return s.outbox.countPending();
    case 'outbox.get': return s.outbox.get(key(n('id'), 16));
    case 'outbox.pendingFor': return s.outbox.pendingFor(key(200 + n('to')), n('limit'));
    case 'outbox.list': {
      const st = o['states'] as OutboxState[] | undefined;
      const limit = o['limit'] as number | undefined;
      return s.outbox.list({ ...(st !== undefined ? { states: st } : {}), ...(limit !== undefined ? { limit } : {}) });
    }
  }
  throw new Error(`unknown op ${o.op}`);
}

function outcome(s: CoreStore, o: Op): unknown {
  try {
    return { ok: norm(apply(s, o)) };
  } catch (e) {
    const err = e as Error & { code?: unknown };
    return { throws: err.code, message: err.message };
  }
}

function differential(ops: Op[]): void {
  const a = IMPLS[0]!.open();
  const b = IMPLS[1]!.open();
  try {
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      assert.equal(outcome(b.s, o), outcome(a.s, o), `op ${i} ${JSON.stringify(o)}`);
    }
  } finally {
    a.close();
    b.close();
  }
}

for (const [repo, arbs] of Object.entries(OPS)) {
  test(`differential ${repo}: random operation sequences give identical results on SQLite and MemoryStore (property)`, () => {
    fc.assert(fc.property(fc.array(fc.oneof(...arbs), { minLength: 1, maxLength: 40 }), (ops) => differential(ops as Op[])), { numRuns: 150 });
  });
}

test('differential all repositories mixed: identical results on SQLite and MemoryStore (property)', () => {
  const all = Object.values(OPS).flat();
  fc.assert(fc.property(fc.array(fc.oneof(...all), { minLength: 1, maxLength: 80 }), (ops) => differential(ops as Op[])), { numRuns: 100 });
});

test.run();
