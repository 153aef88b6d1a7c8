/**
 * Byte-stream framing: big-endian length-prefixed frames (2-byte headers for Noise handshake
 * messages, 4-byte headers for transport records) with an incremental decoder that checks a
 * declared length against its cap as soon as the header is complete and never allocates it;
 * and record batching (`u32 length || message` repeated) inside a decrypted record.
 */
import { Limits } from './constants.js';
import { WotError } from './errors.js';

/** Prefixes `payload` with its length (big-endian, `headerBytes` wide). */
export function encodeFrame(payload: Uint8Array, headerBytes: 2 | 4): Uint8Array {
  const len = payload.length;
  if (len === 0) throw new WotError('ERR_MALFORMED_FRAME', 'cannot frame an empty payload');
  const max = headerBytes === 2 ? 0xffff : 0xffffffff;
  if (len > max) {
    throw new WotError('ERR_FRAME_TOO_LARGE', `payload of ${len} bytes does not fit a ${headerBytes}-byte length header (max ${max})`);
  }
  const out = new Uint8Array(headerBytes + len);
  if (headerBytes === 2) {
    out[0] = len >>> 8;
    out[1] = len & 0xff;
  } else {
    out[0] = len >>> 24;
    out[1] = (len >>> 16) & 0xff;
    out[2] = (len >>> 8) & 0xff;
    out[3] = len & 0xff;
  }
  out.set(payload, headerBytes);
  return out;
}

export interface FrameDecoderOptions {
  /** Largest accepted payload length; a larger header throws ERR_FRAME_TOO_LARGE. */
  maxFrame: number;
  headerBytes: 2 | 4;
}

/**
 * Incremental frame decoder. `push` returns every frame completed by the chunk (subarrays of
 * the chunk when a frame lies in one chunk, otherwise a fresh copy) and keeps partial data.
 * After it throws, the decoder is dead: every later push throws the same error.
 */
export class FrameDecoder {
  private readonly maxFrame: number;
  private readonly headerBytes: 2 | 4;
  /** Pending chunks; chunks[first] is read from offset `head`. */
  private chunks: Uint8Array[] = [];
  private first = 0;
  private head = 0;
  private size = 0;
  /** Payload length of the frame being read, or -1 while its header is incomplete. */
  private need = -1;
  private failed: WotError | null = null;

  constructor(opts: FrameDecoderOptions) {
    if (opts.headerBytes !== 2 && opts.headerBytes !== 4) {
      throw new WotError('ERR_INTERNAL', `FrameDecoder: headerBytes must be 2 or 4, got ${String(opts.headerBytes)}`);
    }
    if (!Number.isSafeInteger(opts.maxFrame) || opts.maxFrame < 1) {
      throw new WotError('ERR_INTERNAL', `FrameDecoder: maxFrame must be a positive integer, got ${opts.maxFrame}`);
    }
    this.maxFrame = opts.maxFrame;
    this.headerBytes = opts.headerBytes;
  }

  /** Bytes held (partial header and partial payload). */
  get buffered(): number {
    return this.size;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.need < 0) {
        if (this.size < this.headerBytes) break;
        let len = 0;
        for (let i = 0; i < this.headerBytes; i++) len = len * 256 + this.takeByte();
        if (len === 0) return this.fail(new WotError('ERR_MALFORMED_FRAME', 'zero-length frame'));
        if (len > this.maxFrame) {
          return this.fail(new WotError('ERR_FRAME_TOO_LARGE', `frame header declares ${len} bytes, over the ${this.maxFrame}-byte cap`));
        }
        this.need = len;
      }
      if (this.size < this.need) break;
      out.push(this.take(this.need));
      this.need = -1;
    }
    return out;
  }

  private fail(e: WotError): never {
    this.failed = e;
    this.chunks = [];
    this.first = 0;
    this.head = 0;
    this.size = 0;
    throw e;
  }

  private dropFirst(): void {
    this.first++;
    this.head = 0;
    if (this.first === this.chunks.length) {
      this.chunks.length = 0;
      this.first = 0;
    } else if (this.first >= 64 && this.first * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }

  private takeByte(): number {
    const c = this.chunks[this.first]!;
    const b = c[this.head++]!;
    this.size--;
    if (this.head === c.length) this.dropFirst();
    return b;
  }

  /** Removes and returns the next n bytes (n <= size). */
  private take(n: number): Uint8Array {
    this.size -= n;
    const c = this.chunks[this.first]!;
    const avail = c.length - this.head;
    if (avail >= n) {
      const frame = c.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === c.length) this.dropFirst();
      return frame;
    }
    const frame = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const cur = this.chunks[this.first]!;
      const k = Math.min(cur.length - this.head, n - off);
      frame.set(cur.subarray(this.head, this.head + k), off);
      off += k;
      this.head += k;
      if (this.head === cur.length) this.dropFirst();
    }
    return frame;
  }
}

/** Joins encoded messages as `u32 BE length || bytes` each (the plaintext of one record). */
export function encodeBatch(messages: Uint8Array[]): Uint8Array {
  if (messages.length === 0) throw new WotError('ERR_MALFORMED_FRAME', 'a batch needs at least one message');
  let total = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.length === 0) throw new WotError('ERR_MALFORMED_FRAME', `batch message ${i} is empty`);
    if (m.length > 0xffffffff) throw new WotError('ERR_FRAME_TOO_LARGE', `batch message ${i} is over 2^32-1 bytes`);
    total += 4 + m.length;
  }
  const out = new Uint8Array(total);
  let p = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const len = m.length;
    out[p] = len >>> 24;
    out[p + 1] = (len >>> 16) & 0xff;
    out[p + 2] = (len >>> 8) & 0xff;
    out[p + 3] = len & 0xff;
    out.set(m, p + 4);
    p += 4 + len;
  }
  return out;
}

/**
 * Splits a record plaintext into its messages (subarrays of `plain`). Throws
 * ERR_MALFORMED_FRAME on an empty batch, truncation, trailing bytes or a zero length,
 * ERR_FRAME_TOO_LARGE for a message over `maxMessage`, ERR_LIMIT_EXCEEDED over `maxCount`.
 */
export function decodeBatch(plain: Uint8Array, maxMessage: number = Limits.MAX_MESSAGE, maxCount = 4096): Uint8Array[] {
  const end = plain.length;
  if (end === 0) throw new WotError('ERR_MALFORMED_FRAME', 'empty batch');
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < end) {
    if (end - p < 4) throw new WotError('ERR_MALFORMED_FRAME', `batch truncated: ${end - p} trailing bytes at offset ${p} are not a length header`);
    const len = plain[p]! * 0x1000000 + ((plain[p + 1]! << 16) | (plain[p + 2]! << 8) | plain[p + 3]!);
    if (len === 0) throw new WotError('ERR_MALFORMED_FRAME', `zero-length message in batch at offset ${p}`);
    if (len > maxMessage) {
      throw new WotError('ERR_FRAME_TOO_LARGE', `batch message at offset ${p} declares ${len} bytes, over the ${maxMessage}-byte cap`);
    }
    p += 4;
    if (len > end - p) throw new WotError('ERR_MALFORMED_FRAME', `batch truncated: message at offset ${p - 4} declares ${len} bytes, ${end - p} remain`);
    if (out.length >= maxCount) throw new WotError('ERR_LIMIT_EXCEEDED', `batch holds more than ${maxCount} messages`);
    out.push(plain.subarray(p, p + len));
    p += len;
  }
  return out;
}
