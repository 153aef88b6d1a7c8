/**
 * Memory of idle links: a real wotrelay daemon (in a process of its own, started with a
 * raised open-file limit) accepts idle authenticated links from a farm of identities it
 * trusts (procs/link-farm.ts, another process): its JS heap per link after 1,000 links, and
 * whether it holds 10,000. Baseline in the same run: a bare Node TCP server holding the same
 * number of plain sockets. Heap is measured after two full collections.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex } from '../../agent/crypto/index.js';
import { dbPath } from '../../agent/daemon/paths.js';
import { decodeEntityId } from '../../agent/identity/index.js';
import { Store } from '../../agent/store/index.js';
import { runCli } from '../helpers/testnet.js';
import { farmIdentity } from './farm.js';
import { compare, sleep, type Bench, type BenchOptions, type BenchReport } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const NOFILE = 65_536;

interface Proc {
  child: ChildProcess;
  ask<T>(m: object, key: string): Promise<T>;
}

/** Forks `script` through a shell that raises the open-file limit first (Node cannot raise its own). */
function start(script: string, args: string[], nodeArgs: string[] = []): Promise<Proc & { first: Record<string, unknown> }> {
  const child = fork(path.join(here, 'procs', script), args, {
    execPath: '/bin/sh',
    execArgv: ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n hard 2>/dev/null; exec "${process.execPath}" ${nodeArgs.join(' ')} "$0" "$@"`],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(m: object, key: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const on = (x: Record<string, unknown>) => {
        if (!(key in x)) return;
        child.off('message', on);
        resolve(x as T);
      };
      child.on('message', on);
      child.once('exit', (c) => reject(new Error(`${script} exited (${c})`)));
      if (Object.keys(m).length > 0) child.send(m);
    });
  return ask<Record<string, unknown>>({}, 'ready').then((first) => ({ child, ask, first }));
}

interface Heap {
  heapUsed: number;
  rss: number;
  external: number;
  peers: number;
}

async function hold(hostArgs: string[], farmArgs: (addr: string) => string[], counts: number[], log: (s: string) => void): Promise<Heap[]> {
  const procs: ChildProcess[] = [];
  try {
    const host = await start('link-host.js', hostArgs, ['--expose-gc']);
    procs.push(host.child);
    const addr = String(host.first['addr']);
    const farm = await start('link-farm.js', farmArgs(addr));
    procs.push(farm.child);
    const heaps: Heap[] = [await host.ask<Heap>({ cmd: 'heap' }, 'heapUsed')];
    let from = 0;
    for (const to of counts) {
      const r = await farm.ask<{ open: number; error?: string }>({ cmd: 'open', from, to }, 'open');
      if (r.error) throw new Error(r.error);
      from = to;
      await sleep(500);
      const h = await host.ask<Heap>({ cmd: 'heap' }, 'heapUsed');
      log(`memory: ${hostArgs[0]}: ${h.peers} links, heap ${(h.heapUsed / 1048576).toFixed(1)} MiB, rss ${(h.rss / 1048576).toFixed(0)} MiB`);
      heaps.push(h);
    }
    return heaps;
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

export const memoryBench: Bench = {
  name: 'memory',
  title: 'memory of idle authenticated links held by one agent',
  async run(opts: BenchOptions): Promise<BenchReport> {
    const t0 = performance.now();
    const first = opts.quick ? 10 : 1_000;
    const total = opts.quick ? 20 : 10_000;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-bench-mem-'));
    try {
      const r = await runCli(['init', '--home', home, '--listen', '127.0.0.1:0', '--json']);
      if (r.code !== 0) throw new Error(`init: ${r.stderr}`);
      const agentHex = toHex(decodeEntityId((JSON.parse(r.stdout) as { entity: string }).entity));
      const prefix = `mem-${Date.now()}`;
      opts.log(`memory: trusting ${total} identities`);
      const store = Store.open(dbPath(home));
      const now = Date.now();
      store.tx(() => {
        for (let n = 0; n < total; n++) {
          store.trust.upsert({ entity: farmIdentity(prefix, n).entity.publicKey, petname: null, how: 'manual', addedAt: now, state: 'active', addr: null, updatedAt: now, note: null });
        }
      });
      store.close();
      const counts = [first, total];
      void first;
      const d = await hold(['daemon', home], (addr) => ['links', addr, agentHex, prefix], counts, opts.log);
      const b = await hold(['bare'], (addr) => ['raw', addr], counts, opts.log);
      const perAll = (h: Heap[]) => (h[2]!.heapUsed - h[0]!.heapUsed) / total / 1024;
      const rssAll = (h: Heap[]) => (h[2]!.rss - h[0]!.rss) / total / 1024;
      const dPer = perAll(d);
      return {
        name: 'memory',
        title: this.title,
        figures: [
          compare({ name: `JS heap per idle authenticated link (${total.toLocaleString('en-US')} held)`, value: dPer, unit: 'KiB', baseline: { name: 'bare TCP socket', value: perAll(b) }, lowerIsBetter: true, target: '≤ 30 KB', met: dPer * 1024 <= 30_000 }),
          compare({ name: `RSS per idle link, ${total} links`, value: rssAll(d), unit: 'KiB', baseline: { name: 'bare TCP socket', value: rssAll(b) }, lowerIsBetter: true }),
          { name: 'idle links held by one agent', value: d[2]!.peers, unit: 'links', target: `${total.toLocaleString('en-US')}`, met: d[2]!.peers >= total },
        ],
        details: { counts, daemon: d, bare: b, nofile: NOFILE },
        notes: [
          `heap per link = (heap with all links − heap with none) / links, after two full collections; ratios are bare/wotrelay; the agent's process is started with its open-file limit raised to ${NOFILE} (systemd: LimitNOFILE); each link is a Noise session with its own identity (links are one per agent)`,
        ],
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  },
};
