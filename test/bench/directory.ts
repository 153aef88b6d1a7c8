/**
 * Directory server lookups: `wotrelay-directory` on its embedded SQLite store holding
 * 1,000,000 records, asked by a load generator in a separate process (procs/http-load.ts:
 * keep-alive connections, pipelined GETs of random records), against a bare Node HTTP server
 * that answers every request with a constant body of the same size, driven the same way in
 * the same run. The server is one Node process: one core. The two are measured in alternate
 * rounds (so other work on a shared machine weighs on both alike), by wall-clock rate and by
 * lookups per CPU-second of the server process (its rate on a core of its own), after a
 * warm-up that brings the directory to its steady state (record cache full and turning over);
 * its first seconds after start (cold) are measured and shown on their own. The server runs
 * with its default record cache (100,000 records; the keys asked for are 200,000 drawn
 * uniformly, so a good third of the lookups hit it), then again without it, and then with
 * every request read by node:http (`--fast-lane off`), to show what the fast lane is worth.
 *
 * Filling: 1,000 real signed announcements (real entities), and 999,000 more records that
 * carry copies of those bytes under random entity keys, written straight into the store
 * file (signing a million announcements would take the whole benchmark budget). A lookup
 * does the same work for both: the server verifies announcements when they are PUT, and
 * serves stored bytes as they are.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { generateBoxKey, randomBytes, signingKeyFromSeed } from '../../agent/crypto/index.js';
import { createAnnouncement, encodeEntityId, issueCert, verifyAnnouncement } from '../../agent/identity/index.js';
import { SqliteStore } from '../../directory-server/sqlite-store.js';
import { cpuProfArgs } from '../helpers/testnet.js';
import { compare, sleep, type Bench, type BenchOptions, type BenchReport } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIRECTORY = path.resolve(here, '../../directory-server/main.js');
const LOAD = path.join(here, 'procs/http-load.js');
const BARE = path.join(here, 'procs/bare-http.js');

/** Fills `file` with `total` records; returns their entity keys (the first `real` are real announcements) and the body size. */
function fill(file: string, total: number, real: number, log: (s: string) => void): { entities: Uint8Array[]; bodyBytes: number } {
  const now = Date.now();
  const bodies: Uint8Array[] = [];
  const entities: Uint8Array[] = [];
  for (let i = 0; i < real; i++) {
    const entity = signingKeyFromSeed(randomBytes(32));
    const agent = signingKeyFromSeed(randomBytes(32));
    const cert = issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: now - 3600_000, notAfter: now + 30 * 86400_000, seq: 1 });
    bodies.push(createAnnouncement(agent, cert, { addrs: [`203.0.113.${i % 250}:7117`], seq: now, ts: now }));
    entities.push(entity.publicKey);
  }
  log(`directory: ${real} real announcements signed; writing ${total} records`);
  for (let i = real; i < total; i++) entities.push(randomBytes(32));
  const order = entities.map((e, i) => [Buffer.from(e), i] as const).sort((a, b) => Buffer.compare(a[0], b[0]));
  void SqliteStore.open(file).close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const ins = db.prepare('INSERT INTO records (entity, seq, ts, stored_at, expires_at, bytes) VALUES (?, ?, ?, ?, ?, ?)');
  const expires = now + 20 * 3600_000;
  db.transaction(() => {
    for (const [key, i] of order) ins.run(key, now, now, now, expires, Buffer.from(bodies[i % real]!));
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { entities, bodyBytes: bodies[0]!.length };
}

function startServer(args: string[], re: RegExp): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cpuProfArgs(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const on = (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before listening:\n${out}`)));
  });
}

function load(port: number, pathsFile: string, seconds: number, conns: number, depth: number): Promise<{ done: number; counts: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, `127.0.0.1:${port}`, pathsFile, String(seconds), String(conns), String(depth)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { done: number; counts: Record<string, number> }) : reject(new Error(`load generator exited ${code}`))));
  });
}

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function get(port: number, p: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    }).once('error', reject);
  });
}

export const directoryBench: Bench = {
  name: 'directory',
  title: 'directory server lookups, 1,000,000 records, separate load generator',
  async run(opts: BenchOptions): Promise<BenchReport> {
    const t0 = performance.now();
    const total = opts.quick ? 2_000 : 1_000_000;
    const real = opts.quick ? 50 : 1_000;
    const seconds = opts.quick ? 1 : 5;
    const rounds = opts.quick ? 1 : 3;
    const warmSeconds = opts.quick ? 0.5 : 10;
    const conns = 16;
    const depth = 16;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-bench-dir-'));
    const children: ChildProcess[] = [];
    try {
      const file = path.join(dir, 'directory.db');
      const { entities, bodyBytes } = fill(file, total, real, opts.log);
      const sample = Array.from({ length: Math.min(200_000, total) }, (_, i) => entities[(i * 7919) % entities.length]!);
      const pathsFile = path.join(dir, 'paths.txt');
      fs.writeFileSync(pathsFile, sample.map((e) => `/v1/records/${encodeEntityId(e)}`).join('\n'));
      opts.log(`directory: store filled (${(fs.statSync(file).size / 1048576).toFixed(0)} MiB); starting the server`);
      const directoryArgs = [DIRECTORY, '--store', `sqlite:${file}`, '--listen', '127.0.0.1:0', '--rate-read', 'off', '--rate-write', 'off', '--max-records', String(total + 1000)];
      const d = await startServer(directoryArgs, /addr=127\.0\.0\.1:(\d+)/);
      children.push(d.child);
      // A real record comes back as it was signed, and verifies.
      const one = await get(d.port, `/v1/records/${encodeEntityId(entities[0]!)}`);
      if (one.status !== 200) throw new Error(`lookup of a stored record answered ${one.status}`);
      verifyAnnouncement(new Uint8Array(one.body), Date.now());
      const metrics = (await get(d.port, '/metrics')).body.toString();
      const held = Number(/^wotrelay_directory_records\s+(\d+)/m.exec(metrics)?.[1] ?? NaN);
      const b = await startServer([BARE, String(bodyBytes)], /listening (\d+)/);
      children.push(b.child);
      // Right after start: record cache empty, store pages not yet mapped, code not yet optimised.
      const cold = { ok: 0, cpu: 0 };
      {
        const c0 = cpuSeconds(d.child.pid!);
        const r = await load(d.port, pathsFile, seconds, conns, depth);
        cold.cpu = cpuSeconds(d.child.pid!) - c0;
        cold.ok = r.counts['200'] ?? 0;
      }
      // Warm-up to the steady state of a server that has been up a while: its record cache
      // filled and turning over (a few hundred thousand lookups), before the measured rounds.
      await load(d.port, pathsFile, warmSeconds, conns, depth);
      await load(b.port, pathsFile, opts.quick ? 0.5 : 1, conns, depth);
      // Rounds alternate between the two servers, so load from other work on the machine
      // falls on both alike; CPU time of each server process is measured too.
      const dr = { ok: 0, cpu: 0, counts: {} as Record<string, number> };
      const br = { ok: 0, cpu: 0, counts: {} as Record<string, number> };
      const cacheLookups = async (): Promise<{ hits: number; misses: number }> => {
        const text = (await get(d.port, '/metrics')).body.toString();
        return {
          hits: Number(/cache_lookups_total\{result="hit"\} (\d+)/.exec(text)?.[1] ?? 0),
          misses: Number(/cache_lookups_total\{result="miss"\} (\d+)/.exec(text)?.[1] ?? 0),
        };
      };
      const cacheBefore = await cacheLookups();
      for (let round = 0; round < rounds; round++) {
        for (const [srv, acc] of [[d, dr], [b, br]] as const) {
          const c0 = cpuSeconds(srv.child.pid!);
          const r = await load(srv.port, pathsFile, seconds, conns, depth);
          acc.cpu += cpuSeconds(srv.child.pid!) - c0;
          acc.ok += r.counts['200'] ?? 0;
          for (const [k, v] of Object.entries(r.counts)) acc.counts[k] = (acc.counts[k] ?? 0) + v;
        }
      }
      // The record cache (--cache-records, default 100,000 of the 200,000 keys asked for at random).
      const cacheAfter = await cacheLookups();
      const cacheHits = cacheAfter.hits - cacheBefore.hits;
      const cacheMisses = cacheAfter.misses - cacheBefore.misses;
      // Variants of the same server, one after the other (the store file is locked by one
      // process at a time, so each stops the one before): a warm-up, then the measured rounds.
      let running = d.child;
      const variant = async (extra: string[]): Promise<{ ok: number; cpu: number }> => {
        const gone = new Promise((r) => running.once('exit', r));
        running.kill('SIGTERM');
        await gone;
        const v = await startServer([...directoryArgs, ...extra], /addr=127\.0\.0\.1:(\d+)/);
        children.push(v.child);
        running = v.child;
        await load(v.port, pathsFile, warmSeconds, conns, depth);
        const acc = { ok: 0, cpu: 0 };
        for (let round = 0; round < rounds; round++) {
          const c0 = cpuSeconds(v.child.pid!);
          const r = await load(v.port, pathsFile, seconds, conns, depth);
          acc.cpu += cpuSeconds(v.child.pid!) - c0;
          acc.ok += r.counts['200'] ?? 0;
        }
        return acc;
      };
      // Without the record cache: every lookup reads SQLite.
      const d0r = await variant(['--cache-records', '0']);
      // Every request read by node:http (--fast-lane off): what the lane is worth.
      const dnr = await variant(['--fast-lane', 'off']);
      const dirRate = dr.ok / (seconds * rounds);
      const bareRate = br.ok / (seconds * rounds);
      const dirCpu = dr.cpu / rounds;
      // Lookups per CPU-second of the server process: its rate on one core of its own.
      const dirPerCore = dr.cpu > 0 ? dr.ok / dr.cpu : 0;
      const barePerCore = br.cpu > 0 ? br.ok / br.cpu : 0;
      return {
        name: 'directory',
        title: this.title,
        figures: [
          compare({ name: 'wotrelay-directory lookups (200 OK)', value: dirRate, unit: 'lookups/s', baseline: { name: 'bare node HTTP, constant body', value: bareRate }, target: '≥ 20,000/s on one core', met: dirRate >= 20_000 }),
          { name: 'records held by the store', value: held, unit: 'records', target: '1,000,000', met: opts.quick ? undefined : held >= 1_000_000 },
          compare({ name: 'lookups per CPU-second of the server process', value: dirPerCore, unit: 'lookups/s', baseline: { name: 'bare node HTTP, constant body', value: barePerCore }, target: '≥ 20,000/s on one core', met: dirPerCore >= 20_000 }),
          compare({ name: `same, the first ${seconds} s after start (cold: empty cache, unmapped pages)`, value: cold.cpu > 0 ? cold.ok / cold.cpu : 0, unit: 'lookups/s', baseline: { name: 'bare node HTTP, constant body', value: barePerCore } }),
          { name: `wall-clock rate in those first ${seconds} s`, value: cold.ok / seconds, unit: 'lookups/s' },
          compare({ name: 'same, without the record cache (every lookup reads SQLite)', value: d0r.cpu > 0 ? d0r.ok / d0r.cpu : 0, unit: 'lookups/s', baseline: { name: 'bare node HTTP, constant body', value: barePerCore } }),
          compare({ name: 'same, every request through node:http (--fast-lane off)', value: dnr.cpu > 0 ? dnr.ok / dnr.cpu : 0, unit: 'lookups/s', baseline: { name: 'bare node HTTP, constant body', value: barePerCore } }),
          { name: 'record cache hits while measured', value: (cacheHits / Math.max(1, cacheHits + cacheMisses)) * 100, unit: '% of lookups' },
          { name: 'CPU of the directory process while measured', value: (dirCpu / seconds) * 100, unit: '% of one core' },
          { name: 'CPU of the bare server while measured', value: (br.cpu / rounds / seconds) * 100, unit: '% of one core' },
        ],
        details: { total, real, seconds, rounds, warmSeconds, conns, depth, bodyBytes, directory: dr, bare: br, cold, noCache: d0r, nodeHttpOnly: dnr, cache: { hits: cacheHits, misses: cacheMisses }, storeMiB: fs.statSync(file).size / 1048576 },
        notes: [`${conns} connections × ${depth} pipelined requests from one load-generator process; random records among ${sample.length.toLocaleString('en-US')} sampled keys; responses other than 200: ${JSON.stringify(Object.fromEntries(Object.entries(dr.counts).filter(([k]) => k !== '200')))}`],
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
      await sleep(300);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
