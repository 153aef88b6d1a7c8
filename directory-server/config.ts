/**
 * Command line and environment of wotrelay-directory: the option table (flag, environment
 * variable, default, help), parsing with clear errors (ConfigError → exit 2), and --help.
 * A flag wins over its environment variable, which wins over the default.
 */
import net from 'node:net';
import path from 'node:path';
import type { LogFormat, LogLevel } from './log.js';
import type { Rate, TrustProxy } from './ratelimit.js';

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type StoreSpec = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'redis'; readonly url: string };

export interface Config {
  listen: { host: string; port: number };
  store: StoreSpec;
  ttlMs: number;
  maxRecords: number;
  /** Records kept in memory in front of the SQLite store (0: none; not used with Redis). */
  cacheRecords: number;
  rateWrite: Rate | null;
  rateRead: Rate | null;
  logFormat: LogFormat;
  logLevel: LogLevel;
  trustProxy: TrustProxy;
  /** Lookups read by the fast lane before node:http (SQLite store only; directory-server/README.md). */
  fastLane: boolean;
}

interface OptSpec {
  flag: string;
  env: string;
  arg: string;
  /** Default as shown in --help and used when neither flag nor env is given. */
  def: (env: NodeJS.ProcessEnv) => string;
  help: string;
}

export const DEFAULT_LISTEN = '0.0.0.0:7118';
export const DEFAULT_TTL = '24h';
export const DEFAULT_MAX_RECORDS = 1_000_000;
/** About 50 MB of announcements and their keys. */
export const DEFAULT_CACHE_RECORDS = 100_000;
export const DEFAULT_RATE_WRITE = '10/min';
export const DEFAULT_RATE_READ = '120/min';
const MIN_TTL_MS = 1000;
const MAX_TTL_MS = 30 * 24 * 3600 * 1000;

function defaultStore(env: NodeJS.ProcessEnv): string {
  const state = env['STATE_DIRECTORY']?.split(':')[0];
  return `sqlite:${state ? path.join(state, 'directory.db') : './directory.db'}`;
}

export const OPTIONS: readonly OptSpec[] = [
  { flag: '--listen', env: 'WOTRELAY_DIRECTORY_LISTEN', arg: 'HOST:PORT', def: () => DEFAULT_LISTEN, help: 'where to answer HTTP (port 0: any free port, printed in the "listening" log line)' },
  {
    flag: '--store',
    env: 'WOTRELAY_DIRECTORY_STORE',
    arg: 'URL',
    def: () => 'sqlite:$STATE_DIRECTORY/directory.db, else sqlite:./directory.db',
    help: 'sqlite:/path/file.db (embedded, one instance) or redis://[USER:PASS@]HOST:PORT[/DB] (shared by several instances; rediss:// for TLS)',
  },
  { flag: '--ttl', env: 'WOTRELAY_DIRECTORY_TTL', arg: 'DURATION', def: () => DEFAULT_TTL, help: 'how long a record lives without a newer announcement (agents re-announce every hour), e.g. 90s, 30m, 24h, 7d' },
  { flag: '--max-records', env: 'WOTRELAY_DIRECTORY_MAX_RECORDS', arg: 'N', def: () => String(DEFAULT_MAX_RECORDS), help: 'records kept at most; new entities get 507 past it' },
  {
    flag: '--cache-records',
    env: 'WOTRELAY_DIRECTORY_CACHE_RECORDS',
    arg: 'N',
    def: () => String(DEFAULT_CACHE_RECORDS),
    help: 'recently looked-up records kept in memory in front of a SQLite store (0: none); a Redis store is shared by several instances and is never cached',
  },
  { flag: '--rate-write', env: 'WOTRELAY_DIRECTORY_RATE_WRITE', arg: 'N/PERIOD', def: () => DEFAULT_RATE_WRITE, help: 'announcements (PUT) per source address: N at once, refilled N per PERIOD (s, min, h or a duration like 10s); "off" disables' },
  { flag: '--rate-read', env: 'WOTRELAY_DIRECTORY_RATE_READ', arg: 'N/PERIOD', def: () => DEFAULT_RATE_READ, help: 'lookups (GET) per source address, same form; /healthz is not limited' },
  { flag: '--log-format', env: 'WOTRELAY_DIRECTORY_LOG_FORMAT', arg: 'logfmt|json', def: () => 'logfmt', help: 'log line format (stderr)' },
  { flag: '--log-level', env: 'WOTRELAY_DIRECTORY_LOG_LEVEL', arg: 'LEVEL', def: () => 'info', help: 'debug (one line per request), info, warn (refusals) or error' },
  {
    flag: '--trust-proxy',
    env: 'WOTRELAY_DIRECTORY_TRUST_PROXY',
    arg: 'no|loopback|IP[,IP…]',
    def: () => 'no',
    help: 'peers whose X-Forwarded-For names the client (for rate limits and logs); only set this behind your own reverse proxy',
  },
  {
    flag: '--fast-lane',
    env: 'WOTRELAY_DIRECTORY_FAST_LANE',
    arg: 'on|off',
    def: () => 'on',
    help: 'read plain lookups with the fast lane before Node\'s HTTP server (SQLite store only; about twice the lookups per core); off: every request through Node\'s HTTP server',
  },
];

export function usage(): string {
  const lines = [
    'usage: wotrelay-directory [options]',
    '',
    'The wotrelay directory server answers "where is X?" lookups over HTTP: agents publish',
    'signed announcements of where they can be reached (PUT /v1/records/<entity-id>), and',
    'other agents look them up (GET /v1/records/<entity-id>). It stores only announcements',
    'whose certificate and signature check out, keeps the newest per entity (a lower or equal',
    'seq is refused), forgets them after --ttl, and never relays messages.',
    '',
    'options (flag, environment variable, default):',
  ];
  for (const o of OPTIONS) {
    lines.push(`  ${o.flag} ${o.arg}`);
    lines.push(`      ${o.help}`);
    lines.push(`      env ${o.env}; default ${o.def({})}`);
  }
  lines.push('  --help, -h        show this help');
  lines.push('  --version         print the version');
  lines.push('');
  lines.push('Also: GET /healthz (200 "ok" when the store answers), GET /metrics (Prometheus).');
  lines.push('Operator guide: directory-server/README.md.');
  lines.push('');
  return lines.join('\n');
}

/** How to write `value` for the flag or environment variable named `what`. */
function ex(what: string, value: string): string {
  return what.startsWith('--') ? `${what} ${value}` : `${what}=${value}`;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "30m", "24h", "7d", "500ms" → ms; null when malformed. */
export function parseDuration(s: string): number | null {
  const m = /^(\d{1,9})(ms|s|m|min|h|d)$/.exec(s.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export function parseRate(s: string, what: string): Rate | null {
  if (s === 'off') return null;
  const m = /^(\d{1,7})\/(s|min|h|\d{1,9}(?:ms|s|m|min|h|d))$/.exec(s.trim());
  const perMs = m ? (m[2] === 's' ? 1000 : m[2] === 'min' ? 60_000 : m[2] === 'h' ? 3_600_000 : parseDuration(m[2]!)) : null;
  if (!m || perMs === null || perMs <= 0 || Number(m[1]) < 1) {
    throw new ConfigError(`${what}: "${s}" is not a rate`, `write N/PERIOD with N ≥ 1, e.g. ${ex(what, '10/min')}, 5/s, 100/h or 20/10s (or "off")`);
  }
  return { tokens: Number(m[1]), perMs, text: s.trim() };
}

export function parseListen(s: string, what: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  if (!m) throw new ConfigError(`${what}: "${s}" is not HOST:PORT`, `e.g. ${ex(what, '0.0.0.0:7118')}, ${ex(what, '127.0.0.1:0')} or ${ex(what, '[::]:7118')}`);
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError(`${what}: port ${port} is out of range`, 'use a port between 0 and 65535 (0: any free port)');
  const host = m[1]!;
  if (s.startsWith('[') && !net.isIPv6(host)) throw new ConfigError(`${what}: "${host}" is not an IPv6 address`, `e.g. ${ex(what, '[::]:7118')}`);
  return { host, port };
}

function parseStore(s: string, what: string): StoreSpec {
  if (s.startsWith('sqlite:')) {
    const p = s.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (p === '') throw new ConfigError(`${what}: "${s}" has no file path`, `e.g. ${ex(what, 'sqlite:/var/lib/wotrelay-directory/directory.db')}`);
    return { kind: 'sqlite', path: p };
  }
  if (s.startsWith('redis://') || s.startsWith('rediss://')) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new ConfigError(`${what}: the Redis URL is malformed`, `e.g. ${ex(what, 'redis://127.0.0.1:6379/0')}`);
    }
    const db = u.pathname.replace(/^\//, '');
    if (u.hostname === '' || (db !== '' && !/^\d{1,4}$/.test(db)) || u.search !== '' || u.hash !== '') {
      throw new ConfigError(`${what}: the Redis URL must be redis://[USER:PASS@]HOST:PORT[/DB]`, `e.g. ${ex(what, 'redis://127.0.0.1:6379/0')}`);
    }
    return { kind: 'redis', url: s };
  }
  throw new ConfigError(`${what}: "${s.slice(0, 80)}" is not a store`, `use ${ex(what, 'sqlite:/path/directory.db')} or ${ex(what, 'redis://HOST:PORT[/DB]')}`);
}

function parseTrustProxy(s: string, what: string): TrustProxy {
  if (s === 'no' || s === 'false' || s === '') return { kind: 'no' };
  if (s === 'loopback') return { kind: 'loopback' };
  const ips = s.split(',').map((x) => x.trim());
  const bad = ips.find((ip) => net.isIP(ip) === 0);
  if (bad !== undefined) {
    throw new ConfigError(`${what}: "${bad}" is not an IP address`, `use ${ex(what, 'no')}, ${ex(what, 'loopback')} or ${ex(what, '10.0.0.5,10.0.0.6')} (the proxies' addresses)`);
  }
  return { kind: 'list', ips: new Set(ips) };
}

/** Parses argv (without node and script) and the environment. Throws ConfigError. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const given = new Map<string, { value: string; what: string }>();
  for (const o of OPTIONS) {
    const v = env[o.env];
    if (v !== undefined && v !== '') given.set(o.flag, { value: v, what: o.env });
  }
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const opt = OPTIONS.find((o) => o.flag === name);
    if (opt === undefined) {
      if (a.startsWith('-')) throw new ConfigError(`unknown option "${name}"`);
      throw new ConfigError(`unexpected argument "${a}"`, 'options are written --name VALUE or --name=VALUE');
    }
    if (seen.has(opt.flag)) throw new ConfigError(`${opt.flag} is given twice`, `give ${opt.flag} once`);
    seen.add(opt.flag);
    let value: string;
    if (name !== a) value = a.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new ConfigError(`${opt.flag} needs a value (${opt.arg})`, `e.g. ${opt.flag} ${opt.def({}).split(',')[0]}`);
      }
      value = next;
      i++;
    }
    given.set(opt.flag, { value, what: opt.flag });
  }
  const get = (flag: string): { value: string; what: string } => {
    const g = given.get(flag);
    if (g !== undefined) return g;
    const o = OPTIONS.find((x) => x.flag === flag)!;
    return { value: flag === '--store' ? defaultStore(env) : o.def(env), what: flag };
  };

  const listen = get('--listen');
  const store = get('--store');
  const ttl = get('--ttl');
  const ttlMs = parseDuration(ttl.value);
  if (ttlMs === null) throw new ConfigError(`${ttl.what}: "${ttl.value}" is not a duration`, `e.g. ${ex(ttl.what, '24h')} (units: ms, s, m, h, d)`);
  if (ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS) throw new ConfigError(`${ttl.what}: ${ttl.value} is out of range`, 'use a TTL between 1s and 30d (agents re-announce every hour)');
  const maxR = get('--max-records');
  if (!/^\d{1,10}$/.test(maxR.value) || Number(maxR.value) < 1) {
    throw new ConfigError(`${maxR.what}: "${maxR.value}" is not a positive whole number`, `e.g. ${ex(maxR.what, String(DEFAULT_MAX_RECORDS))}`);
  }
  const cacheR = get('--cache-records');
  if (!/^\d{1,10}$/.test(cacheR.value)) {
    throw new ConfigError(`${cacheR.what}: "${cacheR.value}" is not a whole number`, `e.g. ${ex(cacheR.what, String(DEFAULT_CACHE_RECORDS))}, or 0 for no cache`);
  }
  const fmt = get('--log-format');
  if (fmt.value !== 'logfmt' && fmt.value !== 'json') throw new ConfigError(`${fmt.what}: "${fmt.value}" is not a log format`, `use ${ex(fmt.what, 'logfmt')} or ${ex(fmt.what, 'json')}`);
  const lvl = get('--log-level');
  if (!['debug', 'info', 'warn', 'error'].includes(lvl.value)) {
    throw new ConfigError(`${lvl.what}: "${lvl.value}" is not a log level`, `use ${ex(lvl.what, 'debug')}, info, warn or error`);
  }
  const rw = get('--rate-write');
  const rr = get('--rate-read');
  const tp = get('--trust-proxy');
  const lane = get('--fast-lane');
  if (lane.value !== 'on' && lane.value !== 'off') throw new ConfigError(`${lane.what}: "${lane.value}" is not on or off`, `use ${ex(lane.what, 'on')} or ${ex(lane.what, 'off')}`);
  return {
    listen: parseListen(listen.value, listen.what),
    store: parseStore(store.value, store.what),
    ttlMs,
    maxRecords: Number(maxR.value),
    cacheRecords: Number(cacheR.value),
    rateWrite: parseRate(rw.value, rw.what),
    rateRead: parseRate(rr.value, rr.what),
    logFormat: fmt.value,
    logLevel: lvl.value as LogLevel,
    trustProxy: parseTrustProxy(tp.value, tp.what),
    fastLane: lane.value === 'on',
  };
}
