/**
 * The baseline of the relay benchmark: a raw TCP relay with no crypto and no storage, in
 * the same 4-process topology A→B→C→D on loopback. Frames are `u32 length || payload`;
 * each payload starts with the sender's monotonic clock (ns, CLOCK_MONOTONIC is shared by
 * every process on the machine) and a sequence number.
 *
 *   node raw-relay.js sink            D: counts frames, records latencies when asked
 *   node raw-relay.js fwd <next>      B, C: parse frames, write each chunk's whole frames on in one write
 *   node raw-relay.js gen <next>      A: sends frames, as fast as TCP takes them or at a set rate
 *
 * Each role listens on 127.0.0.1:0 (except gen) and tells its parent the port over IPC; the
 * parent drives it with IPC commands (see relay.ts).
 */
import net from 'node:net';
import { percentile } from '../lib.js';

type Cmd =
  | { cmd: 'flood'; seconds: number; size: number }
  | { cmd: 'paced'; rate: number; seconds: number; size: number }
  | { cmd: 'mark'; latencies: boolean }
  | { cmd: 'exit' };

const role = process.argv[2];
const next = process.argv[3];
const send = (m: unknown): void => {
  process.send?.(m);
};

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** Splits a byte stream into frames; returns how many bytes of `buf` are whole frames. */
function wholeFrames(buf: Buffer, onFrame?: (off: number, len: number) => void): number {
  let off = 0;
  while (buf.length - off >= 4) {
    const len = buf.readUInt32BE(off);
    if (buf.length - off - 4 < len) break;
    onFrame?.(off + 4, len);
    off += 4 + len;
  }
  return off;
}

function listen(onSocket: (s: net.Socket) => void): void {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    onSocket(s);
  });
  server.listen(0, '127.0.0.1', () => send({ ready: true, port: (server.address() as net.AddressInfo).port }));
}

function connect(addr: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(hostPort(addr), () => resolve(s));
    s.setNoDelay(true);
    s.once('error', reject);
  });
}

if (role === 'sink') {
  let count = 0;
  let recording = false;
  let lat: number[] = [];
  listen((s) => {
    let rest: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      const buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      const now = recording ? process.hrtime.bigint() : 0n;
      const used = wholeFrames(buf, (off) => {
        count++;
        if (recording && lat.length < 4_000_000) lat.push(Number(now - buf.readBigUInt64BE(off)) / 1000);
      });
      rest = used === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(used));
    });
  });
  process.on('message', (m: Cmd) => {
    if (m.cmd === 'mark') {
      const sorted = Float64Array.from(lat).sort();
      send({ count, latencies: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN });
      count = 0;
      lat = [];
      recording = m.latencies;
    } else if (m.cmd === 'exit') process.exit(0);
  });
} else if (role === 'fwd') {
  listen(async (inbound) => {
    const out = await connect(next!);
    let rest: Buffer = Buffer.alloc(0);
    inbound.on('data', (chunk: Buffer) => {
      const buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      const used = wholeFrames(buf);
      if (used > 0) {
        // One write per chunk: every whole frame in it, copied once.
        if (!out.write(used === buf.length ? buf : buf.subarray(0, used))) {
          inbound.pause();
          out.once('drain', () => inbound.resume());
        }
      }
      rest = used === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(used));
    });
  });
  process.on('message', (m: Cmd) => {
    if (m.cmd === 'exit') process.exit(0);
  });
} else if (role === 'gen') {
  const sockP = connect(next!);
  let seq = 0;
  /** `n` frames of `size` payload bytes stamped with the clock now, in one buffer. */
  const frames = (n: number, size: number): Buffer => {
    const b = Buffer.alloc(n * (4 + size));
    const now = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const off = i * (4 + size);
      b.writeUInt32BE(size, off);
      b.writeBigUInt64BE(now, off + 4);
      b.writeUInt32BE(seq++ >>> 0, off + 12);
    }
    return b;
  };
  process.on('message', async (m: Cmd) => {
    const sock = await sockP;
    if (m.cmd === 'flood') {
      const end = performance.now() + m.seconds * 1000;
      let sent = 0;
      const pump = (): void => {
        while (performance.now() < end) {
          const ok = sock.write(frames(256, m.size));
          sent += 256;
          if (!ok) return void sock.once('drain', pump);
        }
        send({ sent });
      };
      pump();
    } else if (m.cmd === 'paced') {
      const t0 = performance.now();
      let sent = 0;
      const timer = setInterval(() => {
        const el = performance.now() - t0;
        if (el >= m.seconds * 1000) {
          clearInterval(timer);
          send({ sent });
          return;
        }
        const due = Math.floor((el / 1000) * m.rate) - sent;
        if (due > 0) {
          sock.write(frames(due, m.size));
          sent += due;
        }
      }, 1);
    } else if (m.cmd === 'exit') process.exit(0);
  });
  send({ ready: true, port: 0 });
} else {
  process.stderr.write('usage: raw-relay.js sink | fwd HOST:PORT | gen HOST:PORT\n');
  process.exit(2);
}
