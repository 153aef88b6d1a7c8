/**
 * The shared RecordStore: records in one Redis (or a Redis-compatible server), so several
 * stateless wotrelay-directory instances can run behind one name. Client: ioredis.
 *
 * Keys (prefix `wotrelay:dir:v1:`):
 *   r:<entity hex>  hash {seq, b (announcement bytes), ts, at (stored at), exp (expires at)},
 *                   with a Redis expiry at `exp` (PEXPIREAT), so Redis itself drops stale records
 *   index           sorted set: member <entity hex>, score `exp`; counts live records for the
 *                   --max-records bound and is trimmed of expired members on write and sweep
 *
 * `put` is one Lua script (EVALSHA, falling back to EVAL): Redis runs a script atomically,
 * so the seq compare-and-set and the bound check hold across every instance at once.
 * Commands time out after 2 s and are not queued while disconnected, so a Redis outage shows
 * as 503 answers and a failing /healthz, not as hanging requests.
 */
import { Redis } from 'ioredis';
import { StoreError, type PutConditions, type PutOutcome, type RecordStore, type StoredRecord } from './store.js';

const PREFIX = 'wotrelay:dir:v1:';
const INDEX_KEY = `${PREFIX}index`;
const COMMAND_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 5000;

/**
 * KEYS[1] record hash, KEYS[2] index. ARGV: seq, bytes, ts, storedAt, expiresAt, now,
 * maxRecords, member. Returns {status, seq-or-count}: 1 created, 2 replaced (previous seq),
 * 3 stale (stored seq), 4 stale with different bytes at an equal seq (stored seq),
 * 5 full (count).
 */
const PUT_SCRIPT = `
local cur = redis.call('HMGET', KEYS[1], 'seq', 'b', 'exp')
local seq = tonumber(ARGV[1])
local now = tonumber(ARGV[6])
local live = false
if cur[1] then
  local cexp = tonumber(cur[3])
  if cexp == nil or cexp > now then live = true end
end
if live then
  local cseq = tonumber(cur[1])
  if seq <= cseq then
    if seq == cseq and cur[2] ~= ARGV[2] then return {4, cur[1]} end
    return {3, cur[1]}
  end
else
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
  if not redis.call('ZSCORE', KEYS[2], ARGV[8]) then
    local n = redis.call('ZCARD', KEYS[2])
    if n >= tonumber(ARGV[7]) then return {5, tostring(n)} end
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'b', ARGV[2], 'ts', ARGV[3], 'at', ARGV[4], 'exp', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[8])
if live then return {2, cur[1]} end
return {1, '0'}
`;

type PutReply = [number, string];

interface WithPutCommand {
  wotrelayDirPut(
    record: string,
    index: string,
    seq: string,
    bytes: Buffer,
    ts: string,
    storedAt: string,
    expiresAt: string,
    now: string,
    maxRecords: string,
    member: string,
  ): Promise<PutReply>;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Checks a redis:// or rediss:// URL; returns a description without credentials. */
export function describeRedisUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StoreError('the Redis store is not a URL', 'use --store redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new StoreError(`unknown store scheme "${u.protocol}"`, 'use sqlite:/path/directory.db or redis://HOST:PORT[/DB]');
  }
  if (u.hostname === '') throw new StoreError('the Redis URL has no host', 'use --store redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0');
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,4}$/.test(db)) {
    throw new StoreError(`"${db}" is not a Redis database number`, 'use --store redis://HOST:PORT/DB with DB a number, e.g. redis://127.0.0.1:6379/0');
  }
  if (u.search !== '' || u.hash !== '') {
    throw new StoreError('the Redis URL has a query or fragment, which is not supported', 'use --store redis://[USER:PASSWORD@]HOST:PORT[/DB]');
  }
  return `${u.protocol}//${u.host}/${db === '' ? '0' : db}`;
}

export class RedisStore implements RecordStore {
  readonly kind = 'redis' as const;
  private lastError = '';

  private constructor(
    private readonly redis: Redis,
    readonly description: string,
  ) {}

  /**
   * Connects (failing within 5 s with a StoreError when Redis does not answer). `onError`
   * hears each new connection problem once (ioredis keeps reconnecting in the background).
   */
  static async open(url: string, onError: (message: string) => void = () => {}): Promise<RedisStore> {
    const description = describeRedisUrl(url);
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (times: number) => Math.min(200 * times, 2000),
    });
    redis.defineCommand('wotrelayDirPut', { numberOfKeys: 2, lua: PUT_SCRIPT });
    const store = new RedisStore(redis, description);
    let opened = false;
    redis.on('error', (e: Error) => {
      const msg = e.message;
      if (msg !== store.lastError) {
        store.lastError = msg;
        if (opened) onError(msg);
      }
    });
    redis.on('ready', () => {
      store.lastError = '';
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        redis.connect(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
        }),
      ]);
      await redis.ping();
    } catch (e) {
      redis.disconnect();
      const why = store.lastError !== '' ? store.lastError : e instanceof Error ? e.message : String(e);
      throw new StoreError(
        `cannot reach the Redis store ${description}: ${why}`,
        'check that Redis runs and that --store has the right host, port and password',
      );
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    opened = true;
    return store;
  }

  async get(entity: Uint8Array, now: number): Promise<StoredRecord | null> {
    const [seq, b, ts, at, exp] = await this.redis.hmgetBuffer(PREFIX + 'r:' + hex(entity), 'seq', 'b', 'ts', 'at', 'exp');
    if (!seq || !b || !ts || !at || !exp) return null;
    const expiresAt = Number(exp.toString());
    if (!(expiresAt > now)) return null;
    return { seq: Number(seq.toString()), ts: Number(ts.toString()), storedAt: Number(at.toString()), expiresAt, bytes: new Uint8Array(b) };
  }

  async put(entity: Uint8Array, r: StoredRecord, cond: PutConditions): Promise<PutOutcome> {
    const member = hex(entity);
    const [status, n] = await (this.redis as unknown as WithPutCommand).wotrelayDirPut(
      PREFIX + 'r:' + member,
      INDEX_KEY,
      String(r.seq),
      Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
      String(r.ts),
      String(r.storedAt),
      String(r.expiresAt),
      String(cond.now),
      String(cond.maxRecords),
      member,
    );
    const num = Number(n);
    switch (status) {
      case 1:
        return { kind: 'created' };
      case 2:
        return { kind: 'replaced', previousSeq: num };
      case 3:
        return { kind: 'stale', storedSeq: num, conflict: false };
      case 4:
        return { kind: 'stale', storedSeq: num, conflict: true };
      case 5:
        return { kind: 'full', count: num };
      default:
        throw new Error(`unexpected answer ${String(status)} from the Redis put script`);
    }
  }

  async count(now: number): Promise<number> {
    return this.redis.zcount(INDEX_KEY, `(${now}`, '+inf');
  }

  async sweep(now: number): Promise<number> {
    // Record hashes expire by themselves (PEXPIREAT); this trims the index.
    return this.redis.zremrangebyscore(INDEX_KEY, '-inf', now);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
