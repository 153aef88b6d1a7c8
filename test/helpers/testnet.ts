/**
 * Test helper: real `wotrelay daemon` processes on 127.0.0.1 port 0 in temporary homes,
 * driven through the real CLI. `startAgent` inits and starts one; `testnet(n)` starts n;
 * every agent is stopped and its home removed by `stopAll()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '../../agent/api/client.js';
import { socketPath } from '../../agent/daemon/paths.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(here, '../../agent/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wotrelay ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface TestAgent {
  name: string;
  home: string;
  addr: string;
  entity: string;
  proc: ChildProcess;
  log: string[];
  cli(args: string[], opts?: { timeoutMs?: number }): Promise<CliResult>;
  /** Runs a CLI command with --json and parses stdout; throws with stderr on failure. */
  json<T = unknown>(args: string[]): Promise<T>;
  stop(): Promise<void>;
  kill(): void;
  /** Starts the daemon again on the same home (and by default the same address). */
  restart(listen?: string): Promise<void>;
  /** kill -9, and wait until the process is gone. */
  crash(): Promise<void>;
  /** A connected API client (close it when done). */
  rpc(): Promise<RpcClient>;
}

const agents = new Set<TestAgent>();

function waitForLine(proc: ChildProcess, log: string[], re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      for (const l of log) {
        const m = re.exec(l);
        if (m) {
          resolve(m);
          return true;
        }
      }
      return false;
    };
    if (check()) return;
    const onData = () => {
      if (check()) cleanup();
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`daemon exited (code ${code}) before "${re}"\n${log.join('\n')}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for "${re}"\n${log.join('\n')}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      proc.stdout?.off('data', onData);
      proc.stderr?.off('data', onData);
      proc.off('exit', onExit);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.on('exit', onExit);
  });
}

/** Node flags for a child process: with WOTRELAY_CPU_PROF=<dir>, it writes a CPU profile there when it stops (profiling benchmarks). */
export function cpuProfArgs(): string[] {
  const dir = process.env['WOTRELAY_CPU_PROF'];
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

function spawnDaemon(home: string, listen: string, log: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const proc = spawn(process.execPath, [...cpuProfArgs(), CLI, 'daemon', '--home', home, '--listen', listen], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const collect = (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) log.push(line);
    if (log.length > 5000) log.splice(0, log.length - 5000);
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  return proc;
}

export async function startAgent(
  name: string,
  opts: {
    home?: string;
    listen?: string;
    config?: Record<string, unknown>;
    /** Extra environment of the daemon (e.g. libfaketime), and of `init` unless initEnv is given. */
    env?: NodeJS.ProcessEnv;
    initEnv?: NodeJS.ProcessEnv;
  } = {},
): Promise<TestAgent> {
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), `wr-${name}-`));
  if (!fs.existsSync(path.join(home, 'entity.key'))) {
    const r = await runCli(['init', '--home', home, '--listen', '127.0.0.1:0', '--json'], { env: opts.initEnv ?? opts.env ?? {} });
    if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  }
  if (opts.config) {
    const file = path.join(home, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...cfg, ...opts.config }, null, 2));
  }
  const log: string[] = [];
  let proc = spawnDaemon(home, opts.listen ?? '127.0.0.1:0', log, opts.env);
  const m = await waitForLine(proc, log, /listening addr=(\S+) entity=(\S+)/, 20_000);
  await waitForLine(proc, log, / ready /, 20_000);
  const agent: TestAgent = {
    name,
    home,
    addr: m[1]!,
    entity: m[2]!,
    proc,
    log,
    cli: (args, o) => runCli([...args, '--home', home], o),
    async json<T>(args: string[]): Promise<T> {
      const r = await runCli([...args, '--home', home, '--json']);
      if (r.code !== 0) throw new Error(`wotrelay ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    async stop() {
      if (agent.proc.exitCode !== null || agent.proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => agent.proc.once('exit', () => r()));
      agent.proc.kill('SIGTERM');
      const t = setTimeout(() => agent.proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    kill() {
      agent.proc.kill('SIGKILL');
    },
    async crash() {
      if (agent.proc.exitCode !== null || agent.proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => agent.proc.once('exit', () => r()));
      agent.proc.kill('SIGKILL');
      await exited;
    },
    rpc: () => RpcClient.connect(socketPath(home), 5000, { home }),
    async restart(listen?: string) {
      await agent.stop();
      log.length = 0;
      proc = spawnDaemon(home, listen ?? agent.addr, log, opts.env);
      agent.proc = proc;
      const mm = await waitForLine(proc, log, /listening addr=(\S+)/, 20_000);
      agent.addr = mm[1]!;
      await waitForLine(proc, log, / ready /, 20_000);
    },
  };
  agents.add(agent);
  return agent;
}

export async function testnet(names: string[]): Promise<TestAgent[]> {
  return Promise.all(names.map((n) => startAgent(n)));
}

export async function stopAll(): Promise<void> {
  await Promise.all([...agents].map((a) => a.stop()));
  for (const a of agents) fs.rmSync(a.home, { recursive: true, force: true });
  agents.clear();
}

/** Polls `fn` until it returns a truthy value (event-driven tests have no better hook across processes). */
/** A TCP port on 127.0.0.1 that was free a moment ago (for a process that must be told its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Invites `b` into `a`'s trust (and vice versa) through the real CLI. */
export async function link(a: TestAgent, b: TestAgent, names: { aName?: string; bName?: string } = {}): Promise<void> {
  const inv = await a.json<{ code: string }>(['invite']);
  const args = ['accept', inv.code];
  if (names.aName) args.push('--name', names.aName);
  await b.json(args);
  if (names.bName) {
    await a.json(['trust', 'add', b.entity, '--name', names.bName]);
  }
}
