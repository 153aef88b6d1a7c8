/**
 * NAT traversal for real, inside network namespaces the test creates and removes (names
 * wrnat-<pid>-…): an agent H at "home" (10.88.1.2/24) sits behind a "router" namespace
 * that masquerades (nftables) onto a "wan" namespace (203.0.113.0/24, TEST-NET-3, so the
 * agents there count as public) and drops every NEW connection from wan to home. The wan
 * namespace holds a real directory server D, a public agent P and an agent W. H keeps a
 * link to P (it dials out through the masquerade); W, which knows H only by entity id,
 * reaches H through P; H's status says it is reachable via P. All processes are the real
 * binaries under `ip netns exec`; the CLI talks to each daemon over its Unix socket (not
 * namespaced). Skipped, with the reason, where namespaces or nftables are not available.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InboxItem, PeerView, SendResult, StatusResult } from '../../agent/api/methods.js';
import { eventually, runCli } from '../helpers/testnet.js';
import { addNs, ip, removeStaleNamespaces, run } from '../helpers/netns.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../../agent/cli/main.js');
const DIRECTORY = path.resolve(here, '../../directory-server/main.js');
const PREFIX = `wrnat-${process.pid}-`;
const NS = { home: `${PREFIX}home`, router: `${PREFIX}router`, wan: `${PREFIX}wan` };
const WAN = '203.0.113.2';
const HOME = '10.88.1.2';
const DIR_URL = `http://${WAN}:7118`;

let skipReason: string | null = null;
const created: string[] = [];
const procs = new Set<ChildProcess>();
let tmp = '';




const RULES = `table ip wrnat {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ct state established,related accept
    iifname "rw" oifname "rh" ct state new drop
  }
  chain postrouting {
    type nat hook postrouting priority 100;
    oifname "rw" masquerade
  }
}
`;

function setup(): void {
  if (spawnSync('ip', ['-V']).error) throw new Error('`ip` (iproute2) is not installed (Debian: apt-get install iproute2)');
  if (spawnSync('nft', ['--version']).error) throw new Error('`nft` is not installed (Debian: apt-get install nftables)');
  removeStaleNamespaces('wrnat');
  try {
    addNs(NS.router, created);
  } catch (e) {
    throw new Error(`cannot create network namespaces (needs root or CAP_NET_ADMIN): ${(e as Error).message}`);
  }
  addNs(NS.home, created);
  addNs(NS.wan, created);
  // router: rh ↔ home's eth0, rw ↔ wan's eth0.
  ip(['-n', NS.router, 'link', 'add', 'rh', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.home]);
  ip(['-n', NS.router, 'link', 'add', 'rw', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.wan]);
  ip(['-n', NS.router, 'addr', 'add', '10.88.1.1/24', 'dev', 'rh']);
  ip(['-n', NS.router, 'addr', 'add', '203.0.113.1/24', 'dev', 'rw']);
  ip(['-n', NS.router, 'link', 'set', 'rh', 'up']);
  ip(['-n', NS.router, 'link', 'set', 'rw', 'up']);
  ip(['-n', NS.home, 'addr', 'add', `${HOME}/24`, 'dev', 'eth0']);
  ip(['-n', NS.home, 'link', 'set', 'eth0', 'up']);
  ip(['-n', NS.home, 'route', 'add', 'default', 'via', '10.88.1.1']);
  ip(['-n', NS.wan, 'addr', 'add', `${WAN}/24`, 'dev', 'eth0']);
  ip(['-n', NS.wan, 'link', 'set', 'eth0', 'up']);
  // The worst case for the NAT: wan even has a route to the home network, so only the
  // router's firewall keeps wan out.
  ip(['-n', NS.wan, 'route', 'add', '10.88.1.0/24', 'via', '203.0.113.1']);
  run('ip', ['netns', 'exec', NS.router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  try {
    run('ip', ['netns', 'exec', NS.router, 'nft', '-f', '-'], RULES);
  } catch (e) {
    throw new Error(`cannot load nftables rules in a namespace (nf_tables not available?): ${(e as Error).message}`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrnat-'));
}

function cleanupSync(): void {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  procs.clear();
  for (const n of created.splice(0).reverse()) spawnSync('ip', ['netns', 'del', n]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = '';
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupSync();
  process.kill(process.pid, sig);
}

// ------------------------------------------------------------------ processes in namespaces

interface NsProc {
  proc: ChildProcess;
  log: string[];
  waitFor(re: RegExp, what: string, timeoutMs?: number): Promise<RegExpExecArray>;
}

function startIn(ns: string, args: string[]): NsProc {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.add(proc);
  const log: string[] = [];
  const listeners = new Set<() => void>();
  const collect = (d: Buffer) => {
    for (const l of d.toString().split('\n')) if (l) log.push(l);
    if (log.length > 5000) log.splice(0, log.length - 5000);
    for (const f of listeners) f();
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  proc.on('exit', () => {
    for (const f of listeners) f();
  });
  return {
    proc,
    log,
    waitFor: (re, what, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          for (const l of log) {
            const m = re.exec(l);
            if (m) {
              done();
              resolve(m);
              return;
            }
          }
          if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`exited before ${what}:\n${log.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${what}\n${log.join('\n')}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
  };
}

interface NatAgent {
  name: string;
  home: string;
  entity: string;
  daemon: NsProc;
  json<T = unknown>(args: string[]): Promise<T>;
}

async function startAgent(name: string, ns: string, listen: string): Promise<NatAgent> {
  const home = path.join(tmp, name);
  const r = await runCli(['init', '--home', home, '--listen', listen, '--json']);
  if (r.code !== 0) throw new Error(`init ${name} failed: ${r.stderr}`);
  const entity = (JSON.parse(r.stdout) as { entity: string }).entity;
  // Like testnet.startAgent: config after init. No LAN discovery: reachability is the point.
  const file = path.join(home, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(file, JSON.stringify({ ...cfg, directories: [DIR_URL], lan: false }, null, 2));
  const daemon = startIn(ns, [CLI, 'daemon', '--home', home, '--listen', listen]);
  await daemon.waitFor(/ ready /, `${name} ready`);
  return {
    name,
    home,
    entity,
    daemon,
    async json<T>(args: string[]): Promise<T> {
      const res = await runCli([...args, '--home', home, '--json'], { timeoutMs: 60_000 });
      if (res.code !== 0) throw new Error(`wotrelay ${args.join(' ')} (${name}) exited ${res.code}: ${res.stderr}`);
      return JSON.parse(res.stdout) as T;
    },
  };
}

/** A plain TCP connect from inside `ns`: 'connected', 'timeout' (2 s) or 'error <code>'. */
async function probe(ns: string, host: string, port: number): Promise<string> {
  const code = `const s=require('net').connect(${port},'${host}');s.setTimeout(2000,()=>{console.log('timeout');process.exit(0)});` +
    `s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',(e)=>{console.log('error '+e.code);process.exit(0)})`;
  const p = startIn(ns, ['-e', code]);
  const m = await p.waitFor(/^(connected|timeout|error \S+)$/, `probe ${host}:${port} from ${ns}`, 10_000);
  procs.delete(p.proc);
  return m[1]!;
}

// ------------------------------------------------------------------ tests

test.before(() => {
  try {
    setup();
  } catch (e) {
    cleanupSync();
    skipReason = (e as Error).message;
    return;
  }
  process.on('exit', cleanupSync);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
});

test.after(async () => {
  const live = [...procs].filter((p) => p.exitCode === null && p.signalCode === null);
  await Promise.all(
    live.map(
      (p) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(() => p.kill('SIGKILL'), 5000);
          p.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          p.kill('SIGTERM');
        }),
    ),
  );
  cleanupSync();
  process.off('exit', cleanupSync);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
});

test('an agent behind a masquerading NAT, unreachable from wan, gets a message from a wan agent via its public neighbour, and reports it is reachable via that relay', async () => {
  if (skipReason) {
    console.log(`  skipping NAT test: ${skipReason}`);
    return;
  }
  const dir = startIn(NS.wan, [DIRECTORY, '--listen', `${WAN}:7118`, '--store', `sqlite:${path.join(tmp, 'dir.db')}`]);
  await dir.waitFor(/listening addr=/, 'directory listening');
  const [P, W, H] = await Promise.all([
    startAgent('P', NS.wan, `${WAN}:7201`),
    startAgent('W', NS.wan, `${WAN}:7202`),
    startAgent('H', NS.home, `${HOME}:7117`),
  ]);

  // The NAT is real: H listens (the router reaches it), but from wan a connection to it
  // is dropped, although wan even has a route to the home network.
  assert.is(await probe(NS.router, HOME, 7117), 'connected', 'H is listening');
  assert.match(await probe(NS.wan, HOME, 7117), /^(timeout|error )/, 'wan cannot connect to H');
  assert.is(await probe(NS.home, WAN, 7201), 'connected', 'home can connect out to P');

  // Trust: H ↔ P (H has P's address), W ↔ P (with addresses), W knows H only by id. H
  // does not trust W: a message relayed by P arrives on H's link with P.
  await H.json(['trust', 'add', P.entity, '--name', 'P', '--addr', `${WAN}:7201`]);
  await P.json(['trust', 'add', H.entity, '--name', 'H']);
  await P.json(['trust', 'add', W.entity, '--name', 'W', '--addr', `${WAN}:7202`]);
  await W.json(['trust', 'add', P.entity, '--name', 'P', '--addr', `${WAN}:7201`]);
  await W.json(['trust', 'add', H.entity, '--name', 'H']);

  // H keeps a link to P, dialled out through the masquerade: P sees the router's address.
  const hOnP = await eventually(async () => {
    const peers = await P.json<PeerView[]>(['peers']);
    return peers.find((p) => p.entity === H.entity);
  }, 30_000, 'H to link to P');
  assert.match(hOnP.remoteAddress, /^203\.0\.113\.1:\d+$/, 'P sees H behind the router\'s address');
  assert.is(hOnP.direction, 'in');

  // Reachability report: H is private and P relays for it; P itself is public.
  const st = await eventually(async () => {
    const s = await H.json<StatusResult>(['status']);
    return s.reachability.mode === 'via-relay' ? s : undefined;
  }, 20_000, 'H to report via-relay');
  assert.equal(st.reachability.relays, [P.entity], 'H names P as its relay');
  assert.match(st.reachability.why, /private/);
  const pst = await P.json<StatusResult>(['status']);
  assert.is(pst.reachability.mode, 'direct');
  assert.equal(pst.reachability.relays, []);

  // W sends to H, which it knows only by entity id and cannot reach directly.
  const sent = await W.json<SendResult>(['send', H.entity, 'hello through the NAT', '--wait', '--timeout', '40s']);
  assert.is(sent.state, 'delivered');
  const inbox = await H.json<InboxItem[]>(['inbox']);
  const m = inbox.find((i) => i.text === 'hello through the NAT');
  assert.ok(m, 'H received the message');
  assert.equal(m!.path.map((h) => h.entity), [W.entity, P.entity], 'H verified the path W → P → H');
  const wPeers = await W.json<PeerView[]>(['peers']);
  assert.not.ok(wPeers.some((p) => p.entity === H.entity), 'W never had a link to H');
});

test.run();
