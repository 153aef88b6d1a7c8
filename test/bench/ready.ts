/**
 * Daemon start-up: from spawning `wotrelay daemon` (an initialised home, a trust list, a
 * database) to the moment its port accepts a TCP connection, and to its `ready` log line
 * (local API up too). Baseline in the same run: a bare `node` process listening on a port,
 * i.e. the floor that Node's own start-up sets. Median of several starts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CLI, freePort, runCli } from '../helpers/testnet.js';
import { compare, median, type Bench, type BenchOptions, type BenchReport } from './lib.js';

/** Resolves with ms from `t0` until a TCP connect to the port succeeds. */
function waitAccepting(port: number, t0: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const tryOnce = (): void => {
      if (performance.now() - t0 > timeoutMs) return reject(new Error(`port ${port} not accepting after ${timeoutMs} ms`));
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        const ms = performance.now() - t0;
        s.destroy();
        resolve(ms);
      });
      s.once('error', () => {
        s.destroy();
        setTimeout(tryOnce, 2);
      });
    };
    tryOnce();
  });
}

/** Spawns `args`, returns ms until the port accepts and until a stdout/stderr line matches `readyRe`. */
async function timeStart(args: string[], port: number, readyRe: RegExp | null): Promise<{ accept: number; ready: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let readyAt = NaN;
  let out = '';
  const onData = (d: Buffer) => {
    out += d.toString();
    if (readyRe && Number.isNaN(readyAt) && readyRe.test(out)) readyAt = performance.now() - t0;
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  try {
    const accept = await waitAccepting(port, t0, 20_000);
    if (readyRe) {
      const deadline = performance.now() + 20_000;
      while (Number.isNaN(readyAt) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    }
    return { accept, ready: readyRe ? readyAt : accept };
  } finally {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }
}

export const readyBench: Bench = {
  name: 'ready',
  title: 'daemon start-up to accepting connections',
  async run(opts: BenchOptions): Promise<BenchReport> {
    const t0 = performance.now();
    const runs = opts.quick ? 1 : 5;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-bench-ready-'));
    try {
      const r = await runCli(['init', '--home', home, '--listen', '127.0.0.1:0', '--json']);
      if (r.code !== 0) throw new Error(`init: ${r.stderr}`);
      const accept: number[] = [];
      const ready: number[] = [];
      const bare: number[] = [];
      // One start first: creates the database (the migrations), like the first start after install.
      const firstPort = await freePort();
      await timeStart([CLI, 'daemon', '--home', home, '--listen', `127.0.0.1:${firstPort}`], firstPort, null);
      for (let i = 0; i < runs; i++) {
        const port = await freePort();
        const d = await timeStart([CLI, 'daemon', '--home', home, '--listen', `127.0.0.1:${port}`], port, / ready /);
        accept.push(d.accept);
        ready.push(d.ready);
        const bport = await freePort();
        const b = await timeStart(['-e', `require('net').createServer((s) => s.destroy()).listen(${bport}, '127.0.0.1')`], bport, null);
        bare.push(b.accept);
        opts.log(`ready: run ${i + 1}: daemon accepts after ${d.accept.toFixed(0)} ms (ready ${d.ready.toFixed(0)} ms); bare node ${b.accept.toFixed(0)} ms`);
      }
      const a = median(accept);
      return {
        name: 'ready',
        title: this.title,
        figures: [
          compare({ name: 'wotrelay daemon: spawn → port accepts (median)', value: a, unit: 'ms', baseline: { name: 'bare node listening', value: median(bare) }, lowerIsBetter: true, target: '≤ 300 ms', met: a <= 300 }),
          compare({ name: 'wotrelay daemon: spawn → "ready" (API up, median)', value: median(ready), unit: 'ms', baseline: { name: 'bare node listening', value: median(bare) }, lowerIsBetter: true }),
        ],
        details: { runs, accept, ready, bare },
        notes: ['ratios are bare/daemon: the share of the start-up that is Node\'s own'],
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  },
};
