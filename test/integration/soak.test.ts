/**
 * A small smoke run of the soak scenario (test/helpers/soak.ts; the real one is `npm run
 * soak`): four daemons in a ring with chords, apps sending to each other for five seconds while one of
 * them is killed with SIGKILL and restarted; nothing accepted is lost, nothing is shown to an
 * app twice.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { soak } from '../helpers/soak.js';
import { stopAll } from '../helpers/testnet.js';

const seed = Number(process.env['WOTRELAY_SOAK_SEED'] ?? Date.now() % 1_000_000);

test.after(async () => {
  await stopAll();
});

test('soak smoke: 4 agents, 5 s of random traffic with kill -9 and restart → none lost, none shown twice', async () => {
  const r = await soak({ agents: 4, seconds: 5, rate: 15, killEverySeconds: 2.5, seed, drainSeconds: 60, log: (s) => process.stderr.write(`  [soak seed=${seed}] ${s}\n`) });
  const ctx = `seed ${seed} (rerun with WOTRELAY_SOAK_SEED=${seed}): ${JSON.stringify(r)}`;
  assert.ok(r.kills >= 1, `at least one kill: ${ctx}`);
  assert.ok(r.sent >= 30, `messages flowed: ${ctx}`);
  assert.is(r.lost, 0, `none lost: ${ctx}`);
  assert.is(r.duplicatedToApp, 0, `none shown twice: ${ctx}`);
  assert.is(r.delivered, r.sent, ctx);
});

test.run();
