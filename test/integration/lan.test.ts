/**
 * LAN discovery for real, inside a test LAN of network namespaces the test creates and
 * removes (names wrlan-<pid>-…): a Linux bridge in wrlan-<pid>-br; peers a, b, c on
 * 10.77.0.1-3/24 with a default route via the bridge; d on 10.77.0.4/24 with no default
 * route; e with a default route but no IPv4 address. In each runs test/helpers/lan-peer.js
 * (one LanDiscovery over dnssd). mDNS never touches the machine's own interfaces: the
 * helper refuses to run outside its namespace. Skipped, with the reason, where namespaces
 * cannot be created (not root, no CAP_NET_ADMIN, no `ip`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createIdentity, encodeEntityId, fingerprint } from '../../agent/identity/index.js';
import { base32Encode } from '../../agent/reach/lan.js';
import { addNs, ip, removeStaleNamespaces } from '../helpers/netns.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const HELPER = path.resolve(here, '../helpers/lan-peer.js');
const PREFIX = `wrlan-${process.pid}-`;
const NS = { br: `${PREFIX}br`, a: `${PREFIX}a`, b: `${PREFIX}b`, c: `${PREFIX}c`, d: `${PREFIX}d`, e: `${PREFIX}e` };
const WAIT_MS = 8000;

let skipReason: string | null = null;
const created: string[] = [];
const peers = new Set<Peer>();
const homes: string[] = [];




/** A namespace on the test LAN: a veth pair from the bridge, eth0 inside. */
function addHost(name: string, port: string, addr: string | null, defaultRoute: boolean): void {
  addNs(name, created);
  ip(['-n', NS.br, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
  ip(['-n', NS.br, 'link', 'set', port, 'master', 'br0', 'up']);
  ip(['-n', name, 'link', 'set', 'eth0', 'up']);
  if (addr) ip(['-n', name, 'addr', 'add', addr, 'dev', 'eth0']);
  if (defaultRoute) {
    if (addr) ip(['-n', name, 'route', 'add', 'default', 'via', '10.77.0.254']);
    else ip(['-n', name, 'route', 'add', 'default', 'dev', 'eth0']);
  }
}

function setup(): void {
  const v = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (v.error) throw new Error('`ip` (iproute2) is not installed (Debian: apt-get install iproute2)');
  removeStaleNamespaces('wrlan');
  try {
    addNs(NS.br, created);
  } catch (e) {
    throw new Error(`cannot create network namespaces (needs root or CAP_NET_ADMIN): ${(e as Error).message}`);
  }
  ip(['-n', NS.br, 'link', 'add', 'br0', 'type', 'bridge']);
  ip(['-n', NS.br, 'addr', 'add', '10.77.0.254/24', 'dev', 'br0']);
  ip(['-n', NS.br, 'link', 'set', 'br0', 'up']);
  addHost(NS.a, 'va', '10.77.0.1/24', true);
  addHost(NS.b, 'vb', '10.77.0.2/24', true);
  addHost(NS.c, 'vc', '10.77.0.3/24', true);
  addHost(NS.d, 'vd', '10.77.0.4/24', false);
  addHost(NS.e, 've', null, true);
}

function cleanupSync(): void {
  for (const p of peers) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  peers.clear();
  for (const n of created.splice(0).reverse()) spawnSync('ip', ['netns', 'del', n]);
  for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupSync();
  process.kill(process.pid, sig);
}

// ------------------------------------------------------------------ peers

interface Peer {
  name: string;
  entity: string;
  pub: Uint8Array;
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  send(line: string): void;
  waitFor(re: RegExp, what: string, timeoutMs?: number): Promise<RegExpExecArray>;
}

function newIdentity(name: string): { home: string; entity: string; pub: Uint8Array } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `wrlan-${name}-`));
  homes.push(home);
  fs.rmSync(home, { recursive: true, force: true }); // createIdentity makes it (0700)
  const id = createIdentity(home, Date.now());
  return { home, entity: encodeEntityId(id.entityPub), pub: id.entityPub };
}

function startPeer(name: string, ns: string, port: number, id: { home: string; entity: string; pub: Uint8Array }, trust: string[], extra: string[] = []): Peer {
  const args = ['netns', 'exec', ns, process.execPath, HELPER, '--netns', ns, '--home', id.home, '--port', String(port), ...extra];
  for (const t of trust) args.push('--trust', t);
  const proc = spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) if (l) lines.push(l);
    for (const f of listeners) f();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) if (l) lines.push(`stderr ${l}`);
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    for (const f of listeners) f();
    resolve(code);
  }));
  const peer: Peer = {
    name,
    entity: id.entity,
    pub: id.pub,
    proc,
    lines,
    exited,
    send: (line) => proc.stdin!.write(line + '\n'),
    waitFor: (re, what, timeoutMs = WAIT_MS) =>
      new Promise((resolve, reject) => {
        const check = () => {
          for (const l of lines) {
            const m = re.exec(l);
            if (m) {
              done();
              resolve(m);
              return;
            }
          }
          if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`${name} exited before ${what}:\n${lines.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${name}: ${what}\n${lines.join('\n')}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
  };
  peers.add(peer);
  return peer;
}

let statusSeq = 0;

/** Asks a peer for its status (every 100 ms) until `pred` holds. */
async function statusUntil(p: Peer, pred: (s: { errors: number; attempts: number; services: number }) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const seq = ++statusSeq;
    p.send(`status ${seq}`);
    const m = await p.waitFor(new RegExp(`^status ${seq} errors=(\\d+) attempts=(\\d+) services=(\\d+)$`), 'status');
    const s = { errors: Number(m[1]), attempts: Number(m[2]), services: Number(m[3]) };
    if (pred(s)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${p.name}: ${what} (last ${JSON.stringify(s)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopPeer(p: Peer): Promise<string> {
  p.send('stop');
  const m = await p.waitFor(/^stopped .*$/, 'stopped');
  const code = await p.exited;
  assert.is(code, 0, `${p.name} exits 0 after stop\n${p.lines.join('\n')}`);
  peers.delete(p);
  return m[0];
}

const found = (p: Peer) => p.lines.filter((l) => l.startsWith('found '));

function encodings(pub: Uint8Array, entity: string): string[] {
  const b = Buffer.from(pub);
  return [
    entity,
    entity.slice(4, 20),
    b.toString('hex'),
    b.toString('base64').replace(/=+$/, ''),
    b.toString('base64url'),
    base32Encode(pub),
    base32Encode(pub).toUpperCase(),
    fingerprint(pub),
    fingerprint(pub).replace(/-/g, ''),
  ];
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

test.after(() => {
  cleanupSync();
  process.off('exit', cleanupSync);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
});

test('two agents on a test LAN find each other by DNS-SD at the right address; a third that trusts nobody finds no one and reads no entity id', async () => {
  if (skipReason) {
    console.log(`  skipping LAN discovery test: ${skipReason}`);
    return;
  }
  try {
    const idA = newIdentity('a');
    const idB = newIdentity('b');
    const c = startPeer('c', NS.c, 7119, newIdentity('c'), [], ['--dump']);
    const a = startPeer('a', NS.a, 7117, idA, [idB.entity]);
    const b = startPeer('b', NS.b, 7118, idB, [idA.entity]);

    await a.waitFor(new RegExp(`^found ${b.entity} 10\\.77\\.0\\.2:7118$`), 'a finds b');
    await b.waitFor(new RegExp(`^found ${a.entity} 10\\.77\\.0\\.1:7117$`), 'b finds a');
    // The stranger c sees both advertisements (plain dnssd browser) and remembers both services.
    await c.waitFor(/^service .*"port":7117/, 'c sees a\'s service');
    await c.waitFor(/^service .*"port":7118/, 'c sees b\'s service');
    await statusUntil(c, (s) => s.services >= 2, 'c remembers a and b');
    assert.equal(found(c), [], 'c trusts nobody and finds no one');
    assert.equal(found(a), [`found ${b.entity} 10.77.0.2:7118`], 'a finds only b (not c, not itself)');
    assert.equal(found(b), [`found ${a.entity} 10.77.0.1:7117`], 'b finds only a (not c, not itself)');

    // What a stranger reads: v, n, t and random names; no id, key or fingerprint of a or b.
    const services = c.lines.filter((l) => l.startsWith('service '));
    for (const port of [7117, 7118]) {
      const line = services.find((l) => l.includes(`"port":${port}`))!;
      const sv = JSON.parse(line.slice('service '.length)) as { txt: Record<string, string>; name: string; host: string };
      assert.equal(Object.keys(sv.txt).sort(), ['n', 't', 'v'], `TXT keys of ${port}`);
      assert.is(sv.txt['v'], '1');
      assert.match(sv.txt['n']!, /^[a-z2-7]{26}$/);
      assert.match(sv.txt['t']!, /^[a-z2-7]{26}$/);
      assert.match(sv.name, /^wotrelay-[0-9a-f]{12}$/, 'random instance name, not the hostname');
      assert.match(sv.host, /^wr-[0-9a-f]{12}\.local\.?$/, 'random host name, not the hostname');
    }
    for (const [who, p] of [['a', a], ['b', b]] as const) {
      for (const enc of encodings(p.pub, p.entity)) {
        for (const l of services) assert.not.ok(l.toLowerCase().includes(enc.toLowerCase()), `${who}'s id (${enc}) readable in ${l}`);
      }
    }

    // Trust given later: recheck() finds the service already seen.
    c.send(`trust ${a.entity}`);
    await c.waitFor(new RegExp(`^found ${a.entity} 10\\.77\\.0\\.1:7117$`), 'c finds a once it trusts a');
    assert.equal(found(c), [`found ${a.entity} 10.77.0.1:7117`]);

    for (const p of [a, b, c]) assert.is(await stopPeer(p), 'stopped errors=0 attempts=1', `${p.name}: no dnssd error on a LAN with a default route`);
  } finally {
    for (const p of peers) p.proc.kill('SIGKILL');
    peers.clear();
  }
});

test('two real daemons on the test LAN, trusting each other by id only (no address, no directory), connect by DNS-SD and deliver', async () => {
  if (skipReason) {
    console.log(`  skipping LAN daemon test: ${skipReason}`);
    return;
  }
  const CLI = path.resolve(here, '../../agent/cli/main.js');
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  const daemons: ChildProcess[] = [];
  try {
    const homeA = fs.mkdtempSync(path.join(os.tmpdir(), 'wrlan-da-'));
    const homeB = fs.mkdtempSync(path.join(os.tmpdir(), 'wrlan-db-'));
    homes.push(homeA, homeB);
    const idOf = (home: string) => {
      const r = cli(['init', '--home', home, '--json']);
      assert.is(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { entity: string }).entity;
    };
    const entA = idOf(homeA);
    const entB = idOf(homeB);
    const logs: string[] = [];
    const start = (ns: string, home: string, listen: string) => {
      const p = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, 'daemon', '--home', home, '--listen', listen], { stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout!.on('data', (d: Buffer) => logs.push(d.toString()));
      p.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
      daemons.push(p);
    };
    start(NS.a, homeA, '10.77.0.1:7117');
    start(NS.b, homeB, '10.77.0.2:7117');
    const until = async (fn: () => boolean, what: string, ms = 20_000) => {
      const end = Date.now() + ms;
      while (!fn()) {
        if (Date.now() > end) throw new Error(`timed out: ${what}\n${logs.join('')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until(() => logs.join('').split(' ready ').length > 2, 'both daemons ready');
    // The CLI talks to each daemon over its Unix socket (not namespaced).
    assert.is(cli(['trust', 'add', entB, '--name', 'b', '--home', homeA]).status, 0);
    assert.is(cli(['trust', 'add', entA, '--name', 'a', '--home', homeB]).status, 0);
    await until(() => /lan-peer-found/.test(logs.join('')), 'a LAN peer found', 30_000);
    const sent = cli(['send', 'b', 'hello over the LAN', '--wait', '--timeout', '20s', '--json', '--home', homeA]);
    assert.is(sent.status, 0, sent.stderr);
    assert.is((JSON.parse(sent.stdout) as { state: string }).state, 'delivered');
    const inbox = JSON.parse(cli(['inbox', '--json', '--home', homeB]).stdout) as Array<{ text: string }>;
    assert.ok(inbox.some((m) => m.text === 'hello over the LAN'));
  } finally {
    for (const d of daemons) d.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const d of daemons) d.kill('SIGKILL');
  }
});

test('without a default route (or without an IPv4 address) dnssd errors are caught, logged once and retried; once the route appears the agent is found; stop works', async () => {
  if (skipReason) {
    console.log(`  skipping LAN discovery test: ${skipReason}`);
    return;
  }
  try {
    const idD = newIdentity('d');
    const idF = newIdentity('f');
    const d = startPeer('d', NS.d, 7117, idD, [idF.entity], ['--retry-ms', '100']);
    const e = startPeer('e', NS.e, 7117, newIdentity('e'), [idF.entity], ['--retry-ms', '100']);
    await d.waitFor(/^log lan-error .*ENETUNREACH/, 'd logs the unreachable network');
    await e.waitFor(/^log lan-error .*Timed out getting default route/, 'e logs the default-route timeout');
    await statusUntil(d, (s) => s.errors >= 3 && s.attempts >= 3, 'd retried');
    await statusUntil(e, (s) => s.errors >= 3 && s.attempts >= 3, 'e retried');
    for (const p of [d, e]) {
      const errs = p.lines.filter((l) => l.startsWith('log lan-error '));
      assert.is(errs.length, 1, `${p.name} logs its error once despite retries:\n${errs.join('\n')}`);
      assert.not.ok(p.lines.some((l) => l.startsWith('stderr ')), `${p.name} prints nothing on stderr:\n${p.lines.join('\n')}`);
    }
    // The network comes up (a laptop joining Wi-Fi after boot): the next retry succeeds.
    const f = startPeer('f', NS.b, 7118, idF, [idD.entity]);
    ip(['-n', NS.d, 'route', 'add', 'default', 'via', '10.77.0.254']);
    await d.waitFor(new RegExp(`^found ${f.entity} 10\\.77\\.0\\.2:7118$`), 'd finds f after its route appears', 12_000);
    await f.waitFor(new RegExp(`^found ${d.entity} 10\\.77\\.0\\.4:7117$`), 'f finds d after its route appears', 12_000);
    assert.equal(found(e), [], 'e (no IPv4 address) finds no one');
    for (const p of [d, e, f]) assert.match(await stopPeer(p), /^stopped errors=\d+ attempts=\d+$/);
  } finally {
    for (const p of peers) p.proc.kill('SIGKILL');
    peers.clear();
  }
});

test.run();
