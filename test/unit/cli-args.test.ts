/**
 * The CLI argument parser: durations, HOST:PORT checks, --opt=value and --opt value,
 * repeatable options, unknown options named in the error, value checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ArgError, parseAddr, parseArgs, parseDuration, type OptSpec } from '../../agent/cli/args.js';

function argError(fn: () => unknown): ArgError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ArgError) return e;
    throw e;
  }
  throw new Error('expected an ArgError');
}

const SPECS: OptSpec[] = [
  { name: 'uses', type: 'number', integer: true, min: 1, metavar: 'N' },
  { name: 'expires', type: 'duration' },
  { name: 'listen', type: 'addr', allowPortZero: true },
  { name: 'addr', type: 'addr', repeatable: true },
  { name: 'name', type: 'string' },
  { name: 'wait', type: 'boolean' },
  { name: 'help', short: 'h', type: 'boolean' },
  { name: 'level', type: 'string', choices: ['debug', 'info'] },
];

test('durations: units s, m, h, d, w, ms and combinations convert to milliseconds', () => {
  assert.is(parseDuration('10s'), 10_000);
  assert.is(parseDuration('30m'), 1_800_000);
  assert.is(parseDuration('24h'), 86_400_000);
  assert.is(parseDuration('7d'), 604_800_000);
  assert.is(parseDuration('2w'), 1_209_600_000);
  assert.is(parseDuration('500ms'), 500);
  assert.is(parseDuration('1h30m'), 5_400_000);
  assert.is(parseDuration('1.5h'), 5_400_000);
  assert.is(parseDuration('24H'), 86_400_000);
});

test('durations: a missing unit, garbage, zero and trailing junk are refused with a hint', () => {
  assert.match(argError(() => parseDuration('10')).message, 'no unit');
  assert.match(argError(() => parseDuration('abc')).message, 'not a duration');
  assert.match(argError(() => parseDuration('0s')).message, 'longer than zero');
  assert.match(argError(() => parseDuration('10sx')).message, 'not a duration');
  assert.match(argError(() => parseDuration('')).message, 'empty');
  assert.ok(argError(() => parseDuration('10')).tryHint?.includes('24h'));
});

test('addresses: IPv4, host names and bracketed IPv6 with a port are accepted', () => {
  assert.equal(parseAddr('127.0.0.1:7117'), { host: '127.0.0.1', port: 7117 });
  assert.equal(parseAddr('example.org:80'), { host: 'example.org', port: 80 });
  assert.equal(parseAddr('localhost:1'), { host: 'localhost', port: 1 });
  assert.equal(parseAddr('[::1]:7117'), { host: '::1', port: 7117 });
  assert.equal(parseAddr('[2001:db8::1]:65535'), { host: '2001:db8::1', port: 65535 });
});

test('addresses: no port, bad port, bad host, unbracketed IPv6 and port 0 (unless allowed) are refused', () => {
  assert.match(argError(() => parseAddr('nohost')).message, 'no port');
  assert.match(argError(() => parseAddr('host:70000')).message, 'out of range');
  assert.match(argError(() => parseAddr('host:')).message, 'no port');
  assert.match(argError(() => parseAddr(':7117')).message, 'no host');
  assert.match(argError(() => parseAddr('1.2.3.999:1')).message, 'IPv4');
  assert.match(argError(() => parseAddr('bad_host!:1')).message, 'host name');
  assert.match(argError(() => parseAddr('::1:7117')).message, 'brackets');
  assert.match(argError(() => parseAddr('[nothex]:7117')).message, 'IPv6');
  assert.match(argError(() => parseAddr('h:0')).message, 'port 0');
  assert.equal(parseAddr('127.0.0.1:0', { allowPortZero: true }), { host: '127.0.0.1', port: 0 });
});

test('parseArgs: --opt value and --opt=value, typed values and interleaved positionals', () => {
  const r = parseArgs(['a', '--uses', '3', 'b', '--expires=7d', '--listen', '127.0.0.1:0', '--wait', '--name=x=y'], SPECS);
  assert.equal(r.positionals, ['a', 'b']);
  assert.is(r.opts.uses, 3);
  assert.is(r.opts.expires, 7 * 86_400_000);
  assert.is(r.opts.listen, '127.0.0.1:0');
  assert.is(r.opts.wait, true);
  assert.is(r.opts.name, 'x=y');
});

test('parseArgs: repeatable options collect every value; others refuse a repeat', () => {
  const r = parseArgs(['--addr', '1.2.3.4:1', '--addr=h.example:2'], SPECS);
  assert.equal(r.opts.addr, ['1.2.3.4:1', 'h.example:2']);
  assert.match(argError(() => parseArgs(['--name', 'a', '--name', 'b'], SPECS)).message, '--name was given more than once');
});

test('parseArgs: an unknown option is named in the error, with a near match suggested', () => {
  const e = argError(() => parseArgs(['--usse', '3'], SPECS, 'usage line'));
  assert.match(e.message, 'unknown option --usse');
  assert.match(e.tryHint ?? '', '--uses');
  const e2 = argError(() => parseArgs(['--frobnicate=1'], SPECS, 'usage line'));
  assert.is(e2.message, 'unknown option --frobnicate');
  assert.match(e2.tryHint ?? '', 'usage line');
  assert.match(argError(() => parseArgs(['-x'], SPECS)).message, 'unknown option -x');
  assert.match(argError(() => parseArgs(['--h'], SPECS)).message, 'unknown option --h');
});

test('parseArgs: bad values say which option and what is expected', () => {
  assert.match(argError(() => parseArgs(['--uses', 'abc'], SPECS)).message, '--uses needs a whole number, not "abc"');
  assert.match(argError(() => parseArgs(['--uses', '1.5'], SPECS)).message, '--uses needs a whole number');
  assert.match(argError(() => parseArgs(['--uses', '0'], SPECS)).message, '--uses must be at least 1');
  assert.match(argError(() => parseArgs(['--listen', 'nohost'], SPECS)).message, '--listen');
  assert.match(argError(() => parseArgs(['--addr', 'h:0'], SPECS)).message, 'port 0');
  assert.match(argError(() => parseArgs(['--expires', '10'], SPECS)).message, '--expires');
  assert.match(argError(() => parseArgs(['--level', 'loud'], SPECS)).message, 'debug, info');
  assert.match(argError(() => parseArgs(['--uses'], SPECS)).message, '--uses needs a value');
  assert.match(argError(() => parseArgs(['--wait=yes'], SPECS)).message, '--wait takes no value');
});

test('parseArgs: -- ends options, short -h works, a lone dash and negative numbers are positionals', () => {
  const r = parseArgs(['-h', 'x', '--', '--wait', '-y'], SPECS);
  assert.is(r.opts.help, true);
  assert.is(r.opts.wait, undefined);
  assert.equal(r.positionals, ['x', '--wait', '-y']);
  assert.equal(parseArgs(['-', '-5'], SPECS).positionals, ['-', '-5']);
});

test.run();
