/**
 * Unit tests for the directory's embedded record store (directory-server/sqlite-store.ts)
 * under a fake clock (every call takes `now`): compare-and-set on seq, older and equal seq
 * refused with the record unchanged, equal seq with other bytes flagged, TTL expiry, sweep,
 * the bound on records, persistence across reopen and the single-process lock; the record
 * cache in front of SQLite: bounded, never serving a replaced or expired record.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../../directory-server/sqlite-store.js';
import { StoreError, type StoredRecord } from '../../directory-server/store.js';

const T0 = Date.UTC(2030, 0, 1);
const HOUR = 3600 * 1000;
const tmpDirs: string[] = [];

function tmpFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wotrelay-dirstore-'));
  tmpDirs.push(d);
  return path.join(d, 'directory.db');
}

function entity(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}

function rec(seq: number, now: number, ttl = 24 * HOUR, tag = 0): StoredRecord {
  return { seq, ts: now, storedAt: now, expiresAt: now + ttl, bytes: Uint8Array.of(0xa0, seq & 0xff, tag) };
}

const BIG = 1_000_000;

test.after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

test('CAS on seq: create, replace with a greater seq; older and equal seq refused, record unchanged', async () => {
  const s = SqliteStore.open(tmpFile());
  try {
    const e = entity(1);
    assert.equal(await s.put(e, rec(5, T0), { now: T0, maxRecords: BIG }), { kind: 'created' });
    assert.equal(await s.put(e, rec(6, T0 + 1), { now: T0 + 1, maxRecords: BIG }), { kind: 'replaced', previousSeq: 5 });
    assert.equal(await s.put(e, rec(4, T0 + 2), { now: T0 + 2, maxRecords: BIG }), { kind: 'stale', storedSeq: 6, conflict: false });
    // Equal seq, identical bytes: refused, not a conflict.
    assert.equal(await s.put(e, rec(6, T0 + 1), { now: T0 + 3, maxRecords: BIG }), { kind: 'stale', storedSeq: 6, conflict: false });
    const got = await s.get(e, T0 + 4);
    assert.ok(got);
    assert.is(got.seq, 6);
    assert.equal(Uint8Array.from(got.bytes), rec(6, T0 + 1).bytes);
    assert.is(got.storedAt, T0 + 1);
    assert.is(await s.get(entity(2), T0), null, 'unknown entity');
    assert.is(await s.count(T0), 1);
  } finally {
    await s.close();
  }
});

test('equal seq with different bytes → stale with conflict flagged, stored bytes unchanged', async () => {
  const s = SqliteStore.open(tmpFile());
  try {
    const e = entity(3);
    await s.put(e, rec(9, T0, 24 * HOUR, 1), { now: T0, maxRecords: BIG });
    assert.equal(await s.put(e, rec(9, T0, 24 * HOUR, 2), { now: T0 + 1, maxRecords: BIG }), { kind: 'stale', storedSeq: 9, conflict: true });
    assert.equal(Uint8Array.from((await s.get(e, T0 + 2))!.bytes), rec(9, T0, 24 * HOUR, 1).bytes);
  } finally {
    await s.close();
  }
});

test('TTL expiry: an expired record is not served and counts as absent (any seq may replace it)', async () => {
  const s = SqliteStore.open(tmpFile());
  try {
    const e = entity(4);
    await s.put(e, rec(10, T0, HOUR), { now: T0, maxRecords: BIG });
    assert.ok(await s.get(e, T0 + HOUR - 1), 'live just before expiry');
    assert.is(await s.get(e, T0 + HOUR), null, 'expired at expiresAt');
    // A live record protects its seq; an expired one does not.
    assert.is((await s.put(e, rec(3, T0 + HOUR - 1), { now: T0 + HOUR - 1, maxRecords: BIG })).kind, 'stale');
    assert.equal(await s.put(e, rec(3, T0 + HOUR), { now: T0 + HOUR, maxRecords: BIG }), { kind: 'created' });
    assert.is((await s.get(e, T0 + HOUR + 1))!.seq, 3);
    assert.is(await s.count(T0 + HOUR), 1, 'replacing an expired row does not add one');
  } finally {
    await s.close();
  }
});

test('sweep deletes exactly the expired records and updates the count', async () => {
  const s = SqliteStore.open(tmpFile());
  try {
    for (let i = 0; i < 10; i++) await s.put(entity(10 + i), rec(1, T0, (i + 1) * HOUR), { now: T0, maxRecords: BIG });
    assert.is(await s.count(T0), 10);
    assert.is(await s.sweep(T0 + 3 * HOUR), 3, 'records with expiresAt <= now');
    assert.is(await s.count(T0), 7);
    assert.is(await s.get(entity(10), T0), null, 'swept record is gone even for an earlier clock');
    assert.ok(await s.get(entity(13), T0 + 3 * HOUR));
    assert.is(await s.sweep(T0 + 3 * HOUR), 0, 'idempotent');
  } finally {
    await s.close();
  }
});

test('bound: a new entity is refused at maxRecords, replacements still pass, expired records make room', async () => {
  const s = SqliteStore.open(tmpFile());
  try {
    await s.put(entity(20), rec(1, T0, HOUR), { now: T0, maxRecords: 3 });
    await s.put(entity(21), rec(1, T0, 10 * HOUR), { now: T0, maxRecords: 3 });
    await s.put(entity(22), rec(1, T0, 10 * HOUR), { now: T0, maxRecords: 3 });
    assert.equal(await s.put(entity(23), rec(1, T0), { now: T0 + 1, maxRecords: 3 }), { kind: 'full', count: 3 });
    assert.is(await s.get(entity(23), T0 + 1), null);
    assert.is((await s.put(entity(21), rec(2, T0 + 1), { now: T0 + 1, maxRecords: 3 })).kind, 'replaced', 'existing entity may update');
    // Once entity 20 has expired, the bound check sweeps it and makes room.
    assert.equal(await s.put(entity(23), rec(1, T0 + HOUR), { now: T0 + HOUR, maxRecords: 3 }), { kind: 'created' });
    assert.is(await s.count(T0 + HOUR), 3);
  } finally {
    await s.close();
  }
});

test('records survive close and reopen; a second process-level open of the same file is refused', async () => {
  const file = tmpFile();
  const s = SqliteStore.open(file);
  await s.put(entity(30), rec(7, T0), { now: T0, maxRecords: BIG });
  let second: unknown;
  try {
    SqliteStore.open(file, { lockWaitMs: 50 }).close();
  } catch (e) {
    second = e;
  }
  assert.ok(second instanceof StoreError, 'the file is locked while open');
  assert.match((second as StoreError).message, /in use/);
  await s.close();
  const again = SqliteStore.open(file);
  try {
    assert.is((await again.get(entity(30), T0 + 1))!.seq, 7);
    assert.is(await again.count(T0), 1);
    await again.ping();
  } finally {
    await again.close();
  }
});

test('record cache: a replaced record is never served from it, an expired one neither, and it stays within its bound', async () => {
  const s = SqliteStore.open(tmpFile(), { cacheRecords: 3 });
  try {
    const e = entity(1);
    await s.put(e, rec(5, T0, HOUR), { now: T0, maxRecords: BIG });
    assert.is((await s.get(e, T0))!.seq, 5); // miss: read from SQLite, now cached
    assert.is((await s.get(e, T0 + 1))!.seq, 5); // hit
    assert.equal(s.cacheStats(), { hits: 1, misses: 1, records: 1, maxRecords: 3 });
    // A newer announcement replaces the cached record at once.
    assert.is((await s.put(e, rec(6, T0 + 2, HOUR), { now: T0 + 2, maxRecords: BIG })).kind, 'replaced');
    assert.is((await s.get(e, T0 + 3))!.seq, 6);
    // A refused (older) one changes nothing, cached or not.
    assert.is((await s.put(e, rec(4, T0 + 4, HOUR), { now: T0 + 4, maxRecords: BIG })).kind, 'stale');
    assert.is((await s.get(e, T0 + 5))!.seq, 6);
    assert.is((await s.get(e, T0 + 6))!.seq, 6);
    // Cached, then expired: not served, as from SQLite.
    assert.is(await s.get(e, T0 + 2 + HOUR), null);
    // Bounded: never more than 3 records (one per slot; a record read later takes its slot).
    for (let i = 10; i < 20; i++) await s.put(entity(i), rec(1, T0, HOUR), { now: T0, maxRecords: BIG });
    for (let i = 10; i < 20; i++) {
      assert.is((await s.get(entity(i), T0 + 1))!.seq, 1);
      assert.ok(s.cacheStats()!.records <= 3, `${s.cacheStats()!.records} records cached`);
    }
    const before = s.cacheStats()!;
    assert.is((await s.get(entity(19), T0 + 2))!.seq, 1); // the last one read: still cached
    assert.is((await s.get(entity(10), T0 + 2))!.seq, 1); // evicted long ago: read again from SQLite
    assert.equal(s.cacheStats(), { ...before, hits: before.hits + 1, misses: before.misses + 1, records: s.cacheStats()!.records });
  } finally {
    await s.close();
  }
  // No cache unless asked for.
  const plain = SqliteStore.open(tmpFile());
  try {
    assert.is(plain.cacheStats(), null);
  } finally {
    await plain.close();
  }
});

test('record cache: every byte value comes back as stored, read from SQLite and from the cache, as bytes and as latin1 text', async () => {
  const s = SqliteStore.open(tmpFile(), { cacheRecords: 8 });
  try {
    const all = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) & 0xff);
    const e = entity(42);
    await s.put(e, { seq: 1, ts: T0, storedAt: T0, expiresAt: T0 + HOUR, bytes: all }, { now: T0, maxRecords: BIG });
    for (const what of ['miss', 'hit']) {
      const got = (await s.get(e, T0 + 1))!;
      assert.equal(new Uint8Array(got.bytes), all, `${what}: bytes`);
      assert.is(got.latin1, Buffer.from(all).toString('latin1'), `${what}: latin1`);
    }
    assert.equal(s.cacheStats(), { hits: 1, misses: 1, records: 1, maxRecords: 8 });
  } finally {
    await s.close();
  }
});

test('opening a store in a missing folder says which folder and how to fix it', () => {
  let err: unknown;
  try {
    SqliteStore.open(path.join(os.tmpdir(), 'wotrelay-no-such-dir-8c1f', 'x', 'directory.db'));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof StoreError);
  assert.match((err as StoreError).message, /does not exist/);
  assert.match((err as StoreError).hint ?? '', /mkdir -p/);
});

test.run();
