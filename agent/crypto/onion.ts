/**
 * Onion layers (PROTOCOL.md 3.13): the fixed-size packet a sender wraps for a path of
 * hops, one sealed layer per hop, and the fixed-size blobs that travel back to the sender.
 *
 * The packet is a Sphinx-style construction (Danezis & Goldberg, "Sphinx: A Compact and
 * Provably Secure Mix Format", 2009) in the shape Lightning uses (BOLT #4), with two
 * changes: every layer has its own fresh ephemeral X25519 key (carried inside the layer
 * before it, instead of key blinding), and each layer's MAC covers the payload too, so a
 * tampered payload is caught at the very next hop instead of at the recipient.
 *
 *   packet  = eph (32) || routing (1152) || mac (32) || payload (P)      P ∈ ONION_PAYLOAD_CLASSES
 *   ss      = X25519(eph, hop's certificate X25519 key)
 *   keys    = HKDF-SHA256(ss, salt = eph || hop key, "wotrelay/v1/onion-layer", 256)
 *   mac     = HMAC-SHA256(mu, eph || routing || payload)        (encrypt-then-MAC: the layer's AEAD)
 *   (routing || 0^128) ⊕ ChaCha20(rho) = hop data (128) || next routing (1152)
 *   next payload = payload ⊕ ChaCha20(pi)
 *
 * A relay peels its layer and forwards `eph' || routing' || mac' || payload'`, exactly as
 * long as what it received; the filler makes the MAC of every later layer check, so no hop
 * can tell from sizes or padding where on the path it is. Only the innermost (final) layer
 * says "you are the recipient"; its payload is the end-to-end body.
 *
 * Backward blobs (progress reports and the recipient's ack) are sealed by their author with
 * its layer's report key (ChaCha20-Poly1305) and re-encrypted by every hop on the way back
 * (a ChaCha20 stream keyed by the hop, with the 16-byte block `b` as nonce, then `b` through
 * AES-256 as a permutation), so two hops never see the same bytes; the sender, who knows every
 * layer key, unwraps hop by hop until a report key opens the blob, which also says who wrote it.
 *
 * Pure functions over bytes; randomness can be injected (test vectors).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ONION_BACK_BLOCK_BYTES, ONION_BACK_SEALED_BYTES } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import { aeadOpen, aeadSeal } from './aead.js';
import { asU8, concatBytes, equalBytes, readU64be, u64be } from './bytes.js';
import { hkdfSha256, hmacSha256, randomBytes } from './hash.js';
import { boxKeyFromSecret, generateEphemeralBoxKey, isCanonicalBoxPublicKey, x25519, x25519Ephemeral, type BoxKey } from './x25519.js';

/** Bytes of one hop's data inside the routing block. */
export const ONION_SLOT_BYTES = 128;
/** Layers at most (relays + the recipient). */
export const ONION_MAX_LAYERS = 9;
export const ONION_ROUTING_BYTES = ONION_SLOT_BYTES * ONION_MAX_LAYERS;
export const ONION_MAC_BYTES = 32;
export const ONION_HEADER_BYTES = 32 + ONION_ROUTING_BYTES + ONION_MAC_BYTES;
/**
 * Payload sizes. A packet is the header plus one of these; the smallest that fits the body is
 * used, so every layer of one message has the same size (the class itself is visible).
 */
export const ONION_PAYLOAD_CLASSES: readonly number[] = Object.freeze([4096, 65536, 1024 * 1024 + 16 * 1024]);
export const ONION_SIZES: readonly number[] = Object.freeze(ONION_PAYLOAD_CLASSES.map((p) => ONION_HEADER_BYTES + p));
/** Bytes of the replay tag and of a per-link message id. */
export const ONION_TAG_BYTES = 16;
/** Backward blob: a 16-byte block and a sealed fixed-size plaintext. */
export const BACK_BLOCK_BYTES = ONION_BACK_BLOCK_BYTES;
export const BACK_BYTES = ONION_BACK_SEALED_BYTES;
export const BACK_PLAIN_BYTES = BACK_BYTES - 16;
/** Bytes of a ratchet step carried in an ack (PROTOCOL.md 3.14). */
export const BACK_MAX_STEP = BACK_PLAIN_BYTES - 76;

const LAYER_INFO = 'wotrelay/v1/onion-layer';
const ZERO16 = new Uint8Array(16);
const RELAY = 0x01;
const FINAL = 0x02;

export interface LayerKeys {
  /** Routing stream key. */
  rho: Uint8Array;
  /** MAC key. */
  mu: Uint8Array;
  /** Payload stream key. */
  pi: Uint8Array;
  /** Seals this hop's reports to the sender (ChaCha20-Poly1305). */
  report: Uint8Array;
  /** Backward re-encryption: stream key and block permutation key. */
  backStream: Uint8Array;
  backPrp: Uint8Array;
  /** Keys the complaint check of this layer. */
  complaint: Uint8Array;
  /** Replay tag of this layer. */
  tag: Uint8Array;
  /** Message id this hop uses toward its next hop. */
  nextId: Uint8Array;
}

/** Derives a layer's keys from the X25519 shared secret. */
export function layerKeys(ss: Uint8Array, ephPub: Uint8Array, hopPub: Uint8Array): LayerKeys {
  const okm = hkdfSha256(ss, concatBytes(ephPub, hopPub), LAYER_INFO, 7 * 32 + 2 * ONION_TAG_BYTES);
  const at = (i: number) => okm.slice(i * 32, i * 32 + 32);
  return {
    rho: at(0),
    mu: at(1),
    pi: at(2),
    report: at(3),
    backStream: at(4),
    backPrp: at(5),
    complaint: at(6),
    tag: okm.slice(224, 240),
    nextId: okm.slice(240, 256),
  };
}

/** data ⊕ ChaCha20(key, iv) (iv: 4-byte little-endian counter || 12-byte nonce). */
function chachaXor(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20', key, iv);
  const out = asU8(c.update(data));
  c.final();
  return out;
}

function stream(key: Uint8Array, n: number): Uint8Array {
  return chachaXor(key, ZERO16, new Uint8Array(n));
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * The check a relay keeps for complaints: HMAC(complaint key, cs || recipient entity || relays)
 * truncated to 16 bytes. Only the recipient learns `cs`, so only it can make a complaint that
 * matches; `relays` (the path length) is bound so a complaint cannot lie about positions.
 */
export function complaintCheck(complaintKey: Uint8Array, cs: Uint8Array, recipient: Uint8Array, relays: number): Uint8Array {
  return hmacSha256(complaintKey, cs, recipient, Uint8Array.of(relays & 0xff)).slice(0, 16);
}

export interface RelayLayer {
  kind: 'relay';
  /** Entity of the next hop. */
  next: Uint8Array;
  exp: number;
  /** Complaint check (complaintCheck). */
  cc: Uint8Array;
}

export interface FinalLayer {
  kind: 'final';
  exp: number;
  /** Relays on the path (the sender's claim, bound into every relay's complaint check). */
  relays: number;
  /** Complaint secret: revealed in a complaint to prove it comes from the recipient. */
  cs: Uint8Array;
  /** The end-to-end body. */
  body: Uint8Array;
}

export interface OnionHop {
  entity: Uint8Array;
  /** X25519 key from the hop's verified agent certificate. */
  x25519: Uint8Array;
}

export interface BuildInput {
  /** Relays in order, then the recipient (last). */
  hops: OnionHop[];
  exp: number;
  /** 32-byte complaint secret. */
  cs: Uint8Array;
  body: Uint8Array;
  /** Injected for test vectors: one ephemeral X25519 secret per layer, and the routing fill. */
  ephemeralSecrets?: Uint8Array[];
  fill?: Uint8Array;
}

export interface BuiltOnion {
  packet: Uint8Array;
  /** Keys of every layer, first hop first (the sender opens reports with them). */
  keys: LayerKeys[];
}

function encodeRelayData(next: Uint8Array, nextEph: Uint8Array, nextMac: Uint8Array, exp: number, cc: Uint8Array): Uint8Array {
  const d = new Uint8Array(ONION_SLOT_BYTES);
  d[0] = RELAY;
  d.set(next, 1);
  d.set(nextEph, 33);
  d.set(nextMac, 65);
  d.set(u64be(exp), 97);
  d.set(cc, 105);
  return d;
}

function encodeFinalData(relays: number, exp: number, cs: Uint8Array): Uint8Array {
  const d = new Uint8Array(ONION_SLOT_BYTES);
  d[0] = FINAL;
  d[1] = relays;
  d.set(u64be(exp), 2);
  d.set(cs, 10);
  return d;
}

/** The payload class that fits `bodyLength` (with its 4-byte length prefix), or undefined. */
export function payloadClassFor(bodyLength: number): number | undefined {
  return ONION_PAYLOAD_CLASSES.find((p) => 4 + bodyLength <= p);
}

/** Wraps `body` for `hops` (relays, then the recipient). Throws ERR_TOO_LARGE / ERR_BAD_FIELD. */
export function buildOnion(input: BuildInput): BuiltOnion {
  const { hops, exp, cs, body } = input;
  const L = hops.length;
  if (L < 1 || L > ONION_MAX_LAYERS) throw new WotError('ERR_BAD_FIELD', `an onion has 1..${ONION_MAX_LAYERS} layers, got ${L}`);
  if (cs.length !== 32) throw new WotError('ERR_BAD_FIELD', `"cs" expected 32 bytes, got ${cs.length}`);
  const P = payloadClassFor(body.length);
  if (P === undefined) throw new WotError('ERR_TOO_LARGE', `an onion body is at most ${ONION_PAYLOAD_CLASSES[ONION_PAYLOAD_CLASSES.length - 1]! - 4} bytes, got ${body.length}`);
  const R = ONION_ROUTING_BYTES;
  const F = ONION_SLOT_BYTES;
  const ephs: BoxKey[] = [];
  const keys: LayerKeys[] = [];
  for (let i = 0; i < L; i++) {
    const injected = input.ephemeralSecrets?.[i];
    const eph = injected ? boxKeyFromSecret(injected, false) : generateEphemeralBoxKey();
    ephs.push(eph);
    const ss = x25519Ephemeral(eph, hops[i]!.x25519);
    keys.push(layerKeys(ss, eph.publicKey, hops[i]!.x25519));
  }
  // Payload as each hop receives it: the recipient's view first, then outward.
  const m = new Uint8Array(P);
  new DataView(m.buffer).setUint32(0, body.length);
  m.set(body, 4);
  const pay: Uint8Array[] = new Array(L);
  pay[L - 1] = xor(m, stream(keys[L - 1]!.pi, P));
  for (let i = L - 2; i >= 0; i--) pay[i] = xor(pay[i + 1]!, stream(keys[i]!.pi, P));
  // Filler: what the relays' streams leave at the end of the recipient's routing block.
  let filler: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < L - 1; i++) {
    filler = concatBytes(filler, new Uint8Array(F));
    const g = stream(keys[i]!.rho, R + F);
    filler = xor(filler, g.subarray(R + F - filler.length));
  }
  let routing: Uint8Array = Uint8Array.from(input.fill ?? randomBytes(R));
  if (routing.length !== R) throw new WotError('ERR_BAD_FIELD', `"fill" expected ${R} bytes, got ${routing.length}`);
  const recipient = hops[L - 1]!.entity;
  let nextMac: Uint8Array = new Uint8Array(ONION_MAC_BYTES);
  for (let i = L - 1; i >= 0; i--) {
    const d =
      i === L - 1
        ? encodeFinalData(L - 1, exp, cs)
        : encodeRelayData(hops[i + 1]!.entity, ephs[i + 1]!.publicKey, nextMac, exp, complaintCheck(keys[i]!.complaint, cs, recipient, L - 1));
    routing = xor(concatBytes(d, routing.subarray(0, R - F)), stream(keys[i]!.rho, R));
    if (i === L - 1 && filler.length > 0) routing.set(filler, R - filler.length);
    nextMac = hmacSha256(keys[i]!.mu, ephs[i]!.publicKey, routing, pay[i]!);
  }
  return { packet: concatBytes(ephs[0]!.publicKey, routing, nextMac, pay[0]!), keys };
}

export type PeelResult =
  | { ok: true; keys: LayerKeys; layer: RelayLayer; out: Uint8Array }
  | { ok: true; keys: LayerKeys; layer: FinalLayer }
  /**
   * size: not one of ONION_SIZES; key: the ephemeral key is not canonical or of low order;
   * mac: tampered, truncated, resized within the sizes, reordered, or not ours; layer:
   * malformed hop data.
   */
  | { ok: false; why: 'size' | 'key' | 'mac' | 'layer' };

/** Peels our layer off `packet` with our box key. Never throws. */
export function peelOnion(box: BoxKey, packet: Uint8Array): PeelResult {
  if (!ONION_SIZES.includes(packet.length)) return { ok: false, why: 'size' };
  const R = ONION_ROUTING_BYTES;
  const F = ONION_SLOT_BYTES;
  const eph = packet.subarray(0, 32);
  const routing = packet.subarray(32, 32 + R);
  const mac = packet.subarray(32 + R, ONION_HEADER_BYTES);
  const payload = packet.subarray(ONION_HEADER_BYTES);
  // The ephemeral key is refused before any use unless it is canonical (node:crypto would
  // reduce it mod p, so one layer would have several encodings) and not of low order (x25519
  // throws on the all-zero secret).
  if (!isCanonicalBoxPublicKey(eph)) return { ok: false, why: 'key' };
  let keys: LayerKeys;
  try {
    keys = layerKeys(x25519(box.secretKey, eph), eph, box.publicKey);
  } catch {
    return { ok: false, why: 'key' };
  }
  if (!equalBytes(hmacSha256(keys.mu, eph, routing, payload), mac)) return { ok: false, why: 'mac' };
  const opened = xor(concatBytes(routing, new Uint8Array(F)), stream(keys.rho, R + F));
  const d = opened.subarray(0, F);
  const nextPayload = xor(payload, stream(keys.pi, payload.length));
  try {
    if (d[0] === RELAY) {
      const layer: RelayLayer = { kind: 'relay', next: d.slice(1, 33), exp: readU64be(d, 97), cc: d.slice(105, 121) };
      return { ok: true, keys, layer, out: concatBytes(d.subarray(33, 65), opened.subarray(F), d.subarray(65, 97), nextPayload) };
    }
    if (d[0] === FINAL) {
      const len = new DataView(nextPayload.buffer, nextPayload.byteOffset, 4).getUint32(0);
      if (len > nextPayload.length - 4 || d[1]! >= ONION_MAX_LAYERS) return { ok: false, why: 'layer' };
      return { ok: true, keys, layer: { kind: 'final', exp: readU64be(d, 2), relays: d[1]!, cs: d.slice(10, 42), body: nextPayload.slice(4, 4 + len) } };
    }
  } catch {
    /* an exp above 2^53: malformed */
  }
  return { ok: false, why: 'layer' };
}

// ---------------------------------------------------------------- backward blobs

export type BackKind = 'report' | 'ack';
export type BackStatus = 'forwarded' | 'queued' | 'stalled' | 'delivered';
const BACK_KINDS: readonly BackKind[] = ['report', 'ack'];
const BACK_STATUSES: readonly BackStatus[] = ['forwarded', 'queued', 'stalled', 'delivered'];

/** What a hop (report) or the recipient (ack) tells the sender. */
export interface BackPlain {
  kind: BackKind;
  st: BackStatus;
  ts: number;
  /** Report: the hop's signature (Domain.REPORT) over its inbound id, st, ts. Ack: the recipient's ACK signature. */
  sig: Uint8Array;
  /** Ack only: a ratchet step for the sender (0..BACK_MAX_STEP bytes). */
  step: Uint8Array;
}

export function encodeBackPlain(p: BackPlain): Uint8Array {
  if (p.sig.length !== 64) throw new WotError('ERR_BAD_FIELD', `"sig" expected 64 bytes, got ${p.sig.length}`);
  if (p.step.length > BACK_MAX_STEP) throw new WotError('ERR_BAD_FIELD', `"step" expected at most ${BACK_MAX_STEP} bytes, got ${p.step.length}`);
  const out = new Uint8Array(BACK_PLAIN_BYTES);
  out[0] = BACK_KINDS.indexOf(p.kind) + 1;
  out[1] = BACK_STATUSES.indexOf(p.st) + 1;
  out.set(u64be(p.ts), 2);
  out.set(p.sig, 10);
  new DataView(out.buffer).setUint16(74, p.step.length);
  out.set(p.step, 76);
  return out;
}

/** Decodes a backward plaintext; undefined when malformed. */
export function decodeBackPlain(b: Uint8Array): BackPlain | undefined {
  if (b.length !== BACK_PLAIN_BYTES) return undefined;
  const kind = BACK_KINDS[b[0]! - 1];
  const st = BACK_STATUSES[b[1]! - 1];
  const len = new DataView(b.buffer, b.byteOffset + 74, 2).getUint16(0);
  if (!kind || !st || len > BACK_MAX_STEP) return undefined;
  let ts: number;
  try {
    ts = readU64be(b, 2);
  } catch {
    return undefined;
  }
  return { kind, st, ts, sig: b.slice(10, 74), step: b.slice(76, 76 + len) };
}

/** Seals a backward plaintext with the author's report key; `block` is the fresh 16-byte block. */
export function sealBack(reportKey: Uint8Array, block: Uint8Array, plain: Uint8Array): Uint8Array {
  return aeadSeal(reportKey, block.subarray(0, 12), plain);
}

export function openBack(reportKey: Uint8Array, block: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  return aeadOpen(reportKey, block.subarray(0, 12), sealed);
}

function prp(key: Uint8Array, block: Uint8Array, decrypt: boolean): Uint8Array {
  const c = decrypt ? createDecipheriv('aes-256-ecb', key, null) : createCipheriv('aes-256-ecb', key, null);
  c.setAutoPadding(false);
  return concatBytes(asU8(c.update(block)), asU8(c.final()));
}

/** A hop re-encrypts a blob passing back through it. */
export function wrapBack(keys: Pick<LayerKeys, 'backStream' | 'backPrp'>, block: Uint8Array, sealed: Uint8Array): { block: Uint8Array; sealed: Uint8Array } {
  const iv = concatBytes(new Uint8Array(4), block.subarray(0, 12));
  return { block: prp(keys.backPrp, block, false), sealed: chachaXor(keys.backStream, iv, sealed) };
}

/** The sender undoes one hop's wrapBack. */
export function unwrapBack(keys: Pick<LayerKeys, 'backStream' | 'backPrp'>, block: Uint8Array, sealed: Uint8Array): { block: Uint8Array; sealed: Uint8Array } {
  const inner = prp(keys.backPrp, block, true);
  return { block: inner, sealed: chachaXor(keys.backStream, concatBytes(new Uint8Array(4), inner.subarray(0, 12)), sealed) };
}

/**
 * The sender opens a blob that arrived from its first hop: tries each layer's report key,
 * unwrapping one hop each time it fails. Returns the plaintext and the layer that wrote it.
 */
export function openBackAtSender(keys: LayerKeys[], block: Uint8Array, sealed: Uint8Array): { layer: number; plain: Uint8Array } | null {
  if (block.length !== BACK_BLOCK_BYTES || sealed.length !== BACK_BYTES) return null;
  let b = block;
  let s = sealed;
  for (let i = 0; i < keys.length; i++) {
    const plain = openBack(keys[i]!.report, b, s);
    if (plain) return { layer: i, plain };
    ({ block: b, sealed: s } = unwrapBack(keys[i]!, b, s));
  }
  return null;
}
