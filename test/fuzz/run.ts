/**
 * The long fuzz run (test/ADVERSARIAL.md case 5): `npm run fuzz [-- --runs N --seed S
 * --target core|link|all]`. Runs the targets of targets.ts with fast-check for N runs each
 * (default 2,000), prints the seed first (a failure prints the seed and path to replay it:
 * `npm run fuzz -- --seed S --runs N`), and at the end the number of frames fed, the heap
 * before and after (the process runs with --expose-gc), and any uncaught exception. Exit
 * code 1 on a failure.
 */
import fc from 'fast-check';
import { coreProperty, honestStillConnects, linkProperty, linkServer, type CoreStats } from './targets.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : (process.argv[i + 1] ?? '');
}
function num(name: string, dflt: number): number {
  const v = Number(arg(name, String(dflt)));
  if (!Number.isSafeInteger(v) || v < 0) {
    process.stderr.write(`--${name} needs a whole number, e.g. --${name} ${dflt}\n`);
    process.exit(2);
  }
  return v;
}

const runs = num('runs', 2000);
const seed = num('seed', Date.now() % 2 ** 31);
const target = arg('target', 'all');
if (!['core', 'link', 'all'].includes(target)) {
  process.stderr.write(`--target must be core, link or all (got "${target}")\n`);
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc;
const heap = () => {
  gc?.();
  return process.memoryUsage().heapUsed / 1048576;
};
const uncaught: unknown[] = [];
process.on('uncaughtException', (e) => uncaught.push(e));
process.on('unhandledRejection', (e) => uncaught.push(e));

process.stdout.write(`fuzz: target ${target}, ${runs} runs each, seed ${seed}\n`);
let failed = false;
const t0 = Date.now();
const heap0 = heap();
if (target !== 'link') {
  const stats: CoreStats = { events: 0, delivered: 0, closed: 0 };
  try {
    fc.assert(coreProperty(stats), { seed, numRuns: runs });
    process.stdout.write(`core: ${runs} runs ok; ${stats.events} frames handled, ${stats.closed} links closed on undecodable frames, ${stats.delivered} messages in inboxes at the ends\n`);
  } catch (e) {
    failed = true;
    process.stdout.write(`core: FAILED\n${String((e as Error).message ?? e)}\n`);
  }
}
if (target !== 'core') {
  const srv = await linkServer();
  try {
    await fc.assert(linkProperty(srv), { seed, numRuns: runs });
    const honest = await honestStillConnects(srv);
    if (!honest) throw new Error('an honest peer could not connect after the run');
    const codes = new Map<string, number>();
    for (const c of srv.closes) codes.set(c.code, (codes.get(c.code) ?? 0) + 1);
    process.stdout.write(`link: ${runs} runs ok; closes by code ${JSON.stringify(Object.fromEntries(codes))}; an honest peer still connects\n`);
  } catch (e) {
    failed = true;
    process.stdout.write(`link: FAILED\n${String((e as Error).message ?? e)}\n`);
  } finally {
    await srv.close();
  }
}
const heap1 = heap();
process.stdout.write(`heap ${heap0.toFixed(1)} MiB → ${heap1.toFixed(1)} MiB${gc ? '' : ' (no --expose-gc: not collected)'}; ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
if (uncaught.length) {
  failed = true;
  process.stdout.write(`uncaught: ${uncaught.map(String).join('\n')}\n`);
}
process.exit(failed ? 1 : 0);
