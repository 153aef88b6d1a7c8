/**
 * The soak scenario, shared by `npm run soak` (test/bench/soak.ts: 10 agents, minutes) and
 * a small smoke run in the suite: real daemons on loopback, linked in a ring with chords
 * (so most pairs are several hops apart and there is more than one way), each agent's app
 * sending to random others at a steady rate while random agents are killed with SIGKILL and
 * restarted. Every app also watches its inbox (re-subscribing after its daemon restarts,
 * from the last message it saw). At the end it counts what the apps saw accepted, what
 * arrived, what an app was shown twice (must be 0) and what never arrived (must be 0), and
 * the peak resident memory of each agent.
 */
import type { RpcClient } from '../../agent/api/client.js';
import type { InboxItem } from '../../agent/api/methods.js';
import { isWotError } from '../../agent/wire/errors.js';
import { Rng } from '../sim/rng.js';
import { link, startAgent, type TestAgent } from './testnet.js';

export interface SoakOptions {
  agents: number;
  seconds: number;
  /** Messages per second, all apps together. */
  rate: number;
  /** A kill every this many seconds (0: none). */
  killEverySeconds: number;
  seed: number;
  /** How long to wait for the last messages after sending stops. */
  drainSeconds?: number;
  log?: (s: string) => void;
}

export interface SoakResult {
  seed: number;
  sent: number;
  delivered: number;
  duplicatedToApp: number;
  lost: number;
  kills: number;
  refusedWhileDown: number;
  peakRssMiB: Record<string, number>;
  seconds: number;
}

const CORE = { core: { retryBaseMs: 200, maxRetryMs: 2_000, stallMs: 1_500, custodyRetryMs: 10_000 } };

interface Member {
  agent: TestAgent;
  api: RpcClient | null;
  up: boolean;
  lastSeq: number;
  /** Message id → times the app was shown it. */
  shown: Map<string, number>;
  peakRss: number;
}

export async function soak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  const rng = new Rng(`soak/${opts.seed}`);
  const n = opts.agents;
  const agents = await Promise.all(Array.from({ length: n }, (_, i) => startAgent(`soak${i}`, { config: CORE })));
  // A ring, plus a chord from every third agent across the ring.
  const edges = new Set<string>();
  const edge = (a: number, b: number) => {
    if (a !== b) edges.add(a < b ? `${a}-${b}` : `${b}-${a}`);
  };
  for (let i = 0; i < n; i++) edge(i, (i + 1) % n);
  for (let i = 0; i < n; i += 3) edge(i, (i + Math.floor(n / 2)) % n);
  await Promise.all(
    [...edges].map((e) => {
      const [a, b] = e.split('-').map(Number) as [number, number];
      return link(agents[a]!, agents[b]!, { aName: `soak${a}`, bName: `soak${b}` });
    }),
  );
  log(`${n} agents, ${edges.size} links`);
  const members: Member[] = agents.map((agent) => ({ agent, api: null, up: true, lastSeq: 0, shown: new Map(), peakRss: 0 }));

  const attach = async (m: Member): Promise<void> => {
    const api = await m.agent.rpc();
    api.onNotification((method, params) => {
      if (method !== 'message') return;
      const item = params as InboxItem;
      m.shown.set(item.id, (m.shown.get(item.id) ?? 0) + 1);
      if (item.seq > m.lastSeq) m.lastSeq = item.seq;
    });
    await api.call('watch', { afterSeq: m.lastSeq });
    m.api = api;
  };
  for (const m of members) {
    const inbox = await (await m.agent.rpc()).call('inbox', { limit: 1 });
    m.lastSeq = inbox[inbox.length - 1]?.seq ?? 0;
    await attach(m);
  }

  const accepted = new Map<string, number>(); // message id → recipient index
  let refusedWhileDown = 0;
  let kills = 0;
  let running = true;
  const endAt = Date.now() + opts.seconds * 1000;

  const memPoll = setInterval(() => {
    for (const m of members) {
      if (!m.up || !m.api) continue;
      void m.api.call('status', {}).then((s) => {
        if (s.memory && s.memory.rss > m.peakRss) m.peakRss = s.memory.rss;
      }).catch(() => {});
    }
  }, 1_000);

  const chaos = (async () => {
    if (opts.killEverySeconds <= 0) return;
    while (running) {
      await new Promise((r) => setTimeout(r, opts.killEverySeconds * 1000 * (0.5 + rng.float())));
      if (!running) break;
      const m = members[rng.int(n)]!;
      if (!m.up) continue;
      m.up = false;
      m.api?.close();
      m.api = null;
      kills++;
      log(`kill -9 ${m.agent.name}`);
      await m.agent.crash();
      await new Promise((r) => setTimeout(r, 100 + rng.int(1_500)));
      await m.agent.restart();
      await attach(m);
      m.up = true;
      log(`${m.agent.name} restarted`);
    }
  })();

  const interval = 1000 / opts.rate;
  let next = Date.now();
  let i = 0;
  while (Date.now() < endAt) {
    next += interval;
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const from = members[rng.int(n)]!;
    let toIdx = rng.int(n - 1);
    if (toIdx >= members.indexOf(from)) toIdx++;
    if (!from.up || !from.api) {
      refusedWhileDown++;
      continue;
    }
    try {
      const r = await from.api.call('send', { to: members[toIdx]!.agent.entity, text: `soak ${i++}` });
      accepted.set(r.id, toIdx);
    } catch (e) {
      // The daemon died under the call: it was never accepted. Anything else is a failure.
      if (!isWotError(e) || !['ERR_NOT_RUNNING', 'ERR_CONNECTION_LOST', 'ERR_INTERNAL'].includes(e.code)) throw e;
      refusedWhileDown++;
    }
  }
  running = false;
  await chaos;
  log(`sent ${accepted.size}; draining`);

  // Wait until every accepted message is in its recipient's inbox (or the drain time is up).
  const missing = (): Promise<string[]> =>
    Promise.all(
      members.map(async (m, idx) => {
        const want = [...accepted.entries()].filter(([, to]) => to === idx).map(([id]) => id);
        if (want.length === 0) return [];
        const have = new Set<string>();
        for (let after = 0; ; ) {
          const page = await m.api!.call('inbox', { afterSeq: after, limit: 1000 });
          for (const it of page) have.add(it.id);
          if (page.length < 1000) break;
          after = page[page.length - 1]!.seq;
        }
        return want.filter((id) => !have.has(id));
      }),
    ).then((x) => x.flat());
  const drainEnd = Date.now() + (opts.drainSeconds ?? 120) * 1000;
  let lost = await missing();
  while (lost.length > 0 && Date.now() < drainEnd) {
    await new Promise((r) => setTimeout(r, 1_000));
    lost = await missing();
  }
  await new Promise((r) => setTimeout(r, 2_000)); // late duplicates would show now
  clearInterval(memPoll);
  let duplicatedToApp = 0;
  for (const m of members) for (const [id, times] of m.shown) if (times > 1 && accepted.has(id)) duplicatedToApp++;
  for (const m of members) m.api?.close();
  return {
    seed: opts.seed,
    sent: accepted.size,
    delivered: accepted.size - lost.length,
    duplicatedToApp,
    lost: lost.length,
    kills,
    refusedWhileDown,
    peakRssMiB: Object.fromEntries(members.map((m) => [m.agent.name, Math.round((m.peakRss / 1048576) * 10) / 10])),
    seconds: (Date.now() - t0) / 1000,
  };
}
