/**
 * Per-source token buckets for wotrelay-directory (one table for writes, one for reads),
 * bounded in size: past `maxSources` the least recently seen source is forgotten (it starts
 * again with a full bucket). A source is an IPv4 address or an IPv6 /64 (one host usually
 * holds a whole /64). Also owns the source-address logic: IPv4-mapped IPv6, and
 * X-Forwarded-For behind trusted proxies (--trust-proxy).
 */
import net from 'node:net';

/** `tokens` requests at once (the burst), refilled at `tokens` per `perMs`. */
export interface Rate {
  readonly tokens: number;
  readonly perMs: number;
  /** As written on the command line, e.g. "10/min". */
  readonly text: string;
}

export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterS: number; readonly first: boolean };

interface Bucket {
  tokens: number;
  last: number;
  /** Already refused since the last allowed request (to log only the first refusal). */
  limited: boolean;
}

export const DEFAULT_MAX_SOURCES = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMsRate: number;

  constructor(
    readonly rate: Rate,
    private readonly maxSources: number = DEFAULT_MAX_SOURCES,
  ) {
    this.perMsRate = rate.tokens / rate.perMs;
  }

  take(source: string, now: number): TakeResult {
    let b = this.buckets.get(source);
    if (b === undefined) {
      b = { tokens: this.rate.tokens, last: now, limited: false };
      if (this.buckets.size >= this.maxSources) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
    } else {
      this.buckets.delete(source); // re-inserted below: Map order = recency
      b.tokens = Math.min(this.rate.tokens, b.tokens + Math.max(0, now - b.last) * this.perMsRate);
      b.last = now;
    }
    this.buckets.set(source, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      b.limited = false;
      return { ok: true };
    }
    const first = !b.limited;
    b.limited = true;
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / this.perMsRate / 1000)), first };
  }

  /** Forgets sources whose bucket has refilled (they are the same as unknown ones). */
  prune(now: number): number {
    let n = 0;
    for (const [k, b] of this.buckets) {
      if (b.tokens + Math.max(0, now - b.last) * this.perMsRate >= this.rate.tokens) {
        this.buckets.delete(k);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** Strips the IPv4-mapped prefix (::ffff:192.0.2.1 → 192.0.2.1). */
export function normalizeIp(ip: string): string {
  // Only an address starting with ':' can be IPv4-mapped (checked on every request).
  if (ip.charCodeAt(0) !== 0x3a) return ip;
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

/** Expands an IPv6 address to 8 groups of 4 hex digits; null when it is not one. */
function expandIpv6(ip: string): string[] | null {
  const addr = ip.split('%')[0]!;
  if (net.isIPv6(addr) === false) return null;
  let s = addr.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const n = v4.slice(1).map(Number);
    s = s.slice(0, v4.index) + `${((n[0]! << 8) | n[1]!).toString(16)}:${((n[2]! << 8) | n[3]!).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0'));
}

/** The rate-limit key of an address: the IPv4 address, or the IPv6 /64 prefix. */
export function sourceKey(ip: string): string {
  const n = normalizeIp(ip);
  if (net.isIPv4(n)) return n;
  const g = expandIpv6(n);
  return g === null ? n : `${g.slice(0, 4).join(':')}::/64`;
}

/** Which peers may tell us the client address in X-Forwarded-For. */
export type TrustProxy = { readonly kind: 'no' } | { readonly kind: 'loopback' } | { readonly kind: 'list'; readonly ips: ReadonlySet<string> };

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

function trusted(tp: TrustProxy, ip: string): boolean {
  if (tp.kind === 'no') return false;
  if (tp.kind === 'loopback') return isLoopback(ip);
  return tp.ips.has(ip);
}

/**
 * The client address of a request: the socket peer, or, when the peer is a trusted proxy,
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy.
 */
export function clientAddress(remote: string | undefined, forwardedFor: string | string[] | undefined, tp: TrustProxy): string {
  const peer = normalizeIp(remote ?? 'unknown');
  if (!trusted(tp, peer) || forwardedFor === undefined) return peer;
  const list = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((s) => normalizeIp(s.trim()));
  for (let i = list.length - 1; i >= 0; i--) {
    const a = list[i]!;
    if (net.isIP(a) === 0) return peer; // garbage in the header: fall back to the peer
    if (!trusted(tp, a)) return a;
  }
  return peer;
}
