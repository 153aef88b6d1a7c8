/**
 * agent/reach/lan: finding trusted agents on the same LAN by DNS-SD (mDNS), with the
 * `dnssd` package. Owns, per LanDiscovery: one advertisement of `_wotrelay._tcp` (random
 * instance and host names; a TXT record that hides the entity id behind a per-start nonce
 * and an HMAC tag, PROTOCOL.md §2.6), one browser of the same type, a LanPeerTable (the
 * sans-I/O part: bounded table of services seen, tag checks within a budget, onPeer
 * notifications), and the wrapping of dnssd's rough edges: every library error (also
 * asynchronous ones, and "Timed out getting default route" on a host without a default
 * route) is caught, logged once per distinct message and retried with backoff; nothing is
 * ever thrown into the process.
 * It never dials: a recognised peer is handed to `onPeer(entity, "ip:port")`; the daemon
 * decides (the link handshake, not the TXT record, authenticates the peer).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import dnssd from 'dnssd';
import type { Advertisement, Browser } from 'dnssd';
import { equalBytes } from '../crypto/index.js';
import { WotError } from '../wire/errors.js';

/** DNS-SD service name: `_wotrelay._tcp.local.` */
export const LAN_SERVICE = 'wotrelay';
/** HMAC message prefix: tag = HMAC-SHA256(key = entity public key, "wotrelay/v1/lan" || n)[0..16]. */
export const LAN_TAG_DOMAIN = 'wotrelay/v1/lan';
export const LAN_TXT_VERSION = '1';
export const LAN_NONCE_BYTES = 16;
export const LAN_TAG_BYTES = 16;
/** At most this many services remembered (least recently seen evicted first). */
export const LAN_MAX_SERVICES = 256;
/** Tag computations allowed per window; services beyond it wait for the next window. */
export const LAN_TAG_BUDGET = 50_000;
export const LAN_TAG_WINDOW_MS = 10_000;
/** First retry after a dnssd error; doubles up to LAN_MAX_RETRY_MS. */
export const LAN_RETRY_MS = 30_000;
export const LAN_MAX_RETRY_MS = 300_000;
/** How long stop() waits for the mDNS goodbye packets before forcing the shutdown. */
const GOODBYE_WAIT_MS = 1500;
/** Distinct error messages remembered for "log once". */
const MAX_ERROR_KINDS = 32;

export interface LanDiscoveryOptions {
  /** The TCP port the agent listens on (advertised in the SRV record). */
  port: number;
  entityPub: Uint8Array;
  /** Current trusted entities (active trust entries); called on every check. */
  trusted: () => Uint8Array[];
  /** A service whose tag matches a trusted entity: its IPv4 address and port. */
  onPeer: (entity: Uint8Array, addr: string) => void;
  log?: (event: string, fields: Record<string, unknown>) => void;
  now?: () => number;
  /** First retry delay after a dnssd error (default LAN_RETRY_MS). */
  retryMs?: number;
}

export interface LanTxt {
  v: string;
  n: string;
  t: string;
}

// ------------------------------------------------------------------ base32 (RFC 4648)

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case, no padding. */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32[(acc >>> bits) & 31];
    }
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}

/** Inverse of base32Encode (case-insensitive); null on any bad character or non-zero padding. */
export function base32Decode(s: string): Uint8Array | null {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of s.toLowerCase()) {
    const v = B32.indexOf(ch);
    if (v < 0) return null;
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >>> bits) & 0xff);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) return null;
  return Uint8Array.from(out);
}

// ------------------------------------------------------------------ tag and TXT

/** First 16 bytes of HMAC-SHA256(key = entityPub, msg = "wotrelay/v1/lan" || nonce). */
export function lanTag(entityPub: Uint8Array, nonce: Uint8Array): Uint8Array {
  const h = createHmac('sha256', entityPub);
  h.update(LAN_TAG_DOMAIN);
  h.update(nonce);
  return new Uint8Array(h.digest().subarray(0, LAN_TAG_BYTES));
}

/** The TXT record advertised for `entityPub` with `nonce` (fresh random bytes per start). */
export function makeLanTxt(entityPub: Uint8Array, nonce: Uint8Array): LanTxt {
  return { v: LAN_TXT_VERSION, n: base32Encode(nonce), t: base32Encode(lanTag(entityPub, nonce)) };
}

/** Parses a received TXT record; null unless v=1 and n, t decode to 16 bytes each. */
export function parseLanTxt(txt: unknown): { nonce: Uint8Array; tag: Uint8Array } | null {
  if (typeof txt !== 'object' || txt === null) return null;
  const r = txt as Record<string, unknown>;
  if (r['v'] !== LAN_TXT_VERSION || typeof r['n'] !== 'string' || typeof r['t'] !== 'string') return null;
  if (r['n'].length > 64 || r['t'].length > 64) return null;
  const nonce = base32Decode(r['n']);
  const tag = base32Decode(r['t']);
  if (!nonce || nonce.length !== LAN_NONCE_BYTES || !tag || tag.length !== LAN_TAG_BYTES) return null;
  return { nonce, tag };
}

/** The trusted entity whose tag matches (nonce, tag), or null. */
export function matchLanTag(nonce: Uint8Array, tag: Uint8Array, trusted: readonly Uint8Array[]): Uint8Array | null {
  for (const e of trusted) if (equalBytes(lanTag(e, nonce), tag)) return e;
  return null;
}

/** Convenience for tests and tools: which trusted entity advertised this TXT record, if any. */
export function matchLanTxt(txt: unknown, trusted: readonly Uint8Array[]): Uint8Array | null {
  const p = parseLanTxt(txt);
  return p ? matchLanTag(p.nonce, p.tag, trusted) : null;
}

// ------------------------------------------------------------------ address choice

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4ToInt(a: string): number | null {
  const m = IPV4_RE.exec(a);
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const p = Number(m[i]);
    if (p > 255) return null;
    n = n * 256 + p;
  }
  return n;
}

/**
 * The IPv4 address to dial among a service's addresses: not loopback, not unspecified,
 * preferring one inside a subnet of one of our own interfaces; null if none.
 */
export function pickLanAddress(addresses: readonly string[], ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string | null {
  const candidates = addresses.filter((a) => {
    const n = ipv4ToInt(a);
    return n !== null && n >>> 24 !== 127 && n !== 0 && n >>> 28 < 14; // not loopback, 0.0.0.0, multicast or reserved
  });
  if (candidates.length === 0) return null;
  const nets: { net: number; mask: number }[] = [];
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) {
      if (i.family !== 'IPv4' || i.internal) continue;
      const addr = ipv4ToInt(i.address);
      const mask = ipv4ToInt(i.netmask);
      if (addr !== null && mask !== null) nets.push({ net: (addr & mask) >>> 0, mask });
    }
  }
  for (const a of candidates) {
    const n = ipv4ToInt(a)!;
    if (nets.some((x) => ((n & x.mask) >>> 0) === x.net)) return a;
  }
  return candidates[0]!;
}

// ------------------------------------------------------------------ dnssd wrapping

interface SeenService {
  nonce: Uint8Array;
  tag: Uint8Array;
  addresses: string[];
  port: number;
  /** Not checked against the trust list yet (new, changed, recheck, or over budget). */
  pending: boolean;
  /** What onPeer was last called with for this service ("<entity hex> <addr>"). */
  notified: string | null;
}

export interface LanPeerTableOptions {
  /** Our own entity: never reported as a peer. */
  self: Uint8Array;
  trusted: () => Uint8Array[];
  onPeer: (entity: Uint8Array, addr: string) => void;
  log?: (event: string, fields: Record<string, unknown>) => void;
  now?: () => number;
  maxServices?: number;
  tagBudget?: number;
  windowMs?: number;
}

/**
 * The sans-I/O half of LAN discovery: the bounded table of DNS-SD services seen (keyed by
 * full name, least recently seen evicted first), the tag check against the trust list
 * within a budget of tag computations per window, and the onPeer notifications (once per
 * service, entity and address). Fed with dnssd's service objects by LanDiscovery.
 */
export class LanPeerTable {
  private readonly opts: LanPeerTableOptions;
  private readonly now: () => number;
  private readonly log: (event: string, fields: Record<string, unknown>) => void;
  private readonly max: number;
  private readonly budget: number;
  private readonly windowMs: number;
  private readonly services = new Map<string, SeenService>();
  /** Our own advertisement's n (base32): skipped. */
  private ownNonce: string | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private windowStart = -Infinity;
  private tagsInWindow = 0;
  private loggedTableFull = false;
  private loggedBusy = false;

  constructor(opts: LanPeerTableOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.max = opts.maxServices ?? LAN_MAX_SERVICES;
    this.budget = opts.tagBudget ?? LAN_TAG_BUDGET;
    this.windowMs = opts.windowMs ?? LAN_TAG_WINDOW_MS;
  }

  get size(): number {
    return this.services.size;
  }

  setOwnNonce(n: string | null): void {
    this.ownNonce = n;
  }

  /** A service came up or changed (a dnssd service object: fullname, port, addresses, txt). */
  up(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null) return;
    const s = raw as Record<string, unknown>;
    const fullname = s['fullname'];
    const port = s['port'];
    if (typeof fullname !== 'string' || fullname.length > 512 || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return;
    const txt = s['txt'];
    if (typeof txt === 'object' && txt !== null && (txt as Record<string, unknown>)['n'] === this.ownNonce) return; // ourselves
    const parsed = parseLanTxt(txt);
    if (!parsed) {
      this.services.delete(fullname);
      return;
    }
    const addresses = Array.isArray(s['addresses']) ? (s['addresses'] as unknown[]).filter((a): a is string => typeof a === 'string').slice(0, 16) : [];
    const prev = this.services.get(fullname);
    const sameTxt = prev !== undefined && equalBytes(prev.nonce, parsed.nonce) && equalBytes(prev.tag, parsed.tag);
    this.services.delete(fullname); // re-insert: Map order = least recently seen first
    this.services.set(fullname, { nonce: parsed.nonce, tag: parsed.tag, addresses, port, pending: true, notified: sameTxt ? prev.notified : null });
    while (this.services.size > this.max) {
      this.services.delete(this.services.keys().next().value as string);
      if (!this.loggedTableFull) {
        this.loggedTableFull = true;
        this.log('lan-table-full', { max: this.max });
      }
    }
    this.sweep();
  }

  /** A service went away (goodbye or expiry). */
  down(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null) return;
    const fullname = (raw as Record<string, unknown>)['fullname'];
    if (typeof fullname === 'string') this.services.delete(fullname);
  }

  /** Checks every remembered service again (after the trust list changed). */
  recheck(): void {
    for (const s of this.services.values()) s.pending = true;
    this.sweep();
  }

  clear(): void {
    this.services.clear();
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** Checks pending services within the tag budget; the rest wait for the next window. */
  sweep(): void {
    let trusted: Uint8Array[] | null = null;
    for (const s of this.services.values()) {
      if (!s.pending) continue;
      if (trusted === null) trusted = this.opts.trusted();
      const cost = Math.max(1, trusted.length);
      const now = this.now();
      if (now - this.windowStart >= this.windowMs || now < this.windowStart) {
        this.windowStart = now;
        this.tagsInWindow = 0;
      }
      if (this.tagsInWindow > 0 && this.tagsInWindow + cost > this.budget) {
        if (!this.loggedBusy) {
          this.loggedBusy = true;
          this.log('lan-busy', { budget: this.budget, windowMs: this.windowMs, trusted: trusted.length });
        }
        this.scheduleSweep(this.windowStart + this.windowMs - now);
        return;
      }
      this.tagsInWindow += cost;
      s.pending = false;
      this.check(s, trusted);
    }
  }

  private scheduleSweep(delay: number): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = null;
      this.sweep();
    }, Math.max(0, delay));
    this.sweepTimer.unref();
  }

  private check(s: SeenService, trusted: Uint8Array[]): void {
    const entity = matchLanTag(s.nonce, s.tag, trusted);
    if (!entity || equalBytes(entity, this.opts.self)) return;
    const ip = pickLanAddress(s.addresses);
    if (!ip) return;
    const addr = `${ip}:${s.port}`;
    const key = `${Buffer.from(entity).toString('hex')} ${addr}`;
    if (s.notified === key) return;
    s.notified = key;
    this.log('lan-peer', { addr });
    this.opts.onPeer(entity, addr);
  }
}

/** A dnssd object (Advertisement or Browser) we created; `dead` once the library stopped it itself. */
interface Live<T> {
  obj: T;
  dead: boolean;
}

const requireCjs = createRequire(import.meta.url);

/**
 * Repairs dnssd's shared NetworkInterface (one per process) before each start, when it is
 * idle (unbound, no users): (1) after an interface error its user count goes negative (the
 * interface resets it to 0, then every user decrements it again), and the next start would
 * close the socket under a live user, so a negative count is put back to 0; (2) a failed
 * default-route lookup ("Timed out getting default route") leaves its 'query' listener
 * behind, one per attempt, so those are removed.
 */
function resetIdleInterface(): void {
  try {
    const ni = requireCjs('dnssd/lib/NetworkInterface.js') as { get?: () => unknown };
    if (typeof ni.get !== 'function') return;
    const iface = ni.get() as {
      _usingMe?: unknown;
      _isBound?: unknown;
      listeners?: (event: string) => ((...args: unknown[]) => void)[];
      off?: (event: string, fn: (...args: unknown[]) => void) => void;
    };
    if (typeof iface._usingMe !== 'number' || iface._isBound !== false || iface._usingMe > 0) return;
    iface._usingMe = 0;
    if (typeof iface.listeners === 'function' && typeof iface.off === 'function') {
      for (const fn of iface.listeners('query')) if (fn.name === 'handler') iface.off('query', fn);
    }
  } catch {
    /* library layout changed: nothing to repair */
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function randomLabel(prefix: string): string {
  return prefix + randomBytes(6).toString('hex');
}

/** Advertises this agent and browses for trusted ones on the LAN (see the module header). */
export class LanDiscovery {
  private readonly opts: LanDiscoveryOptions;
  private readonly now: () => number;
  private readonly log: (event: string, fields: Record<string, unknown>) => void;
  private running = false;
  private ad: Live<Advertisement> | null = null;
  private browser: Live<Browser> | null = null;
  private readonly table: LanPeerTable;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private readonly loggedErrors = new Set<string>();
  private errors = 0;
  private attempts = 0;

  constructor(opts: LanDiscoveryOptions) {
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
      throw new WotError('ERR_BAD_FIELD', `LAN discovery port must be 1..65535, got ${String(opts.port)}`, 'pass the port the daemon is actually listening on');
    }
    if (!(opts.entityPub instanceof Uint8Array) || opts.entityPub.length !== 32) {
      throw new WotError('ERR_BAD_FIELD', 'LAN discovery entityPub must be a 32-byte public key');
    }
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.retryDelay = opts.retryMs ?? LAN_RETRY_MS;
    this.table = new LanPeerTable({
      self: opts.entityPub,
      trusted: opts.trusted,
      onPeer: (entity, addr) => this.guard(() => opts.onPeer(entity, addr)),
      log: this.log,
      now: this.now,
    });
  }

  /** dnssd errors caught so far (each is logged only the first time its message is seen). */
  get errorCount(): number {
    return this.errors;
  }

  /** Advertise-and-browse attempts so far (1 + retries). */
  get attemptCount(): number {
    return this.attempts;
  }

  /** Services currently remembered (bounded by LAN_MAX_SERVICES). */
  get serviceCount(): number {
    return this.table.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.retryDelay = this.opts.retryMs ?? LAN_RETRY_MS;
    this.attempt();
  }

  /** Stops advertising (with mDNS goodbyes, at most ~1.5 s) and browsing. Safe twice, and after errors. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.table.clear();
    this.table.setOwnNonce(null);
    await this.teardown(true);
  }

  /** Re-checks every remembered service against trusted() (call after the trust list changed). */
  recheck(): void {
    if (this.running) this.guard(() => this.table.recheck());
  }

  // -------------------------------------------------------------- lifecycle

  private attempt(): void {
    if (!this.running) return;
    this.attempts++;
    resetIdleInterface();
    const nonce = new Uint8Array(randomBytes(LAN_NONCE_BYTES));
    const txt = makeLanTxt(this.opts.entityPub, nonce);
    this.table.setOwnNonce(txt.n);
    try {
      const type = dnssd.tcp(LAN_SERVICE);
      const ad = new dnssd.Advertisement(type, this.opts.port, {
        name: randomLabel('wotrelay-'),
        host: randomLabel('wr-'),
        txt,
      });
      const liveAd: Live<Advertisement> = { obj: ad, dead: false };
      // Listeners stay attached forever: dnssd emits 'error' again on stale objects.
      ad.on('error', (e: unknown) => this.onLibError(liveAd, e));
      ad.on('active', () => {
        this.retryDelay = this.opts.retryMs ?? LAN_RETRY_MS;
        this.log('lan-advertising', { port: this.opts.port });
      });
      this.ad = liveAd;

      const browser = new dnssd.Browser(type, { maintain: true, resolve: true });
      const liveBrowser: Live<Browser> = { obj: browser, dead: false };
      browser.on('error', (e: unknown) => this.onLibError(liveBrowser, e));
      const onUp = (s: unknown) => {
        if (this.running && this.browser === liveBrowser) this.guard(() => this.table.up(s));
      };
      browser.on('serviceUp', onUp);
      browser.on('serviceChanged', onUp);
      browser.on('serviceDown', (s: unknown) => this.guard(() => this.table.down(s)));
      this.browser = liveBrowser;

      ad.start();
      browser.start();
    } catch (e) {
      this.fail(e);
    }
  }

  /** A library object reported an error; dnssd has already stopped that object itself. */
  private onLibError(live: Live<unknown>, e: unknown): void {
    live.dead = true;
    if (live !== this.ad && live !== this.browser) return; // an object of an earlier attempt
    this.fail(e);
  }

  private fail(e: unknown): void {
    this.errors++;
    const msg = errorMessage(e);
    const retryInMs = this.running ? this.retryDelay : null;
    if (!this.loggedErrors.has(msg) && this.loggedErrors.size < MAX_ERROR_KINDS) {
      this.loggedErrors.add(msg);
      this.log('lan-error', { error: msg, retryInMs });
    }
    // Let dnssd finish propagating this error to its other users before tearing down.
    const detached = { ad: this.ad, browser: this.browser };
    this.ad = null;
    this.browser = null;
    setImmediate(() => void this.stopObjects(detached.ad, detached.browser, false));
    if (this.running && !this.retryTimer) {
      const delay = this.retryDelay;
      this.retryDelay = Math.min(this.retryDelay * 2, Math.max(LAN_MAX_RETRY_MS, this.opts.retryMs ?? 0));
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.attempt();
      }, delay);
      this.retryTimer.unref();
    }
  }

  private async teardown(goodbye: boolean): Promise<void> {
    const ad = this.ad;
    const browser = this.browser;
    this.ad = null;
    this.browser = null;
    await this.stopObjects(ad, browser, goodbye);
  }

  private async stopObjects(ad: Live<Advertisement> | null, browser: Live<Browser> | null, goodbye: boolean): Promise<void> {
    if (ad && !ad.dead) {
      ad.dead = true;
      await new Promise<void>((resolve) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          // Goodbyes did not complete: force the shutdown.
          this.guard(() => ad.obj.stop(true));
          finish();
        }, goodbye ? GOODBYE_WAIT_MS : 0);
        this.guard(() => ad.obj.stop(!goodbye, finish));
      });
    }
    if (browser && !browser.dead) {
      browser.dead = true;
      this.guard(() => browser.obj.stop());
    }
  }

  /** Runs a callback from dnssd; an exception is logged, never thrown back into the library. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      const msg = errorMessage(e);
      if (!this.loggedErrors.has(msg) && this.loggedErrors.size < MAX_ERROR_KINDS) {
        this.loggedErrors.add(msg);
        this.log('lan-error', { error: msg, retryInMs: null });
      }
      this.errors++;
    }
  }
}
