/**
 * A test-only tap of the application frames one daemon receives and sends (decrypted link
 * records, one msgpack message each), enabled by the environment variable
 * WOTRELAY_FRAME_TAP=<file>. Tests use it to check what a relay sees of an onion
 * (test/integration/onion.test.ts). It is never on by default and writes only to that file
 * (mode 0600), never to the log; frames carry no key material, but their metadata is exactly
 * what onion mode hides, so do not set it outside tests.
 *
 * Record: dir (1 byte: 0 received, 1 sent) || peer entity (32) || length (u32 BE) || frame.
 */
import fs from 'node:fs';

export interface FrameTap {
  write(dir: 'in' | 'out', peer: Uint8Array, frame: Uint8Array): void;
  close(): void;
}

export function openFrameTap(env: NodeJS.ProcessEnv = process.env): FrameTap | null {
  const file = env['WOTRELAY_FRAME_TAP'];
  if (!file) return null;
  const fd = fs.openSync(file, 'a', 0o600);
  fs.fchmodSync(fd, 0o600);
  let open = true;
  return {
    write(dir, peer, frame) {
      if (!open) return;
      const head = Buffer.alloc(37);
      head[0] = dir === 'in' ? 0 : 1;
      head.set(peer, 1);
      head.writeUInt32BE(frame.length, 33);
      fs.writeSync(fd, Buffer.concat([head, frame]));
    },
    close() {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}

/** Reads a tap file back: every record, in order. */
export function readFrameTap(file: string): Array<{ dir: 'in' | 'out'; peer: Uint8Array; frame: Uint8Array }> {
  const b = fs.readFileSync(file);
  const out: Array<{ dir: 'in' | 'out'; peer: Uint8Array; frame: Uint8Array }> = [];
  for (let off = 0; off + 37 <= b.length; ) {
    const len = b.readUInt32BE(off + 33);
    out.push({ dir: b[off] === 0 ? 'in' : 'out', peer: new Uint8Array(b.subarray(off + 1, off + 33)), frame: new Uint8Array(b.subarray(off + 37, off + 37 + len)) });
    off += 37 + len;
  }
  return out;
}
