/**
 * A full disk under a real daemon (test/ADVERSARIAL.md case 17). Relay C's home is a small
 * tmpfs mounted by this test (as root; skipped with the reason where mounting is not
 * allowed). In each round the tmpfs is filled until ENOSPC and then N pages are freed, N
 * stepped forward round by round, so writes start failing at a different point each time;
 * meanwhile B sends to D through C, and C's own app sends to D. C must refuse its app's
 * messages with ERR_DISK_FULL, never answer HOLD (or "accepted" to its app) for anything it
 * did not commit, and carry on when space returns, with no restart. At the end every message
 * that was accepted reaches D exactly once, and C's database passes the integrity check.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RpcClient } from '../../agent/api/client.js';
import { isWotError } from '../../agent/wire/errors.js';
import { eventually, link, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

const TMPFS_BYTES = 24 * 1024 * 1024;
const PAGE = 4096;
const CORE = { core: { retryBaseMs: 200, maxRetryMs: 1_000, stallMs: 1_000, custodyRetryMs: 600_000 } };

let root = '';
let mnt = '';
let skip: string | null = null;

function mount(): void {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-disk-'));
  mnt = path.join(root, 'mnt');
  fs.mkdirSync(mnt);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    skip = 'mounting a tmpfs needs root';
    return;
  }
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES},mode=0700`, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (e) {
    skip = `mount -t tmpfs failed: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`;
  }
}

/** Fills the tmpfs until ENOSPC, then frees `pages` pages: the next writes beyond them fail. */
function fill(pages: number): void {
  const f = path.join(mnt, 'filler');
  const fd = fs.openSync(f, 'a');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  const small = Buffer.alloc(PAGE, 0x5a);
  try {
    for (;;) fs.writeSync(fd, small);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  const size = fs.fstatSync(fd).size;
  fs.ftruncateSync(fd, Math.max(0, size - pages * PAGE));
  fs.closeSync(fd);
}

function unfill(): void {
  fs.rmSync(path.join(mnt, 'filler'), { force: true });
}

test.before(() => {
  mount();
});

test.after(async () => {
  await stopAll();
  if (!skip && mnt) {
    try {
      execFileSync('umount', [mnt], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
    }
  }
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('case 17: a relay whose disk fills (failing at the Nth write, N stepped forward) refuses its app with ERR_DISK_FULL, acknowledges nothing it did not commit, and recovers when space returns', async () => {
  if (skip) {
    console.log(`  skipping the disk-full test: ${skip}`);
    return;
  }
  const home = path.join(mnt, 'home');
  const [B, C, D] = (await Promise.all([startAgent('disk-B', { config: CORE }), startAgent('disk-C', { home, config: CORE }), startAgent('disk-D', { config: CORE })])) as [TestAgent, TestAgent, TestAgent];
  await link(B, C, { aName: 'B', bName: 'C' });
  await link(C, D, { aName: 'C', bName: 'D' });
  const b = await B.rpc();
  let c: RpcClient = await C.rpc();
  const d = await D.rpc();
  const warm = await b.call('send', { to: D.entity, text: 'warm-up' });
  await b.call('send.wait', { id: warm.id, until: 'delivered', timeoutMs: 20_000 });

  const acceptedB: string[] = [];
  const acceptedC: string[] = [];
  const rounds: Array<{ freePages: number; acceptedBeforeRefusal: number; refused: number; code?: string }> = [];
  const text = 'x'.repeat(3000);
  for (const freePages of [0, 8, 16, 24, 32, 40, 48, 64, 96, 128, 192]) {
    fill(freePages);
    // B keeps sending through C meanwhile.
    for (let i = 0; i < 3; i++) acceptedB.push((await b.call('send', { to: D.entity, text: `B ${freePages}/${i} ${text}` })).id);
    const round: (typeof rounds)[number] = { freePages, acceptedBeforeRefusal: 0, refused: 0 };
    for (let i = 0; i < 40; i++) {
      try {
        const r = await c.call('send', { to: D.entity, text: `C ${freePages}/${i} ${text}` });
        acceptedC.push(r.id);
        if (round.refused === 0) round.acceptedBeforeRefusal++;
      } catch (e) {
        assert.ok(isWotError(e), String(e));
        round.refused++;
        round.code ??= e.code;
        assert.is(e.code, 'ERR_DISK_FULL', `refused with a clear error: ${e.message}`);
        assert.match(e.message, /disk is full/);
        if (round.refused >= 3) break;
      }
    }
    rounds.push(round);
    await new Promise((r) => setTimeout(r, 400)); // let C's timers and B's retries run into the full disk
    unfill();
    // Space is back: C takes its app's messages again at once, no restart.
    acceptedC.push((await c.call('send', { to: D.entity, text: `C after ${freePages}` })).id);
  }
  process.stderr.write(`  [disk] ${rounds.map((r) => `${r.freePages}p:${r.acceptedBeforeRefusal}${r.refused ? '✗' : ''}`).join(' ')}\n`);
  assert.ok(rounds.filter((r) => r.refused > 0).length >= 3, 'the disk filled up in several rounds');
  assert.ok(rounds.some((r) => r.refused > 0 && r.acceptedBeforeRefusal > 0), 'in some round writes failed part way');
  // Never acknowledged what it did not commit: after kill -9 and a restart, C's outbox has every
  // message its app saw accepted, and everything accepted anywhere reaches D exactly once.
  c.close();
  await C.crash();
  await C.restart();
  c = await C.rpc();
  const outbox = new Set((await c.call('outbox', { all: true, limit: 100_000 })).map((o) => o.id));
  const lostAtC = acceptedC.filter((id) => !outbox.has(id));
  assert.equal(lostAtC, [], 'every message C accepted is in its outbox');
  const want = new Set([...acceptedB, ...acceptedC]);
  const inbox = await eventually(async () => {
    const items = await d.call('inbox', { limit: 1000 });
    return items.filter((m) => want.has(m.id)).length >= want.size ? items : null;
  }, 60_000, `D to receive all ${want.size} accepted messages`).catch(async () => d.call('inbox', { limit: 1000 }));
  const got = inbox.filter((m) => want.has(m.id)).map((m) => m.id);
  assert.equal([...want].filter((id) => !got.includes(id)), [], 'nothing accepted is lost');
  assert.is(new Set(got).size, got.length, 'nothing delivered twice');
  b.close();
  c.close();
  d.close();
  await C.stop();
  const db = new Database(path.join(home, 'wotrelay.db'), { readonly: true });
  assert.is(String(db.pragma('integrity_check', { simple: true })), 'ok');
  db.close();
});

test.run();
