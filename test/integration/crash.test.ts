/**
 * Crash safety of store-and-forward with real daemons and kill -9 (test/helpers/crash.ts):
 * while messages flow A→B→C→D, B and C are each killed at least twice at random moments and
 * restarted; every message A's app saw accepted reaches D's app exactly once, and the
 * relays' databases pass the integrity check. CI sends 300 messages; set
 * WOTRELAY_CRASH_MESSAGES (and WOTRELAY_CRASH_SEED) for a bigger run, or use
 * `npm run crash` (test/bench/crash.ts, 10,000 messages).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crashScenario } from '../helpers/crash.js';
import { stopAll } from '../helpers/testnet.js';

const messages = Number(process.env['WOTRELAY_CRASH_MESSAGES'] ?? 300);
const seed = Number(process.env['WOTRELAY_CRASH_SEED'] ?? Date.now() % 1_000_000);

test.after(async () => {
  await stopAll();
});

test(`kill -9 B and C twice each while ${messages} messages flow A→B→C→D: every accepted message reaches D's app exactly once`, async () => {
  const r = await crashScenario({ messages, seed, log: (s) => process.stderr.write(`  [crash seed=${seed}] ${s}\n`) });
  const ctx = `seed ${seed} (rerun with WOTRELAY_CRASH_SEED=${seed}); kills ${JSON.stringify(r.kills)}`;
  assert.ok(r.kills.filter((k) => k.who === 'crashB').length >= 2 && r.kills.filter((k) => k.who === 'crashC').length >= 2, `B and C each killed twice: ${ctx}`);
  assert.is(r.accepted, messages, ctx);
  assert.equal(r.missing, [], `nothing accepted is lost: ${ctx}`);
  assert.is(r.delivered, messages, ctx);
  assert.is(r.duplicatesInInbox, 0, `no duplicate in D's inbox: ${ctx}`);
  assert.is(r.duplicatesToApp, 0, `D's app saw each message once: ${ctx}`);
  assert.equal(r.integrity, { crashB: 'ok', crashC: 'ok' }, `integrity check: ${ctx}`);
});

test.run();
