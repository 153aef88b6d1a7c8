/**
 * Typed wire messages, one interface per message. Byte fields are Uint8Array on decode
 * (msgpack bin). Validators in messages.ts turn `unknown` into these types or throw.
 */
import type { ErrorCode } from './constants.js';
import type { MsgType } from './constants.js';

/** Payload carried inside Noise handshake messages 2 (responder) and 3 (initiator). */
export interface HandshakePayload {
  v: 1;
  /** The sender's agent certificate (185 bytes, agent/identity/cert.ts). */
  cert: Uint8Array;
  /** Initiator only: proof of an invite secret, bound to the handshake hash. */
  invite?: { key: Uint8Array; proof: Uint8Array };
  /** Addresses ("host:port", at most 8, each at most 64 chars) the sender can be dialled at. */
  addrs?: string[];
}

export interface Ping { t: typeof MsgType.PING; n: number }
export interface Pong { t: typeof MsgType.PONG; n: number }
export interface Close { t: typeof MsgType.CLOSE; code: ErrorCode; msg?: string }
/** Inviter → acceptor after an invite is redeemed (trust is committed on the inviter's side). */
export interface Welcome { t: typeof MsgType.WELCOME; name?: string }

/**
 * One entry of the signed hop chain. `s`, `p`, `x` are a batch signature (PROTOCOL.md 3.16):
 * `a` signed the root of a Merkle tree one of whose leaves, `l`, is this hop's item
 * (Domain.HOP) id || sha256(body) || l of the previous entry || n || a; `p`/`x` prove the
 * leaf is under that root.
 */
export interface HopEntry {
  /** Agent Ed25519 public key of the signer. */
  a: Uint8Array;
  /** Entity public key of the next hop this entry hands the message to. */
  n: Uint8Array;
  /** The leaf of this hop's item (the recipient recomputes it); the next hop's item names it. */
  l: Uint8Array;
  /** Signature by `a` over its batch's root (Domain.BATCH). */
  s: Uint8Array;
  /** Inclusion proof: sibling hashes from the leaf up (absent for a batch of one). */
  p?: Uint8Array[];
  /** Inclusion proof: bit i set when sibling i is on the left (absent means 0). */
  x?: number;
  /** Optional agent certificate of `a` (so the recipient can map agent → entity). */
  c?: Uint8Array;
}

/** A routed message. */
export interface Envelope {
  t: typeof MsgType.ENVELOPE;
  /** Message id, 16 random bytes. */
  id: Uint8Array;
  /** Recipient entity public key. */
  to: Uint8Array;
  /** Expiry, ms since epoch. */
  exp: number;
  /** Remaining route (entity keys) after the receiving hop; empty when the receiver is the recipient. */
  route: Uint8Array[];
  /** Sealed end-to-end body (crypto/seal.ts). */
  body: Uint8Array;
  /** Hop chain, sender first. */
  hops: HopEntry[];
  /**
   * Mailbox deposit: the recipient is unreachable, so this envelope travels to the mailbox
   * entity `dep` (one the recipient named in its announcement), which stores it for the
   * recipient to fetch. Not covered by hop signatures (a routing hint, like `route`).
   */
  dep?: Uint8Array;
}

/**
 * Custody accepted: the sender of HOLD has made envelope `id` durable and takes over the
 * responsibility to move it on; the previous hop may forget its copy. Link-local (the link
 * authenticates it), never passed on.
 */
export interface Hold {
  t: typeof MsgType.HOLD;
  id: Uint8Array;
}

/** Custody refused for envelope `id` (e.g. ERR_QUEUE_FULL): the previous hop keeps it. Link-local. */
export interface Refuse {
  t: typeof MsgType.REFUSE;
  id: Uint8Array;
  code: ErrorCode;
  msg?: string;
}

/**
 * The owner asks a mailbox for stored envelopes with seq > after (at most max). Sent over
 * a direct link; `s` signs, with Domain.MAILBOX, utf8("fetch") || mailbox entity (32) ||
 * u64(after) || u64(ts) by the owner's agent key (the link's key).
 */
export interface MbFetch {
  t: typeof MsgType.MB_FETCH;
  after: number;
  max: number;
  ts: number;
  s: Uint8Array;
}

/** One stored envelope: mailbox seq `q` and the encoded ENVELOPE `e` (its last hop names the owner). */
export interface MailItem {
  q: number;
  e: Uint8Array;
}

/** A page of stored envelopes, in seq order, as the answer to MB_FETCH or pushed on arrival. */
export interface MbItems {
  t: typeof MsgType.MB_ITEMS;
  items: MailItem[];
  /** True when more items follow (fetch again with after = the last q). */
  more: boolean;
}

/**
 * The owner has committed these items: the mailbox deletes them. `s` signs, with Domain.MAILBOX,
 * utf8("delete") || mailbox entity (32) || u64(each seq) || u64(ts).
 */
export interface MbDelete {
  t: typeof MsgType.MB_DELETE;
  seqs: number[];
  ts: number;
  s: Uint8Array;
}

export type AckStatus = 'delivered' | 'read';

/** Signed end-to-end acknowledgement from the recipient's agent. */
export interface Ack {
  t: typeof MsgType.ACK;
  id: Uint8Array;
  st: AckStatus;
  /** Recipient agent public key. */
  by: Uint8Array;
  /** Batch signature by `by` whose item (Domain.ACK) is id || utf8(st): root signature… */
  s: Uint8Array;
  /** Recipient agent certificate. */
  c: Uint8Array;
  /** …and inclusion proof (PROTOCOL.md 3.16). */
  p?: Uint8Array[];
  x?: number;
  /**
   * A ratchet step for the sender: an encoded SessionMessage with an empty plaintext on the
   * current session (PROTOCOL.md 3.14). Not covered by `s`; the session AEAD authenticates it.
   */
  r?: Uint8Array;
}

/** Progress of a message at one hop, reported back to the sender. */
export type ReportStatus = 'forwarded' | 'queued' | 'rerouted' | 'delivered' | 'stored';

/**
 * Signed progress report. Walks back along the forwarding logs to the sender. `s`, `p`, `x`
 * are a batch signature (PROTOCOL.md 3.16) by the agent of certificate `c` whose item
 * (Domain.REPORT) is id || utf8(st) || u64(ts).
 */
export interface Report {
  t: typeof MsgType.REPORT;
  id: Uint8Array;
  st: ReportStatus;
  ts: number;
  c: Uint8Array;
  s: Uint8Array;
  p?: Uint8Array[];
  x?: number;
}

/**
 * Signed complaint by the recipient about a message. Walks back along the forwarding logs.
 * `s` signs id || utf8(reason) || u64(ts) with Domain.COMPLAINT by the agent of certificate `c`.
 */
export interface Complaint {
  t: typeof MsgType.COMPLAINT;
  id: Uint8Array;
  reason: string;
  ts: number;
  c: Uint8Array;
  s: Uint8Array;
  /** Hops walked so far (unsigned; each hop adds one before passing it back). */
  w: number;
}

/**
 * Sent by a hop that revoked one of its own neighbours because of complaints, to the
 * neighbours those complaints came from: the source is cut off, do not blame me for it.
 */
export interface Quench {
  t: typeof MsgType.QUENCH;
  /** Entity that was revoked. */
  about: Uint8Array;
  ts: number;
}

/** "Who relays to `target`?" — flooded to trusted neighbours; carries nothing about the asker. */
export interface RouteQuery {
  t: typeof MsgType.ROUTE_QUERY;
  qid: Uint8Array;
  target: Uint8Array;
  ttl: number;
}

/**
 * One signed entry of a route reply. `s` signs, with Domain.ROUTE,
 * qid || target || H(previous entry) (zeros for the first) || n, where H(e) = sha256(c || n || s).
 */
export interface PathEntry {
  /** Agent certificate of the hop (carries its entity and X25519 key). */
  c: Uint8Array;
  /** Entity the reply is handed to (the next hop back toward the asker). */
  n: Uint8Array;
  s: Uint8Array;
}

export interface RouteReply {
  t: typeof MsgType.ROUTE_REPLY;
  qid: Uint8Array;
  target: Uint8Array;
  /** Entries from the responder (first) back toward the asker (last). */
  path: PathEntry[];
  /** The target's agent certificate when the responder is a neighbour of the target. */
  tc?: Uint8Array;
}

/** A neighbour's own signed announcement (agent/identity/announce.ts): where it can be reached. */
export interface Announce {
  t: typeof MsgType.ANNOUNCE;
  a: Uint8Array;
}

/** "Where is `entity`?" asked of a trusted neighbour, answered from its address book. */
export interface WhereIs {
  t: typeof MsgType.WHERE_IS;
  qid: Uint8Array;
  entity: Uint8Array;
}

/** The answer: the newest announcement the neighbour holds, if any. */
export interface HereIs {
  t: typeof MsgType.HERE_IS;
  qid: Uint8Array;
  entity: Uint8Array;
  a?: Uint8Array;
}

/**
 * An onion on one link (PROTOCOL.md 3.13). `id` is this link's message id (each hop derives
 * the next from its layer), `o` the fixed-size packet, `s` the handing hop's signature
 * (a batch of one, path.ts: over the leaf of id || sha256(o) || 0^32 || the receiving entity ||
 * the signer's agent key); the signer is
 * the link's peer, so neither its key nor the receiver is repeated on the wire.
 */
export interface Onion {
  t: typeof MsgType.ONION;
  id: Uint8Array;
  o: Uint8Array;
  s: Uint8Array;
}

/**
 * A report or the recipient's ack walking back toward an onion's sender, re-encrypted at
 * every hop (crypto/onion.ts): `b` the 16-byte block, `p` the sealed fixed-size plaintext.
 */
export interface OnionBack {
  t: typeof MsgType.ONION_BACK;
  id: Uint8Array;
  b: Uint8Array;
  p: Uint8Array;
}

/**
 * The recipient's complaint about an onion message, walking back hop by hop. `cs` is the
 * complaint secret from the recipient's layer, `k` the relay count it was told; each relay
 * checks both against its own layer. `s` signs, with Domain.ONION_COMPLAINT,
 * cs || u8(k) || utf8(reason) || u64(ts) by the agent of certificate `c`; `w` (unsigned) counts hops walked.
 */
export interface OnionComplaint {
  t: typeof MsgType.ONION_COMPLAINT;
  id: Uint8Array;
  cs: Uint8Array;
  k: number;
  reason: string;
  ts: number;
  c: Uint8Array;
  s: Uint8Array;
  w: number;
}

export type WireMessage =
  | Ping
  | Pong
  | Close
  | Welcome
  | Envelope
  | Ack
  | Report
  | Complaint
  | Quench
  | RouteQuery
  | RouteReply
  | Announce
  | WhereIs
  | HereIs
  | Hold
  | Refuse
  | MbFetch
  | MbItems
  | MbDelete
  | Onion
  | OnionBack
  | OnionComplaint;

/** The signed inner of a sealed body: content bytes + sender agent cert + signature. */
export interface SignedContent {
  /** Exact msgpack bytes of a Content object; the signature covers these bytes. */
  c: Uint8Array;
  /** Sender agent certificate. */
  cert: Uint8Array;
  /** Signature by the sender agent key, Domain.MESSAGE, over `c`. */
  s: Uint8Array;
}

/**
 * A Double Ratchet message (PROTOCOL.md 3.14): the end-to-end body of a message on a
 * forward-secret session. `i` is present until the initiator has heard back on the session:
 * its one-time key `ek`, the recipient key `ik` it was made for, and `ts`, the session's rank.
 */
export interface SessionMessage {
  v: 1;
  sid: Uint8Array;
  dh: Uint8Array;
  pn: number;
  n: number;
  i?: { ek: Uint8Array; ik: Uint8Array; ts: number };
  ct: Uint8Array;
}

/**
 * 'text' and 'file' are for the app. 'receipt' (body: 1 status byte, 1 = delivered, 2 = read,
 * then 16-byte message ids) tells the sender its messages arrived when no reverse path exists
 * (fetched from a mailbox) or were read. 'want' (body: 32-byte content hashes) asks the sender
 * to send again the causal parents the recipient is missing. Neither is shown to the app.
 * Mailing lists (agent/lists, PROTOCOL.md 3.12): 'post' (list → subscriber; body: the
 * author's signed content bytes, verified by the subscriber), 'subscribe' and 'unsubscribe'
 * (member → list), 'fetch' (member → list; body: u16 count of recent archived posts wanted),
 * 'notice' (list → one member: UTF-8 text such as "welcome" or why a post was refused; shown
 * to the app as text but outside the conversation's causal order).
 */
export type ContentKind = 'text' | 'file' | 'receipt' | 'want' | 'post' | 'subscribe' | 'unsubscribe' | 'fetch' | 'notice';

export interface Content {
  v: 1;
  id: Uint8Array;
  from: Uint8Array;
  to: Uint8Array;
  /** Sender's wall clock at send, ms. */
  ts: number;
  kind: ContentKind;
  body: Uint8Array;
  /** File name for kind 'file'. */
  name?: string;
  /** Hashes (sha256 of c) of parent messages in the conversation. */
  parents?: Uint8Array[];
}
