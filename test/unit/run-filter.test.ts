/**
 * `npm test -- <pattern>`: which files a pattern selects (test/run-filter.ts), matched the
 * way uvu matches them (a case-insensitive RegExp against the path inside the group).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patternFor } from '../run-filter.js';

const groups = ['unit', 'integration'];
const files: Record<string, string[]> = {
  unit: ['core.test.js', 'sim.test.js', 'sim-scenarios.test.js', 'helpers.js'],
  integration: ['bench.test.js', 'relay.test.js', 'relay-chaos.test.js'],
};

/** The files of the suite the filter runs, as group/file. */
function selected(filter: string | undefined): string[] {
  const out: string[] = [];
  for (const g of groups) {
    const p = patternFor(filter, g, groups);
    if (p === null) continue;
    const re = new RegExp(p, 'i');
    for (const f of files[g]!) if (re.test(f)) out.push(`${g}/${f}`);
  }
  return out;
}

test('no pattern or a group name runs every test file of it, never a helper', () => {
  assert.equal(selected(undefined), ['unit/core.test.js', 'unit/sim.test.js', 'unit/sim-scenarios.test.js', 'integration/bench.test.js', 'integration/relay.test.js', 'integration/relay-chaos.test.js']);
  assert.equal(selected('unit'), ['unit/core.test.js', 'unit/sim.test.js', 'unit/sim-scenarios.test.js']);
  assert.equal(selected('integration/'), ['integration/bench.test.js', 'integration/relay.test.js', 'integration/relay-chaos.test.js']);
});

test('a piece of a path runs the files that contain it, in any group', () => {
  assert.equal(selected('integration/bench'), ['integration/bench.test.js']);
  assert.equal(selected('relay'), ['integration/relay.test.js', 'integration/relay-chaos.test.js']);
  assert.equal(selected('unit/sim'), ['unit/sim.test.js', 'unit/sim-scenarios.test.js']);
  assert.equal(selected('SIM-scen'), ['unit/sim-scenarios.test.js']);
});

test('a whole file name, compiled or source, runs that file (it matched nothing when it ended in .test.js)', () => {
  assert.equal(selected('unit/sim.test.js'), ['unit/sim.test.js']);
  assert.equal(selected('unit/sim.test.ts'), ['unit/sim.test.js']);
  assert.equal(selected('bench.test.ts'), ['integration/bench.test.js']);
});

test('regex characters in a pattern are taken literally; a pattern naming nothing selects nothing', () => {
  assert.equal(selected('sim.test'), ['unit/sim.test.js']);
  assert.equal(selected('s.m'), []);
  assert.equal(selected('unit/relay'), []);
  assert.equal(selected('nothing-like-this'), []);
});

test.run();
