/**
 * The crash-safety scenario of store-and-forward, shared by the CI test (a few hundred
 * messages, a dozen kills of each relay) and the on-demand run (test/bench/crash.ts, 10,000
 * messages and as many kills as asked for): four real daemons in a line A→B→C→D; A's app
 * sends N messages through the API while B and C, each on its own schedule, are killed with
 * SIGKILL at random (seeded) moments — also right after a restart, while they recover — and
 * restarted; then every message A's app saw accepted must reach D's app exactly once (inbox
 * and the `watch` stream), and B's and C's databases must pass SQLite's integrity check.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import type { InboxItem } from '../../agent/api/methods.js';
import { isWotError } from '../../agent/wire/errors.js';
import { Rng } from '../sim/rng.js';
import { link, startAgent, type TestAgent } from './testnet.js';

export interface CrashResult {
  seed: number;
  sent: number;
  accepted: number;
  delivered: number;
  duplicatesInInbox: number;
  duplicatesToApp: number;
  missing: string[];
  kills: Array<{ who: string; afterMessage: number }>;
  integrity: Record<string, string>;
  seconds: number;
}

const CORE = { core: { retryBaseMs: 200, maxRetryMs: 2_000, stallMs: 1_500, custodyRetryMs: 10_000 } };

export async function crashScenario(opts: {
  messages: number;
  seed: number;
  /** Sending pace, so the kills land while messages flow (default: N spread over ~10 s). */
  perSecond?: number;
  /** Kills of each relay (default 2, 3 from 2,000 messages). */
  killsPerRelay?: number;
  log?: (s: string) => void;
  deliverTimeoutMs?: number;
}): Promise<CrashResult> {
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  const [A, B, C, D] = (await Promise.all(['A', 'B', 'C', 'D'].map((n) => startAgent(`crash${n}`, { config: CORE })))) as [TestAgent, TestAgent, TestAgent, TestAgent];
  await link(A, B, { aName: 'A', bName: 'B' });
  await link(B, C, { aName: 'B', bName: 'C' });
  await link(C, D, { aName: 'C', bName: 'D' });
  const warm = await A.json<{ state: string }>(['send', D.entity, 'warm-up', '--wait', '--timeout', '30s']);
  if (warm.state !== 'delivered') throw new Error(`warm-up not delivered: ${warm.state}`);

  // D's app: count every `message` notification per id.
  const d = await D.rpc();
  const toApp = new Map<string, number>();
  d.onNotification((method, params) => {
    if (method !== 'message') return;
    const id = (params as InboxItem).id;
    toApp.set(id, (toApp.get(id) ?? 0) + 1);
  });
  const before = await d.call('inbox', { limit: 1000 });
  await d.call('watch', { afterSeq: before[before.length - 1]?.seq ?? 0 });

  // Chaos, alongside the sender: B and C are each killed at random (seeded) message counts,
  // each on its own schedule, and restarted after a random pause. Points that come thick and
  // fast kill a relay again while it is still recovering.
  const killsEach = opts.killsPerRelay ?? (opts.messages >= 2000 ? 3 : 2);
  const kills: CrashResult['kills'] = [];
  let sentSoFar = 0;
  const chaosOf = async (v: TestAgent): Promise<void> => {
    const vr = new Rng(`${opts.seed}/${v.name}`);
    const points = Array.from({ length: killsEach }, () => Math.floor(opts.messages * (0.05 + 0.85 * vr.float()))).sort((x, y) => x - y);
    for (const point of points) {
      while (sentSoFar < point) await new Promise((r) => setTimeout(r, 5));
      kills.push({ who: v.name, afterMessage: sentSoFar });
      log(`kill -9 ${v.name} after ${sentSoFar} messages`);
      await v.crash();
      await new Promise((r) => setTimeout(r, 50 + Math.floor(vr.float() * (killsEach > 4 ? 300 : 1500))));
      await v.restart();
      log(`${v.name} restarted`);
    }
  };
  const chaos = Promise.all([chaosOf(B), chaosOf(C)]);

  const a = await A.rpc();
  const accepted: string[] = [];
  const perSecond = opts.perSecond ?? Math.max(20, opts.messages / 10);
  const tSend = Date.now();
  for (let i = 0; i < opts.messages; i++) {
    const due = tSend + (i * 1000) / perSecond;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    for (;;) {
      try {
        const r = await a.call('send', { to: D.entity, text: `crash ${i}` });
        accepted.push(r.id);
        sentSoFar = i + 1;
        break;
      } catch (e) {
        // A full outbox is a clear refusal, not a loss: wait and send again.
        if (isWotError(e) && e.code === 'ERR_QUEUE_FULL') {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        throw e;
      }
    }
  }
  log(`sent ${opts.messages}`);
  await chaos;
  log('chaos over; waiting for delivery');

  const want = new Set(accepted);
  const deadline = Date.now() + (opts.deliverTimeoutMs ?? 180_000);
  let inboxIds: string[] = [];
  for (;;) {
    inboxIds = [];
    for (let after = 0; ; ) {
      // A recipient working through a backlog of thousands may take a while to answer.
      const page = await d.call('inbox', { afterSeq: after, limit: 1000 }, 120_000).catch((e: unknown) => {
        // Say what each daemon was doing last, then fail.
        for (const x of [A, B, C, D]) log(`--- ${x.name} (pid ${x.proc.pid}), last log lines:\n${x.log.slice(-25).join('\n')}`);
        throw e;
      });
      inboxIds.push(...page.map((m) => m.id));
      if (page.length < 1000) break;
      after = page[page.length - 1]!.seq;
    }
    const have = inboxIds.filter((id) => want.has(id)).length;
    if (have >= want.size || Date.now() > deadline) break;
    if (process.env['WOTRELAY_CRASH_DEBUG']) log(`${have}/${want.size}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`${inboxIds.filter((id) => want.has(id)).length}/${want.size} delivered`);
  // Let late duplicates (retransmissions) arrive, so "exactly once" is really checked.
  await new Promise((r) => setTimeout(r, 2_000));
  a.close();
  d.close();
  const inInbox = new Map<string, number>();
  for (const id of inboxIds) inInbox.set(id, (inInbox.get(id) ?? 0) + 1);
  const missing = accepted.filter((id) => !inInbox.has(id));
  const integrity: Record<string, string> = {};
  for (const x of [B, C]) {
    await x.stop();
    const db = new Database(path.join(x.home, 'wotrelay.db'), { readonly: true });
    integrity[x.name] = String(db.pragma('integrity_check', { simple: true }));
    db.close();
  }
  await A.stop();
  await D.stop();
  return {
    seed: opts.seed,
    sent: opts.messages,
    accepted: accepted.length,
    delivered: accepted.filter((id) => inInbox.has(id)).length,
    duplicatesInInbox: [...inInbox.values()].filter((n) => n > 1).length,
    duplicatesToApp: accepted.filter((id) => (toApp.get(id) ?? 0) > 1).length,
    missing,
    kills,
    integrity,
    seconds: (Date.now() - t0) / 1000,
  };
}
