/**
 * The fast lane (directory-server/fastlane.ts) on its own, in front of a bare node:http server
 * on loopback, with small limits: it answers the lookups it reads and hands everything else to
 * node:http with the connection; it closes an idle connection after the keep-alive timeout,
 * answers 408 to a head left unfinished (silent, or trickling past the headers timeout), hands
 * a head over the size limit to node:http (431), and closes idle connections on request.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import { installFastLane, type FastLane, type HandOffReason } from '../../directory-server/fastlane.js';

const LOOKUP = 'GET /v1/records/abc HTTP/1.1\r\nHost: h\r\n\r\n';

interface Harness {
  port: number;
  server: http.Server;
  lane: FastLane;
  handOffs: HandOffReason[];
  close(): Promise<void>;
}

async function start(limits: { keepAliveTimeoutMs?: number; headersTimeoutMs?: number; maxHeaderSize?: number; bodyBytes?: number; maxRequestsPerSocket?: number } = {}): Promise<Harness> {
  const maxHeaderSize = limits.maxHeaderSize ?? 8192;
  const server = http.createServer({ maxHeaderSize }, (req, res) => res.end(`node ${req.method} ${req.url}`));
  const handOffs: HandOffReason[] = [];
  const lane = installFastLane(server, {
    maxHeaderSize,
    keepAliveTimeoutMs: limits.keepAliveTimeoutMs ?? 5000,
    headersTimeoutMs: limits.headersTimeoutMs ?? 10_000,
    maxRequestsPerSocket: limits.maxRequestsPerSocket ?? 1000,
    decodeId: (raw) => (/^[a-z]+$/.test(raw) ? new Uint8Array([raw.length]) : null),
    answer: (q) => {
      const body = `lane ${q.rawId}${'.'.repeat(limits.bodyBytes ?? 0)}`;
      return { status: 200, headers: ['Content-Length', String(body.length)], body };
    },
    onHandOff: (r) => handOffs.push(r),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    server,
    lane,
    handOffs,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        lane.closeAllConnections();
        server.closeAllConnections();
      }),
  };
}

/** Runs `body` against a lane started with `limits`, and stops it after, whatever happens. */
async function withLane(limits: Parameters<typeof start>[0], body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await start(limits);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

/** A connection that records what comes back and when it closes. */
function connect(port: number): { socket: net.Socket; text: () => string; closed: Promise<number> } {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  const t0 = performance.now();
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now() - t0)));
  return { socket, text: () => got, closed };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('answers lookups itself, pipelined, and hands the rest of the connection to node:http from the first request it does not take', async () => {
  await withLane({}, async (h) => {
    const c = connect(h.port);
    c.socket.write(`${LOOKUP}${LOOKUP.replace('abc', 'de')}POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi${LOOKUP}`);
    await sleep(200);
    c.socket.end();
    await c.closed;
    const bodies = c.text().match(/(lane|node) [^\r\n]*?(?=HTTP|$)/g) ?? [];
    assert.equal(bodies, ['lane abc', 'lane de', 'node POST /x', 'node GET /v1/records/abc']);
    assert.equal(h.handOffs, ['request']);
    assert.is(h.lane.connections, 0);
  });
});

test('a client that pipelines lookups without reading the answers is not read further: what the server buffers stays bounded', async () => {
  await withLane({ bodyBytes: 1000, maxRequestsPerSocket: 100_000 }, async (h) => {
    let serverSide: net.Socket | undefined;
    h.server.on('connection', (s: net.Socket) => (serverSide = s));
    const c = net.connect(h.port, '127.0.0.1');
    c.on('error', () => undefined);
    c.pause(); // reads nothing
    const n = 20_000; // ~20 MB of answers
    await new Promise<void>((resolve) => c.on('connect', resolve));
    c.write(LOOKUP.repeat(n));
    let most = 0;
    for (let i = 0; i < 40; i++) {
      await sleep(10);
      most = Math.max(most, serverSide?.writableLength ?? 0);
    }
    assert.ok(serverSide !== undefined);
    assert.ok(most < 4 * 1024 * 1024, `the server buffered up to ${most} bytes of answers`);
    // Reading now, the client gets every answer, in order.
    let got = 0;
    let tail = '';
    await new Promise<void>((resolve) => {
      c.on('data', (d: Buffer) => {
        const t = tail + d.toString('latin1');
        const parts = t.split('HTTP/1.1 200 OK');
        got += parts.length - 1;
        tail = parts[parts.length - 1]!.slice(-20);
        if (got >= n) resolve();
      });
      c.on('close', () => resolve());
      c.resume();
    });
    assert.is(got, n);
    c.destroy();
  });
});

test('after the last answer (Connection: close) the server lets the socket go, even if the client never closes its side', async () => {
  await withLane({}, async (h) => {
    const c = net.connect({ port: h.port, host: '127.0.0.1', allowHalfOpen: true });
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString('latin1')));
    const ended = new Promise((r) => c.on('end', r));
    c.write(LOOKUP.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    await ended;
    assert.match(got, /Connection: close\r\n\r\nlane abc$/);
    const open = (): Promise<number> => new Promise((r, j) => h.server.getConnections((e, n) => (e ? j(e) : r(n))));
    for (let i = 0; i < 50 && (await open()) > 0; i++) await sleep(20);
    const held = await open();
    c.destroy();
    assert.is(held, 0, 'the server still holds the half-closed connection');
  });
});

test('an idle kept-alive connection is closed after the keep-alive timeout', async () => {
  await withLane({ keepAliveTimeoutMs: 150 }, async (h) => {
    const c = connect(h.port);
    c.socket.write(LOOKUP);
    const ms = await c.closed;
    assert.ok(c.text().startsWith('HTTP/1.1 200 OK'), c.text());
    assert.ok(ms >= 140, `closed after ${ms.toFixed(0)} ms`);
  });
});

test('a head left unfinished is answered 408 and closed: when the connection falls silent, and when it trickles past the headers timeout', async () => {
  await withLane({ keepAliveTimeoutMs: 150, headersTimeoutMs: 300 }, async (h) => {
    const silent = connect(h.port);
    silent.socket.write('GET /v1/records/abc HTTP/1.1\r\nHo');
    await silent.closed;
    assert.match(silent.text(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
    // One byte every 50 ms keeps the connection from being idle, not its head from being late.
    const slow = connect(h.port);
    const bytes = 'GET /v1/records/abc HTTP/1.1\r\nHost: h\r\nX-Slow: ' + 'y'.repeat(100);
    let ended = false;
    void slow.closed.then(() => (ended = true));
    for (let i = 0; i < bytes.length && !ended; i++) {
      slow.socket.write(bytes[i]!);
      await sleep(50);
    }
    await slow.closed;
    assert.match(slow.text(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(ended, 'closed before the head was finished');
  });
});

test('a head over the size limit goes to node:http, which answers 431', async () => {
  await withLane({ maxHeaderSize: 256 }, async (h) => {
    const c = connect(h.port);
    c.socket.write(`GET /v1/records/abc HTTP/1.1\r\nHost: h\r\nX-Big: ${'x'.repeat(400)}`);
    await c.closed;
    assert.match(c.text(), /^HTTP\/1\.1 431 /);
    assert.equal(h.handOffs, ['size']);
  });
});

test('closeIdleConnections closes waiting connections and makes the next answer on a busy one its last', async () => {
  await withLane({}, async (h) => {
    const idle = connect(h.port);
    idle.socket.write(LOOKUP);
    const partial = connect(h.port);
    partial.socket.write('GET /v1/records/abc HTTP/1.1\r\n');
    await sleep(100);
    assert.is(h.lane.connections, 2);
    h.lane.closeIdleConnections();
    await idle.closed;
    assert.is(h.lane.connections, 1, 'the connection with an unfinished head is kept until it is answered');
    partial.socket.write('Host: h\r\n\r\n');
    await partial.closed;
    assert.match(partial.text(), /Connection: close\r\n\r\nlane abc$/);
  });
});

test.run();
