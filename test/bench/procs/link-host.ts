/**
 * The memory benchmark's server side, in its own process (started with --expose-gc and a
 * raised open-file limit): either a real wotrelay daemon (agent/daemon runDaemon) in this
 * process, or, as the baseline, a bare TCP server that only holds its sockets. Answers
 * `{cmd: 'heap'}` over IPC with process.memoryUsage() after two full collections, and
 * `{cmd: 'peers'}` with the number of open links.
 *
 *   node --expose-gc link-host.js daemon <home>
 *   node --expose-gc link-host.js bare
 */
import net from 'node:net';
import { runDaemon } from '../../../agent/daemon/daemon.js';

const send = (m: unknown): void => {
  process.send?.(m);
};
const gc = (globalThis as { gc?: () => void }).gc;
const [role, home] = process.argv.slice(2);
let peers: () => Promise<number>;

if (role === 'daemon') {
  const handle = await runDaemon({ home: home!, listen: '127.0.0.1:0', logLevel: 'warn' });
  peers = async () => (await handle.invoke('peers', {})).length;
  send({ ready: true, addr: handle.listenAddrs[0] });
} else {
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    held.add(s);
    s.on('close', () => held.delete(s));
    s.on('error', () => undefined);
  });
  server.maxConnections = 100_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  peers = async () => held.size;
  send({ ready: true, addr: `127.0.0.1:${(server.address() as net.AddressInfo).port}` });
}

process.on('message', async (m: { cmd: string }) => {
  if (m.cmd === 'heap') {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
    gc?.();
    send({ ...process.memoryUsage(), peers: await peers() });
  } else if (m.cmd === 'exit') process.exit(0);
});
