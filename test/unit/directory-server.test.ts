/**
 * Unit tests for pieces of the directory's HTTP server (directory-server/server.ts) that are
 * checked better in isolation than over HTTP: the expiry header's date text.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isoTime } from '../../directory-server/server.js';

test('isoTime gives exactly Date.toISOString: day and second edges, random times 1970–9999, and the rest through Date', () => {
  const edges = [0, 1, 999, 1000, 59_999, 60_000, 3_599_999, 86_399_999, 86_400_000, Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(2100, 2, 1), 253_402_300_799_999];
  // Outside its arithmetic range, or not a whole ms: the same text (or the same RangeError) as Date.
  const others = [-1, -86_400_001, 1.5, 253_402_300_800_000, 8.64e15];
  for (const ms of [...edges, ...others]) assert.is(isoTime(ms), new Date(ms).toISOString(), String(ms));
  assert.throws(() => isoTime(Number.NaN), RangeError);
  let x = 0x2545f491;
  for (let i = 0; i < 20_000; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const ms = Math.floor(((x >>> 0) / 2 ** 32) * 253_402_300_800_000);
    assert.is(isoTime(ms), new Date(ms).toISOString(), String(ms));
  }
  // Many different days in a row (the day texts it keeps are bounded, and stay right).
  for (let d = 0; d < 200; d++) {
    const ms = Date.UTC(2030, 0, 1) + d * 86_400_000 + d * 1_234;
    assert.is(isoTime(ms), new Date(ms).toISOString());
  }
});

test.run();
