/**
 * `npm run bench [-- <name> …] [--quick]`: runs the benchmarks (all by default), prints each
 * one's table — every figure beside its baseline from the same run, and the ratio — and
 * writes its JSON (figures, ratios, machine, Node version, git commit) to
 * test/bench/results/<name>.json. `--quick` runs tiny sizes (what the smoke tests in npm test
 * run) and writes nothing. `--list` prints the names. Exit code 1 when a benchmark failed to
 * run (a missed target is reported, not an error).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machine, table, writeResult, type Bench } from './lib.js';
import { crashBench } from './crash.js';
import { cryptoBench } from './crypto.js';
import { directoryBench } from './directory.js';
import { discoveryBench } from './discovery.js';
import { listBench } from './list.js';
import { memoryBench } from './memory.js';
import { readyBench } from './ready.js';
import { relayBench } from './relay.js';
import { verifyBench } from './verify.js';
import { relayCoreBench } from './relaycore.js';

export const BENCHES: Bench[] = [relayBench, relayCoreBench, verifyBench, cryptoBench, readyBench, discoveryBench, listBench, directoryBench, memoryBench, crashBench];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const full = args.includes('--full');
if (args.includes('--list')) {
  for (const b of BENCHES) process.stdout.write(`${b.name.padEnd(10)} ${b.title}\n`);
  process.exit(0);
}
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}\n`);
  process.exit(2);
}
const chosen = names.length > 0 ? BENCHES.filter((b) => names.includes(b.name)) : BENCHES;
let failed = 0;
const t0 = performance.now();
if (chosen.length > 1 && !quick) {
  // Each in a process of its own: the simulator benchmarks leave a heap of gigabytes behind,
  // and the next one measured in the same process ran up to 3x slower for its garbage.
  const flags = args.filter((a) => a.startsWith('--'));
  for (const b of chosen) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), b.name, ...flags], { stdio: 'inherit' });
    if (r.status !== 0) failed++;
  }
  process.stdout.write(`\n${chosen.length - failed} of ${chosen.length} benchmarks ran in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  process.exit(failed > 0 ? 1 : 0);
}
for (const b of chosen) {
  try {
    const report = await b.run({ quick, full, log: (l) => process.stderr.write(`  ${l}\n`) });
    const m = machine();
    process.stdout.write(`\n${table(report, m)}\n`);
    if (!quick) process.stdout.write(`  written to ${writeResult(report, m)}\n`);
  } catch (e) {
    failed++;
    process.stderr.write(`\n${b.name}: FAILED: ${(e as Error).stack ?? String(e)}\n`);
  }
}
process.stdout.write(`\n${chosen.length - failed} of ${chosen.length} benchmarks ran in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
process.exit(failed > 0 ? 1 : 0);
