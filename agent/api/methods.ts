/**
 * The local JSON-RPC 2.0 API between the CLI (or an app) and the agent daemon: method
 * names with their parameter and result types. Transport: newline-delimited JSON over a
 * Unix socket (mode 0600) in the agent's home. Documented in README.md ("Local API").
 */

export interface TrustEntryView {
  entity: string;
  fingerprint: string;
  petname: string | null;
  how: 'manual' | 'invite' | 'invited' | 'sent';
  state: 'active' | 'revoked';
  addr: string | null;
  addedAt: number;
  connected: boolean;
}

export interface PeerView {
  entity: string;
  agent: string;
  fingerprint: string;
  petname: string | null;
  remoteAddress: string;
  direction: 'in' | 'out';
  since: number;
}

export interface StatusResult {
  entity: string;
  fingerprint: string;
  agent: string;
  version: string;
  pid: number;
  home: string;
  listen: string[];
  startedAt: number;
  peers: number;
  trusted: number;
  inbox: number;
  outboxPending: number;
  /** Counters: rejected handshakes, bad frames, untrusted peers, … keyed by error code or event. */
  metrics: Record<string, number>;
  /** Neighbours revoked automatically after complaints (newest last). */
  revocations: RevocationView[];
  /** How this agent can be reached from outside, and why we think so. */
  reachability: ReachabilityView;
  /** What this agent holds for others (custody queue) and what waits for its causal parents. */
  queues: QueuesView;
  /** Our sent text/file messages (not receipts) by state; every state is present, 0 when none. */
  outboxByState: Record<OutboxState, number>;
  /** How many mailboxes we named (mine) and how many accounts we host for others (hosted). */
  mailboxes: { mine: number; hosted: number };
  /** Open links, connections still in their handshake (and from how many addresses), and the caps. Absent from older daemons. */
  connections?: {
    links: number;
    pendingHandshakes: number;
    /** Bytes received on those connections and held (at most one handshake frame each: 65,537 bytes). */
    pendingBytes: number;
    pendingAddresses: number;
    maxPendingHandshakes: number;
    maxConnectionsPerAddress: number;
    maxLinks: number;
  };
  /** The daemon process's memory in bytes: resident set, V8 heap in use, array buffers. */
  memory?: { rss: number; heapUsed: number; arrayBuffers: number };
  /** Every in-memory table of the daemon and its core: entries held and the bound. Absent from older daemons. */
  tables?: Record<string, { size: number; max: number }>;
  /** Envelopes for us dropped for a broken hop chain or signature: how many, and the newest kept as evidence. */
  evidence?: { total: number; recent: EvidenceView[] };
}

/**
 * A dropped envelope kept as evidence: who handed it over, why it was refused, and its signed
 * hop chain (hex) with the body's sha256, so each hop signature can be checked again.
 */
export interface EvidenceView {
  at: number;
  from: string;
  fromFingerprint: string;
  code: string;
  reason: string;
  id: string;
  to: string;
  route: string[];
  bodySha256: string;
  hops: Array<{ agent: string; next: string; sig: string; cert?: string }>;
}

/** The custody queue of a relay: envelopes held until their next hop takes them. */
export interface QueuesView {
  relay: {
    messages: number;
    bytes: number;
    /** The next hops (or recipients, or mailboxes) with the most messages waiting, largest first. */
    byNextHop: Array<{ entity: string; fingerprint: string; petname: string | null; messages: number; bytes: number }>;
  };
  /** Messages received but held until their causal parents arrive (or the wait times out). */
  held: number;
  /** The bounds: messages per next hop, messages in all, bytes in all. */
  limits: { perHop: number; total: number; bytes: number };
}

/** A mailbox we named: an always-on agent that stores our messages while we are away. */
export interface MailboxView {
  entity: string;
  fingerprint: string;
  petname: string | null;
  connected: boolean;
}

/** An account we host as a mailbox for someone who named us. */
export interface HostedMailboxView {
  owner: string;
  fingerprint: string;
  petname: string | null;
  /** Messages stored for the owner now, and their size. */
  messages: number;
  bytes: number;
  /** When the account was opened (ms). */
  since: number;
}

export interface ReachabilityView {
  /** direct: a public address; via-relay: private addresses, public neighbours relay; unknown: neither yet. */
  mode: 'direct' | 'upnp' | 'via-relay' | 'unknown';
  /** Entity ids of the neighbours relaying for us (via-relay only). */
  relays: string[];
  why: string;
}

export interface InboxItem {
  id: string;
  from: string;
  fromName: string | null;
  fromFingerprint: string;
  receivedAt: number;
  sentAt: number;
  kind: 'text' | 'file';
  text?: string;
  name?: string;
  size: number;
  /** The verified path, sender first: entity ids with petnames where known. Empty for an onion message (nobody knows its path). */
  path: Array<{ entity: string; name: string | null; fingerprint: string }>;
  /** True when it came as an onion (onion mode): its path is unknown by design. */
  onion?: boolean;
  seq: number;
  /** Hash of the signed content (hex), what later messages name as their parent; null for old messages. */
  hash: string | null;
  /** Causal parents named by the sender (hex hashes of earlier messages). */
  parents: string[];
  /** Parents given up on (hex): they never arrived and the message was shown without them. */
  gap: string[];
  /** A list post: who wrote it (its signature verified); `from` is then the list. */
  author?: { entity: string; name: string | null; fingerprint: string };
  /** A list post: the list it came through (the same entity as `from`). */
  via?: { entity: string; name: string | null; fingerprint: string };
}

/**
 * Delivery state of a sent message, in order: queued (no way yet), sent (handed to the first
 * hop), relayed (a hop holds it, waiting for the recipient's ack), delivered, read; failed and
 * expired are final.
 */
export type OutboxState = 'queued' | 'sent' | 'relayed' | 'delivered' | 'read' | 'failed' | 'expired';

/** Every OutboxState in display order. */
export const OUTBOX_STATES: readonly OutboxState[] = ['queued', 'sent', 'relayed', 'delivered', 'read', 'failed', 'expired'];

/**
 * text and file are the app's messages; receipt and want are control messages the agent
 * sends itself; subscribe, unsubscribe and fetch are requests to a mailing list; post is a
 * list's copy of a post to a member, notice a list's word to one member (welcome, refusal).
 */
export type OutboxKind = 'text' | 'file' | 'receipt' | 'want' | 'post' | 'subscribe' | 'unsubscribe' | 'fetch' | 'notice';

export interface SendResult {
  id: string;
  to: string;
  state: OutboxState;
}

/** One step of a message's journey, as the sender sees it (from signed reports). */
export interface ProgressItem {
  id: string;
  /**
   * A hop's signed report (forwarded, queued, rerouted, delivered, stored; in onion mode also
   * stalled: the hop's next hop did not take it in time), or: sent (handed to the first hop),
   * relayed (a hop took custody), refused (a hop refused custody; see detail), read (the
   * recipient's read receipt).
   */
  status: 'forwarded' | 'queued' | 'rerouted' | 'delivered' | 'stored' | 'stalled' | 'sent' | 'relayed' | 'refused' | 'read';
  reporter: string;
  reporterName: string | null;
  reporterFingerprint: string;
  at: number;
  /** Why, e.g. the refusal's error code and reason. */
  detail?: string;
}

export interface RevocationView {
  entity: string;
  fingerprint: string;
  petname: string | null;
  complainants: number;
  at: number;
}

export interface OutboxItem {
  id: string;
  to: string;
  toName: string | null;
  state: OutboxState;
  kind: OutboxKind;
  /** Hash of the signed content (hex); null for old rows. */
  hash: string | null;
  createdAt: number;
  updatedAt: number;
  attempts: number;
  /** The last refusal or why it waits. */
  error: string | null;
}

/** How a mailing list treats posts: only its owner posts, every member posts, or the owner approves each post. */
export type ListPolicy = 'announce' | 'discuss' | 'moderated';

/** Every ListPolicy, in display order. */
export const LIST_POLICIES: readonly ListPolicy[] = ['announce', 'discuss', 'moderated'];

/** A list name: 1–32 characters of a-z, 0-9 and '-'; also the list's directory under <home>/lists/. */
export const LIST_NAME_RE = /^[a-z0-9-]{1,32}$/;

/** The rule of LIST_NAME_RE, for error messages. */
export const LIST_NAME_RULE = 'a list name is 1 to 32 characters of a-z, 0-9 and "-"';

export type ListMemberState = 'member' | 'pending' | 'banned';

/** Every ListMemberState, in display order. */
export const LIST_MEMBER_STATES: readonly ListMemberState[] = ['member', 'pending', 'banned'];

/** A list created under this home (result of list.create). */
export interface ListCreated {
  name: string;
  entity: string;
  fingerprint: string;
  policy: ListPolicy;
  /** The list's own agent home: <home>/lists/<name>. */
  home: string;
  /** A multi-use invite code of the list: redeeming it (wotrelay accept) subscribes. */
  invite: string;
  inviteExpiresAt: number;
  inviteUses: number;
}

/** A list hosted in this daemon's process (its home is <home>/lists/<name>). */
export interface HostedListView {
  name: string;
  entity: string;
  fingerprint: string;
  policy: ListPolicy;
  running: boolean;
  /** Where its agent listens (empty when not running). */
  listen: string[];
  /** Why it is not running, when it failed to start. */
  error?: string;
}

/** What a list agent is (list.info). */
export interface ListInfoView {
  name: string;
  policy: ListPolicy;
  entity: string;
  fingerprint: string;
  owner: string;
  ownerFingerprint: string;
}

/** One member (or pending or banned entity) of a list, as the list agent sees it. */
export interface ListMemberView {
  entity: string;
  fingerprint: string;
  petname: string | null;
  state: ListMemberState;
  role: 'owner' | 'member';
  joinedAt: number;
  updatedAt: number;
  /** Muted (posts refused) until then; 0 = not muted. */
  mutedUntil: number;
  /** The reason of a ban, or what came with a subscribe request. */
  note: string | null;
  /** How the member asked for its copies: 0 = clear mode, N = onion mode over N relays. */
  onion: number;
}

/** The outcome of list.add / remove / approve / ban for one entity. */
export interface ListChangeResult {
  entity: string;
  fingerprint: string;
  petname: string | null;
  /** The entity's state afterwards; 'removed' when it is no longer on the list at all. */
  state: ListMemberState | 'removed';
}

/** A recent post of a list and how far its copies got. */
export interface ListPostView {
  postId: string;
  author: string;
  authorName: string | null;
  authorFingerprint: string;
  at: number;
  /** Copies not sent yet, sent but not acknowledged, acknowledged, given up. */
  waiting: number;
  queued: number;
  delivered: number;
  failed: number;
}

export interface ListStatusView {
  name: string;
  policy: ListPolicy;
  entity: string;
  fingerprint: string;
  owner: string;
  ownerFingerprint: string;
  members: number;
  pending: number;
  banned: number;
  muted: number;
  posts: ListPostView[];
}

/** A member-side request (list.join / leave / fetch) queued for the list. */
export interface ListRequestResult {
  list: string;
  fingerprint: string;
  name: string | null;
  request: 'subscribe' | 'unsubscribe' | 'fetch';
  /** list.fetch: how many recent posts were asked for. */
  count?: number;
  /** list.join: the copies asked for: 0 = clear mode, N = onion mode over N relays. */
  onion?: number;
}

export interface Methods {
  status: { params: Record<string, never>; result: StatusResult };
  id: { params: Record<string, never>; result: { entity: string; fingerprint: string; agent: string } };
  peers: { params: Record<string, never>; result: PeerView[] };
  'trust.add': { params: { entity: string; name?: string; addr?: string }; result: TrustEntryView };
  'trust.revoke': { params: { who: string }; result: TrustEntryView };
  'trust.list': { params: Record<string, never>; result: TrustEntryView[] };
  'invite.create': { params: { uses?: number; expiresInMs?: number }; result: { code: string; expiresAt: number; uses: number } };
  'invite.accept': { params: { code: string; name?: string }; result: TrustEntryView };
  /** `onion`: wrap it in one layer per hop (onion mode) over `hops` relays (1..8, default 2). */
  send: { params: { to: string; text?: string; file?: { name: string; data: string /* base64 */ }; onion?: boolean; hops?: number }; result: SendResult };
  /** Waits until the message reaches `until` or timeoutMs passes; returns the latest state. */
  'send.wait': { params: { id: string; until: 'sent' | 'relayed' | 'delivered'; timeoutMs: number }; result: SendResult };
  inbox: { params: { afterSeq?: number; limit?: number; from?: string }; result: InboxItem[] };
  /** One received message with its full body (base64), e.g. to save a file. */
  'inbox.get': { params: { id: string }; result: { item: InboxItem; data: string } };
  /** Marks a received message read and sends its sender a read receipt. */
  'inbox.read': { params: { id: string }; result: { id: string; read: true } };
  /** The recorded journey of one of our messages. */
  track: { params: { id: string }; result: ProgressItem[] };
  /** Past progress of a message, then `progress` notifications (params: ProgressItem) as reports arrive. */
  follow: { params: { id: string }; result: ProgressItem[] };
  /** Complain about a message in our inbox; the signed complaint walks back its path. */
  complain: { params: { id: string; reason?: string }; result: { id: string; sentTo: string } };
  /** Find routes to an entity (route discovery); waits up to timeoutMs. */
  discover: { params: { to: string; timeoutMs?: number }; result: { to: string; routes: Array<Array<{ entity: string; name: string | null; fingerprint: string }>> } };
  /** Sent messages, newest first: text/file only unless `all` (then receipts, wants and list messages too); optionally only some states. */
  outbox: { params: { limit?: number; all?: boolean; state?: OutboxState[] }; result: OutboxItem[] };
  /** Names an entity (id or petname) as one of our mailboxes; returns our mailboxes. */
  'mailbox.add': { params: { who: string; addr?: string }; result: MailboxView[] };
  /** Stops naming an entity as our mailbox; returns our mailboxes. */
  'mailbox.remove': { params: { who: string }; result: MailboxView[] };
  /** Our mailboxes, and the accounts we host for others. */
  'mailbox.list': { params: Record<string, never>; result: { mine: MailboxView[]; hosted: HostedMailboxView[] } };
  /** Subscribes this connection to `message` notifications (params: InboxItem) for new inbox items. */
  watch: { params: { afterSeq?: number }; result: { subscribed: true } };
  shutdown: { params: Record<string, never>; result: { ok: true } };
  /** Creates a mailing list hosted by this daemon, starts it, trusts it and returns a multi-use invite of it. */
  'list.create': { params: { name: string; policy?: ListPolicy }; result: ListCreated };
  /** The lists hosted by this daemon. */
  'list.hosted': { params: Record<string, never>; result: HostedListView[] };
  /**
   * Member side: trust a list (and dial addr) and send it a signed subscribe request; `onion`:
   * ask for every copy in onion mode over `hops` relays (1..8, default 2). Joining again
   * changes it (without `onion`: back to clear copies).
   */
  'list.join': { params: { list: string; addr?: string; onion?: boolean; hops?: number }; result: ListRequestResult };
  /** Member side: send a list a signed unsubscribe request. */
  'list.leave': { params: { list: string }; result: ListRequestResult };
  /** Member side: ask a list for its `count` most recent posts (default 50, at most 1000). */
  'list.fetch': { params: { list: string; count?: number }; result: ListRequestResult };
  /** List agent only: its name, policy and owner. */
  'list.info': { params: Record<string, never>; result: ListInfoView };
  /** List agent only: members, pending requests and bans (all, or one state). */
  'list.members': { params: { state?: ListMemberState }; result: ListMemberView[] };
  /** List agent only: make an entity (id or petname) a member, and trust it. */
  'list.add': { params: { who: string }; result: ListChangeResult };
  /** List agent only: take an entity off the list. */
  'list.remove': { params: { who: string }; result: ListChangeResult };
  /** List agent only: accept a pending subscribe request. */
  'list.approve': { params: { who: string }; result: ListChangeResult };
  /** List agent only: ban an entity (it cannot rejoin, its posts are refused). */
  'list.ban': { params: { who: string; reason?: string }; result: ListChangeResult };
  /** List agent only: policy, counts and recent posts with their delivery counts. */
  'list.status': { params: Record<string, never>; result: ListStatusView };
}

export type MethodName = keyof Methods;
export type Params<M extends MethodName> = Methods[M]['params'];
export type Result<M extends MethodName> = Methods[M]['result'];

/** JSON-RPC error codes used by the daemon (data.code carries the WotError code). */
export const RpcErrors = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  /** Application error: `data` is `{ code: ErrorCode, hint?: string }`. */
  APP_ERROR: 1,
} as const;
