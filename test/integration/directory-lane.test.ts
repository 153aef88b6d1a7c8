/**
 * The directory's fast lane (directory-server/fastlane.ts) answers byte for byte what node:http
 * answers. Two directory servers run in this process on real loopback TCP, each over its own
 * SQLite store filled alike, with the same clock: one reads lookups with the lane, the other
 * sends every request through node:http. The same bytes go to both — lookups, every request
 * form the lane must hand over (other paths and id forms, bodies, smuggling attempts, folded
 * and malformed headers, oversized heads, HTTP/1.0, Upgrade, Expect), the same streams cut
 * into random pieces, and a few hundred seeded random mutations of a pipelined stream — and
 * what comes back (everything, until the server closes the connection; only the Date header
 * left out) must be the same.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateBoxKey, generateSigningKey, type SigningKey } from '../../agent/crypto/index.js';
import { createAnnouncement, encodeEntityId, issueCert } from '../../agent/identity/index.js';
import { parseConfig } from '../../directory-server/config.js';
import { Logger } from '../../directory-server/log.js';
import { DirectoryMetrics } from '../../directory-server/metrics.js';
import { createDirectoryServer, type DirectoryServer } from '../../directory-server/server.js';
import { SqliteStore } from '../../directory-server/sqlite-store.js';

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const DAY = 86_400_000;

interface Side {
  dir: DirectoryServer;
  store: SqliteStore;
  metrics: DirectoryMetrics;
  port: number;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wotrelay-lane-'));
const sides: Side[] = [];

function announcement(entity: SigningKey, seq: number): Uint8Array {
  const agent = generateSigningKey();
  const cert = issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: NOW - DAY, notAfter: NOW + 30 * DAY, seq: 1 });
  return createAnnouncement(agent, cert, { addrs: ['192.0.2.7:7117'], seq, ts: NOW - 1000 });
}

/** Two servers, lane on and off, over stores holding the same records; `args` are directory flags. */
async function pair(args: string[], records: { entity: SigningKey; bytes: Uint8Array }[]): Promise<[Side, Side]> {
  const out: Side[] = [];
  for (const fastLane of [true, false]) {
    const store = SqliteStore.open(path.join(tmp, `${sides.length}-${fastLane}.db`), { cacheRecords: 100 });
    for (const r of records) {
      const put = await store.put(r.entity.publicKey, { seq: NOW - 1000, ts: NOW - 1000, storedAt: NOW, expiresAt: NOW + DAY, bytes: r.bytes }, { now: NOW, maxRecords: 1000 });
      assert.is(put.kind, 'created');
    }
    const metrics = new DirectoryMetrics();
    const config = parseConfig(args, {});
    const dir = createDirectoryServer({ config, store, metrics, log: new Logger('logfmt', 'error', () => undefined), now: () => NOW, fastLane });
    await new Promise<void>((resolve) => dir.server.listen(0, '127.0.0.1', resolve));
    const side = { dir, store, metrics, port: (dir.server.address() as net.AddressInfo).port };
    sides.push(side);
    out.push(side);
  }
  return out as [Side, Side];
}

/**
 * Sends `chunks` on a new connection (each written on its own, a few ms apart when `gapMs`),
 * then ends its side; resolves with everything the server sent until it closed, its Date
 * headers taken out.
 */
function exchange(port: number, chunks: readonly Buffer[], gapMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within 10 s; got ${JSON.stringify(Buffer.concat(got).toString('latin1').slice(0, 400))}`));
    }, 10_000);
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => undefined); // a reset after the server's last answer: what it sent is what counts
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got).toString('latin1').replace(/\r\nDate: [^\r]*/g, ''));
    });
    s.on('connect', async () => {
      for (const c of chunks) {
        if (s.destroyed) return;
        s.write(c);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (!s.destroyed) s.end();
    });
  });
}

const responses = (text: string): string[] => text.split(/(?=HTTP\/1\.1 \d{3} )/).filter(Boolean);
const CLIENT_ERROR = /^HTTP\/1\.1 (400|431) [^\r]*\r\nConnection: close\r\nContent-Length: 0\r\n\r\n$/;

/**
 * Whether the lane's answers are node:http's but for lookups node:http drops: when a request
 * its parser refuses follows, in the same read, requests it has already answered, node:http
 * writes the first answer, queues the others behind it and loses them when its client-error
 * handler closes the connection. The lane wrote them already. So node:http's answers must be
 * P + [E] (E the client-error answer) and the lane's P + X + [E], X whole answers (the lane's,
 * or node:http's own after the lane handed the connection over; node:http wrote them there
 * because its queue started with them).
 */
function laneAnsweredMore(lane: string, node: string): boolean {
  const l = responses(lane);
  const n = responses(node);
  if (n.length === 0 || !CLIENT_ERROR.test(n[n.length - 1]!) || l.length <= n.length || l[l.length - 1] !== n[n.length - 1]) return false;
  for (let i = 0; i < n.length - 1; i++) if (l[i] !== n[i]) return false;
  return l.slice(n.length - 1, -1).every((r) => !CLIENT_ERROR.test(r) && /\r\n\r\n/.test(r));
}

/** What both servers answer to the same bytes; asserts they are the same (or `laneAnsweredMore`) and returns the lane's. */
async function same(sidesOf: [Side, Side], chunks: readonly Buffer[], what: string, gapMs = 0): Promise<string> {
  const [lane, node] = await Promise.all(sidesOf.map((s) => exchange(s.port, chunks, gapMs)));
  if (lane !== node && !laneAnsweredMore(lane!, node!)) {
    assert.fixture(lane, node, `${what}: the lane answered otherwise than node:http`);
  }
  return lane!;
}

/** Splits `b` into pieces at `cuts` random places (seeded). */
function cut(b: Buffer, pieces: number, rnd: () => number): Buffer[] {
  const at = new Set<number>();
  while (at.size < Math.min(pieces - 1, b.length - 1)) at.add(1 + Math.floor(rnd() * (b.length - 1)));
  const sorted = [...at].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let p = 0;
  for (const c of [...sorted, b.length]) {
    out.push(b.subarray(p, c));
    p = c;
  }
  return out;
}

function xorshift(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const known = generateSigningKey();
const knownBytes = announcement(known, NOW - 1000);
const knownId = encodeEntityId(known.publicKey);
const unknownId = encodeEntityId(generateSigningKey().publicKey);
const fresh = generateSigningKey();
const freshBytes = announcement(fresh, NOW - 500);
const get = (id: string, extra = ''): string => `GET /v1/records/${id} HTTP/1.1\r\nHost: dir.example\r\n${extra}\r\n`;
const B = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

/** Request forms, each with what both servers must answer alike. */
const forms: [string, string | Buffer][] = [
  ['a stored record', get(knownId)],
  ['an unknown record (404)', get(unknownId)],
  ['HEAD', `HEAD /v1/records/${knownId} HTTP/1.1\r\nHost: d\r\n\r\n`],
  ['Accept: application/json', get(knownId, 'Accept: application/json\r\n')],
  ['two Accept headers, JSON in the second', get(knownId, 'Accept: text/plain\r\nAccept: application/json;q=0.9\r\n')],
  ['what fetch() sends', get(knownId, 'connection: keep-alive\r\naccept: */*\r\naccept-language: *\r\nsec-fetch-mode: cors\r\nuser-agent: node\r\naccept-encoding: gzip, deflate\r\n')],
  ['header values with spaces and obs-text', get(knownId, 'X-Note:   caf\xe9 au lait  \r\nX-Tab:\tv\t\r\n')],
  ['Connection: close', get(knownId, 'Connection: close\r\n')],
  ['an upper-case id (node:http)', get(knownId.toUpperCase())],
  ['a percent-encoded id (node:http)', get(knownId.replace('1', '%31'))],
  ['?format=json (node:http)', `GET /v1/records/${knownId}?format=json HTTP/1.1\r\nHost: d\r\n\r\n`],
  ['a bad id checksum (node:http)', get(`${knownId.slice(0, -1)}${knownId.endsWith('q') ? 'p' : 'q'}`)],
  ['/healthz (node:http)', 'GET /healthz HTTP/1.1\r\nHost: d\r\n\r\n'],
  ['an unknown path (node:http)', 'GET /v1/nothing HTTP/1.1\r\nHost: d\r\n\r\n'],
  ['DELETE (node:http)', `DELETE /v1/records/${knownId} HTTP/1.1\r\nHost: d\r\n\r\n`],
  ['lower-case method (node:http)', `get /v1/records/${knownId} HTTP/1.1\r\nHost: d\r\n\r\n`],
  ['two spaces in the request line (node:http)', `GET  /v1/records/${knownId} HTTP/1.1\r\nHost: d\r\n\r\n`],
  ['HTTP/1.0 (node:http)', `GET /v1/records/${knownId} HTTP/1.0\r\nHost: d\r\n\r\n`],
  ['HTTP/2.0 in an HTTP/1 line (node:http)', `GET /v1/records/${knownId} HTTP/2.0\r\nHost: d\r\n\r\n`],
  ['no Host (node:http)', `GET /v1/records/${knownId} HTTP/1.1\r\nAccept: */*\r\n\r\n`],
  ['two Hosts (node:http)', get(knownId, 'Host: other\r\n')],
  ['Content-Length: 0 on a GET (node:http)', get(knownId, 'Content-Length: 0\r\n')],
  ['a GET with a body (node:http)', `${get(knownId, 'Content-Length: 5\r\n')}hello`],
  ['a chunked GET (node:http)', `${get(knownId, 'Transfer-Encoding: chunked\r\n')}5\r\nhello\r\n0\r\n\r\n`],
  ['Content-Length smuggled behind a bare LF (node:http)', get(knownId, 'X-A: b\nContent-Length: 5\r\n')],
  ['a bare CR in a value (node:http)', get(knownId, 'X-A: b\rc\r\n')],
  ['a NUL in a value (node:http)', get(knownId, 'X-A: b\x00c\r\n')],
  ['a folded header (node:http)', get(knownId, 'X-A: b\r\n  c\r\n')],
  ['a space before the colon (node:http)', get(knownId, 'Host : d\r\n')],
  ['a header without a colon (node:http)', get(knownId, 'Nonsense\r\n')],
  ['Expect: 100-continue (node:http)', get(knownId, 'Expect: 100-continue\r\n')],
  ['Upgrade (node:http)', get(knownId, 'Connection: Upgrade\r\nUpgrade: websocket\r\n')],
  ['Connection: keep-alive, close (node:http)', get(knownId, 'Connection: keep-alive, close\r\n')],
  ['a head over 8 KiB (node:http: 431)', get(knownId, `X-Big: ${'x'.repeat(9000)}\r\n`)],
  ['80 header lines (node:http)', get(knownId, Array.from({ length: 80 }, (_, i) => `X-H${i}: ${i}\r\n`).join(''))],
  ['PUT of an announcement (node:http)', `PUT /v1/records/${encodeEntityId(fresh.publicKey)} HTTP/1.1\r\nHost: d\r\nContent-Length: ${freshBytes.length}\r\n\r\n${Buffer.from(freshBytes).toString('latin1')}`],
  ['an unfinished head, then the end (node:http: 400)', `GET /v1/records/${knownId} HTTP/1.1\r\nHost: d\r\n`],
];

test('every request form, alone and between two lookups on one connection: the lane answers exactly what node:http answers', async () => {
  const servers = await pair(['--rate-read', 'off', '--rate-write', 'off'], [{ entity: known, bytes: knownBytes }]);
  for (const [what, raw] of forms) {
    // Alone, then pipelined after a lookup the lane answers and before one (after a hand-over, node:http's).
    await same(servers, [B(raw)], what);
    await same(servers, [B(get(knownId) + B(raw).toString('latin1') + get(knownId))], `${what}, pipelined between lookups`);
  }
  // The lane really answered: the first form is a lookup it takes, the fast lane counted hand-overs.
  const text = servers[0].metrics.render();
  assert.match(text, /wotrelay_directory_lane_handoffs_total\{reason="request"\} \d+/);
  assert.match(text, /wotrelay_directory_lane_handoffs_total\{reason="body"\} \d+/);
  assert.match(text, /wotrelay_directory_lane_handoffs_total\{reason="size"\} \d+/);
  assert.not.match(servers[1].metrics.render(), /lane_handoffs_total\{/);
  const okLookups = (s: Side): number => Number(/requests_total\{route="get_record",status="200"\} (\d+)/.exec(s.metrics.render())?.[1] ?? 0);
  assert.is(okLookups(servers[0]), okLookups(servers[1]), 'both counted the same lookups');
});

test('pipelined lookups cut into random pieces (split heads, split CRLFs) are answered in order, as node:http answers them', async () => {
  const servers = await pair(['--rate-read', 'off', '--rate-write', 'off'], [{ entity: known, bytes: knownBytes }]);
  const rnd = xorshift(0x1a2b3c);
  const stream = B([get(knownId), get(unknownId), `HEAD /v1/records/${knownId} HTTP/1.1\r\nHost: d\r\n\r\n`, get(knownId, 'Accept: application/json\r\n'), get(knownId)].join(''));
  const whole = await same(servers, [stream], 'the stream in one write');
  assert.is(whole.split('HTTP/1.1 ').length - 1, 5, 'five answers');
  for (let i = 0; i < 12; i++) {
    const pieces = cut(stream, 2 + Math.floor(rnd() * 12), rnd);
    assert.is(await same(servers, pieces, `cut into ${pieces.length}`, 2), whole, `cut ${i} into ${pieces.length} pieces answers as the whole`);
  }
  // Byte by byte, as a slow client sends it.
  const slow = await same(servers, cut(B(get(knownId)), 400, rnd), 'byte by byte', 1);
  assert.ok(slow.startsWith('HTTP/1.1 200 OK'), slow.slice(0, 40));
});

test('seeded random mutations of a pipelined stream (bytes replaced, inserted, removed): the lane answers as node:http every time', async () => {
  const servers = await pair(['--rate-read', 'off', '--rate-write', 'off'], [{ entity: known, bytes: knownBytes }]);
  const rnd = xorshift(0x5eed);
  const base = B(get(knownId) + get(unknownId, 'Accept: application/json\r\nX-Forwarded-For: 198.51.100.7\r\n') + get(knownId));
  const alphabet = B(' \t\r\n:;,/%?#.-_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\x00\x7f\xe9');
  const pick = (): number => alphabet[Math.floor(rnd() * alphabet.length)]!;
  const handOffs = (): number => [...servers[0].metrics.render().matchAll(/lane_handoffs_total\{[^}]*\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  let handedOver = 0;
  let laneOnly = 0;
  for (let i = 0; i < 300; i++) {
    const bytes = [...base];
    const edits = 1 + Math.floor(rnd() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * bytes.length);
      const op = rnd();
      if (op < 0.5) bytes[at] = pick();
      else if (op < 0.8) bytes.splice(at, 0, pick());
      else bytes.splice(at, 1);
    }
    const before = handOffs();
    const out = await same(servers, [Buffer.from(bytes)], `mutation ${i}: ${JSON.stringify(Buffer.from(bytes).toString('latin1'))}`);
    if (handOffs() > before) handedOver++;
    else if (out !== '') laneOnly++;
  }
  // Both kinds occurred: mutations the lane still answered itself, and ones it handed over.
  assert.ok(handedOver > 30, `handed over ${handedOver}`);
  assert.ok(laneOnly > 20, `answered by the lane alone ${laneOnly}`);
});

test('rate limits: the lane refuses past the limit with the same 429 and Retry-After, counting the same source', async () => {
  const servers = await pair(['--rate-read', '3/min', '--rate-write', 'off'], [{ entity: known, bytes: knownBytes }]);
  const out = await same(servers, [B(Array.from({ length: 6 }, () => get(knownId)).join(''))], 'six lookups at a limit of 3/min');
  assert.is(out.split('HTTP/1.1 200 OK').length - 1, 3);
  assert.is(out.split('HTTP/1.1 429 Too Many Requests').length - 1, 3);
  assert.match(out, /Retry-After: \d+/);
});

test('behind a trusted proxy: the lane takes the client from X-Forwarded-For for the rate limit, as node:http does', async () => {
  const servers = await pair(['--rate-read', '2/min', '--rate-write', 'off', '--trust-proxy', 'loopback'], [{ entity: known, bytes: knownBytes }]);
  const from = (ip: string): string => get(knownId, `X-Forwarded-For: ${ip}\r\n`);
  const out = await same(servers, [B([from('198.51.100.1'), from('198.51.100.1'), from('198.51.100.1'), from('203.0.113.9'), get(knownId, 'X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\n')].join(''))], 'two clients behind the proxy');
  assert.equal(
    responses(out).map((r) => r.slice(9, 12)),
    // The last: two headers make one list, and the client is its last address the proxy did not add.
    ['200', '200', '429', '200', '429'],
  );
});

test('limits kept by the lane: the 1,000th request on a connection is answered with Connection: close, later ones are not read', async () => {
  const servers = await pair(['--rate-read', 'off', '--rate-write', 'off'], [{ entity: known, bytes: knownBytes }]);
  const lane = await exchange(servers[0].port, [B(Array.from({ length: 1003 }, () => get(knownId)).join(''))]);
  const answers = lane.split('HTTP/1.1 ').length - 1;
  assert.is(answers, 1000);
  assert.is(lane.split('Connection: close').length - 1, 1);
  assert.ok(lane.lastIndexOf('Connection: close') > lane.lastIndexOf('HTTP/1.1 200'), 'the last answer closes');
});

test('close(): the lane\'s idle kept-alive connections are closed, so shutting down does not wait for their timeout', async () => {
  const [lane] = await pair(['--rate-read', 'off', '--rate-write', 'off'], [{ entity: known, bytes: knownBytes }]);
  const s = net.connect(lane.port, '127.0.0.1');
  const closed = new Promise<string>((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
  });
  s.write(get(knownId));
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  await lane.dir.close();
  const got = await closed;
  assert.ok(performance.now() - t0 < 2000, 'closed before the 5 s keep-alive timeout');
  assert.ok(got.startsWith('HTTP/1.1 200 OK'));
  sides.splice(sides.indexOf(lane), 1);
  await lane.store.close();
});

test.after(async () => {
  for (const s of sides) {
    await s.dir.close();
    await s.store.close();
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

test.run();
