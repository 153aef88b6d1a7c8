/**
 * A queue of received TCP chunks from which length-prefixed frames are taken without
 * concatenating more than one frame's worth of bytes. The link switches header width
 * between the handshake (2-byte lengths) and transport records (4-byte lengths) on the
 * same stream, so this reader takes the header width per call.
 */
import { WotError } from '../wire/errors.js';

export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // read offset into chunks[0]
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  private peekByte(i: number): number {
    let idx = this.head + i;
    for (const c of this.chunks) {
      if (idx < c.length) return c[idx]!;
      idx -= c.length;
    }
    throw new RangeError('peek past end');
  }

  /**
   * Takes one frame with a big-endian length header of `headerBytes`, or returns null
   * when not all of it has arrived. Throws ERR_FRAME_TOO_LARGE as soon as a header
   * declares more than `max` bytes, before anything of that size is allocated.
   */
  takeFrame(headerBytes: 2 | 4, max: number): Uint8Array | null {
    if (this.total < headerBytes) return null;
    let len = 0;
    for (let i = 0; i < headerBytes; i++) len = len * 256 + this.peekByte(i);
    if (len > max) {
      throw new WotError('ERR_FRAME_TOO_LARGE', `frame of ${len} bytes exceeds the ${max}-byte limit`);
    }
    if (len === 0) throw new WotError('ERR_MALFORMED_FRAME', 'zero-length frame');
    if (this.total < headerBytes + len) return null;
    this.skip(headerBytes);
    return this.take(len);
  }

  private skip(n: number): void {
    this.take(n);
  }

  private take(n: number): Uint8Array {
    this.total -= n;
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      const want = Math.min(avail, n - off);
      out.set(c.subarray(this.head, this.head + want), off);
      off += want;
      this.head += want;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.total = 0;
  }
}
