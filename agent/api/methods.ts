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
  /** The verified path, sender first: entity ids with petnames where known. */
  path: Array<{ entity: string; name: string | null; fingerprint: string }>;
  seq: number;
  /** Hash of the signed content (hex), what later messages name as their parent; null for old messages. */
  hash: string | null;
  /** Causal parents named by the sender (hex hashes of earlier messages). */
  parents: string[];
  /** Parents given up on (hex): they never arrived and the message was shown without them. */
  gap: string[];
}

/**
 * Delivery state of a sent message, in order: queued (no way yet), sent (handed to the first
 * hop), relayed (a hop holds it, waiting for the recipient's ack), delivered, read; failed and
 * expired are final.
 */
export type OutboxState = 'queued' | 'sent' | 'relayed' | 'delivered' | 'read' | 'failed' | 'expired';

/** Every OutboxState in display order. */
export const OUTBOX_STATES: readonly OutboxState[] = ['queued', 'sent', 'relayed', 'delivered', 'read', 'failed', 'expired'];

/** text and file are the app's messages; receipt and want are control messages the agent sends itself. */
export type OutboxKind = 'text' | 'file' | 'receipt' | 'want';

export interface SendResult {
  id: string;
  to: string;
  state: OutboxState;
}

/** One step of a message's journey, as the sender sees it (from signed reports). */
export interface ProgressItem {
  id: string;
  /**
   * A hop's signed report (forwarded, queued, rerouted, delivered, stored), or: sent (handed
   * to the first hop), relayed (a hop took custody), refused (a hop refused custody; see
   * detail), read (the recipient's read receipt).
   */
  status: 'forwarded' | 'queued' | 'rerouted' | 'delivered' | 'stored' | 'sent' | 'relayed' | 'refused' | 'read';
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

export interface Methods {
  status: { params: Record<string, never>; result: StatusResult };
  id: { params: Record<string, never>; result: { entity: string; fingerprint: string; agent: string } };
  peers: { params: Record<string, never>; result: PeerView[] };
  'trust.add': { params: { entity: string; name?: string; addr?: string }; result: TrustEntryView };
  'trust.revoke': { params: { who: string }; result: TrustEntryView };
  'trust.list': { params: Record<string, never>; result: TrustEntryView[] };
  'invite.create': { params: { uses?: number; expiresInMs?: number }; result: { code: string; expiresAt: number; uses: number } };
  'invite.accept': { params: { code: string; name?: string }; result: TrustEntryView };
  send: { params: { to: string; text?: string; file?: { name: string; data: string /* base64 */ } }; result: SendResult };
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
  /** Sent messages, newest first: text/file only unless `all` (then receipts and wants too); optionally only some states. */
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
