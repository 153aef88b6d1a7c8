/**
 * The stateful fuzz targets of test/fuzz/targets.ts, a short seeded run of each
 * (test/ADVERSARIAL.md case 5). The seed is printed; rerun a failure with
 * `WOTRELAY_FUZZ_SEED=<seed> npm test -- fuzz`, or run long with
 * `npm run fuzz -- --runs 5000 --seed <seed>`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { coreProperty, honestStillConnects, linkProperty, linkServer, type CoreStats } from '../fuzz/targets.js';

const seed = Number(process.env['WOTRELAY_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
const failures: unknown[] = [];
const onError = (e: unknown) => failures.push(e);

test.before(() => {
  process.stderr.write(`  [fuzz] seed ${seed} (rerun: WOTRELAY_FUZZ_SEED=${seed} npm test -- fuzz)\n`);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
});

test.after(() => {
  process.off('uncaughtException', onError);
  process.off('unhandledRejection', onError);
});

test('case 5: random sequences of valid, field-mutated, byte-mutated and garbage frames, clock jumps and flapping links against a line of four cores: no exception, tables within bounds, nothing shown twice', () => {
  const stats: CoreStats = { events: 0, delivered: 0, closed: 0 };
  fc.assert(coreProperty(stats), { seed, numRuns: 25 });
  assert.ok(stats.events > 100, `frames reached the cores (${stats.events})`);
  assert.ok(stats.closed > 10, `undecodable frames closed links (${stats.closed})`);
  assert.equal(failures, [], 'no uncaught exception or unhandled rejection');
});

test('case 5: the same against a live link (honest and garbled handshakes, then valid, mutated, garbage, oversized, replayed records): no exception, every link closes with a stable code, an honest peer still connects', async () => {
  const srv = await linkServer();
  try {
    await fc.assert(linkProperty(srv), { seed, numRuns: 40 });
    assert.ok(await honestStillConnects(srv), 'an honest peer still connects');
    assert.ok(srv.closes.some((c) => c.code !== 'ERR_CONNECTION_LOST'), 'the fuzz did make links fail');
  } finally {
    await srv.close();
  }
  assert.equal(failures, [], 'no uncaught exception or unhandled rejection');
});

test.run();
