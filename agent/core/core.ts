/**
 * The agent's protocol state machine, sans I/O. It owns:
 *  - trust decisions: the trust gate, invites, implicit trust by sending;
 *  - messaging: sealing, signing, exactly-once inbox, signed end-to-end acks and receipts,
 *    the outbox, causal order (parents, held messages, gap markers);
 *  - custody: every envelope we relay is made durable (relay queue) before we answer HOLD;
 *    queues per next hop with bounds, retry with backoff, REFUSE when full; a hop that does
 *    not take custody in time is routed around;
 *  - mailboxes: depositing for an unreachable recipient, hosting for entities that named us,
 *    fetching ours on connect;
 *  - relaying: signed hop chains, the forwarding log, progress reports and acks that
 *    walk back along it;
 *  - route discovery: rate-limited flooding of route queries with expanding rings,
 *    signed route replies, a route cache;
 *  - complaints: counting, automatic revocation and QUENCH (complaints.ts);
 *  - onion mode (onion.ts) and forward-secret end-to-end sessions (session.ts), which it
 *    hosts: their messages, custody rows and timers pass through here.
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
  sha256,
  sign,
  toHex,
  u64be,
  utf8,
  verify,
  verifyBatched,
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
  CERT_CLOCK_SKEW_MS,
  type AgentCert,
} from '../identity/index.js';
import type { GateInput, GateResult, PeerIdentity } from '../link/link.js';
import type { CoreStore, TrustEntry, OutboxRow, OutboxState, OutboxKind, InboxRow, RelayRow } from '../store/index.js';
import { Domain, Limits, MsgType, MESSAGE_ID_BYTES, type ErrorCode } from '../wire/constants.js';
import { WotError, isWotError } from '../wire/errors.js';
import { decodeContent, decodeE2E, decodeMessage, decodeSignedContent, encodeContent, encodeMessage, encodeSignedContent, peekType } from '../wire/index.js';
import type {
  Ack,
  Announce,
  Complaint,
  HereIs,
  WhereIs,
  Content,
  ContentKind,
  Envelope,
  Hold,
  MbDelete,
  MbFetch,
  MbItems,
  MailItem,
  Quench,
  Refuse,
  Report,
  ReportStatus,
  RouteQuery,
  RouteReply,
  WireMessage,
} from '../wire/types.js';
import { BoundedMap } from './bounded.js';
import { EVIDENCE_MAX, EvidenceLog } from './evidence.js';
import { decodeReceipt, decodeWant, deleteBytes, encodeReceipt, encodeSubscribe, encodeWant, fetchBytes, MAX_RECEIPT_IDS, MAX_WANT_HASHES } from './mail.js';
import { COMPLAINT_DEFAULTS, ComplaintTracker, type ComplaintConfig } from './complaints.js';
import { BatchSigner, PENDING_SIG, immediateSigner, type ItemSigner } from './batch.js';
import { signHop, verifyChain, type VerifiedHop } from './path.js';
import { KeyedBuckets, TokenBucket, type BucketConfig } from './ratelimit.js';
import { RouteCache, signPathEntry, verifyRouteReply } from './routes.js';
import { ONION_DEFAULTS, OnionCore, type OpenedContent } from './onion.js';
import { SESSION_DEFAULTS, SessionManager } from './session.js';

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
  /** How long a hop waits for its next hop to take custody (HOLD) before trying another way. */
  stallMs: number;
  /**
   * Our message is held by a hop but not acked end to end: send it again after this long,
   * doubling per attempt (the ack may have been lost when a relay restarted).
   */
  custodyRetryMs: number;
  /** Custody queue bounds: envelopes waiting for one next hop, in all, and their bytes in all. */
  relayQueuePerHop: number;
  relayQueueMax: number;
  relayQueueMaxBytes: number;
  /** Our own undelivered messages: to one recipient, and in all. */
  outboxPerRecipient: number;
  outboxMax: number;
  /** Finished outbox rows (delivered, read, failed, expired) are kept this long. */
  outboxRetentionMs: number;
  /** Mailbox hosting: per-entity quota, and how long a stored envelope is kept at most. */
  mailboxQuotaMessages: number;
  mailboxQuotaBytes: number;
  mailboxTtlMs: number;
  /** How long a message waits for missing causal parents before the app gets it with a gap marker. */
  causalWaitMs: number;
  /** Messages held for their parents, at most (beyond it they are shown at once, with a gap). */
  heldMax: number;
  complaints: ComplaintConfig;
  /** How long an announcement in the address book is trusted after it was made. */
  addrTtlMs: number;
  /** Where-is questions per target at most this often. */
  whereIsEveryMs: number;
  /** Targets the route cache holds (a list agent needs one per multi-hop subscriber). */
  routeCacheTargets: number;
  /** Onion mode: relays used when `send --onion` names no count, and replay tags kept at most. */
  onionHops: number;
  onionTagsMax: number;
  /** Forward-secret sessions kept at most, per peer, and how long an unused one lives. */
  sessionsMax: number;
  sessionsPerPeer: number;
  sessionIdleMs: number;
  /** Certificates kept (the least recently seen beyond it go, never a trusted entity's); expired ones go at once. */
  certsMax: number;
  /** Address-book entries kept (the least recently received beyond it go). */
  addrBookMax: number;
}

export const CORE_DEFAULTS: CoreConfig = {
  messageTtlMs: 7 * 24 * 3600_000,
  retryBaseMs: 1000,
  maxRetryMs: 5 * 60_000,
  rings: [1, 2, 3, 4, 6, 7, 8, 16],
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
  custodyRetryMs: 30_000,
  relayQueuePerHop: 5_000,
  relayQueueMax: 50_000,
  relayQueueMaxBytes: 512 * 1024 * 1024,
  outboxPerRecipient: 10_000,
  outboxMax: 100_000,
  outboxRetentionMs: 30 * 24 * 3600_000,
  mailboxQuotaMessages: 10_000,
  mailboxQuotaBytes: 256 * 1024 * 1024,
  mailboxTtlMs: 30 * 24 * 3600_000,
  causalWaitMs: 10 * 60_000,
  heldMax: 10_000,
  complaints: COMPLAINT_DEFAULTS,
  addrTtlMs: 24 * 3600_000,
  whereIsEveryMs: 30_000,
  routeCacheTargets: 10_000,
  ...ONION_DEFAULTS,
  sessionsMax: SESSION_DEFAULTS.sessionsMax,
  sessionsPerPeer: SESSION_DEFAULTS.sessionsPerPeer,
  sessionIdleMs: SESSION_DEFAULTS.sessionIdleMs,
  certsMax: 100_000,
  addrBookMax: 100_000,
};

/** One step of a message's journey as the sender sees it. */
export interface ProgressEvent {
  id: Uint8Array;
  /**
   * A hop's signed report, or: 'sent' (handed to the first hop), 'relayed' (the first hop took
   * custody), 'refused' (the first hop refused custody, see detail), 'read' (read receipt),
   * 'stalled' (onion mode: a hop's next hop did not take it in time).
   */
  status: ReportStatus | 'sent' | 'relayed' | 'refused' | 'read' | 'stalled';
  /** Entity reporting (the sender itself for 'sent'). */
  reporter: Uint8Array;
  at: number;
  detail?: string;
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

/**
 * Neighbour.heardAt before the first message. Not -Infinity: a small integer keeps the field
 * free of a boxed double (a separate heap object V8 writes on every message, when the
 * monotonic clock reads whole milliseconds as in the simulator). Always compared for itself.
 */
const NEVER_HEARD = -(2 ** 30);

interface Neighbour {
  link: LinkId;
  peer: PeerIdentity;
  entityHex: string;
  /** True when this link was dialled to redeem an invite and awaits WELCOME. */
  awaitingWelcome: boolean;
  /** Addresses the peer advertised in the handshake. */
  addrs: string[];
  /** Its announcement as last verified, and whether it names a public address (neighbourPublic). */
  announced?: { bytes: Uint8Array; addrs: string[]; notAfter: number; public: boolean };
  /** Whether `addrs` names a public address (computed once). */
  handshakePublic?: boolean;
  /** When it last sent us a message (monotonic; NEVER_HEARD before the first): see lastHeard. */
  heardAt: number;
  /**
   * Its route-query bucket, as `queryBuckets` holds it for its entity (looked up once, not per
   * query: the look-up was ~6 % of a simulated discovery); looked up again once dropped there.
   */
  queryBucket: TokenBucket | null;
}

/** How this agent can be reached (status `reachability`). */
export interface Reachability {
  mode: 'direct' | 'via-relay' | 'unknown';
  /** Entity keys of the public neighbours that relay for us (via-relay only). */
  relays: Uint8Array[];
  why: string;
}

/** A verified message addressed to a list agent (agent/lists hands it to the list logic). */
export interface ListInput {
  content: Content;
  /** The author's signed content bytes ({c, cert, s}), kept to re-send with the signature. */
  signed: Uint8Array;
  /** sha256 of the content bytes: the post's identity in causal order. */
  hash: Uint8Array;
}

/**
 * What a mailing-list entity (agent/lists) adds to its agent's core: the core verifies and
 * dedups as for any message, then hands the list what is addressed to it.
 */
export interface ListHooks {
  /** A post or a subscribe/unsubscribe/fetch request addressed to the list. */
  onContent(m: ListInput, now: number): Action[];
  /** A subscriber's verified complaint about copy `copyId` we sent it. */
  onComplaint(copyId: Uint8Array, complainant: Uint8Array, reason: string, now: number): Action[];
  /** One of the list's invites was redeemed by `entity` (committed in the same transaction). */
  onInviteRedeemed(entity: Uint8Array, now: number): void;
  tick(now: number): Action[];
}

/** A hop still answering gets at most this many custody deadlines (stallMs each) for one envelope. */
const STALL_PATIENCE = 12;
/** How often the certificate and address-book tables are pruned to their bounds. */
const PRUNE_EVERY_MS = 60_000;
/** A drop of the wall clock against the monotonic one by more than this between ticks is a step back. */
const CLOCK_STEP_MS = 2_000;

/** Redeemed invites whose WELCOME waits for the link to open (it opens at once; this is a backstop). */
const MAX_PENDING_WELCOME = 1_000;
/** Route discoveries running at once. */
const MAX_DISCOVERIES = 1_000;

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

/** What a hop remembers about a message it forwarded, delivered or sent (memory, bounded). */
interface FwdEntry {
  /** Entity (hex) that handed it to us; null when we are the sender. */
  prevEntity: string | null;
  /** Entities (hex) we handed it to, the latest last. */
  nexts: string[];
  /** Next hops that did not take it (stalled, refused, went down): avoided on the next try. */
  failed: Set<string>;
  /** Last hop signature (prefix, hex) of each copy accepted: the same copy again is a retransmission or a replay. */
  seen: string[];
  to: Uint8Array;
  at: number;
  complainants: Set<string>;
  /** Our position on the path: hop entries before us when it arrived (0 for the sender). */
  pos: number;
}

function newFwd(prevEntity: string | null, to: Uint8Array, at: number, pos: number): FwdEntry {
  return { prevEntity, nexts: [], failed: new Set(), seen: [], to, at, complainants: new Set(), pos };
}

/** An envelope handed to a next hop that has not taken custody (HOLD) or acked yet. */
interface InFlight {
  next: string;
  until: number;
  /** When it was handed over (monotonic). */
  since: number;
}

/** A way one hop on: the link, the entity at its end, and the route after it. */
interface Way {
  link: LinkId;
  next: Uint8Array;
  rest: Uint8Array[];
}

const PENDING_STATES: ReadonlySet<OutboxState> = new Set(['queued', 'sent', 'relayed']);
const STATE_RANK: Record<OutboxState, number> = { queued: 0, sent: 1, relayed: 2, delivered: 3, read: 4, failed: 0, expired: 0 };
/** Bytes of mail items per MB_ITEMS page (one larger item still goes alone). */
const MAIL_PAGE_BYTES = 768 * 1024;
/** Items pushed to a connected owner when new mail arrives. */
const MAIL_PUSH_ITEMS = 16;

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
  /** Connected entities with a public address: the candidates to relay for us (refreshPublic). */
  private readonly publicNeighbours = new Map<string, Uint8Array>();
  /** entity hex → link ids (several devices or a duplicate link during a race). */
  private readonly byEntity = new Map<string, Set<LinkId>>();
  /** agent hex of peers whose invite we redeemed in the gate; they get WELCOME on open. */
  private readonly pendingWelcome = new Map<string, number>();
  private readonly cfg: CoreConfig;
  private readonly self: CoreIdentity;
  private readonly selfHex: string;
  private readonly mono: () => number;

  private readonly fwdlog: BoundedMap<FwdEntry>;
  /** Envelopes handed on and not yet held or acked by the next hop (message id hex). */
  private readonly inflight: BoundedMap<InFlight>;
  /** Targets whose discovery failed lately: their mail goes to their mailboxes. */
  private readonly unreachable: BoundedMap<true>;
  /** Parent hashes we asked a sender for lately (not asked again until this expires). */
  private readonly wanted: BoundedMap<true>;
  /**
   * When neighbours whose links went down last sent us a message (monotonic), for 60 s; a live
   * link keeps its own in `Neighbour.heardAt`. A busy hop is not a stalled one (stillBusy).
   */
  private readonly heardFrom = new BoundedMap<number>(10_000);
  /** Parent hashes to ask their senders for on the next tick (sendWants). */
  private readonly toWant = new BoundedMap<{ from: Uint8Array; hash: Uint8Array }>(10_000);
  /** Mailbox hosting: the last seq pushed to each connected owner. */
  private readonly mailCursor: BoundedMap<number>;
  private readonly seen: BoundedMap<SeenQuery>;
  private readonly discoveries = new Map<string, Discovery>();
  private readonly routes: RouteCache;
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
  private ownMailboxesKey = '';
  private announceSeq = 0;
  /** Where-is questions in flight (qid → target) and when we last asked about a target. */
  private readonly whereIsPending: BoundedMap<string>;
  private readonly whereIsAsked: BoundedMap<true>;
  /** The mailing-list logic when this agent is a list entity (agent/lists). */
  private list: ListHooks | null = null;
  /** Signs hop entries, reports and acks: one signature per batch of them (batch.ts). */
  private readonly signer: BatchSigner;
  /** Signs one item at once (mail items, encoded as soon as they are signed). */
  private readonly signNow: ItemSigner;
  /** Forward-secret end-to-end sessions with our peers. */
  readonly sessions: SessionManager;
  /** Onion mode: sending, relaying and receiving onions. */
  private readonly onion: OnionCore;
  /** Entities our relay queue waits for that we dialled in the last second. */
  private readonly redialed = new BoundedMap<true>(10_000);
  /** Envelopes for us dropped for a broken chain or signature, kept as evidence (evidence.ts). */
  readonly evidence = new EvidenceLog();
  /** When the certificate and address-book tables are next pruned (monotonic). */
  private nextPrune = 0;
  /** Wall clock minus monotonic clock at the last tick: a drop means the wall clock stepped back. */
  private wallOffset: number;

  constructor(
    private readonly deps: CoreDeps,
    cfg: Partial<CoreConfig> = {},
  ) {
    this.cfg = { ...CORE_DEFAULTS, ...cfg, complaints: { ...CORE_DEFAULTS.complaints, ...cfg.complaints } };
    this.self = deps.identity;
    this.selfHex = toHex(deps.identity.entityPub);
    this.signer = new BatchSigner(deps.identity.agent);
    this.signNow = immediateSigner(deps.identity.agent);
    this.mono = deps.mono ?? deps.now;
    const t = this.mono();
    this.wallOffset = deps.now() - t;
    this.fwdlog = new BoundedMap(this.cfg.fwdMaxEntries);
    this.inflight = new BoundedMap(this.cfg.relayQueueMax + this.cfg.outboxMax);
    this.unreachable = new BoundedMap(10_000);
    this.wanted = new BoundedMap(10_000);
    this.mailCursor = new BoundedMap(10_000);
    this.seen = new BoundedMap(100_000);
    this.routes = new RouteCache(this.cfg.routeTtlMs, this.cfg.routeCacheTargets);
    this.queryBuckets = new KeyedBuckets(this.cfg.queryPerNeighbour);
    this.queryGlobal = new TokenBucket(this.cfg.queryGlobal, t);
    this.complaintBuckets = new KeyedBuckets(this.cfg.complaintPerNeighbour);
    this.complaints = new ComplaintTracker(this.cfg.complaints);
    this.tracks = new BoundedMap(10_000);
    this.whereIsPending = new BoundedMap(10_000);
    this.whereIsAsked = new BoundedMap(10_000);
    this.sessions = new SessionManager(
      { store: deps.store, box: deps.identity.box, now: deps.now },
      { sessionsMax: this.cfg.sessionsMax, sessionsPerPeer: this.cfg.sessionsPerPeer, sessionIdleMs: this.cfg.sessionIdleMs, skippedKeyTtlMs: this.cfg.messageTtlMs },
    );
    this.onion = this.makeOnion();
  }

  /** The onion module, lent what it needs of this core. */
  private makeOnion(): OnionCore {
    return new OnionCore({
      self: this.self,
      store: this.deps.store,
      sessions: this.sessions,
      complaints: this.complaints,
      cfg: this.cfg,
      now: () => this.deps.now(),
      mono: () => this.mono(),
      randomBytes: (n) => this.deps.randomBytes(n),
      linkToHex: (h) => this.linkToHex(h),
      neighbours: () => [...this.byEntity.keys()].map(hexToBytes),
      allRoutes: () => this.routes.all(this.deps.now()),
      validCert: (e) => {
        const row = this.store.certs.latestForEntity(e);
        return row ? validCert(row.cert, this.deps.now()) : undefined;
      },
      isTrusted: (e) => this.store.trust.get(e)?.state === 'active',
      discover: (t) => this.discover(t),
      probe: (t, ttl, except) => this.probe(t, ttl, except),
      relayQueueFull: (w, b) => this.relayQueueFull(w, b),
      setInflight: (idHex, nextHex) => {
        const mono = this.mono();
        this.inflight.set(idHex, { next: nextHex, until: mono + this.cfg.stallMs, since: mono }, mono + (STALL_PATIENCE + 2) * this.cfg.stallMs);
      },
      inflightOf: (idHex) => this.inflight.get(idHex, this.mono()),
      backoff: (a) => this.backoff(a),
      recordProgress: (ev) => this.recordProgress(ev),
      openBody: (e2e, now) => this.openBody(e2e, now),
      takeContent: (b, p, now) => this.takeContent(b, p, now),
      complaintToken: (h) => this.complaintBuckets.take(h, this.mono()),
      delivered: (id, recipient, step, now) => this.applyDelivered(id, recipient, 'delivered', step, now),
      // As in clear mode: a list counts it against the post's author; anyone else just notes it.
      ownComplaint: (id, complainant, reason, now) => (this.list ? this.list.onComplaint(id, complainant, reason, now) : [{ type: 'metric', name: 'complaint.about-own-message' }]),
    });
  }

  /** Makes this agent a mailing-list entity's agent (called by agent/lists). */
  attachList(list: ListHooks): void {
    this.list = list;
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
    this.list?.onInviteRedeemed(peer.entity, now);
    this.store.certs.put(certRow(peer.cert, peer.certBytes, now));
    if (this.pendingWelcome.size >= MAX_PENDING_WELCOME) this.pendingWelcome.delete(this.pendingWelcome.keys().next().value!);
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

  /**
   * Runs `fn` (any calls into this core) as one signing batch: every hop entry, report and
   * ack they produce is signed with one signature when it returns (batch.ts). The daemon
   * wraps each group of events it commits in one transaction. Calls outside a batch still
   * batch what each of them produces alone.
   */
  batch<T>(fn: () => T): T {
    return this.signer.run(fn);
  }

  /** Signing batches so far and the items in them. */
  signingStats(): { batches: number; items: number } {
    return { ...this.signer.stats };
  }

  peerUp(link: LinkId, peer: PeerIdentity, opts: { awaitingWelcome?: boolean; addrs?: string[] } = {}): Action[] {
    return this.signer.run(() => this.linkUp(link, peer, opts));
  }

  private linkUp(link: LinkId, peer: PeerIdentity, opts: { awaitingWelcome?: boolean; addrs?: string[] }): Action[] {
    const now = this.deps.now();
    const actions: Action[] = [];
    const entityHex = toHex(peer.entity);
    this.neighbours.set(link, { link, peer, entityHex, awaitingWelcome: !!opts.awaitingWelcome, addrs: [...(opts.addrs ?? [])], heardAt: NEVER_HEARD, queryBucket: null });
    let set = this.byEntity.get(entityHex);
    if (!set) this.byEntity.set(entityHex, (set = new Set()));
    set.add(link);
    this.refreshPublic(entityHex);
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
    this.unreachable.delete(entityHex);
    // Our mailbox: fetch what it holds for us. An owner we host: it fetches, we answer.
    if (this.store.myMailboxes.has(peer.entity)) actions.push(this.mbFetch(link, peer.entity, 0));
    this.mailCursor.delete(entityHex);
    actions.push(...this.flushOutboxTo(peer.entity, now));
    actions.push(...this.flushRelayFor(peer.entity));
    return actions;
  }

  peerDown(link: LinkId): Action[] {
    const n = this.neighbours.get(link);
    if (!n) return [];
    this.neighbours.delete(link);
    // What stillBusy knows of it outlives the link by 60 s, as before (a quick reconnect).
    if (n.heardAt !== NEVER_HEARD && n.heardAt > (this.heardFrom.get(n.entityHex, this.mono()) ?? -Infinity)) this.heardFrom.set(n.entityHex, n.heardAt, n.heardAt + 60_000);
    const set = this.byEntity.get(n.entityHex);
    set?.delete(link);
    if (set && set.size > 0) {
      this.refreshPublic(n.entityHex);
      return [];
    }
    this.byEntity.delete(n.entityHex);
    this.publicNeighbours.delete(n.entityHex);
    this.routes.dropVia(n.peer.entity);
    // Envelopes we handed to it that it has not taken yet: another way, on the next tick.
    const actions: Action[] = [...this.reannounceIfRelaysChanged()];
    const mono = this.mono();
    const now = this.deps.now();
    for (const [idHex, f] of [...this.inflight.values(mono)]) {
      if (f.next !== n.entityHex) continue;
      this.inflight.delete(idHex);
      this.fwdlog.get(idHex, mono)?.failed.add(f.next);
      const id = hexToBytes(idHex);
      const row = this.store.relayq.get(id);
      if (row) this.store.relayq.reschedule(id, row.waitFor, now, { countAttempt: false });
      else {
        const rowId = this.onion.outboxIdFor(id) ?? id;
        if (this.store.outbox.get(rowId)) this.store.outbox.reschedule(rowId, now, now);
      }
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

  /**
   * A message from the neighbour on `link`. `raw`, when given, is the bytes it was decoded
   * from: an envelope taken into custody is stored as received instead of encoded again.
   */
  onMessage(link: LinkId, msg: WireMessage, raw?: Uint8Array): Action[] {
    return this.signer.run(() => this.handleMessage(link, msg, raw));
  }

  private handleMessage(link: LinkId, msg: WireMessage, raw: Uint8Array | undefined): Action[] {
    const n = this.neighbours.get(link);
    if (!n) return [];
    // On the neighbour itself, not in a table keyed by entity: a field write per message where
    // the table's look-up and re-insert were ~8 % of a simulated flood (and, re-inserted at most
    // every 100 ms to save that, it was up to 100 ms stale).
    n.heardAt = this.mono();
    try {
      switch (msg.t) {
        case MsgType.ENVELOPE:
          return this.onEnvelope(n, msg, raw);
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
        case MsgType.HOLD:
          return this.onHold(n, msg);
        case MsgType.REFUSE:
          return this.onRefuse(n, msg);
        case MsgType.MB_FETCH:
          return this.onMbFetch(n, msg);
        case MsgType.MB_ITEMS:
          return this.onMbItems(n, msg);
        case MsgType.MB_DELETE:
          return this.onMbDelete(n, msg);
        case MsgType.ONION:
          return this.onion.onOnion(n.link, { entity: n.peer.entity, agent: n.peer.agent, certBytes: n.peer.certBytes }, msg);
        case MsgType.ONION_BACK:
          return this.onion.onBack(n.entityHex, msg);
        case MsgType.ONION_COMPLAINT:
          return this.onion.onComplaint(n.entityHex, msg);
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

  private onEnvelope(n: Neighbour, env: Envelope, raw?: Uint8Array): Action[] {
    const now = this.deps.now();
    if (env.exp < now) return [{ type: 'metric', name: 'dropped.expired' }];
    const last = env.hops[env.hops.length - 1]!;
    const forUs = equalBytes(env.to, this.self.entityPub);
    try {
      // The neighbour must have signed the last entry and named us: a message cannot claim
      // to arrive through a hop that did not hand it over.
      if (!equalBytes(last.a, n.peer.agent) || !equalBytes(last.n, this.self.entityPub)) {
        throw new WotError('ERR_BAD_SIGNATURE', 'last hop entry is not the neighbour handing the message to us');
      }
      if (forUs) {
        if (env.route.length > 0) throw new WotError('ERR_BAD_FIELD', 'route continues past the recipient');
        return this.deliver(n, env, now);
      }
    } catch (e) {
      if (forUs && isWotError(e)) this.evidence.add(env, n.peer.entity, e.code, e.message, now);
      throw e;
    }
    if (env.dep && equalBytes(env.dep, this.self.entityPub)) return this.depositHere(n, env, now);
    return this.relay(n, env, raw);
  }

  /** A message for us from a neighbour: accepted exactly once, then acked back along the path. */
  private deliver(n: Neighbour, env: Envelope, now: number): Action[] {
    const r = this.acceptForUs(env, n.peer.agent, n.entityHex, now);
    // Ack every copy (the first ack may have been lost); sent after the insert commits. It
    // carries a ratchet step, so the sender's next messages use fresh keys.
    return [...r.actions, { type: 'send', link: n.link, msg: this.makeAck(env.id, 'delivered', this.sessions.step(r.sender)) }];
  }

  /**
   * A message for us, handed over by the neighbour with agent key `fromAgent` (the last hop,
   * or our mailbox). Verifies the path and the sender's signature before using anything,
   * then stores it exactly once: in the inbox (the app sees it) when its causal parents are
   * there, else held until they arrive. Receipts and wants update the outbox instead.
   */
  private acceptForUs(
    env: Envelope,
    fromAgent: Uint8Array,
    fromEntityHex: string,
    now: number,
  ): { actions: Action[]; outcome: 'new' | 'duplicate' | 'control'; sender: Uint8Array } {
    const path = verifyChain(env, this.self.entityPub, fromAgent, now);
    const sender = path[0]!;
    const idHex = toHex(env.id);
    const mono = this.mono();
    // A copy we accepted already (a relay sent it again: our ack was lost). Its session key is
    // used up, so it would not open again; it needs only the ack.
    // Its chain must start at the sender we accepted it from: a neighbour cannot pass off a
    // chain of its own for a message id it saw.
    const had = this.store.inbox.has(env.id) ? this.store.inbox.get(env.id) : this.store.held.get(env.id);
    if (had && !equalBytes(had.from, sender.entity)) throw new WotError('ERR_BAD_SIGNATURE', 'a copy of an accepted message whose chain starts at another sender');
    if (had || this.fwdlog.get(idHex, mono)?.prevEntity === fromEntityHex) {
      return { actions: [{ type: 'metric', name: 'inbox.duplicate' }], outcome: 'duplicate', sender: sender.entity };
    }
    const inner = openSealed(this.self.box, env.body, sealAd(env.id, env.to));
    if (!inner) throw new WotError('ERR_DECRYPT', 'sealed body does not open');
    const body = this.openBody(inner, now);
    if (!equalBytes(body.content.id, env.id)) throw new WotError('ERR_BAD_FIELD', 'content does not match its envelope');
    if (!equalBytes(body.senderCert.entity, sender.entity)) throw new WotError('ERR_BAD_SIGNATURE', 'sender does not match the first hop');
    body.commit(false);
    // Remember who handed it over, so a complaint knows where to go.
    if (!this.fwdlog.get(idHex, mono)) this.fwdlog.set(idHex, newFwd(fromEntityHex, env.to, now, env.hops.length), mono + this.cfg.fwdRetentionMs);
    // The sender's path, reversed, is a way back.
    this.learnReversePath(path, now);
    return this.takeContent(body, JSON.stringify(pathView(path)), now);
  }

  /**
   * Opens an end-to-end body for us: a session message (decrypted with the sender's session,
   * PROTOCOL.md 3.14) or plain signed content. Checks the sender's certificate and signature
   * and that the content is addressed to us before anything is used; the session is stored
   * only when the caller commits.
   */
  private openBody(e2e: Uint8Array, now: number): OpenedContent {
    const dec = decodeE2E(e2e);
    let signedBytes = e2e;
    let commitSession: (sender: Uint8Array, viaOnion: boolean) => void = () => {};
    if ('session' in dec) {
      const opened = this.sessions.open(dec.session, this.self.entityPub);
      signedBytes = opened.plaintext;
      commitSession = opened.commit;
    }
    const signed = decodeSignedContent(signedBytes);
    const senderCert = verifyCert(signed.cert, now);
    if (!verify(senderCert.agent, Domain.MESSAGE, signed.c, signed.s)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'sender signature does not verify');
    }
    const content = decodeContent(signed.c);
    if (!equalBytes(content.to, this.self.entityPub)) throw new WotError('ERR_BAD_FIELD', 'content is not addressed to us');
    if (!equalBytes(content.from, senderCert.entity)) throw new WotError('ERR_BAD_SIGNATURE', 'the content names another sender than its certificate');
    return {
      content,
      signedBytes,
      hash: sha256(signed.c),
      senderCert,
      commit: (viaOnion) => {
        commitSession(senderCert.entity, viaOnion);
        // The sender's certificate (verified above) lets us seal a reply.
        this.store.certs.put(certRow(senderCert, signed.cert, now));
      },
    };
  }

  /**
   * A verified message for us, whatever way it came (`pathJson`: its verified path, or [] for an
   * onion): stored exactly once, in the inbox (the app sees it) when its causal parents are
   * there, else held until they arrive. Receipts and wants update the outbox instead.
   */
  private takeContent(body: OpenedContent, pathJson: string, now: number): { actions: Action[]; outcome: 'new' | 'duplicate' | 'control'; sender: Uint8Array } {
    const { content, senderCert } = body;
    const inner = body.signedBytes;
    const id = content.id;
    if (content.kind === 'receipt') return { actions: this.applyReceipt(content), outcome: 'control', sender: content.from };
    const listKind = content.kind === 'subscribe' || content.kind === 'unsubscribe' || content.kind === 'fetch';
    if (content.kind === 'want' && !this.list) return { actions: this.applyWant(content, now), outcome: 'control', sender: content.from };
    if (this.list && (listKind || content.kind === 'want' || content.kind === 'text' || content.kind === 'file')) {
      return { actions: this.list.onContent({ content, signed: inner, hash: body.hash }, now), outcome: 'control', sender: content.from };
    }
    if (listKind) return { actions: [{ type: 'metric', name: 'dropped.not-a-list' }], outcome: 'control', sender: content.from };
    if (this.store.inbox.has(id) || this.store.held.has(id)) {
      return { actions: [{ type: 'metric', name: 'inbox.duplicate' }], outcome: 'duplicate', sender: content.from };
    }
    let row: Omit<InboxRow, 'seq' | 'read'>;
    if (content.kind === 'post') {
      const post = this.openPost(content, now);
      if (!post) return { actions: [{ type: 'metric', name: 'dropped.post' }], outcome: 'control', sender: content.from };
      row = {
        id,
        from: content.from,
        fromAgent: post.agent,
        receivedAt: now,
        sentAt: post.content.ts,
        kind: post.content.kind === 'file' ? 'file' : 'text',
        body: post.content.body,
        name: post.content.name ?? null,
        path: pathJson,
        hash: post.hash,
        parents: post.content.parents ?? [],
        gap: [],
        author: post.content.from,
      };
    } else {
      row = {
        id,
        from: content.from,
        fromAgent: senderCert.agent,
        receivedAt: now,
        sentAt: content.ts,
        kind: content.kind === 'file' ? 'file' : 'text',
        body: content.body,
        name: content.name ?? null,
        path: pathJson,
        hash: body.hash,
        parents: content.parents ?? [],
        gap: [],
        author: null,
      };
    }
    const hash = row.hash!;
    const parents = row.parents;
    // A notice (a list writing to one member) is shown but stands outside the conversation's
    // order; its parents name our messages it refused, which then are no parents of our next.
    if (content.kind === 'notice') {
      if (parents.length > 0) this.store.convo.drop(content.from, parents);
      return { actions: this.toInbox({ ...row, parents: [] }, false), outcome: 'new', sender: content.from };
    }
    const missing = parents.filter((p) => !this.parentKnown(p));
    const actions: Action[] = [];
    if (missing.length > 0 && this.store.held.count() < this.cfg.heldMax) {
      const { gap: _gap, ...held } = row;
      this.store.held.put({ ...held, hash, heldAt: now });
      this.askForParents(content.from, missing);
      actions.push({ type: 'metric', name: 'causal.held' });
    } else {
      actions.push(...this.toInbox({ ...row, gap: missing }), ...this.releaseHeld(content.from, [hash]));
    }
    return { actions, outcome: 'new', sender: content.from };
  }

  /**
   * A list post: the author's signed content inside a message from the list. Accepted only
   * from a list we trust; the author's certificate and signature are verified here, by the
   * subscriber, and the author's content must be addressed to that list.
   */
  private openPost(outer: Content, now: number): { content: Content; agent: Uint8Array; hash: Uint8Array } | undefined {
    if (this.store.trust.get(outer.from)?.state !== 'active') return undefined;
    const signed = decodeSignedContent(outer.body);
    const cert = verifyCert(signed.cert, now);
    if (!verify(cert.agent, Domain.MESSAGE, signed.c, signed.s)) throw new WotError('ERR_BAD_SIGNATURE', 'the post\'s author signature does not verify');
    const content = decodeContent(signed.c);
    if (!equalBytes(content.from, cert.entity)) throw new WotError('ERR_BAD_SIGNATURE', 'the post\'s author does not match its certificate');
    if (!equalBytes(content.to, outer.from)) throw new WotError('ERR_BAD_FIELD', 'the post was not written to this list');
    if (content.kind !== 'text' && content.kind !== 'file') throw new WotError('ERR_BAD_FIELD', `a list post carries text or a file, not ${content.kind}`);
    return { content, agent: cert.agent, hash: sha256(signed.c) };
  }

  /**
   * A verified path from `sender` to us, reversed, is a route back to it (each hop on it is
   * linked both ways): replies and list copies need no discovery.
   */
  private learnReversePath(path: VerifiedHop[], now: number): void {
    if (path.length < 2) return;
    const route = path.slice(1).reverse().map((h) => h.entity);
    route.push(path[0]!.entity);
    if (route.some((e) => equalBytes(e, this.self.entityPub))) return;
    if (!this.isConnected(route[0]!)) return;
    this.routes.add(path[0]!.entity, route, now);
  }

  /** A causal parent is known when we received it (inbox) or sent it (outbox). */
  private parentKnown(hash: Uint8Array): boolean {
    return this.store.inbox.hasHash(hash) || this.store.outbox.hasHash(hash);
  }

  /** Shows a message to the app and (unless thread is false) moves the conversation's heads past it. */
  private toInbox(row: Omit<InboxRow, 'seq' | 'read'>, thread = true): Action[] {
    if (!this.store.inbox.insert(row)) return [{ type: 'metric', name: 'inbox.duplicate' }];
    if (row.hash && thread) this.store.convo.advance(row.from, row.hash, row.parents, this.deps.now());
    const stored = this.store.inbox.get(row.id);
    const actions: Action[] = [{ type: 'metric', name: row.gap.length > 0 ? 'inbox.delivered-with-gap' : 'inbox.delivered' }];
    if (stored) actions.push({ type: 'delivered-to-app', item: stored });
    return actions;
  }

  /**
   * Delivers the messages from `from` held for the parents in `arrived` (content hashes just
   * shown to the app) once all their parents are there, and in turn those held for them. The
   * held rows' parents are read once and each parent is looked up at most once, so a backlog
   * of n messages out of order costs O(n) lookups, not O(n²) (which stalled the event loop for
   * minutes after a few thousand messages arrived out of order).
   */
  private releaseHeld(from: Uint8Array, arrived: Uint8Array[]): Action[] {
    if (arrived.length === 0) return [];
    // Ids, hashes and parents only (no bodies): at most heldMax × ~0.6 KiB.
    const waiting = this.store.held.waitingFrom(from, this.cfg.heldMax);
    if (waiting.length === 0) return [];
    const byParent = new Map<string, typeof waiting>();
    for (const w of waiting) {
      for (const p of w.parents) {
        const k = toHex(p);
        const list = byParent.get(k);
        if (list) list.push(w);
        else byParent.set(k, [w]);
      }
    }
    const known = new Map<string, boolean>();
    const isKnown = (p: Uint8Array): boolean => {
      const k = toHex(p);
      let v = known.get(k);
      if (v === undefined) known.set(k, (v = this.parentKnown(p)));
      return v;
    };
    const work = arrived.map(toHex);
    for (const k of work) known.set(k, true);
    const released = new Set<string>();
    const actions: Action[] = [];
    while (work.length > 0) {
      for (const w of byParent.get(work.pop()!) ?? []) {
        const idHex = toHex(w.id);
        if (released.has(idHex) || !w.parents.every(isKnown)) continue;
        const h = this.store.held.get(w.id);
        if (!h) continue;
        released.add(idHex);
        this.store.held.delete(w.id);
        const { heldAt: _at, ...row } = h;
        actions.push(...this.toInbox({ ...row, gap: [] }));
        const hk = toHex(w.hash);
        known.set(hk, true);
        work.push(hk);
      }
    }
    return actions;
  }

  /**
   * Notes parents we lack; the next tick asks their senders for those still missing, in one
   * want per sender (up to 64 hashes each) and each hash at most once per causalWaitMs / 4.
   * Asking at once for each held message sent one want per message: a backlog arriving out of
   * order (relays restarting) became a storm of wants and of re-sends answering them.
   */
  private askForParents(from: Uint8Array, missing: Uint8Array[]): void {
    const mono = this.mono();
    for (const h of missing) {
      const k = toHex(h);
      if (!this.wanted.has(k, mono) && !this.toWant.has(k, mono)) this.toWant.set(k, { from, hash: h }, mono + this.cfg.causalWaitMs);
    }
  }

  /** Sends the wants noted since the last tick (askForParents), batched per sender. */
  private sendWants(): Action[] {
    if (this.toWant.size === 0) return [];
    const mono = this.mono();
    const bySender = new Map<string, { from: Uint8Array; hashes: Uint8Array[] }>();
    for (const [k, w] of [...this.toWant.values(mono)]) {
      this.toWant.delete(k);
      if (this.wanted.has(k, mono) || this.parentKnown(w.hash)) continue;
      const g = bySender.get(toHex(w.from));
      if (g) g.hashes.push(w.hash);
      else bySender.set(toHex(w.from), { from: w.from, hashes: [w.hash] });
    }
    const actions: Action[] = [];
    for (const g of bySender.values()) {
      for (let i = 0; i < g.hashes.length; i += MAX_WANT_HASHES) {
        const ask = g.hashes.slice(i, i + MAX_WANT_HASHES);
        for (const h of ask) this.wanted.set(toHex(h), true, mono + this.cfg.causalWaitMs / 4);
        actions.push({ type: 'metric', name: 'causal.want' }, ...this.queueControl(g.from, 'want', encodeWant(ask)));
      }
    }
    return actions;
  }

  /** Held messages past causalWaitMs go to the app with a gap marker naming the missing parents. */
  private releaseOverdue(now: number): Action[] {
    const actions: Action[] = [];
    const froms = new Map<string, { from: Uint8Array; hashes: Uint8Array[] }>();
    for (const h of this.store.held.olderThan(now - this.cfg.causalWaitMs, 100)) {
      this.store.held.delete(h.id);
      const { heldAt: _at, ...row } = h;
      const gap = h.parents.filter((p) => !this.parentKnown(p));
      actions.push({ type: 'metric', name: 'causal.gap' }, ...this.toInbox({ ...row, gap }));
      const f = froms.get(toHex(h.from));
      if (f) f.hashes.push(h.hash);
      else froms.set(toHex(h.from), { from: h.from, hashes: [h.hash] });
    }
    for (const f of froms.values()) actions.push(...this.releaseHeld(f.from, f.hashes));
    return actions;
  }

  /** A receipt from the recipient of some of our messages: they arrived (or were read). */
  private applyReceipt(content: Content): Action[] {
    const { state, ids } = decodeReceipt(content.body);
    const now = this.deps.now();
    const actions: Action[] = [{ type: 'metric', name: 'receipt.received' }];
    for (const id of ids) {
      const row = this.store.outbox.get(id);
      if (!row || !equalBytes(row.to, content.from)) continue;
      this.inflight.delete(toHex(id));
      if (STATE_RANK[state] <= STATE_RANK[row.state]) continue;
      this.store.outbox.setState(id, state, now);
      actions.push({ type: 'outbox-state', id, state }, ...this.recordProgress({ id, status: state, reporter: content.from, at: now }));
    }
    return actions;
  }

  /** The recipient lacks causal parents we sent: send them again now. */
  private applyWant(content: Content, now: number): Action[] {
    const actions: Action[] = [];
    for (const h of decodeWant(content.body)) {
      const row = this.store.outbox.byHash(h);
      if (!row || !equalBytes(row.to, content.from) || (row.kind !== 'text' && row.kind !== 'file')) continue;
      if (row.state === 'failed' || row.state === 'expired' || row.expiresAt < now) continue; // given up on: the recipient shows a gap
      this.inflight.delete(toHex(row.id));
      actions.push({ type: 'metric', name: 'causal.resent' }, ...this.transmit(row, now));
    }
    return actions;
  }

  /**
   * An envelope to pass on. We take custody: it is written to the relay queue in this event's
   * transaction and HOLD goes back only after the commit; then we move it on. A full queue
   * refuses it (REFUSE ERR_QUEUE_FULL) and the previous hop keeps it.
   */
  private relay(n: Neighbour, env: Envelope, raw?: Uint8Array): Action[] {
    const now = this.deps.now();
    const mono = this.mono();
    const idHex = toHex(env.id);
    // One copy = one hop entry: its batch signature and its place in that batch.
    const lastHop = env.hops[env.hops.length - 1]!;
    const copy = `${toHex(lastHop.s.subarray(0, 16))}.${lastHop.x ?? 0}.${lastHop.p?.length ?? 0}`;
    let fwd = this.fwdlog.get(idHex, mono);
    const hold: Action = { type: 'send', link: n.link, msg: { t: MsgType.HOLD, id: env.id } };
    if (this.store.relayq.has(env.id) || fwd?.seen.includes(copy)) {
      // Sent again (our HOLD was lost) or replayed: custody is ours already.
      return [hold, { type: 'metric', name: 'dropped.replay' }];
    }
    if (env.hops.length >= Limits.MAX_HOPS) return this.refuse(n, env.id, 'ERR_LIMIT_EXCEEDED', `the envelope already has ${env.hops.length} hops`);
    const waitFor = env.route[0] ?? env.dep ?? env.to;
    // As received (a copy: the link reuses its buffers), or encoded again.
    const bytes = raw ? raw.slice() : encodeMessage(env);
    const full = this.relayQueueFull(waitFor, bytes.length);
    if (full) return [{ type: 'metric', name: 'relay.refused' }, ...this.refuse(n, env.id, 'ERR_QUEUE_FULL', full)];
    this.store.relayq.insert({
      id: env.id,
      to: env.to,
      waitFor,
      dep: null,
      prev: n.peer.entity,
      envelope: bytes,
      receivedAt: now,
      expiresAt: env.exp,
      attempts: 0,
      nextAttemptAt: now,
    });
    if (!fwd) {
      fwd = newFwd(n.entityHex, env.to, now, env.hops.length);
      this.fwdlog.set(idHex, fwd, mono + this.cfg.fwdRetentionMs);
    }
    if (fwd.seen.length < 8) {
      fwd.seen.push(copy);
      // If this transaction does not commit (a full disk), the copy was never ours: forget it,
      // so the previous hop's retry is taken into custody instead of answered HOLD.
      const seen = fwd.seen;
      this.store.onRollback(() => {
        const i = seen.indexOf(copy);
        if (i >= 0) seen.splice(i, 1);
      });
    }
    return [hold, { type: 'metric', name: 'relay.accepted' }, ...this.moveOn(env, fwd, 0, null)];
  }

  /** Why the custody queue cannot take `bytes` more for `waitFor`, or null when it can. */
  private relayQueueFull(waitFor: Uint8Array, bytes: number): string | null {
    const per = this.store.relayq.countFor(waitFor);
    if (per.n >= this.cfg.relayQueuePerHop) {
      return `${per.n} messages already wait here for ${fingerprint(waitFor)} (the limit per next hop is ${this.cfg.relayQueuePerHop})`;
    }
    const all = this.store.relayq.totals();
    if (all.n >= this.cfg.relayQueueMax) return `the relay queue is full (${all.n} messages, the limit is ${this.cfg.relayQueueMax})`;
    if (all.bytes + bytes > this.cfg.relayQueueMaxBytes) return `the relay queue is full (${all.bytes} bytes, the limit is ${this.cfg.relayQueueMaxBytes})`;
    return null;
  }

  private refuse(n: Neighbour, id: Uint8Array, code: ErrorCode, msg: string): Action[] {
    return [{ type: 'send', link: n.link, msg: { t: MsgType.REFUSE, id, code, msg: msg.slice(0, 200) } }];
  }

  /** The forwarding-log entry for a queued envelope (rebuilt from the queue after a restart). */
  private fwdFor(row: RelayRow): FwdEntry {
    const idHex = toHex(row.id);
    const mono = this.mono();
    let fwd = this.fwdlog.get(idHex, mono);
    if (!fwd) {
      fwd = newFwd(row.prev ? toHex(row.prev) : null, row.to, row.receivedAt, 0);
      this.fwdlog.set(idHex, fwd, mono + this.cfg.fwdRetentionMs);
    }
    return fwd;
  }

  /**
   * One way one hop on toward `target`: the next hop of `route`, the target itself, or a
   * cached route to it; never through us or a hop in `avoid`.
   */
  private chooseWay(target: Uint8Array, route: readonly Uint8Array[], avoid: ReadonlySet<string>): Way | undefined {
    const linkIfOk = (e: Uint8Array): LinkId | undefined => {
      const h = toHex(e);
      return avoid.has(h) || h === this.selfHex ? undefined : this.linkToHex(h);
    };
    if (route.length > 0) {
      const l = linkIfOk(route[0]!);
      if (l !== undefined) return { link: l, next: route[0]!, rest: route.slice(1) };
    }
    const direct = linkIfOk(target);
    if (direct !== undefined) return { link: direct, next: target, rest: [] };
    for (const r of this.routes.get(target, this.deps.now())) {
      if (r.some((e) => toHex(e) === this.selfHex)) continue;
      const l = linkIfOk(r[0]!);
      if (l !== undefined) return { link: l, next: r[0]!, rest: r.slice(1) };
    }
    return undefined;
  }

  /**
   * Moves an envelope in our custody one hop on: along its route, straight to the target or
   * by a cached route, avoiding hops that failed it. When the recipient is unreachable (we
   * were its last hop, or discovery failed) it goes toward one of the recipient's mailboxes,
   * or into our own mailbox store if we are one. Otherwise it waits in the queue (durably)
   * while we look for a route with backoff, and the sender hears 'queued'.
   */
  private moveOn(env: Envelope, fwd: FwdEntry, attempts: number, dep: Uint8Array | null): Action[] {
    const now = this.deps.now();
    if (env.exp < now) {
      this.store.relayq.delete(env.id);
      return [{ type: 'metric', name: 'relay.expired' }];
    }
    const depTo = dep ?? env.dep ?? null;
    if (depTo && equalBytes(depTo, this.self.entityPub)) return this.depositLocal(env, fwd);
    const target = depTo ?? env.to;
    const way = this.chooseWay(target, depTo ? [] : env.route, fwd.failed);
    if (way) {
      const rerouted = fwd.nexts.length > 0;
      this.store.relayq.reschedule(env.id, way.next, now + this.cfg.stallMs, { countAttempt: false, ...(depTo ? { dep: depTo } : {}) });
      const out = depTo && !env.dep ? { ...env, dep: depTo } : env;
      return [
        ...this.handOver(out, way, fwd),
        { type: 'metric', name: 'relay.forwarded' },
        ...this.report(fwd, env.id, rerouted ? 'rerouted' : 'forwarded'),
      ];
    }
    // Everything failed once: after the backoff every way may be tried again.
    fwd.failed.clear();
    const mono = this.mono();
    const mailboxes = depTo ? [] : this.mailboxesOf(env.to);
    // We are the recipient's last hop when the route ends at it (or is empty): it is unreachable.
    const lastHop = env.route.length === 0 || (env.route.length === 1 && equalBytes(env.route[0]!, env.to));
    if (mailboxes.length > 0 && (lastHop || this.unreachable.has(toHex(env.to), mono))) {
      const mb = this.pickMailbox(env.to, mailboxes, fwd.failed);
      if (mb) return this.moveOn(env, fwd, attempts, mb);
    }
    const waitFor = depTo ?? env.route[0] ?? env.to;
    this.store.relayq.reschedule(env.id, waitFor, now + this.backoff(attempts), { countAttempt: true, ...(depTo ? { dep: depTo } : {}) });
    // A target we are linked to needs no discovery (its answer would only flush the whole
    // queue at it again): it is simply tried again after the backoff.
    const actions: Action[] = [...(this.isConnected(target) ? [] : this.discover(target)), ...this.redial(waitFor, mono)];
    if (mailboxes.length > 0) actions.push(...this.discover(mailboxes[attempts % mailboxes.length]!));
    if (attempts === 0) actions.push(...this.report(fwd, env.id, 'queued'));
    return actions;
  }

  /**
   * Dials an entity our relay queue waits for at the addresses we know, at most once a second:
   * when two neighbours restart at once, each one's first dial finds the other down, and
   * without this the queue would wait for the daemon's periodic reconnect.
   */
  private redial(entity: Uint8Array, mono: number): Action[] {
    const key = toHex(entity);
    if (this.isConnected(entity) || this.redialed.has(key, mono)) return [];
    this.redialed.set(key, true, mono + 1000);
    return this.knownAddrs(entity).slice(0, 3).map((addr) => ({ type: 'dial' as const, entity, addr }));
  }

  /** Signs our hop entry and sends `env` (as we received it) to `way.next` with `way.rest` as its remaining route. */
  private handOver(env: Envelope, way: Way, fwd: FwdEntry): Action[] {
    const out: Envelope = { ...env, route: way.rest, hops: [...env.hops, signHop(this.signer, this.self.certBytes, env, way.next)] };
    const nextHex = toHex(way.next);
    fwd.nexts.push(nextHex);
    if (fwd.nexts.length > 16) fwd.nexts.shift();
    const mono = this.mono();
    this.inflight.set(toHex(env.id), { next: nextHex, until: mono + this.cfg.stallMs, since: mono }, mono + (STALL_PATIENCE + 2) * this.cfg.stallMs);
    return [{ type: 'send', link: way.link, msg: out }];
  }

  /** Moves custody-queue entries waiting for `entity` (a next hop, recipient or mailbox) on, now that a way may exist. */
  private flushRelayFor(entity: Uint8Array): Action[] {
    const rows = new Map<string, RelayRow>();
    for (const r of this.store.relayq.byWaitFor(entity, 1000)) rows.set(toHex(r.id), r);
    for (const r of this.store.relayq.byTo(entity, 1000)) rows.set(toHex(r.id), r);
    const actions: Action[] = [];
    const mono = this.mono();
    for (const [idHex, row] of rows) {
      if (this.inflight.has(idHex, mono)) continue;
      actions.push(...this.moveQueued(row, false));
    }
    return actions;
  }

  /** Moves a custody-queue row on: an onion to its fixed next hop, an envelope by moveOn. */
  private moveQueued(row: RelayRow, stalled: boolean): Action[] {
    if (peekType(row.envelope) === MsgType.ONION) return this.onion.moveOn(row, stalled);
    const env = this.decodeQueued(row);
    return env ? this.moveOn(env, this.fwdFor(row), row.attempts, row.dep) : [];
  }

  private decodeQueued(row: { id: Uint8Array; envelope: Uint8Array }): Envelope | undefined {
    try {
      const m = decodeMessage(row.envelope);
      if (m.t === MsgType.ENVELOPE) return m;
    } catch {
      /* fall through: a row we cannot read again is dropped, loudly */
    }
    this.store.relayq.delete(row.id);
    return undefined;
  }

  // ---------------------------------------------------------------- custody answers: HOLD, REFUSE

  /**
   * An envelope handed to `f.next` without HOLD by `f.until` counts as stalled — unless that
   * neighbour is still answering (HOLDs and acks for other envelopes arrived within the last
   * stallMs): a hop working through a backlog gets another stallMs, up to STALL_PATIENCE
   * times, instead of a duplicate that would only make it busier. (Without this, a relay
   * flushing a queue of thousands after a restart took every envelope the next hop had not
   * reached yet for stalled and sent it again, and again: a congestion collapse.) Extends
   * `f.until` and returns true when the wait goes on.
   */
  private stillBusy(f: InFlight, mono: number): boolean {
    const heard = this.lastHeard(f.next, mono);
    if (heard === undefined || mono - heard >= this.cfg.stallMs || mono - f.since >= STALL_PATIENCE * this.cfg.stallMs) return false;
    f.until = mono + this.cfg.stallMs;
    return true;
  }

  /** When the entity last sent us a message on any link, in the last 60 s (undefined if not). */
  private lastHeard(entityHex: string, mono: number): number | undefined {
    let heard = this.heardFrom.get(entityHex, mono);
    for (const link of this.byEntity.get(entityHex) ?? []) {
      const at = this.neighbours.get(link)?.heardAt ?? NEVER_HEARD;
      if (at !== NEVER_HEARD && at > mono - 60_000 && (heard === undefined || at > heard)) heard = at;
    }
    return heard;
  }

  private onHold(n: Neighbour, h: Hold): Action[] {
    const idHex = toHex(h.id);
    const f = this.inflight.get(idHex, this.mono());
    if (!f || f.next !== n.entityHex) return [{ type: 'metric', name: 'dropped.hold-unexpected' }];
    this.inflight.delete(idHex);
    if (this.store.relayq.delete(h.id)) return [{ type: 'metric', name: 'custody.passed' }];
    // Our own message (an onion's first link has an id of its own).
    const id = this.onion.outboxIdFor(h.id) ?? h.id;
    const row = this.store.outbox.get(id);
    if (!row || !PENDING_STATES.has(row.state)) return [];
    const now = this.deps.now();
    if (row.kind === 'receipt' || row.kind === 'want') {
      // Control messages need custody only, never an end-to-end ack.
      this.store.outbox.setState(id, 'delivered', now);
      return [];
    }
    this.store.outbox.reschedule(id, now + this.custodyRetry(row.attempts), now);
    if (row.state === 'relayed') return [];
    this.store.outbox.setState(id, 'relayed', now);
    return [
      { type: 'outbox-state', id, state: 'relayed' },
      ...this.recordProgress({ id, status: 'relayed', reporter: n.peer.entity, at: now }),
    ];
  }

  private onRefuse(n: Neighbour, r: Refuse): Action[] {
    const idHex = toHex(r.id);
    const mono = this.mono();
    const f = this.inflight.get(idHex, mono);
    if (!f || f.next !== n.entityHex) return [{ type: 'metric', name: 'dropped.refuse-unexpected' }];
    this.inflight.delete(idHex);
    const now = this.deps.now();
    const why = `${fingerprint(n.peer.entity)} refused it (${r.code}${r.msg ? `: ${r.msg}` : ''})`;
    const queued = this.store.relayq.get(r.id);
    if (queued && peekType(queued.envelope) === MsgType.ONION) return this.onion.onRefused(queued);
    if (queued) {
      const fwd = this.fwdFor(queued);
      fwd.failed.add(n.entityHex);
      const env = this.decodeQueued(queued);
      return [{ type: 'metric', name: 'relay.refused-by-next' }, ...(env ? this.moveOn(env, fwd, queued.attempts + 1, queued.dep) : [])];
    }
    const id = this.onion.outboxIdFor(r.id) ?? r.id;
    const row = this.store.outbox.get(id);
    if (!row || !PENDING_STATES.has(row.state)) return [];
    this.fwdlog.get(toHex(id), mono)?.failed.add(n.entityHex);
    this.store.outbox.setError(id, why, now);
    return [
      { type: 'metric', name: 'outbox.refused' },
      ...this.recordProgress({ id, status: 'refused', reporter: n.peer.entity, at: now, detail: why }),
    ];
  }

  // ---------------------------------------------------------------- mailboxes

  /** Mailboxes `entity` names in its newest verified announcement. */
  private mailboxesOf(entity: Uint8Array): Uint8Array[] {
    const now = this.deps.now();
    const row = this.store.addrbook.get(entity, now);
    if (!row) return [];
    try {
      return verifyAnnouncement(row.announcement, now).mailboxes;
    } catch {
      return [];
    }
  }

  /** A mailbox of `owner` we can hand to now: ourselves if we host it, else one with a way. */
  private pickMailbox(owner: Uint8Array, mailboxes: Uint8Array[], avoid: ReadonlySet<string>): Uint8Array | undefined {
    const ok = mailboxes.filter((m) => !avoid.has(toHex(m)));
    if (ok.some((m) => equalBytes(m, this.self.entityPub)) && this.store.mailbox.account(owner)) return this.self.entityPub;
    return ok.find((m) => !equalBytes(m, this.self.entityPub) && this.chooseWay(m, [], avoid) !== undefined);
  }

  /** Stores an envelope for its owner if we are its mailbox and within quota. */
  private mailboxPut(env: Envelope, bytes: Uint8Array, now: number): 'stored' | 'duplicate' | 'not-mailbox' | string {
    const owner = env.to;
    if (!this.store.mailbox.account(owner)) return 'not-mailbox';
    const use = this.store.mailbox.usage(owner);
    if (use.n >= this.cfg.mailboxQuotaMessages || use.bytes + bytes.length > this.cfg.mailboxQuotaBytes) {
      return `the mailbox for ${fingerprint(owner)} is full (${use.n} messages, ${use.bytes} bytes; quota ${this.cfg.mailboxQuotaMessages} messages, ${this.cfg.mailboxQuotaBytes} bytes)`;
    }
    const { dep: _dep, ...plain } = env;
    return this.store.mailbox.put({
      owner,
      id: env.id,
      envelope: encodeMessage({ ...plain, route: [] }),
      storedAt: now,
      expiresAt: Math.min(env.exp, now + this.cfg.mailboxTtlMs),
    });
  }

  /** An envelope deposited with us as a mailbox (its `dep` names us). */
  private depositHere(n: Neighbour, env: Envelope, now: number): Action[] {
    const res = this.mailboxPut(env, encodeMessage(env), now);
    if (res === 'not-mailbox') {
      return [{ type: 'metric', name: 'mailbox.refused' }, ...this.refuse(n, env.id, 'ERR_NOT_MAILBOX', `this agent is not a mailbox for ${fingerprint(env.to)}`)];
    }
    if (res !== 'stored' && res !== 'duplicate') return [{ type: 'metric', name: 'mailbox.full' }, ...this.refuse(n, env.id, 'ERR_QUEUE_FULL', res)];
    const idHex = toHex(env.id);
    const mono = this.mono();
    let fwd = this.fwdlog.get(idHex, mono);
    if (!fwd) {
      fwd = newFwd(n.entityHex, env.to, now, env.hops.length);
      this.fwdlog.set(idHex, fwd, mono + this.cfg.fwdRetentionMs);
    }
    const actions: Action[] = [{ type: 'send', link: n.link, msg: { t: MsgType.HOLD, id: env.id } }, { type: 'metric', name: `mailbox.${res}` }];
    if (res === 'stored') actions.push(...this.report(fwd, env.id, 'stored'), ...this.pushMail(env.to));
    return actions;
  }

  /** An envelope in our custody whose recipient names us as its mailbox. */
  private depositLocal(env: Envelope, fwd: FwdEntry): Action[] {
    const now = this.deps.now();
    const res = this.mailboxPut(env, encodeMessage(env), now);
    if (res !== 'stored' && res !== 'duplicate') {
      // Not (or no longer) its mailbox, or full: keep it and try again later.
      this.store.relayq.reschedule(env.id, env.to, now + this.backoff(1), { dep: null });
      return [{ type: 'metric', name: 'mailbox.local-refused' }];
    }
    this.store.relayq.delete(env.id);
    return [{ type: 'metric', name: `mailbox.${res}` }, ...(res === 'stored' ? [...this.report(fwd, env.id, 'stored'), ...this.pushMail(env.to)] : [])];
  }

  /** New mail for an owner that is connected right now: push it. */
  private pushMail(owner: Uint8Array): Action[] {
    const link = this.linkTo(owner);
    if (link === undefined) return [];
    return this.serveMail(link, owner, this.mailCursor.get(toHex(owner), this.mono()) ?? 0, MAIL_PUSH_ITEMS);
  }

  /** One MB_ITEMS page for `owner` with seq > after; each envelope gets our hop entry naming the owner. */
  private serveMail(link: LinkId, owner: Uint8Array, after: number, max: number): Action[] {
    const rows = this.store.mailbox.list(owner, after, max + 1);
    const items: MailItem[] = [];
    let size = 0;
    let more = rows.length > max;
    for (const r of rows.slice(0, max)) {
      const env = this.decodeMail(r.envelope);
      if (!env) {
        this.store.mailbox.delete(owner, [r.seq]);
        continue;
      }
      const e = encodeMessage({ ...env, route: [], hops: [...env.hops, signHop(this.signNow, this.self.certBytes, env, owner)] });
      if (items.length > 0 && size + e.length > MAIL_PAGE_BYTES) {
        more = true;
        break;
      }
      items.push({ q: r.seq, e });
      size += e.length;
    }
    if (items.length === 0 && !more) return [];
    const last = items[items.length - 1]?.q ?? after;
    this.mailCursor.set(toHex(owner), last, this.mono() + 24 * 3600_000);
    return [{ type: 'send', link, msg: { t: MsgType.MB_ITEMS, items, more } }, { type: 'metric', name: 'mailbox.served' }];
  }

  private decodeMail(bytes: Uint8Array): Envelope | undefined {
    try {
      const m = decodeMessage(bytes);
      return m.t === MsgType.ENVELOPE ? m : undefined;
    } catch {
      return undefined;
    }
  }

  private mbFetch(link: LinkId, mailbox: Uint8Array, after: number): Action {
    const ts = this.deps.now();
    const s = sign(this.self.agent, Domain.MAILBOX, fetchBytes(mailbox, after, ts));
    return { type: 'send', link, msg: { t: MsgType.MB_FETCH, after, max: Limits.MAX_MAIL_ITEMS, ts, s } };
  }

  /** A signed request from an owner connected to us: fresh, and signed by the link's own agent key. */
  private mailboxRequestOk(n: Neighbour, bytes: Uint8Array, ts: number, s: Uint8Array): boolean {
    return Math.abs(this.deps.now() - ts) <= Limits.MAILBOX_SKEW_MS && verify(n.peer.agent, Domain.MAILBOX, bytes, s);
  }

  private onMbFetch(n: Neighbour, f: MbFetch): Action[] {
    if (!this.mailboxRequestOk(n, fetchBytes(this.self.entityPub, f.after, f.ts), f.ts, f.s)) return [{ type: 'metric', name: 'mailbox.bad-request' }];
    return this.serveMail(n.link, n.peer.entity, f.after, Math.max(1, Math.min(f.max, Limits.MAX_MAIL_ITEMS)));
  }

  private onMbDelete(n: Neighbour, d: MbDelete): Action[] {
    if (!this.mailboxRequestOk(n, deleteBytes(this.self.entityPub, d.seqs, d.ts), d.ts, d.s)) return [{ type: 'metric', name: 'mailbox.bad-request' }];
    this.store.mailbox.delete(n.peer.entity, d.seqs);
    return [{ type: 'metric', name: 'mailbox.deleted' }];
  }

  /**
   * Items from one of our mailboxes: each is accepted like a message from a neighbour (path and
   * signatures verified, exactly once, causal order), then deleted at the mailbox after our
   * commit. Senders get a receipt, since no reverse path leads back to them.
   */
  private onMbItems(n: Neighbour, m: MbItems): Action[] {
    if (!this.store.myMailboxes.has(n.peer.entity)) return [{ type: 'metric', name: 'dropped.mail-from-non-mailbox' }];
    const now = this.deps.now();
    const actions: Action[] = [];
    const seqs: number[] = [];
    const receipts = new Map<string, { to: Uint8Array; ids: Uint8Array[] }>();
    let last = 0;
    for (const it of m.items) {
      seqs.push(it.q);
      last = Math.max(last, it.q);
      try {
        const env = decodeMessage(it.e);
        if (env.t !== MsgType.ENVELOPE || !equalBytes(env.to, this.self.entityPub)) throw new WotError('ERR_BAD_FIELD', 'mail item is not an envelope for us');
        const r = this.acceptForUs(env, n.peer.agent, n.entityHex, now);
        actions.push(...r.actions, { type: 'metric', name: 'mailbox.fetched' });
        if (r.outcome === 'control') continue;
        const k = toHex(r.sender);
        let g = receipts.get(k);
        if (!g) receipts.set(k, (g = { to: r.sender, ids: [] }));
        if (g.ids.length < MAX_RECEIPT_IDS) g.ids.push(env.id);
      } catch (e) {
        if (!isWotError(e)) throw e;
        actions.push(...dropped(n, e.code, `mail item ${it.q}: ${e.message}`));
      }
    }
    for (const g of receipts.values()) actions.push(...this.queueControl(g.to, 'receipt', encodeReceipt('delivered', g.ids)));
    if (seqs.length > 0) {
      const ts = now;
      const s = sign(this.self.agent, Domain.MAILBOX, deleteBytes(n.peer.entity, seqs, ts));
      actions.push({ type: 'send', link: n.link, msg: { t: MsgType.MB_DELETE, seqs, ts, s } });
    }
    if (m.more) actions.push(this.mbFetch(n.link, n.peer.entity, last));
    return actions;
  }

  // ---------------------------------------------------------------- reports and acks walking back

  private makeReport(id: Uint8Array, st: ReportStatus): Report {
    const ts = this.deps.now();
    const rep: Report = { t: MsgType.REPORT, id, st, ts, c: this.self.certBytes, s: PENDING_SIG };
    this.signer.sign(Domain.REPORT, reportBytes(id, st, ts), rep);
    return rep;
  }

  /** Our own progress report for a message, sent back toward its sender (or to the app if we are it). */
  private report(fwd: FwdEntry, id: Uint8Array, st: ReportStatus): Action[] {
    if (fwd.prevEntity === null) {
      return this.recordProgress({ id, status: st, reporter: this.self.entityPub, at: this.deps.now() });
    }
    const link = this.linkToHex(fwd.prevEntity);
    if (link === undefined) return [];
    return [{ type: 'send', link, msg: this.makeReport(id, st) }];
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
    const link = fwd.prevEntity === null ? undefined : this.linkToHex(fwd.prevEntity);
    if (link === undefined) return [{ type: 'metric', name: 'walkback.no-link' }];
    return [{ type: 'send', link, msg }];
  }

  private makeAck(id: Uint8Array, st: Ack['st'], step?: Uint8Array): Ack {
    const r = step && step.length <= Limits.MAX_RATCHET_STEP ? step : undefined;
    const ack: Ack = { t: MsgType.ACK, id, st, by: this.self.agent.publicKey, s: PENDING_SIG, c: this.self.certBytes, ...(r ? { r } : {}) };
    this.signer.sign(Domain.ACK, ackBytes(id, st), ack);
    return ack;
  }

  private onAck(n: Neighbour, ack: Ack): Action[] {
    const now = this.deps.now();
    const mono = this.mono();
    const idHex = toHex(ack.id);
    const fwd = this.fwdlog.get(idHex, mono);
    if (fwd && fwd.prevEntity !== null) {
      // A relay: the message is delivered; pass the ack back toward the sender.
      if (!fwd.nexts.includes(n.entityHex)) return [{ type: 'metric', name: 'dropped.ack-unrelated' }];
      // The recipient acks instead of HOLD: our custody ends too.
      if (this.inflight.get(idHex, mono)?.next === n.entityHex) this.inflight.delete(idHex);
      this.store.relayq.delete(ack.id);
      return this.passBack(fwd, ack);
    }
    const row = this.store.outbox.get(ack.id);
    if (!row) return [{ type: 'metric', name: 'dropped.ack-unknown' }];
    const cert = verifyCert(ack.c, now);
    if (!equalBytes(cert.agent, ack.by) || !equalBytes(cert.entity, row.to)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'ack is not from the recipient');
    }
    if (!verifyBatched(ack.by, Domain.ACK, ackBytes(ack.id, ack.st), ack)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'ack signature does not verify');
    }
    this.inflight.delete(idHex);
    return this.applyDelivered(ack.id, cert.entity, ack.st, ack.r, now);
  }

  /**
   * The recipient acknowledged our message `id` (verified by the caller): the outbox moves
   * forward, and a ratchet step it carried moves our session on.
   */
  private applyDelivered(id: Uint8Array, recipient: Uint8Array, st: Ack['st'], step: Uint8Array | undefined, now: number): Action[] {
    const row = this.store.outbox.get(id);
    if (!row || !equalBytes(row.to, recipient)) return [{ type: 'metric', name: 'dropped.ack-unknown' }];
    const actions: Action[] = [];
    if (step) {
      // The ack is verified; a step that does not open only leaves the session where it was.
      let ok = false;
      try {
        const dec = decodeE2E(step);
        ok = 'session' in dec && this.sessions.applyStep(recipient, dec.session, this.self.entityPub);
      } catch {
        ok = false;
      }
      actions.push({ type: 'metric', name: ok ? 'session.step' : 'session.bad-step' });
    }
    if (STATE_RANK[st] <= STATE_RANK[row.state]) return actions;
    this.store.outbox.setState(id, st, now);
    return [...actions, { type: 'outbox-state', id, state: st }, ...this.recordProgress({ id, status: st, reporter: recipient, at: now })];
  }

  private onReport(n: Neighbour, rep: Report): Action[] {
    const mono = this.mono();
    const idHex = toHex(rep.id);
    const fwd = this.fwdlog.get(idHex, mono);
    if (!fwd || !fwd.nexts.includes(n.entityHex)) return [{ type: 'metric', name: 'dropped.report-unrelated' }];
    // Custody moved on with HOLD: a report is news for the sender, not a decision for us.
    const actions: Action[] = [];
    if (fwd.prevEntity !== null) return [...actions, ...this.passBack(fwd, rep)];
    // We are the sender: verify before believing it.
    const now = this.deps.now();
    const cert = verifyCert(rep.c, now);
    if (!verifyBatched(cert.agent, Domain.REPORT, reportBytes(rep.id, rep.st, rep.ts), rep)) {
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
    const viaOnion = this.onion.complain(id, reason);
    if (viaOnion) return viaOnion;
    const mono = this.mono();
    const fwd = this.fwdlog.get(toHex(id), mono);
    if (!fwd || fwd.prevEntity === null) {
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
    } else if (this.list) {
      actions.push(...this.list.onComplaint(c.id, cert.entity, c.reason, now));
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
    if (
      !this.ownAnnouncement ||
      addrs.join(' ') !== this.ownAddrsKey ||
      this.relaysKey(this.reachability().relays) !== this.ownRelaysKey ||
      this.relaysKey(this.store.myMailboxes.list()) !== this.ownMailboxesKey
    ) {
      this.buildAnnouncement(addrs);
    }
    return this.ownAnnouncement;
  }

  private buildAnnouncement(addrs: string[]): void {
    const now = this.deps.now();
    const relays = this.reachability().relays;
    const mailboxes = this.store.myMailboxes.list().slice(0, 8);
    // seq: wall-clock ms, but always increasing within a run.
    this.announceSeq = Math.max(this.announceSeq + 1, now);
    this.ownAnnouncement = createAnnouncement(this.self.agent, this.self.certBytes, { addrs: addrs.slice(0, 8), relays, mailboxes, seq: this.announceSeq, ts: now });
    this.ownAddrsKey = addrs.join(' ');
    this.ownRelaysKey = this.relaysKey(relays);
    this.ownMailboxesKey = this.relaysKey(this.store.myMailboxes.list());
  }

  private relaysKey(relays: Uint8Array[]): string {
    return relays.map(toHex).join(' ');
  }

  /**
   * Whether a neighbour has a public address: in its verified announcement, else in what it
   * said in the handshake.
   */
  private neighbourPublic(n: Neighbour): boolean {
    const now = this.deps.now();
    const row = this.store.addrbook.get(n.peer.entity, now);
    if (row && !row.invalid) {
      // Reachability reads every neighbour's announcement on every link change: remember the
      // one verified last (same bytes, certificate still valid).
      const seen = n.announced;
      if (seen && now <= seen.notAfter && equalBytes(seen.bytes, row.announcement)) return seen.public;
      try {
        const ann = verifyAnnouncement(row.announcement, now);
        n.announced = { bytes: ann.bytes, addrs: ann.addrs, notAfter: ann.cert.notAfter, public: ann.addrs.some(isPublicAddr) };
        return n.announced.public;
      } catch {
        /* expired certificate: fall back to the handshake */
      }
    }
    return (n.handshakePublic ??= n.addrs.some(isPublicAddr));
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
    for (const [hex, entity] of this.publicNeighbours) {
      if (this.store.trust.get(entity)?.state === 'active') relays.set(hex, entity);
    }
    const list = [...relays.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, MAX_ANNOUNCED_RELAYS).map(([, e]) => e);
    if (list.length === 0) return { mode: 'unknown', relays: [], why: 'our addresses are private and no public trusted neighbour is connected yet' };
    const names = list.map((e) => fingerprint(e)).join(', ');
    return { mode: 'via-relay', relays: list, why: `our addresses are private; public neighbour${list.length === 1 ? '' : 's'} ${names} relay${list.length === 1 ? 's' : ''} for us over the link we keep open` };
  }

  /**
   * Keeps `publicNeighbours` right for one entity: in it while one of its links has a
   * public address (announced, else from the handshake). Called when a link comes up or
   * goes down and when its announcement or address-book row changes, so reachability never
   * walks every neighbour (an agent may hold 10,000 links).
   */
  private refreshPublic(entityHex: string): void {
    const links = this.byEntity.get(entityHex);
    let entity: Uint8Array | undefined;
    let pub = false;
    for (const l of links ?? []) {
      const n = this.neighbours.get(l);
      if (!n) continue;
      entity = n.peer.entity;
      if (this.neighbourPublic(n)) {
        pub = true;
        break;
      }
    }
    if (pub && entity) this.publicNeighbours.set(entityHex, entity);
    else this.publicNeighbours.delete(entityHex);
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
    // Announcements and certificates expire with time: look at every neighbour again now and then.
    for (const hex of this.byEntity.keys()) this.refreshPublic(hex);
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
    return this.signer.run(() => this.learnAnnouncementNow(bytes));
  }

  private learnAnnouncementNow(bytes: Uint8Array): Action[] {
    const now = this.deps.now();
    const ann = verifyAnnouncement(bytes, now);
    if (equalBytes(ann.entity, this.self.entityPub)) return [];
    const stored = this.store.addrbook.put({ entity: ann.entity, announcement: ann.bytes, seq: ann.seq, receivedAt: now, expiresAt: Math.min(ann.ts + this.cfg.addrTtlMs, ann.cert.notAfter) });
    if (!stored) return [{ type: 'metric', name: 'announce.stale' }];
    this.refreshPublic(toHex(ann.entity));
    this.store.certs.put(certRow(ann.cert, ann.certBytes, now));
    const trust = this.store.trust.get(ann.entity);
    if (trust && ann.addrs[0] && trust.addr !== ann.addrs[0]) this.store.trust.setAddr(ann.entity, ann.addrs[0], now);
    const actions: Action[] = [{ type: 'metric', name: 'announce.learned' }];
    // Mailbox hosting: an entity we trust that names us gets an account; one that stops naming us loses it.
    const namesUs = ann.mailboxes.some((m) => equalBytes(m, this.self.entityPub));
    if (namesUs && trust?.state === 'active') {
      if (!this.store.mailbox.account(ann.entity)) actions.push({ type: 'log', level: 'info', event: 'mailbox-account-opened', fields: { owner: fingerprint(ann.entity) } });
      this.store.mailbox.setAccount(ann.entity, ann.seq, now);
    } else if (this.store.mailbox.account(ann.entity)) {
      this.store.mailbox.removeAccount(ann.entity);
      actions.push({ type: 'log', level: 'info', event: 'mailbox-account-closed', fields: { owner: fingerprint(ann.entity) } });
    }
    // Mail waiting for it (ours or in our custody): go and hand it over.
    const waiting = this.store.outbox.pendingFor(ann.entity, 1).length > 0 || this.store.relayq.countFor(ann.entity).n > 0;
    if (!this.isConnected(ann.entity) && waiting && ann.addrs[0]) {
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
      this.refreshPublic(toHex(entity));
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
    if (this.discoveries.size >= MAX_DISCOVERIES) return [{ type: 'metric', name: 'discovery.too-many' }];
    return this.startRing(target, 0);
  }

  /**
   * One route query for `target` with `ttl`, to every neighbour but those in `except` (hex):
   * onion mode asks its neighbours for ways to a relay, for cover hops. Replies are cached
   * like any discovered route.
   */
  private probe(target: Uint8Array, ttl: number, except: ReadonlySet<string>): Action[] {
    const mono = this.mono();
    if (!this.queryGlobal.take(mono)) return [{ type: 'metric', name: 'discovery.ratelimited' }];
    const qid = this.deps.randomBytes(MESSAGE_ID_BYTES);
    this.seen.set(qidKey(qid), { back: 'self', replies: 0, target }, mono + this.cfg.queryMemoryMs);
    const q: RouteQuery = { t: MsgType.ROUTE_QUERY, qid, target, ttl: Math.max(1, Math.min(ttl, Limits.MAX_QUERY_TTL)) };
    const actions: Action[] = [];
    for (const nb of this.neighbours.values()) {
      if (except.has(nb.entityHex) || nb.entityHex === toHex(target)) continue;
      actions.push({ type: 'send', link: nb.link, msg: q });
    }
    return actions;
  }

  private startRing(target: Uint8Array, ring: number): Action[] {
    const key = toHex(target);
    const mono = this.mono();
    const ttl = this.cfg.rings[ring]!;
    const qid = this.deps.randomBytes(MESSAGE_ID_BYTES);
    this.discoveries.set(key, { qid: toHex(qid), ring, deadline: mono + this.cfg.ringWaitPerHopMs * 2 * (ttl + 1), found: false });
    this.seen.set(qidKey(qid), { back: 'self', replies: 0, target }, mono + this.cfg.queryMemoryMs);
    if (!this.queryGlobal.take(mono)) return [{ type: 'metric', name: 'discovery.ratelimited' }];
    const actions: Action[] = [{ type: 'metric', name: 'discovery.ring' }];
    const q: RouteQuery = { t: MsgType.ROUTE_QUERY, qid, target, ttl };
    for (const nb of this.neighbours.values()) actions.push({ type: 'send', link: nb.link, msg: q });
    return actions;
  }

  private onQuery(n: Neighbour, q: RouteQuery): Action[] {
    const mono = this.mono();
    if (q.ttl < 1 || q.ttl > Limits.MAX_QUERY_TTL) return [{ type: 'metric', name: 'dropped.query-ttl' }];
    let bucket = n.queryBucket;
    if (bucket === null || bucket.dropped) bucket = n.queryBucket = this.queryBuckets.bucket(n.entityHex, mono);
    if (!bucket.take(mono)) return [{ type: 'metric', name: 'query.ratelimited.neighbour' }];
    const seenKey = qidKey(q.qid);
    if (this.seen.has(seenKey, mono)) return [{ type: 'metric', name: 'query.duplicate' }];
    // A neighbour using up its own bucket (below half) may not dig into the half of the global
    // budget kept back for the others: 20 flooding neighbours cannot starve an honest one.
    const heavy = bucket.fill(mono) < 0.5;
    if (!this.queryGlobal.take(mono, heavy ? this.cfg.queryGlobal.burst / 2 : 0)) return [{ type: 'metric', name: 'query.ratelimited.global' }];
    // Expired query ids go as new ones come, not only on ticks: an agent that only forwards
    // (the simulator ticks it only while something is due) would otherwise keep every id it
    // ever saw until the bound (1.2 million of them on 10,000 simulated agents after 200
    // discoveries: a heap that only grows).
    this.seen.sweep(mono, 16);
    this.seen.set(seenKey, { back: n.link, replies: 0, target: q.target }, mono + this.cfg.queryMemoryMs);
    const targetHex = queryTargetHex(q.target);
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
    // The links are the table's keys: reading them touches none of the neighbours themselves
    // (one cache miss each on 10,000 simulated agents).
    for (const link of this.neighbours.keys()) if (link !== n.link) actions.push({ type: 'send', link, msg: fwd });
    return actions;
  }

  private replyTo(n: Neighbour, q: RouteQuery, tc: Uint8Array | undefined): Action {
    const entry = signPathEntry(this.self.agent, this.self.certBytes, q.qid, q.target, [], n.peer.entity);
    const reply: RouteReply = { t: MsgType.ROUTE_REPLY, qid: q.qid, target: q.target, path: [entry], ...(tc ? { tc } : {}) };
    return { type: 'send', link: n.link, msg: reply };
  }

  private onReply(n: Neighbour, r: RouteReply): Action[] {
    const mono = this.mono();
    const s = this.seen.get(qidKey(r.qid), mono);
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
    // Every hop's verified certificate: its X25519 key lets us wrap an onion layer for it.
    for (const e of r.path) this.store.certs.put(certRow(verifyCert(e.c, now), e.c, now));
    this.routes.add(r.target, v.route, now);
    const key = toHex(r.target);
    const d = this.discoveries.get(key);
    if (d) d.found = true;
    const actions: Action[] = [{ type: 'metric', name: 'discovery.route' }, { type: 'route-found', target: r.target, route: v.route }];
    this.unreachable.delete(key);
    actions.push(...this.flushOutboxTo(r.target, now));
    actions.push(...this.flushRelayFor(r.target));
    return actions;
  }

  /** True while timers matter: discoveries, messages in flight, waiting relays, revocations. */
  wantsTick(): boolean {
    // Asked by the simulator after every event of an agent with a tick in reserve: the
    // cheapest checks first.
    return (
      this.list !== null ||
      this.discoveries.size > 0 ||
      this.inflight.size > 0 ||
      this.complaints.nextDue() < Infinity ||
      this.store.held.count() > 0 ||
      this.store.relayq.totals().n > 0
    );
  }

  /**
   * A route known by other means (configured, or the simulator's topology): entity keys from
   * our neighbour to `target`. It is cached like a discovered route.
   */
  learnRoute(target: Uint8Array, route: Uint8Array[]): void {
    if (route.length === 0 || !equalBytes(route[route.length - 1]!, target)) throw new WotError('ERR_BAD_REQUEST', 'a route ends at its target');
    this.routes.add(target, route, this.deps.now());
  }

  /** Cached routes to a target (for tests and the CLI). */
  routesTo(target: Uint8Array): Uint8Array[][] {
    return this.routes.get(target, this.deps.now());
  }

  // ---------------------------------------------------------------- API

  /**
   * Accepts a message from the app: signs it (with the conversation's current heads as its
   * causal parents), makes it durable in the outbox and sends it when a link or route exists
   * (otherwise dials, asks where it is, discovers). Sending trusts the recipient. A full
   * outbox refuses with ERR_QUEUE_FULL; nothing accepted is ever dropped.
   */
  send(to: Uint8Array, kind: ContentKind, body: Uint8Array, name?: string, opts: { onion?: number } = {}): { id: Uint8Array; actions: Action[] } {
    return this.signer.run(() => this.sendNow(to, kind, body, name, opts));
  }

  private sendNow(to: Uint8Array, kind: ContentKind, body: Uint8Array, name: string | undefined, opts: { onion?: number }): { id: Uint8Array; actions: Action[] } {
    if (opts.onion !== undefined && !(Number.isInteger(opts.onion) && opts.onion >= 1 && opts.onion <= Limits.MAX_ONION_RELAYS)) {
      throw new WotError('ERR_BAD_REQUEST', `an onion path has 1..${Limits.MAX_ONION_RELAYS} relays, not ${String(opts.onion)}`, 'use --hops N with N from 1 to 8');
    }
    if (kind !== 'text' && kind !== 'file') throw new WotError('ERR_BAD_REQUEST', `the app sends text or files, not "${kind}"`);
    if (body.length > Limits.MAX_BODY) {
      throw new WotError('ERR_TOO_LARGE', `message body is ${body.length} bytes; the limit is ${Limits.MAX_BODY}`, 'send a smaller file');
    }
    if (equalBytes(to, this.self.entityPub)) throw new WotError('ERR_BAD_REQUEST', 'cannot send a message to yourself');
    const now = this.deps.now();
    const trust = this.store.trust.get(to);
    if (trust?.state === 'revoked') {
      throw new WotError('ERR_REVOKED', `you revoked trust in ${encodeEntityId(to)}`, 'trust it again with: wotrelay trust add <entity-id>');
    }
    const waiting = this.store.outbox.countPendingFor(to);
    if (waiting >= this.cfg.outboxPerRecipient) {
      throw new WotError(
        'ERR_QUEUE_FULL',
        `${waiting} messages to ${fingerprint(to)} are still waiting to be delivered (the limit is ${this.cfg.outboxPerRecipient})`,
        'wotrelay outbox shows them and why they wait; send again once some are delivered',
      );
    }
    const all = this.store.outbox.countPending();
    if (all >= this.cfg.outboxMax) {
      throw new WotError('ERR_QUEUE_FULL', `${all} messages are still waiting to be delivered (the limit is ${this.cfg.outboxMax})`, 'wotrelay outbox shows them and why they wait');
    }
    if (!trust) this.trustUpsert(to, 'sent', now);
    const parents = this.store.convo.heads(to);
    const row = { ...this.newOutboxRow(to, kind, body, name, parents, now), onion: opts.onion ?? null };
    this.store.outbox.insert(row);
    this.store.convo.advance(to, row.hash!, parents, now);
    return { id: row.id, actions: this.transmit(row, now) };
  }

  /** Signs content for `to` and wraps it as a queued outbox row (not yet inserted). */
  private newOutboxRow(to: Uint8Array, kind: OutboxKind, body: Uint8Array, name: string | undefined, parents: Uint8Array[], now: number, fixedId?: Uint8Array): OutboxRow {
    const id = fixedId ?? this.deps.randomBytes(MESSAGE_ID_BYTES);
    const content: Content = { v: 1, id, from: this.self.entityPub, to, ts: now, kind, body, ...(name ? { name } : {}), ...(parents.length > 0 ? { parents } : {}) };
    const c = encodeContent(content);
    const signed = encodeSignedContent({ c, cert: this.self.certBytes, s: sign(this.self.agent, Domain.MESSAGE, c) });
    return {
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
      kind,
      hash: sha256(c),
    };
  }

  /** Queues a receipt or a want for `to` (never shown to its app; needs custody only, no ack). */
  private queueControl(to: Uint8Array, kind: 'receipt' | 'want', body: Uint8Array): Action[] {
    if (this.store.outbox.countPendingFor(to) >= this.cfg.outboxPerRecipient) return [{ type: 'metric', name: 'outbox.control-skipped' }];
    const now = this.deps.now();
    // A peer that writes to us as onions gets our answers as onions too.
    const onion = this.sessions.prefersOnion(to) ? this.cfg.onionHops : null;
    const row = { ...this.newOutboxRow(to, kind, body, undefined, [], now), onion };
    this.store.outbox.insert(row);
    return this.transmit(row, now);
  }

  /**
   * Queues a message of any kind from us to `to` without touching trust or the conversation
   * (agent/lists: post copies with a deterministic id, notices, requests). `onion`: send it
   * in onion mode over that many relays (as `send --onion --hops N`; omitted: clear mode).
   * A message whose id is already in the outbox is sent again instead, in the mode asked for
   * now. Returns queued: false when the recipient's outbox bound is reached (nothing written).
   */
  queueMessage(to: Uint8Array, kind: OutboxKind, body: Uint8Array, opts: { id?: Uint8Array; parents?: Uint8Array[]; onion?: number } = {}): { queued: boolean; actions: Action[] } {
    if (opts.onion !== undefined && !(Number.isInteger(opts.onion) && opts.onion >= 1 && opts.onion <= Limits.MAX_ONION_RELAYS)) {
      throw new WotError('ERR_BAD_REQUEST', `an onion path has 1..${Limits.MAX_ONION_RELAYS} relays, not ${String(opts.onion)}`);
    }
    return this.signer.run(() => this.queueMessageNow(to, kind, body, opts));
  }

  private queueMessageNow(to: Uint8Array, kind: OutboxKind, body: Uint8Array, opts: { id?: Uint8Array; parents?: Uint8Array[]; onion?: number }): { queued: boolean; actions: Action[] } {
    const now = this.deps.now();
    const onion = opts.onion ?? null;
    if (opts.id) {
      let existing = this.store.outbox.get(opts.id);
      if (existing) {
        this.inflight.delete(toHex(existing.id));
        if ((existing.onion ?? null) !== onion) {
          this.store.outbox.setOnion(existing.id, onion, now);
          existing = { ...existing, onion };
        }
        return { queued: true, actions: this.transmit(existing, now) };
      }
    }
    if (this.store.outbox.countPendingFor(to) >= this.cfg.outboxPerRecipient) return { queued: false, actions: [{ type: 'metric', name: 'outbox.full' }] };
    const row = { ...this.newOutboxRow(to, kind, body, undefined, opts.parents ?? [], now, opts.id), onion };
    this.store.outbox.insert(row);
    return { queued: true, actions: this.transmit(row, now) };
  }

  /**
   * Member side of a list: trust it (and dial `addr`), then send a signed subscribe request
   * saying how we want our copies: `onion` relays per copy, 0 = clear mode (PROTOCOL.md 3.12).
   * A request for onion copies travels as an onion itself. Joining again sends a new request:
   * the list keeps the latest preference.
   */
  listJoin(list: Uint8Array, addr: string | undefined, onion = 0): Action[] {
    const body = encodeSubscribe(onion);
    const actions: Action[] = [];
    if (this.store.trust.get(list)?.state !== 'active' || addr !== undefined) actions.push(...this.trustAdd(list, undefined, addr).actions);
    return [...actions, ...this.queueMessage(list, 'subscribe', body, onion > 0 ? { onion } : {}).actions];
  }

  /** Member side: a signed unsubscribe request. */
  listLeave(list: Uint8Array): Action[] {
    return this.queueMessage(list, 'unsubscribe', new Uint8Array(0)).actions;
  }

  /** Member side: ask the list for its `count` most recent posts (its archive). */
  listFetch(list: Uint8Array, count: number): Action[] {
    const n = Math.max(1, Math.min(65535, Math.floor(count)));
    return this.queueMessage(list, 'fetch', new Uint8Array([n >> 8, n & 0xff])).actions;
  }

  /** The app read a message: mark it, and send the sender a read receipt. */
  markRead(id: Uint8Array): Action[] {
    const row = this.store.inbox.get(id);
    if (!row) throw new WotError('ERR_NOT_FOUND', `no message ${toHex(id)} in your inbox`, 'wotrelay inbox lists message ids');
    if (row.read) return [];
    this.store.inbox.markRead(id);
    return this.queueControl(row.from, 'receipt', encodeReceipt('read', [id]));
  }

  /**
   * Sends one outbox row: by a direct link or a cached route; to one of the recipient's
   * mailboxes when discovery found no way to it; else dials, asks where it is and discovers.
   * Each try schedules the next (backoff with jitter); HOLD or an ack reschedules it.
   */
  private transmit(row: OutboxRow, now: number): Action[] {
    if (row.onion !== null && row.onion !== undefined) {
      return this.onion.transmit(row, (detail, short) => [
        // An app message says so in its `sent` step; any other (a list's copy) in a metric and the debug log.
        ...(short ? [{ type: 'metric', name: 'onion.short-path' } as const] : []),
        ...(short && row.kind !== 'text' && row.kind !== 'file' ? [{ type: 'log', level: 'debug', event: 'onion-short-path', fields: { id: toHex(row.id), kind: row.kind, to: fingerprint(row.to), detail } } as const] : []),
        ...this.markSent(row, now, detail),
      ]);
    }
    const idHex = toHex(row.id);
    const mono = this.mono();
    const f = this.inflight.get(idHex, mono);
    if (f && (f.until > mono || this.stillBusy(f, mono))) {
      this.store.outbox.reschedule(row.id, now + (f.until - mono), now);
      return [];
    }
    let fwd = this.fwdlog.get(idHex, mono);
    if (!fwd) {
      fwd = newFwd(null, row.to, now, 0);
      this.fwdlog.set(idHex, fwd, mono + this.cfg.fwdRetentionMs);
    }
    if (f) {
      this.inflight.delete(idHex);
      fwd.failed.add(f.next);
    }
    this.store.outbox.scheduleRetry(row.id, now + this.backoff(row.attempts), now);
    const cert = this.store.certs.latestForEntity(row.to);
    const x25519 = cert ? validCert(cert.cert, now)?.x25519 : undefined;
    let way = x25519 ? this.chooseWay(row.to, [], fwd.failed) : undefined;
    let dep: Uint8Array | undefined;
    const mailboxes = way ? [] : this.mailboxesOf(row.to);
    if (!way && x25519 && mailboxes.length > 0 && this.unreachable.has(toHex(row.to), mono)) {
      dep = this.pickMailbox(row.to, mailboxes, fwd.failed);
      if (dep) way = this.chooseWay(dep, [], fwd.failed);
    }
    if (!way || !x25519) {
      fwd.failed.clear();
      const actions: Action[] = [];
      for (const addr of this.knownAddrs(row.to).slice(0, 3)) actions.push({ type: 'dial', entity: row.to, addr });
      actions.push(...this.askWhereIs(row.to));
      actions.push(...this.discover(row.to));
      if (mailboxes.length > 0) actions.push(...this.discover(mailboxes[row.attempts % mailboxes.length]!));
      return actions;
    }
    const env: Envelope = {
      t: MsgType.ENVELOPE,
      id: row.id,
      to: row.to,
      exp: row.expiresAt,
      route: [],
      body: seal(x25519, this.sessionBody(row, x25519), sealAd(row.id, row.to)),
      hops: [],
      ...(dep ? { dep } : {}),
    };
    return [...this.handOver(env, way, fwd), ...this.markSent(row, now)];
  }

  /**
   * The end-to-end body of an outbox row: its signed content on the forward-secret session
   * with the recipient (set up now if needed). A message the recipient has not acked after
   * several tries, on a session older than a few minutes, starts a fresh one (the recipient may
   * have lost its state).
   */
  private sessionBody(row: OutboxRow, x25519: Uint8Array): Uint8Array {
    const fresh = this.sessions.startFresh(row.to, row.attempts);
    return this.sessions.seal(row.to, x25519, row.envelope, { fresh });
  }

  /** A row was handed to its first hop: 'sent', and the app's messages show the step. */
  private markSent(row: OutboxRow, now: number, detail?: string): Action[] {
    const actions: Action[] = [];
    if (row.state === 'queued') {
      this.store.outbox.setState(row.id, 'sent', now);
      actions.push({ type: 'outbox-state', id: row.id, state: 'sent' });
    }
    if (row.kind === 'text' || row.kind === 'file') actions.push(...this.recordProgress({ id: row.id, status: 'sent', reporter: this.self.entityPub, at: now, ...(detail ? { detail } : {}) }));
    return actions;
  }

  private backoff(attempts: number): number {
    const base = Math.min(this.cfg.maxRetryMs, this.cfg.retryBaseMs * 2 ** Math.min(attempts, 20));
    return this.jitter(base);
  }

  /** When to send a held-but-unacked message again: custodyRetryMs, doubling, within its lifetime. */
  private custodyRetry(attempts: number): number {
    return this.jitter(Math.min(this.cfg.messageTtlMs, this.cfg.custodyRetryMs * 2 ** Math.min(Math.max(0, attempts - 1), 10)));
  }

  /** ±25 % jitter, at least 100 ms. */
  private jitter(base: number): number {
    const r = this.deps.randomBytes(2);
    const j = ((r[0]! * 256 + r[1]!) / 65535 - 0.5) * 0.5;
    return Math.max(100, Math.round(base * (1 + j)));
  }

  private flushOutboxTo(entity: Uint8Array, now: number): Action[] {
    const actions: Action[] = [];
    for (const row of this.store.outbox.pendingFor(entity, 1000)) actions.push(...this.transmit(row, now));
    return actions;
  }

  /**
   * Timer: ring timeouts, custody retries and stalls, due revocations, held messages past
   * their wait, outbox retries and expiry, housekeeping. The daemon calls it every second; the
   * simulator on its virtual clock.
   */
  tick(): Action[] {
    return this.signer.run(() => this.tickNow());
  }

  private tickNow(): Action[] {
    const now = this.deps.now();
    const mono = this.mono();
    const actions: Action[] = this.followClockStep(now, mono);
    // Discoveries: next ring, or give up (then mail for the target may go to its mailboxes).
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
        this.unreachable.set(key, true, mono + this.cfg.maxRetryMs);
        actions.push({ type: 'discovery-failed', target }, { type: 'metric', name: 'discovery.failed' });
        if (this.mailboxesOf(target).length > 0) {
          actions.push(...this.flushOutboxTo(target, now), ...this.flushRelayFor(target));
        }
      }
    }
    // Custody queue: retries after backoff, and hops that never took custody (stalls).
    for (const row of this.store.relayq.due(now, 500)) {
      const idHex = toHex(row.id);
      const f = this.inflight.get(idHex, mono);
      if (f && f.until > mono) continue;
      if (f && this.stillBusy(f, mono)) {
        this.store.relayq.reschedule(row.id, row.waitFor, now + (f.until - mono), { countAttempt: false });
        continue;
      }
      if (f) {
        this.inflight.delete(idHex);
        if (peekType(row.envelope) !== MsgType.ONION) this.fwdFor(row).failed.add(f.next);
        actions.push({ type: 'metric', name: 'relay.stalled' });
      }
      actions.push(...this.moveQueued(row, f !== undefined));
    }
    for (const _id of this.store.relayq.expire(now, 1000)) actions.push({ type: 'metric', name: 'relay.expired' });
    this.store.mailbox.expire(now);
    actions.push(...this.revokeForComplaints(mono));
    actions.push(...this.releaseOverdue(now), ...this.sendWants());
    if (this.list) actions.push(...this.list.tick(now));
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
    this.store.outbox.purgeDone(now - this.cfg.outboxRetentionMs, 1000);
    this.onion.tick(now);
    this.sessions.tick(now);
    this.fwdlog.sweep(mono);
    this.seen.sweep(mono);
    this.inflight.sweep(mono);
    this.store.addrbook.purgeExpired(now);
    if (mono >= this.nextPrune) {
      this.nextPrune = mono + PRUNE_EVERY_MS;
      this.store.certs.prune(now - CERT_CLOCK_SKEW_MS, this.cfg.certsMax, (e) => this.store.trust.get(e)?.state === 'active');
      this.store.addrbook.prune(this.cfg.addrBookMax);
    }
    return actions;
  }

  /**
   * Schedules in the store (outbox and relay-queue retries, the causal wait) are wall-clock
   * times. When the wall clock steps back (a correction, a bad NTP server), they move back by
   * the same amount, so a retry due in 2 s is not put off by the size of the step; the
   * monotonic clock, which rate limits and timeouts use, tells a step from elapsed time. A
   * step forward needs nothing: whatever it makes due is simply tried now.
   */
  private followClockStep(now: number, mono: number): Action[] {
    const offset = now - mono;
    const prev = this.wallOffset;
    this.wallOffset = offset;
    if (prev - offset < CLOCK_STEP_MS) return [];
    const back = prev - offset;
    const moved = this.store.outbox.shiftSchedule(-back) + this.store.relayq.shiftSchedule(-back) + this.store.held.shiftHeldAt(-back);
    return [
      { type: 'metric', name: 'clock.stepped-back' },
      { type: 'log', level: 'warn', event: 'clock-stepped-back', fields: { ms: Math.round(back), rescheduled: moved } },
    ];
  }

  /**
   * Every table this core keeps in memory: how many entries it holds and its bound (the
   * bounds are documented in PROTOCOL.md section 4; the store's tables have theirs in 3.7).
   */
  bounds(): Record<string, { size: number; max: number }> {
    return {
      'forwarding log': this.fwdlog.stats(),
      'query ids': this.seen.stats(),
      'in flight': this.inflight.stats(),
      'unreachable targets': this.unreachable.stats(),
      'wanted parents': this.wanted.stats(),
      'parents to ask for': this.toWant.stats(),
      'neighbours heard from, links gone': this.heardFrom.stats(),
      'mailbox cursors': this.mailCursor.stats(),
      'progress tracks': this.tracks.stats(),
      'where-is pending': this.whereIsPending.stats(),
      'where-is asked': this.whereIsAsked.stats(),
      'redialed next hops': this.redialed.stats(),
      'route cache targets': { size: this.routes.size, max: this.routes.maxSize },
      'discoveries': { size: this.discoveries.size, max: MAX_DISCOVERIES },
      'query buckets': { size: this.queryBuckets.size, max: this.queryBuckets.maxSize },
      'complaint buckets': { size: this.complaintBuckets.size, max: this.complaintBuckets.maxSize },
      'complaint records': { size: this.complaints.size, max: ComplaintTracker.MAX_NEIGHBOURS },
      'pending welcomes': { size: this.pendingWelcome.size, max: MAX_PENDING_WELCOME },
      'evidence': { size: this.evidence.list().length, max: EVIDENCE_MAX },
      ...this.onion.bounds(),
      'onion replay tags (store)': { size: this.store.onionTags.count(), max: this.cfg.onionTagsMax },
      'sessions (store)': { size: this.store.sessions.count(), max: this.cfg.sessionsMax },
    };
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

  /**
   * Names `entity` as one of our mailboxes: trusts it (its agent must be always-on and
   * reachable), announces the new list to every neighbour and the directory (the mailbox
   * opens our account when it sees the announcement) and fetches from it when connected.
   */
  mailboxAdd(entity: Uint8Array, addr: string | undefined): Action[] {
    if (equalBytes(entity, this.self.entityPub)) throw new WotError('ERR_BAD_REQUEST', 'you cannot be your own mailbox', 'name an always-on agent you trust');
    if (this.store.myMailboxes.list().length >= 8 && !this.store.myMailboxes.has(entity)) {
      throw new WotError('ERR_BAD_REQUEST', 'you already have 8 mailboxes, the most an announcement carries', 'remove one first: wotrelay mailbox remove <entity>');
    }
    const now = this.deps.now();
    const actions: Action[] = [];
    const trust = this.store.trust.get(entity);
    if (trust?.state !== 'active' || addr !== undefined) actions.push(...this.trustAdd(entity, undefined, addr).actions);
    this.store.myMailboxes.add(entity, now);
    actions.push(...this.announce());
    const link = this.linkTo(entity);
    if (link !== undefined) actions.push(this.mbFetch(link, entity, 0));
    return actions;
  }

  /** Stops naming `entity` as our mailbox (announced at once; what it still holds can be fetched no more). */
  mailboxRemove(entity: Uint8Array): Action[] {
    if (!this.store.myMailboxes.remove(entity)) {
      throw new WotError('ERR_NOT_FOUND', `${encodeEntityId(entity)} is not one of your mailboxes`, 'wotrelay mailbox list shows them');
    }
    return this.announce();
  }

  /** Our mailboxes, and the accounts we host as a mailbox for others. */
  mailboxes(): {
    mine: Array<{ entity: Uint8Array; connected: boolean }>;
    hosted: Array<{ owner: Uint8Array; messages: number; bytes: number; since: number }>;
  } {
    return {
      mine: this.store.myMailboxes.list().map((entity) => ({ entity, connected: this.isConnected(entity) })),
      hosted: this.store.mailbox.accounts().map((a) => {
        const u = this.store.mailbox.usage(a.owner);
        return { owner: a.owner, messages: u.n, bytes: u.bytes, since: a.createdAt };
      }),
    };
  }

  /** The custody queue and held messages, for `status`. */
  queues(): { relay: { messages: number; bytes: number; byNextHop: Array<{ entity: Uint8Array; messages: number; bytes: number }> }; held: number; limits: { perHop: number; total: number; bytes: number } } {
    const t = this.store.relayq.totals();
    return {
      relay: { messages: t.n, bytes: t.bytes, byNextHop: this.store.relayq.perWaitFor(10).map((r) => ({ entity: r.waitFor, messages: r.n, bytes: r.bytes })) },
      held: this.store.held.count(),
      limits: { perHop: this.cfg.relayQueuePerHop, total: this.cfg.relayQueueMax, bytes: this.cfg.relayQueueMaxBytes },
    };
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

/**
 * The key of a query id in `seen`: its 16 bytes two to a UTF-16 code unit (8 code units; other
 * lengths, which the wire does not carry, in hex after a mark, so never 8 long). Made in JS:
 * the hex string was a native call per query received, ~5 % of a simulated discovery.
 */
function qidKey(b: Uint8Array): string {
  if (b.length !== 16) return `x${toHex(b)}`;
  return String.fromCharCode(
    b[0]! | (b[1]! << 8),
    b[2]! | (b[3]! << 8),
    b[4]! | (b[5]! << 8),
    b[6]! | (b[7]! << 8),
    b[8]! | (b[9]! << 8),
    b[10]! | (b[11]! << 8),
    b[12]! | (b[13]! << 8),
    b[14]! | (b[15]! << 8),
  );
}

/** The last query target turned into hex (see queryTargetHex): a copy of its bytes, and the string. */
let lastTarget: Uint8Array | null = null;
let lastTargetHex = '';

/**
 * toHex of a route query's target, remembering the last one (any core in this process): a
 * flood brings every agent it reaches the same target, and the same string object (its hash
 * kept in it) then serves the self check and the byEntity look-up, where a fresh 64-character
 * string is hashed again each time (the encoding and that hash were ~5 % of a simulated
 * discovery). Compared byte for byte with a private copy, so whatever the caller does with its
 * array later, the answer is the hex of these bytes.
 */
function queryTargetHex(b: Uint8Array): string {
  const c = lastTarget;
  if (c !== null && c.length === b.length) {
    let i = 0;
    while (i < c.length && c[i] === b[i]) i++;
    if (i === c.length) return lastTargetHex;
  }
  lastTargetHex = toHex(b);
  lastTarget = b.slice();
  return lastTargetHex;
}

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

