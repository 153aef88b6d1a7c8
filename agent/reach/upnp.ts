/**
 * agent/reach/upnp: asking the home router (a UPnP Internet Gateway Device) to forward one
 * TCP port to this agent, with the `nat-upnp` package. Owns, per UpnpMapper: one nat-upnp
 * client (its SSDP sockets), one TCP port mapping external→internal with a lease
 * (default 3600 s) renewed at half the lease, its removal on stop(), and the wrapping of
 * nat-upnp's rough edges:
 *  - `createClient()` binds its SSDP sockets on the next tick, so closing it at once throws
 *    ERR_SOCKET_DGRAM_NOT_RUNNING asynchronously (uncaught); closeClientSafely() disarms
 *    bind/send on every SSDP socket before closing;
 *  - SSDP socket 'error' events get a listener from the start (guardClient());
 *  - callbacks are taken once and every operation is bounded in time;
 *  - nat-upnp throws from inside its HTTP/XML callbacks when a gateway answers 200 with a
 *    body that is not the XML it expects (e.g. "Cannot read properties of undefined"),
 *    which would be an uncaughtException: each operation runs inside its own `node:domain`
 *    (deprecated but still the only way to catch throws from a library's own callbacks),
 *    so such a throw fails that operation instead;
 *  - a SOAP fault only reaches us as "Request failed: 500" (the library drops the UPnP
 *    error code), reported as "refused".
 * Nothing is ever thrown into the process: start() resolves { ok: false, reason } on any
 * failure (no gateway, refused, timeout, no usable external address) and stop() never
 * rejects. It never announces anything: the daemon reads start()'s result / status().
 */
import domain from 'node:domain';
import natUpnp from 'nat-upnp';

export const UPNP_DEFAULT_LEASE_S = 3600;
/** How long the SSDP search for a gateway waits. */
export const UPNP_DISCOVERY_MS = 5000;
/** Extra time allowed for the HTTP/SOAP part of one operation after discovery. */
export const UPNP_HTTP_MS = 5000;
/** stop() gives up on DeletePortMapping after this long (the lease ends the mapping anyway). */
export const UPNP_STOP_MS = 3000;
/** After a failed renewal, retry after min(lease/4, this). */
export const UPNP_RETRY_MAX_MS = 60_000;
export const UPNP_DEFAULT_DESCRIPTION = 'wotrelay';

/** The part of an SSDP socket (a dgram.Socket) the guard touches. */
export interface SsdpSocketLike {
  on(event: 'error', listener: (err: Error) => void): unknown;
  bind?: (...args: never[]) => unknown;
  send?: (...args: never[]) => unknown;
}

export interface UpnpMappingRequest {
  public: number;
  private: number;
  protocol: 'TCP';
  description: string;
  ttl: number;
}

/** The subset of a nat-upnp client used here; injectable for tests. */
export interface NatUpnpClientLike {
  /** SSDP search time in ms (nat-upnp's `timeout`). */
  timeout?: number;
  ssdp?: { sockets?: SsdpSocketLike[] };
  portMapping(opts: UpnpMappingRequest, cb: (err: Error | null) => void): void;
  portUnmapping(opts: { public: number; protocol: 'TCP' }, cb: (err: Error | null) => void): void;
  externalIp(cb: (err: Error | null, ip?: string) => void): void;
  close(): void;
}

export interface UpnpTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface UpnpMapperOptions {
  /** The TCP port the agent listens on. */
  internalPort: number;
  /** The port asked for on the gateway (default: internalPort). */
  externalPort?: number;
  /** Lease in seconds (default 3600); renewed at half. */
  leaseSeconds?: number;
  description?: string;
  log?: (event: string, fields: Record<string, unknown>) => void;
  createClient?: () => NatUpnpClientLike;
  /** SSDP search timeout in ms (default UPNP_DISCOVERY_MS). */
  discoveryMs?: number;
  /** Extra ms for the HTTP/SOAP part of each operation (default UPNP_HTTP_MS). */
  httpMs?: number;
  /** Bound on stop() (default UPNP_STOP_MS). */
  stopMs?: number;
  timers?: UpnpTimers;
  now?: () => number;
}

export type UpnpStartResult = { ok: true; externalAddr: string } | { ok: false; reason: string };

export interface UpnpStatus {
  mapped: boolean;
  externalAddr?: string;
  reason?: string;
  renewedAt?: number;
}

const realTimers: UpnpTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

function noop(): void {}

/** Attaches an 'error' listener to every SSDP socket of `client` (before the library's own, which it adds a tick later and only once). */
export function guardClient(client: NatUpnpClientLike, onError: (err: Error) => void = noop): NatUpnpClientLike {
  for (const s of client.ssdp?.sockets ?? []) {
    try {
      s.on('error', onError);
    } catch {
      /* not an emitter: nothing to guard */
    }
  }
  return client;
}

/**
 * Closes a nat-upnp client without the asynchronous ERR_SOCKET_DGRAM_NOT_RUNNING: every
 * SSDP socket's bind/send become no-ops first (the library calls bind on the next tick and
 * send when a queued search runs), then close() is called inside try/catch. Safe twice.
 */
export function closeClientSafely(client: NatUpnpClientLike): void {
  for (const s of client.ssdp?.sockets ?? []) {
    try {
      s.on('error', noop);
      s.bind = () => s;
      s.send = noop;
    } catch {
      /* ignore */
    }
  }
  try {
    client.close();
  } catch {
    /* already closed, or never bound */
  }
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** True for an IPv4 address that can be reached from the Internet (not private, shared, loopback, link-local, multicast or reserved). */
export function isPublicIpv4(ip: string): boolean {
  const m = IPV4_RE.exec(ip);
  if (!m) return false;
  const o = [1, 2, 3, 4].map((i) => Number(m[i]));
  if (o.some((x) => x > 255)) return false;
  const [a, b] = o as [number, number, number, number];
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 100 && b >= 64 && b < 128) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b < 32) return false;
  if (a === 192 && b === 168) return false;
  return true;
}

class OpTimeout extends Error {}

export class UpnpMapper {
  private readonly internalPort: number;
  private readonly externalPort: number;
  private readonly leaseS: number;
  private readonly description: string;
  private readonly discoveryMs: number;
  private readonly httpMs: number;
  private readonly stopMs: number;
  private readonly timers: UpnpTimers;
  private readonly now: () => number;
  private readonly makeClient: () => NatUpnpClientLike;
  private readonly logFn: (event: string, fields: Record<string, unknown>) => void;

  private client: NatUpnpClientLike | null = null;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | null = null;
  /** A mapping may exist on the gateway (AddPortMapping succeeded at least once). */
  private added = false;
  private mapped = false;
  private externalAddr: string | undefined;
  private reason: string | undefined;
  private renewedAt: number | undefined;
  private renewTimer: unknown = null;
  private inflight: Promise<unknown> | null = null;
  private socketErrors = new Set<string>();

  constructor(opts: UpnpMapperOptions) {
    const port = (p: number, what: string) => {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`UpnpMapper: ${what} must be a port 1-65535, got ${p}`);
      return p;
    };
    this.internalPort = port(opts.internalPort, 'internalPort');
    this.externalPort = port(opts.externalPort ?? opts.internalPort, 'externalPort');
    const lease = opts.leaseSeconds ?? UPNP_DEFAULT_LEASE_S;
    if (!Number.isInteger(lease) || lease < 2) throw new RangeError(`UpnpMapper: leaseSeconds must be an integer >= 2, got ${lease}`);
    this.leaseS = lease;
    this.description = opts.description ?? UPNP_DEFAULT_DESCRIPTION;
    this.discoveryMs = opts.discoveryMs ?? UPNP_DISCOVERY_MS;
    this.httpMs = opts.httpMs ?? UPNP_HTTP_MS;
    this.stopMs = opts.stopMs ?? UPNP_STOP_MS;
    this.timers = opts.timers ?? realTimers;
    this.now = opts.now ?? Date.now;
    this.makeClient = opts.createClient ?? (() => natUpnp.createClient() as unknown as NatUpnpClientLike);
    const log = opts.log;
    this.logFn = (event, fields) => {
      try {
        log?.(event, fields);
      } catch {
        /* a logger must not break the mapper */
      }
    };
  }

  status(): UpnpStatus {
    const s: UpnpStatus = { mapped: this.mapped };
    if (this.externalAddr !== undefined) s.externalAddr = this.externalAddr;
    if (this.reason !== undefined) s.reason = this.reason;
    if (this.renewedAt !== undefined) s.renewedAt = this.renewedAt;
    return s;
  }

  /** Finds the gateway, adds the mapping and reads the external address. Never rejects. */
  async start(): Promise<UpnpStartResult> {
    if (this.stopped) return this.fail('stopped before start');
    if (this.started) {
      return this.mapped && this.externalAddr ? { ok: true, externalAddr: this.externalAddr } : { ok: false, reason: this.reason ?? 'already started' };
    }
    this.started = true;
    let client: NatUpnpClientLike;
    try {
      client = guardClient(this.makeClient(), (e) => this.onSocketError(e));
      client.timeout = this.discoveryMs;
    } catch (e) {
      return this.fail(`cannot create the UPnP client: ${(e as Error).message}`);
    }
    this.client = client;
    const p = this.establish(client, 'AddPortMapping');
    this.inflight = p;
    try {
      return await p;
    } finally {
      if (this.inflight === p) this.inflight = null;
    }
  }

  /** Removes the mapping (best effort, bounded by stopMs) and closes the client. Never rejects; safe twice. */
  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop();
    return this.stopping;
  }

  // ---------------------------------------------------------------- internals

  private async doStop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer !== null) this.timers.clearTimeout(this.renewTimer);
    this.renewTimer = null;
    const client = this.client;
    if (!client) return;
    const deadline = this.now() + this.stopMs;
    if (this.inflight) await this.bounded(this.inflight.catch(noop), this.stopMs).catch(noop);
    if (this.added) {
      const left = Math.max(1, deadline - this.now());
      try {
        await this.call<void>((cb) => client.portUnmapping({ public: this.externalPort, protocol: 'TCP' }, (e) => cb(e)), left);
        this.logFn('upnp-unmapped', { externalPort: this.externalPort });
      } catch (e) {
        this.logFn('upnp-unmap-failed', { externalPort: this.externalPort, error: this.describe(e, 'DeletePortMapping') });
      }
      this.added = false;
    }
    this.mapped = false;
    this.externalAddr = undefined;
    this.reason = 'stopped';
    this.client = null;
    closeClientSafely(client);
  }

  /** AddPortMapping then GetExternalIPAddress; on success schedules the renewal. */
  private async establish(client: NatUpnpClientLike, action: 'AddPortMapping'): Promise<UpnpStartResult> {
    const req: UpnpMappingRequest = {
      public: this.externalPort,
      private: this.internalPort,
      protocol: 'TCP',
      description: this.description,
      ttl: this.leaseS,
    };
    try {
      await this.call<void>((cb) => client.portMapping(req, (e) => cb(e)), this.discoveryMs + this.httpMs);
    } catch (e) {
      return this.fail(this.describe(e, action));
    }
    this.added = true;
    if (this.stopped) return { ok: false, reason: 'stopped' };
    let ip: string | undefined;
    try {
      ip = await this.call<string | undefined>((cb) => client.externalIp((e, v) => cb(e, v)), this.discoveryMs + this.httpMs);
    } catch (e) {
      return this.failAndRemove(client, this.describe(e, 'GetExternalIPAddress'));
    }
    if (this.stopped) return { ok: false, reason: 'stopped' };
    if (typeof ip !== 'string' || !IPV4_RE.test(ip)) {
      return this.failAndRemove(client, `the gateway reported no usable external address (${JSON.stringify(ip ?? null)})`);
    }
    if (!isPublicIpv4(ip)) {
      return this.failAndRemove(client, `double NAT: the gateway's external address ${ip} is private, so the mapping is not reachable from the Internet`);
    }
    this.mapped = true;
    this.externalAddr = `${ip}:${this.externalPort}`;
    this.reason = undefined;
    this.renewedAt = this.now();
    this.logFn('upnp-mapped', { externalAddr: this.externalAddr, internalPort: this.internalPort, leaseSeconds: this.leaseS });
    this.scheduleRenewal((this.leaseS * 1000) / 2);
    return { ok: true, externalAddr: this.externalAddr };
  }

  private scheduleRenewal(ms: number): void {
    if (this.stopped) return;
    this.renewTimer = this.timers.setTimeout(() => {
      this.renewTimer = null;
      const p = this.renew();
      this.inflight = p;
      void p.finally(() => {
        if (this.inflight === p) this.inflight = null;
      });
    }, ms);
  }

  private async renew(): Promise<void> {
    const client = this.client;
    if (!client || this.stopped) return;
    const req: UpnpMappingRequest = {
      public: this.externalPort,
      private: this.internalPort,
      protocol: 'TCP',
      description: this.description,
      ttl: this.leaseS,
    };
    try {
      await this.call<void>((cb) => client.portMapping(req, (e) => cb(e)), this.discoveryMs + this.httpMs);
    } catch (e) {
      if (this.stopped) return;
      const reason = this.describe(e, 'AddPortMapping (renewal)');
      const expired = this.renewedAt === undefined || this.now() >= this.renewedAt + this.leaseS * 1000;
      if (expired && this.mapped) {
        this.mapped = false;
        this.reason = `lease expired: ${reason}`;
      }
      this.logFn('upnp-renew-failed', { reason, expired });
      this.scheduleRenewal(Math.min((this.leaseS * 1000) / 4, UPNP_RETRY_MAX_MS));
      return;
    }
    if (this.stopped) return;
    this.added = true;
    this.renewedAt = this.now();
    if (!this.mapped && this.externalAddr) {
      this.mapped = true;
      this.reason = undefined;
    }
    this.logFn('upnp-renewed', { externalAddr: this.externalAddr });
    this.scheduleRenewal((this.leaseS * 1000) / 2);
  }

  private fail(reason: string): UpnpStartResult {
    this.mapped = false;
    this.reason = reason;
    this.logFn('upnp-failed', { reason });
    return { ok: false, reason };
  }

  private async failAndRemove(client: NatUpnpClientLike, reason: string): Promise<UpnpStartResult> {
    try {
      await this.call<void>((cb) => client.portUnmapping({ public: this.externalPort, protocol: 'TCP' }, (e) => cb(e)), this.stopMs);
      this.added = false;
    } catch {
      /* the lease ends it */
    }
    return this.fail(reason);
  }

  /** Turns a library error into a reason: "no gateway", "refused", "timeout" or "gateway error". */
  private describe(e: unknown, action: string): string {
    if (e instanceof OpTimeout) return `timeout: the gateway did not answer ${action} within ${e.message} ms`;
    const msg = e instanceof Error ? e.message : String(e);
    if (msg === 'timeout') return `no gateway: no UPnP Internet Gateway Device answered the SSDP search within ${this.discoveryMs} ms`;
    const http = /Request failed: (\d+)/.exec(msg);
    if (http) return `refused: the gateway answered ${action} with HTTP ${http[1]} (a UPnP error such as 718 ConflictInMappingEntry or 606 Action not authorized)`;
    if (msg === 'Service not found') return `gateway error: the gateway offers no WANIPConnection/WANPPPConnection service`;
    const code = (e as NodeJS.ErrnoException | null)?.code;
    return `gateway error: ${action} failed: ${code ? `${code} ` : ''}${msg}`;
  }

  private onSocketError(e: Error): void {
    const key = `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`;
    if (this.socketErrors.has(key) || this.socketErrors.size >= 16) return;
    this.socketErrors.add(key);
    this.logFn('upnp-socket-error', { error: key.trim() });
  }

  /** Runs a callback-style library operation once, bounded by ms, catching synchronous throws and throws from the library's own asynchronous callbacks (domain). */
  private call<T>(op: (cb: (err: Error | null, v?: T) => void) => void, ms: number): Promise<T> {
    return this.bounded(
      new Promise<T>((resolve, reject) => {
        let done = false;
        const d = domain.create();
        d.on('error', (e: Error) => {
          if (!done) {
            done = true;
            reject(e);
          } else this.logFn('upnp-library-error', { error: e.message });
        });
        try {
          d.run(() =>
            op((err, v) => {
              if (done) return;
              done = true;
              if (err) reject(err);
              else resolve(v as T);
            }),
          );
        } catch (e) {
          done = true;
          reject(e);
        }
      }),
      ms,
    );
  }

  private bounded<T>(p: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = this.timers.setTimeout(() => reject(new OpTimeout(String(ms))), ms);
      p.then(
        (v) => {
          this.timers.clearTimeout(t);
          resolve(v);
        },
        (e) => {
          this.timers.clearTimeout(t);
          reject(e);
        },
      );
    });
  }
}
