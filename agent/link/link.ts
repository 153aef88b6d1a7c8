/**
 * One authenticated, encrypted connection to a neighbour agent over a byte stream (TCP).
 *
 * Handshake: Noise XX (`Noise_XX_Ed25519_ChaChaPoly_BLAKE2b`, holepunchto's
 * noise-handshake + noise-curve-ed), so the agent's Ed25519 key is its Noise static key.
 * Each side sends its agent certificate inside the encrypted handshake payload; the
 * certificate must be valid and name the Noise static key. The trust gate (a callback)
 * runs the moment the peer is authenticated and before any application frame is parsed.
 *
 * Transport: records of `u32 length || ChaCha20-Poly1305(batch of messages)` with a
 * per-direction counter nonce; every message queued in one tick shares a record (one AEAD
 * and one write per batch). Keepalive pings, an idle timeout, a handshake deadline and a
 * bounded send queue complete the state machine:
 *
 *   responder: await-msg1 → await-msg3 → open → closed
 *   initiator: await-msg2 → open → closed
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type NoiseState from 'noise-handshake';
import type NoiseCurveEd from 'noise-curve-ed';
import { requireCjs } from '../cjs.js';
import { aeadOpen, aeadSealInto, counterNonce, equalBytes, offHeap, utf8 } from '../crypto/index.js';
import { decodeCertUnverified, verifyCert, inviteProof, inviteKeyFromSecret, type AgentCert } from '../identity/index.js';
import { Limits, MsgType, NOISE_PROLOGUE, type ErrorCode } from '../wire/constants.js';
import { WotError, isWotError } from '../wire/errors.js';
import type { HandshakePayload, WireMessage } from '../wire/types.js';
import {
  decodeBatch,
  decodeHandshakePayload,
  decodeMessage,
  encodeBatch,
  encodeHandshakePayload,
  encodeMessage,
} from '../wire/index.js';
import { ByteQueue } from './bytequeue.js';

const Noise = requireCjs('noise-handshake') as typeof NoiseState;
const curve = requireCjs('noise-curve-ed') as typeof NoiseCurveEd;

export interface LocalIdentity {
  /** Agent Ed25519 seed (32 bytes) and public key. */
  agentSeed: Uint8Array;
  agentPub: Uint8Array;
  entityPub: Uint8Array;
  certBytes: Uint8Array;
}

export interface PeerIdentity {
  agent: Uint8Array;
  entity: Uint8Array;
  cert: AgentCert;
  certBytes: Uint8Array;
  remoteAddress: string;
  remotePort: number;
}

export interface GateInput {
  peer: PeerIdentity;
  /** True on the side that accepted the TCP connection. */
  responder: boolean;
  /** Invite proof presented by an initiator, already bound to this handshake. */
  invite?: { key: Uint8Array; proof: Uint8Array; handshakeHash: Uint8Array };
  /** Initiator side: we dialled the inviter of a code we are redeeming (already matched by expectEntity). */
  redeemingInvite?: boolean;
}

export type GateResult = { ok: true } | { ok: false; code: ErrorCode; msg?: string };
export type Gate = (input: GateInput) => GateResult;

export interface LinkOptions {
  identity: LocalIdentity;
  gate: Gate;
  /** Wall clock (ms) for certificate validity. */
  now?: () => number;
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  keepaliveMs?: number;
  /** Bytes that may wait in the send queue before send() refuses. */
  maxQueuedBytes?: number;
  /**
   * How long (ms) messages sent with `lazy` may wait for company before they are written
   * (acknowledgements: many share one record, one write and one turn at the peer).
   */
  lingerMs?: number;
  /** Initiator: the entity we expect to reach (key substitution is refused). */
  expectEntity?: Uint8Array;
  /** Initiator: an invite secret to prove inside the handshake. */
  inviteSecret?: Uint8Array;
  /** Addresses we can be dialled at, told to the peer inside the handshake. */
  addrs?: string[];
}

export interface CloseInfo {
  code: ErrorCode | 'OK';
  msg?: string;
  /** True when the peer sent the close reason. */
  remote: boolean;
  /** True when the link never completed its handshake. */
  duringHandshake: boolean;
}

type State = 'await-msg1' | 'await-msg2' | 'await-msg3' | 'open' | 'closed';

export const LINK_DEFAULTS = {
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 75_000,
  keepaliveMs: 25_000,
  maxQueuedBytes: 8 * 1024 * 1024,
  lingerMs: 2,
} as const;

/** Lazy messages are written at once, lingering no more, when this many bytes wait. */
const LINGER_MAX_BYTES = 16 * 1024;

const PROLOGUE = utf8(NOISE_PROLOGUE);
const TAG_BYTES = 16;

export interface LinkEvents {
  open: [peer: PeerIdentity];
  message: [msg: WireMessage, raw: Uint8Array];
  close: [info: CloseInfo];
  drain: [];
}

export class Link extends EventEmitter<LinkEvents> {
  readonly initiator: boolean;
  peer: PeerIdentity | null = null;
  private state: State;
  private noise: NoiseState;
  private readonly input = new ByteQueue();
  private readonly opts: Required<Omit<LinkOptions, 'expectEntity' | 'inviteSecret' | 'addrs'>> &
    Pick<LinkOptions, 'expectEntity' | 'inviteSecret' | 'addrs'>;
  /** Addresses the peer said it can be dialled at (from its handshake payload). */
  peerAddrs: string[] = [];
  private txKey: Uint8Array | null = null;
  private rxKey: Uint8Array | null = null;
  private txCounter = 0;
  private rxCounter = 0;
  private outQueue: Uint8Array[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  /** Set while only lazy messages wait: writes them when lingerMs has passed. */
  private lingerTimer: NodeJS.Timeout | null = null;
  private lastRecv = 0;
  private lastSend = 0;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private pingCounter = 0;
  private closing = false;
  private emittedOpen = false;
  readonly openedAt: number = 0;
  /** Messages received and sent since open (for status). */
  stats = { recvMessages: 0, sentMessages: 0, recvBytes: 0, sentBytes: 0, recvRecords: 0, sentRecords: 0 };

  private constructor(
    private readonly socket: Socket,
    initiator: boolean,
    opts: LinkOptions,
  ) {
    super();
    this.initiator = initiator;
    this.opts = {
      now: Date.now,
      handshakeTimeoutMs: LINK_DEFAULTS.handshakeTimeoutMs,
      idleTimeoutMs: LINK_DEFAULTS.idleTimeoutMs,
      keepaliveMs: LINK_DEFAULTS.keepaliveMs,
      maxQueuedBytes: LINK_DEFAULTS.maxQueuedBytes,
      lingerMs: LINK_DEFAULTS.lingerMs,
      ...opts,
    };
    const staticKp = curve.generateKeyPair(opts.identity.agentSeed);
    this.noise = new Noise('XX', initiator, staticKp, { curve });
    this.noise.initialise(PROLOGUE);
    this.state = initiator ? 'await-msg2' : 'await-msg1';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.destroy('ERR_CONNECTION_LOST', 'socket error', false));
    socket.on('close', () => this.destroy('ERR_CONNECTION_LOST', 'connection closed', false));
    socket.on('drain', () => this.emit('drain'));
    this.handshakeTimer = setTimeout(
      () => this.destroy('ERR_HANDSHAKE_TIMEOUT', 'handshake did not finish in time', false),
      this.opts.handshakeTimeoutMs,
    );
    this.handshakeTimer.unref?.();
  }

  /** Wraps an accepted socket; the peer speaks first. */
  static accept(socket: Socket, opts: LinkOptions): Link {
    return new Link(socket, false, opts);
  }

  /** Wraps a connected (or connecting) socket and starts the handshake. */
  static initiate(socket: Socket, opts: LinkOptions): Link {
    const link = new Link(socket, true, opts);
    const msg1 = link.noise.send(new Uint8Array(0));
    link.writeHandshake(msg1);
    return link;
  }

  get isOpen(): boolean {
    return this.state === 'open' && !this.closing;
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '?';
  }

  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

  /** Received bytes not yet taken as a frame (during the handshake: at most one 64 KiB frame). */
  get bufferedInput(): number {
    return this.input.length;
  }

  /** Bytes queued but not yet handed to the socket plus the socket's own buffer. */
  get bufferedBytes(): number {
    return this.outBytes + this.socket.writableLength;
  }

  // ---------------------------------------------------------------- receive path

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.input.push(chunk);
    this.lastRecv = performance.now();
    try {
      this.drainInput();
    } catch (e) {
      const fallback: ErrorCode = this.state === 'open' ? 'ERR_MALFORMED_FRAME' : 'ERR_HANDSHAKE_FAILED';
      const code: ErrorCode = isWotError(e) ? e.code : fallback;
      const msg = e instanceof Error ? e.message : String(e);
      if (this.state === 'open') this.fail(code, msg);
      else this.destroy(code, msg, false);
    }
  }

  private drainInput(): void {
    while (this.state !== 'closed' && !this.closing) {
      if (this.state === 'open') {
        const rec = this.input.takeFrame(4, Limits.MAX_RECORD + TAG_BYTES);
        if (!rec) return;
        this.onRecord(rec);
        continue;
      }
      const hs = this.input.takeFrame(2, Limits.MAX_HANDSHAKE_MESSAGE);
      if (!hs) return;
      this.onHandshakeMessage(hs);
    }
  }

  private onHandshakeMessage(buf: Uint8Array): void {
    switch (this.state) {
      case 'await-msg1': {
        this.noise.recv(buf); // e; throws on malformed
        const msg2 = this.noise.send(encodeHandshakePayload(this.ownPayload()));
        this.writeHandshake(msg2);
        this.state = 'await-msg3';
        return;
      }
      case 'await-msg2': {
        // Handshake hash after msg2: identical on both sides, unique to this session.
        const payloadBytes = this.noise.recv(buf);
        const h2 = this.noise.getHandshakeHash();
        const peer = this.authenticatePeer(payloadBytes);
        if (this.opts.expectEntity && !equalBytes(peer.entity, this.opts.expectEntity)) {
          throw new WotError('ERR_KEY_MISMATCH', 'the peer is not the entity we dialled');
        }
        const verdict = this.opts.gate({ peer, responder: false, redeemingInvite: !!this.opts.inviteSecret && !!this.opts.expectEntity });
        if (!verdict.ok) throw new WotError(verdict.code, verdict.msg ?? 'peer refused by the trust gate');
        const payload = encodeHandshakePayload(
          this.opts.inviteSecret
            ? {
                ...this.ownPayload(),
                invite: {
                  key: inviteKeyPub(this.opts.inviteSecret),
                  proof: inviteProof(this.opts.inviteSecret, h2, this.opts.identity.entityPub),
                },
              }
            : this.ownPayload(),
        );
        const msg3 = this.noise.send(payload);
        this.writeHandshake(msg3);
        this.becomeOpen(peer);
        return;
      }
      case 'await-msg3': {
        const h2 = this.noise.getHandshakeHash();
        const payloadBytes = this.noise.recv(buf);
        let peer: PeerIdentity;
        try {
          peer = this.authenticatePeer(payloadBytes);
        } catch (e) {
          // A peer that proved its static key, with a genuine certificate that is only outside
          // our time window, is told why: one of the two clocks is wrong. Anything else stays silent.
          if (isWotError(e) && e.code === 'ERR_CERT_EXPIRED' && this.certNamesRemoteStatic(payloadBytes)) {
            this.installKeys(null);
            this.fail('ERR_CERT_EXPIRED', `${e.message}; our clock says ${new Date(this.opts.now()).toISOString()}: check the clocks`);
            return;
          }
          throw e;
        }
        const hp = this.lastPayloadInvite;
        const verdict = this.opts.gate({
          peer,
          responder: true,
          ...(hp ? { invite: { key: hp.key, proof: hp.proof, handshakeHash: h2 } } : {}),
        });
        if (verdict.ok) {
          this.becomeOpen(peer);
        } else {
          // Keys are installed only so the refusal reaches an authenticated peer encrypted;
          // no application frame from it is ever parsed and 'open' is never emitted.
          this.installKeys(peer);
          this.fail(verdict.code, verdict.msg ?? 'not trusted');
        }
        return;
      }
      case 'open':
      case 'closed':
        return;
    }
  }

  private lastPayloadInvite: { key: Uint8Array; proof: Uint8Array } | undefined;

  private ownPayload(): HandshakePayload {
    const addrs = this.opts.addrs?.slice(0, 8);
    return { v: 1, cert: this.opts.identity.certBytes, ...(addrs && addrs.length > 0 ? { addrs } : {}) };
  }

  /** Checks the handshake payload: certificate valid and bound to the Noise static key. */
  private authenticatePeer(payloadBytes: Uint8Array): PeerIdentity {
    const rs = this.noise.rs;
    if (!rs) throw new WotError('ERR_HANDSHAKE_FAILED', 'no remote static key');
    const payload = decodeHandshakePayload(payloadBytes);
    // Not remembered in the certificate cache: the trust gate has not run yet.
    const cert = verifyCert(payload.cert, this.opts.now(), undefined, false);
    if (!equalBytes(cert.agent, rs)) {
      throw new WotError('ERR_KEY_MISMATCH', 'certificate does not name the handshake key');
    }
    if (equalBytes(rs, this.opts.identity.agentPub) || equalBytes(cert.entity, this.opts.identity.entityPub)) {
      throw new WotError('ERR_SELF_CONNECT', 'connected to ourselves');
    }
    this.lastPayloadInvite = payload.invite;
    this.peerAddrs = payload.addrs ?? [];
    return {
      agent: new Uint8Array(rs),
      entity: cert.entity,
      cert,
      certBytes: payload.cert,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
    };
  }

  /** True when the handshake payload's certificate (unverified) names the Noise static key the peer proved. */
  private certNamesRemoteStatic(payloadBytes: Uint8Array): boolean {
    try {
      const rs = this.noise.rs;
      return !!rs && equalBytes(decodeCertUnverified(decodeHandshakePayload(payloadBytes).cert).agent, rs);
    } catch {
      return false;
    }
  }

  /** Installs the transport keys; `peer` is null when they serve only to tell a refused peer why. */
  private installKeys(peer: PeerIdentity | null): void {
    const tx = this.noise.tx;
    const rx = this.noise.rx;
    if (!tx || !rx) throw new WotError('ERR_HANDSHAKE_FAILED', 'handshake incomplete');
    this.txKey = new Uint8Array(tx);
    this.rxKey = new Uint8Array(rx);
    if (peer) this.peer = peer;
    this.state = 'open';
  }

  private becomeOpen(peer: PeerIdentity): void {
    this.installKeys(peer);
    (this as { openedAt: number }).openedAt = Date.now();
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.lastRecv = this.lastSend = performance.now();
    const tick = Math.max(50, Math.floor(Math.min(this.opts.keepaliveMs, this.opts.idleTimeoutMs) / 2));
    this.keepaliveTimer = setInterval(() => this.onKeepaliveTick(), tick);
    this.keepaliveTimer.unref?.();
    this.emittedOpen = true;
    this.emit('open', peer);
  }

  private onRecord(rec: Uint8Array): void {
    if (!this.rxKey) throw new WotError('ERR_DECRYPT', 'no key');
    const plain = aeadOpen(this.rxKey, counterNonce(this.rxCounter), rec);
    if (!plain) throw new WotError('ERR_DECRYPT', 'record failed authentication');
    this.rxCounter++;
    this.stats.recvBytes += rec.length;
    this.stats.recvRecords++;
    for (const raw of decodeBatch(plain)) {
      if (this.closing || this.state === 'closed') return;
      const msg = decodeMessage(raw);
      this.stats.recvMessages++;
      switch (msg.t) {
        case MsgType.PING:
          this.send({ t: MsgType.PONG, n: msg.n });
          break;
        case MsgType.PONG:
          break;
        case MsgType.CLOSE:
          this.destroy(msg.code, msg.msg, true);
          return;
        default:
          this.emit('message', msg, raw);
      }
    }
  }

  private onKeepaliveTick(): void {
    if (this.state !== 'open') return;
    const now = performance.now();
    if (now - this.lastRecv > this.opts.idleTimeoutMs) {
      this.fail('ERR_IDLE_TIMEOUT', 'no traffic from the peer');
      return;
    }
    if (now - this.lastSend > this.opts.keepaliveMs) {
      this.pingCounter = (this.pingCounter + 1) >>> 0;
      this.send({ t: MsgType.PING, n: this.pingCounter });
    }
  }

  // ---------------------------------------------------------------- send path

  private writeHandshake(msg: Uint8Array): void {
    const out = new Uint8Array(2 + msg.length);
    out[0] = msg.length >> 8;
    out[1] = msg.length & 0xff;
    out.set(msg, 2);
    this.socket.write(out);
  }

  /**
   * Queues a message, written at the end of this event-loop turn — or, when `lazy`, within
   * lingerMs, together with whatever else is sent by then (a message that is not lazy takes
   * the waiting ones along at once). Order on the link is always the order of the calls.
   * Returns false (and queues nothing) when the link is not open or its send queue is over
   * its bound; the caller keeps the message and retries on 'drain'.
   */
  send(msg: WireMessage, lazy = false): boolean {
    return this.sendEncoded(encodeMessage(msg), lazy);
  }

  /** Queues an already-encoded message (forwarding without re-encoding). */
  sendEncoded(bytes: Uint8Array, lazy = false): boolean {
    if (this.state !== 'open' || this.closing) return false;
    if (this.bufferedBytes + bytes.length > this.opts.maxQueuedBytes) return false;
    this.outQueue.push(bytes);
    this.outBytes += bytes.length + 4;
    this.stats.sentMessages++;
    if (this.flushScheduled) return true;
    if (lazy && this.opts.lingerMs > 0 && this.outBytes < LINGER_MAX_BYTES) {
      this.lingerTimer ??= setTimeout(() => this.flush(), this.opts.lingerMs);
      return true;
    }
    this.flushScheduled = true;
    setImmediate(() => this.flush());
    return true;
  }

  /** True when the socket has room; callers pacing bulk sends wait for 'drain' otherwise. */
  get writable(): boolean {
    return this.state === 'open' && !this.closing && this.socket.writableLength < 1024 * 1024;
  }

  /**
   * Writes what is queued, in records. Called at the end of the turn or linger, and by the
   * daemon at once for messages whose latency matters (an envelope on its way), so they do
   * not wait behind other links' writes; whatever is queued later is flushed as usual.
   */
  flush(): void {
    this.flushScheduled = false;
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    if (!this.txKey || this.state === 'closed' || this.outQueue.length === 0) return;
    const q = this.outQueue;
    this.outQueue = [];
    this.outBytes = 0;
    this.socket.cork();
    let i = 0;
    while (i < q.length) {
      let size = 0;
      const start = i;
      while (i < q.length && (i === start || size + q[i]!.length + 4 <= Limits.MAX_RECORD)) {
        size += q[i]!.length + 4;
        i++;
      }
      const plain = encodeBatch(q.slice(start, i));
      // One buffer per record: the length prefix, then the ciphertext sealed in place.
      const rec = offHeap(4 + plain.length + TAG_BYTES);
      new DataView(rec.buffer).setUint32(0, plain.length + TAG_BYTES);
      aeadSealInto(rec.subarray(4), this.txKey, counterNonce(this.txCounter++), plain);
      this.socket.write(rec);
      this.stats.sentBytes += rec.length;
      this.stats.sentRecords++;
    }
    this.socket.uncork();
    this.lastSend = performance.now();
  }

  // ---------------------------------------------------------------- closing

  /** Tells an authenticated peer why, then closes. Safe to call more than once. */
  fail(code: ErrorCode, msg?: string): void {
    if (this.state === 'closed' || this.closing) return;
    if (this.state === 'open' && this.txKey) {
      this.send({ t: MsgType.CLOSE, code, ...(msg ? { msg: msg.slice(0, 256) } : {}) });
      this.flush();
    }
    this.closing = true;
    this.socket.end();
    const t = setTimeout(() => this.destroy(code, msg, false), 2000);
    t.unref?.();
    this.pendingClose = { code, ...(msg !== undefined ? { msg } : {}) };
  }

  private pendingClose: { code: ErrorCode; msg?: string } | null = null;

  /** Closes politely (CLOSE with OK semantics is not needed: a clean end is enough). */
  close(): void {
    if (this.state === 'closed') return;
    if (this.state === 'open') {
      this.flush();
      this.closing = true;
      this.pendingClose = { code: 'ERR_SHUTDOWN' };
      this.socket.end();
      const t = setTimeout(() => this.destroy('ERR_SHUTDOWN', 'closed locally', false), 2000);
      t.unref?.();
    } else {
      this.destroy('ERR_SHUTDOWN', 'closed locally', false);
    }
  }

  /**
   * Drops the connection at once without a word (for a handshake we give up on, e.g. to make
   * room for another): nothing is sent, 'close' reports `code`.
   */
  abort(code: ErrorCode, msg: string): void {
    this.destroy(code, msg, false);
  }

  private destroy(code: ErrorCode, msg: string | undefined, remote: boolean): void {
    if (this.state === 'closed') return;
    const duringHandshake = !this.emittedOpen;
    this.state = 'closed';
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.handshakeTimer = this.keepaliveTimer = this.lingerTimer = null;
    this.input.clear();
    this.outQueue = [];
    this.socket.destroy();
    this.txKey?.fill(0);
    this.rxKey?.fill(0);
    // A locally initiated fail() reports its own reason, not the socket close that follows.
    const info: CloseInfo =
      this.pendingClose && !remote
        ? { code: this.pendingClose.code, remote: false, duringHandshake, ...(this.pendingClose.msg !== undefined ? { msg: this.pendingClose.msg } : {}) }
        : { code, remote, duringHandshake, ...(msg !== undefined ? { msg } : {}) };
    this.emit('close', info);
  }
}

function inviteKeyPub(secret: Uint8Array): Uint8Array {
  return inviteKeyFromSecret(secret).publicKey;
}
