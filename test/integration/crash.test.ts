/**
 * Crash safety of store-and-forward with real daemons and kill -9 (test/helpers/crash.ts):
 * while messages flow A→B→C→D, B and C are each killed 12 times at random moments (24 kills)
 * and restarted; every message A's app saw accepted reaches D's app exactly once, and the
 * relays' databases pass the integrity check. CI sends 400 messages; set
 * WOTRELAY_CRASH_MESSAGES, WOTRELAY_CRASH_KILLS (per relay) and WOTRELAY_CRASH_SEED for a
 * bigger run, or use `npm run crash -- --kills 150` (test/bench/crash.ts: 10,000 messages,
 * hundreds of kills).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crashScenario } from '../helpers/crash.js';
import { stopAll } from '../helpers/testnet.js';

const messages = Number(process.env['WOTRELAY_CRASH_MESSAGES'] ?? 400);
const killsPerRelay = Number(process.env['WOTRELAY_CRASH_KILLS'] ?? 12);
const seed = Number(process.env['WOTRELAY_CRASH_SEED'] ?? Date.now() % 1_000_000);

test.after(async () => {
  await stopAll();
});

test(`kill -9 B and C ${killsPerRelay} times each while ${messages} messages flow A→B→C→D: every accepted message reaches D's app exactly once`, async () => {
  const t0 = Date.now();
  const r = await crashScenario({ messages, seed, killsPerRelay, perSecond: 25, log: (s) => process.stderr.write(`  [crash seed=${seed} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}\n`) });
  const ctx = `seed ${seed} (rerun with WOTRELAY_CRASH_SEED=${seed}); kills ${JSON.stringify(r.kills)}`;
  assert.is(r.kills.filter((k) => k.who === 'crashB').length, killsPerRelay, `B killed ${killsPerRelay} times: ${ctx}`);
  assert.is(r.kills.filter((k) => k.who === 'crashC').length, killsPerRelay, `C killed ${killsPerRelay} times: ${ctx}`);
  assert.is(r.accepted, messages, ctx);
  assert.equal(r.missing, [], `nothing accepted is lost: ${ctx}`);
  assert.is(r.delivered, messages, ctx);
  assert.is(r.duplicatesInInbox, 0, `no duplicate in D's inbox: ${ctx}`);
  assert.is(r.duplicatesToApp, 0, `D's app saw each message once: ${ctx}`);
  assert.equal(r.integrity, { crashB: 'ok', crashC: 'ok' }, `integrity check: ${ctx}`);
});

test.run();
