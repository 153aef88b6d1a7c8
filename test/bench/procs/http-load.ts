/**
 * HTTP load generator for the directory benchmark, in its own process: `conns` keep-alive
 * connections, each with `depth` pipelined GET requests in flight (opened again every 500
 * requests), for `seconds`; paths are
 * drawn at random (seeded afresh each run) from a file of one path per line. Counts responses by status and prints
 * one JSON line. HTTP/1.1 responses are parsed just enough to split them (Content-Length).
 *
 *   node http-load.js HOST:PORT PATHS_FILE SECONDS CONNS DEPTH
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';

const [target, pathsFile, secondsArg, connsArg, depthArg] = process.argv.slice(2);
const i = target!.lastIndexOf(':');
const host = target!.slice(0, i);
const port = Number(target!.slice(i + 1));
const paths = fs.readFileSync(pathsFile!, 'utf8').split('\n').filter(Boolean);
const seconds = Number(secondsArg);
const conns = Number(connsArg);
const depth = Number(depthArg);
const counts: Record<string, number> = {};
let done = 0;
// A fresh seed per run: with a fixed one every run would ask the same keys in the same order,
// and a server's cache would meet again exactly what the warm-up left in it.
let x = randomInt(1, 2 ** 31);
const rnd = (n: number): number => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) % n;
};
const request = (): string => `GET ${paths[rnd(paths.length)]} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
const end = performance.now() + seconds * 1000;
/** Requests per connection before it is closed and opened again (servers cap them: Node answers 503 past maxRequestsPerSocket). */
const PER_CONNECTION = 500;
let open = conns;

function connection(): void {
  const s = net.connect({ host, port });
  s.setNoDelay(true);
  let sent = 0;
  let inFlight = 0;
  let buf: Buffer = Buffer.alloc(0);
  const fill = (): void => {
    if (performance.now() >= end || sent >= PER_CONNECTION) {
      if (inFlight === 0) s.end();
      return;
    }
    let out = '';
    while (inFlight < depth && sent < PER_CONNECTION) {
      out += request();
      inFlight++;
      sent++;
    }
    if (out) s.write(out);
  };
  s.on('connect', fill);
  s.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const head = buf.indexOf('\r\n\r\n');
      if (head < 0) break;
      const headers = buf.subarray(0, head).toString('latin1');
      const m = /content-length:\s*(\d+)/i.exec(headers);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < head + 4 + len) break;
      const status = headers.slice(9, 12);
      counts[status] = (counts[status] ?? 0) + 1;
      done++;
      inFlight--;
      buf = buf.subarray(head + 4 + len);
    }
    fill();
  });
  s.on('close', () => {
    if (performance.now() < end) return void connection();
    if (--open === 0) process.stdout.write(`${JSON.stringify({ done, counts, seconds })}\n`);
  });
  s.on('error', (e) => {
    counts['error'] = (counts['error'] ?? 0) + 1;
    process.stderr.write(`connection error: ${e.message}\n`);
  });
}

for (let c = 0; c < conns; c++) connection();
