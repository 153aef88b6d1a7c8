/**
 * Wire constants: message type ids, stable error codes, signature domain tags and
 * protocol limits. Spec constants live here, apart from implementation tunables,
 * so agent/PROTOCOL.md can be checked against one file.
 */

export const PROTOCOL_VERSION = 1;

/** Noise prologue; a peer speaking another protocol version fails the handshake. */
export const NOISE_PROLOGUE = 'wotrelay/1';

/** Application message type ids (`t` field of every transport message). */
export const MsgType = {
  PING: 1,
  PONG: 2,
  CLOSE: 3,
  WELCOME: 4,
  ENVELOPE: 16,
  ACK: 17,
  REPORT: 18,
  COMPLAINT: 19,
  QUENCH: 20,
  ANNOUNCE: 21,
  WHERE_IS: 22,
  HERE_IS: 23,
  HOLD: 24,
  REFUSE: 25,
  ONION: 26,
  ONION_BACK: 27,
  ONION_COMPLAINT: 28,
  ROUTE_QUERY: 32,
  ROUTE_REPLY: 33,
  MB_FETCH: 40,
  MB_ITEMS: 41,
  MB_DELETE: 42,
} as const;
export type MsgTypeId = (typeof MsgType)[keyof typeof MsgType];

/** Stable error codes. Every code is listed in agent/PROTOCOL.md. */
export const ErrorCodes = [
  // framing / codec
  'ERR_FRAME_TOO_LARGE',
  'ERR_MALFORMED_FRAME',
  'ERR_LIMIT_EXCEEDED',
  'ERR_UNKNOWN_TYPE',
  'ERR_BAD_FIELD',
  // handshake / link
  'ERR_HANDSHAKE_FAILED',
  'ERR_HANDSHAKE_TIMEOUT',
  'ERR_DECRYPT',
  'ERR_IDLE_TIMEOUT',
  'ERR_KEY_MISMATCH',
  'ERR_SELF_CONNECT',
  'ERR_CONNECTION_LOST',
  'ERR_TRUNCATED',
  'ERR_BACKPRESSURE',
  'ERR_SHUTDOWN',
  // identity / trust
  'ERR_BAD_CERT',
  'ERR_CERT_EXPIRED',
  'ERR_BAD_SIGNATURE',
  'ERR_UNTRUSTED',
  'ERR_REVOKED',
  'ERR_INVITE_INVALID',
  'ERR_INVITE_EXPIRED',
  'ERR_INVITE_USED',
  'ERR_BAD_ID',
  // keys / files
  'ERR_KEY_FILE_PERMS',
  'ERR_KEY_FILE',
  // messaging / API
  'ERR_NOT_FOUND',
  'ERR_UNKNOWN_PEER',
  'ERR_TOO_LARGE',
  'ERR_BAD_REQUEST',
  'ERR_QUEUE_FULL',
  'ERR_NOT_MAILBOX',
  'ERR_NOT_RUNNING',
  'ERR_INTERNAL',
  'ERR_DISK_FULL',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

/**
 * Signature domain tags. Every signature covers `tag || 0x00 || bytes`, where bytes are
 * exact canonical bytes defined in PROTOCOL.md (never a re-encoded object).
 */
export const Domain = {
  AGENT_CERT: 'wotrelay/v1/agent-cert',
  INVITE_PROOF: 'wotrelay/v1/invite-proof',
  MESSAGE: 'wotrelay/v1/message',
  HOP: 'wotrelay/v1/hop',
  ACK: 'wotrelay/v1/ack',
  ROUTE: 'wotrelay/v1/route',
  REPORT: 'wotrelay/v1/report',
  COMPLAINT: 'wotrelay/v1/complaint',
  ANNOUNCE: 'wotrelay/v1/announce',
  MAILBOX: 'wotrelay/v1/mailbox',
  /** The root of a signed batch (agent/crypto/merkle.ts): hop entries, reports and acks. */
  BATCH: 'wotrelay/v1/batch',
  ONION_COMPLAINT: 'wotrelay/v1/onion-complaint',
} as const;
export type DomainTag = (typeof Domain)[keyof typeof Domain];

/** Hard protocol limits. A peer exceeding one is disconnected. */
export const Limits = {
  /** Max bytes of one Noise handshake message (Noise spec maximum). */
  MAX_HANDSHAKE_MESSAGE: 65535,
  /** Max ciphertext bytes of one transport record (length header checked before reading). */
  MAX_RECORD: 1024 * 1024 + 64 * 1024,
  /** Max bytes of one encoded application message. */
  MAX_MESSAGE: 1024 * 1024 + 32 * 1024,
  /** Max bytes of a message body (text or file) sent by `wotrelay send`. */
  MAX_BODY: 1024 * 1024,
  /** Max elements in any msgpack array or map. */
  MAX_ARRAY: 256,
  /** Max bytes in any msgpack string. */
  MAX_STRING: 4096,
  /** Max nesting depth of msgpack containers. */
  MAX_DEPTH: 8,
  /** Max hop entries in an envelope. */
  MAX_HOPS: 32,
  /** Max sibling hashes in a batch inclusion proof (a batch holds at most 2^16 items). */
  MAX_PROOF: 16,
  /** Max ttl of a route query (larger values are dropped, not clamped). */
  MAX_QUERY_TTL: 16,
  /** Max bytes of a complaint reason. */
  MAX_REASON: 200,
  /** Max items in one MB_ITEMS page (the whole message also stays within MAX_MESSAGE). */
  MAX_MAIL_ITEMS: 64,
  /** How far the ts of a signed mailbox fetch or delete may be from the mailbox's clock. */
  MAILBOX_SKEW_MS: 10 * 60 * 1000,
  /** Relays on an onion path at most (the recipient's layer comes on top). */
  MAX_ONION_RELAYS: 8,
  /** Max bytes of a ratchet step carried in an ACK. */
  MAX_RATCHET_STEP: 180,
} as const;

export const MESSAGE_ID_BYTES = 16;
/** ONION_BACK: the block and the sealed report/ack (a 256-byte plaintext + 16-byte tag; crypto/onion.ts). */
export const ONION_BACK_BLOCK_BYTES = 16;
export const ONION_BACK_SEALED_BYTES = 272;
export const KEY_BYTES = 32;
export const SIG_BYTES = 64;
