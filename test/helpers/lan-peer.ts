/**
 * Test helper process for LAN discovery: runs one LanDiscovery for the identity in --home,
 * trusting the --trust entity ids, and reports on stdout, one line each:
 *   ready <entity-id>            advertising and browsing have been started
 *   found <entity-id> <addr>     onPeer fired
 *   log <event> <json fields>    LanDiscovery's log
 *   status S errors=N attempts=N services=N   in answer to the stdin line `status S`
 *   service <json>               with --dump: every service of the type seen by a plain dnssd
 *                                browser (fullname, host, port, addresses, txt): what anyone
 *                                on the LAN can read
 *   stopped errors=N attempts=N  after stop() (stdin line `stop`, stdin end, SIGTERM, SIGINT)
 * The stdin line `trust <entity-id>` adds a trusted entity and calls recheck().
 * It refuses to run anywhere but inside the test namespace named by --netns (wrlan-…), so
 * mDNS never reaches the machine's own interfaces:
 *   ip netns exec wrlan-1-a node lan-peer.js --netns wrlan-1-a --home H --trust wot1… [--port P] [--retry-ms N]
 */
import { inNetns } from './netns.js';
import readline from 'node:readline';
import dnssd from 'dnssd';
import { decodeEntityId, encodeEntityId, loadIdentity } from '../../agent/identity/index.js';
import { LanDiscovery } from '../../agent/reach/lan.js';

function fail(msg: string): never {
  process.stderr.write(`lan-peer: ${msg}\n`);
  process.exit(2);
}

/** True when this process runs inside the named namespace (`ip netns` keeps it at /run/netns/<name>). */

let home: string | undefined;
let netns: string | undefined;
let port = 7117;
let retryMs: number | undefined;
let dump = false;
const trusted: Uint8Array[] = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--dump') {
    dump = true;
    continue;
  }
  const v = argv[i + 1];
  if (v === undefined) fail(`${a} needs a value`);
  i++;
  if (a === '--home') home = v;
  else if (a === '--netns') netns = v;
  else if (a === '--port') port = Number(v);
  else if (a === '--retry-ms') retryMs = Number(v);
  else if (a === '--trust') trusted.push(decodeEntityId(v));
  else fail(`unknown argument ${a}`);
}
if (!home) fail('--home is required');
if (!netns || !netns.startsWith('wrlan-') || !inNetns(netns)) {
  fail('refusing to run mDNS outside a test namespace; run me as `ip netns exec wrlan-… node lan-peer.js --netns wrlan-… …`');
}

const identity = loadIdentity(home, Date.now());
const out = (line: string) => process.stdout.write(line + '\n');
const lan = new LanDiscovery({
  port,
  entityPub: identity.entityPub,
  trusted: () => trusted,
  onPeer: (entity, addr) => out(`found ${encodeEntityId(entity)} ${addr}`),
  log: (event, fields) => out(`log ${event} ${JSON.stringify(fields)}`),
  ...(retryMs !== undefined ? { retryMs } : {}),
});
lan.start();
let dumpBrowser: dnssd.Browser | null = null;
if (dump) {
  dumpBrowser = new dnssd.Browser(dnssd.tcp('wotrelay'));
  dumpBrowser.on('error', (e: unknown) => out(`log dump-error ${JSON.stringify({ error: String(e) })}`));
  dumpBrowser.on('serviceUp', (sv: dnssd.Service) =>
    out(`service ${JSON.stringify({ fullname: sv.fullname, name: sv.name, host: sv.host, port: sv.port, addresses: sv.addresses, txt: sv.txt as unknown })}`),
  );
  dumpBrowser.start();
}
out(`ready ${encodeEntityId(identity.entityPub)}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  dumpBrowser?.stop();
  await lan.stop();
  await lan.stop(); // safe twice
  out(`stopped errors=${lan.errorCount} attempts=${lan.attemptCount}`);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'status') out(`status ${arg ?? '0'} errors=${lan.errorCount} attempts=${lan.attemptCount} services=${lan.serviceCount}`);
  else if (cmd === 'trust' && arg) {
    trusted.push(decodeEntityId(arg));
    lan.recheck();
  } else if (cmd === 'stop') void stop();
});
rl.on('close', () => void stop());
