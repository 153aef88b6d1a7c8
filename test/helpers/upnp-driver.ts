/**
 * Test helper process for test/integration/upnp: runs one UpnpMapper (the real nat-upnp
 * client) and reports on stdout, one JSON object a line:
 *   {"event":"log","name":"upnp-mapped",…}      the mapper's log
 *   {"event":"start","result":{…},"ms":N}       start()'s result and how long it took
 *   {"event":"status","status":{…}}             status() after start
 *   {"event":"stopped","status":{…}}            after stop() (called at once after start)
 *   {"event":"uncaught","error":"…"}            should never appear (exit code 3)
 * It waits a little after stop so late asynchronous socket errors would show. It refuses to
 * run anywhere but inside the test namespace named by --netns (wrupnp-…):
 *   ip netns exec wrupnp-1-host node upnp-driver.js --netns wrupnp-1-host --internal-port 7117 --external-port 40001 [--discovery-ms N]
 */
import { inNetns } from './netns.js';
import { UpnpMapper } from '../../agent/reach/upnp.js';

const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n');
let uncaught = false;
process.on('uncaughtException', (e) => {
  uncaught = true;
  out({ event: 'uncaught', error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` });
});

function fail(msg: string): never {
  process.stderr.write(`upnp-driver: ${msg}\n`);
  process.exit(2);
}


const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const netns = opt('--netns') ?? fail('--netns is required');
if (!/^wrupnp-/.test(netns) || !inNetns(netns)) fail(`not inside the test namespace ${netns}; refusing to send SSDP on this machine's interfaces`);

const mapper = new UpnpMapper({
  internalPort: Number(opt('--internal-port') ?? 7117),
  externalPort: Number(opt('--external-port') ?? opt('--internal-port') ?? 7117),
  leaseSeconds: Number(opt('--lease') ?? 3600),
  discoveryMs: Number(opt('--discovery-ms') ?? 3000),
  log: (name, fields) => out({ event: 'log', name, ...fields }),
});
const t0 = Date.now();
const result = await mapper.start();
out({ event: 'start', result, ms: Date.now() - t0 });
out({ event: 'status', status: mapper.status() });
await mapper.stop();
await mapper.stop();
await new Promise((r) => setTimeout(r, 300));
out({ event: 'stopped', status: mapper.status() });
process.exit(uncaught ? 3 : 0);
