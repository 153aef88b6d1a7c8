/**
/**
 * Crash safety of store-and-forward under kill -9 (test/helpers/crash.ts): four real daemons
 * A→B→C→D, A's app sends N messages through the API while B and C are each killed with
 * SIGKILL at random (seeded) moments and restarted; every accepted message must reach D's
 * app exactly once and the databases pass SQLite's integrity check.
 *
 *   npm run crash [-- --messages N --seed S --rate PER_SECOND --kills K]
 *       on demand: 10,000 messages and 3 kills of each relay by default (`--kills 150` for
 *       300 kills in all); exit code 1 on a loss or a duplicate
 *   npm run bench -- crash      1,000 messages, as one benchmark
 */
import { fileURLToPath } from 'node:url';
import { crashScenario, type CrashResult } from '../helpers/crash.js';
import { stopAll } from '../helpers/testnet.js';
import type { Bench, BenchOptions, BenchReport } from './lib.js';

function ok(r: CrashResult): boolean {
  return r.missing.length === 0 && r.duplicatesInInbox === 0 && r.duplicatesToApp === 0 && Object.values(r.integrity).every((v) => v === 'ok');
}

export const crashBench: Bench = {
  name: 'crash',
  title: 'store-and-forward through kill -9 of both relays (real daemons)',
  async run(opts: BenchOptions): Promise<BenchReport> {
    const t0 = performance.now();
    const messages = opts.quick ? 100 : 1_000;
    const seed = 8;
    let r: CrashResult;
    try {
      r = await crashScenario({ messages, seed, perSecond: opts.quick ? 100 : 200, log: (s) => opts.log(`crash: ${s}`), deliverTimeoutMs: 300_000 });
    } finally {
      await stopAll();
    }
    return {
      name: 'crash',
      title: this.title,
      figures: [
        { name: 'accepted messages delivered to D\'s app', value: r.delivered, unit: `of ${r.accepted}`, target: 'all', met: r.delivered === r.accepted },
        { name: 'shown twice / stored twice', value: r.duplicatesToApp + r.duplicatesInInbox, unit: 'msgs', target: '0', met: r.duplicatesToApp + r.duplicatesInInbox === 0 },
        { name: 'kill -9 of B and C while sending', value: r.kills.length, unit: 'kills' },
        { name: 'whole run (send, kills, restarts, delivery)', value: r.seconds, unit: 's' },
      ],
      details: r as unknown as Record<string, unknown>,
      notes: [`seed ${r.seed}; kills after messages ${r.kills.map((k) => `${k.who}@${k.afterMessage}`).join(' ')}; integrity ${JSON.stringify(r.integrity)}${ok(r) ? '' : '; FAILED: see details'}`],
      seconds: (performance.now() - t0) / 1000,
    };
  },
};

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

async function main(): Promise<void> {
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
    process.exitCode = ok(r) ? 0 : 1;
  } finally {
    await stopAll();
  }
}

// `npm run crash` runs this file; the benchmark runner only imports it.
if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
