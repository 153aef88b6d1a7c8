/**
 * MemoryStore (the simulator's store) against the SQLite Store: every behavioural check
 * runs on both implementations (table-driven), and a differential property test applies
 * the same random operation sequences to both and requires identical results, so the two
 * cannot drift apart: return values, dedup, orderings, cert seq rules, invite redemption,
 * petname uniqueness errors and constraint errors (including the mailing-list repository,
 * forward-secret sessions and the onion replay cache).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  MAX_HEADS,
  MemoryStore,
  Store,
  type CoreStore,
  type HeldRow,
  type FanoutRow,
  type InboxRow,
  type ListMember,
  type ListMemberState,
  type ListPost,
  type MailRow,
  type OutboxRow,
  type OutboxKind,
  type OutboxState,
  type RelayRow,
  type SessionRow,
  type TrustEntry,
} from '../../agent/store/index.js';
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
  return { id: key(n, 16), from: key(100), fromAgent: key(101), receivedAt: 5000 + n, sentAt: 4000 + n, kind: 'text', body: Uint8Array.of(n), name: null, path: '[]', hash: null, parents: [], gap: [], author: null, ...over };
}

function outboxRow(n: number, over: Partial<OutboxRow> = {}): OutboxRow {
  return { id: key(n, 16), to: key(200), createdAt: 1000, expiresAt: 10_000, state: 'queued', kind: 'text', hash: null, envelope: Uint8Array.of(n), attempts: 0, nextAttemptAt: 0, updatedAt: 1000, error: null, onion: null, ...over };
}

/** Session sid key(n, 16), peer key(150 + peer). */
function sessionRow(n: number, peer: number, over: Partial<SessionRow> = {}): SessionRow {
  return { sid: key(n, 16), peer: key(150 + peer), rank: 100 + n, state: Uint8Array.of(n, 1), createdAt: 10, usedAt: 10, ...over };
}

function heldRow(n: number, over: Partial<HeldRow> = {}): HeldRow {
  return { id: key(n, 16), from: key(100), fromAgent: key(101), receivedAt: 5000 + n, sentAt: 4000 + n, kind: 'text', body: Uint8Array.of(n), name: null, path: '[]', hash: key(80 + n), parents: [key(90)], author: null, heldAt: 100 + n, ...over };
}

/** Envelope of n + 1 bytes, so counts show which rows they include. */
function relayRow(n: number, over: Partial<RelayRow> = {}): RelayRow {
  return { id: key(n, 16), to: key(200), waitFor: key(210), dep: null, prev: key(220), envelope: new Uint8Array(n + 1).fill(n), receivedAt: 1000 + n, expiresAt: 10_000, attempts: 0, nextAttemptAt: 0, ...over };
}

/** Owner key(owner), id key(id, 16), envelope of id + 1 bytes. */
function mailRow(owner: number, id: number, over: Partial<Omit<MailRow, 'seq'>> = {}): Omit<MailRow, 'seq'> {
  return { owner: key(owner), id: key(id, 16), envelope: new Uint8Array(id + 1).fill(id), storedAt: 100 + id, expiresAt: 10_000, ...over };
}

function listMember(n: number, over: Partial<ListMember> = {}): ListMember {
  return { entity: key(n), state: 'member', role: 'member', joinedAt: 100, updatedAt: 100, mutedUntil: 0, note: null, onion: 0, ...over };
}

/** Post id key(n, 16), hash key(60 + n), author key(100). */
function listPost(n: number, over: Partial<Omit<ListPost, 'seq'>> = {}): Omit<ListPost, 'seq'> {
  return { postId: key(n, 16), hash: key(60 + n), author: key(100), signed: Uint8Array.of(n, 1), receivedAt: 1000 + n, ...over };
}

/** Post key(post, 16), subscriber key(sub), copy id key(copy, 16). */
function fan(post: number, sub: number, copy: number, over: Partial<FanoutRow> = {}): FanoutRow {
  return { postId: key(post, 16), subscriber: key(sub), copyId: key(copy, 16), state: 'waiting', createdAt: 100, ...over };
}

/** A 32-byte entity whose first byte, (n * 97) mod 256, does not follow n (byte order ≠ insertion order); byte 1 is n. */
const ent = (n: number): Uint8Array => {
  const b = key(n);
  b[0] = (n * 97) & 0xff;
  return b;
};

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
const copies = (rows: FanoutRow[]): number[] => rows.map((r) => r.copyId[0]!);
const seqs = (rows: ListPost[]): number[] => rows.map((r) => r.seq);

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

  t('outbox: due = pending and nextAttemptAt <= now, by nextAttemptAt, createdAt, insertion, limited; pendingFor', (s) => {
    s.outbox.insert(outboxRow(1, { createdAt: 30 }));
    s.outbox.insert(outboxRow(2, { createdAt: 10, nextAttemptAt: 50 }));
    s.outbox.insert(outboxRow(3, { createdAt: 30, to: key(201) }));
    s.outbox.insert(outboxRow(4, { createdAt: 20, state: 'delivered' }));
    s.outbox.insert(outboxRow(5, { createdAt: 5, state: 'sent' }));
    assert.equal(ids(s.outbox.due(0, 10)), [5, 1, 3]);
    assert.equal(ids(s.outbox.due(50, 10)), [5, 1, 3, 2]);
    assert.equal(ids(s.outbox.due(50, 2)), [5, 1]);
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

  t('outbox: relayed counts as pending for due/countPending/countPendingFor/expire but not pendingFor; kind and hash round trip', (s) => {
    s.outbox.insert(outboxRow(1, { createdAt: 10, kind: 'file', hash: key(51) }));
    s.outbox.insert(outboxRow(2, { createdAt: 20, state: 'relayed', kind: 'receipt', expiresAt: 100 }));
    s.outbox.insert(outboxRow(3, { createdAt: 30, state: 'sent', to: key(201), kind: 'want' }));
    s.outbox.insert(outboxRow(4, { createdAt: 40, state: 'delivered', hash: key(54) }));
    assert.equal(ids(s.outbox.due(0, 10)), [1, 2, 3]);
    assert.equal(ids(s.outbox.pendingFor(key(200), 10)), [1]);
    assert.is(s.outbox.countPending(), 3);
    assert.is(s.outbox.countPendingFor(key(200)), 2);
    assert.is(s.outbox.countPendingFor(key(201)), 1);
    assert.is(s.outbox.countPendingFor(key(202)), 0);
    assert.equal(norm(s.outbox.get(key(1, 16))), norm(outboxRow(1, { createdAt: 10, kind: 'file', hash: key(51) })));
    assert.equal([s.outbox.get(key(2, 16))!.kind, s.outbox.get(key(2, 16))!.hash], ['receipt', null]);
    assert.is(s.outbox.get(key(3, 16))!.kind, 'want');
    // A hop took custody of row 1: it leaves pendingFor but is still counted and still due.
    assert.ok(s.outbox.setState(key(1, 16), 'relayed', 50));
    assert.equal(ids(s.outbox.pendingFor(key(200), 10)), []);
    assert.is(s.outbox.countPendingFor(key(200)), 2);
    assert.equal(ids(s.outbox.due(0, 10)), [1, 2, 3]);
    // expire covers relayed rows, never done ones.
    assert.is(s.outbox.expire(100), 1);
    assert.equal([s.outbox.get(key(2, 16))!.state, s.outbox.get(key(2, 16))!.updatedAt], ['expired', 100]);
    assert.is(s.outbox.countPendingFor(key(200)), 1);
    assert.is(s.outbox.countPending(), 2);
    assert.is(s.outbox.get(key(4, 16))!.state, 'delivered');
    // Back to queued: visible to pendingFor again.
    assert.ok(s.outbox.setState(key(1, 16), 'queued', 60));
    assert.equal(ids(s.outbox.pendingFor(key(200), 10)), [1]);
  });

  t('outbox: byHash/hasHash find a row by content hash in any state (first inserted on a tie); rows without hash never match', (s) => {
    assert.not.ok(s.outbox.hasHash(key(51)));
    assert.is(s.outbox.byHash(key(51)), undefined);
    s.outbox.insert(outboxRow(1, { hash: key(51) }));
    s.outbox.insert(outboxRow(2, { hash: key(52), state: 'read' }));
    s.outbox.insert(outboxRow(3));
    assert.ok(s.outbox.hasHash(key(51)));
    assert.ok(s.outbox.hasHash(key(52)));
    assert.not.ok(s.outbox.hasHash(key(53)));
    assert.is(s.outbox.byHash(key(52))!.id[0], 2);
    assert.equal(norm(s.outbox.byHash(key(51))), norm(outboxRow(1, { hash: key(51) })));
    assert.is(s.outbox.byHash(key(53)), undefined);
    s.outbox.insert(outboxRow(4, { hash: key(51), createdAt: 1 }));
    assert.is(s.outbox.byHash(key(51))!.id[0], 1);
  });

  t('outbox: purgeDone deletes done rows updated before the cutoff, least recently updated first, at most limit; pending rows stay', (s) => {
    s.outbox.insert(outboxRow(1, { state: 'delivered', updatedAt: 30, hash: key(51) }));
    s.outbox.insert(outboxRow(2, { state: 'failed', updatedAt: 10 }));
    s.outbox.insert(outboxRow(3, { state: 'queued', updatedAt: 5 }));
    s.outbox.insert(outboxRow(4, { state: 'relayed', updatedAt: 5 }));
    s.outbox.insert(outboxRow(5, { state: 'expired', updatedAt: 10 }));
    s.outbox.insert(outboxRow(6, { state: 'read', updatedAt: 40 }));
    s.outbox.insert(outboxRow(7, { state: 'sent', updatedAt: 1 }));
    assert.is(s.outbox.purgeDone(100, 0), 0);
    assert.is(s.outbox.purgeDone(40, 1), 1);
    assert.equal(ids(s.outbox.list()), [7, 6, 5, 4, 3, 1], 'the oldest update (2, at 10) went first');
    assert.is(s.outbox.purgeDone(30, 10), 1, 'updatedAt must be strictly before the cutoff');
    assert.is(s.outbox.purgeDone(31, 10), 1);
    assert.not.ok(s.outbox.hasHash(key(51)));
    assert.is(s.outbox.get(key(1, 16)), undefined);
    assert.equal(ids(s.outbox.list()), [7, 6, 4, 3]);
    assert.is(s.outbox.purgeDone(1_000_000, 10), 1);
    assert.equal(ids(s.outbox.list()), [7, 4, 3]);
    assert.is(s.outbox.countPending(), 3);
    // A purged id can be used again; it sorts as the newest row.
    s.outbox.insert(outboxRow(1, { hash: key(51) }));
    assert.equal(ids(s.outbox.list()), [1, 7, 4, 3]);
    assert.is(s.outbox.byHash(key(51))!.id[0], 1);
  });

  t('outbox: setError changes only error and updatedAt; reschedule moves nextAttemptAt without counting an attempt', (s) => {
    s.outbox.insert(outboxRow(1, { state: 'sent', attempts: 2 }));
    assert.is(s.outbox.setError(key(1, 16), 'no route', 7), true);
    assert.equal(norm(s.outbox.get(key(1, 16))), norm(outboxRow(1, { state: 'sent', attempts: 2, error: 'no route', updatedAt: 7 })));
    assert.is(s.outbox.setError(key(1, 16), null, 8), true);
    assert.is(s.outbox.get(key(1, 16))!.error, null);
    assert.is(s.outbox.setError(key(9, 16), 'x', 8), false);
    assert.is(s.outbox.reschedule(key(1, 16), 500, 9), true);
    const r = s.outbox.get(key(1, 16))!;
    assert.equal([r.state, r.attempts, r.nextAttemptAt, r.updatedAt], ['sent', 2, 500, 9]);
    assert.is(s.outbox.reschedule(key(9, 16), 1, 1), false);
    assert.equal(ids(s.outbox.due(499, 10)), []);
    assert.equal(ids(s.outbox.due(500, 10)), [1]);
    assert.is(s.outbox.scheduleRetry(key(1, 16), 600, 10), true);
    assert.is(s.outbox.get(key(1, 16))!.attempts, 3);
  });

  t('outbox: setOnion changes only the mode (relays, or null = clear) and updatedAt; false for an unknown id', (s) => {
    s.outbox.insert(outboxRow(1, { state: 'sent', attempts: 2, kind: 'post' }));
    assert.is(s.outbox.setOnion(key(1, 16), 3, 7), true);
    assert.equal(norm(s.outbox.get(key(1, 16))), norm(outboxRow(1, { state: 'sent', attempts: 2, kind: 'post', onion: 3, updatedAt: 7 })));
    assert.is(s.outbox.setOnion(key(1, 16), null, 8), true);
    assert.equal([s.outbox.get(key(1, 16))!.onion, s.outbox.get(key(1, 16))!.updatedAt], [null, 8]);
    assert.is(s.outbox.setOnion(key(9, 16), 2, 8), false);
    assert.equal(ids(s.outbox.pendingFor(key(200), 5)), [1], 'still pending');
  });

  t('inbox: hash, parents and gap round trip (empty lists come back empty); hasHash; a hash in a list that is not 32 bytes is a RangeError', (s) => {
    const full = { hash: key(61), parents: [key(71), key(72)], gap: [key(72)] };
    assert.ok(s.inbox.insert(inboxRow(1, full)));
    assert.ok(s.inbox.insert(inboxRow(2)));
    assert.equal(norm(s.inbox.get(key(1, 16))), norm({ ...inboxRow(1, full), seq: 1, read: false }));
    assert.equal(norm(s.inbox.list({ limit: 1 })), norm([{ ...inboxRow(1, full), seq: 1, read: false }]));
    const r2 = s.inbox.get(key(2, 16))!;
    assert.equal([r2.hash, r2.parents, r2.gap], [null, [], []]);
    assert.ok(s.inbox.hasHash(key(61)));
    assert.not.ok(s.inbox.hasHash(key(71)));
    // Returned lists are copies.
    s.inbox.get(key(1, 16))!.parents.pop();
    assert.is(s.inbox.get(key(1, 16))!.parents.length, 2);
    const e = caught(() => s.inbox.insert(inboxRow(3, { parents: [key(71), key(1, 31)] })));
    assert.equal(e, { code: undefined, message: 'inbox parents: each hash must be 32 bytes, got 31' });
    const e2 = caught(() => s.inbox.insert(inboxRow(3, { gap: [key(1, 33)] })));
    assert.equal(e2, { code: undefined, message: 'inbox gap: each hash must be 32 bytes, got 33' });
    assert.not.ok(s.inbox.has(key(3, 16)));
    assert.ok(s.inbox.insert(inboxRow(4)));
    assert.is(s.inbox.get(key(4, 16))!.seq, 3, 'a refused row does not use a seq');
  });

  t('held: put once per id (false, first copy kept); get/has/delete; listFrom and olderThan by heldAt then insertion; count', (s) => {
    assert.equal([s.held.count(), s.held.has(key(1, 16)), s.held.get(key(1, 16))], [0, false, undefined]);
    assert.is(s.held.put(heldRow(1, { heldAt: 30 })), true);
    assert.is(s.held.put(heldRow(2, { heldAt: 10, from: key(102) })), true);
    assert.is(s.held.put(heldRow(3, { heldAt: 10, parents: [] })), true);
    assert.is(s.held.put(heldRow(4, { heldAt: 30 })), true);
    assert.is(s.held.put(heldRow(1, { heldAt: 1, body: Uint8Array.of(99) })), false);
    assert.equal(norm(s.held.get(key(1, 16))), norm(heldRow(1, { heldAt: 30 })));
    assert.equal(s.held.get(key(3, 16))!.parents, []);
    assert.equal(ids(s.held.listFrom(key(100), 10)), [3, 1, 4]);
    assert.equal(ids(s.held.listFrom(key(100), 2)), [3, 1]);
    assert.equal(ids(s.held.listFrom(key(102), 10)), [2]);
    assert.equal(s.held.listFrom(key(109), 10), []);
    assert.equal(ids(s.held.olderThan(10, 10)), [2, 3]);
    assert.equal(ids(s.held.olderThan(30, 3)), [2, 3, 1]);
    assert.equal(s.held.olderThan(9, 10), []);
    assert.is(s.held.count(), 4);
    assert.is(s.held.delete(key(1, 16)), true);
    assert.is(s.held.delete(key(1, 16)), false);
    assert.equal([s.held.has(key(1, 16)), s.held.get(key(1, 16)), s.held.count()], [false, undefined, 3]);
    assert.equal(ids(s.held.listFrom(key(100), 10)), [3, 4]);
    assert.is(s.held.put(heldRow(1, { heldAt: 30 })), true);
    assert.equal(ids(s.held.listFrom(key(100), 10)), [3, 4, 1], 'a re-held id sorts after older ties');
    assert.is(s.held.delete(key(2, 16)), true);
    assert.equal(s.held.listFrom(key(102), 10), []);
    const e = caught(() => s.held.put(heldRow(5, { parents: [key(1, 16)] })));
    assert.equal(e, { code: undefined, message: 'held parents: each hash must be 32 bytes, got 16' });
    assert.not.ok(s.held.has(key(5, 16)));
  });

  t('convo: heads oldest first (then by hash bytes); advance replaces parents by the new hash, keeps an existing head, trims to the newest MAX_HEADS', (s) => {
    const hs = (peer: Uint8Array): number[] => s.convo.heads(peer).map((h) => h[0]!);
    const P = key(1);
    const Q = key(2);
    const R = key(3);
    assert.is(MAX_HEADS, 8);
    assert.equal(s.convo.heads(P), []);
    s.convo.advance(P, key(10), [], 100);
    s.convo.advance(P, key(11), [key(10)], 101);
    assert.equal(hs(P), [11]);
    assert.equal(norm(s.convo.heads(P)), norm([key(11)]));
    s.convo.advance(P, key(12), [key(10)], 102); // a parent that is no longer a head: nothing to remove
    assert.equal(hs(P), [11, 12]);
    s.convo.advance(P, key(9), [], 102);
    assert.equal(hs(P), [11, 9, 12], 'same addedAt: by hash bytes');
    s.convo.advance(P, key(11), [], 200);
    assert.equal(hs(P), [11, 9, 12], 'an existing head keeps its addedAt');
    s.convo.advance(P, key(13), [key(11), key(9), key(12)], 103);
    assert.equal(hs(P), [13]);
    assert.equal(s.convo.heads(Q), [], 'peers are independent');
    for (let i = 0; i < 10; i++) s.convo.advance(Q, key(20 + i), [], 300 + i);
    assert.equal(hs(Q), [22, 23, 24, 25, 26, 27, 28, 29]);
    for (const i of [5, 3, 9, 1, 7, 2, 8, 6, 4]) s.convo.advance(R, key(i), [], 50);
    assert.equal(hs(R), [2, 3, 4, 5, 6, 7, 8, 9], 'on an addedAt tie the smallest hash goes');
    s.convo.advance(R, key(0), [], 10);
    assert.equal(hs(R), [2, 3, 4, 5, 6, 7, 8, 9], 'a head older than all others is trimmed at once when full');
    s.convo.advance(R, key(40), [key(2)], 60);
    assert.equal(hs(R), [3, 4, 5, 6, 7, 8, 9, 40]);
    assert.equal(hs(P), [13]);
  });

  t('relayq: insert once per id (false, nothing changed); get/has/delete; countFor/totals follow inserts and deletes', (s) => {
    assert.equal([s.relayq.totals(), s.relayq.countFor(key(210)), s.relayq.perWaitFor(10)], [{ n: 0, bytes: 0 }, { n: 0, bytes: 0 }, []]);
    assert.is(s.relayq.insert(relayRow(1)), true);
    assert.is(s.relayq.insert(relayRow(2, { dep: key(230), prev: null })), true);
    assert.is(s.relayq.insert(relayRow(1, { envelope: new Uint8Array(50), waitFor: key(211) })), false);
    assert.equal(norm(s.relayq.get(key(1, 16))), norm(relayRow(1)));
    assert.equal(norm(s.relayq.get(key(2, 16))), norm(relayRow(2, { dep: key(230), prev: null })));
    assert.equal([s.relayq.has(key(1, 16)), s.relayq.has(key(9, 16)), s.relayq.get(key(9, 16))], [true, false, undefined]);
    assert.equal(s.relayq.countFor(key(210)), { n: 2, bytes: 5 });
    assert.equal(s.relayq.countFor(key(211)), { n: 0, bytes: 0 });
    assert.equal(s.relayq.totals(), { n: 2, bytes: 5 });
    assert.is(s.relayq.delete(key(1, 16)), true);
    assert.is(s.relayq.delete(key(1, 16)), false);
    assert.equal([s.relayq.countFor(key(210)), s.relayq.totals()], [{ n: 1, bytes: 3 }, { n: 1, bytes: 3 }]);
    assert.is(s.relayq.delete(key(2, 16)), true);
    assert.equal([s.relayq.countFor(key(210)), s.relayq.totals(), s.relayq.perWaitFor(10)], [{ n: 0, bytes: 0 }, { n: 0, bytes: 0 }, []]);
    assert.is(s.relayq.insert(relayRow(1)), true, 'a released id can be taken again');
  });

  t('relayq: reschedule moves counts to the new waitFor, counts an attempt unless told not to, changes dep only when given', (s) => {
    s.relayq.insert(relayRow(1, { dep: key(230) }));
    s.relayq.insert(relayRow(2));
    s.relayq.insert(relayRow(3, { waitFor: key(211) }));
    assert.equal(norm(s.relayq.perWaitFor(10)), norm([{ waitFor: key(210), n: 2, bytes: 5 }, { waitFor: key(211), n: 1, bytes: 4 }]));
    assert.is(s.relayq.reschedule(key(2, 16), key(211), 77), true);
    let r2 = s.relayq.get(key(2, 16))!;
    assert.equal(norm([r2.waitFor, r2.nextAttemptAt, r2.attempts, r2.dep]), norm([key(211), 77, 1, null]));
    assert.equal([s.relayq.countFor(key(210)), s.relayq.countFor(key(211)), s.relayq.totals()], [{ n: 1, bytes: 2 }, { n: 2, bytes: 7 }, { n: 3, bytes: 9 }]);
    assert.equal(norm(s.relayq.perWaitFor(10)), norm([{ waitFor: key(211), n: 2, bytes: 7 }, { waitFor: key(210), n: 1, bytes: 2 }]));
    assert.equal(norm(s.relayq.perWaitFor(1)), norm([{ waitFor: key(211), n: 2, bytes: 7 }]));
    assert.is(s.relayq.reschedule(key(2, 16), key(211), 78, { countAttempt: false, dep: key(231) }), true);
    r2 = s.relayq.get(key(2, 16))!;
    assert.equal(norm([r2.nextAttemptAt, r2.attempts, r2.dep]), norm([78, 1, key(231)]));
    assert.equal(s.relayq.countFor(key(211)), { n: 2, bytes: 7 }, 'same waitFor: counts unchanged');
    assert.is(s.relayq.reschedule(key(2, 16), key(211), 79, { dep: null, countAttempt: true }), true);
    assert.equal([s.relayq.get(key(2, 16))!.dep, s.relayq.get(key(2, 16))!.attempts], [null, 2]);
    assert.is(s.relayq.reschedule(key(1, 16), key(212), 5, {}), true);
    assert.equal(norm(s.relayq.get(key(1, 16))!.dep), norm(key(230)), 'dep kept when not given');
    assert.equal(s.relayq.countFor(key(210)), { n: 0, bytes: 0 });
    assert.equal(norm(s.relayq.perWaitFor(10).map((c) => c.waitFor)), norm([key(211), key(212)]));
    assert.is(s.relayq.reschedule(key(9, 16), key(210), 1), false);
    assert.equal(s.relayq.totals(), { n: 3, bytes: 9 });
  });

  t('relayq: due by nextAttemptAt, receivedAt, insertion; byWaitFor/byTo/list by receivedAt then insertion; limits; perWaitFor ties', (s) => {
    s.relayq.insert(relayRow(1, { nextAttemptAt: 20, receivedAt: 5 }));
    s.relayq.insert(relayRow(2, { nextAttemptAt: 10, receivedAt: 9, to: key(201) }));
    s.relayq.insert(relayRow(3, { nextAttemptAt: 20, receivedAt: 1, waitFor: key(211) }));
    s.relayq.insert(relayRow(4, { nextAttemptAt: 20, receivedAt: 5, to: key(201) }));
    s.relayq.insert(relayRow(5, { nextAttemptAt: 30, receivedAt: 0 }));
    assert.equal(ids(s.relayq.due(9, 10)), []);
    assert.equal(ids(s.relayq.due(20, 10)), [2, 3, 1, 4]);
    assert.equal(ids(s.relayq.due(99, 3)), [2, 3, 1]);
    assert.equal(ids(s.relayq.byWaitFor(key(210), 10)), [5, 1, 4, 2]);
    assert.equal(ids(s.relayq.byWaitFor(key(210), 2)), [5, 1]);
    assert.equal(ids(s.relayq.byWaitFor(key(211), 10)), [3]);
    assert.equal(s.relayq.byWaitFor(key(219), 10), []);
    assert.equal(ids(s.relayq.byTo(key(201), 10)), [4, 2]);
    assert.equal(ids(s.relayq.byTo(key(200), 1)), [5]);
    assert.equal(ids(s.relayq.list(10)), [5, 3, 1, 4, 2]);
    assert.equal(ids(s.relayq.list(0)), []);
    // perWaitFor: most messages first, then most bytes, then waitFor bytes ascending.
    s.relayq.insert(relayRow(6, { waitFor: key(213), envelope: new Uint8Array(2) }));
    s.relayq.insert(relayRow(7, { waitFor: key(212), envelope: new Uint8Array(2) }));
    s.relayq.insert(relayRow(8, { waitFor: key(214), envelope: new Uint8Array(4) }));
    assert.equal(
      norm(s.relayq.perWaitFor(10).map((c) => [c.waitFor, c.n, c.bytes])),
      norm([[key(210), 4, 2 + 3 + 5 + 6], [key(211), 1, 4], [key(214), 1, 4], [key(212), 1, 2], [key(213), 1, 2]]),
    );
  });

  t('relayq: expire deletes rows with expiresAt <= now, soonest expiry first, at most limit, returns their ids and updates counts', (s) => {
    s.relayq.insert(relayRow(1, { expiresAt: 50 }));
    s.relayq.insert(relayRow(2, { expiresAt: 40, waitFor: key(211) }));
    s.relayq.insert(relayRow(3, { expiresAt: 50 }));
    s.relayq.insert(relayRow(4, { expiresAt: 51 }));
    assert.equal(s.relayq.expire(39, 10), []);
    assert.equal(ids(s.relayq.expire(50, 2).map((id) => ({ id }))), [2, 1]);
    assert.equal([s.relayq.countFor(key(211)), s.relayq.countFor(key(210)), s.relayq.totals()], [{ n: 0, bytes: 0 }, { n: 2, bytes: 9 }, { n: 2, bytes: 9 }]);
    assert.equal(ids(s.relayq.expire(50, 0).map((id) => ({ id }))), []);
    assert.equal(ids(s.relayq.expire(100, 10).map((id) => ({ id }))), [3, 4]);
    assert.equal(s.relayq.totals(), { n: 0, bytes: 0 });
    assert.equal(s.relayq.list(10), []);
  });

  t('mailbox: setAccount upserts (createdAt kept); account/accounts ordered by createdAt then owner; removeAccount keeps stored mail', (s) => {
    assert.equal([s.mailbox.account(key(1)), s.mailbox.accounts(), s.mailbox.removeAccount(key(1))], [undefined, [], false]);
    s.mailbox.setAccount(key(2), 5, 100);
    s.mailbox.setAccount(key(1), 7, 100);
    s.mailbox.setAccount(key(3), 1, 50);
    s.mailbox.setAccount(key(2), 6, 200);
    assert.equal(norm(s.mailbox.account(key(2))), norm({ owner: key(2), annSeq: 6, createdAt: 100, updatedAt: 200 }));
    assert.equal(s.mailbox.accounts().map((a) => a.owner[0]), [3, 1, 2]);
    assert.is(s.mailbox.put(mailRow(1, 1)), 'stored');
    assert.is(s.mailbox.removeAccount(key(1)), true);
    assert.is(s.mailbox.removeAccount(key(1)), false);
    assert.equal(s.mailbox.accounts().map((a) => a.owner[0]), [3, 2]);
    assert.equal(s.mailbox.usage(key(1)), { n: 1, bytes: 2 });
    assert.equal(ids(s.mailbox.list(key(1), 0, 10)), [1]);
  });

  t('mailbox: put dedups per (owner, id) without using a seq; usage/totals per owner; list afterSeq/limit', (s) => {
    assert.equal([s.mailbox.usage(key(1)), s.mailbox.totals()], [{ n: 0, bytes: 0 }, { n: 0, bytes: 0, owners: 0 }]);
    assert.is(s.mailbox.put(mailRow(1, 1)), 'stored');
    assert.is(s.mailbox.put(mailRow(1, 1, { envelope: new Uint8Array(40) })), 'duplicate');
    assert.is(s.mailbox.put(mailRow(2, 1)), 'stored', 'the same id for another owner is another message');
    assert.is(s.mailbox.put(mailRow(1, 2)), 'stored');
    assert.is(s.mailbox.put(mailRow(1, 3, { envelope: new Uint8Array(10) })), 'stored');
    assert.equal(norm(s.mailbox.list(key(1), 0, 10)), norm([{ seq: 1, ...mailRow(1, 1) }, { seq: 3, ...mailRow(1, 2) }, { seq: 4, ...mailRow(1, 3, { envelope: new Uint8Array(10) }) }]));
    assert.equal(s.mailbox.list(key(2), 0, 10).map((r) => r.seq), [2]);
    assert.equal(s.mailbox.list(key(1), 1, 10).map((r) => r.seq), [3, 4]);
    assert.equal(s.mailbox.list(key(1), 0, 2).map((r) => r.seq), [1, 3]);
    assert.equal(s.mailbox.list(key(1), 4, 10), []);
    assert.equal(s.mailbox.list(key(9), 0, 10), []);
    assert.equal(s.mailbox.usage(key(1)), { n: 3, bytes: 2 + 3 + 10 });
    assert.equal(s.mailbox.usage(key(2)), { n: 1, bytes: 2 });
    assert.equal(s.mailbox.totals(), { n: 4, bytes: 17, owners: 2 });
  });

  t('mailbox: delete touches only that owner\'s seqs (others\' seqs, unknown and repeated seqs ignored); expire; owners drop to 0', (s) => {
    s.mailbox.put(mailRow(1, 1)); // seq 1
    s.mailbox.put(mailRow(2, 2)); // seq 2
    s.mailbox.put(mailRow(1, 3)); // seq 3
    s.mailbox.put(mailRow(2, 4, { expiresAt: 50 })); // seq 4
    assert.is(s.mailbox.delete(key(1), [2, 4, 1, 1, 99]), 1);
    assert.equal(s.mailbox.list(key(2), 0, 10).map((r) => r.seq), [2, 4], 'owner 2 untouched');
    assert.equal(s.mailbox.list(key(1), 0, 10).map((r) => r.seq), [3]);
    assert.equal([s.mailbox.usage(key(1)), s.mailbox.usage(key(2))], [{ n: 1, bytes: 4 }, { n: 2, bytes: 3 + 5 }]);
    assert.is(s.mailbox.delete(key(1), []), 0);
    assert.is(s.mailbox.delete(key(9), [3]), 0);
    assert.is(s.mailbox.expire(49), 0);
    assert.is(s.mailbox.expire(50), 1);
    assert.equal(s.mailbox.totals(), { n: 2, bytes: 7, owners: 2 });
    assert.is(s.mailbox.delete(key(1), [3]), 1);
    assert.equal([s.mailbox.usage(key(1)), s.mailbox.totals()], [{ n: 0, bytes: 0 }, { n: 1, bytes: 3, owners: 1 }]);
    assert.is(s.mailbox.expire(1_000_000), 1);
    assert.equal(s.mailbox.totals(), { n: 0, bytes: 0, owners: 0 });
    assert.is(s.mailbox.put(mailRow(1, 1)), 'stored', 'a deleted (owner, id) can be stored again');
    assert.equal(s.mailbox.list(key(1), 0, 10).map((r) => r.seq), [5], 'seqs are never reused');
  });

  t('myMailboxes: add once (false, addedAt kept), list by addedAt then entity bytes, has, remove', (s) => {
    assert.equal([s.myMailboxes.list(), s.myMailboxes.has(key(1)), s.myMailboxes.remove(key(1))], [[], false, false]);
    assert.is(s.myMailboxes.add(key(2), 10), true);
    assert.is(s.myMailboxes.add(key(3), 5), true);
    assert.is(s.myMailboxes.add(key(1), 10), true);
    assert.is(s.myMailboxes.add(key(3), 50), false);
    assert.equal(s.myMailboxes.list().map((e) => e[0]), [3, 1, 2]);
    assert.ok(s.myMailboxes.has(key(2)));
    assert.is(s.myMailboxes.remove(key(2)), true);
    assert.is(s.myMailboxes.remove(key(2)), false);
    assert.not.ok(s.myMailboxes.has(key(2)));
    assert.equal(s.myMailboxes.list().map((e) => e[0]), [3, 1]);
  });

  t('list members: upsertMember inserts or fully replaces; member returns copies; setState/setMuted/removeMember false when absent; setState sets the note or clears it', (s) => {
    assert.equal([s.list.member(key(1)), s.list.members(), s.list.countMembers('member')], [undefined, [], 0]);
    assert.is(s.list.setState(key(1), 'banned', 5), false);
    assert.is(s.list.setMuted(key(1), 50, 5), false);
    assert.is(s.list.removeMember(key(1)), false);
    assert.is(s.list.member(key(1)), undefined, 'a failed update creates nothing');
    s.list.upsertMember(listMember(1, { role: 'owner', note: 'founder' }));
    assert.equal(norm(s.list.member(key(1))), norm(listMember(1, { role: 'owner', note: 'founder' })));
    s.list.upsertMember(listMember(1, { state: 'pending', joinedAt: 7, updatedAt: 8, mutedUntil: 9, onion: 3 }));
    assert.equal(norm(s.list.member(key(1))), norm(listMember(1, { state: 'pending', joinedAt: 7, updatedAt: 8, mutedUntil: 9, onion: 3 })), 'every field replaced');
    for (const bad of [9, -1]) {
      const e = caught(() => s.list.upsertMember(listMember(1, { onion: bad })));
      assert.equal([e.code, e.message], ['SQLITE_CONSTRAINT_CHECK', 'CHECK constraint failed: onion >= 0 AND onion <= 8'], `onion ${bad}`);
    }
    assert.is(s.list.member(key(1))!.onion, 3, 'a refused upsert changes nothing');
    assert.equal([s.list.countMembers('member'), s.list.countMembers('pending'), s.list.countMembers('banned')], [0, 1, 0]);
    const copy = s.list.member(key(1))!;
    copy.state = 'banned';
    copy.note = 'x';
    assert.equal([s.list.member(key(1))!.state, s.list.member(key(1))!.note], ['pending', null], 'returned rows are copies');
    assert.is(s.list.setState(key(1), 'banned', 20, 'spam'), true);
    assert.equal(norm(s.list.member(key(1))), norm(listMember(1, { state: 'banned', joinedAt: 7, updatedAt: 20, mutedUntil: 9, note: 'spam', onion: 3 })));
    assert.is(s.list.setState(key(1), 'banned', 21), true);
    assert.equal([s.list.member(key(1))!.note, s.list.member(key(1))!.updatedAt], [null, 21], 'no note given: cleared');
    assert.is(s.list.setState(key(1), 'member', 22, 'welcome'), true);
    assert.is(s.list.member(key(1))!.note, 'welcome');
    assert.is(s.list.setState(key(1), 'member', 23, null), true);
    assert.is(s.list.member(key(1))!.note, null);
    assert.is(s.list.setMuted(key(1), 500, 24), true);
    const r = s.list.member(key(1))!;
    assert.equal([r.mutedUntil, r.updatedAt, r.state, r.joinedAt, r.role, r.onion], [500, 24, 'member', 7, 'member', 3], 'setState/setMuted keep the copy mode');
    assert.is(s.list.setMuted(key(1), 0, 25), true);
    assert.is(s.list.member(key(1))!.mutedUntil, 0);
    assert.equal([s.list.countMembers('member'), s.list.countMembers('pending'), s.list.countMembers('banned')], [1, 0, 0]);
    assert.is(s.list.removeMember(key(1)), true);
    assert.is(s.list.removeMember(key(1)), false);
    assert.equal([s.list.member(key(1)), s.list.countMembers('member'), s.list.members()], [undefined, 0, []]);
  });

  t('list members: members() by joinedAt then entity bytes, filtered by state, limited; countMembers follows inserts, state changes, upserts and removals', (s) => {
    const es = (ms: ListMember[]): number[] => ms.map((m) => m.entity[0]!);
    const counts = (): number[] => (['member', 'pending', 'banned'] as ListMemberState[]).map((st) => s.list.countMembers(st));
    s.list.upsertMember(listMember(3, { joinedAt: 20 }));
    s.list.upsertMember(listMember(5, { joinedAt: 10, state: 'pending' }));
    s.list.upsertMember(listMember(2, { joinedAt: 20, state: 'banned' }));
    s.list.upsertMember(listMember(4, { joinedAt: 10 }));
    s.list.upsertMember(listMember(1, { joinedAt: 30 }));
    assert.equal(es(s.list.members()), [4, 5, 2, 3, 1]);
    assert.equal(es(s.list.members(undefined, 2)), [4, 5]);
    assert.equal(es(s.list.members('member')), [4, 3, 1]);
    assert.equal(es(s.list.members('member', 2)), [4, 3]);
    assert.equal(s.list.members('member', 0), []);
    assert.equal(es(s.list.members('pending')), [5]);
    assert.equal(es(s.list.members('banned')), [2]);
    assert.equal(counts(), [3, 1, 1]);
    assert.ok(s.list.setState(key(5), 'member', 40));
    assert.equal(counts(), [4, 0, 1]);
    assert.equal(s.list.members('pending'), []);
    s.list.upsertMember(listMember(3, { joinedAt: 5, state: 'banned' }));
    assert.equal(counts(), [3, 0, 2]);
    assert.equal(es(s.list.members()), [3, 4, 5, 2, 1], 'an upsert moving joinedAt reorders');
    assert.equal(es(s.list.members('banned')), [3, 2]);
    s.list.upsertMember(listMember(3, { joinedAt: 5, state: 'banned', note: 'again' }));
    assert.ok(s.list.setState(key(3), 'banned', 50, 'still'));
    assert.equal(counts(), [3, 0, 2], 'same state: counts unchanged');
    assert.ok(s.list.removeMember(key(2)));
    assert.equal(counts(), [3, 0, 1]);
    assert.equal(es(s.list.members()), [3, 4, 5, 1]);
  });

  t('list subscribers: entities in state member, ascending bytes (unsigned, shorter first), strictly after `after`, limited; paging visits each once', (s) => {
    const subs = (after: Uint8Array | null, limit: number): number[] => s.list.subscribers(after, limit).map((e) => e[1]!);
    assert.equal(s.list.subscribers(null, 10), []);
    // First bytes: 0→0, 1→97, 2→194, 3→35, 4→132, 5→229, 6→70, 7→167.
    for (const n of [0, 1, 2, 3, 4, 5, 6, 7]) {
      s.list.upsertMember(listMember(0, { entity: ent(n), joinedAt: 100 - n, state: n === 2 ? 'pending' : n === 6 ? 'banned' : 'member' }));
    }
    assert.equal(subs(null, 10), [0, 3, 1, 4, 7, 5]);
    assert.equal(subs(null, 2), [0, 3]);
    assert.equal(subs(ent(3), 2), [1, 4]);
    assert.equal(subs(ent(2), 10), [5], 'after a non-subscriber');
    assert.equal(subs(ent(5), 10), []);
    assert.equal(subs(null, 0), []);
    assert.equal(subs(Uint8Array.of(97), 10), [1, 4, 7, 5], 'a longer entity with the same prefix sorts after');
    assert.equal(subs(new Uint8Array(0), 1), [0]);
    assert.equal(norm(s.list.subscribers(null, 1)), norm([ent(0)]));
    const seen: number[] = [];
    for (let after: Uint8Array | null = null; ;) {
      const page = s.list.subscribers(after, 4);
      seen.push(...page.map((e) => e[1]!));
      if (page.length < 4) break;
      after = page[page.length - 1]!;
    }
    assert.equal(seen, [0, 3, 1, 4, 7, 5]);
    assert.ok(s.list.setState(ent(3), 'banned', 200));
    assert.ok(s.list.setState(ent(2), 'member', 200));
    assert.ok(s.list.removeMember(ent(0)));
    assert.equal(subs(null, 10), [1, 4, 7, 2, 5]);
    s.list.upsertMember(listMember(0, { entity: ent(6) }));
    s.list.upsertMember(listMember(0, { entity: ent(7), state: 'pending' }));
    assert.equal(subs(null, 10), [6, 1, 4, 2, 5]);
    assert.equal(subs(ent(6), 10), [1, 4, 2, 5]);
  });

  t('list posts: putPost assigns seq (a duplicate postId gives undefined, writes nothing, uses no seq); post; postByHash (the oldest on a tie); recentPosts newest `limit` in ascending seq', (s) => {
    assert.equal([s.list.post(key(1, 16)), s.list.postByHash(key(61)), s.list.recentPosts(10)], [undefined, undefined, []]);
    assert.equal(norm(s.list.putPost(listPost(1))), norm({ seq: 1, ...listPost(1) }));
    assert.is(s.list.putPost(listPost(1, { signed: Uint8Array.of(9), hash: key(99) })), undefined);
    assert.is(s.list.postByHash(key(99)), undefined, 'the duplicate wrote nothing');
    assert.is(s.list.putPost(listPost(2, { hash: key(61) }))!.seq, 2, 'no seq used by the duplicate');
    assert.is(s.list.putPost(listPost(3))!.seq, 3);
    assert.equal(norm(s.list.post(key(1, 16))), norm({ seq: 1, ...listPost(1) }));
    assert.equal(norm(s.list.post(key(2, 16))), norm({ seq: 2, ...listPost(2, { hash: key(61) }) }));
    assert.is(s.list.post(key(9, 16)), undefined);
    assert.is(s.list.postByHash(key(61))!.seq, 1);
    assert.is(s.list.postByHash(key(63))!.seq, 3);
    assert.is(s.list.postByHash(key(62)), undefined);
    assert.equal(seqs(s.list.recentPosts(2)), [2, 3]);
    assert.equal(seqs(s.list.recentPosts(1)), [3]);
    assert.equal(seqs(s.list.recentPosts(10)), [1, 2, 3]);
    assert.equal(s.list.recentPosts(0), []);
    assert.equal(norm(s.list.recentPosts(1)), norm([{ seq: 3, ...listPost(3) }]));
    const p = s.list.post(key(3, 16))!;
    p.seq = 99;
    assert.is(s.list.post(key(3, 16))!.seq, 3, 'returned rows are copies');
  });

  t('list trimPosts: keeps the newest `keep` posts, deletes the others and their fan-out rows, returns how many; seqs never reused; a bad keep is a RangeError', (s) => {
    for (const n of [1, 2, 3, 4]) s.list.putPost(listPost(n, { hash: n === 3 ? key(61) : key(60 + n) }));
    assert.is(s.list.addFanout([fan(1, 10, 1), fan(1, 11, 2, { state: 'queued' }), fan(2, 10, 3), fan(4, 10, 4), fan(9, 10, 5)]), 5);
    assert.is(s.list.trimPosts(Infinity), 0);
    assert.is(s.list.trimPosts(4), 0);
    assert.is(s.list.trimPosts(10), 0);
    assert.equal(caught(() => s.list.trimPosts(-1)), { code: undefined, message: 'list trimPosts: keep must be a non-negative number, got -1' });
    assert.equal(caught(() => s.list.trimPosts(NaN)), { code: undefined, message: 'list trimPosts: keep must be a non-negative number, got NaN' });
    assert.equal(seqs(s.list.recentPosts(10)), [1, 2, 3, 4], 'a refused trim deletes nothing');
    assert.is(s.list.trimPosts(2.5), 2);
    assert.equal(seqs(s.list.recentPosts(10)), [3, 4]);
    assert.is(s.list.post(key(1, 16)), undefined);
    assert.is(s.list.postByHash(key(61))!.seq, 3, 'the hash tie moves to the next oldest');
    assert.equal([s.list.fanoutFor(key(1, 16)), s.list.countFanout(key(1, 16)), s.list.fanoutByCopy(key(1, 16)), s.list.fanoutByCopy(key(3, 16))], [[], { waiting: 0, queued: 0 }, undefined, undefined]);
    assert.equal(copies(s.list.nextWaiting(10)), [4, 5]);
    assert.equal(copies(s.list.fanoutFor(key(9, 16))), [5], 'fan-out rows of a post not in the archive stay');
    assert.equal(s.list.countFanout(key(4, 16)), { waiting: 1, queued: 0 });
    assert.is(s.list.trimPosts(0), 2);
    assert.equal([s.list.recentPosts(10), s.list.postByHash(key(61)), s.list.fanoutFor(key(4, 16))], [[], undefined, []]);
    assert.is(s.list.trimPosts(0), 0);
    assert.is(s.list.putPost(listPost(1))!.seq, 5, 'seqs are never reused, even after deleting every post');
    assert.is(s.list.trimPosts(0), 1);
    assert.is(s.list.putPost(listPost(2))!.seq, 6);
    assert.is(s.list.addFanout([fan(1, 10, 1)]), 1, 'a trimmed post\'s pair and copy id can be used again');
  });

  t('list fanout: addFanout skips existing (postId, subscriber) pairs, also within the batch; nextWaiting by createdAt then insertion; markQueued; fanoutFor/fanoutByCopy; countFanout', (s) => {
    assert.equal(
      [s.list.nextWaiting(10), s.list.fanoutFor(key(1, 16)), s.list.fanoutByCopy(key(1, 16)), s.list.countFanout(key(1, 16)), s.list.addFanout([]), s.list.markQueued([])],
      [[], [], undefined, { waiting: 0, queued: 0 }, 0, 0],
    );
    assert.is(s.list.addFanout([fan(1, 10, 1, { createdAt: 50 }), fan(1, 11, 2, { createdAt: 40 }), fan(1, 10, 3), fan(2, 10, 4, { createdAt: 40 }), fan(2, 12, 5, { state: 'queued', createdAt: 10 })]), 4);
    assert.is(s.list.addFanout([fan(1, 10, 6), fan(1, 12, 7, { createdAt: 40 })]), 1);
    assert.equal(copies(s.list.nextWaiting(10)), [2, 4, 7, 1]);
    assert.equal(copies(s.list.nextWaiting(2)), [2, 4]);
    assert.equal(s.list.nextWaiting(0), []);
    assert.equal(copies(s.list.fanoutFor(key(1, 16))), [1, 2, 7]);
    assert.equal(copies(s.list.fanoutFor(key(1, 16), 2)), [1, 2]);
    assert.equal(copies(s.list.fanoutFor(key(2, 16))), [4, 5]);
    assert.equal(s.list.fanoutFor(key(2, 16), 0), []);
    assert.equal(norm(s.list.fanoutByCopy(key(5, 16))), norm(fan(2, 12, 5, { state: 'queued', createdAt: 10 })));
    assert.equal(norm(s.list.fanoutFor(key(1, 16), 1)), norm([fan(1, 10, 1, { createdAt: 50 })]), 'the first row for a pair is kept');
    assert.equal([s.list.fanoutByCopy(key(3, 16)), s.list.fanoutByCopy(key(6, 16))], [undefined, undefined], 'skipped rows were not written');
    assert.equal([s.list.countFanout(key(1, 16)), s.list.countFanout(key(2, 16))], [{ waiting: 3, queued: 0 }, { waiting: 1, queued: 1 }]);
    assert.is(s.list.markQueued([key(2, 16), key(2, 16), key(5, 16), key(9, 16), key(1, 16)]), 2, 'only waiting rows move; repeats, queued and unknown ids count 0');
    assert.equal(copies(s.list.nextWaiting(10)), [4, 7]);
    assert.equal([s.list.countFanout(key(1, 16)), s.list.fanoutByCopy(key(2, 16))!.state], [{ waiting: 1, queued: 2 }, 'queued']);
    assert.equal(copies(s.list.fanoutFor(key(1, 16))), [1, 2, 7], 'insertion order, whatever the state');
    assert.is(s.list.markQueued([key(4, 16), key(7, 16)]), 2);
    assert.equal([s.list.nextWaiting(10), s.list.countFanout(key(2, 16))], [[], { waiting: 0, queued: 2 }]);
    // Rows added later with an older createdAt go first.
    assert.is(s.list.addFanout([fan(3, 10, 8, { createdAt: 90 }), fan(3, 11, 9, { createdAt: 5 }), fan(3, 12, 10, { createdAt: 90 })]), 3);
    assert.equal(copies(s.list.nextWaiting(10)), [9, 8, 10]);
    assert.is(s.list.addFanout([fan(4, 10, 11, { createdAt: 1 }), fan(4, 11, 12, { createdAt: 95 })]), 2);
    assert.equal(copies(s.list.nextWaiting(10)), [11, 9, 8, 10, 12]);
    assert.is(s.list.markQueued([key(9, 16)]), 1);
    assert.equal(copies(s.list.nextWaiting(2)), [11, 8]);
  });

  t('list fanout: a copyId used by another pair is a UNIQUE constraint error and nothing of that batch is written; a skipped pair never conflicts', (s) => {
    assert.is(s.list.addFanout([fan(1, 10, 1)]), 1);
    const zero = { waiting: 0, queued: 0 };
    const e = caught(() => s.list.addFanout([fan(2, 10, 2), fan(2, 11, 1)]));
    assert.equal(e, { code: 'SQLITE_CONSTRAINT_UNIQUE', message: 'UNIQUE constraint failed: list_fanout.copy_id' });
    assert.equal([s.list.fanoutFor(key(2, 16)), s.list.fanoutByCopy(key(2, 16)), s.list.countFanout(key(2, 16))], [[], undefined, zero]);
    const e2 = caught(() => s.list.addFanout([fan(2, 10, 3), fan(2, 11, 3)]));
    assert.equal(e2, e, 'the same copy id twice in one batch');
    assert.equal([s.list.fanoutFor(key(2, 16)), s.list.countFanout(key(2, 16)), copies(s.list.nextWaiting(10))], [[], zero, [1]]);
    assert.is(s.list.addFanout([fan(1, 10, 1)]), 0, 'an existing pair is skipped even with its own copy id');
    assert.is(s.list.addFanout([fan(1, 10, 2), fan(2, 10, 2)]), 1, 'a skipped row does not claim its copy id');
    assert.equal(norm(s.list.fanoutByCopy(key(2, 16))), norm(fan(2, 10, 2)));
    assert.equal(copies(s.list.nextWaiting(10)), [1, 2]);
  });

  t('list complaints: once per (author, complainant, postId), first `at` kept; complainants counts distinct complainants with at >= since; purgeComplaints deletes at < before', (s) => {
    const A = key(1);
    const B = key(2);
    assert.is(s.list.complainants(A, 0), 0);
    assert.is(s.list.purgeComplaints(1000), 0);
    assert.is(s.list.addComplaint(A, key(10), key(1, 16), 100), true);
    assert.is(s.list.addComplaint(A, key(10), key(1, 16), 200), false);
    assert.is(s.list.addComplaint(A, key(10), key(2, 16), 150), true);
    assert.is(s.list.addComplaint(A, key(11), key(1, 16), 120), true);
    assert.is(s.list.addComplaint(B, key(10), key(1, 16), 300), true);
    assert.equal(
      [s.list.complainants(A, 0), s.list.complainants(A, 120), s.list.complainants(A, 121), s.list.complainants(A, 150), s.list.complainants(A, 151)],
      [2, 2, 1, 1, 0],
    );
    assert.equal([s.list.complainants(B, 0), s.list.complainants(B, 301), s.list.complainants(key(3), 0)], [1, 0, 0]);
    assert.is(s.list.purgeComplaints(100), 0, 'at must be strictly before');
    assert.is(s.list.purgeComplaints(120), 1);
    assert.equal([s.list.complainants(A, 0), s.list.complainants(A, 121)], [2, 1]);
    assert.is(s.list.purgeComplaints(120), 0);
    assert.is(s.list.addComplaint(A, key(10), key(1, 16), 5), true, 'a purged complaint can be made again');
    assert.is(s.list.purgeComplaints(1000), 4);
    assert.equal([s.list.complainants(A, 0), s.list.complainants(B, 0)], [0, 0]);
  });

  t('outbox: onion (relays wanted) round trips; a row without it reads back as null', (s) => {
    s.outbox.insert(outboxRow(1, { onion: 3 }));
    const { onion: _absent, ...plain } = outboxRow(2);
    s.outbox.insert(plain);
    assert.is(s.outbox.get(key(1, 16))!.onion, 3);
    assert.is(s.outbox.get(key(2, 16))!.onion, null);
    assert.equal(s.outbox.due(10_000, 10).map((r) => r.onion), [3, null]);
  });

  t('sessions: put inserts, put again replaces only state and usedAt; byPeer by rank desc then sid desc; delete; count', (s) => {
    s.sessions.put(sessionRow(1, 0, { rank: 5 }));
    s.sessions.put(sessionRow(2, 0, { rank: 7 }));
    s.sessions.put(sessionRow(3, 0, { rank: 7 }));
    s.sessions.put(sessionRow(4, 1));
    assert.equal(s.sessions.byPeer(key(150), 10).map((r) => r.sid[0]), [3, 2, 1]);
    assert.equal(s.sessions.byPeer(key(150), 2).map((r) => r.sid[0]), [3, 2]);
    s.sessions.put(sessionRow(1, 1, { rank: 99, state: Uint8Array.of(9), createdAt: 77, usedAt: 50 }));
    assert.equal(norm(s.sessions.get(key(1, 16))), norm(sessionRow(1, 0, { rank: 5, state: Uint8Array.of(9), usedAt: 50 })), 'peer, rank and createdAt stay');
    assert.is(s.sessions.count(), 4);
    assert.is(s.sessions.delete(key(2, 16)), true);
    assert.is(s.sessions.delete(key(2, 16)), false);
    assert.is(s.sessions.get(key(2, 16)), undefined);
    assert.is(s.sessions.count(), 3);
    assert.equal(s.sessions.byPeer(key(150), 10).map((r) => r.sid[0]), [3, 1], 'a deleted session is gone from its peer too; a replaced one keeps its peer');
    assert.equal(s.sessions.byPeer(key(151), 10).map((r) => r.sid[0]), [4]);
  });

  t('sessions: deleteUnusedBefore and deleteOldest go least recently used first (ties: inserted first), limited', (s) => {
    s.sessions.put(sessionRow(1, 0, { usedAt: 30 }));
    s.sessions.put(sessionRow(2, 0, { usedAt: 10 }));
    s.sessions.put(sessionRow(3, 1, { usedAt: 10 }));
    s.sessions.put(sessionRow(4, 1, { usedAt: 40 }));
    assert.is(s.sessions.deleteUnusedBefore(31, 1), 1);
    assert.is(s.sessions.get(key(2, 16)), undefined);
    assert.is(s.sessions.deleteOldest(2), 2);
    assert.equal([1, 2, 3, 4].map((n) => s.sessions.get(key(n, 16)) !== undefined), [false, false, false, true]);
    assert.equal(s.sessions.byPeer(key(150), 10), [], 'pruned sessions are gone from their peer too');
    assert.equal(s.sessions.byPeer(key(151), 10).map((r) => r.sid[0]), [4]);
    assert.is(s.sessions.deleteUnusedBefore(1000, 10), 1);
    assert.is(s.sessions.count(), 0);
    assert.equal(s.sessions.byPeer(key(151), 10), []);
  });

  t('onion tags: add once (a second add is a replay), has, purge expired soonest first, evictOldest, count', (s) => {
    assert.is(s.onionTags.add(key(1, 16), 50), true);
    assert.is(s.onionTags.add(key(1, 16), 99), false);
    assert.is(s.onionTags.add(key(2, 16), 20), true);
    assert.is(s.onionTags.add(key(3, 16), 20), true);
    assert.is(s.onionTags.add(key(4, 16), 80), true);
    assert.is(s.onionTags.has(key(1, 16)), true);
    assert.is(s.onionTags.purge(20, 1), 1);
    assert.equal([2, 3].map((n) => s.onionTags.has(key(n, 16))), [false, true]);
    assert.is(s.onionTags.evictOldest(2), 2);
    assert.equal([1, 3, 4].map((n) => s.onionTags.has(key(n, 16))), [false, false, true]);
    assert.is(s.onionTags.count(), 1);
    assert.is(s.onionTags.purge(1000, 10), 1);
    assert.is(s.onionTags.count(), 0);
  });

  t('tx returns what fn returns and runs it once', (s) => {
    let calls = 0;
    assert.is(s.tx(() => ++calls * 10), 10);
    assert.is(calls, 1);
  });
}

// ---------------------------------------------------------------- differential property

const small = (max: number) => fc.integer({ min: 0, max });
const states: OutboxState[] = ['queued', 'sent', 'relayed', 'delivered', 'read', 'failed', 'expired'];
const kinds: OutboxKind[] = ['text', 'file', 'receipt', 'want'];
const memberStates: ListMemberState[] = ['member', 'pending', 'banned'];
/** Up to 3 of the 32-byte hashes key(60..60+max). */
const hashList = (max: number) => fc.uniqueArray(small(max), { maxLength: 3 });

const OPS = {
  sessions: [
    fc.record({ op: fc.constant('sessions.put'), sid: small(4), peer: small(2), rank: small(3), st: small(9), used: small(5) }),
    fc.record({ op: fc.constantFrom('sessions.get', 'sessions.delete'), sid: small(4) }),
    fc.record({ op: fc.constant('sessions.byPeer'), peer: small(2), limit: small(3) }),
    fc.record({ op: fc.constant('sessions.count') }),
    fc.record({ op: fc.constant('sessions.deleteUnusedBefore'), before: small(6), limit: small(3) }),
    fc.record({ op: fc.constant('sessions.deleteOldest'), n: small(3) }),
  ],
  onionTags: [
    fc.record({ op: fc.constant('onionTags.add'), tag: small(5), exp: small(5) }),
    fc.record({ op: fc.constant('onionTags.has'), tag: small(5) }),
    fc.record({ op: fc.constant('onionTags.count') }),
    fc.record({ op: fc.constant('onionTags.purge'), now: small(5), limit: small(3) }),
    fc.record({ op: fc.constant('onionTags.evictOldest'), n: small(3) }),
  ],
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
    fc.record({ op: fc.constant('inbox.insert'), id: small(5), from: small(2), body: small(9), hash: fc.option(small(3), { nil: null }), parents: hashList(3), gap: hashList(3) }),
    fc.record({ op: fc.constantFrom('inbox.get', 'inbox.has', 'inbox.markRead'), id: small(5) }),
    fc.record({ op: fc.constant('inbox.hasHash'), h: small(3) }),
    fc.record({ op: fc.constant('inbox.list'), after: small(4), limit: fc.option(small(3), { nil: undefined }), from: fc.option(small(2), { nil: undefined }) }),
    fc.record({ op: fc.constant('inbox.count') }),
  ],
  outbox: [
    fc.record({ op: fc.constant('outbox.insert'), id: small(5), to: small(2), created: small(3), expires: small(6), state: fc.constantFrom(...states), next: small(5), kind: fc.constantFrom(...kinds), hash: fc.option(small(3), { nil: null }), updated: small(5), onion: fc.option(small(8), { nil: null }) }),
    fc.record({ op: fc.constantFrom('outbox.byHash', 'outbox.hasHash'), h: small(3) }),
    fc.record({ op: fc.constant('outbox.purgeDone'), before: small(9), limit: small(3) }),
    fc.record({ op: fc.constant('outbox.setError'), id: small(5), err: fc.constantFrom('x', null), now: small(9) }),
    fc.record({ op: fc.constant('outbox.setOnion'), id: small(5), onion: fc.option(small(8), { nil: null }), now: small(9) }),
    fc.record({ op: fc.constant('outbox.reschedule'), id: small(5), next: small(6), now: small(9) }),
    fc.record({ op: fc.constant('outbox.countPendingFor'), to: small(2) }),
    fc.record({ op: fc.constant('outbox.setState'), id: small(5), state: fc.constantFrom(...states), now: small(9), err: fc.option(fc.constantFrom('x', null), { nil: undefined }) }),
    fc.record({ op: fc.constant('outbox.retry'), id: small(5), next: small(6), now: small(9) }),
    fc.record({ op: fc.constantFrom('outbox.due', 'outbox.expire', 'outbox.countPending', 'outbox.get'), id: small(5), now: small(7), limit: small(4) }),
    fc.record({ op: fc.constant('outbox.pendingFor'), to: small(2), limit: small(4) }),
    fc.record({ op: fc.constant('outbox.list'), states: fc.option(fc.subarray(states), { nil: undefined }), limit: fc.option(small(4), { nil: undefined }) }),
  ],
  held: [
    fc.record({ op: fc.constant('held.put'), id: small(4), from: small(1), heldAt: small(5), parents: hashList(3) }),
    fc.record({ op: fc.constantFrom('held.get', 'held.has', 'held.delete'), id: small(4) }),
    fc.record({ op: fc.constant('held.listFrom'), from: small(1), limit: small(3) }),
    fc.record({ op: fc.constant('held.olderThan'), t: small(6), limit: small(3) }),
    fc.record({ op: fc.constant('held.count') }),
  ],
  convo: [
    // 12 hashes, so a peer can exceed MAX_HEADS concurrent heads.
    // Weighted so a peer often gets more than MAX_HEADS concurrent heads (trimming).
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('convo.advance'), peer: small(1), h: small(11), now: small(4),
        parents: fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: hashList(11), weight: 1 }),
      }),
    },
    fc.record({ op: fc.constant('convo.heads'), peer: small(1) }),
  ],
  relayq: [
    fc.record({
      op: fc.constant('relayq.insert'), id: small(4), to: small(1), wait: small(2), len: small(4), received: small(3), expires: small(6), next: small(4),
      dep: fc.option(small(1), { nil: null }), prev: fc.option(small(1), { nil: null }),
    }),
    fc.record({ op: fc.constantFrom('relayq.get', 'relayq.has', 'relayq.delete'), id: small(4) }),
    fc.record({
      op: fc.constant('relayq.reschedule'), id: small(4), wait: small(2), next: small(5),
      dep: fc.constantFrom<number | null | undefined>(undefined, null, 0, 1), count: fc.constantFrom<boolean | undefined>(undefined, true, false),
    }),
    fc.record({ op: fc.constantFrom('relayq.due', 'relayq.expire'), now: small(6), limit: small(3) }),
    fc.record({ op: fc.constantFrom('relayq.byWaitFor', 'relayq.countFor'), wait: small(2), limit: small(3) }),
    fc.record({ op: fc.constant('relayq.byTo'), to: small(1), limit: small(3) }),
    fc.record({ op: fc.constantFrom('relayq.totals', 'relayq.perWaitFor', 'relayq.list'), limit: small(3) }),
  ],
  mailbox: [
    fc.record({ op: fc.constant('mailbox.setAccount'), owner: small(2), ann: small(3), now: small(4) }),
    fc.record({ op: fc.constantFrom('mailbox.removeAccount', 'mailbox.account', 'mailbox.usage'), owner: small(2) }),
    fc.record({ op: fc.constantFrom('mailbox.accounts', 'mailbox.totals') }),
    fc.record({ op: fc.constant('mailbox.put'), owner: small(2), id: small(3), len: small(3), stored: small(3), expires: small(6) }),
    fc.record({ op: fc.constant('mailbox.list'), owner: small(2), after: small(5), limit: small(3) }),
    fc.record({ op: fc.constant('mailbox.delete'), owner: small(2), seqs: fc.array(small(7), { maxLength: 3 }) }),
    fc.record({ op: fc.constant('mailbox.expire'), now: small(7) }),
  ],
  myMailboxes: [
    fc.record({ op: fc.constant('myMailboxes.add'), e: small(3), now: small(3) }),
    fc.record({ op: fc.constantFrom('myMailboxes.remove', 'myMailboxes.has'), e: small(3) }),
    fc.record({ op: fc.constant('myMailboxes.list') }),
  ],
  list: [
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('list.upsertMember'), e: small(5), state: fc.constantFrom(...memberStates), role: fc.constantFrom('owner', 'member'),
        joined: small(3), updated: small(5), muted: small(3), note: fc.constantFrom(null, 'n'), onion: fc.integer({ min: -1, max: 9 }),
      }),
    },
    fc.record({ op: fc.constantFrom('list.member', 'list.removeMember'), e: small(5) }),
    fc.record({ op: fc.constant('list.setState'), e: small(5), state: fc.constantFrom(...memberStates), now: small(9), note: fc.constantFrom<string | null | undefined>(undefined, null, 'why') }),
    fc.record({ op: fc.constant('list.setMuted'), e: small(5), until: small(9), now: small(9) }),
    fc.record({ op: fc.constant('list.members'), state: fc.option(fc.constantFrom(...memberStates), { nil: undefined }), limit: fc.option(small(4), { nil: undefined }) }),
    fc.record({ op: fc.constant('list.countMembers'), state: fc.constantFrom(...memberStates) }),
    fc.record({ op: fc.constant('list.subscribers'), after: fc.option(small(6), { nil: null }), limit: small(4) }),
    {
      weight: 3,
      arbitrary: fc.record({ op: fc.constant('list.putPost'), id: small(5), h: small(3), author: small(2), signed: small(3), received: small(5) }),
    },
    fc.record({ op: fc.constant('list.post'), id: small(5) }),
    fc.record({ op: fc.constant('list.postByHash'), h: small(3) }),
    fc.record({ op: fc.constant('list.recentPosts'), limit: small(4) }),
    fc.record({ op: fc.constant('list.trimPosts'), keep: fc.oneof({ arbitrary: small(4), weight: 5 }, fc.constantFrom(Infinity, -1, 1.5)) }),
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('list.addFanout'),
        rows: fc.array(fc.record({ post: small(5), sub: small(3), copy: small(9), state: fc.constantFrom<FanoutRow['state']>('waiting', 'queued'), created: small(4) }), { maxLength: 4 }),
      }),
    },
    fc.record({ op: fc.constant('list.nextWaiting'), limit: small(5) }),
    fc.record({ op: fc.constant('list.markQueued'), copies: fc.array(small(9), { maxLength: 3 }) }),
    fc.record({ op: fc.constant('list.fanoutFor'), post: small(5), limit: fc.option(small(3), { nil: undefined }) }),
    fc.record({ op: fc.constant('list.fanoutByCopy'), copy: small(9) }),
    fc.record({ op: fc.constant('list.countFanout'), post: small(5) }),
    fc.record({ op: fc.constant('list.addComplaint'), author: small(2), who: small(3), post: small(3), at: small(6) }),
    fc.record({ op: fc.constant('list.complainants'), author: small(2), since: small(7) }),
    fc.record({ op: fc.constant('list.purgeComplaints'), before: small(7) }),
  ],
};

type Op = Record<string, unknown> & { op: string };

/** key(base + v), or null when v is null. */
const optKey = (v: unknown, base: number): Uint8Array | null => (v === null ? null : key(base + (v as number)));
const hashes = (v: unknown): Uint8Array[] => (v as number[]).map((x) => key(60 + x));

function apply(s: CoreStore, o: Op): unknown {
  const n = (k: string): number => o[k] as number;
  switch (o.op) {
    case 'sessions.put':
      return s.sessions.put(sessionRow(n('sid'), n('peer'), { rank: n('rank'), state: Uint8Array.of(n('st')), usedAt: n('used') }));
    case 'sessions.get': return s.sessions.get(key(n('sid'), 16));
    case 'sessions.delete': return s.sessions.delete(key(n('sid'), 16));
    case 'sessions.byPeer': return s.sessions.byPeer(key(150 + n('peer')), n('limit'));
    case 'sessions.count': return s.sessions.count();
    case 'sessions.deleteUnusedBefore': return s.sessions.deleteUnusedBefore(n('before'), n('limit'));
    case 'sessions.deleteOldest': return s.sessions.deleteOldest(n('n'));
    case 'onionTags.add': return s.onionTags.add(key(n('tag'), 16), n('exp'));
    case 'onionTags.has': return s.onionTags.has(key(n('tag'), 16));
    case 'onionTags.count': return s.onionTags.count();
    case 'onionTags.purge': return s.onionTags.purge(n('now'), n('limit'));
    case 'onionTags.evictOldest': return s.onionTags.evictOldest(n('n'));
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
    case 'inbox.insert':
      return s.inbox.insert(inboxRow(n('id'), { from: key(100 + n('from')), body: Uint8Array.of(n('body')), hash: optKey(o['hash'], 60), parents: hashes(o['parents']), gap: hashes(o['gap']) }));
    case 'inbox.hasHash': return s.inbox.hasHash(key(60 + n('h')));
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
      return s.outbox.insert(outboxRow(n('id'), {
        to: key(200 + n('to')), createdAt: n('created'), expiresAt: n('expires'), state: o['state'] as OutboxState, nextAttemptAt: n('next'),
        kind: o['kind'] as OutboxKind, hash: optKey(o['hash'], 60), updatedAt: n('updated'), onion: (o['onion'] as number | null | undefined) ?? null,
      }));
    case 'outbox.byHash': return s.outbox.byHash(key(60 + n('h')));
    case 'outbox.hasHash': return s.outbox.hasHash(key(60 + n('h')));
    case 'outbox.purgeDone': return s.outbox.purgeDone(n('before'), n('limit'));
    case 'outbox.setError': return s.outbox.setError(key(n('id'), 16), o['err'] as string | null, n('now'));
    case 'outbox.setOnion': return s.outbox.setOnion(key(n('id'), 16), o['onion'] as number | null, n('now'));
    case 'outbox.reschedule': return s.outbox.reschedule(key(n('id'), 16), n('next'), n('now'));
    case 'outbox.countPendingFor': return s.outbox.countPendingFor(key(200 + n('to')));
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
    case 'held.put': return s.held.put(heldRow(n('id'), { from: key(100 + n('from')), heldAt: n('heldAt'), parents: hashes(o['parents']) }));
    case 'held.get': return s.held.get(key(n('id'), 16));
    case 'held.has': return s.held.has(key(n('id'), 16));
    case 'held.delete': return s.held.delete(key(n('id'), 16));
    case 'held.listFrom': return s.held.listFrom(key(100 + n('from')), n('limit'));
    case 'held.olderThan': return s.held.olderThan(n('t'), n('limit'));
    case 'held.count': return s.held.count();
    case 'convo.advance': return s.convo.advance(key(n('peer')), key(60 + n('h')), hashes(o['parents']), n('now'));
    case 'convo.heads': return s.convo.heads(key(n('peer')));
    case 'relayq.insert':
      return s.relayq.insert(relayRow(n('id'), {
        to: key(200 + n('to')), waitFor: key(210 + n('wait')), envelope: new Uint8Array(n('len')).fill(n('id')), receivedAt: n('received'),
        expiresAt: n('expires'), nextAttemptAt: n('next'), dep: optKey(o['dep'], 230), prev: optKey(o['prev'], 220),
      }));
    case 'relayq.get': return s.relayq.get(key(n('id'), 16));
    case 'relayq.has': return s.relayq.has(key(n('id'), 16));
    case 'relayq.delete': return s.relayq.delete(key(n('id'), 16));
    case 'relayq.reschedule': {
      const dep = o['dep'] as number | null | undefined;
      const count = o['count'] as boolean | undefined;
      return s.relayq.reschedule(key(n('id'), 16), key(210 + n('wait')), n('next'), {
        ...(dep !== undefined ? { dep: optKey(dep, 230) } : {}),
        ...(count !== undefined ? { countAttempt: count } : {}),
      });
    }
    case 'relayq.due': return s.relayq.due(n('now'), n('limit'));
    case 'relayq.expire': return s.relayq.expire(n('now'), n('limit'));
    case 'relayq.byWaitFor': return s.relayq.byWaitFor(key(210 + n('wait')), n('limit'));
    case 'relayq.countFor': return s.relayq.countFor(key(210 + n('wait')));
    case 'relayq.byTo': return s.relayq.byTo(key(200 + n('to')), n('limit'));
    case 'relayq.totals': return s.relayq.totals();
    case 'relayq.perWaitFor': return s.relayq.perWaitFor(n('limit'));
    case 'relayq.list': return s.relayq.list(n('limit'));
    case 'mailbox.setAccount': return s.mailbox.setAccount(key(n('owner')), n('ann'), n('now'));
    case 'mailbox.removeAccount': return s.mailbox.removeAccount(key(n('owner')));
    case 'mailbox.account': return s.mailbox.account(key(n('owner')));
    case 'mailbox.usage': return s.mailbox.usage(key(n('owner')));
    case 'mailbox.accounts': return s.mailbox.accounts();
    case 'mailbox.totals': return s.mailbox.totals();
    case 'mailbox.put':
      return s.mailbox.put({ owner: key(n('owner')), id: key(n('id'), 16), envelope: new Uint8Array(n('len')).fill(n('id')), storedAt: n('stored'), expiresAt: n('expires') });
    case 'mailbox.list': return s.mailbox.list(key(n('owner')), n('after'), n('limit'));
    case 'mailbox.delete': return s.mailbox.delete(key(n('owner')), o['seqs'] as number[]);
    case 'mailbox.expire': return s.mailbox.expire(n('now'));
    case 'myMailboxes.add': return s.myMailboxes.add(key(n('e')), n('now'));
    case 'myMailboxes.remove': return s.myMailboxes.remove(key(n('e')));
    case 'myMailboxes.has': return s.myMailboxes.has(key(n('e')));
    case 'myMailboxes.list': return s.myMailboxes.list();
    case 'list.upsertMember':
      return s.list.upsertMember(listMember(0, {
        entity: ent(n('e')), state: o['state'] as ListMemberState, role: o['role'] as 'owner', joinedAt: n('joined'), updatedAt: n('updated'),
        mutedUntil: n('muted'), note: o['note'] as string | null, onion: n('onion'),
      }));
    case 'list.member': return s.list.member(ent(n('e')));
    case 'list.removeMember': return s.list.removeMember(ent(n('e')));
    case 'list.setState': {
      const note = o['note'] as string | null | undefined;
      return note === undefined
        ? s.list.setState(ent(n('e')), o['state'] as ListMemberState, n('now'))
        : s.list.setState(ent(n('e')), o['state'] as ListMemberState, n('now'), note);
    }
    case 'list.setMuted': return s.list.setMuted(ent(n('e')), n('until'), n('now'));
    case 'list.members': {
      const st = o['state'] as ListMemberState | undefined;
      const limit = o['limit'] as number | undefined;
      return limit === undefined ? s.list.members(st) : s.list.members(st, limit);
    }
    case 'list.countMembers': return s.list.countMembers(o['state'] as ListMemberState);
    case 'list.subscribers': {
      const after = o['after'] as number | null;
      return s.list.subscribers(after === null ? null : ent(after), n('limit'));
    }
    case 'list.putPost':
      return s.list.putPost(listPost(n('id'), { hash: key(60 + n('h')), author: key(100 + n('author')), signed: Uint8Array.of(n('signed')), receivedAt: n('received') }));
    case 'list.post': return s.list.post(key(n('id'), 16));
    case 'list.postByHash': return s.list.postByHash(key(60 + n('h')));
    case 'list.recentPosts': return s.list.recentPosts(n('limit'));
    case 'list.trimPosts': return s.list.trimPosts(n('keep'));
    case 'list.addFanout':
      return s.list.addFanout((o['rows'] as Array<{ post: number; sub: number; copy: number; state: FanoutRow['state']; created: number }>).map((r) =>
        fan(r.post, 0, r.copy, { subscriber: ent(r.sub), state: r.state, createdAt: r.created })));
    case 'list.nextWaiting': return s.list.nextWaiting(n('limit'));
    case 'list.markQueued': return s.list.markQueued((o['copies'] as number[]).map((c) => key(c, 16)));
    case 'list.fanoutFor': {
      const limit = o['limit'] as number | undefined;
      return limit === undefined ? s.list.fanoutFor(key(n('post'), 16)) : s.list.fanoutFor(key(n('post'), 16), limit);
    }
    case 'list.fanoutByCopy': return s.list.fanoutByCopy(key(n('copy'), 16));
    case 'list.countFanout': return s.list.countFanout(key(n('post'), 16));
    case 'list.addComplaint': return s.list.addComplaint(key(n('author')), ent(n('who')), key(n('post'), 16), n('at'));
    case 'list.complainants': return s.list.complainants(key(n('author')), n('since'));
    case 'list.purgeComplaints': return s.list.purgeComplaints(n('before'));
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

/** Small repositories share one property run (each run opens two fresh stores, the costly part). */
const SMALL_REPOS: ReadonlySet<string> = new Set(['sessions', 'onionTags']);

for (const [repo, arbs] of Object.entries(OPS)) {
  if (SMALL_REPOS.has(repo)) continue;
  test(`differential ${repo}: random operation sequences give identical results on SQLite and MemoryStore (property)`, () => {
    // size 'max': lengths spread up to maxLength, so deep states (full heads, duplicates then lists) are reached.
    fc.assert(fc.property(fc.array(fc.oneof(...arbs), { minLength: 1, maxLength: 40, size: 'max' }), (ops) => differential(ops as Op[])), { numRuns: 150 });
  });
}

test(`differential ${[...SMALL_REPOS].join(' + ')}: random operation sequences give identical results on SQLite and MemoryStore (property)`, () => {
  const arbs = [...OPS.sessions, ...OPS.onionTags];
  fc.assert(fc.property(fc.array(fc.oneof(...arbs), { minLength: 1, maxLength: 40, size: 'max' }), (ops) => differential(ops as Op[])), { numRuns: 60 });
});

test('differential all repositories mixed: identical results on SQLite and MemoryStore (property)', () => {
  const all = Object.values(OPS).flat();
  fc.assert(fc.property(fc.array(fc.oneof(...all), { minLength: 1, maxLength: 80, size: 'max' }), (ops) => differential(ops as Op[])), { numRuns: 100 });
});

test.run();
