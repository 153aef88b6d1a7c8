/**
 * The journaled relay queue (agent/store/relayjournal.ts) that a daemon's Store uses for
 * custody: what a committed transaction changed survives closing (and a crash: the journal is
 * replayed on open), what a failed transaction or savepoint changed is undone in memory and
 * never reaches the file, a torn tail left by a crash mid-write is cut off and the queue
 * goes on, a failed write (disk full) undoes the transaction and says why, and compaction
 * keeps exactly the live rows. Its everyday behaviour is checked against the SQLite table
 * and MemoryStore in memory-store.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store, type RelayRow } from '../../agent/store/index.js';
import { JournaledRelayQueue } from '../../agent/store/relayjournal.js';
import { isWotError } from '../../agent/wire/errors.js';

const key = (n: number, len = 32): Uint8Array => new Uint8Array(len).fill(n);
const row = (n: number, over: Partial<RelayRow> = {}): RelayRow => ({
  id: key(n, 16),
  to: key(200),
  waitFor: key(210),
  dep: null,
  prev: key(220),
  envelope: new Uint8Array(100 + n).fill(n),
  receivedAt: 1000 + n,
  expiresAt: 100_000 + n,
  attempts: 0,
  nextAttemptAt: 5000 + n,
  ...over,
});
const ids = (rows: RelayRow[]): number[] => rows.map((r) => r.id[0]!);

function withDb(fn: (file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-rj-'));
  try {
    fn(path.join(dir, 'w.db'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('committed changes survive reopening: rows, their order, counts, reschedules and deletes', () => {
  withDb((file) => {
    let s = Store.open(file);
    s.tx(() => {
      for (let n = 1; n <= 5; n++) s.relayq.insert(row(n, n === 3 ? { dep: key(230) } : {}));
    });
    s.tx(() => s.relayq.reschedule(key(2, 16), key(211), 42, { countAttempt: true, dep: key(231) }));
    s.relayq.delete(key(4, 16)); // outside a transaction: its own
    const before = { list: s.relayq.list(100), totals: s.relayq.totals(), per: s.relayq.perWaitFor(10) };
    s.close();
    s = Store.open(file);
    assert.equal(ids(s.relayq.list(100)), [1, 2, 3, 5]);
    assert.equal(s.relayq.list(100), before.list, 'every field as committed');
    assert.equal([s.relayq.totals(), s.relayq.perWaitFor(10)], [before.totals, before.per]);
    const r2 = s.relayq.get(key(2, 16))!;
    assert.equal([r2.nextAttemptAt, r2.attempts, r2.waitFor[0], r2.dep?.[0]], [42, 1, 211, 231]);
    assert.equal(ids(s.relayq.due(5003, 10)), [2, 1, 3], 'due in the same order');
    s.close();
  });
});

test('a transaction that throws leaves neither memory nor file changed; a savepoint rolls back alone', () => {
  withDb((file) => {
    let s = Store.open(file);
    s.tx(() => {
      s.relayq.insert(row(1));
      s.relayq.insert(row(2));
    });
    assert.throws(() =>
      s.tx(() => {
        s.relayq.insert(row(3));
        s.relayq.delete(key(1, 16));
        s.relayq.reschedule(key(2, 16), key(212), 7);
        throw new Error('boom');
      }),
    );
    assert.equal(ids(s.relayq.list(100)), [1, 2], 'undone in memory');
    assert.equal([s.relayq.get(key(2, 16))!.nextAttemptAt, s.relayq.countFor(key(212)).n], [5002, 0]);
    s.tx(() => {
      s.relayq.insert(row(4));
      try {
        s.tx(() => {
          s.relayq.insert(row(5));
          s.relayq.delete(key(4, 16));
          throw new Error('inner');
        });
      } catch {
        /* the savepoint rolled back */
      }
      s.relayq.insert(row(6));
    });
    assert.equal(ids(s.relayq.list(100)), [1, 2, 4, 6]);
    s.close();
    s = Store.open(file);
    assert.equal(ids(s.relayq.list(100)), [1, 2, 4, 6], 'and the file holds only what was committed');
    s.close();
  });
});

test('a torn tail (a crash in the middle of a write) is cut off; what came before stays, and writing goes on', () => {
  withDb((file) => {
    let s = Store.open(file);
    s.tx(() => s.relayq.insert(row(1)));
    s.tx(() => s.relayq.insert(row(2)));
    s.close();
    const j = `${file}-relayq`;
    const full = fs.statSync(j).size;
    fs.truncateSync(j, full - 20); // the last record half written
    s = Store.open(file);
    assert.equal(ids(s.relayq.list(100)), [1]);
    s.tx(() => s.relayq.insert(row(3)));
    s.close();
    fs.appendFileSync(j, Buffer.from([0, 0, 0, 9, 1, 2, 3])); // garbage after the last record
    const q = JournaledRelayQueue.open(j);
    assert.equal(ids(q.list(100)), [1, 3]);
    assert.ok(q.recovered.truncatedBytes > 0, 'the garbage was seen and cut');
    q.close();
    assert.throws(() => {
      fs.writeFileSync(j, 'not a journal at all');
      JournaledRelayQueue.open(j);
    }, /not a wotrelay relay-queue journal/);
  });
});

test('a write that fails (disk full) undoes the transaction and says so; nothing is kept half', () => {
  withDb((file) => {
    const s = Store.open(file);
    s.tx(() => s.relayq.insert(row(1)));
    const real = fs.writeSync;
    (fs as { writeSync: unknown }).writeSync = () => {
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    let err: unknown;
    try {
      s.tx(() => s.relayq.insert(row(2)));
    } catch (e) {
      err = e;
    } finally {
      (fs as { writeSync: unknown }).writeSync = real;
    }
    assert.ok(isWotError(err) && err.code === 'ERR_INTERNAL' && /disk space/.test(err.hint ?? ''), 'a clear error');
    assert.equal(ids(s.relayq.list(100)), [1], 'the failed insert is not in the queue');
    s.tx(() => s.relayq.insert(row(3)));
    s.close();
    const again = Store.open(file);
    assert.equal(ids(again.relayq.list(100)), [1, 3]);
    again.close();
  });
});

test('compaction rewrites the journal as the live rows', () => {
  withDb((file) => {
    const j = `${file}-relayq`;
    const q = JournaledRelayQueue.open(j, { compactMinBytes: 20_000 });
    for (let n = 1; n <= 200; n++) {
      q.insert(row(n % 250));
      if (n % 10 !== 0) q.delete(key(n % 250, 16));
    }
    const live = ids(q.list(1000));
    assert.is(live.length, 20);
    assert.ok(q.size < 20_000 + 4 * 5_000, `compacted (${q.size} bytes)`);
    q.close();
    const back = JournaledRelayQueue.open(j);
    assert.equal(ids(back.list(1000)), live);
    back.close();
  });
});

test.run();
