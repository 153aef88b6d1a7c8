/**
 * Unit tests for the daemon's early listener (agent/daemon/listener.ts), on real loopback
 * sockets: the port accepts before the daemon serves it, nothing a client sends is read
 * until then, held connections reach the handler in order with their bytes intact, at most
 * MAX_HELD wait, a port in use gives a clear error, and closing releases the held sockets.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { EarlyListener, MAX_HELD, configuredListen, DEFAULT_LISTEN } from '../../agent/daemon/listener.js';
import { isWotError } from '../../agent/wire/errors.js';

const portOf = (l: EarlyListener): number => (l.server.address() as net.AddressInfo).port;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

test('held connections are not read until served, then reach the handler with their bytes', async () => {
  const l = await EarlyListener.bind('127.0.0.1:0');
  const sockets: net.Socket[] = [];
  try {
    const a = await connect(portOf(l));
    const b = await connect(portOf(l));
    sockets.push(a, b);
    a.write('hello from a');
    b.write('hello from b');
    await sleep(100);
    // Held, paused: no handler yet, so nothing could have been read.
    const got: string[] = [];
    const readBeforeServed: number[] = [];
    l.serve((s) => {
      sockets.push(s);
      readBeforeServed.push(s.bytesRead);
      s.on('data', (d: Buffer) => got.push(d.toString()));
      s.resume();
    });
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await sleep(10);
    assert.equal(readBeforeServed, [0, 0], 'not one byte read while held');
    assert.equal(got.sort(), ['hello from a', 'hello from b']);
    // Later connections go straight to the handler.
    const c = await connect(portOf(l));
    sockets.push(c);
    c.write('later');
    while (got.length < 3 && Date.now() < deadline) await sleep(10);
    assert.is(got[2], 'later');
  } finally {
    for (const s of sockets) s.destroy();
    await l.close();
  }
});

test(`at most ${MAX_HELD} connections wait; later ones are closed`, async () => {
  const l = await EarlyListener.bind('127.0.0.1:0');
  const clients: net.Socket[] = [];
  try {
    for (let i = 0; i < MAX_HELD + 5; i++) clients.push(await connect(portOf(l)));
    const deadline = Date.now() + 5000;
    while (l.refused < 5 && Date.now() < deadline) await sleep(10);
    assert.is(l.refused, 5);
    let handed = 0;
    l.serve((s) => {
      handed++;
      s.destroy();
    });
    assert.is(handed, MAX_HELD);
  } finally {
    for (const c of clients) c.destroy();
    await l.close();
  }
});

test('a port in use is a clear error; close ends held connections and frees the port', async () => {
  const l = await EarlyListener.bind('127.0.0.1:0');
  const port = portOf(l);
  try {
    await EarlyListener.bind(`127.0.0.1:${port}`);
    assert.unreachable('bound twice');
  } catch (e) {
    assert.ok(isWotError(e) && e.code === 'ERR_BAD_REQUEST' && /EADDRINUSE/.test(e.message) && /--listen/.test(e.hint ?? ''), String(e));
  }
  const held = await connect(port);
  const closed = new Promise((r) => held.once('close', r));
  held.on('error', () => undefined);
  await sleep(50);
  await l.close();
  await closed;
  const again = await EarlyListener.bind(`127.0.0.1:${port}`);
  await again.close();
});

test('the configured address: the flag, else the default when there is no config file', () => {
  assert.is(configuredListen('/nonexistent-home', '127.0.0.1:9'), '127.0.0.1:9');
  assert.is(configuredListen('/nonexistent-home', undefined), DEFAULT_LISTEN);
});

test.run();
