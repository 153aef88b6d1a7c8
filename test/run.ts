/**
 * Runs the whole uvu suite (unit, then integration) from the compiled tree and ends with
 * one summary line, `N passed, N failed, N skipped`. `npm test -- <pattern>` runs only the
 * test files whose path (e.g. `integration/bench.test.js`) contains the pattern: `unit` runs
 * the unit group, `integration/bench` (or `integration/bench.test.ts`) one file, `relay` every
 * file with it in its name (test/run-filter.ts). A pattern that names no file is an error, not
 * an empty pass. A hard timeout stops a hung suite.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { patternFor } from './run-filter.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// uvu's package exports hide bin.js; resolve it from the package folder.
const uvuBin = path.resolve(here, '../../node_modules/uvu/bin.js');
const filter = process.argv[2];
const TIMEOUT_MS = 15 * 60_000;
const groups = ['unit', 'integration'];

interface Totals { total: number; passed: number; skipped: number }

function runGroup(dir: string, pattern: string): Promise<{ code: number; totals: Totals }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [uvuBin, path.join(here, dir), pattern, '--color=false'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
    });
    const timer = setTimeout(() => {
      process.stderr.write(`\ntest group ${dir} timed out after ${TIMEOUT_MS / 1000}s\n`);
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1] ?? 0);
      resolve({ code: code ?? 1, totals: { total: num('Total'), passed: num('Passed'), skipped: num('Skipped') } });
    });
  });
}

let failedCode = 0;
const sum: Totals = { total: 0, passed: 0, skipped: 0 };
for (const g of groups) {
  const pattern = patternFor(filter, g, groups);
  if (pattern === null) continue;
  process.stdout.write(`\n== ${g} tests ==\n`);
  const { code, totals } = await runGroup(g, pattern);
  if (code !== 0) failedCode = code;
  sum.total += totals.total;
  sum.passed += totals.passed;
  sum.skipped += totals.skipped;
}
// uvu's Total counts the tests that ran; the skipped ones are counted apart.
const failed = sum.total - sum.passed;
process.stdout.write(`\n${sum.passed} passed, ${failed} failed, ${sum.skipped} skipped\n`);
if (sum.total === 0) {
  process.stderr.write(filter ? `no test file's path contains "${filter}" (paths look like unit/core.test.js, integration/bench.test.js)\n` : 'no tests ran\n');
  process.exit(filter ? 2 : 1);
}
process.exit(failedCode !== 0 || failed > 0 ? 1 : 0);
