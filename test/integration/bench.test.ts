/**
 * Smoke runs of every benchmark at tiny size (`npm run bench -- --quick` sizes): each one
 * still runs end to end with its real parts (daemons, the directory server, load generator,
 * simulator) and produces sane figures: messages delivered and verified, every subscriber
 * served once, links held, lookups answered, a table and a JSON report with the machine and
 * commit. Nothing here asserts a timing; the figures are measured by `npm run bench`. The
 * crash benchmark is the scenario of test/integration/crash.test.ts, which runs it already.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cryptoBench } from '../bench/crypto.js';
import { directoryBench } from '../bench/directory.js';
import { discoveryBench } from '../bench/discovery.js';
import { machine, table, writeResult, type BenchReport, type Figure } from '../bench/lib.js';
import { listBench } from '../bench/list.js';
import { memoryBench } from '../bench/memory.js';
import { readyBench } from '../bench/ready.js';
import { relayBench } from '../bench/relay.js';
import { relayCoreBench } from '../bench/relaycore.js';
import { verifyBench } from '../bench/verify.js';

const quick = { quick: true, log: () => undefined };
const fig = (r: BenchReport, prefix: string): Figure => {
  const f = r.figures.find((x) => x.name.startsWith(prefix));
  assert.ok(f, `${r.name} has a figure "${prefix}…"`);
  return f!;
};
const positive = (r: BenchReport): void => {
  for (const f of r.figures) assert.ok(Number.isFinite(f.value), `${r.name}: "${f.name}" is a number (${f.value})`);
};

test('relay: raw and signed lines carry messages; D verifies every chain', async () => {
  const r = await relayBench.run(quick);
  positive(r);
  assert.ok(fig(r, 'raw relay').value > 0, 'the raw line moved frames');
  const signed = fig(r, 'wotrelay relay');
  assert.ok(signed.baseline!.value > 0 && signed.ratio !== undefined, 'the signed figure stands beside its baseline');
  assert.ok(fig(r, 'ceiling').value > 0, "the crypto ceiling is measured beside the raw rate");
  const d = r.details['signed'] as { verifyFailures: number; envelopeBytesAtD: number; sender: { sent: number; acked: number } };
  assert.is(d.verifyFailures, 0, 'every chain verified at D');
  assert.ok(d.envelopeBytesAtD > 0 && d.sender.acked > 0, 'envelopes reached D, its acks came back to A');
});

test("relaycore: B's core forwards every envelope and ends with empty custody, on SQLite and in memory", async () => {
  const r = await relayCoreBench.run(quick);
  positive(r);
  const f = fig(r, 'CPU per relayed message, SQLite custody');
  assert.ok(f.value > 0 && f.baseline!.value > 0, 'both stores measured');
  const d = r.details as { warm: number; sqlite: { messages: number; forwarded: number; custodyLeft: number }; memory: { forwarded: number; custodyLeft: number } };
  assert.ok(d.sqlite.messages > 0);
  assert.is(d.sqlite.forwarded, d.memory.forwarded, 'the same envelopes went on from both stores');
  assert.is(d.sqlite.forwarded, d.warm + d.sqlite.messages, 'every envelope, warm-up and measured, went on to C');
  assert.is(d.sqlite.custodyLeft, 0, 'HOLD, reports and acks released every envelope (SQLite)');
  assert.is(d.memory.custodyLeft, 0, 'the same in memory');
  const alone = (r.details as { alone: { messages: number; forwarded: number; custodyLeft: number } }).alone;
  assert.ok(alone.messages > 0 && alone.forwarded > alone.messages, 'one message per turn: every envelope went on');
  assert.is(alone.custodyLeft, 0, 'one message per turn: every envelope released');
  if (fs.existsSync('/proc/self/io')) {
    const w = fig(r, 'bytes written to SQLite per relayed message, one per turn');
    assert.ok(w.value > 0 && w.baseline!.value > 0, 'database writes measured for both runs');
  }
});

test('verify and crypto: figures for every backend and batch size', async () => {
  const v = await verifyBench.run(quick);
  positive(v);
  assert.ok(fig(v, 'verifyChain').value > 0);
  const c = await cryptoBench.run(quick);
  positive(c);
  for (const name of ['Ed25519 sign: node:crypto', 'Ed25519 verify: @noble/ed25519', 'X25519 (key agreement): tweetnacl', 'batch signature, 256 items: items signed']) assert.ok(fig(c, name).value > 0, name);
});

test('ready: the daemon starts and accepts connections', async () => {
  const r = await readyBench.run(quick);
  positive(r);
  assert.ok(fig(r, 'wotrelay daemon: spawn → port accepts').value > 0);
});

test('discovery and list (simulator): routes found, every subscriber gets each post once', async () => {
  const d = await discoveryBench.run(quick);
  positive(d);
  assert.is((d.details as { errors: number }).errors, 0, 'no core threw');
  assert.ok(fig(d, 'discoveries that found a route').value > 0);
  const dd = d.details as { workers: number; ringCosts: number[]; discoveries: number };
  assert.is(dd.workers, 2, 'the smoke run uses two worker threads');
  assert.is(dd.ringCosts.length, dd.discoveries, 'every pair ran on one of them');
  const l = await listBench.run(quick);
  positive(l);
  assert.ok(fig(l, 'subscribers that got each post exactly once').met, 'each subscriber got the post exactly once');
});

test('directory: lookups answered from the store and by the bare server', async () => {
  const r = await directoryBench.run(quick);
  positive(r);
  const f = fig(r, 'wotrelay-directory lookups');
  assert.ok(f.value > 0 && f.baseline!.value > 0);
  const dr = r.details['directory'] as { counts: Record<string, number> };
  assert.equal(Object.keys(dr.counts), ['200'], 'every lookup answered 200');
});

test('memory: the agent holds every idle link; the report has machine and commit', async () => {
  const r = await memoryBench.run(quick);
  positive(r);
  assert.ok(fig(r, 'idle links held by one agent').met, 'all links held');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-bench-json-'));
  try {
    const m = machine();
    const file = writeResult(r, m, dir);
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { name: string; figures: Figure[]; machine: { node: string; commit: string; cpus: number } };
    assert.is(json.name, 'memory');
    assert.ok(json.machine.node.startsWith('v') && json.machine.cpus > 0 && json.machine.commit.length > 0);
    assert.ok(table(r, m).includes('JS heap per idle authenticated link'), 'the table names each figure');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
