/**
 * Which test files `npm test -- <pattern>` runs (used by test/run.ts): the uvu pattern, a
 * regular expression uvu matches case-insensitively against each file's path inside its
 * group, for one group of the suite. A pattern is a piece of a path from the suite's root
 * (`unit`, `integration/bench`, `relay`); it may name the compiled file (`unit/sim.test.js`)
 * or its source (`unit/sim.test.ts`).
 */

/** uvu's pattern for group `dir` under `filter` (undefined: every file), or null when the filter names none of its files. */
export function patternFor(filter: string | undefined, dir: string, groups: readonly string[]): string | null {
  const every = '\\.test\\.js$';
  if (!filter || filter === dir || filter === `${dir}/`) return every;
  const inGroup = filter.startsWith(`${dir}/`) ? filter.slice(dir.length + 1) : filter;
  if (inGroup === filter && groups.some((g) => filter === g || filter.startsWith(`${g}/`))) return null; // names another group
  // Tests run compiled: a source name stands for its .js file.
  const piece = inGroup.replace(/\.ts$/, '.js');
  // Any file whose path contains the piece and is a test file (the piece may itself end in .test.js).
  return `^(?=.*\\.test\\.js$).*${escapeRegExp(piece)}`;
}

function escapeRegExp(t: string): string {
  return t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
