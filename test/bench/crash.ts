/**
 * On-demand crash-safety run (issue: store-and-forward): `npm run crash [-- --messages N
 * --seed S --rate PER_SECOND --kills K]` runs the scenario of test/helpers/crash.ts with
 * 10,000 messages and 3 kills of each relay by default (`--kills 150` for 300 kills in all)
 * and prints the outcome; exit code 1 when a message was lost or delivered twice.
 */
import { crashScenario } from '../helpers/crash.js';
import { stopAll } from '../helpers/testnet.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v <= 0) {
    process.stderr.write(`--${name} needs a positive whole number, e.g. --${name} 10000\n`);
    process.exit(2);
  }
  return v;
}

const messages = arg('messages', 10_000);
const seed = arg('seed', Date.now() % 1_000_000);
const perSecond = arg('rate', 250);
const killsPerRelay = arg('kills', 3);
try {
  const r = await crashScenario({ messages, seed, perSecond, killsPerRelay, log: (s) => process.stdout.write(`${s}\n`), deliverTimeoutMs: 600_000 });
  process.stdout.write(
    [
      `seed ${r.seed}: ${r.accepted}/${r.sent} accepted, ${r.delivered} delivered to D, ${r.missing.length} missing,`,
      `${r.duplicatesInInbox} duplicated in the inbox, ${r.duplicatesToApp} shown twice; kills: ${r.kills.map((k) => `${k.who}@${k.afterMessage}`).join(' ')};`,
      `integrity ${JSON.stringify(r.integrity)}; ${r.seconds.toFixed(1)} s`,
      '',
    ].join('\n'),
  );
  const ok = r.missing.length === 0 && r.duplicatesInInbox === 0 && r.duplicatesToApp === 0 && Object.values(r.integrity).every((v) => v === 'ok');
  process.exitCode = ok ? 0 : 1;
} finally {
  await stopAll();
}
