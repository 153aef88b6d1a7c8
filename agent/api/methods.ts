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
}

export interface SendResult {
  id: string;
  to: string;
  state: 'queued' | 'sent' | 'delivered' | 'read' | 'failed' | 'expired';
}

/** One step of a message's journey, as the sender sees it (from signed reports). */
export interface ProgressItem {
  id: string;
  status: 'sent' | 'forwarded' | 'queued' | 'rerouted' | 'delivered' | 'stored' | 'acked';
  reporter: string;
  reporterName: string | null;
  reporterFingerprint: string;
  at: number;
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
  state: SendResult['state'];
  createdAt: number;
  updatedAt: number;
  attempts: number;
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
  'send.wait': { params: { id: string; until: 'sent' | 'delivered'; timeoutMs: number }; result: SendResult };
  inbox: { params: { afterSeq?: number; limit?: number; from?: string }; result: InboxItem[] };
  /** One received message with its full body (base64), e.g. to save a file. */
  'inbox.get': { params: { id: string }; result: { item: InboxItem; data: string } };
  /** The recorded journey of one of our messages. */
  track: { params: { id: string }; result: ProgressItem[] };
  /** Past progress of a message, then `progress` notifications (params: ProgressItem) as reports arrive. */
  follow: { params: { id: string }; result: ProgressItem[] };
  /** Complain about a message in our inbox; the signed complaint walks back its path. */
  complain: { params: { id: string; reason?: string }; result: { id: string; sentTo: string } };
  /** Find routes to an entity (route discovery); waits up to timeoutMs. */
  discover: { params: { to: string; timeoutMs?: number }; result: { to: string; routes: Array<Array<{ entity: string; name: string | null; fingerprint: string }>> } };
  outbox: { params: { limit?: number }; result: OutboxItem[] };
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
