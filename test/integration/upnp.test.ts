/**
 * UPnP port mapping for real (UpnpMapper over the real nat-upnp client), inside a pair of
 * network namespaces the test creates and removes (names wrupnp-<pid>-…): wrupnp-<pid>-igd
 * (10.66.0.1/24) and wrupnp-<pid>-host (10.66.0.2/24), joined by a veth pair, each with a
 * default route over it. The IGD is a minimal responder written for the test
 * (test/helpers/igd.js: SSDP on UDP 1900 + a tiny HTTP/SOAP server), because Debian's
 * miniupnpd refuses to serve when its WAN address is private, so it cannot be the IGD
 * here. The mapper runs in test/helpers/upnp-driver.js in the other namespace. SSDP never
 * touches the machine's own interfaces: both helpers refuse to run outside their namespace.
 * Skipped, with the reason, where namespaces cannot be created (not root, no
 * CAP_NET_ADMIN, no `ip`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StatusResult } from '../../agent/api/methods.js';
import { addNs, ip, removeStaleNamespaces } from '../helpers/netns.js';
import { CLI, runCli } from '../helpers/testnet.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const IGD = path.resolve(here, '../helpers/igd.js');
const DRIVER = path.resolve(here, '../helpers/upnp-driver.js');
const PREFIX = `wrupnp-${process.pid}-`;
const NS = { igd: `${PREFIX}igd`, host: `${PREFIX}host` };
const WAIT_MS = 15_000;

let skipReason: string | null = null;
const created: string[] = [];
const procs = new Set<ChildProcess>();




function setup(): void {
  const v = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (v.error) throw new Error('`ip` (iproute2) is not installed (Debian: apt-get install iproute2)');
  removeStaleNamespaces('wrupnp');
  try {
    addNs(NS.igd, created);
  } catch (e) {
    throw new Error(`cannot create network namespaces (needs root or CAP_NET_ADMIN): ${(e as Error).message}`);
  }
  addNs(NS.host, created);
  ip(['-n', NS.igd, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.host]);
  ip(['-n', NS.igd, 'addr', 'add', '10.66.0.1/24', 'dev', 'eth0']);
  ip(['-n', NS.host, 'addr', 'add', '10.66.0.2/24', 'dev', 'eth0']);
  ip(['-n', NS.igd, 'link', 'set', 'eth0', 'up']);
  ip(['-n', NS.host, 'link', 'set', 'eth0', 'up']);
  // Default routes over the veth also carry the SSDP multicast (239.255.255.250).
  ip(['-n', NS.igd, 'route', 'add', 'default', 'via', '10.66.0.2']);
  ip(['-n', NS.host, 'route', 'add', 'default', 'via', '10.66.0.1']);
  // nat-upnp sends a single M-SEARCH: wait until both ends of the veth are operationally up
  // (packets sent before that are dropped).
  const end = Date.now() + 5000;
  const up = (ns: string) => /state UP/.test(spawnSync('ip', ['-n', ns, '-o', 'link', 'show', 'eth0'], { encoding: 'utf8' }).stdout ?? '');
  while (!(up(NS.igd) && up(NS.host))) {
    if (Date.now() > end) throw new Error('the test veth pair did not come up within 5 s');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function cleanupSync(): void {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  procs.clear();
  for (const n of created.splice(0).reverse()) spawnSync('ip', ['netns', 'del', n]);
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupSync();
  process.kill(process.pid, sig);
}

interface Proc {
  proc: ChildProcess;
  events: Array<Record<string, unknown>>;
  raw: string[];
  exited: Promise<number | null>;
  waitFor(pred: (e: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>>;
}

function run(ns: string, script: string, args: string[]): Proc {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, script, '--netns', ns, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  procs.add(proc);
  const events: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const listeners = new Set<() => void>();
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) {
      if (!l) continue;
      raw.push(l);
      try {
        events.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        /* kept in raw */
      }
    }
    for (const f of listeners) f();
  });
  proc.stderr!.on('data', (d: Buffer) => raw.push(`stderr ${d.toString().trim()}`));
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      for (const f of listeners) f();
      resolve(code);
    }),
  );
  return {
    proc,
    events,
    raw,
    exited,
    waitFor: (pred, what) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const e = events.find(pred);
          if (e) {
            done();
            resolve(e);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`exited before ${what}:\n${raw.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${what}:\n${raw.join('\n')}`));
        }, WAIT_MS);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
  };
}

async function finish(p: Proc): Promise<number | null> {
  p.proc.stdin!.end();
  const code = await p.exited;
  procs.delete(p.proc);
  return code;
}

const soap = (igd: Proc) => igd.events.filter((e) => e['event'] === 'soap') as Array<{ action: string; args: Record<string, string>; status: number }>;

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

test('UpnpMapper finds the test IGD by SSDP, maps external 40001 → 10.66.0.2:7117/TCP with the lease, reports 203.0.113.7:40001, and stop deletes the mapping', async () => {
  if (skipReason) {
    console.log(`  skipping UPnP IGD test: ${skipReason}`);
    return;
  }
  const igd = run(NS.igd, IGD, ['--addr', '10.66.0.1']);
  try {
    await igd.waitFor((e) => e['event'] === 'ready', 'IGD ready');
    const drv = run(NS.host, DRIVER, ['--internal-port', '7117', '--external-port', '40001', '--lease', '1200']);
    const start = await drv.waitFor((e) => e['event'] === 'start', 'driver start result');
    assert.equal(start['result'], { ok: true, externalAddr: '203.0.113.7:40001' }, `driver:\n${drv.raw.join('\n')}\nigd:\n${igd.raw.join('\n')}`);
    const status = (await drv.waitFor((e) => e['event'] === 'status', 'status'))['status'] as Record<string, unknown>;
    assert.is(status['mapped'], true);
    assert.is(status['externalAddr'], '203.0.113.7:40001');
    await drv.waitFor((e) => e['event'] === 'stopped', 'driver stopped');
    assert.is(await drv.exited, 0, `driver exits 0 (no uncaught exception)\n${drv.raw.join('\n')}`);
    procs.delete(drv.proc);

    const calls = soap(igd);
    assert.equal(calls.map((c) => c.action), ['AddPortMapping', 'GetExternalIPAddress', 'DeletePortMapping'], JSON.stringify(calls));
    const add = calls[0]!.args;
    assert.is(add['NewExternalPort'], '40001');
    assert.is(add['NewInternalPort'], '7117');
    assert.is(add['NewProtocol'], 'TCP');
    assert.is(add['NewInternalClient'], '10.66.0.2');
    assert.is(add['NewLeaseDuration'], '1200');
    assert.is(add['NewEnabled'], '1');
    assert.is(add['NewPortMappingDescription'], 'wotrelay');
    const del = calls[2]!;
    assert.equal([del.args['NewExternalPort'], del.args['NewProtocol'], del.status], ['40001', 'TCP', 200], 'the mapping that was added is the one deleted');
    assert.ok(igd.events.some((e) => e['event'] === 'msearch' && e['st'] === 'urn:schemas-upnp-org:device:InternetGatewayDevice:1' && String(e['from']).startsWith('10.66.0.2:')));
  } finally {
    assert.is(await finish(igd), 0);
  }
});

test('an IGD that answers AddPortMapping with SOAP fault 718 (ConflictInMappingEntry) → start() ok:false "refused", no crash, nothing left to delete', async () => {
  if (skipReason) {
    console.log(`  skipping UPnP IGD test: ${skipReason}`);
    return;
  }
  const igd = run(NS.igd, IGD, ['--addr', '10.66.0.1', '--fault', '718']);
  try {
    await igd.waitFor((e) => e['event'] === 'ready', 'IGD ready');
    const drv = run(NS.host, DRIVER, ['--internal-port', '7117']);
    const start = await drv.waitFor((e) => e['event'] === 'start', 'driver start result');
    const result = start['result'] as { ok: boolean; reason?: string };
    assert.is(result.ok, false);
    assert.match(result.reason ?? '', /^refused: the gateway answered AddPortMapping with HTTP 500/);
    assert.is(await drv.exited, 0, `driver exits 0 (no uncaught exception)\n${drv.raw.join('\n')}`);
    procs.delete(drv.proc);
    assert.equal(soap(igd).map((c) => `${c.action} ${c.status}`), ['AddPortMapping 500']);
  } finally {
    assert.is(await finish(igd), 0);
  }
});

test('an IGD answering GetExternalIPAddress with HTTP 200 and a non-XML body (nat-upnp throws inside its callback) → ok:false "gateway error", the mapping is deleted, no uncaught exception', async () => {
  if (skipReason) {
    console.log(`  skipping UPnP IGD test: ${skipReason}`);
    return;
  }
  const igd = run(NS.igd, IGD, ['--addr', '10.66.0.1', '--garbage', 'GetExternalIPAddress']);
  try {
    await igd.waitFor((e) => e['event'] === 'ready', 'IGD ready');
    const drv = run(NS.host, DRIVER, ['--internal-port', '7117']);
    const start = await drv.waitFor((e) => e['event'] === 'start', 'driver start result');
    const result = start['result'] as { ok: boolean; reason?: string };
    assert.is(result.ok, false);
    assert.match(result.reason ?? '', /^gateway error: GetExternalIPAddress failed: /);
    assert.is(await drv.exited, 0, `driver exits 0 (no uncaught exception)\n${drv.raw.join('\n')}`);
    procs.delete(drv.proc);
    assert.equal(soap(igd).map((c) => `${c.action} ${c.status}`), ['AddPortMapping 200', 'GetExternalIPAddress 200', 'DeletePortMapping 200']);
  } finally {
    assert.is(await finish(igd), 0);
  }
});

test('with no IGD on the network start() resolves ok:false "no gateway" within the discovery timeout, no crash', async () => {
  if (skipReason) {
    console.log(`  skipping UPnP IGD test: ${skipReason}`);
    return;
  }
  const drv = run(NS.host, DRIVER, ['--internal-port', '7117', '--discovery-ms', '1500']);
  const start = await drv.waitFor((e) => e['event'] === 'start', 'driver start result');
  const result = start['result'] as { ok: boolean; reason?: string };
  assert.is(result.ok, false);
  assert.match(result.reason ?? '', /^no gateway: .*1500 ms/);
  assert.ok((start['ms'] as number) >= 1400 && (start['ms'] as number) < 5000, `took ${String(start['ms'])} ms`);
  assert.is(await drv.exited, 0, `driver exits 0 (no uncaught exception)\n${drv.raw.join('\n')}`);
  procs.delete(drv.proc);
  assert.not.ok(drv.events.some((e) => e['event'] === 'uncaught'));
});

test('a real daemon behind an IGD that refuses the mapping keeps running: no crash, status says why it is not mapped, its API answers (case 20; the relay fallback with no IGD at all is nat.test.ts)', async () => {
  if (skipReason) {
    console.log(`  skipping UPnP daemon test: ${skipReason}`);
    return;
  }
  const igd = run(NS.igd, IGD, ['--addr', '10.66.0.1', '--fault', '718']);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-upnp-daemon-'));
  try {
    await igd.waitFor((e) => e['event'] === 'ready', 'IGD ready');
    assert.is((await runCli(['init', '--home', home, '--listen', '10.66.0.2:7117'])).code, 0);
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ listen: '10.66.0.2:7117', lan: false }));
    const daemon = spawn('ip', ['netns', 'exec', NS.host, process.execPath, CLI, 'daemon', '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.add(daemon);
    const log: string[] = [];
    const collect = (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean));
    daemon.stdout!.on('data', collect);
    daemon.stderr!.on('data', collect);
    const end = Date.now() + WAIT_MS;
    while (!log.some((l) => l.includes('upnp-unavailable')) && Date.now() < end && daemon.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    assert.ok(log.some((l) => l.includes('upnp-unavailable') && l.includes('refused')), `the daemon logs the refusal:\n${log.join('\n')}`);
    await new Promise((r) => setTimeout(r, 500));
    assert.is(daemon.exitCode, null, 'still running');
    const st = await runCli(['status', '--home', home, '--json']);
    assert.is(st.code, 0, st.stderr);
    const reach = (JSON.parse(st.stdout) as StatusResult).reachability;
    assert.is.not(reach.mode, 'upnp');
    assert.ok(reach.why.length > 0, 'and says why');
    assert.ok(soap(igd).some((c) => c.action === 'AddPortMapping' && c.status === 500), 'it did ask the gateway');
    assert.is((await runCli(['stop', '--home', home])).code, 0);
  } finally {
    assert.is(await finish(igd), 0);
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test.run();
