/**
 * UpnpMapper against a fake nat-upnp client (injected createClient) and fake timers:
 * mapping, refusal, timeouts, renewal at half the lease, removal on stop, stop twice, and
 * that socket errors after close never reach the process. One test closes a real nat-upnp
 * client at once (the ERR_SOCKET_DGRAM_NOT_RUNNING case); it sends nothing on the network.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'node:events';
import natUpnp from 'nat-upnp';
import { UpnpMapper, closeClientSafely, isPublicIpv4, type NatUpnpClientLike, type UpnpMappingRequest, type UpnpTimers } from '../../agent/reach/upnp.js';

class FakeTimers implements UpnpTimers {
  t = 0;
  private seq = 0;
  private q = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.q.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.q.delete(h as number);
  }
  pending(): number[] {
    return [...this.q.values()].map((e) => e.at - this.t).sort((a, b) => a - b);
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const due = [...this.q.entries()].filter(([, e]) => e.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.q.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

type Answer = { err?: Error; hang?: boolean; ip?: string };

class FakeClient implements NatUpnpClientLike {
  timeout = 1800;
  socket = new EventEmitter() as EventEmitter & { bind?: () => unknown; send?: () => unknown };
  ssdp = { sockets: [this.socket] };
  maps: UpnpMappingRequest[] = [];
  unmaps: Array<{ public: number; protocol: string }> = [];
  closed = 0;
  mapAnswer: Answer = {};
  ipAnswer: Answer & { throwAsync?: string } = { ip: '203.0.113.7' };
  unmapAnswer: Answer = {};
  portMapping(opts: UpnpMappingRequest, cb: (err: Error | null) => void): void {
    this.maps.push(opts);
    if (this.mapAnswer.hang) return;
    queueMicrotask(() => cb(this.mapAnswer.err ?? null));
  }
  portUnmapping(opts: { public: number; protocol: 'TCP' }, cb: (err: Error | null) => void): void {
    this.unmaps.push(opts);
    if (this.unmapAnswer.hang) return;
    queueMicrotask(() => cb(this.unmapAnswer.err ?? null));
  }
  externalIp(cb: (err: Error | null, ip?: string) => void): void {
    if (this.ipAnswer.hang) return;
    const boom = this.ipAnswer.throwAsync;
    if (boom) {
      // like nat-upnp's XML callback reading a property of undefined
      setImmediate(() => {
        throw new TypeError(boom);
      });
      return;
    }
    queueMicrotask(() => cb(this.ipAnswer.err ?? null, this.ipAnswer.ip));
  }
  close(): void {
    this.closed++;
  }
}

function setup(extra: { leaseSeconds?: number; externalPort?: number } = {}) {
  const timers = new FakeTimers();
  const client = new FakeClient();
  const logs: Array<[string, Record<string, unknown>]> = [];
  const m = new UpnpMapper({
    internalPort: 7117,
    externalPort: extra.externalPort,
    leaseSeconds: extra.leaseSeconds ?? 3600,
    log: (e, f) => logs.push([e, f]),
    createClient: () => client,
    timers,
    now: () => timers.t,
  });
  return { timers, client, logs, m };
}

test('start maps external→internal TCP with the lease and description, reports ip:port and status mapped', async () => {
  const { client, m, timers } = setup({ externalPort: 40001 });
  const r = await m.start();
  assert.equal(r, { ok: true, externalAddr: '203.0.113.7:40001' });
  assert.equal(client.maps, [{ public: 40001, private: 7117, protocol: 'TCP', description: 'wotrelay', ttl: 3600 }]);
  assert.is(client.timeout, 5000, 'SSDP search timeout set to 5 s');
  assert.equal(m.status(), { mapped: true, externalAddr: '203.0.113.7:40001', renewedAt: 0 });
  assert.equal(timers.pending(), [1_800_000], 'renewal scheduled at half the lease');
  await m.stop();
});

test('no gateway (library search timeout) → ok:false "no gateway", nothing to remove on stop', async () => {
  const { client, m } = setup();
  client.mapAnswer = { err: new Error('timeout') };
  const r = await m.start();
  assert.is(r.ok, false);
  if (!r.ok) assert.match(r.reason, /^no gateway: /);
  assert.is(m.status().mapped, false);
  assert.match(m.status().reason!, /^no gateway/);
  await m.stop();
  assert.is(client.unmaps.length, 0);
  assert.is(client.closed, 1);
});

test('gateway refuses AddPortMapping (SOAP fault, HTTP 500) → ok:false "refused" with the code', async () => {
  const { client, m } = setup();
  client.mapAnswer = { err: new Error('Request failed: 500') };
  const r = await m.start();
  assert.is(r.ok, false);
  if (!r.ok) assert.match(r.reason, /^refused: .*HTTP 500/);
  await m.stop();
});

test('gateway that never answers → ok:false "timeout" after discovery + HTTP time; stop still bounded', async () => {
  const { client, m, timers } = setup();
  client.mapAnswer = { hang: true };
  let result: unknown = null;
  void m.start().then((r) => (result = r));
  await timers.advance(9_999);
  assert.is(result, null, 'still waiting before 10 s');
  await timers.advance(1);
  assert.ok(result && !(result as { ok: boolean }).ok);
  assert.match((result as { reason: string }).reason, /^timeout: .*AddPortMapping within 10000 ms/);
  await m.stop();
});

test('private external address (double NAT) → ok:false and the mapping is removed again', async () => {
  const { client, m } = setup();
  client.ipAnswer = { ip: '192.168.1.1' };
  const r = await m.start();
  assert.is(r.ok, false);
  if (!r.ok) assert.match(r.reason, /double NAT/);
  assert.is(client.unmaps.length, 1);
  assert.ok(isPublicIpv4('203.0.113.7') && !isPublicIpv4('100.64.0.1') && !isPublicIpv4('172.20.0.1') && !isPublicIpv4('x'));
  await m.stop();
  assert.is(client.unmaps.length, 1, 'not removed twice');
});

test('renewal at half the lease re-adds the mapping; a failed renewal retries and marks unmapped once the lease has run out', async () => {
  const { client, m, timers, logs } = setup({ leaseSeconds: 600 });
  await m.start();
  assert.is(client.maps.length, 1);
  await timers.advance(300_000);
  assert.is(client.maps.length, 2, 'renewed at 300 s');
  assert.is(m.status().renewedAt, 300_000);
  assert.ok(logs.some(([e]) => e === 'upnp-renewed'));
  client.mapAnswer = { err: new Error('Request failed: 500') };
  await timers.advance(300_000); // renewal at 600 s fails; retries every 60 s
  assert.is(client.maps.length, 3);
  assert.is(m.status().mapped, true, 'still inside the lease');
  await timers.advance(300_000); // lease (from 300 s) ends at 900 s
  assert.is(m.status().mapped, false);
  assert.match(m.status().reason!, /^lease expired: refused/);
  client.mapAnswer = {};
  await timers.advance(60_000);
  assert.equal(m.status().mapped, true, 'a later renewal restores it');
  await m.stop();
});

test('stop removes the mapping (DeletePortMapping for the external TCP port), closes the client, is safe twice and cancels renewal', async () => {
  const { client, m, timers, logs } = setup({ externalPort: 40002 });
  await m.start();
  await Promise.all([m.stop(), m.stop()]);
  await m.stop();
  assert.equal(client.unmaps, [{ public: 40002, protocol: 'TCP' }]);
  assert.is(client.closed, 1);
  assert.equal(timers.pending(), [], 'no renewal left');
  assert.equal(m.status(), { mapped: false, reason: 'stopped', renewedAt: 0 });
  assert.ok(logs.some(([e]) => e === 'upnp-unmapped'));
  const again = await m.start();
  assert.is(again.ok, false, 'no restart after stop');
});

test('stop during a hanging start and a hanging DeletePortMapping is bounded', async () => {
  const { client, m, timers } = setup();
  client.ipAnswer = { hang: true };
  client.unmapAnswer = { hang: true };
  void m.start();
  await flush();
  let stopped = false;
  void m.stop().then(() => (stopped = true));
  await timers.advance(3_000);
  await timers.advance(1);
  assert.ok(stopped, 'stop resolved within its bound');
  assert.is(client.closed, 1);
});

test('socket errors on the SSDP sockets, before and after close, never reach the process', async () => {
  const { client, m, logs } = setup();
  await m.start();
  client.socket.emit('error', Object.assign(new Error('bind EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL' }));
  await m.stop();
  client.socket.emit('error', Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
  assert.ok(logs.some(([e, f]) => e === 'upnp-socket-error' && String(f['error']).includes('EADDRNOTAVAIL')));
  assert.not.throws(() => (client.socket.bind as () => unknown)(), 'bind disarmed after close');
});

test('a throw from inside the library\'s own asynchronous callback fails the operation (gateway error), removes the mapping and never reaches the process', async () => {
  const { client, m } = setup();
  client.ipAnswer = { throwAsync: "Cannot read properties of undefined (reading '@')" };
  const seen: string[] = [];
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const onUncaught = (e: Error) => seen.push(e.message);
  process.on('uncaughtException', onUncaught);
  try {
    const r = await m.start();
    assert.is(r.ok, false);
    if (!r.ok) assert.match(r.reason, /^gateway error: GetExternalIPAddress failed: Cannot read properties of undefined/);
    await new Promise((res) => setImmediate(res));
    assert.equal(seen, []);
    assert.is(client.unmaps.length, 1, 'the mapping added first is removed again');
    assert.is((process as { domain?: unknown }).domain ?? null, null, 'no domain left active');
  } finally {
    process.off('uncaughtException', onUncaught);
    for (const l of listeners) process.on('uncaughtException', l);
  }
  await m.stop();
});

test('a real nat-upnp client closed at once raises no uncaught ERR_SOCKET_DGRAM_NOT_RUNNING with closeClientSafely (but does without)', async () => {
  const seen: string[] = [];
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const onUncaught = (e: Error) => seen.push((e as NodeJS.ErrnoException).code ?? e.message);
  process.on('uncaughtException', onUncaught);
  try {
    const c = natUpnp.createClient() as unknown as NatUpnpClientLike;
    const bare = c.ssdp?.sockets?.length ?? 0;
    closeClientSafely(c);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(seen, [], 'guarded close');
    if (bare > 0) {
      const raw = natUpnp.createClient();
      raw.close();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      assert.ok(seen.includes('ERR_SOCKET_DGRAM_NOT_RUNNING'), 'the library alone does throw (the guard is needed)');
    }
  } finally {
    process.off('uncaughtException', onUncaught);
    for (const l of listeners) process.on('uncaughtException', l);
  }
});

test.run();
