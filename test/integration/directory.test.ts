/**
 * The directory server as real processes on loopback (`node dist/directory-server/main.js`):
 * forged records, rolled-back and reused sequence numbers, expiry with a real short TTL,
 * oversized and malformed requests, a flood from one source (rate limited while another
 * source, bound to 127.0.0.2, is still served), records kept across a restart, and two
 * instances over one real Redis (Debian's redis-server, started here on a free port) that
 * see each other's records and refuse a rollback sent to the other instance.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { generateBoxKey, generateSigningKey, type SigningKey } from '../../agent/crypto/index.js';
import { createAnnouncement, encodeEntityId, issueCert } from '../../agent/identity/index.js';
import { packValue, unpackValue } from '../../agent/wire/codec.js';
import { freePort } from '../helpers/testnet.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '../../directory-server/main.js');
const DAY = 24 * 3600 * 1000;

const procs: ChildProcess[] = [];
const tmpDirs: string[] = [];

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wotrelay-directory-it-'));
  tmpDirs.push(d);
  return d;
}

// ---- processes ---------------------------------------------------------------------------

interface Dir {
  addr: string;
  port: number;
  proc: ChildProcess;
  log: () => string;
  stop(): Promise<number | null>;
}

function exited(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => p.once('exit', (code) => resolve(code)));
}

async function stopProc(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
  const code = await exited(p);
  clearTimeout(timer);
  return code;
}

/** Starts a directory on 127.0.0.1:<any free port> and waits for its `listening addr=` line. */
async function startDirectory(args: string[]): Promise<Dir> {
  const proc = spawn(process.execPath, [MAIN, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(proc);
  let err = '';
  proc.stderr!.setEncoding('utf8');
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`directory did not start within 10 s:\n${err}`)), 10_000);
    proc.stderr!.on('data', (d: string) => {
      err += d;
      const m = /listening addr=(\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`directory exited with ${code} before listening:\n${err}`));
    });
  });
  return { addr, port: Number(addr.split(':').pop()), proc, log: () => err, stop: () => stopProc(proc) };
}

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: () => Record<string, unknown>;
}

interface ReqOpts {
  body?: Uint8Array;
  headers?: Record<string, string>;
  localAddress?: string;
  /** Write only these bytes of the body (with the full Content-Length) and wait for an answer. */
  partial?: number;
}

function request(dir: Dir, method: string, urlPath: string, o: ReqOpts = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined && headers['Transfer-Encoding'] === undefined) headers['Content-Length'] = String(o.body.length);
    const req = http.request(
      { host: '127.0.0.1', port: dir.port, method, path: urlPath, headers, agent: false, localAddress: o.localAddress },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown> });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer in 10 s`)));
    req.on('error', reject);
    if (o.body !== undefined) {
      if (o.partial !== undefined) {
        req.write(o.body.subarray(0, o.partial)); // the rest never comes
        return;
      }
      req.write(o.body);
    }
    req.end();
  });
}

async function eventually<T>(fn: () => Promise<T | null>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metric(dir: Dir, line: string, localAddress?: string): Promise<number> {
  const text = (await request(dir, 'GET', '/metrics', { localAddress })).body.toString('utf8');
  for (const l of text.split('\n')) if (l.startsWith(`${line} `)) return Number(l.slice(line.length + 1));
  return 0;
}

// ---- identities --------------------------------------------------------------------------

interface Who {
  agent: SigningKey;
  cert: Uint8Array;
  id: string;
  url: string;
}

function who(): Who {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const now = Date.now();
  const cert = issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: now - DAY, notAfter: now + 30 * DAY, seq: 1 });
  const id = encodeEntityId(entity.publicKey);
  return { agent, cert, id, url: `/v1/records/${id}` };
}

function announce(w: Who, seq: number, o: { ts?: number; addrs?: string[] } = {}): Uint8Array {
  return createAnnouncement(w.agent, w.cert, { addrs: o.addrs ?? [`192.0.2.${seq % 250}:7117`], seq, ts: o.ts ?? Date.now() });
}

const OCTETS = { 'Content-Type': 'application/octet-stream' };

// ---- one directory on SQLite --------------------------------------------------------------

let main: Dir;
let storeFile = '';

test.before(async () => {
  storeFile = path.join(tmpDir(), 'directory.db');
  main = await startDirectory(['--store', `sqlite:${storeFile}`, '--rate-read', 'off', '--rate-write', 'off']);
});

test.after(async () => {
  await Promise.all(procs.map((p) => stopProc(p)));
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

test('PUT then GET: 201 created, the exact bytes and a JSON view served, 200 on a newer seq', async () => {
  const alice = who();
  const a1 = announce(alice, 1, { addrs: ['192.0.2.7:7117'] });
  const put = await request(main, 'PUT', alice.url, { body: a1, headers: OCTETS });
  assert.is(put.status, 201, put.body.toString());
  assert.is(put.json()['status'], 'created');
  const raw = await request(main, 'GET', alice.url);
  assert.is(raw.status, 200);
  assert.is(raw.headers['content-type'], 'application/octet-stream');
  assert.equal(new Uint8Array(raw.body), a1);
  const view = await request(main, 'GET', alice.url, { headers: { Accept: 'application/json' } });
  const j = view.json();
  assert.is(j['entity'], alice.id);
  assert.equal(j['addrs'], ['192.0.2.7:7117']);
  assert.is(j['seq'], 1);
  assert.match(String(j['fingerprint']), /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/);
  assert.equal(new Uint8Array(Buffer.from(String(j['announcement']), 'base64')), a1);
  assert.ok(Number(j['expiresAt']) > Date.now() + DAY - 60_000, 'default TTL 24h');
  assert.is((await request(main, 'GET', `${alice.url}?format=json`)).json()['seq'], 1);
  const put2 = await request(main, 'PUT', alice.url, { body: announce(alice, 2), headers: OCTETS });
  assert.is(put2.status, 200);
  assert.is(put2.json()['status'], 'replaced');
  assert.is((await request(main, 'GET', alice.url, { headers: { Accept: 'application/json' } })).json()['seq'], 2);
  assert.is((await request(main, 'GET', who().url)).status, 404, 'unknown entity');
});

/** Writes `raw` on one connection and splits what comes back into `n` responses (by Content-Length; none after HEAD). */
function rawExchange(dir: Dir, raw: string, heads: boolean[]): Promise<{ head: string; body: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: dir.port });
    let buf = Buffer.alloc(0);
    const out: { head: string; body: Buffer }[] = [];
    s.setTimeout(10_000, () => s.destroy(new Error('no complete answer in 10 s')));
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const len = heads[out.length] ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        out.push({ head, body: Buffer.from(buf.subarray(end + 4, end + 4 + len)) });
        buf = buf.subarray(end + 4 + len);
        if (out.length === heads.length) {
          s.end();
          resolve(out);
        }
      }
    });
    s.write(raw);
  });
}

test('lookups pipelined on one kept-alive connection: each answered in order with the exact bytes (read, cached, other spellings, HEAD); fetch() as the agent uses it', async () => {
  const bob = who();
  const b1 = announce(bob, 1);
  assert.is((await request(main, 'PUT', bob.url, { body: b1, headers: OCTETS })).status, 201);
  const upper = `/v1/records/${bob.id.toUpperCase()}`;
  const unknown = who().url;
  const asks: [string, string][] = [['GET', bob.url], ['GET', bob.url], ['GET', upper], ['HEAD', bob.url], ['GET', unknown], ['GET', `${bob.url}?format=raw`], ['GET', bob.url]];
  const raw = asks.map(([m, p]) => `${m} ${p} HTTP/1.1\r\nHost: directory\r\n\r\n`).join('');
  const got = await rawExchange(main, raw, asks.map(([m]) => m === 'HEAD'));
  for (const [i, r] of got.entries()) {
    const [m, p] = asks[i]!;
    if (p === unknown) {
      assert.match(r.head, /^HTTP\/1\.1 404 /, `${i}: unknown entity`);
      continue;
    }
    assert.match(r.head, /^HTTP\/1\.1 200 OK\r\n/, `${i} ${m} ${p}`);
    assert.match(r.head, new RegExp(`\r\ncontent-length: ${b1.length}\r\n`, 'i'));
    assert.match(r.head, /\r\nx-wotrelay-seq: 1\r\n/i);
    assert.match(r.head, /\r\nconnection: keep-alive\r\n/i);
    assert.equal(new Uint8Array(r.body), m === 'HEAD' ? new Uint8Array(0) : b1, `${i} ${m} ${p}: the stored bytes`);
  }
  // The agent's client (agent/daemon: fetch, i.e. undici with its kept-alive pool).
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`http://127.0.0.1:${main.port}${bob.url}`);
    assert.is(r.status, 200);
    assert.equal(new Uint8Array(await r.arrayBuffer()), b1);
  }
});

test('forged record (bad signature) → 403 and nothing stored; a record for another entity → 403', async () => {
  const mallory = who();
  const good = unpackValue(announce(mallory, 5)) as { b: Uint8Array; s: Uint8Array };
  const body = Uint8Array.from(good.b);
  body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 1; // last byte of ts
  const forged = packValue({ b: body, s: Uint8Array.from(good.s) });
  const r = await request(main, 'PUT', mallory.url, { body: forged, headers: OCTETS });
  assert.is(r.status, 403);
  assert.is(r.json()['error'], 'ERR_BAD_SIGNATURE');
  assert.is((await request(main, 'GET', mallory.url)).status, 404, 'nothing stored');
  const other = who();
  const wrong = await request(main, 'PUT', other.url, { body: announce(mallory, 6), headers: OCTETS });
  assert.is(wrong.status, 403);
  assert.is(wrong.json()['error'], 'ERR_KEY_MISMATCH');
  assert.ok((await metric(main, 'wotrelay_directory_rejections_total{reason="bad_signature"}')) >= 1);
});

test('rolled-back sequence → 409 and the stored record unchanged; equal seq with other bytes → 409 flagged', async () => {
  const bob = who();
  const a10 = announce(bob, 10);
  assert.is((await request(main, 'PUT', bob.url, { body: a10, headers: OCTETS })).status, 201);
  const back = await request(main, 'PUT', bob.url, { body: announce(bob, 9), headers: OCTETS });
  assert.is(back.status, 409);
  assert.is(back.json()['error'], 'ERR_STALE_SEQ');
  assert.is(back.json()['storedSeq'], 10);
  const same = await request(main, 'PUT', bob.url, { body: a10, headers: OCTETS });
  assert.is(same.status, 409, 'equal seq is refused too');
  const conflictsBefore = await metric(main, 'wotrelay_directory_conflicts_total');
  const reused = await request(main, 'PUT', bob.url, { body: announce(bob, 10, { addrs: ['198.51.100.1:7117'] }), headers: OCTETS });
  assert.is(reused.status, 409);
  assert.is(reused.json()['error'], 'ERR_SEQ_CONFLICT');
  assert.is(await metric(main, 'wotrelay_directory_conflicts_total'), conflictsBefore + 1);
  assert.match(main.log(), /level=warn msg=refused method=PUT route=put_record status=409 reason=stale_seq/);
  assert.equal(new Uint8Array((await request(main, 'GET', bob.url)).body), a10, 'stored record unchanged');
});

test('oversized → 413 without reading the body; no Content-Length → 411; malformed → 400; 404 and 405', async () => {
  const carol = who();
  // Declares 10 MB, sends 100 bytes and waits: the answer comes before the body.
  const big = await request(main, 'PUT', carol.url, { body: new Uint8Array(10_000_000), partial: 100 });
  assert.is(big.status, 413);
  assert.is(big.json()['error'], 'ERR_TOO_LARGE');
  const just = await request(main, 'PUT', carol.url, { body: new Uint8Array(4097).fill(0x80) });
  assert.is(just.status, 413, '4 KiB + 1');
  const chunked = await request(main, 'PUT', carol.url, { body: announce(carol, 1), headers: { 'Transfer-Encoding': 'chunked' } });
  assert.is(chunked.status, 411);
  const garbage = await request(main, 'PUT', carol.url, { body: Uint8Array.of(0xc1, 0x00) });
  assert.is(garbage.status, 400);
  assert.is(garbage.json()['error'], 'ERR_MALFORMED');
  const badId = await request(main, 'GET', '/v1/records/wot1notanid');
  assert.is(badId.status, 400);
  assert.is(badId.json()['error'], 'ERR_BAD_ID');
  assert.is((await request(main, 'GET', '/v2/whatever')).status, 404);
  const del = await request(main, 'DELETE', carol.url);
  assert.is(del.status, 405);
  assert.is(del.headers['allow'], 'GET, HEAD, PUT');
  assert.is((await request(main, 'GET', carol.url)).status, 404, 'nothing stored by any of these');
});

test('future ts (clock skew) → 400; /healthz → ok; /metrics is Prometheus text', async () => {
  const dave = who();
  const skew = await request(main, 'PUT', dave.url, { body: announce(dave, 1, { ts: Date.now() + 3600_000 }), headers: OCTETS });
  assert.is(skew.status, 400);
  assert.is(skew.json()['error'], 'ERR_CLOCK_SKEW');
  const h = await request(main, 'GET', '/healthz');
  assert.is(h.status, 200);
  assert.is(h.body.toString(), 'ok\n');
  // Two lookups of a fresh record: the first reads the store, the second the record cache.
  const fred = who();
  assert.is((await request(main, 'PUT', fred.url, { body: announce(fred, 1), headers: OCTETS })).status, 201);
  const hitsBefore = Number(/wotrelay_directory_cache_lookups_total\{result="hit"\} (\d+)/.exec((await request(main, 'GET', '/metrics')).body.toString())?.[1] ?? 0);
  assert.is((await request(main, 'GET', fred.url)).status, 200);
  assert.is((await request(main, 'GET', fred.url)).status, 200);
  const m = await request(main, 'GET', '/metrics');
  assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.is(Number(/wotrelay_directory_cache_lookups_total\{result="hit"\} (\d+)/.exec(m.body.toString())?.[1]), hitsBefore + 1, 'the second lookup is a cache hit');
  assert.match(m.body.toString(), /wotrelay_directory_cache_records \d+/);
  const text = m.body.toString();
  assert.match(text, /# TYPE wotrelay_directory_requests_total counter/);
  assert.match(text, /wotrelay_directory_requests_total\{route="put_record",status="201"\} \d+/);
  assert.match(text, /wotrelay_directory_records \d+/);
  assert.match(text, /wotrelay_directory_store_latency_seconds_bucket\{op="put",le="0.005"\} \d+/);
});

test('restart keeps records (and their seq protection)', async () => {
  const erin = who();
  const a3 = announce(erin, 3);
  assert.is((await request(main, 'PUT', erin.url, { body: a3, headers: OCTETS })).status, 201);
  assert.is(await main.stop(), 0, 'clean exit on SIGTERM');
  assert.match(main.log(), /msg=stopped/);
  main = await startDirectory(['--store', `sqlite:${storeFile}`, '--rate-read', 'off', '--rate-write', 'off']);
  const got = await request(main, 'GET', erin.url);
  assert.is(got.status, 200);
  assert.equal(new Uint8Array(got.body), a3);
  assert.is((await request(main, 'PUT', erin.url, { body: announce(erin, 2), headers: OCTETS })).status, 409);
});

test('expired record → 404 (server with --ttl 1s); an announcement older than the TTL is refused', async () => {
  const dir = await startDirectory(['--store', `sqlite:${path.join(tmpDir(), 'ttl.db')}`, '--ttl', '1s', '--rate-read', 'off']);
  const frank = who();
  const t0 = Date.now();
  assert.is((await request(dir, 'PUT', frank.url, { body: announce(frank, 1, { ts: t0 }), headers: OCTETS })).status, 201);
  assert.is((await request(dir, 'GET', frank.url)).status, 200, 'served while fresh');
  await eventually(async () => ((await request(dir, 'GET', frank.url)).status === 404 ? true : null), 5000, 'the record to expire');
  assert.ok(Date.now() - t0 >= 900, 'not before its TTL');
  const old = await request(dir, 'PUT', who().url, { body: Uint8Array.of(), headers: OCTETS });
  assert.is(old.status, 400, 'empty body');
  const gina = who();
  const stale = await request(dir, 'PUT', gina.url, { body: announce(gina, 1, { ts: Date.now() - 5000 }), headers: OCTETS });
  assert.is(stale.status, 400);
  assert.match(String(stale.json()['message']), /longer ago/);
  assert.is(await dir.stop(), 0);
});

test('flood from one source → 429 with Retry-After, while another source (127.0.0.2) is still served', async () => {
  const dir = await startDirectory(['--store', `sqlite:${path.join(tmpDir(), 'flood.db')}`, '--rate-read', '5/min', '--rate-write', '3/min']);
  const hank = who();
  const statuses: number[] = [];
  let retryAfter: string | undefined;
  for (let i = 0; i < 12; i++) {
    const r = await request(dir, 'GET', hank.url, { localAddress: '127.0.0.1' });
    statuses.push(r.status);
    if (r.status === 429) retryAfter = r.headers['retry-after'] as string | undefined;
  }
  assert.equal(statuses.slice(0, 5), [404, 404, 404, 404, 404], 'the burst is served');
  assert.ok(statuses.slice(5).every((s) => s === 429), `then refused: ${statuses.join(',')}`);
  assert.ok(Number(retryAfter) >= 1, 'Retry-After in seconds');
  const other = await request(dir, 'GET', hank.url, { localAddress: '127.0.0.2' });
  assert.is(other.status, 404, 'another source is still served');
  // Writes have their own bucket: 3 accepted (or refused on content), then 429.
  const w: number[] = [];
  for (let seq = 1; seq <= 5; seq++) w.push((await request(dir, 'PUT', hank.url, { body: announce(hank, seq), headers: OCTETS, localAddress: '127.0.0.1' })).status);
  assert.equal(w, [201, 200, 200, 429, 429]);
  assert.is((await request(dir, 'PUT', hank.url, { body: announce(hank, 9), headers: OCTETS, localAddress: '127.0.0.2' })).status, 200);
  assert.is(await metric(dir, 'wotrelay_directory_rate_limited_total{kind="read"}', '127.0.0.3'), 7);
  assert.is(await metric(dir, 'wotrelay_directory_rate_limited_total{kind="write"}', '127.0.0.3'), 2);
  // One warn line when a source starts being limited, not one per refused request.
  assert.is(dir.log().split('\n').filter((l) => /level=warn msg=refused .*reason=rate_limited/.test(l)).length, 2);
  assert.is(await dir.stop(), 0);
});

test('bad flags exit 2 naming the flag and the fix', () => {
  const r = spawnSync(process.execPath, [MAIN, '--ttl', 'soon'], { encoding: 'utf8', timeout: 10_000 });
  assert.is(r.status, 2);
  assert.match(r.stderr, /--ttl: "soon" is not a duration/);
  assert.match(r.stderr, /--ttl 24h/);
  const e = spawnSync(process.execPath, [MAIN], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, WOTRELAY_DIRECTORY_MAX_RECORDS: 'lots' } });
  assert.is(e.status, 2);
  assert.match(e.stderr, /WOTRELAY_DIRECTORY_MAX_RECORDS: "lots"/);
  const f = spawnSync(process.execPath, [MAIN, '--fast-lane', 'maybe'], { encoding: 'utf8', timeout: 10_000 });
  assert.is(f.status, 2);
  assert.match(f.stderr, /--fast-lane: "maybe" is not on or off/);
  assert.match(f.stderr, /use --fast-lane on or --fast-lane off/);
});

// ---- two instances over one Redis ----------------------------------------------------------

const haveRedis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
if (!haveRedis) {
  process.stdout.write('\n  skipping the Redis tests: redis-server is not installed (Debian: apt-get install redis-server)\n');
}

async function startRedis(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const dir = tmpDir();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let out = '';
  proc.stdout!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    proc.stdout!.on('data', (d: string) => {
      out += d;
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${out}`));
    });
  });
  return { port, proc };
}

(haveRedis ? test : test.skip)('two instances on one Redis see each other\'s records, refuse a rollback sent to the other, and share the bound', async () => {
  const redis = await startRedis();
  const url = `redis://127.0.0.1:${redis.port}/0`;
  const [a, b] = await Promise.all([
    startDirectory(['--store', url, '--ttl', '1h', '--max-records', '3', '--rate-write', 'off', '--rate-read', 'off']),
    startDirectory(['--store', url, '--ttl', '1h', '--max-records', '3', '--rate-write', 'off', '--rate-read', 'off']),
  ]);
  const ivy = who();
  const a5 = announce(ivy, 5);
  assert.is((await request(a, 'PUT', ivy.url, { body: a5, headers: OCTETS })).status, 201);
  const viaB = await request(b, 'GET', ivy.url);
  assert.is(viaB.status, 200, 'B serves what A stored');
  assert.equal(new Uint8Array(viaB.body), a5);
  const rollback = await request(b, 'PUT', ivy.url, { body: announce(ivy, 4), headers: OCTETS });
  assert.is(rollback.status, 409, 'B refuses a rollback of what A stored');
  assert.is(rollback.json()['storedSeq'], 5);
  assert.equal(new Uint8Array((await request(a, 'GET', ivy.url)).body), a5, 'unchanged');
  const a6 = announce(ivy, 6);
  assert.is((await request(b, 'PUT', ivy.url, { body: a6, headers: OCTETS })).status, 200);
  assert.equal(new Uint8Array((await request(a, 'GET', ivy.url)).body), a6, 'A serves what B stored');
  // The record carries a Redis expiry of about the TTL.
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  try {
    const keys = await client.keys('wotrelay:dir:v1:r:*');
    assert.is(keys.length, 1);
    const pttl = await client.pttl(keys[0]!);
    assert.ok(pttl > 3500_000 && pttl <= 3600_000, `PTTL ${pttl}`);
  } finally {
    client.disconnect();
  }
  // The bound is global: 3 records in all, whichever instance is asked.
  assert.is((await request(a, 'PUT', who().url, { body: announce(who(), 1), headers: OCTETS })).status, 403, 'sanity: mismatched entity');
  const j1 = who();
  const j2 = who();
  const j3 = who();
  assert.is((await request(a, 'PUT', j1.url, { body: announce(j1, 1), headers: OCTETS })).status, 201);
  assert.is((await request(b, 'PUT', j2.url, { body: announce(j2, 1), headers: OCTETS })).status, 201);
  const full = await request(a, 'PUT', j3.url, { body: announce(j3, 1), headers: OCTETS });
  assert.is(full.status, 507);
  assert.is(full.json()['error'], 'ERR_STORE_FULL');
  assert.is((await request(b, 'PUT', ivy.url, { body: announce(ivy, 7), headers: OCTETS })).status, 200, 'updates still pass');
  // Concurrent writes of many seqs through both instances: the highest always wins.
  const seqs = Array.from({ length: 16 }, (_, i) => i + 1);
  const racers = seqs.map((s) => request(s % 2 === 0 ? a : b, 'PUT', ivy.url, { body: announce(ivy, 100 + s), headers: OCTETS }));
  const results = await Promise.all(racers);
  assert.ok(results.every((r) => r.status === 200 || r.status === 409), results.map((r) => r.status).join(','));
  assert.is((await request(b, 'GET', ivy.url, { headers: { Accept: 'application/json' } })).json()['seq'], 116);
  assert.is((await request(a, 'GET', '/healthz')).status, 200);
  // Redis down → /healthz 503 and refusals with 503, not hangs.
  await stopProc(redis.proc);
  const h = await request(a, 'GET', '/healthz');
  assert.is(h.status, 503);
  assert.is((await request(b, 'GET', ivy.url)).status, 503);
  await Promise.all([a.stop(), b.stop()]);
});

test.run();
