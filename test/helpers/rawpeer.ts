/**
 * An adversarial peer for tests: speaks the handshake and record format with
 * noise-handshake directly (not through agent/link), so a test can send exactly the
 * bytes it wants — garbage, oversized headers, unknown types, truncated records,
 * replays — and watch how the daemon reacts.
 */
import net from 'node:net';
import Noise from 'noise-handshake';
import curve from 'noise-curve-ed';
import { aeadOpen, aeadSeal, counterNonce, utf8 } from '../../agent/crypto/index.js';
import { NOISE_PROLOGUE } from '../../agent/wire/constants.js';
import { decodeBatch, decodeMessage, encodeBatch, encodeHandshakePayload } from '../../agent/wire/index.js';
import type { HandshakePayload, WireMessage } from '../../agent/wire/types.js';

export interface RawIdentity {
  agentSeed: Uint8Array;
  certBytes: Uint8Array;
}

export class RawPeer {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  tx: Uint8Array | null = null;
  rx: Uint8Array | null = null;
  txCounter = 0;
  rxCounter = 0;
  /** Every byte sent, for replay tests. */
  readonly sentBytes: Buffer[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static connect(addr: string): Promise<RawPeer> {
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(addr.slice(i + 1));
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port }, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when the socket closes (or after timeoutMs with false). */
  waitClosed(timeoutMs = 5000): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(true);
      const t = setTimeout(() => resolve(false), timeoutMs);
      const check = () => {
        if (this.closed) {
          clearTimeout(t);
          resolve(true);
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  write(bytes: Uint8Array): void {
    const b = Buffer.from(bytes);
    this.sentBytes.push(b);
    this.socket.write(b);
  }

  private async readFrame(headerBytes: 2 | 4, timeoutMs = 5000): Promise<Uint8Array | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= headerBytes) {
        const len = headerBytes === 2 ? this.buf.readUInt16BE(0) : this.buf.readUInt32BE(0);
        if (this.buf.length >= headerBytes + len) {
          const f = this.buf.subarray(headerBytes, headerBytes + len);
          this.buf = this.buf.subarray(headerBytes + len);
          return new Uint8Array(f);
        }
      }
      if (this.closed || Date.now() > deadline) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  private frame2(msg: Uint8Array): Uint8Array {
    const out = new Uint8Array(2 + msg.length);
    out[0] = msg.length >> 8;
    out[1] = msg.length & 0xff;
    out.set(msg, 2);
    return out;
  }

  /**
   * Runs an initiator XX handshake as `id`. `payload3` overrides the msg3 payload
   * (e.g. a tampered cert); `staticSeed` or `staticKeyPair` replace the static key (e.g. one
   * of small order). Returns the responder's decoded msg2 payload bytes, or null if
   * the responder hung up.
   */
  async handshake(
    id: RawIdentity,
    opts: { payload3?: (h2: Uint8Array) => HandshakePayload; staticSeed?: Uint8Array; staticKeyPair?: { publicKey: Uint8Array; secretKey: Uint8Array } } = {},
  ): Promise<Uint8Array | null> {
    const kp = opts.staticKeyPair ?? curve.generateKeyPair(opts.staticSeed ?? id.agentSeed);
    const noise = new Noise('XX', true, kp, { curve });
    noise.initialise(utf8(NOISE_PROLOGUE));
    this.write(this.frame2(noise.send(new Uint8Array(0))));
    const m2 = await this.readFrame(2);
    if (!m2) return null;
    const p2 = noise.recv(m2);
    const h2 = noise.getHandshakeHash();
    const payload = opts.payload3 ? opts.payload3(h2) : { v: 1 as const, cert: id.certBytes };
    this.write(this.frame2(noise.send(encodeHandshakePayload(payload))));
    this.tx = new Uint8Array(noise.tx!);
    this.rx = new Uint8Array(noise.rx!);
    return p2;
  }

  /** Sends one encrypted record whose plaintext is `plain` (by default a batch of messages). */
  sendRecordPlain(plain: Uint8Array): void {
    const ct = aeadSeal(this.tx!, counterNonce(this.txCounter++), plain);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(ct.length);
    this.write(Buffer.concat([h, Buffer.from(ct)]));
  }

  sendMessagesRaw(messages: Uint8Array[]): void {
    this.sendRecordPlain(encodeBatch(messages));
  }

  /** Reads the next record and decodes its messages (null when the link closed). */
  async readMessages(timeoutMs = 5000): Promise<WireMessage[] | null> {
    const rec = await this.readFrame(4, timeoutMs);
    if (!rec) return null;
    const plain = aeadOpen(this.rx!, counterNonce(this.rxCounter++), rec);
    if (!plain) throw new Error('record failed to decrypt');
    return decodeBatch(plain).map((m) => decodeMessage(m));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
