/**
 * The command-line argument parser of `wotrelay` (no dependency): option specs with a
 * type (string, number, boolean, duration, addr), repeatable options, `--opt value` and
 * `--opt=value`, `--` ending the options, and positionals. Every problem is an ArgError
 * that says what is wrong and what to try instead.
 */

export type OptType = 'string' | 'number' | 'boolean' | 'duration' | 'addr';

export interface OptSpec {
  /** Long name without dashes, e.g. 'uses' for `--uses`. */
  name: string;
  type: OptType;
  /** Single-letter alias without the dash, e.g. 'h' for `-h`. */
  short?: string;
  repeatable?: boolean;
  /** Placeholder in usage texts, e.g. 'N' or 'HOST:PORT'. */
  metavar?: string;
  /** One line for the usage text. */
  describe?: string;
  /** number: must be an integer. */
  integer?: boolean;
  /** number: inclusive lower bound. */
  min?: number;
  /** number: inclusive upper bound. */
  max?: number;
  /** addr: accept port 0 (pick a free port; for listening only). */
  allowPortZero?: boolean;
  /** string: the accepted values. */
  choices?: readonly string[];
}

export type OptValue = string | number | boolean;

export interface ParsedArgs {
  /** Option values by name; repeatable options hold arrays (addr and duration values are the checked strings / milliseconds). */
  opts: Record<string, OptValue | OptValue[]>;
  positionals: string[];
}

/** A bad command line: `message` says what is wrong, `tryHint` how to fix it. */
export class ArgError extends Error {
  constructor(
    message: string,
    readonly tryHint?: string,
  ) {
    super(message);
    this.name = 'ArgError';
  }
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * Parses a duration such as `500ms`, `10s`, `30m`, `24h`, `7d`, `2w` or `1h30m` into
 * milliseconds. A unit is required; the result is positive.
 */
export function parseDuration(s: string): number {
  const t = s.trim().toLowerCase();
  const hint = 'use a number with a unit: 30s, 10m, 24h, 7d (or combined: 1h30m)';
  if (t === '') throw new ArgError('the duration is empty', hint);
  if (/^\d+(\.\d+)?$/.test(t)) throw new ArgError(`duration "${s}" has no unit`, hint);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;
  let total = 0;
  let pos = 0;
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m) throw new ArgError(`"${s}" is not a duration`, hint);
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  total = Math.round(total);
  if (total <= 0) throw new ArgError(`duration "${s}" must be longer than zero`, hint);
  if (total > 10 * 365 * 86_400_000) throw new ArgError(`duration "${s}" is longer than ten years`, hint);
  return total;
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6 = /^[0-9a-f:.]+(%[\w.-]+)?$/i;

/**
 * Checks a `HOST:PORT` address (IPv6 in brackets: `[::1]:7117`) and returns its parts.
 * Port 0 only with `allowPortZero`.
 */
export function parseAddr(s: string, opts: { allowPortZero?: boolean } = {}): { host: string; port: number } {
  const example = 'e.g. 192.0.2.10:7117, example.org:7117 or [2001:db8::1]:7117';
  const m = /^\[([^\]]*)\]:(\d*)$/.exec(s) ?? /^([^:[\]]*):(\d*)$/.exec(s);
  if (!m) {
    if (!s.includes(':')) throw new ArgError(`"${s}" has no port; an address is HOST:PORT`, `add a port, ${example}`);
    if (/^[0-9a-f:]+$/i.test(s)) throw new ArgError(`"${s}" is ambiguous; put an IPv6 address in brackets`, `e.g. [${s.replace(/:\d+$/, '')}]:7117`);
    throw new ArgError(`"${s}" is not HOST:PORT`, example);
  }
  const host = m[1]!;
  const portStr = m[2]!;
  const bracketed = s.startsWith('[');
  if (host === '') throw new ArgError(`"${s}" has no host`, example);
  if (bracketed) {
    if (!host.includes(':') || !IPV6.test(host)) throw new ArgError(`"${host}" in "${s}" is not an IPv6 address`, example);
  } else {
    const v4 = IPV4.exec(host);
    if (v4) {
      if (v4.slice(1).some((o) => Number(o) > 255)) throw new ArgError(`"${host}" in "${s}" is not a valid IPv4 address`, example);
    } else if (/^[\d.]+$/.test(host) || !HOSTNAME.test(host)) {
      throw new ArgError(`"${host}" in "${s}" is not a valid host name or IP address`, example);
    }
  }
  if (portStr === '') throw new ArgError(`"${s}" has no port number`, example);
  const port = Number(portStr);
  if (!Number.isInteger(port) || port > 65535) throw new ArgError(`port ${portStr} in "${s}" is out of range`, 'use a port between 1 and 65535');
  if (port === 0 && !opts.allowPortZero) throw new ArgError(`port 0 in "${s}" cannot be dialled`, 'give the real port, e.g. 7117');
  return { host, port };
}

function optLabel(spec: OptSpec): string {
  return `--${spec.name}`;
}

function convert(spec: OptSpec, raw: string, usage: string): OptValue {
  const label = optLabel(spec);
  switch (spec.type) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new ArgError(`${label} must be one of ${spec.choices.join(', ')}, not "${raw}"`, `e.g. ${label} ${spec.choices[0]}`);
      }
      return raw;
    case 'number': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      const kind = spec.integer ? 'a whole number' : 'a number';
      const ex = `e.g. ${label} ${spec.min !== undefined && spec.min > 0 ? spec.min : 1}`;
      if (!Number.isFinite(n)) throw new ArgError(`${label} needs ${kind}, not "${raw}"`, ex);
      if (spec.integer && !Number.isInteger(n)) throw new ArgError(`${label} needs ${kind}, not "${raw}"`, ex);
      if (spec.min !== undefined && n < spec.min) throw new ArgError(`${label} must be at least ${spec.min}, not ${raw}`, ex);
      if (spec.max !== undefined && n > spec.max) throw new ArgError(`${label} must be at most ${spec.max}, not ${raw}`, `e.g. ${label} ${spec.max}`);
      return n;
    }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (e) {
        if (e instanceof ArgError) throw new ArgError(`${label}: ${e.message}`, e.tryHint ? `${e.tryHint}, e.g. ${label} 24h` : usage);
        throw e;
      }
    case 'addr':
      try {
        parseAddr(raw, { allowPortZero: spec.allowPortZero === true });
        return raw;
      } catch (e) {
        if (e instanceof ArgError) throw new ArgError(`${label}: ${e.message}`, e.tryHint ? `${label} ${e.tryHint.replace(/^e\.g\. /, '')}` : usage);
        throw e;
      }
    case 'boolean':
      return true;
  }
}

/**
 * Parses `argv` against `specs`. Unknown options, missing values, bad values and
 * repeated non-repeatable options throw ArgError. `usage` is offered as the fix when
 * nothing more specific fits.
 */
export function parseArgs(argv: readonly string[], specs: readonly OptSpec[], usage = 'see: wotrelay --help'): ParsedArgs {
  const byName = new Map<string, OptSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    if (s.short) byName.set(s.short, s);
  }
  const opts: Record<string, OptValue | OptValue[]> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (tok.length < 2 || !tok.startsWith('-') || /^-\d/.test(tok)) {
      positionals.push(tok);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
      inline = eq >= 0 ? tok.slice(eq + 1) : undefined;
    } else {
      name = tok.slice(1);
      if (name.length !== 1) throw new ArgError(`unknown option ${tok}`, `long options take two dashes, e.g. -${tok}; ${usage}`);
    }
    const spec = byName.get(name);
    if (!spec || (tok.startsWith('--') && spec.name !== name)) {
      const close = nearest(name, specs.map((s) => s.name));
      throw new ArgError(`unknown option ${tok.split('=')[0]}`, close ? `did you mean --${close}? ${usage}` : usage);
    }
    let value: OptValue;
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw new ArgError(`${optLabel(spec)} takes no value`, `write just ${optLabel(spec)}`);
      value = true;
    } else {
      let raw = inline;
      if (raw === undefined) {
        if (i + 1 >= argv.length) throw new ArgError(`${optLabel(spec)} needs a value`, `e.g. ${optLabel(spec)} ${spec.metavar ?? 'VALUE'}`);
        raw = argv[++i]!;
      }
      value = convert(spec, raw, usage);
    }
    if (spec.repeatable) {
      const prev = opts[spec.name];
      opts[spec.name] = Array.isArray(prev) ? [...prev, value] : [value];
    } else {
      if (opts[spec.name] !== undefined && spec.type !== 'boolean') {
        throw new ArgError(`${optLabel(spec)} was given more than once`, `give ${optLabel(spec)} once`);
      }
      opts[spec.name] = value;
    }
  }
  return { opts, positionals };
}

/** The closest name within edit distance 2, for "did you mean" hints. */
function nearest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = editDistance(name, n);
    if (d < bestD) {
      best = n;
      bestD = d;
    }
  }
  return best;
}

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
