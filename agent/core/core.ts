/**
 * The agent's protocol state machine, sans I/O. It owns:
 *  - trust decisions: the trust gate, invites, implicit trust by sending;
 *  - messaging: sealing, signing, exactly-once inbox, signed end-to-end acks, the outbox;
 *  - relaying: signed hop chains, the forwarding log, progress reports and acks that
 *    walk back along it, stall detection and rerouting;
 *  - route discovery: rate-limited flooding of route queries with expanding rings,
 *    signed route replies, a route cache;
 *  - complaints: counting, automatic revocation and QUENCH (complaints.ts).
 *
 * It takes events (a neighbour came up or went down, a message from a neighbour, a timer
 * tick, an API call) and returns actions (send a message to a link, dial, close a link,
 * tell the app). Wall clock, monotonic clock, randomness and the store are injected; the
 * daemon runs each event inside one store transaction and performs the actions after it
 * commits; the simulator (test/sim) runs thousands of these cores on a virtual clock.
 */
import {
  equalBytes,
  open as openSealed,
  seal,
  sign,
  toHex,
  u64be,
  utf8,
  verify,
  concatBytes,
  type BoxKey,
  type SigningKey,
} from '../crypto/index.js';
import {
  createAnnouncement,
  verifyAnnouncement,
  encodeEntityId,
  encodeInvite,
  fingerprint,
  inviteKeyFromSecret,
  verifyCert,
  verifyInviteProof,
  type AgentCert,
} from '../identity/index.js';
import type { GateInput, GateResult, PeerIdentity } from '../link/link.js';
import type { CoreStore, TrustEntry, OutboxRow, OutboxState, InboxRow } from '../store/index.js';
import { Domain, Limits, MsgType, MESSAGE_ID_BYTES, type ErrorCode } from '../wire/constants.js';
import { WotError, isWotError } from '../wire/errors.js';
import { decodeContent, decodeSignedContent, encodeContent, encodeSignedContent } from '../wire/index.js';
import type {
  Ack,
  Announce,
  Complaint,
  HereIs,
  WhereIs,
  Content,
  ContentKind,
  Envelope,
  Quench,
  Report,
  ReportStatus,
  RouteQuery,
  RouteReply,
  WireMessage,
} from '../wire/types.js';
import { BoundedMap } from './bounded.js';
import { COMPLAINT_DEFAULTS, ComplaintTracker, type ComplaintConfig } from './complaints.js';
import { signHop, verifyChain, type VerifiedHop } from './path.js';
import { KeyedBuckets, TokenBucket, type BucketConfig } from './ratelimit.js';
import { RouteCache, signPathEntry, verifyRouteReply } from './routes.js';

export type LinkId = number;

export interface CoreIdentity {
  entityPub: Uint8Array;
  agent: SigningKey;
  box: BoxKey;
  certBytes: Uint8Array;
  cert: AgentCert;
}

export interface CoreDeps {
  identity: CoreIdentity;
  store: CoreStore;
  /** Wall clock, ms since epoch (certificates, expiry, timestamps). */
  now: () => number;
  /** Monotonic clock, ms (rate limits, timeouts). Defaults to `now`. */
  mono?: () => number;
  randomBytes: (n: number) => Uint8Array;
  /** Addresses this agent can be dialled at (for invite codes and handshakes). */
  addrs: () => string[];
}

export interface CoreConfig {
  /** Default message lifetime. */
  messageTtlMs: number;
  /** First outbox retry delay; doubles per attempt up to maxRetryMs, with ±25 % jitter. */
  retryBaseMs: number;
  maxRetryMs: number;
  /** Route query ttls tried in turn (expanding ring). */
  rings: number[];
  /** A ring with ttl t waits ringWaitPerHopMs × 2 × (t + 1) for a reply before the next. */
  ringWaitPerHopMs: number;
  /** Route queries accepted from one neighbour. */
  queryPerNeighbour: BucketConfig;
  /** Route queries accepted from all neighbours together (including our own). */
  queryGlobal: BucketConfig;
  /** Complaints accepted from one neighbour. */
  complaintPerNeighbour: BucketConfig;
  /** How long verified routes are cached. */
  routeTtlMs: number;
  /** How long a query id is remembered (duplicates dropped, replies routed back). */
  queryMemoryMs: number;
  /** Route replies passed back per query (several paths, bounded). */
  maxRepliesPerQuery: number;
  /** Forwarding log retention and size. */
  fwdRetentionMs: number;
  fwdMaxEntries: number;
  /** A hop that sees no progress from its next hop by this deadline reroutes. */
  stallMs: number;
  /** Reroutes per message per hop. */
  maxReroutes: number;
  /** Messages a relay holds (in memory) while it looks for a route. */
  relayQueueMax: number;
  complaints: ComplaintConfig;
  /** How long an announcement in the address book is trusted after it was made. */
  addrTtlMs: number;
  /** Where-is questions per target at most this often. */
  whereIsEveryMs: number;
}

export const CORE_DEFAULTS: CoreConfig = {
  messageTtlMs: 7 * 24 * 3600_000,
  retryBaseMs: 1000,
  maxRetryMs: 5 * 60_000,
  rings: [1, 2, 3, 4, 6, 8, 16],
  ringWaitPerHopMs: 250,
  queryPerNeighbour: { ratePerSec: 20, burst: 40 },
  queryGlobal: { ratePerSec: 200, burst: 400 },
  complaintPerNeighbour: { ratePerSec: 5, burst: 20 },
  routeTtlMs: 10 * 60_000,
  queryMemoryMs: 60_000,
  maxRepliesPerQuery: 4,
  fwdRetentionMs: 24 * 3600_000,
  fwdMaxEntries: 100_000,
  stallMs: 5_000,
  maxReroutes: 3,
  relayQueueMax: 10_000,
  complaints: COMPLAINT_DEFAULTS,
  addrTtlMs: 24 * 3600_000,
  whereIsEveryMs: 30_000,
};

/** One step of a message's journey as the sender sees it. */
export interface ProgressEvent {
  id: Uint8Array;
  status: ReportStatus | 'sent' | 'acked';
  /** Entity reporting (the sender itself for 'sent'). */
  reporter: Uint8Array;
  at: number;
}

export type Action =
  | { type: 'send'; link: LinkId; msg: WireMessage }
  | { type: 'dial'; entity: Uint8Array; addr: string }
  | { type: 'close'; link: LinkId; code: ErrorCode; msg?: string }
  | { type: 'delivered-to-app'; item: InboxRow }
  | { type: 'outbox-state'; id: Uint8Array; state: OutboxState }
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'route-found'; target: Uint8Array; route: Uint8Array[] }
  | { type: 'discovery-failed'; target: Uint8Array }
  | { type: 'auto-revoked'; entity: Uint8Array; complainants: number }
  /** Our announcement changed: publish it to the directory servers. */
  | { type: 'announced'; announcement: Uint8Array }
  /** Ask the directory servers where `entity` is (answer with learnAnnouncement). */
  | { type: 'directory-lookup'; entity: Uint8Array }
  | { type: 'welcomed'; link: LinkId; inviter: Uint8Array }
  | { type: 'metric'; name: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn'; event: string; fields: Record<string, unknown> };

interface Neighbour {
  link: LinkId;
  peer: PeerIdentity;
  entityHex: string;
  /** True when this link was dialled to redeem an invite and awaits WELCOME. */
  awaitingWelcome: boolean;
  /** Addresses the peer advertised in the handshake. */
  addrs: string[];
}

/** How this agent can be reached (status `reachability`). */
export interface Reachability {
  mode: 'direct' | 'via-relay' | 'unknown';
  /** Entity keys of the public neighbours that relay for us (via-relay only). */
  relays: Uint8Array[];
  why: string;
}

/** At most this many relays are named in our announcement. */
const MAX_ANNOUNCED_RELAYS = 3;

/**
 * True for a "host:port" whose host is a public address: not RFC 1918, loopback,
 * link-local, CGNAT (100.64/10), unspecified, or IPv6 loopback/link-local/ULA. A host
 * name counts as public (it is presumably resolvable from outside).
 */
export function isPublicAddr(hostPort: string): boolean {
  let host = hostPort;
  const m6 = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort);
  if (m6) host = m6[1]!;
  else if (/^[^:]+:\d+$/.test(hostPort)) host = hostPort.slice(0, hostPort.lastIndexOf(':'));
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    if (a === 10 || a === 127 || a === 0) return false;
    if (a === 172 && b >= 16 && b <= 31) return false;
    if (a === 192 && b === 168) return false;
    if (a === 169 && b === 254) return false;
    if (a === 100 && b >= 64 && b <= 127) return false;
    return true;
  }
  if (host.includes(':')) {
    const h = host.toLowerCase();
    if (h === '::1' || h === '::') return false;
    if (/^fe[89ab]/.test(h)) return false; // fe80::/10
    if (/^f[cd]/.test(h)) return false; // fc00::/7
    return true;
  }
  return host !== 'localhost';
}

export interface PathHopView {
  entity: string;
  agent: string;
}

/** What a hop remembers about a message it forwarded (or sent). */
interface FwdEntry {
  /** Link it came from; null when we are the sender. */
  prevLink: LinkId | null;
  prevEntity: string | null;
  /** Entities (hex) we handed it to, the latest last. */
  nexts: string[];
  to: Uint8Array;
  at: number;
  complainants: Set<string>;
  /** Our position on the path: hop entries before us when it arrived (0 for the sender). */
  pos: number;
}

/** A message this hop is responsible for until the end-to-end ack passes back. */
interface Pending {
  env: Envelope;
  deadline: number;
  reroutes: number;
  /** Hops left after us on the current route: hops nearer the recipient react to a stall first. */
  remaining: number;
}

interface Discovery {
  qid: string;
  ring: number;
  deadline: number;
  found: boolean;
}

interface SeenQuery {
  /** Where replies go: a link, or 'self' for our own query. */
  back: LinkId | 'self';
  replies: number;
  target: Uint8Array;
}


export class AgentCore {
  private readonly neighbours = new Map<LinkId, Neighbour>();
  /** entity hex → link ids (several devices or a duplicate link during a race). */
  private readonly byEntity = new Map<string, Set<LinkId>>();
  /** agent hex of peers whose invite we redeemed in the gate; they get WELCOME on open. */
  private readonly pendingWelcome = new Map<string, number>();
  private readonly cfg: CoreConfig;
  private readonly self: CoreIdentity;
  private readonly selfHex: string;
  private readonly mono: () => number;

  private readonly fwdlog: BoundedMap<FwdEntry>;
  private readonly pending: BoundedMap<Pending>;
  private readonly seen: BoundedMap<SeenQuery>;
  private readonly discoveries = new Map<string, Discovery>();
  private readonly routes: RouteCache;
  /** Relayed messages waiting for a route, per target hex. */
  private readonly relayWaiting = new Map<string, Envelope[]>();
  /** When to look for a route again for a target with waiting messages, and how often we tried. */
  private readonly relayRetry = new Map<string, { at: number; attempts: number }>();
  private relayWaitingCount = 0;
  private readonly queryBuckets: KeyedBuckets;
  private readonly queryGlobal: TokenBucket;
  private readonly complaintBuckets: KeyedBuckets;
  readonly complaints: ComplaintTracker;
  /** Progress of our own messages, for `track`. */
  private readonly tracks: BoundedMap<ProgressEvent[]>;
  /** Our current signed announcement and its addresses. */
  private ownAnnouncement: Uint8Array | null = null;
  private ownAddrsKey = '';
  private ownRelaysKey = '';
  private announceSeq = 0;
  /** Where-is questions in flight (qid → target) and when we last asked about a target. */
  private readonly whereIsPending: BoundedMap<string>;
  private readonly whereIsAsked: BoundedMap<true>;

  constructor(
    private readonly deps: CoreDeps,
    cfg: Partial<CoreConfig> = {},
  ) {
    this.cfg = { ...CORE_DEFAULTS, ...cfg, complaints: { ...CORE_DEFAULTS.complaints, ...cfg.complaints } };
    this.self = deps.identity;
    this.selfHex = toHex(deps.identity.entityPub);
    this.mono = deps.mono ?? deps.now;
    const t = this.mono();
    this.fwdlog = new BoundedMap(this.cfg.fwdMaxEntries);
    this.pending = new BoundedMap(this.cfg.relayQueueMax);
    this.seen = new BoundedMap(100_000);
    this.routes = new RouteCache(this.cfg.routeTtlMs);
    this.queryBuckets = new KeyedBuckets(this.cfg.queryPerNeighbour);
    this.queryGlobal = new TokenBucket(this.cfg.queryGlobal, t);
    this.complaintBuckets = new KeyedBuckets(this.cfg.complaintPerNeighbour);
    this.complaints = new ComplaintTracker(this.cfg.complaints);
    this.tracks = new BoundedMap(10_000);
    this.whereIsPending = new BoundedMap(10_000);
    this.whereIsAsked = new BoundedMap(10_000);
  }

  private get store(): CoreStore {
    return this.deps.store;
  }

  get entity(): Uint8Array {
    return this.self.entityPub;
  }

  // ---------------------------------------------------------------- trust gate

  /**
   * Decides, right after a handshake authenticated `peer`, whether the link may carry
   * application frames. Redeeming an invite commits (trust + one use) before returning.
   */
  gate(input: GateInput): GateResult {
    const { peer } = input;
    const trust = this.store.trust.get(peer.entity);
    if (trust?.state === 'active') return { ok: true };
    if (!input.responder) {
      // We only dial trusted entities or the inviter of a code we redeem (the link has
      // checked that the peer is the inviter named in the code); anyone else is refused.
      return input.redeemingInvite ? { ok: true } : { ok: false, code: 'ERR_UNTRUSTED', msg: 'we do not trust this entity' };
    }
    if (!input.invite) return { ok: false, code: 'ERR_UNTRUSTED', msg: 'not trusted: ask for an invite' };
    const { key, proof, handshakeHash } = input.invite;
    if (!verifyInviteProof(key, handshakeHash, peer.entity, proof)) {
      return { ok: false, code: 'ERR_INVITE_INVALID', msg: 'invite proof does not verify' };
    }
    const now = this.deps.now();
    const outcome = this.store.invites.redeem(key, now);
    switch (outcome) {
      case 'ok':
        break;
      case 'unknown':
        return { ok: false, code: 'ERR_INVITE_INVALID', msg: 'unknown invite' };
      case 'expired':
        return { ok: false, code: 'ERR_INVITE_EXPIRED', msg: 'the invite has expired' };
      case 'used':
        return { ok: false, code: 'ERR_INVITE_USED', msg: 'the invite was already used' };
    }
    this.trustUpsert(peer.entity, 'invite', now, trust);
    this.store.certs.put(certRow(peer.cert, peer.certBytes, now));
    this.pendingWelcome.set(toHex(peer.agent), now);
    return { ok: true };
  }

  private trustUpsert(entity: Uint8Array, how: TrustEntry['how'], now: number, existing?: TrustEntry, petname?: string | null): TrustEntry {
    const e: TrustEntry = existing
      ? { ...existing, state: 'active', updatedAt: now, ...(petname !== undefined ? { petname } : {}) }
      : { entity, petname: petname ?? null, how, addedAt: now, state: 'active', addr: null, updatedAt: now, note: null };
    this.store.trust.upsert(e);
    return e;
  }

  // ---------------------------------------------------------------- neighbour events

  peerUp(link: LinkId, peer: PeerIdentity, opts: { awaitingWelcome?: boolean; addrs?: string[] } = {}): Action[] {
    const now = this.deps.now();
    const actions: Action[] = [];
    const entityHex = toHex(peer.entity);
    this.neighbours.set(link, { link, peer, entityHex, awaitingWelcome: !!opts.awaitingWelcome, addrs: [...(opts.addrs ?? [])] });
    let set = this.byEntity.get(entityHex);
    if (!set) this.byEntity.set(entityHex, (set = new Set()));
    set.add(link);
    this.store.certs.put(certRow(peer.cert, peer.certBytes, now));
    const trust = this.store.trust.get(peer.entity);
    const announced = opts.addrs?.[0];
    if (trust && announced && trust.addr !== announced) this.store.trust.setAddr(peer.entity, announced, now);
    const agentKey = toHex(peer.agent);
    if (this.pendingWelcome.has(agentKey)) {
      this.pendingWelcome.delete(agentKey);
      actions.push({ type: 'send', link, msg: { t: MsgType.WELCOME } });
      actions.push({ type: 'log', level: 'info', event: 'invite-redeemed', fields: { peer: fingerprint(peer.entity) } });
    }
    // A new public neighbour may change who relays for us: then everyone hears it.
    const re = this.reannounceIfRelaysChanged();
    if (re.length > 0) actions.push(...re);
    else {
      const ann = this.currentAnnouncement();
      if (ann) actions.push({ type: 'send', link, msg: { t: MsgType.ANNOUNCE, a: ann } });
    }
    actions.push(...this.flushOutboxTo(peer.entity, now));
    actions.push(...this.flushRelayWaiting(peer.entity));
    return actions;
  }

  peerDown(link: LinkId): Action[] {
    const n = this.neighbours.get(link);
    if (!n) return [];
    this.neighbours.delete(link);
    const set = this.byEntity.get(n.entityHex);
    set?.delete(link);
    if (set && set.size > 0) return [];
    this.byEntity.delete(n.entityHex);
    this.routes.dropVia(n.peer.entity);
    // Messages we handed to it and that are not acked yet take another way.
    const actions: Action[] = [...this.reannounceIfRelaysChanged()];
    const now = this.mono();
    for (const [idHex, p] of this.pending.values(now)) {
      const fwd = this.fwdlog.get(idHex, now);
      if (fwd && fwd.nexts[fwd.nexts.length - 1] === n.entityHex) actions.push(...this.reroute(idHex, p, fwd));
    }
    return actions;
  }

  /** Open link to an entity, if any. */
  linkTo(entity: Uint8Array): LinkId | undefined {
    return this.linkToHex(toHex(entity));
  }

  private linkToHex(hex: string): LinkId | undefined {
    const set = this.byEntity.get(hex);
    if (!set) return undefined;
    for (const l of set) return l;
    return undefined;
  }

  isConnected(entity: Uint8Array): boolean {
    return this.linkTo(entity) !== undefined;
  }

  neighbourList(): Array<{ link: LinkId; peer: PeerIdentity }> {
    return [...this.neighbours.values()].map((n) => ({ link: n.link, peer: n.peer }));
  }

  // ---------------------------------------------------------------- messages from neighbours

  onMessage(link: LinkId, msg: WireMessage): Action[] {
    const n = this.neighbours.get(link);
    if (!n) return [];
    try {
      switch (msg.t) {
        case MsgType.ENVELOPE:
          return this.onEnvelope(n, msg);
        case MsgType.ACK:
          return this.onAck(n, msg);
        case MsgType.REPORT:
          return this.onReport(n, msg);
        case MsgType.COMPLAINT:
          return this.onComplaint(n, msg);
        case MsgType.QUENCH:
          return this.onQuench(n, msg);
        case MsgType.ROUTE_QUERY:
          return this.onQuery(n, msg);
        case MsgType.ROUTE_REPLY:
          return this.onReply(n, msg);
        case MsgType.WELCOME:
          return this.onWelcome(n);
        case MsgType.ANNOUNCE:
          return this.onAnnounce(n, msg);
        case MsgType.WHERE_IS:
          return this.onWhereIs(n, msg);
        case MsgType.HERE_IS:
          return this.onHereIs(n, msg);
        case MsgType.PING:
        case MsgType.PONG:
        case MsgType.CLOSE:
          return [];
      }
    } catch (e) {
      if (!isWotError(e)) throw e;
      return dropped(n, e.code, e.message);
    }
  }

  private onWelcome(n: Neighbour): Action[] {
    if (!n.awaitingWelcome) return [{ type: 'metric', name: 'dropped.unexpected-welcome' }];
    n.awaitingWelcome = false;
    const now = this.deps.now();
    const existing = this.store.trust.get(n.peer.entity);
    this.trustUpsert(n.peer.entity, 'invited', now, existing);
    return [{ type: 'welcomed', link: n.link, inviter: n.peer.entity }];
  }

  // ---------------------------------------------------------------- envelopes

  private onEnvelope(n: Neighbour, env: Envelope): Action[] {
    const now = this.deps.now();
    if (env.exp < now) return [{ type: 'metric', name: 'dropped.expired' }];
    const last = env.hops[env.hops.length - 1]!;
    // The neighbour must have signed the last entry and named us: a message cannot claim
    // to arrive through a hop that did not hand it over.
    if (!equalBytes(last.a, n.peer.agent) || !equalBytes(last.n, this.self.entityPub)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'last hop entry is not the neighbour handing the message to us');
    }
    if (equalBytes(env.to, this.self.entityPub)) {
      if (env.route.length > 0) throw new WotError('ERR_BAD_FIELD', 'route continues past the recipient');
      return this.deliver(n, env, now);
    }
    return this.relay(n, env);
  }

  private deliver(n: Neighbour, env: Envelope, now: number): Action[] {
    const path = verifyChain(env, this.self.entityPub, n.peer.agent, now);
    const sender = path[0]!;
    const inner = openSealed(this.self.box, env.body, sealAd(env.id, env.to));
    if (!inner) throw new WotError('ERR_DECRYPT', 'sealed body does not open');
    const signed = decodeSignedContent(inner);
    const senderCert = verifyCert(signed.cert, now);
    if (!verify(senderCert.agent, Domain.MESSAGE, signed.c, signed.s)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'sender signature does not verify');
    }
    const content = decodeContent(signed.c);
    if (!equalBytes(content.id, env.id) || !equalBytes(content.to, this.self.entityPub)) {
      throw new WotError('ERR_BAD_FIELD', 'content does not match its envelope');
    }
    if (!equalBytes(content.from, senderCert.entity) || !equalBytes(senderCert.entity, sender.entity)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'sender does not match the first hop');
    }
    const actions: Action[] = [];
    const row: Omit<InboxRow, 'seq' | 'read'> = {
      id: env.id,
      from: content.from,
      fromAgent: senderCert.agent,
      receivedAt: now,
      sentAt: content.ts,
      kind: content.kind,
      body: content.body,
      name: content.name ?? null,
      path: JSON.stringify(pathView(path)),
    };
    if (this.store.inbox.insert(row)) {
      const stored = this.store.inbox.get(env.id);
      if (stored) actions.push({ type: 'delivered-to-app', item: stored });
      actions.push({ type: 'metric', name: 'inbox.delivered' });
    } else {
      actions.push({ type: 'metric', name: 'inbox.duplicate' });
    }
    // Remember who handed it over, so a complaint knows where to go.
    const idHex = toHex(env.id);
    if (!this.fwdlog.get(idHex, this.mono())) {
      this.fwdlog.set(idHex, { prevLink: n.link, prevEntity: n.entityHex, nexts: [], to: env.to, at: now, complainants: new Set(), pos: env.hops.length }, this.mono() + this.cfg.fwdRetentionMs);
    }
    // Ack every copy (the first ack may have been lost); sent after the insert commits.
    actions.push({ type: 'send', link: n.link, msg: this.makeAck(env.id, 'delivered') });
    return actions;
  }

  /** Forwards an envelope that is not for us to the next hop of its route. */
  private relay(n: Neighbour, env: Envelope): Action[] {
    const mono = this.mono();
    const idHex = toHex(env.id);
    if (this.fwdlog.has(idHex, mono)) return [{ type: 'metric', name: 'dropped.replay' }];
    const next = env.route[0];
    if (!next) throw new WotError('ERR_BAD_FIELD', 'envelope has no route onward');
    const fwd: FwdEntry = { prevLink: n.link, prevEntity: n.entityHex, nexts: [], to: env.to, at: this.deps.now(), complainants: new Set(), pos: env.hops.length };
    this.fwdlog.set(idHex, fwd, mono + this.cfg.fwdRetentionMs);
    const pending: Pending = { env, deadline: mono + this.cfg.stallMs, reroutes: 0, remaining: env.route.length };
    this.pending.set(idHex, pending, mono + this.cfg.fwdRetentionMs);
    const nextHex = toHex(next);
    const link = this.linkToHex(nextHex);
    if (link !== undefined) {
      return [...this.handOver(idHex, env, link, next, env.route.slice(1), fwd), { type: 'metric', name: 'relay.forwarded' }, ...this.report(fwd, env.id, 'forwarded')];
    }
    return this.reroute(idHex, pending, fwd);
  }

  /** Signs our hop entry and sends `env` (as we received it) to `next` with `rest` as its remaining route. */
  private handOver(idHex: string, env: Envelope, link: LinkId, next: Uint8Array, rest: Uint8Array[], fwd: FwdEntry): Action[] {
    const out: Envelope = { ...env, route: rest, hops: [...env.hops] };
    out.hops.push(signHop(this.self.agent, this.self.certBytes, env, next));
    fwd.nexts.push(toHex(next));
    const p = this.pending.get(idHex, this.mono());
    if (p) {
      p.remaining = rest.length + 1;
      p.deadline = this.mono() + this.stallDeadline(p);
    }
    return [{ type: 'send', link, msg: out }];
  }

  /** Time to wait for progress: longer the farther the recipient, so the hop nearest a stall acts first. */
  private stallDeadline(p: Pending): number {
    return this.cfg.stallMs * (1 + p.remaining);
  }

  /**
   * Finds another way for a pending message: straight to the recipient if connected,
   * else a cached route avoiding the hops already tried, else a discovery (the message
   * waits, and the sender hears 'queued').
   */
  private reroute(idHex: string, p: Pending, fwd: FwdEntry): Action[] {
    const env = p.env;
    if (p.reroutes >= this.cfg.maxReroutes || env.exp < this.deps.now()) {
      this.pending.delete(idHex);
      return [{ type: 'metric', name: 'relay.gave-up' }];
    }
    p.reroutes++;
    const avoid = new Set(fwd.nexts);
    const toHexId = toHex(env.to);
    const direct = avoid.has(toHexId) ? undefined : this.linkToHex(toHexId);
    if (direct !== undefined) {
      return [...this.handOver(idHex, env, direct, env.to, [], fwd), ...this.report(fwd, env.id, 'rerouted')];
    }
    for (const r of this.routes.get(env.to, this.deps.now())) {
      const first = toHex(r[0]!);
      if (avoid.has(first) || r.some((e) => toHex(e) === this.selfHex)) continue;
      const link = this.linkToHex(first);
      if (link === undefined) continue;
      return [...this.handOver(idHex, env, link, r[0]!, r.slice(1), fwd), ...this.report(fwd, env.id, 'rerouted')];
    }
    // No way now: wait for a route (bounded), tell the sender.
    p.deadline = Infinity;
    let q = this.relayWaiting.get(toHexId);
    if (!q) this.relayWaiting.set(toHexId, (q = []));
    if (this.relayWaitingCount < this.cfg.relayQueueMax && !q.some((e) => equalBytes(e.id, env.id))) {
      q.push(env);
      this.relayWaitingCount++;
    }
    return [...this.discover(env.to), ...this.report(fwd, env.id, 'queued')];
  }

  /** Hands messages waiting for `target` on, now that a link or a route exists. */
  private flushRelayWaiting(target: Uint8Array): Action[] {
    const key = toHex(target);
    const q = this.relayWaiting.get(key);
    if (!q || q.length === 0) return [];
    this.relayWaiting.delete(key);
    this.relayRetry.delete(key);
    this.relayWaitingCount -= q.length;
    const actions: Action[] = [];
    const mono = this.mono();
    for (const env of q) {
      const idHex = toHex(env.id);
      const p = this.pending.get(idHex, mono);
      const fwd = this.fwdlog.get(idHex, mono);
      if (!p || !fwd) continue;
      actions.push(...this.reroute(idHex, p, fwd));
    }
    return actions;
  }

  /**
   * Messages a relay holds for lack of a route: drop the expired ones, and look for a
   * route again with exponential backoff and jitter (within each message's lifetime).
   */
  private retryWaiting(now: number, mono: number): Action[] {
    const actions: Action[] = [];
    for (const [key, q] of this.relayWaiting) {
      const live = q.filter((e) => e.exp >= now);
      if (live.length !== q.length) {
        this.relayWaitingCount -= q.length - live.length;
        for (const e of q) if (e.exp < now) this.pending.delete(toHex(e.id));
        actions.push({ type: 'metric', name: 'relay.expired' });
        if (live.length === 0) {
          this.relayWaiting.delete(key);
          this.relayRetry.delete(key);
          continue;
        }
        this.relayWaiting.set(key, live);
      }
      if (this.discoveries.has(key)) continue;
      const r = this.relayRetry.get(key) ?? { at: mono, attempts: 0 };
      if (r.at > mono) continue;
      this.relayRetry.set(key, { at: mono + this.backoff(r.attempts), attempts: r.attempts + 1 });
      actions.push(...this.discover(hexToBytes(key)));
    }
    return actions;
  }

  // ---------------------------------------------------------------- reports and acks walking back

  private makeReport(id: Uint8Array, st: ReportStatus): Report {
    const ts = this.deps.now();
    const s = sign(this.self.agent, Domain.REPORT, reportBytes(id, st, ts));
    return { t: MsgType.REPORT, id, st, ts, c: this.self.certBytes, s };
  }

  /** Our own progress report for a message, sent back toward its sender (or to the app if we are it). */
  private report(fwd: FwdEntry, id: Uint8Array, st: ReportStatus): Action[] {
    if (fwd.prevLink === null) {
      return this.recordProgress({ id, status: st, reporter: this.self.entityPub, at: this.deps.now() });
    }
    if (!this.neighbours.has(fwd.prevLink)) return [];
    return [{ type: 'send', link: fwd.prevLink, msg: this.makeReport(id, st) }];
  }

  private recordProgress(ev: ProgressEvent): Action[] {
    const key = toHex(ev.id);
    const mono = this.mono();
    let list = this.tracks.get(key, mono);
    if (!list) {
      list = [];
      this.tracks.set(key, list, mono + this.cfg.fwdRetentionMs);
    }
    if (list.length < 64) list.push(ev);
    return [{ type: 'progress', event: ev }];
  }

  /** Progress of one of our messages (for `wotrelay track`). */
  track(id: Uint8Array): ProgressEvent[] {
    return this.tracks.get(toHex(id), this.mono()) ?? [];
  }

  /** Passes a report/ack/complaint one hop back along the forwarding log. */
  private passBack(fwd: FwdEntry, msg: WireMessage): Action[] {
    if (fwd.prevLink === null || !this.neighbours.has(fwd.prevLink)) return [{ type: 'metric', name: 'walkback.no-link' }];
    return [{ type: 'send', link: fwd.prevLink, msg }];
  }

  private makeAck(id: Uint8Array, st: Ack['st']): Ack {
    const s = sign(this.self.agent, Domain.ACK, ackBytes(id, st));
    return { t: MsgType.ACK, id, st, by: this.self.agent.publicKey, s, c: this.self.certBytes };
  }

  private onAck(n: Neighbour, ack: Ack): Action[] {
    const now = this.deps.now();
    const mono = this.mono();
    const idHex = toHex(ack.id);
    const fwd = this.fwdlog.get(idHex, mono);
    if (fwd && fwd.prevLink !== null) {
      // A relay: the message is delivered; pass the ack back toward the sender.
      if (!fwd.nexts.includes(n.entityHex)) return [{ type: 'metric', name: 'dropped.ack-unrelated' }];
      this.pending.delete(idHex);
      return this.passBack(fwd, ack);
    }
    const row = this.store.outbox.get(ack.id);
    if (!row) return [{ type: 'metric', name: 'dropped.ack-unknown' }];
    const cert = verifyCert(ack.c, now);
    if (!equalBytes(cert.agent, ack.by) || !equalBytes(cert.entity, row.to)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'ack is not from the recipient');
    }
    if (!verify(ack.by, Domain.ACK, ackBytes(ack.id, ack.st), ack.s)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'ack signature does not verify');
    }
    this.pending.delete(idHex);
    const rank: Record<OutboxState, number> = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 0, expired: 0 };
    if (rank[ack.st] <= rank[row.state]) return [];
    this.store.outbox.setState(ack.id, ack.st, now);
    return [
      { type: 'outbox-state', id: ack.id, state: ack.st },
      ...this.recordProgress({ id: ack.id, status: 'delivered', reporter: cert.entity, at: now }),
    ];
  }

  private onReport(n: Neighbour, rep: Report): Action[] {
    const mono = this.mono();
    const idHex = toHex(rep.id);
    const fwd = this.fwdlog.get(idHex, mono);
    if (!fwd || !fwd.nexts.includes(n.entityHex)) return [{ type: 'metric', name: 'dropped.report-unrelated' }];
    const actions: Action[] = [];
    const p = this.pending.get(idHex, mono);
    // Only the hop right after us counts as progress or as a stall for our own decisions.
    const fromNext = fwd.nexts[fwd.nexts.length - 1] === n.entityHex;
    if (p && fromNext) {
      let reporterIsNext = false;
      try {
        reporterIsNext = equalBytes(verifyCert(rep.c, this.deps.now()).entity, n.peer.entity);
      } catch {
        reporterIsNext = false;
      }
      // The next hop is stuck: try another way now. Progress further on: wait longer.
      if (reporterIsNext && rep.st === 'queued') actions.push(...this.reroute(idHex, p, fwd));
      else p.deadline = mono + this.stallDeadline(p);
    }
    if (fwd.prevLink !== null) return [...actions, ...this.passBack(fwd, rep)];
    // We are the sender: verify before believing it.
    const now = this.deps.now();
    const cert = verifyCert(rep.c, now);
    if (!verify(cert.agent, Domain.REPORT, reportBytes(rep.id, rep.st, rep.ts), rep.s)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'report signature does not verify');
    }
    return [...actions, ...this.recordProgress({ id: rep.id, status: rep.st, reporter: cert.entity, at: rep.ts })];
  }

  // ---------------------------------------------------------------- complaints

  /** The recipient complains about a message in its inbox. */
  complain(id: Uint8Array, reason: string): Action[] {
    if (utf8(reason).length > Limits.MAX_REASON) throw new WotError('ERR_BAD_REQUEST', `the reason is longer than ${Limits.MAX_REASON} bytes`);
    const row = this.store.inbox.get(id);
    if (!row) throw new WotError('ERR_NOT_FOUND', `no message ${toHex(id)} in your inbox`, 'wotrelay inbox lists message ids');
    const mono = this.mono();
    const fwd = this.fwdlog.get(toHex(id), mono);
    if (!fwd || fwd.prevLink === null || fwd.prevEntity === null) {
      throw new WotError('ERR_NOT_FOUND', 'this message is too old to complain about (its path is forgotten)');
    }
    const ts = this.deps.now();
    const c: Complaint = { t: MsgType.COMPLAINT, id, reason, ts, c: this.self.certBytes, s: sign(this.self.agent, Domain.COMPLAINT, complaintBytes(id, reason, ts)), w: 0 };
    fwd.complainants.add(this.selfHex);
    this.complaints.record(fwd.prevEntity, this.selfHex, null, mono, fwd.pos);
    return [{ type: 'metric', name: 'complaint.sent' }, ...this.passBack(fwd, c)];
  }

  private onComplaint(n: Neighbour, c: Complaint): Action[] {
    const mono = this.mono();
    if (!this.complaintBuckets.take(n.entityHex, mono)) return [{ type: 'metric', name: 'complaint.ratelimited' }];
    const idHex = toHex(c.id);
    const fwd = this.fwdlog.get(idHex, mono);
    if (!fwd || !fwd.nexts.includes(n.entityHex)) return [{ type: 'metric', name: 'complaint.unrelated' }];
    const now = this.deps.now();
    let cert: AgentCert;
    try {
      cert = verifyCert(c.c, now);
    } catch {
      return [{ type: 'metric', name: 'complaint.forged' }];
    }
    if (!equalBytes(cert.entity, fwd.to) || !verify(cert.agent, Domain.COMPLAINT, complaintBytes(c.id, c.reason, c.ts), c.s)) {
      return [{ type: 'metric', name: 'complaint.forged' }];
    }
    const complainant = toHex(cert.entity);
    if (fwd.complainants.has(complainant)) return [{ type: 'metric', name: 'complaint.duplicate' }];
    fwd.complainants.add(complainant);
    const actions: Action[] = [{ type: 'metric', name: 'complaint.counted' }];
    if (fwd.prevEntity !== null) {
      const walked = Math.min(255, c.w + 1);
      this.complaints.record(fwd.prevEntity, complainant, n.entityHex, mono, fwd.pos);
      actions.push(...this.passBack(fwd, { ...c, w: walked }));
    } else {
      actions.push({ type: 'log', level: 'warn', event: 'complaint-about-own-message', fields: { id: idHex } });
    }
    return actions;
  }

  private onQuench(n: Neighbour, q: Quench): Action[] {
    const via = this.complaints.quench(n.entityHex, this.mono());
    if (!via) return [{ type: 'metric', name: 'quench.ignored' }];
    const actions: Action[] = [{ type: 'metric', name: 'quench.honoured' }];
    for (const v of via) {
      const link = this.linkToHex(v);
      if (link !== undefined) actions.push({ type: 'send', link, msg: { t: MsgType.QUENCH, about: q.about, ts: q.ts } });
    }
    return actions;
  }

  private revokeForComplaints(mono: number): Action[] {
    const actions: Action[] = [];
    for (const d of this.complaints.due(mono)) {
      const entity = hexToBytes(d.neighbour);
      const now = this.deps.now();
      if (this.store.trust.get(entity)?.state !== 'active') continue;
      this.store.trust.setState(entity, 'revoked', now);
      actions.push({ type: 'auto-revoked', entity, complainants: d.complainants });
      actions.push({ type: 'log', level: 'warn', event: 'auto-revoked', fields: { peer: fingerprint(entity), complainants: d.complainants } });
      for (const l of this.byEntity.get(d.neighbour) ?? []) actions.push({ type: 'close', link: l, code: 'ERR_REVOKED', msg: 'revoked after complaints' });
      for (const v of d.via) {
        const link = this.linkToHex(v);
        if (link !== undefined) actions.push({ type: 'send', link, msg: { t: MsgType.QUENCH, about: entity, ts: now } });
      }
    }
    return actions;
  }

  // ---------------------------------------------------------------- reachability: announcements, address book

  private currentAnnouncement(): Uint8Array | null {
    const addrs = this.deps.addrs();
    if (addrs.length === 0) return null;
    if (!this.ownAnnouncement || addrs.join(' ') !== this.ownAddrsKey || this.relaysKey(this.reachability().relays) !== this.ownRelaysKey) {
      this.buildAnnouncement(addrs);
    }
    return this.ownAnnouncement;
  }

  private buildAnnouncement(addrs: string[]): void {
    const now = this.deps.now();
    const relays = this.reachability().relays;
    // seq: wall-clock ms, but always increasing within a run.
    this.announceSeq = Math.max(this.announceSeq + 1, now);
    this.ownAnnouncement = createAnnouncement(this.self.agent, this.self.certBytes, { addrs: addrs.slice(0, 8), relays, seq: this.announceSeq, ts: now });
    this.ownAddrsKey = addrs.join(' ');
    this.ownRelaysKey = this.relaysKey(relays);
  }

  private relaysKey(relays: Uint8Array[]): string {
    return relays.map(toHex).join(' ');
  }

  /** Addresses a neighbour announced: its verified announcement, else what it said in the handshake. */
  private neighbourAddrs(n: Neighbour): string[] {
    const row = this.store.addrbook.get(n.peer.entity, this.deps.now());
    if (row && !row.invalid) {
      try {
        return verifyAnnouncement(row.announcement, this.deps.now()).addrs;
      } catch {
        /* expired certificate: fall back to the handshake */
      }
    }
    return n.addrs;
  }

  /**
   * How we are reachable, by a heuristic: when every address we advertise is private we
   * are presumably behind NAT, and connected trusted neighbours with a public announced
   * address relay for us (at most 3, in a stable order); they go into our announcement.
   */
  reachability(): Reachability {
    const addrs = this.deps.addrs();
    if (addrs.length === 0) return { mode: 'unknown', relays: [], why: 'not listening on any address' };
    const pub = addrs.filter(isPublicAddr);
    if (pub.length > 0) return { mode: 'direct', relays: [], why: `listening on a public address (${pub[0]})` };
    const relays = new Map<string, Uint8Array>();
    for (const n of this.neighbours.values()) {
      if (relays.has(n.entityHex)) continue;
      if (this.store.trust.get(n.peer.entity)?.state !== 'active') continue;
      if (this.neighbourAddrs(n).some(isPublicAddr)) relays.set(n.entityHex, n.peer.entity);
    }
    const list = [...relays.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, MAX_ANNOUNCED_RELAYS).map(([, e]) => e);
    if (list.length === 0) return { mode: 'unknown', relays: [], why: 'our addresses are private and no public trusted neighbour is connected yet' };
    const names = list.map((e) => fingerprint(e)).join(', ');
    return { mode: 'via-relay', relays: list, why: `our addresses are private; public neighbour${list.length === 1 ? '' : 's'} ${names} relay${list.length === 1 ? 's' : ''} for us over the link we keep open` };
  }

  /** Re-announces to everyone when the set of neighbours relaying for us changed. */
  private reannounceIfRelaysChanged(): Action[] {
    if (!this.ownAnnouncement) return [];
    if (this.relaysKey(this.reachability().relays) === this.ownRelaysKey) return [];
    return this.announce();
  }

  /**
   * Makes a fresh announcement (our addresses changed, or it is time to refresh it) and
   * tells every neighbour; the daemon publishes it to the directory servers.
   */
  announce(): Action[] {
    const addrs = this.deps.addrs();
    if (addrs.length === 0) return [];
    this.buildAnnouncement(addrs);
    const a = this.ownAnnouncement!;
    const actions: Action[] = [{ type: 'announced', announcement: a }];
    for (const nb of this.neighbours.values()) actions.push({ type: 'send', link: nb.link, msg: { t: MsgType.ANNOUNCE, a } });
    return actions;
  }

  /**
   * Verifies an announcement (from a neighbour, a where-is answer or a directory) and keeps
   * it if it is newer than what the address book holds. Returns dials for pending mail.
   */
  learnAnnouncement(bytes: Uint8Array): Action[] {
    const now = this.deps.now();
    const ann = verifyAnnouncement(bytes, now);
    if (equalBytes(ann.entity, this.self.entityPub)) return [];
    const stored = this.store.addrbook.put({ entity: ann.entity, announcement: ann.bytes, seq: ann.seq, receivedAt: now, expiresAt: Math.min(ann.ts + this.cfg.addrTtlMs, ann.cert.notAfter) });
    if (!stored) return [{ type: 'metric', name: 'announce.stale' }];
    this.store.certs.put(certRow(ann.cert, ann.certBytes, now));
    const trust = this.store.trust.get(ann.entity);
    if (trust && ann.addrs[0] && trust.addr !== ann.addrs[0]) this.store.trust.setAddr(ann.entity, ann.addrs[0], now);
    const actions: Action[] = [{ type: 'metric', name: 'announce.learned' }];
    if (!this.isConnected(ann.entity) && this.store.outbox.pendingFor(ann.entity, 1).length > 0 && ann.addrs[0]) {
      actions.push({ type: 'dial', entity: ann.entity, addr: ann.addrs[0] });
    }
    return actions;
  }

  /** A dial to `entity` at `addr` failed or answered with another key. */
  dialFailed(entity: Uint8Array, addr: string): Action[] {
    const row = this.store.addrbook.get(entity, this.deps.now());
    if (row) {
      try {
        const ann = verifyAnnouncement(row.announcement, this.deps.now());
        if (ann.addrs.includes(addr)) this.store.addrbook.markInvalid(entity);
      } catch {
        this.store.addrbook.markInvalid(entity);
      }
    }
    return [{ type: 'metric', name: 'dial.failed' }];
  }

  /** Addresses we know for an entity: its trust entry, then its (valid) announcement. */
  knownAddrs(entity: Uint8Array): string[] {
    const out: string[] = [];
    const t = this.store.trust.get(entity);
    if (t?.addr) out.push(t.addr);
    const row = this.store.addrbook.get(entity, this.deps.now());
    if (row && !row.invalid) {
      try {
        for (const a of verifyAnnouncement(row.announcement, this.deps.now()).addrs) if (!out.includes(a)) out.push(a);
      } catch {
        /* expired certificate: ignore */
      }
    }
    return out;
  }

  private onAnnounce(n: Neighbour, m: Announce): Action[] {
    const ann = verifyAnnouncement(m.a, this.deps.now());
    // Neighbours announce themselves; announcements about others come by where-is.
    if (!equalBytes(ann.entity, n.peer.entity)) return [{ type: 'metric', name: 'dropped.announce-not-self' }];
    // Its addresses may make it a relay for us (or stop it being one).
    return [...this.learnAnnouncement(m.a), ...this.reannounceIfRelaysChanged()];
  }

  private onWhereIs(n: Neighbour, q: WhereIs): Action[] {
    if (!this.queryBuckets.take(n.entityHex, this.mono())) return [{ type: 'metric', name: 'whereis.ratelimited' }];
    let a: Uint8Array | undefined;
    if (equalBytes(q.entity, this.self.entityPub)) a = this.currentAnnouncement() ?? undefined;
    else {
      const row = this.store.addrbook.get(q.entity, this.deps.now());
      if (row && !row.invalid) a = row.announcement;
    }
    const reply: HereIs = { t: MsgType.HERE_IS, qid: q.qid, entity: q.entity, ...(a ? { a } : {}) };
    return [{ type: 'metric', name: a ? 'whereis.answered' : 'whereis.unknown' }, { type: 'send', link: n.link, msg: reply }];
  }

  private onHereIs(n: Neighbour, r: HereIs): Action[] {
    const qidHex = toHex(r.qid);
    const asked = this.whereIsPending.get(qidHex, this.mono());
    if (asked === undefined || asked !== toHex(r.entity)) return [{ type: 'metric', name: 'dropped.hereis-unknown' }];
    void n;
    if (!r.a) return [];
    const ann = verifyAnnouncement(r.a, this.deps.now());
    if (!equalBytes(ann.entity, r.entity)) return [{ type: 'metric', name: 'dropped.hereis-mismatch' }];
    this.whereIsPending.delete(qidHex);
    return this.learnAnnouncement(r.a);
  }

  /** Asks every neighbour and the directories where `entity` is (at most every whereIsEveryMs). */
  private askWhereIs(entity: Uint8Array): Action[] {
    const key = toHex(entity);
    const mono = this.mono();
    if (this.whereIsAsked.has(key, mono)) return [];
    this.whereIsAsked.set(key, true, mono + this.cfg.whereIsEveryMs);
    const qid = this.deps.randomBytes(MESSAGE_ID_BYTES);
    this.whereIsPending.set(toHex(qid), key, mono + 60_000);
    const actions: Action[] = [{ type: 'directory-lookup', entity }];
    for (const nb of this.neighbours.values()) actions.push({ type: 'send', link: nb.link, msg: { t: MsgType.WHERE_IS, qid, entity } });
    return actions;
  }

  // ---------------------------------------------------------------- route discovery

  /** Starts (or continues) an expanding-ring discovery for `target`. */
  discover(target: Uint8Array): Action[] {
    const key = toHex(target);
    if (this.discoveries.has(key)) return [];
    if (this.discoveries.size >= 1000) return [{ type: 'metric', name: 'discovery.too-many' }];
    return this.startRing(target, 0);
  }

  private startRing(target: Uint8Array, ring: number): Action[] {
    const key = toHex(target);
    const mono = this.mono();
    const ttl = this.cfg.rings[ring]!;
    const qid = this.deps.randomBytes(MESSAGE_ID_BYTES);
    const qidHex = toHex(qid);
    this.discoveries.set(key, { qid: qidHex, ring, deadline: mono + this.cfg.ringWaitPerHopMs * 2 * (ttl + 1), found: false });
    this.seen.set(qidHex, { back: 'self', replies: 0, target }, mono + this.cfg.queryMemoryMs);
    if (!this.queryGlobal.take(mono)) return [{ type: 'metric', name: 'discovery.ratelimited' }];
    const actions: Action[] = [{ type: 'metric', name: 'discovery.ring' }];
    const q: RouteQuery = { t: MsgType.ROUTE_QUERY, qid, target, ttl };
    for (const nb of this.neighbours.values()) actions.push({ type: 'send', link: nb.link, msg: q });
    return actions;
  }

  private onQuery(n: Neighbour, q: RouteQuery): Action[] {
    const mono = this.mono();
    if (q.ttl < 1 || q.ttl > Limits.MAX_QUERY_TTL) return [{ type: 'metric', name: 'dropped.query-ttl' }];
    if (!this.queryBuckets.take(n.entityHex, mono)) return [{ type: 'metric', name: 'query.ratelimited.neighbour' }];
    const qidHex = toHex(q.qid);
    if (this.seen.has(qidHex, mono)) return [{ type: 'metric', name: 'query.duplicate' }];
    if (!this.queryGlobal.take(mono)) return [{ type: 'metric', name: 'query.ratelimited.global' }];
    this.seen.set(qidHex, { back: n.link, replies: 0, target: q.target }, mono + this.cfg.queryMemoryMs);
    const targetHex = toHex(q.target);
    if (targetHex === this.selfHex) {
      return [{ type: 'metric', name: 'query.answered' }, this.replyTo(n, q, undefined)];
    }
    const direct = this.linkToHex(targetHex);
    if (direct !== undefined && this.store.trust.get(q.target)?.state === 'active') {
      const tc = this.neighbours.get(direct)!.peer.certBytes;
      return [{ type: 'metric', name: 'query.answered' }, this.replyTo(n, q, tc)];
    }
    if (q.ttl <= 1) return [{ type: 'metric', name: 'query.expired' }];
    const fwd: RouteQuery = { t: MsgType.ROUTE_QUERY, qid: q.qid, target: q.target, ttl: q.ttl - 1 };
    const actions: Action[] = [{ type: 'metric', name: 'query.forwarded' }];
    for (const nb of this.neighbours.values()) if (nb.link !== n.link) actions.push({ type: 'send', link: nb.link, msg: fwd });
    return actions;
  }

  private replyTo(n: Neighbour, q: RouteQuery, tc: Uint8Array | undefined): Action {
    const entry = signPathEntry(this.self.agent, this.self.certBytes, q.qid, q.target, [], n.peer.entity);
    const reply: RouteReply = { t: MsgType.ROUTE_REPLY, qid: q.qid, target: q.target, path: [entry], ...(tc ? { tc } : {}) };
    return { type: 'send', link: n.link, msg: reply };
  }

  private onReply(n: Neighbour, r: RouteReply): Action[] {
    const mono = this.mono();
    const qidHex = toHex(r.qid);
    const s = this.seen.get(qidHex, mono);
    if (!s || !equalBytes(s.target, r.target)) return [{ type: 'metric', name: 'dropped.reply-unknown' }];
    if (s.replies >= this.cfg.maxRepliesPerQuery) return [{ type: 'metric', name: 'reply.surplus' }];
    s.replies++;
    if (s.back === 'self') return this.acceptReply(r);
    if (r.path.length >= Limits.MAX_HOPS) return [{ type: 'metric', name: 'dropped.reply-too-long' }];
    const back = this.neighbours.get(s.back);
    if (!back) return [{ type: 'metric', name: 'walkback.no-link' }];
    const entry = signPathEntry(this.self.agent, this.self.certBytes, r.qid, r.target, r.path, back.peer.entity);
    return [{ type: 'send', link: back.link, msg: { ...r, path: [...r.path, entry] } }];
  }

  private acceptReply(r: RouteReply): Action[] {
    const now = this.deps.now();
    const v = verifyRouteReply(r, this.self.entityPub, now);
    if (!this.isConnected(v.route[0]!)) return [{ type: 'metric', name: 'reply.first-hop-gone' }];
    if (v.targetCert) this.store.certs.put(certRow(v.targetCert.cert, v.targetCert.bytes, now));
    this.routes.add(r.target, v.route, now);
    const key = toHex(r.target);
    const d = this.discoveries.get(key);
    if (d) d.found = true;
    const actions: Action[] = [{ type: 'metric', name: 'discovery.route' }, { type: 'route-found', target: r.target, route: v.route }];
    actions.push(...this.flushOutboxTo(r.target, now));
    actions.push(...this.flushRelayWaiting(r.target));
    return actions;
  }

  /** True while timers matter: discoveries, messages in flight, waiting relays, revocations. */
  wantsTick(): boolean {
    return this.discoveries.size > 0 || this.pending.size > 0 || this.relayWaitingCount > 0 || this.complaints.nextDue() < Infinity;
  }

  /** Cached routes to a target (for tests and the CLI). */
  routesTo(target: Uint8Array): Uint8Array[][] {
    return this.routes.get(target, this.deps.now());
  }

  // ---------------------------------------------------------------- API

  /**
   * Accepts a message from the app: signs it, makes it durable in the outbox and sends it
   * when a link or route exists (otherwise discovers one). Sending trusts the recipient.
   */
  send(to: Uint8Array, kind: ContentKind, body: Uint8Array, name?: string): { id: Uint8Array; actions: Action[] } {
    if (body.length > Limits.MAX_BODY) {
      throw new WotError('ERR_TOO_LARGE', `message body is ${body.length} bytes; the limit is ${Limits.MAX_BODY}`, 'send a smaller file');
    }
    if (equalBytes(to, this.self.entityPub)) throw new WotError('ERR_BAD_REQUEST', 'cannot send a message to yourself');
    const now = this.deps.now();
    const trust = this.store.trust.get(to);
    if (trust?.state === 'revoked') {
      throw new WotError('ERR_REVOKED', `you revoked trust in ${encodeEntityId(to)}`, 'trust it again with: wotrelay trust add <entity-id>');
    }
    if (!trust) this.trustUpsert(to, 'sent', now);
    const id = this.deps.randomBytes(MESSAGE_ID_BYTES);
    const content: Content = { v: 1, id, from: this.self.entityPub, to, ts: now, kind, body, ...(name ? { name } : {}) };
    const c = encodeContent(content);
    const signed = encodeSignedContent({ c, cert: this.self.certBytes, s: sign(this.self.agent, Domain.MESSAGE, c) });
    const row: OutboxRow = {
      id,
      to,
      createdAt: now,
      expiresAt: now + this.cfg.messageTtlMs,
      state: 'queued',
      envelope: signed,
      attempts: 0,
      nextAttemptAt: now,
      updatedAt: now,
      error: null,
    };
    this.store.outbox.insert(row);
    return { id, actions: this.transmit(row, now) };
  }

  /** Sends one outbox row by a direct link or a cached route; else dials or discovers. */
  private transmit(row: OutboxRow, now: number): Action[] {
    this.store.outbox.scheduleRetry(row.id, now + this.backoff(row.attempts), now);
    const idHex = toHex(row.id);
    const mono = this.mono();
    if (this.pending.has(idHex, mono)) return []; // in flight; stall handling owns it
    let link = this.linkTo(row.to);
    let next = row.to;
    let rest: Uint8Array[] = [];
    if (link === undefined) {
      for (const r of this.routes.get(row.to, now)) {
        const l = this.linkTo(r[0]!);
        if (l === undefined) continue;
        link = l;
        next = r[0]!;
        rest = r.slice(1);
        break;
      }
    }
    if (link === undefined) {
      const actions: Action[] = [];
      for (const addr of this.knownAddrs(row.to).slice(0, 3)) actions.push({ type: 'dial', entity: row.to, addr });
      actions.push(...this.askWhereIs(row.to));
      actions.push(...this.discover(row.to));
      return actions;
    }
    const cert = this.store.certs.latestForEntity(row.to);
    const x25519 = cert ? validCert(cert.cert, now)?.x25519 : undefined;
    if (!x25519) return this.discover(row.to);
    const env: Envelope = {
      t: MsgType.ENVELOPE,
      id: row.id,
      to: row.to,
      exp: row.expiresAt,
      route: [],
      body: seal(x25519, row.envelope, sealAd(row.id, row.to)),
      hops: [],
    };
    const fwd: FwdEntry = { prevLink: null, prevEntity: null, nexts: [], to: row.to, at: now, complainants: new Set(), pos: 0 };
    this.fwdlog.set(idHex, fwd, mono + this.cfg.fwdRetentionMs);
    this.pending.set(idHex, { env, deadline: mono + this.cfg.stallMs, reroutes: 0, remaining: rest.length + 1 }, Math.min(mono + this.cfg.fwdRetentionMs, mono + (row.expiresAt - now)));
    const actions = this.handOver(idHex, env, link, next, rest, fwd);
    if (row.state === 'queued') {
      this.store.outbox.setState(row.id, 'sent', now);
      actions.push({ type: 'outbox-state', id: row.id, state: 'sent' });
    }
    actions.push(...this.recordProgress({ id: row.id, status: 'sent', reporter: this.self.entityPub, at: now }));
    return actions;
  }

  private backoff(attempts: number): number {
    const base = Math.min(this.cfg.maxRetryMs, this.cfg.retryBaseMs * 2 ** Math.min(attempts, 20));
    const r = this.deps.randomBytes(2);
    const jitter = ((r[0]! * 256 + r[1]!) / 65535 - 0.5) * 0.5; // ±25 %
    return Math.max(100, Math.round(base * (1 + jitter)));
  }

  private flushOutboxTo(entity: Uint8Array, now: number): Action[] {
    const actions: Action[] = [];
    for (const row of this.store.outbox.pendingFor(entity, 1000)) actions.push(...this.transmit(row, now));
    return actions;
  }

  /**
   * Timer: ring timeouts, stalled messages, due revocations, outbox retries and expiry.
   * The daemon calls it every second; the simulator calls it on its virtual clock.
   */
  tick(): Action[] {
    const now = this.deps.now();
    const mono = this.mono();
    const actions: Action[] = [];
    // Discoveries: next ring, or give up.
    for (const [key, d] of this.discoveries) {
      if (d.deadline > mono) continue;
      if (d.found) {
        this.discoveries.delete(key);
        continue;
      }
      const target = hexToBytes(key);
      if (d.ring + 1 < this.cfg.rings.length) {
        actions.push(...this.startRing(target, d.ring + 1));
      } else {
        this.discoveries.delete(key);
        actions.push({ type: 'discovery-failed', target }, { type: 'metric', name: 'discovery.failed' });
      }
    }
    // Stalls.
    for (const [idHex, p] of this.pending.values(mono)) {
      if (p.deadline > mono) continue;
      const fwd = this.fwdlog.get(idHex, mono);
      if (!fwd) {
        this.pending.delete(idHex);
        continue;
      }
      actions.push({ type: 'metric', name: 'relay.stalled' }, ...this.reroute(idHex, p, fwd));
    }
    actions.push(...this.revokeForComplaints(mono));
    actions.push(...this.retryWaiting(now, mono));
    // Outbox.
    this.store.outbox.expire(now);
    const dialled = new Set<string>();
    for (const row of this.store.outbox.due(now, 500)) {
      for (const x of this.transmit(row, now)) {
        if (x.type === 'dial') {
          const k = toHex(x.entity);
          if (dialled.has(k)) continue;
          dialled.add(k);
        }
        actions.push(x);
      }
    }
    this.fwdlog.sweep(mono);
    this.seen.sweep(mono);
    this.store.addrbook.purgeExpired(now);
    return actions;
  }

  createInvite(uses: number, expiresInMs: number): { code: string; expiresAt: number } {
    const now = this.deps.now();
    const secret = this.deps.randomBytes(32);
    const key = inviteKeyFromSecret(secret).publicKey;
    const expiresAt = now + expiresInMs;
    this.store.invites.create({ key, createdAt: now, expiresAt, usesLeft: uses, usesTotal: uses, note: null });
    const code = encodeInvite({ entity: this.self.entityPub, addrs: this.deps.addrs(), secret, expiresAt });
    return { code, expiresAt };
  }

  trustAdd(entity: Uint8Array, name: string | undefined, addr: string | undefined): { entry: TrustEntry; actions: Action[] } {
    if (equalBytes(entity, this.self.entityPub)) throw new WotError('ERR_BAD_REQUEST', 'that is your own entity id');
    const now = this.deps.now();
    const existing = this.store.trust.get(entity);
    if (name !== undefined) {
      const other = this.store.trust.byPetname(name);
      if (other && !equalBytes(other.entity, entity)) {
        throw new WotError('ERR_BAD_REQUEST', `petname "${name}" is already used by ${encodeEntityId(other.entity)}`, 'pick another --name');
      }
    }
    const entry: TrustEntry = existing
      ? { ...existing, state: 'active', how: existing.state === 'revoked' ? 'manual' : existing.how, updatedAt: now }
      : { entity, petname: null, how: 'manual', addedAt: now, state: 'active', addr: null, updatedAt: now, note: null };
    if (name !== undefined) entry.petname = name;
    if (addr !== undefined) entry.addr = addr;
    this.store.trust.upsert(entry);
    const actions: Action[] = [];
    if (entry.addr && !this.isConnected(entity)) actions.push({ type: 'dial', entity, addr: entry.addr });
    return { entry, actions };
  }

  trustRevoke(entity: Uint8Array): { entry: TrustEntry; actions: Action[] } {
    const now = this.deps.now();
    if (!this.store.trust.get(entity)) throw new WotError('ERR_NOT_FOUND', `${encodeEntityId(entity)} is not in your trust list`);
    this.store.trust.setState(entity, 'revoked', now);
    const actions: Action[] = [];
    for (const l of this.byEntity.get(toHex(entity)) ?? []) {
      actions.push({ type: 'close', link: l, code: 'ERR_REVOKED', msg: 'trust revoked' });
    }
    return { entry: this.store.trust.get(entity)!, actions };
  }

  /** Resolves an entity id or petname to an entity key. */
  resolve(who: string, decode: (s: string) => Uint8Array): Uint8Array {
    const byName = this.store.trust.byPetname(who);
    if (byName) return byName.entity;
    if (!/^wot1/i.test(who.trim())) {
      throw new WotError('ERR_NOT_FOUND', `nobody in your trust list is called "${who}"`, 'wotrelay trust list shows petnames; or give an entity id (wot1…)');
    }
    return decode(who);
  }
}

// ---------------------------------------------------------------- helpers

function dropped(n: Neighbour, code: string, reason: string): Action[] {
  return [
    { type: 'metric', name: `dropped.${code}` },
    { type: 'log', level: 'warn', event: 'message-dropped', fields: { peer: fingerprint(n.peer.entity), code, reason } },
  ];
}

function certRow(cert: AgentCert, bytes: Uint8Array, now: number) {
  return { agent: cert.agent, entity: cert.entity, cert: bytes, seq: cert.seq, notAfter: cert.notAfter, seenAt: now };
}

function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function sealAd(id: Uint8Array, to: Uint8Array): Uint8Array {
  return concatBytes(id, to);
}

export function ackBytes(id: Uint8Array, st: string): Uint8Array {
  return concatBytes(id, utf8(st));
}

export function reportBytes(id: Uint8Array, st: string, ts: number): Uint8Array {
  return concatBytes(id, utf8(st), u64be(ts));
}

export function complaintBytes(id: Uint8Array, reason: string, ts: number): Uint8Array {
  return concatBytes(id, utf8(reason), u64be(ts));
}

function pathView(path: VerifiedHop[]): PathHopView[] {
  return path.map((h) => ({ entity: encodeEntityId(h.entity), agent: toHex(h.agent) }));
}

/** The certificate's fields if it is valid now (verifyCert remembers verified certificates). */
function validCert(bytes: Uint8Array, now: number): AgentCert | undefined {
  try {
    return verifyCert(bytes, now);
  } catch {
    return undefined;
  }
}

