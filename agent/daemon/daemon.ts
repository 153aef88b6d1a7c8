/**
 * The agent daemon: loads the identity and the store, listens for neighbour links,
 * dials trusted neighbours, runs the sans-I/O core (one store transaction per event,
 * actions performed after commit) and serves the local JSON-RPC API on a Unix socket.
 * This module owns all sockets and timers of an agent; protocol decisions live in core.
 */
import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { RpcServer, type Handlers, type RpcContext } from '../api/server.js';
import { validateParams } from '../api/validate.js';
import {
  LIST_NAME_RE,
  LIST_NAME_RULE,
  LIST_POLICIES,
  OUTBOX_STATES,
  type HostedListView,
  type ListChangeResult,
  type ListMemberState,
  type ListMemberView,
  type ListPolicy,
  type ListRequestResult,
  type MethodName,
  type Params,
  type Result,
  type HostedMailboxView,
  type InboxItem,
  type MailboxView,
  type OutboxItem,
  type OutboxState,
  type PeerView,
  type ProgressItem,
  type QueuesView,
  type RevocationView,
  type SendResult,
  type StatusResult,
  type TrustEntryView,
  type EvidenceView,
} from '../api/methods.js';
import { AgentCore, CORE_DEFAULTS, type Action, type CoreConfig, type EvidenceRecord, type LinkId, type ProgressEvent } from '../core/index.js';
import { batchCacheStats, toHex, utf8 } from '../crypto/index.js';
import {
  certCacheStats,
  createIdentity,
  decodeCertUnverified,
  decodeEntityId,
  decodeInvite,
  encodeAgentId,
  encodeEntityId,
  fingerprint,
  loadIdentity,
  AGENT_CERT_FILE,
  type Identity,
} from '../identity/index.js';
import { Link, type CloseInfo, type PeerIdentity } from '../link/index.js';
import { ListHost, type ListTunables } from '../lists/index.js';
// LAN discovery (dnssd) and UPnP (nat-upnp) are loaded only when used: they are most of the
// daemon's start-up time, and an agent on a loopback or public address never needs them.
import type { LanDiscovery } from '../reach/lan.js';
import type { UpnpMapper } from '../reach/upnp.js';
import { Store, type InboxRow, type OutboxRow, type TrustEntry } from '../store/index.js';
import { WotError, isWotError } from '../wire/errors.js';
import { MsgType } from '../wire/constants.js';
import type { WireMessage } from '../wire/types.js';
import { InboundBatcher } from './inbound.js';
import { createLogger, type LogFields, type Logger, type LogLevel } from './log.js';
import { openFrameTap } from './tap.js';
import { encodeMessage } from '../wire/codec.js';
import { configPath, dbPath, hostedListHome, listsDir, socketPath } from './paths.js';
import { DEFAULT_LISTEN, EarlyListener, formatHostPort, parseHostPort } from './listener.js';

/**
 * A list agent keeps the routes its subscribers' requests came by (reversed) for a day, and
 * one per subscriber, so its fan-out needs no discovery per subscriber (config `core` wins).
 */
const LIST_CORE_DEFAULTS: Partial<CoreConfig> = { routeTtlMs: 24 * 3600_000, routeCacheTargets: 100_000, outboxMax: 1_000_000 };

export interface DaemonOptions {
  home: string;
  listen?: string;
  logLevel?: LogLevel;
  logFormat?: 'logfmt' | 'json';
  /** Override for tests: where log lines go. */
  logWrite?: (line: string) => void;
  /** Fields added to every log line (a hosted list logs with list=<name>). */
  logFields?: LogFields;
  /**
   * Called after the `shutdown` RPC has stopped this daemon. Default: exit the process; a
   * list hosted in its owner's daemon only marks itself stopped.
   */
  onShutdown?: () => void;
  /** Runs inside another agent's daemon process (a hosted list): it hosts no lists itself. */
  hosted?: boolean;
  /**
   * The listener, already bound by `wotrelay daemon` before this module loaded (its held
   * connections are served once the identity and store are ready). Used when it is bound to
   * the configured address, closed otherwise; runDaemon owns it from the call on.
   */
  listener?: EarlyListener;
}

/** The `list` key of a list agent's config.json: this agent is a mailing-list entity. */
export interface ListConfig {
  /** 1–32 characters of a-z, 0-9 and '-'. */
  name: string;
  policy: ListPolicy;
  /** The owner's entity id (wot1…). */
  owner: string;
}

export interface DaemonConfig {
  listen: string;
  /** Addresses to advertise (invite codes, handshakes); derived from listen when empty. */
  addrs: string[];
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  keepaliveMs: number;
  /** Cap on links still in their handshake (slowloris bound). */
  maxPendingHandshakes: number;
  /** Cap on concurrent connections from one remote address. */
  maxConnectionsPerAddress: number;
  /** Cap on open links. */
  maxLinks: number;
  /** Protocol tunables (rate limits, rings, complaint threshold and window, …): see CoreConfig. */
  core: Partial<CoreConfig>;
  /** Directory servers (base URLs such as http://dir.example.org:7118): publish to all, query until one answers. */
  directories: string[];
  /** Re-announce this often even when nothing changed (directory records live 24 h). */
  announceEveryMs: number;
  /** Check the machine's addresses this often; a change is announced at once. */
  addrCheckEveryMs: number;
  /** Find trusted agents on the local network by DNS-SD (never on a loopback listen address). */
  lan: boolean;
  /** Ask the home router for a port mapping by UPnP (never on a loopback listen address). */
  upnp: boolean;
  /** Present when this agent is a mailing-list entity (see agent/lists). */
  list?: ListConfig;
  /** Tunables of the list logic (fan-out pace, archive size, …); only with `list`. */
  listTunables?: Partial<ListTunables>;
}

export const DAEMON_DEFAULTS: DaemonConfig = {
  listen: DEFAULT_LISTEN,
  addrs: [],
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 75_000,
  keepaliveMs: 25_000,
  maxPendingHandshakes: 256,
  maxConnectionsPerAddress: 16,
  maxLinks: 10_000,
  core: {},
  directories: [],
  announceEveryMs: 3600_000,
  addrCheckEveryMs: 30_000,
  lan: true,
  upnp: true,
};

export interface DaemonHandle {
  stop(): Promise<void>;
  listenAddrs: string[];
  /** This agent's entity key. */
  entity: Uint8Array;
  /** True once stop() has begun. */
  readonly stopped: boolean;
  /** Calls an API method in-process (params checked as over the socket); notifications are dropped. */
  invoke<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>>;
}

export const VERSION = '0.1.0';

/** How often the WAL is truncated, so overwritten session keys leave it (Store.checkpoint). */
const ERASE_EVERY_MS = 30_000;
/** Evidence records shown by `status` (the core keeps more, see agent/core/evidence.ts). */
const EVIDENCE_SHOWN = 16;
/** Peer+code pairs whose bad input was logged lately (one line per pair per 10 minutes). */
const MAX_DROP_LOG_KEYS = 1_000;
/** Automatic revocations `status` remembers. */
const MAX_REVOCATIONS_SHOWN = 100;
/** Trusted agents' LAN addresses remembered (DNS-SD). */
const MAX_LAN_ADDRS = 10_000;
/**
 * Messages that only acknowledge (custody taken, progress, delivery): sent lazily, so those
 * of nearby messages share a record and the peer handles them in one turn (link.ts lingerMs).
 */
const ACKNOWLEDGEMENTS: ReadonlySet<number> = new Set([MsgType.HOLD, MsgType.REPORT, MsgType.ACK]);

export { parseHostPort, formatHostPort };

function loadConfig(home: string): DaemonConfig {
  const p = configPath(home);
  let raw: Partial<DaemonConfig> = {};
  if (fs.existsSync(p)) {
    try {
      raw = JSON.parse(fs.readFileSync(p, 'utf8')) as Partial<DaemonConfig>;
    } catch (e) {
      throw new WotError('ERR_BAD_REQUEST', `config file ${p} is not valid JSON: ${(e as Error).message}`, 'fix or delete the file');
    }
  }
  const cfg: DaemonConfig = { ...DAEMON_DEFAULTS, ...raw };
  if (raw.list !== undefined) cfg.list = checkListConfig(raw.list, p);
  return cfg;
}

/**
 * Checks the `list` key of a config file: name 1–32 characters [a-z0-9-], policy one of
 * announce/discuss/moderated, owner a valid entity id. Throws ERR_BAD_REQUEST naming the file.
 */
export function checkListConfig(v: unknown, file: string): ListConfig {
  const bad = (what: string) => new WotError('ERR_BAD_REQUEST', `config file ${file}: ${what}`, `fix the "list" key of ${file}, e.g. "list": {"name": "friends", "policy": "discuss", "owner": "wot1…"}`);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('"list" must be an object with name, policy and owner');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'name' && k !== 'policy' && k !== 'owner') throw bad(`unknown key "list.${k}" (allowed: name, policy, owner)`);
  if (typeof o.name !== 'string' || !LIST_NAME_RE.test(o.name)) throw bad(`"list.name" ${typeof o.name === 'string' ? `"${o.name}" ` : ''}is not valid: ${LIST_NAME_RULE}`);
  if (typeof o.policy !== 'string' || !(LIST_POLICIES as readonly string[]).includes(o.policy)) {
    throw bad(`"list.policy" must be one of ${LIST_POLICIES.join(', ')}`);
  }
  if (typeof o.owner !== 'string') throw bad('"list.owner" must be the owner\'s entity id (wot1…)');
  try {
    decodeEntityId(o.owner);
  } catch (e) {
    throw bad(`"list.owner" is not a valid entity id: ${(e as Error).message}`);
  }
  return { name: o.name, policy: o.policy as ListPolicy, owner: o.owner };
}

/** The `list` key of the config file in `home`, or null when it has none (or cannot be read). */
function readListKey(home: string): ListConfig | null {
  try {
    const raw = JSON.parse(fs.readFileSync(configPath(home), 'utf8')) as { list?: unknown };
    return raw.list === undefined ? null : checkListConfig(raw.list, configPath(home));
  } catch {
    return null;
  }
}

/** Writes a JSON config file atomically with mode 0600. */
function writeConfigFile(file: string, cfg: Record<string, unknown>): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** A listen address with a wildcard host made dialable from this machine (for a hosted list). */
function localDialAddr(listen: string): string {
  const { host, port } = parseHostPort(listen);
  if (host === '0.0.0.0') return formatHostPort('127.0.0.1', port);
  if (host === '::') return formatHostPort('::1', port);
  return formatHostPort(host, port);
}

/** A hosted list as the owner's daemon keeps it. */
interface HostedList {
  name: string;
  home: string;
  handle: DaemonHandle | null;
  /** Why it did not start (null when it runs or was stopped on purpose). */
  error: string | null;
}

/** Counters by name; at most MAX_METRICS names (a new name past that is not counted). */
export class Metrics {
  static readonly MAX_METRICS = 512;
  private readonly counters = new Map<string, number>();
  inc(name: string, by = 1): void {
    if (!this.counters.has(name) && this.counters.size >= Metrics.MAX_METRICS) return; // bounded
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }
  get size(): number {
    return this.counters.size;
  }
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counters.entries()].sort());
  }
}

interface PendingAccept {
  resolve: (inviter: Uint8Array) => void;
  reject: (e: WotError) => void;
}

export async function runDaemon(opts: DaemonOptions): Promise<DaemonHandle> {
  try {
    return await startDaemon(opts);
  } catch (e) {
    await opts.listener?.close(); // a start that failed leaves no port open
    throw e;
  }
}

async function startDaemon(opts: DaemonOptions): Promise<DaemonHandle> {
  const home = opts.home;
  const baseLog: Logger = createLogger({
    level: opts.logLevel ?? 'info',
    format: opts.logFormat ?? 'logfmt',
    ...(opts.logWrite ? { write: opts.logWrite } : {}),
  });
  const extraFields = opts.logFields;
  const log: Logger = extraFields ? { log: (level, event, fields = {}) => baseLog.log(level, event, { ...extraFields, ...fields }) } : baseLog;
  const cfg = loadConfig(home);
  if (opts.listen) cfg.listen = opts.listen;
  const identity: Identity = loadIdentity(home, Date.now());
  const store = Store.open(dbPath(home));
  const metrics = new Metrics();
  const startedAt = Date.now();
  /** Test-only frame tap (WOTRELAY_FRAME_TAP); null in normal runs. */
  const tap = opts.hosted ? null : openFrameTap();

  const links = new Map<LinkId, Link>();
  /** Open links by the peer's agent key (hex). */
  const openByAgent = new Map<string, Set<LinkId>>();
  const linkDirection = new Map<LinkId, 'in' | 'out'>();
  let nextLinkId = 1;
  const pendingByAddress = new Map<string, number>();
  let pendingHandshakes = 0;
  /** Accepted links still in their handshake, oldest first (the first to go when full). */
  const pendingLinks = new Set<Link>();
  const dialing = new Set<string>(); // entity hex being dialled
  const pendingAccepts = new Map<LinkId, PendingAccept>();
  const watchers = new Set<RpcContext>();
  const sendWaiters = new Map<string, Set<() => void>>();
  /** API connections following a message's progress, by message id hex. */
  const followers = new Map<string, Set<RpcContext>>();
  const discoveryWaiters = new Map<string, Set<() => void>>();
  const revocations: RevocationView[] = [];
  /** Addresses of trusted agents found on the LAN (entity hex → host:port), tried first. */
  const lanAddrs = new Map<string, string>();
  let lan: LanDiscovery | null = null;
  let upnp: UpnpMapper | null = null;
  let upnpRetry: NodeJS.Timeout | null = null;
  /** Bad input is logged once per peer and error code per 10 minutes; metrics count every case. */
  const dropLogged = new Map<string, number>();
  const firstDropLog = (key: string): boolean => {
    const now = performance.now();
    const last = dropLogged.get(key);
    if (last !== undefined && now - last < 600_000) return false;
    if (dropLogged.size >= MAX_DROP_LOG_KEYS) dropLogged.delete(dropLogged.keys().next().value!);
    dropLogged.set(key, now);
    return true;
  };
  let listenAddrs: string[] = [];
  let stopping = false;

  const advertised = (): string[] => {
    if (cfg.addrs.length > 0) return cfg.addrs.slice(0, 8);
    const out: string[] = [];
    // A UPnP mapping on the home router is how the world reaches us: it comes first.
    const mapped = upnp?.status();
    if (mapped?.mapped && mapped.externalAddr) out.push(mapped.externalAddr);
    for (const a of listenAddrs) {
      const { host, port } = parseHostPort(a);
      if (host === '0.0.0.0' || host === '::') {
        for (const list of Object.values(os.networkInterfaces())) {
          for (const ni of list ?? []) {
            if (ni.family === 'IPv4' && !ni.internal) out.push(formatHostPort(ni.address, port));
          }
        }
        if (out.length === 0) out.push(formatHostPort('127.0.0.1', port));
      } else {
        out.push(a);
      }
    }
    return out.slice(0, 8);
  };

  const core = new AgentCore({
    identity: {
      entityPub: identity.entityPub,
      agent: identity.agent,
      box: identity.box,
      certBytes: identity.certBytes,
      cert: identity.cert,
    },
    store,
    now: Date.now,
    randomBytes: (n) => new Uint8Array(nodeRandomBytes(n)),
    addrs: advertised,
    mono: () => performance.now(),
  }, cfg.list ? { ...LIST_CORE_DEFAULTS, ...cfg.core } : cfg.core);

  /** The mailing-list logic when this agent is a list entity (it attaches itself to the core). */
  let listHost: ListHost | null = null;
  if (cfg.list) {
    try {
      listHost = new ListHost(core, store, { name: cfg.list.name, policy: cfg.list.policy, owner: decodeEntityId(cfg.list.owner) }, cfg.listTunables ?? {});
    } catch (e) {
      store.close();
      throw e;
    }
  }
  /** Lists hosted in this process, by name (the owner's daemon only). */
  const hostedLists = new Map<string, HostedList>();

  /**
   * Incoming messages, committed in groups: one transaction (and one signing batch) for all
   * that arrived in one event-loop turn, each message in a savepoint of its own so a failing
   * one is rolled back alone; answers go out only after the commit (inbound.ts).
   */
  const inbound = new InboundBatcher<[LinkId, WireMessage, Uint8Array]>((batch) => {
    if (stopping) return; // not acknowledged: the previous hop keeps it and tries again
    let actions: Action[];
    try {
      actions = store.tx(() =>
        core.batch(() => {
          const out: Action[] = [];
          for (const [id, msg, raw] of batch) {
            try {
              out.push(...store.tx(() => core.onMessage(id, msg, raw)));
            } catch (e) {
              metrics.inc('core.error');
              log.log('error', 'core-error', { error: (e as Error).message });
            }
          }
          return out;
        }),
      );
    } catch (e) {
      metrics.inc('core.error');
      log.log('error', 'core-error', { error: (e as Error).message });
      return;
    }
    perform(actions);
  });

  /** Runs a core step in one transaction, then performs its actions (queued messages first). */
  const step = (fn: () => Action[]): void => {
    inbound.drain();
    let actions: Action[];
    try {
      actions = store.tx(fn);
    } catch (e) {
      metrics.inc('core.error');
      log.log('error', 'core-error', { error: (e as Error).message });
      return;
    }
    perform(actions);
  };

  const perform = (actions: Action[]): void => {
    /** Links that carry an envelope in this group: written first, before any other link's answers. */
    let onward: Set<Link> | null = null;
    for (const a of actions) {
      switch (a.type) {
        case 'send': {
          const l = links.get(a.link);
          if (l && a.msg.t === MsgType.ENVELOPE) (onward ??= new Set()).add(l);
          const lazy = ACKNOWLEDGEMENTS.has(a.msg.t);
          if (tap && l?.peer) {
            const bytes = encodeMessage(a.msg);
            if (l.sendEncoded(bytes, lazy)) tap.write('out', l.peer.entity, bytes);
            else metrics.inc('send.refused');
            break;
          }
          if (!l || !l.send(a.msg, lazy)) metrics.inc('send.refused');
          break;
        }
        case 'dial':
          dial(a.entity, a.addr);
          break;
        case 'close':
          links.get(a.link)?.fail(a.code, a.msg);
          break;
        case 'delivered-to-app': {
          const item = inboxItem(a.item);
          for (const w of watchers) w.notify('message', item);
          log.log('info', 'message-received', { from: fingerprint(a.item.from), id: toHex(a.item.id) });
          break;
        }
        case 'outbox-state': {
          const key = toHex(a.id);
          for (const fn of sendWaiters.get(key) ?? []) fn();
          log.log('debug', 'outbox-state', { id: key, state: a.state });
          break;
        }
        case 'welcomed': {
          const p = pendingAccepts.get(a.link);
          pendingAccepts.delete(a.link);
          p?.resolve(a.inviter);
          break;
        }
        case 'progress': {
          const key = toHex(a.event.id);
          const item = progressItem(a.event);
          for (const ctx of followers.get(key) ?? []) ctx.notify('progress', item);
          log.log('debug', 'progress', { id: key, status: item.status, reporter: item.reporterFingerprint });
          break;
        }
        case 'route-found':
        case 'discovery-failed': {
          const key = toHex(a.target);
          for (const fn of discoveryWaiters.get(key) ?? []) fn();
          log.log('debug', a.type, { target: fingerprint(a.target) });
          break;
        }
        case 'auto-revoked': {
          const r: RevocationView = {
            entity: encodeEntityId(a.entity),
            fingerprint: fingerprint(a.entity),
            petname: store.trust.get(a.entity)?.petname ?? null,
            complainants: a.complainants,
            at: Date.now(),
          };
          revocations.push(r);
          if (revocations.length > MAX_REVOCATIONS_SHOWN) revocations.shift();
          metrics.inc('trust.auto-revoked');
          for (const w of watchers) w.notify('revoked', r);
          break;
        }
        case 'announced':
          void publish(a.announcement);
          break;
        case 'directory-lookup':
          void lookup(a.entity);
          break;
        case 'metric':
          metrics.inc(a.name);
          break;
        case 'log':
          if (a.event === 'message-dropped' && !firstDropLog(`${String(a.fields['peer'])}|${String(a.fields['code'])}`)) break;
          log.log(a.level, a.event, a.fields);
          break;
      }
    }
    if (onward) for (const l of onward) l.flush();
  };

  /** Re-announces at once when our addresses changed (polled, and checked on every new link). */
  let addrKey = '';
  const checkAddrs = (): void => {
    if (stopping || listenAddrs.length === 0) return;
    const k = advertised().join(' ');
    if (k === addrKey) return;
    addrKey = k;
    log.log('info', 'addresses-changed', { addrs: k });
    step(() => core.announce());
  };

  // ---------------------------------------------------------------- directory client

  const dirUrl = (base: string, entity: Uint8Array) => `${base.replace(/\/+$/, '')}/v1/records/${encodeEntityId(entity)}`;

  /** PUT our announcement to every directory server (errors are logged, never fatal). */
  const publish = async (announcement: Uint8Array): Promise<void> => {
    await Promise.all(
      cfg.directories.map(async (base) => {
        try {
          const r = await fetch(dirUrl(base, identity.entityPub), {
            method: 'PUT',
            body: Buffer.from(announcement),
            headers: { 'content-type': 'application/octet-stream' },
            signal: AbortSignal.timeout(10_000),
          });
          metrics.inc(`directory.publish.${r.status}`);
          if (r.status >= 400 && r.status !== 409) log.log('warn', 'directory-publish-refused', { directory: base, status: r.status });
        } catch (e) {
          metrics.inc('directory.publish.error');
          log.log('warn', 'directory-unreachable', { directory: base, error: (e as Error).message });
        }
      }),
    );
  };

  /** Asks the directory servers in turn until one knows `entity`. */
  const lookup = async (entity: Uint8Array): Promise<void> => {
    for (const base of cfg.directories) {
      try {
        const r = await fetch(dirUrl(base, entity), { signal: AbortSignal.timeout(10_000) });
        metrics.inc(`directory.lookup.${r.status}`);
        if (r.status !== 200) continue;
        const bytes = new Uint8Array(await r.arrayBuffer());
        if (stopping) return;
        step(() => core.learnAnnouncement(bytes));
        return;
      } catch (e) {
        metrics.inc('directory.lookup.error');
        log.log('debug', 'directory-lookup-failed', { directory: base, error: (e as Error).message });
      }
    }
  };

  // ---------------------------------------------------------------- links

  const linkOptions = () => ({
    identity: {
      agentSeed: identity.agent.seed,
      agentPub: identity.agent.publicKey,
      entityPub: identity.entityPub,
      certBytes: identity.certBytes,
    },
    gate: (input: Parameters<AgentCore['gate']>[0]) => {
      try {
        return store.tx(() => core.gate(input));
      } catch (e) {
        log.log('error', 'gate-error', { error: (e as Error).message });
        return { ok: false as const, code: 'ERR_INTERNAL' as const };
      }
    },
    addrs: advertised(),
    handshakeTimeoutMs: cfg.handshakeTimeoutMs,
    idleTimeoutMs: cfg.idleTimeoutMs,
    keepaliveMs: cfg.keepaliveMs,
  });

  const attach = (link: Link, direction: 'in' | 'out', onOpen?: (id: LinkId) => void): LinkId => {
    const id = nextLinkId++;
    links.set(id, link);
    linkDirection.set(id, direction);
    link.on('open', (peer: PeerIdentity) => {
      if (links.size > cfg.maxLinks) {
        link.fail('ERR_BACKPRESSURE', 'too many links');
        return;
      }
      // Keep one link per agent: when both sides dialled at once, the link initiated by the
      // smaller agent key wins on both sides. (Open links are indexed by agent: with 10,000
      // links, walking them all on every open was quadratic.)
      const agentHex = toHex(peer.agent);
      for (const otherId of [...(openByAgent.get(agentHex) ?? [])]) {
        const other = links.get(otherId);
        if (otherId === id || !other || !other.isOpen || !other.peer) continue;
        const ours = Buffer.compare(Buffer.from(identity.agent.publicKey), Buffer.from(peer.agent)) < 0;
        const keepNew = (direction === 'out') === ours;
        const loser = keepNew ? other : link;
        loser.close();
        if (!keepNew) return;
      }
      let mine = openByAgent.get(agentHex);
      if (!mine) openByAgent.set(agentHex, (mine = new Set()));
      mine.add(id);
      log.log('info', 'peer-up', { peer: fingerprint(peer.entity), addr: `${peer.remoteAddress}:${peer.remotePort}`, dir: direction });
      // A (re)connection is a moment our addresses may have changed (a new network).
      if (direction === 'out') checkAddrs();
      onOpen?.(id);
      step(() => core.peerUp(id, peer, { awaitingWelcome: pendingAccepts.has(id), addrs: link.peerAddrs }));
    });
    link.on('message', (msg, raw) => {
      if (tap && link.peer) tap.write('in', link.peer.entity, raw);
      inbound.push([id, msg, raw]);
    });
    link.on('close', (info: CloseInfo) => {
      links.delete(id);
      linkDirection.delete(id);
      if (link.peer) {
        const hex = toHex(link.peer.agent);
        const mine = openByAgent.get(hex);
        mine?.delete(id);
        if (mine?.size === 0) openByAgent.delete(hex);
      }
      const pa = pendingAccepts.get(id);
      if (pa) {
        pendingAccepts.delete(id);
        pa.reject(closeToError(info));
      }
      if (info.duringHandshake) metrics.inc(`handshake.${info.code}`);
      else metrics.inc(`link.closed.${info.code}`);
      if (link.peer) {
        log.log(info.code === 'ERR_SHUTDOWN' || info.code === 'ERR_CONNECTION_LOST' ? 'debug' : 'warn', 'peer-down', {
          peer: fingerprint(link.peer.entity),
          code: info.code,
          remote: info.remote,
          ...(info.msg ? { reason: info.msg } : {}),
        });
        step(() => core.peerDown(id));
      } else if (info.code === 'ERR_CERT_EXPIRED') {
        // A genuine certificate outside the ±10 min window: usually a wrong clock, ours or theirs.
        if (firstDropLog(`clock|${link.remoteAddress}`)) {
          log.log('warn', 'handshake-refused-clock', {
            addr: `${link.remoteAddress}:${link.remotePort}`,
            dir: direction,
            reason: info.msg ?? info.code,
            ourClock: new Date().toISOString(),
            hint: 'check the clock of this computer and of the peer (certificates are accepted 10 minutes either side of their window)',
          });
        }
      } else if (info.code !== 'ERR_CONNECTION_LOST' || direction === 'out') {
        log.log('debug', 'handshake-failed', { addr: link.remoteAddress, code: info.code });
      }
    });
    return id;
  };

  const dial = (entity: Uint8Array, addr: string, invite?: { secret: Uint8Array; pending: PendingAccept }): void => {
    const key = toHex(entity);
    if (!invite && (dialing.has(key) || core.isConnected(entity))) return;
    let hp: { host: string; port: number };
    try {
      hp = parseHostPort(addr);
    } catch {
      return;
    }
    dialing.add(key);
    const socket = net.connect({ host: hp.host, port: hp.port });
    const link = Link.initiate(socket, {
      ...linkOptions(),
      expectEntity: entity,
      ...(invite ? { inviteSecret: invite.secret } : {}),
    });
    const id = attach(link, 'out');
    if (invite) pendingAccepts.set(id, invite.pending);
    link.once('close', (info: CloseInfo) => {
      dialing.delete(key);
      if (info.duringHandshake && !stopping && (info.code === 'ERR_CONNECTION_LOST' || info.code === 'ERR_KEY_MISMATCH' || info.code === 'ERR_HANDSHAKE_TIMEOUT')) {
        if (lanAddrs.get(key) === addr) lanAddrs.delete(key);
        step(() => core.dialFailed(entity, addr));
      }
    });
    link.once('open', () => dialing.delete(key));
    socket.on('error', (e) => log.log('debug', 'dial-failed', { addr, error: e.message }));
  };

  // ---------------------------------------------------------------- listener

  // Slowloris and connection floods: a connection is "pending" from accept until its
  // handshake ends (at most handshakeTimeoutMs). One address may hold at most
  // maxConnectionsPerAddress pending connections (more are refused at once); when
  // maxPendingHandshakes are pending in all, the oldest is dropped to make room, so sockets
  // that only trickle cannot keep an honest peer (whose handshake takes one round trip) out.
  const onConnection = (socket: net.Socket): void => {
    if (stopping) return void socket.destroy();
    const ra = socket.remoteAddress ?? '?';
    const perAddr = pendingByAddress.get(ra) ?? 0;
    if (perAddr >= cfg.maxConnectionsPerAddress) {
      metrics.inc('connection.refused.per-address');
      socket.destroy();
      return;
    }
    if (pendingHandshakes >= cfg.maxPendingHandshakes) {
      const oldest = pendingLinks.values().next().value;
      if (!oldest) {
        metrics.inc('connection.refused.limit');
        socket.destroy();
        return;
      }
      metrics.inc('connection.evicted');
      oldest.abort('ERR_BACKPRESSURE', 'too many handshakes in progress');
    }
    pendingHandshakes++;
    pendingByAddress.set(ra, perAddr + 1);
    const link = Link.accept(socket, linkOptions());
    pendingLinks.add(link);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      pendingLinks.delete(link);
      pendingHandshakes--;
      const n = (pendingByAddress.get(ra) ?? 1) - 1;
      if (n <= 0) pendingByAddress.delete(ra);
      else pendingByAddress.set(ra, n);
    };
    link.once('open', release);
    link.once('close', release);
    attach(link, 'in');
    socket.resume(); // accepted paused (listener.ts): read from now on
  };

  let listener = opts.listener;
  if (listener && listener.listen !== cfg.listen) {
    await listener.close();
    listener = undefined;
  }
  listener ??= await EarlyListener.bind(cfg.listen);
  const server = listener.server;
  server.maxConnections = cfg.maxLinks + cfg.maxPendingHandshakes;
  listener.serve(onConnection);
  const bound = server.address() as net.AddressInfo;
  listenAddrs = [formatHostPort(bound.address, bound.port)];
  for (const a of listenAddrs) log.log('info', 'listening', { addr: a, entity: encodeEntityId(identity.entityPub), fingerprint: fingerprint(identity.entityPub) });

  // ---------------------------------------------------------------- API

  const trustView = (e: TrustEntry): TrustEntryView => ({
    entity: encodeEntityId(e.entity),
    fingerprint: fingerprint(e.entity),
    petname: e.petname,
    how: e.how,
    state: e.state,
    addr: e.addr,
    addedAt: e.addedAt,
    connected: core.isConnected(e.entity),
  });

  const nameOf = (entity: Uint8Array): string | null => store.trust.get(entity)?.petname ?? null;

  const inboxItem = (r: InboxRow): InboxItem => {
    const path = (JSON.parse(r.path) as Array<{ entity: string }>).map((h) => {
      const ent = decodeEntityId(h.entity);
      return { entity: h.entity, name: nameOf(ent), fingerprint: fingerprint(ent) };
    });
    return {
      id: toHex(r.id),
      from: encodeEntityId(r.from),
      fromName: nameOf(r.from),
      fromFingerprint: fingerprint(r.from),
      receivedAt: r.receivedAt,
      sentAt: r.sentAt,
      kind: r.kind,
      ...(r.kind === 'text' ? { text: Buffer.from(r.body).toString('utf8') } : {}),
      ...(r.name ? { name: r.name } : {}),
      size: r.body.length,
      path,
      onion: path.length === 0,
      seq: r.seq,
      hash: r.hash ? toHex(r.hash) : null,
      parents: r.parents.map(toHex),
      gap: r.gap.map(toHex),
      ...(r.author
        ? {
            author: { entity: encodeEntityId(r.author), name: nameOf(r.author), fingerprint: fingerprint(r.author) },
            via: { entity: encodeEntityId(r.from), name: nameOf(r.from), fingerprint: fingerprint(r.from) },
          }
        : {}),
    };
  };

  const progressItem = (e: ProgressEvent): ProgressItem => ({
    id: toHex(e.id),
    status: e.status,
    reporter: encodeEntityId(e.reporter),
    reporterName: toHex(e.reporter) === toHex(identity.entityPub) ? 'you' : nameOf(e.reporter),
    reporterFingerprint: fingerprint(e.reporter),
    at: e.at,
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
  });

  const evidenceView = (e: EvidenceRecord): EvidenceView => ({
    at: e.at,
    from: encodeEntityId(e.from),
    fromFingerprint: fingerprint(e.from),
    code: e.code,
    reason: e.reason,
    id: toHex(e.id),
    to: encodeEntityId(e.to),
    route: e.route.map(toHex),
    bodySha256: toHex(e.bodyHash),
    hops: e.hops.map((h) => ({ agent: toHex(h.a), next: toHex(h.n), sig: toHex(h.s), ...(h.c ? { cert: toHex(h.c) } : {}) })),
  });

  const sendResult = (r: OutboxRow): SendResult => ({ id: toHex(r.id), to: encodeEntityId(r.to), state: r.state });

  const resolveWho = (who: string): Uint8Array => core.resolve(who, decodeEntityId);

  const outboxItem = (r: OutboxRow): OutboxItem => ({
    id: toHex(r.id),
    to: encodeEntityId(r.to),
    toName: nameOf(r.to),
    state: r.state,
    kind: r.kind,
    hash: r.hash ? toHex(r.hash) : null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    attempts: r.attempts,
    error: r.error,
  });

  /** The app's own messages (text, file), as opposed to the receipts and wants the agent sends. */
  const isAppMessage = (r: OutboxRow): boolean => r.kind === 'text' || r.kind === 'file';

  /**
   * Text/file outbox rows per state. The store has no count-by-state query yet, so this is
   * one scan of at most 100,000 rows (newest first).
   */
  const outboxByState = (): Record<OutboxState, number> => {
    const counts = Object.fromEntries(OUTBOX_STATES.map((st) => [st, 0])) as Record<OutboxState, number>;
    for (const r of store.outbox.list({ limit: 100_000 })) if (isAppMessage(r)) counts[r.state] += 1;
    return counts;
  };

  const mailboxView = (m: { entity: Uint8Array; connected: boolean }): MailboxView => ({
    entity: encodeEntityId(m.entity),
    fingerprint: fingerprint(m.entity),
    petname: nameOf(m.entity),
    connected: m.connected,
  });

  const hostedView = (h: { owner: Uint8Array; messages: number; bytes: number; since: number }): HostedMailboxView => ({
    owner: encodeEntityId(h.owner),
    fingerprint: fingerprint(h.owner),
    petname: nameOf(h.owner),
    messages: h.messages,
    bytes: h.bytes,
    since: h.since,
  });

  const myMailboxes = (): MailboxView[] => store.tx(() => core.mailboxes()).mine.map(mailboxView);

  const queuesView = (): QueuesView => {
    const q = store.tx(() => core.queues());
    return {
      relay: {
        messages: q.relay.messages,
        bytes: q.relay.bytes,
        byNextHop: q.relay.byNextHop.map((h) => ({
          entity: encodeEntityId(h.entity),
          fingerprint: fingerprint(h.entity),
          petname: nameOf(h.entity),
          messages: h.messages,
          bytes: h.bytes,
        })),
      },
      held: q.held,
      limits: { perHop: q.limits.perHop, total: q.limits.total, bytes: q.limits.bytes },
    };
  };

  // ---------------------------------------------------------------- mailing lists

  const listRequest = (list: Uint8Array, request: ListRequestResult['request'], count?: number, onion?: number): ListRequestResult => ({
    list: encodeEntityId(list),
    fingerprint: fingerprint(list),
    name: nameOf(list),
    request,
    ...(count !== undefined ? { count } : {}),
    ...(onion !== undefined ? { onion } : {}),
  });

  /** The list logic, or ERR_BAD_REQUEST when this agent is not a list. */
  const needList = (): { host: ListHost; cfg: ListConfig } => {
    if (!listHost || !cfg.list) {
      throw new WotError(
        'ERR_BAD_REQUEST',
        'this agent is not a mailing list',
        'list commands take the name of a list hosted under your home: wotrelay list hosted shows them',
      );
    }
    return { host: listHost, cfg: cfg.list };
  };

  const memberView = (m: { entity: Uint8Array; state: ListMemberState; role: 'owner' | 'member'; joinedAt: number; updatedAt: number; mutedUntil: number; note: string | null; onion: number }): ListMemberView => ({
    entity: encodeEntityId(m.entity),
    fingerprint: fingerprint(m.entity),
    petname: nameOf(m.entity),
    state: m.state,
    role: m.role,
    joinedAt: m.joinedAt,
    updatedAt: m.updatedAt,
    mutedUntil: m.mutedUntil,
    note: m.note,
    onion: m.onion,
  });

  /** Runs a change of the list logic in one transaction, performs its actions, and says where the entity stands. */
  const listChange = (who: string, event: string, fn: (host: ListHost, entity: Uint8Array) => Action[]): ListChangeResult => {
    const { host } = needList();
    const entity = resolveWho(who);
    perform(store.tx(() => fn(host, entity)));
    const m = store.list.member(entity);
    log.log('info', event, { peer: fingerprint(entity) });
    return { entity: encodeEntityId(entity), fingerprint: fingerprint(entity), petname: nameOf(entity), state: m ? m.state : 'removed' };
  };

  /** Starts (or restarts) the hosted list `name` in this process; a failure is recorded, not thrown. */
  const startHosted = async (name: string): Promise<HostedList> => {
    const listHome = hostedListHome(home, name);
    let entry = hostedLists.get(name);
    if (!entry) hostedLists.set(name, (entry = { name, home: listHome, handle: null, error: null }));
    if (entry.handle && !entry.handle.stopped) return entry;
    const me = entry;
    try {
      const h = await runDaemon({
        home: listHome,
        hosted: true,
        logLevel: opts.logLevel ?? 'info',
        logFormat: opts.logFormat ?? 'logfmt',
        ...(opts.logWrite ? { logWrite: opts.logWrite } : {}),
        logFields: { ...(extraFields ?? {}), list: name },
        onShutdown: () => {
          if (me.handle === h) me.handle = null;
          log.log('info', 'list-stopped', { list: name });
        },
      });
      if (stopping) {
        await h.stop();
        return me;
      }
      me.handle = h;
      me.error = null;
      // The list listens on a new port each start: keep our way to it current.
      const addr = localDialAddr(h.listenAddrs[0]!);
      const t = store.trust.get(h.entity);
      if (t && t.state === 'active' && t.addr !== addr) {
        store.tx(() => store.trust.setAddr(h.entity, addr, Date.now()));
        if (!core.isConnected(h.entity)) dial(h.entity, addr);
      }
    } catch (e) {
      me.handle = null;
      me.error = (e as Error).message;
      log.log('warn', 'list-start-failed', { list: name, error: me.error });
    }
    return me;
  };

  /** The names of the lists under <home>/lists/ (directories with a config.json that has a `list` key). */
  const listDirNames = (): string[] => {
    let names: string[];
    try {
      names = fs.readdirSync(listsDir(home));
    } catch {
      return [];
    }
    return names.filter((n) => LIST_NAME_RE.test(n) && readListKey(hostedListHome(home, n)) !== null).sort();
  };

  const hostedListView = (name: string): HostedListView | null => {
    const entry = hostedLists.get(name);
    const listHome = hostedListHome(home, name);
    const lc = readListKey(listHome);
    let entity: Uint8Array | null = entry?.handle?.entity ?? null;
    if (!entity) {
      try {
        entity = decodeCertUnverified(new Uint8Array(fs.readFileSync(path.join(listHome, AGENT_CERT_FILE)))).entity;
      } catch {
        return null;
      }
    }
    const running = !!entry?.handle && !entry.handle.stopped;
    return {
      name,
      entity: encodeEntityId(entity),
      fingerprint: fingerprint(entity),
      policy: lc?.policy ?? 'discuss',
      running,
      listen: running ? [...entry!.handle!.listenAddrs] : [],
      ...(entry?.error ? { error: entry.error } : {}),
    };
  };

  const handlers: Handlers = {
    status: (): StatusResult => ({
      entity: encodeEntityId(identity.entityPub),
      fingerprint: fingerprint(identity.entityPub),
      agent: encodeAgentId(identity.agent.publicKey),
      version: VERSION,
      pid: process.pid,
      home,
      listen: listenAddrs,
      startedAt,
      peers: core.neighbourList().length,
      trusted: store.trust.list().filter((t) => t.state === 'active').length,
      inbox: store.inbox.count(),
      outboxPending: store.outbox.countPending(),
      metrics: { ...metrics.snapshot(), 'inbound.batches': inbound.stats.batches, 'inbound.items': inbound.stats.items, 'inbound.largest': inbound.stats.largest },
      revocations: [...revocations],
      reachability: (() => {
        const m = upnp?.status();
        if (m?.mapped && m.externalAddr) {
          return { mode: 'upnp' as const, relays: [], why: `UPnP-mapped: the router forwards ${m.externalAddr} to us` };
        }
        const r = core.reachability();
        return { mode: r.mode, relays: r.relays.map(encodeEntityId), why: r.why };
      })(),
      queues: queuesView(),
      outboxByState: outboxByState(),
      mailboxes: (() => {
        const m = store.tx(() => core.mailboxes());
        return { mine: m.mine.length, hosted: m.hosted.length };
      })(),
      connections: {
        links: [...links.values()].filter((l) => l.isOpen).length,
        pendingHandshakes,
        pendingBytes: [...pendingLinks].reduce((n, l) => n + l.bufferedInput, 0),
        pendingAddresses: pendingByAddress.size,
        maxPendingHandshakes: cfg.maxPendingHandshakes,
        maxConnectionsPerAddress: cfg.maxConnectionsPerAddress,
        maxLinks: cfg.maxLinks,
      },
      memory: (() => {
        const m = process.memoryUsage();
        return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
      })(),
      tables: {
        ...core.bounds(),
        'metric names': { size: metrics.size, max: Metrics.MAX_METRICS },
        'drop log keys': { size: dropLogged.size, max: MAX_DROP_LOG_KEYS },
        'revocations shown': { size: revocations.length, max: MAX_REVOCATIONS_SHOWN },
        'lan addresses': { size: lanAddrs.size, max: MAX_LAN_ADDRS },
        'pending handshakes': { size: pendingHandshakes, max: cfg.maxPendingHandshakes },
        'links and handshakes': { size: links.size, max: cfg.maxLinks + cfg.maxPendingHandshakes },
        'verified certificates (cache)': certCacheStats(),
        'verified batch nodes (cache)': batchCacheStats(),
        'relay queue, hot part (journaled)': store.relayq.hotStats(),
      },
      evidence: {
        total: core.evidence.total,
        recent: core.evidence.list().slice(-EVIDENCE_SHOWN).map(evidenceView),
      },
    }),
    id: () => ({
      entity: encodeEntityId(identity.entityPub),
      fingerprint: fingerprint(identity.entityPub),
      agent: encodeAgentId(identity.agent.publicKey),
    }),
    peers: (): PeerView[] =>
      core.neighbourList().map(({ link, peer }) => ({
        entity: encodeEntityId(peer.entity),
        agent: encodeAgentId(peer.agent),
        fingerprint: fingerprint(peer.entity),
        petname: nameOf(peer.entity),
        remoteAddress: `${peer.remoteAddress}:${peer.remotePort}`,
        direction: linkDirection.get(link) ?? 'in',
        since: links.get(link)?.openedAt ?? 0,
      })),
    'trust.add': (p) => {
      const entity = decodeEntityId(p.entity);
      if (p.addr !== undefined) parseHostPort(p.addr);
      const { entry, actions } = store.tx(() => core.trustAdd(entity, p.name, p.addr));
      perform(actions);
      log.log('info', 'trust-added', { peer: fingerprint(entity), ...(p.name ? { name: p.name } : {}) });
      lan?.recheck();
      return trustView(entry);
    },
    'trust.revoke': (p) => {
      const entity = resolveWho(p.who);
      const { entry, actions } = store.tx(() => core.trustRevoke(entity));
      perform(actions);
      log.log('info', 'trust-revoked', { peer: fingerprint(entity) });
      return trustView(entry);
    },
    'trust.list': () => store.trust.list().map(trustView),
    'invite.create': (p) => {
      const uses = p.uses ?? 1;
      const expiresInMs = p.expiresInMs ?? 24 * 3600_000;
      if (!Number.isInteger(uses) || uses < 1 || uses > 1000) throw new WotError('ERR_BAD_REQUEST', 'uses must be 1..1000');
      if (!(expiresInMs > 0 && expiresInMs <= 365 * 24 * 3600_000)) throw new WotError('ERR_BAD_REQUEST', 'expiry must be between 1 ms and 365 days');
      const r = store.tx(() => core.createInvite(uses, expiresInMs));
      log.log('info', 'invite-created', { uses, expiresAt: new Date(r.expiresAt).toISOString() });
      return { code: r.code, expiresAt: r.expiresAt, uses };
    },
    'invite.accept': async (p) => {
      const inv = decodeInvite(p.code);
      if (inv.expiresAt < Date.now()) {
        throw new WotError('ERR_INVITE_EXPIRED', `the invite expired at ${new Date(inv.expiresAt).toISOString()}`, 'ask for a new invite');
      }
      if (toHex(inv.entity) === toHex(identity.entityPub)) throw new WotError('ERR_BAD_REQUEST', 'this is your own invite');
      if (p.name !== undefined) {
        const other = store.trust.byPetname(p.name);
        if (other && toHex(other.entity) !== toHex(inv.entity)) {
          throw new WotError('ERR_BAD_REQUEST', `petname "${p.name}" is already used`, 'pick another --name');
        }
      }
      let lastErr: WotError = new WotError('ERR_CONNECTION_LOST', 'no address in the invite answered', 'check that the inviter\'s daemon is running and reachable');
      for (const addr of inv.addrs) {
        try {
          await new Promise<Uint8Array>((resolve, reject) => {
            const timer = setTimeout(() => reject(new WotError('ERR_HANDSHAKE_TIMEOUT', `no answer from ${addr}`)), cfg.handshakeTimeoutMs + 5000);
            dial(inv.entity, addr, {
              secret: inv.secret,
              pending: {
                resolve: (x) => (clearTimeout(timer), resolve(x)),
                reject: (e) => (clearTimeout(timer), reject(e)),
              },
            });
          });
          const entry = store.tx(() => {
            if (p.name !== undefined) store.trust.setPetname(inv.entity, p.name, Date.now());
            store.trust.setAddr(inv.entity, addr, Date.now());
            return store.trust.get(inv.entity)!;
          });
          log.log('info', 'invite-accepted', { peer: fingerprint(inv.entity), addr });
          return trustView(entry);
        } catch (e) {
          lastErr = isWotError(e) ? e : new WotError('ERR_INTERNAL', (e as Error).message);
          if (['ERR_INVITE_USED', 'ERR_INVITE_EXPIRED', 'ERR_INVITE_INVALID', 'ERR_KEY_MISMATCH'].includes(lastErr.code)) break;
        }
      }
      throw lastErr;
    },
    send: (p) => {
      const to = resolveWho(p.to);
      let kind: 'text' | 'file';
      let body: Uint8Array;
      let name: string | undefined;
      if (p.text !== undefined && p.file === undefined) {
        kind = 'text';
        body = utf8(p.text);
      } else if (p.file !== undefined && p.text === undefined) {
        kind = 'file';
        body = new Uint8Array(Buffer.from(p.file.data, 'base64'));
        name = p.file.name;
      } else {
        throw new WotError('ERR_BAD_REQUEST', 'give exactly one of text or file');
      }
      const { id, actions } = store.tx(() => core.send(to, kind, body, name, p.onion ? { onion: p.hops ?? cfg.core.onionHops ?? CORE_DEFAULTS.onionHops } : {}));
      perform(actions);
      return sendResult(store.outbox.get(id)!);
    },
    'send.wait': async (p) => {
      const id = fromHexId(p.id);
      const rank = { queued: 0, sent: 1, relayed: 2, delivered: 3, read: 4, failed: 9, expired: 9 } as const;
      const target = rank[p.until];
      const current = () => store.outbox.get(id);
      const row0 = current();
      if (!row0) throw new WotError('ERR_NOT_FOUND', `no outgoing message ${p.id}`);
      if (rank[row0.state] >= target) return sendResult(row0);
      const key = toHex(id);
      await new Promise<void>((resolve) => {
        let set = sendWaiters.get(key);
        if (!set) sendWaiters.set(key, (set = new Set()));
        const done = () => {
          const r = current();
          if (r && rank[r.state] < target) return;
          clearTimeout(timer);
          set!.delete(done);
          if (set!.size === 0) sendWaiters.delete(key);
          resolve();
        };
        const timer = setTimeout(() => {
          set!.delete(done);
          if (set!.size === 0) sendWaiters.delete(key);
          resolve();
        }, Math.min(Math.max(p.timeoutMs, 0), 600_000));
        set.add(done);
      });
      return sendResult(current()!);
    },
    inbox: (p) => {
      const rows = store.inbox.list({
        ...(p.afterSeq !== undefined ? { afterSeq: p.afterSeq } : {}),
        limit: Math.min(p.limit ?? 100, 1000),
        ...(p.from !== undefined ? { from: resolveWho(p.from) } : {}),
      });
      return rows.map(inboxItem);
    },
    outbox: (p): OutboxItem[] => {
      const limit = Math.min(p.limit ?? 100, 1000);
      const keep = p.all === true ? () => true : isAppMessage;
      // Receipts and wants share the table: read more rows until `limit` of the wanted kinds are found.
      let rows: OutboxRow[] = [];
      for (let n = limit; ; n = Math.min(n * 4, 100_000)) {
        const page = store.outbox.list({ ...(p.state !== undefined ? { states: [...p.state] } : {}), limit: n });
        rows = page.filter(keep);
        if (rows.length >= limit || page.length < n || n >= 100_000) break;
      }
      return rows.slice(0, limit).map(outboxItem);
    },
    'inbox.read': (p) => {
      const id = fromHexId(p.id);
      perform(store.tx(() => core.markRead(id)));
      return { id: toHex(id), read: true as const };
    },
    'mailbox.add': (p) => {
      const entity = resolveWho(p.who);
      if (p.addr !== undefined) parseHostPort(p.addr);
      perform(store.tx(() => core.mailboxAdd(entity, p.addr)));
      log.log('info', 'mailbox-added', { mailbox: fingerprint(entity) });
      lan?.recheck();
      return myMailboxes();
    },
    'mailbox.remove': (p) => {
      const entity = resolveWho(p.who);
      perform(store.tx(() => core.mailboxRemove(entity)));
      log.log('info', 'mailbox-removed', { mailbox: fingerprint(entity) });
      return myMailboxes();
    },
    'mailbox.list': () => {
      const m = store.tx(() => core.mailboxes());
      return { mine: m.mine.map(mailboxView), hosted: m.hosted.map(hostedView) };
    },
    'inbox.get': (p) => {
      const row = store.inbox.get(fromHexId(p.id));
      if (!row) throw new WotError('ERR_NOT_FOUND', `no message ${p.id} in your inbox`, 'wotrelay inbox --json lists message ids');
      return { item: inboxItem(row), data: Buffer.from(row.body).toString('base64') };
    },
    track: (p) => core.track(fromHexId(p.id)).map(progressItem),
    follow: (p, ctx) => {
      const id = fromHexId(p.id);
      const key = toHex(id);
      let set = followers.get(key);
      if (!set) followers.set(key, (set = new Set()));
      if (set.size < 16) set.add(ctx);
      ctx.onClose(() => {
        set!.delete(ctx);
        if (set!.size === 0) followers.delete(key);
      });
      return core.track(id).map(progressItem);
    },
    complain: (p) => {
      const id = fromHexId(p.id);
      const actions = store.tx(() => core.complain(id, p.reason ?? 'unwanted'));
      perform(actions);
      const row = store.inbox.get(id)!;
      log.log('info', 'complaint-sent', { id: p.id, about: fingerprint(row.from) });
      return { id: p.id, sentTo: encodeEntityId(row.from) };
    },
    discover: async (p) => {
      const to = resolveWho(p.to);
      const key = toHex(to);
      const routesView = () => ({
        to: encodeEntityId(to),
        routes: core.routesTo(to).map((r) => r.map((e) => ({ entity: encodeEntityId(e), name: nameOf(e), fingerprint: fingerprint(e) }))),
      });
      if (core.routesTo(to).length > 0) return routesView();
      perform(store.tx(() => core.discover(to)));
      await new Promise<void>((resolve) => {
        let set = discoveryWaiters.get(key);
        if (!set) discoveryWaiters.set(key, (set = new Set()));
        const done = () => {
          clearTimeout(timer);
          set!.delete(done);
          if (set!.size === 0) discoveryWaiters.delete(key);
          resolve();
        };
        const timer = setTimeout(done, Math.min(p.timeoutMs ?? 15_000, 600_000));
        set.add(done);
      });
      return routesView();
    },
    watch: (p, ctx) => {
      // Catch up on anything after afterSeq, then stream.
      if (p.afterSeq !== undefined) {
        for (const r of store.inbox.list({ afterSeq: p.afterSeq, limit: 1000 })) ctx.notify('message', inboxItem(r));
      }
      watchers.add(ctx);
      ctx.onClose(() => watchers.delete(ctx));
      return { subscribed: true as const };
    },
    shutdown: () => {
      const after = opts.onShutdown ?? (() => process.exit(0));
      setImmediate(() => void handle.stop().then(after));
      return { ok: true as const };
    },
    'list.create': async (p) => {
      if (cfg.list || opts.hosted) {
        throw new WotError('ERR_BAD_REQUEST', 'a mailing list cannot host lists', 'create lists from your own agent: wotrelay list create NAME --home <your home>');
      }
      const name = p.name;
      if (!LIST_NAME_RE.test(name)) throw new WotError('ERR_BAD_REQUEST', `"${name.slice(0, 40)}" is not a list name: ${LIST_NAME_RULE}`, 'e.g. wotrelay list create friends');
      const policy: ListPolicy = p.policy ?? 'discuss';
      const listHome = hostedListHome(home, name);
      const taken = () =>
        new WotError('ERR_BAD_REQUEST', `a list named "${name}" already exists (${listHome})`, 'pick another name; wotrelay list hosted shows your lists');
      if (hostedLists.has(name) || fs.existsSync(listHome)) throw taken();
      const other = store.trust.byPetname(name);
      if (other) {
        throw new WotError(
          'ERR_BAD_REQUEST',
          `"${name}" is already the petname of ${fingerprint(other.entity)} in your trust list; the list would be trusted under its name`,
          'pick another list name',
        );
      }
      fs.mkdirSync(listsDir(home), { recursive: true, mode: 0o700 });
      try {
        fs.mkdirSync(listHome, { mode: 0o700 }); // fails when another create took the name meanwhile
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw taken();
        throw e;
      }
      try {
        const listIdentity = createIdentity(listHome, Date.now());
        const listCfg = {
          listen: formatHostPort(parseHostPort(cfg.listen).host, 0),
          addrs: [],
          directories: cfg.directories,
          list: { name, policy, owner: encodeEntityId(identity.entityPub) },
        };
        writeConfigFile(configPath(listHome), listCfg);
        const entry = await startHosted(name);
        const h = entry.handle;
        if (!h) throw new WotError('ERR_INTERNAL', `the list "${name}" did not start: ${entry.error ?? 'stopped'}`, 'see the daemon log');
        const addr = localDialAddr(h.listenAddrs[0]!);
        const { actions } = store.tx(() => core.trustAdd(listIdentity.entityPub, name, addr));
        perform(actions);
        const inv = await h.invoke('invite.create', { uses: 1000, expiresInMs: 30 * 24 * 3600_000 });
        log.log('info', 'list-created', { list: name, policy, entity: encodeEntityId(listIdentity.entityPub), fingerprint: fingerprint(listIdentity.entityPub) });
        return {
          name,
          entity: encodeEntityId(listIdentity.entityPub),
          fingerprint: fingerprint(listIdentity.entityPub),
          policy,
          home: listHome,
          invite: inv.code,
          inviteExpiresAt: inv.expiresAt,
          inviteUses: inv.uses,
        };
      } catch (e) {
        // Leave nothing half-made behind: the name stays free for another try.
        const entry = hostedLists.get(name);
        hostedLists.delete(name);
        await entry?.handle?.stop().catch(() => {});
        fs.rmSync(listHome, { recursive: true, force: true });
        throw e;
      }
    },
    'list.hosted': () => {
      const names = new Set([...hostedLists.keys(), ...listDirNames()]);
      return [...names].sort().map(hostedListView).filter((v): v is HostedListView => v !== null);
    },
    'list.join': (p) => {
      const list = resolveWho(p.list);
      if (p.addr !== undefined) parseHostPort(p.addr);
      const onion = p.onion ? p.hops ?? cfg.core.onionHops ?? CORE_DEFAULTS.onionHops : 0;
      perform(store.tx(() => core.listJoin(list, p.addr, onion)));
      log.log('info', 'list-subscribe-sent', { list: fingerprint(list), onion });
      lan?.recheck();
      return listRequest(list, 'subscribe', undefined, onion);
    },
    'list.leave': (p) => {
      const list = resolveWho(p.list);
      perform(store.tx(() => core.listLeave(list)));
      log.log('info', 'list-unsubscribe-sent', { list: fingerprint(list) });
      return listRequest(list, 'unsubscribe');
    },
    'list.fetch': (p) => {
      const list = resolveWho(p.list);
      const count = Math.min(p.count ?? 50, 1000);
      perform(store.tx(() => core.listFetch(list, count)));
      return listRequest(list, 'fetch', count);
    },
    'list.info': () => {
      const { cfg: lc } = needList();
      const owner = decodeEntityId(lc.owner);
      return {
        name: lc.name,
        policy: lc.policy,
        entity: encodeEntityId(identity.entityPub),
        fingerprint: fingerprint(identity.entityPub),
        owner: encodeEntityId(owner),
        ownerFingerprint: fingerprint(owner),
      };
    },
    'list.members': (p) => {
      const { host } = needList();
      return host.members(p.state).map(memberView);
    },
    'list.add': (p) => listChange(p.who, 'list-member-added', (h, e) => h.add(e)),
    'list.remove': (p) => listChange(p.who, 'list-member-removed', (h, e) => h.remove(e)),
    'list.approve': (p) => listChange(p.who, 'list-member-approved', (h, e) => h.approve(e)),
    'list.ban': (p) => listChange(p.who, 'list-member-banned', (h, e) => h.ban(e, p.reason ?? null)),
    'list.status': () => {
      const { host } = needList();
      const st = host.status();
      const ownerHex = toHex(st.owner);
      return {
        name: st.name,
        policy: st.policy,
        entity: encodeEntityId(identity.entityPub),
        fingerprint: fingerprint(identity.entityPub),
        owner: encodeEntityId(st.owner),
        ownerFingerprint: fingerprint(st.owner),
        members: st.members,
        pending: st.pending,
        banned: st.banned,
        muted: st.muted,
        posts: st.posts.map((x) => ({
          postId: toHex(x.postId),
          author: encodeEntityId(x.author),
          authorName: nameOf(x.author) ?? (toHex(x.author) === ownerHex ? 'owner' : null),
          authorFingerprint: fingerprint(x.author),
          at: x.at,
          waiting: x.waiting,
          queued: x.queued,
          delivered: x.delivered,
          failed: x.failed,
        })),
      };
    },
  };

  const rpc = new RpcServer(handlers, { log: (event, fields) => log.log('debug', event, fields) });
  try {
    await rpc.listen(socketPath(home));
  } catch (e) {
    server.close();
    store.close();
    throw e;
  }

  // ---------------------------------------------------------------- timers

  const tick = setInterval(() => step(() => core.tick()), 1000);
  tick.unref();
  // Session keys are overwritten at every ratchet step (secure_delete zeroes what is freed);
  // truncating the WAL regularly removes the old page images from it too.
  const eraseTimer = setInterval(() => {
    try {
      store.checkpoint();
    } catch (e) {
      log.log('warn', 'checkpoint-failed', { error: (e as Error).message });
    }
  }, ERASE_EVERY_MS);
  eraseTimer.unref();
  // Reconnect to trusted neighbours with known addresses.
  const reconnect = () => {
    for (const t of store.trust.list()) {
      if (t.state !== 'active' || core.isConnected(t.entity)) continue;
      const addr = lanAddrs.get(toHex(t.entity)) ?? core.knownAddrs(t.entity)[0];
      if (addr) dial(t.entity, addr);
    }
  };
  reconnect();
  const reconnectTimer = setInterval(reconnect, 15_000);
  reconnectTimer.unref();
  // Announce now, every announceEveryMs, and at once when our addresses change.
  step(() => core.announce());
  addrKey = advertised().join(' ');
  const announceTimer = setInterval(() => step(() => core.announce()), cfg.announceEveryMs);
  announceTimer.unref();
  const addrTimer = setInterval(checkAddrs, cfg.addrCheckEveryMs);
  addrTimer.unref();
  // LAN discovery: only when listening beyond loopback (tests on 127.0.0.1 never multicast).
  if (cfg.lan && !/^(127\.|\[?::1\]?)/.test(bound.address)) {
    try {
      const { LanDiscovery } = await import('../reach/lan.js');
      lan = new LanDiscovery({
        port: bound.port,
        entityPub: identity.entityPub,
        trusted: () => store.trust.list().filter((t) => t.state === 'active').map((t) => t.entity),
        onPeer: (entity, addr) => {
          if (stopping) return;
          const key = toHex(entity);
          if (lanAddrs.size < MAX_LAN_ADDRS) lanAddrs.set(key, addr);
          log.log('info', 'lan-peer-found', { peer: fingerprint(entity), addr });
          dial(entity, addr);
        },
        log: (ev, f) => log.log(ev === 'lan-error' ? 'warn' : 'debug', ev, f),
      });
      lan.start();
    } catch (e) {
      log.log('warn', 'lan-disabled', { error: (e as Error).message });
    }
  }
  // UPnP: ask the router for a mapping without holding up start; announce when it exists.
  const startUpnp = async (): Promise<void> => {
    const { UpnpMapper } = await import('../reach/upnp.js');
    if (stopping) return;
    const mapper = new UpnpMapper({
      internalPort: bound.port,
      description: 'wotrelay',
      log: (ev, f) => log.log(/failed|error/.test(ev) ? 'warn' : ev === 'upnp-mapped' ? 'info' : 'debug', ev, f),
    });
    upnp = mapper;
    void mapper.start().then((r) => {
      if (stopping) return;
      if (r.ok) {
        log.log('info', 'upnp-mapped', { external: r.externalAddr });
        step(() => core.announce());
      } else {
        log.log('info', 'upnp-unavailable', { reason: r.reason });
        // No gateway (yet) or it did not answer: try again later; a refusal is final.
        if (/^(no gateway|timeout)/.test(r.reason)) {
          upnpRetry = setTimeout(() => void startUpnp(), 10 * 60_000);
          upnpRetry.unref();
        }
      }
    });
  };
  if (cfg.upnp && !/^(127\.|\[?::1\]?)/.test(bound.address)) void startUpnp();

  // Lists hosted in this process (<home>/lists/<name>/): each is an agent of its own, on its own port.
  if (!opts.hosted && !cfg.list) {
    for (const name of listDirNames()) await startHosted(name);
  }

  log.log('info', 'ready', {
    api: socketPath(home),
    peers: store.trust.list().length,
    ...(cfg.list ? { list: cfg.list.name, policy: cfg.list.policy } : {}),
    ...(hostedLists.size > 0 ? { lists: hostedLists.size } : {}),
  });

  /** The context of in-process calls: notifications go nowhere. */
  const localCtx: RpcContext = { id: 0, notify: () => {}, onClose: () => {} };
  async function invoke<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    const checked = validateParams(method, params);
    const fn = handlers[method] as (p: Params<M>, ctx: RpcContext) => Promise<Result<M>> | Result<M>;
    return await fn(checked, localCtx);
  }

  const handle: DaemonHandle = {
    listenAddrs,
    entity: identity.entityPub,
    get stopped() {
      return stopping;
    },
    invoke,
    stop: async () => {
      if (stopping) return;
      inbound.drain(); // commit and answer what has arrived; later arrivals are not acknowledged
      stopping = true;
      clearInterval(tick);
      clearInterval(eraseTimer);
      clearInterval(reconnectTimer);
      clearInterval(announceTimer);
      clearInterval(addrTimer);
      await Promise.all([...hostedLists.values()].map((h) => h.handle?.stop()));
      await lan?.stop();
      if (upnpRetry) clearTimeout(upnpRetry);
      await upnp?.stop();
      for (const l of links.values()) l.close();
      await new Promise<void>((r) => server.close(() => r()));
      await rpc.close();
      try {
        store.checkpoint();
      } catch {
        /* closing anyway */
      }
      store.close();
      tap?.close();
      log.log('info', 'stopped', {});
    },
  };
  return handle;
}

function fromHexId(s: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/i.test(s)) throw new WotError('ERR_BAD_REQUEST', `"${s}" is not a message id (32 hex characters)`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

function closeToError(info: CloseInfo): WotError {
  const code = info.code === 'OK' ? 'ERR_CONNECTION_LOST' : info.code;
  const hints: Partial<Record<string, string>> = {
    ERR_INVITE_USED: 'ask the inviter for a new invite',
    ERR_INVITE_EXPIRED: 'ask the inviter for a new invite',
    ERR_INVITE_INVALID: 'copy the invite code again or ask for a new one',
    ERR_KEY_MISMATCH: 'the address answered with another identity; check the code',
    ERR_UNTRUSTED: 'the other side does not trust you yet',
  };
  return new WotError(code, info.msg ?? `link closed (${code})`, hints[code]);
}

