/**
 * The HTTP/1.1 API of wotrelay-directory (node:http, with lookups read first by the fast lane
 * of fastlane.ts): routing, request limits, per-source rate limits, announcement checks, the
 * record store calls, refusals with a status and a short JSON body, metrics and request logs.
 * No message relaying of any kind.
 *
 *   PUT  /v1/records/<entity-id>   body: announcement bytes → 201 created / 200 replaced
 *   GET  /v1/records/<entity-id>   → 200 announcement bytes (or JSON with Accept:
 *                                    application/json or ?format=json), 404 unknown/expired
 *   GET  /healthz                  → 200 "ok" when the store answers, else 503
 *   GET  /metrics                  → Prometheus text format
 */
import http from 'node:http';
import type net from 'node:net';
import { CERT_CLOCK_SKEW_MS, decodeAnnouncementUnverified, decodeCanonicalEntityId, decodeEntityId, encodeAgentId, encodeEntityId, fingerprint, verifyAnnouncement, MAX_ANNOUNCEMENT_BYTES, type Announcement } from '../agent/identity/index.js';
import { equalBytes } from '../agent/crypto/index.js';
import { isWotError } from '../agent/wire/errors.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { CounterSeries, DirectoryMetrics } from './metrics.js';
import { RateLimiter, clientAddress, sourceKey } from './ratelimit.js';
import type { PutOutcome, RecordStore, StoredRecord } from './store.js';
import { installFastLane, type LaneReply, type LaneRequest } from './fastlane.js';

/** What a request's log line says about the record it was about (set as they become known). */
interface RequestIds {
  entity: string | undefined;
  seq: string | undefined;
}

/** Stable `error` codes of refusals (documented in directory-server/README.md). */
export type RefusalCode =
  | 'ERR_BAD_REQUEST'
  | 'ERR_BAD_ID'
  | 'ERR_MALFORMED'
  | 'ERR_BAD_FIELD'
  | 'ERR_CLOCK_SKEW'
  | 'ERR_BAD_CERT'
  | 'ERR_CERT_EXPIRED'
  | 'ERR_BAD_SIGNATURE'
  | 'ERR_KEY_MISMATCH'
  | 'ERR_STALE_SEQ'
  | 'ERR_SEQ_CONFLICT'
  | 'ERR_LENGTH_REQUIRED'
  | 'ERR_TOO_LARGE'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_RATE_LIMITED'
  | 'ERR_STORE_FULL'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_INTERNAL';

type Route = 'put_record' | 'get_record' | 'healthz' | 'metrics' | 'other';

export interface ServerDeps {
  config: Config;
  store: RecordStore;
  log: Logger;
  metrics: DirectoryMetrics;
  /** ms since epoch; injectable for tests. */
  now?: () => number;
  /**
   * Whether lookups are read by the fast lane (directory-server/fastlane.ts) before node:http,
   * over a store that answers synchronously (the embedded one); off, every request goes
   * through node:http. Default: `config.fastLane`.
   */
  fastLane?: boolean;
}

const RECORD_PREFIX = '/v1/records/';
const RECORD_PATH = /^\/v1\/records\/([^/]{1,200})$/;
/**
 * A request target that is its own path: no query, fragment, percent-encoding, dot segment
 * or backslash, and not `//host…`. Parsing it as a URL would give it back unchanged.
 */
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9/_-]*$/;
const STORE_TIMEOUT_MS = 3000;
const JSON_TYPE = /\bapplication\/json\b/;

const DAY_MS = 86_400_000;
/** 'YYYY-MM-DDT' of recent days (a record's expiry falls on one of a few). */
const dayText = new Map<number, string>();
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * `new Date(ms).toISOString()` in about a sixth of its time (it is on every lookup's answer): the
 * day's text is kept, the time of day is arithmetic. Whole ms from 1970 to 9999 only; others
 * go to Date.
 */
export function isoTime(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms >= 253_402_300_800_000) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  let d = dayText.get(day);
  if (d === undefined) {
    if (dayText.size >= 64) dayText.clear();
    dayText.set(day, (d = new Date(day * DAY_MS).toISOString().slice(0, 11)));
  }
  let r = ms - day * DAY_MS;
  const h = Math.floor(r / 3_600_000);
  r -= h * 3_600_000;
  const m = Math.floor(r / 60_000);
  r -= m * 60_000;
  const sec = Math.floor(r / 1000);
  const milli = r - sec * 1000;
  return `${d}${pad2(h)}:${pad2(m)}:${pad2(sec)}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

class Refusal {
  /** Logged at debug instead of warn (repeated rate-limit refusals, 404). */
  quiet = false;
  constructor(
    readonly status: number,
    readonly code: RefusalCode,
    readonly reason: string,
    readonly message: string,
    readonly extra: Record<string, string | number> = {},
    readonly headers: Record<string, string> = {},
  ) {}
}

/**
 * An answer, written by node:http (`writeReply`) or by the fast lane (`laneReply`): status,
 * header names and values in turn, and the body as text, UTF-8 or latin1 (one char per byte:
 * a record's bytes).
 */
interface Reply {
  readonly status: number;
  readonly headers: string[];
  readonly body: string;
  readonly latin1: boolean;
}

function reply(status: number, body: string, type: string, headers: Record<string, string> = {}, latin1 = false): Reply {
  const length = latin1 ? body.length : Buffer.byteLength(body, 'utf8');
  const list = ['Content-Type', type, 'Content-Length', String(length), 'Cache-Control', 'no-store', 'X-Content-Type-Options', 'nosniff'];
  for (const k in headers) list.push(k, headers[k]!);
  return { status, headers: list, body, latin1 };
}

function jsonReply(status: number, obj: unknown, headers: Record<string, string> = {}): Reply {
  return reply(status, `${JSON.stringify(obj)}\n`, 'application/json', headers);
}

function writeReply(res: http.ServerResponse, r: Reply): void {
  res.writeHead(r.status, r.headers);
  res.end(r.body, r.latin1 ? 'latin1' : 'utf8');
}

/** The fast lane writes one latin1 string per read: a UTF-8 body (a JSON answer) is turned into its bytes' chars. */
function laneReply(r: Reply): LaneReply {
  return r.latin1 ? r : { status: r.status, headers: r.headers, body: Buffer.from(r.body, 'utf8').toString('latin1') };
}

export interface DirectoryServer {
  readonly server: http.Server;
  /** Destroys every open connection, the fast lane's and node:http's (a shutdown's last resort). */
  closeAllConnections(): void;
  /** Sweeps expired records and idle rate-limit entries once. */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

export function createDirectoryServer(deps: ServerDeps): DirectoryServer {
  const { config, store, log, metrics } = deps;
  const now = deps.now ?? Date.now;
  const writeLimiter = config.rateWrite ? new RateLimiter(config.rateWrite) : null;
  const readLimiter = config.rateRead ? new RateLimiter(config.rateRead) : null;

  /** Store latency series by operation (a handful: get, put, count, ping, sweep). */
  const latencySeries = new Map<string, { observe(v: number): void }>();
  const observeLatency = (op: string, t0: number): void => {
    let h = latencySeries.get(op);
    if (h === undefined) latencySeries.set(op, (h = metrics.storeLatency.series({ op })));
    h.observe((performance.now() - t0) / 1000);
  };

  async function timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    // The embedded store answers synchronously (its promise is settled already): a deadline
    // timer per lookup would cost more than the lookup. Only a remote store can hang.
    if (store.kind === 'sqlite') {
      try {
        return await fn();
      } finally {
        observeLatency(op, t0);
      }
    }
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`store ${op} took over ${STORE_TIMEOUT_MS} ms`)), STORE_TIMEOUT_MS);
        }),
      ]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      observeLatency(op, t0);
    }
  }

  function limit(limiter: RateLimiter | null, kind: 'read' | 'write', src: string): void {
    if (limiter === null) return;
    const r = limiter.take(sourceKey(src), now());
    if (r.ok) return;
    metrics.rateLimited.inc({ kind });
    const refusal = new Refusal(
      429,
      'ERR_RATE_LIMITED',
      'rate_limited',
      `too many ${kind === 'write' ? 'announcements' : 'lookups'} from this address (limit ${limiter.rate.text}); retry after ${r.retryAfterS} s`,
      {},
      { 'Retry-After': String(r.retryAfterS) },
    );
    // Warn once when a source starts being limited, not for every refused request.
    refusal.quiet = !r.first;
    throw refusal;
  }

  function parseEntity(raw: string): Uint8Array {
    let id: string;
    try {
      id = raw.includes('%') ? decodeURIComponent(raw) : raw;
    } catch {
      throw new Refusal(400, 'ERR_BAD_ID', 'bad_id', 'the entity id in the path is not valid percent-encoding');
    }
    try {
      return decodeEntityId(id);
    } catch (e) {
      throw new Refusal(400, 'ERR_BAD_ID', 'bad_id', `the path must name an entity id (wot1…): ${isWotError(e) ? e.message : 'malformed'}`);
    }
  }

  function readBody(req: http.IncomingMessage, length: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const buf = Buffer.alloc(length);
      let n = 0;
      let done = false;
      const fail = (r: Refusal): void => {
        if (done) return;
        done = true;
        reject(r);
      };
      req.on('data', (chunk: Buffer) => {
        if (done) return;
        if (n + chunk.length > length) {
          fail(new Refusal(413, 'ERR_TOO_LARGE', 'too_large', `the body is longer than its Content-Length ${length}`, {}, { Connection: 'close' }));
          return;
        }
        chunk.copy(buf, n);
        n += chunk.length;
      });
      req.on('end', () => {
        if (done) return;
        done = true;
        if (n !== length) reject(new Refusal(400, 'ERR_BAD_REQUEST', 'malformed', `the body has ${n} bytes, not its Content-Length ${length}`));
        else resolve(new Uint8Array(buf.buffer, buf.byteOffset, n));
      });
      req.on('error', () => fail(new Refusal(400, 'ERR_BAD_REQUEST', 'malformed', 'the request body was cut off')));
      req.on('close', () => fail(new Refusal(400, 'ERR_BAD_REQUEST', 'malformed', 'the request body was cut off')));
    });
  }

  function verifyRefusal(e: unknown): Refusal {
    if (!isWotError(e)) throw e;
    switch (e.code) {
      case 'ERR_BAD_SIGNATURE':
        return new Refusal(403, 'ERR_BAD_SIGNATURE', 'bad_signature', e.message);
      case 'ERR_BAD_CERT':
        return new Refusal(403, 'ERR_BAD_CERT', 'bad_cert', e.message);
      case 'ERR_CERT_EXPIRED':
        return new Refusal(403, 'ERR_CERT_EXPIRED', 'cert_expired', `${e.message}; renew the agent certificate`);
      case 'ERR_TOO_LARGE':
        return new Refusal(413, 'ERR_TOO_LARGE', 'too_large', e.message);
      case 'ERR_BAD_FIELD':
        if (/clock skew/.test(e.message)) return new Refusal(400, 'ERR_CLOCK_SKEW', 'clock_skew', `${e.message}; check the announcing computer's clock`);
        return new Refusal(400, 'ERR_BAD_FIELD', 'malformed', e.message);
      default:
        return new Refusal(400, 'ERR_MALFORMED', 'malformed', `not an announcement: ${e.message}`);
    }
  }

  async function putRecord(req: http.IncomingMessage, rawId: string, src: string, fields: RequestIds): Promise<Reply> {
    limit(writeLimiter, 'write', src);
    const entity = parseEntity(rawId);
    fields.entity = encodeEntityId(entity);
    const cl = req.headers['content-length'];
    if (cl === undefined) {
      throw new Refusal(411, 'ERR_LENGTH_REQUIRED', 'length_required', 'a Content-Length header is required (chunked bodies are not accepted)', {}, { Connection: 'close' });
    }
    if (!/^\d{1,12}$/.test(cl)) throw new Refusal(400, 'ERR_BAD_REQUEST', 'malformed', 'Content-Length is not a number', {}, { Connection: 'close' });
    const length = Number(cl);
    if (length > MAX_ANNOUNCEMENT_BYTES) {
      throw new Refusal(413, 'ERR_TOO_LARGE', 'too_large', `the body is ${length} bytes; an announcement is at most ${MAX_ANNOUNCEMENT_BYTES} bytes`, {}, { Connection: 'close' });
    }
    if (length === 0) throw new Refusal(400, 'ERR_MALFORMED', 'malformed', 'the body is empty; send the announcement bytes');
    const body = await readBody(req, length);
    const t = now();
    let a: Announcement;
    try {
      a = verifyAnnouncement(body, t);
    } catch (e) {
      throw verifyRefusal(e);
    }
    fields.seq = String(a.seq);
    if (!equalBytes(a.entity, entity)) {
      throw new Refusal(403, 'ERR_KEY_MISMATCH', 'entity_mismatch', `the announcement is for ${encodeEntityId(a.entity)}, not the entity in the path`);
    }
    // A record lives `ttl` from when the announcement was made (never from a future ts), and
    // not past its certificate (+ the verifier's tolerance).
    const expiresAt = Math.min(Math.min(a.ts, t) + config.ttlMs, a.cert.notAfter + CERT_CLOCK_SKEW_MS);
    if (expiresAt <= t) {
      throw new Refusal(400, 'ERR_BAD_FIELD', 'stale_ts', `the announcement was made at ${new Date(a.ts).toISOString()}, longer ago than this directory keeps records; sign a new one`);
    }
    const record: StoredRecord = { seq: a.seq, ts: a.ts, storedAt: t, expiresAt, bytes: body };
    let out: PutOutcome;
    try {
      out = await timed('put', () => store.put(entity, record, { now: t, maxRecords: config.maxRecords }));
    } catch (e) {
      log.error('store failed', { op: 'put', err: e instanceof Error ? e.message : String(e) });
      throw new Refusal(503, 'ERR_STORE_UNAVAILABLE', 'store_unavailable', 'the record store does not answer; retry later', {}, { 'Retry-After': '5' });
    }
    switch (out.kind) {
      case 'created':
      case 'replaced': {
        return jsonReply(out.kind === 'created' ? 201 : 200, { status: out.kind, entity: encodeEntityId(entity), seq: a.seq, expiresAt });
      }
      case 'stale':
        if (out.conflict) {
          metrics.conflicts.inc();
          throw new Refusal(
            409,
            'ERR_SEQ_CONFLICT',
            'stale_seq',
            `seq ${a.seq} is already stored with different content; an agent must never reuse a seq (announce with seq > ${out.storedSeq})`,
            { storedSeq: out.storedSeq },
          );
        }
        throw new Refusal(
          409,
          'ERR_STALE_SEQ',
          'stale_seq',
          a.seq === out.storedSeq ? `seq ${a.seq} is already stored` : `seq ${a.seq} is lower than the stored seq ${out.storedSeq}; records cannot be rolled back`,
          { storedSeq: out.storedSeq },
        );
      case 'full':
        throw new Refusal(507, 'ERR_STORE_FULL', 'store_full', `this directory holds its maximum of ${config.maxRecords} records; try again later`, {}, { 'Retry-After': '3600' });
    }
  }

  /** Whether a lookup through node:http asks for the JSON form (`?format=json` or an Accept header). */
  function wantsJson(req: http.IncomingMessage, query: URLSearchParams | null): boolean {
    const f = query?.get('format') ?? null;
    if (f === 'json') return true;
    if (f !== null && f !== 'raw') throw new Refusal(400, 'ERR_BAD_REQUEST', 'malformed', `format=${f.slice(0, 20)} is not known; use format=json or format=raw`);
    // Read from rawHeaders: req.headers is built on first use, and a lookup needs no other header.
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      if (k.length === 6 && k.toLowerCase() === 'accept' && JSON_TYPE.test(raw[i + 1]!)) return true;
    }
    return false;
  }

  function storeFailed(op: string, e: unknown): Refusal {
    log.error('store failed', { op, err: e instanceof Error ? e.message : String(e) });
    return new Refusal(503, 'ERR_STORE_UNAVAILABLE', 'store_unavailable', 'the record store does not answer; retry later', {}, { 'Retry-After': '5' });
  }

  /**
   * A lookup: synchronous when the store answers synchronously (the embedded one), so a
   * lookup costs no promise and no microtask turn; a remote store's answer is awaited.
   * `json` is asked after the rate limit and the id, so those refusals come first.
   */
  function getRecord(rawId: string, src: string, fields: RequestIds, decoded: Uint8Array | null, json: () => boolean): Reply | Promise<Reply> {
    limit(readLimiter, 'read', src);
    const entity = decoded ?? parseEntity(rawId);
    // The id as asked for, checksum verified (re-encoding it for the log line cost more than the lookup).
    fields.entity = rawId;
    const asJson = json();
    if (store.getSync !== undefined) {
      const t0 = performance.now();
      let rec: StoredRecord | null;
      try {
        rec = store.getSync(entity, now());
      } catch (e) {
        throw storeFailed('get', e);
      } finally {
        observeLatency('get', t0);
      }
      return answerRecord(entity, rec, asJson, fields);
    }
    return timed('get', () => store.get(entity, now())).then(
      (rec) => answerRecord(entity, rec, asJson, fields),
      (e: unknown) => {
        throw storeFailed('get', e);
      },
    );
  }

  function answerRecord(entity: Uint8Array, rec: StoredRecord | null, json: boolean, fields: RequestIds): Reply {
    if (rec === null) return jsonReply(404, { error: 'ERR_NOT_FOUND', message: `no live record for ${encodeEntityId(entity)}` });
    const seq = String(rec.seq);
    fields.seq = seq;
    const expires = isoTime(rec.expiresAt);
    if (!json) {
      // The body as a latin1 string (the store's cached text, or the bytes made one): it is
      // written with its head as one string in one write, not a header string and a Buffer
      // gathered by writev. The headers are those reply() gives, listed directly.
      const body = rec.latin1 ?? Buffer.from(rec.bytes.buffer, rec.bytes.byteOffset, rec.bytes.byteLength).toString('latin1');
      const headers = [
        'Content-Type',
        'application/octet-stream',
        'Content-Length',
        String(body.length),
        'Cache-Control',
        'no-store',
        'X-Content-Type-Options',
        'nosniff',
        'X-Wotrelay-Seq',
        seq,
        'X-Wotrelay-Expires',
        expires,
      ];
      return { status: 200, headers, body, latin1: true };
    }
    const headers = { 'X-Wotrelay-Seq': seq, 'X-Wotrelay-Expires': expires };
    const a = decodeAnnouncementUnverified(rec.bytes);
    return jsonReply(
      200,
      {
        entity: encodeEntityId(a.entity),
        fingerprint: fingerprint(a.entity),
        agent: encodeAgentId(a.agent),
        addrs: a.addrs,
        relays: a.relays.map(encodeEntityId),
        mailboxes: a.mailboxes.map(encodeEntityId),
        seq: a.seq,
        ts: a.ts,
        expiresAt: rec.expiresAt,
        announcement: Buffer.from(rec.bytes).toString('base64'),
      },
      headers,
    );
  }

  async function healthz(): Promise<Reply> {
    try {
      await timed('ping', () => store.ping());
      return reply(200, 'ok\n', 'text/plain; charset=utf-8');
    } catch (e) {
      log.warn('health check failed', { store: store.description, err: e instanceof Error ? e.message : String(e) });
      return reply(503, 'store unavailable\n', 'text/plain; charset=utf-8');
    }
  }

  async function metricsRoute(src: string): Promise<Reply> {
    limit(readLimiter, 'read', src);
    try {
      metrics.records.set({}, await timed('count', () => store.count(now())));
    } catch {
      /* keep the last value; the latency histogram and /healthz show the problem */
    }
    const cache = store.cacheStats?.() ?? null;
    if (cache) {
      metrics.cacheLookups.setTotal({ result: 'hit' }, cache.hits);
      metrics.cacheLookups.setTotal({ result: 'miss' }, cache.misses);
      metrics.cacheRecords.set({}, cache.records);
    }
    if (writeLimiter) metrics.sources.set({ kind: 'write' }, writeLimiter.size);
    if (readLimiter) metrics.sources.set({ kind: 'read' }, readLimiter.size);
    return reply(200, metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
  }

  function methodNotAllowed(allow: string): Refusal {
    return new Refusal(405, 'ERR_METHOD_NOT_ALLOWED', 'method_not_allowed', `use ${allow.split(', ').join(' or ')} here`, {}, { Allow: allow });
  }

  /** Request counters by route and status (both from small fixed sets). */
  const requestSeries = new Map<Route, Map<number, CounterSeries>>();
  const countRequest = (route: Route, status: number): void => {
    let byStatus = requestSeries.get(route);
    if (byStatus === undefined) requestSeries.set(route, (byStatus = new Map()));
    let c = byStatus.get(status);
    if (c === undefined) byStatus.set(status, (c = metrics.requests.series({ route, status: String(status) })));
    c.inc();
  };

  /** One request being answered: what its counter and its log line need. */
  interface Exchange {
    readonly t0: number;
    readonly method: string;
    readonly src: string;
    route: Route;
    readonly fields: RequestIds;
  }

  const elapsed = (x: Exchange): string => (performance.now() - x.t0).toFixed(2);

  /** Routes a request; its answer, or a promise of it when the answer needs to wait (a body, a remote store). Throws a Refusal. */
  function dispatch(req: http.IncomingMessage, x: Exchange): Reply | Promise<Reply> {
    const { method, src, fields } = x;
    const target = req.url ?? '/';
    const isGet = method === 'GET' || method === 'HEAD';
    if (isGet && target.startsWith(RECORD_PREFIX)) {
      // The usual lookup: an id in canonical form holds only [a-z0-9], so the target is a
      // plain path and matches RECORD_PATH; no URL parsing, no patterns. The key goes
      // straight into an off-heap (pooled) Buffer, which SQLite binds without a copy.
      const rawId = target.slice(RECORD_PREFIX.length);
      const entity = decodeCanonicalEntityId(rawId, Buffer.allocUnsafe(32));
      if (entity !== null) {
        x.route = 'get_record';
        return getRecord(rawId, src, fields, entity, () => wantsJson(req, null));
      }
    }
    let p: string;
    let query: URLSearchParams | null = null;
    if (PLAIN_PATH.test(target)) p = target; // what URL parsing would give, without its cost
    else {
      let url: URL;
      try {
        url = new URL(target, 'http://directory.invalid');
      } catch {
        throw new Refusal(400, 'ERR_BAD_REQUEST', 'malformed', 'the request target is not a valid path');
      }
      p = url.pathname;
      query = url.searchParams;
    }
    const m = RECORD_PATH.exec(p);
    if (m) {
      if (method === 'PUT') {
        x.route = 'put_record';
        return putRecord(req, m[1]!, src, fields);
      }
      if (isGet) {
        x.route = 'get_record';
        return getRecord(m[1]!, src, fields, null, () => wantsJson(req, query));
      }
      throw methodNotAllowed('GET, HEAD, PUT');
    }
    if (p === '/healthz') {
      x.route = 'healthz';
      if (!isGet) throw methodNotAllowed('GET, HEAD');
      return healthz();
    }
    if (p === '/metrics') {
      x.route = 'metrics';
      if (!isGet) throw methodNotAllowed('GET, HEAD');
      return metricsRoute(src);
    }
    limit(readLimiter, 'read', src);
    throw new Refusal(404, 'ERR_NOT_FOUND', 'not_found', 'no such endpoint; see /v1/records/<entity-id>, /healthz and /metrics');
  }

  function answered(x: Exchange, status: number): void {
    countRequest(x.route, status);
    if (log.enabled('debug')) log.debug('request', { method: x.method, route: x.route, status, src: x.src, ms: elapsed(x), ...x.fields });
  }

  /** The answer to a refused request (logged and counted); an unexpected error is a 500. */
  function refused(x: Exchange, e: unknown): Reply {
    let r: Refusal;
    if (e instanceof Refusal) r = e;
    else {
      log.error('internal error', { method: x.method, route: x.route, err: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      r = new Refusal(500, 'ERR_INTERNAL', 'internal', 'internal error; see the server log');
    }
    try {
      metrics.rejections.inc({ reason: r.reason });
      // One line per request: a refusal's line replaces the debug request line.
      log.log(r.quiet || r.status === 404 ? 'debug' : 'warn', 'refused', { method: x.method, route: x.route, status: r.status, reason: r.reason, src: x.src, ms: elapsed(x), ...x.fields, detail: r.message });
      return jsonReply(r.status, { error: r.code, message: r.message, ...r.extra }, r.headers);
    } finally {
      countRequest(x.route, r.status);
    }
  }

  const exchange = (method: string, src: string): Exchange => ({ t0: performance.now(), method, src, route: 'other', fields: { entity: undefined, seq: undefined } });

  /** Answers one request through node:http: synchronously when it can (a lookup in the embedded store), else when its promise settles. */
  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // X-Forwarded-For is read only from trusted proxies (and req.headers built only then).
    const x = exchange(req.method ?? 'GET', clientAddress(req.socket.remoteAddress, config.trustProxy.kind === 'no' ? undefined : req.headers['x-forwarded-for'], config.trustProxy));
    const done = (r: Reply): void => {
      if (res.headersSent) res.destroy();
      else writeReply(res, r);
    };
    const finish = (r: Reply): void => {
      try {
        writeReply(res, r);
      } catch (e) {
        done(refused(x, e));
        return;
      }
      answered(x, r.status);
    };
    let out: Reply | Promise<Reply>;
    try {
      out = dispatch(req, x);
    } catch (e) {
      done(refused(x, e));
      return;
    }
    if (out instanceof Promise) out.then(finish, (e: unknown) => done(refused(x, e)));
    else finish(out);
  }

  /**
   * Answers a lookup read by the fast lane, as `handle` would: the same rate limit, store
   * call, answer, counters and log line. Only installed over a store that answers synchronously.
   */
  function laneLookup(q: LaneRequest, socket: net.Socket): LaneReply {
    // clientAddress reads X-Forwarded-For only from trusted proxies (the lane has read it already).
    const x = exchange(q.head ? 'HEAD' : 'GET', clientAddress(socket.remoteAddress, q.forwardedFor, config.trustProxy));
    x.route = 'get_record';
    let r: Reply;
    try {
      const out = getRecord(q.rawId, x.src, x.fields, q.entity, () => q.accept !== undefined && JSON_TYPE.test(q.accept));
      if (out instanceof Promise) throw new Error('the fast lane needs a store that answers synchronously');
      r = out;
      answered(x, r.status);
    } catch (e) {
      r = refused(x, e);
    }
    return laneReply(r);
  }

  const limits = { maxHeaderSize: 8192, requestTimeout: 15_000, headersTimeout: 10_000, keepAliveTimeout: 5_000, maxRequestsPerSocket: 1000 };
  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      requestTimeout: limits.requestTimeout,
      headersTimeout: limits.headersTimeout,
      keepAliveTimeout: limits.keepAliveTimeout,
    },
    handle,
  );
  server.maxConnections = 10_000;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  const lane =
    (deps.fastLane ?? config.fastLane) && store.getSync !== undefined
      ? installFastLane(server, {
          maxHeaderSize: limits.maxHeaderSize,
          keepAliveTimeoutMs: limits.keepAliveTimeout,
          headersTimeoutMs: limits.headersTimeout,
          maxRequestsPerSocket: limits.maxRequestsPerSocket,
          decodeId: (rawId) => decodeCanonicalEntityId(rawId, Buffer.allocUnsafe(32)),
          answer: laneLookup,
          onHandOff: (reason) => metrics.laneHandOffs.inc({ reason }),
        })
      : null;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    metrics.rejections.inc({ reason: 'bad_http' });
    log.debug('bad HTTP from client', { err: err.code ?? err.message });
    if (socket.writable && !socket.destroyed) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else socket.destroy();
  });

  return {
    server,
    closeAllConnections(): void {
      lane?.closeAllConnections();
      server.closeAllConnections();
    },
    async sweep(): Promise<void> {
      const t = now();
      try {
        const n = await timed('sweep', () => store.sweep(t));
        if (n > 0) {
          metrics.swept.inc({}, n);
          log.debug('swept expired records', { count: n });
        }
      } catch (e) {
        log.warn('sweep failed', { store: store.description, err: e instanceof Error ? e.message : String(e) });
      }
      writeLimiter?.prune(t);
      readLimiter?.prune(t);
    },
    async close(): Promise<void> {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        lane?.closeIdleConnections();
        server.closeIdleConnections();
      });
    },
  };
}
