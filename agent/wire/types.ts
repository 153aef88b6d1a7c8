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

/** One entry of the signed hop chain. */
export interface HopEntry {
  /** Agent Ed25519 public key of the signer. */
  a: Uint8Array;
  /** Entity public key of the next hop this entry hands the message to. */
  n: Uint8Array;
  /** Signature by `a`, Domain.HOP, over id || sha256(body) || prevEntryHash || n. */
  s: Uint8Array;
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
}

export type AckStatus = 'delivered' | 'read';

/** Signed end-to-end acknowledgement from the recipient's agent. */
export interface Ack {
  t: typeof MsgType.ACK;
  id: Uint8Array;
  st: AckStatus;
  /** Recipient agent public key. */
  by: Uint8Array;
  /** Signature by `by`, Domain.ACK, over id || utf8(st). */
  s: Uint8Array;
  /** Recipient agent certificate. */
  c: Uint8Array;
}

export type WireMessage = Ping | Pong | Close | Welcome | Envelope | Ack;

/** The signed inner of a sealed body: content bytes + sender agent cert + signature. */
export interface SignedContent {
  /** Exact msgpack bytes of a Content object; the signature covers these bytes. */
  c: Uint8Array;
  /** Sender agent certificate. */
  cert: Uint8Array;
  /** Signature by the sender agent key, Domain.MESSAGE, over `c`. */
  s: Uint8Array;
}

export type ContentKind = 'text' | 'file';

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
