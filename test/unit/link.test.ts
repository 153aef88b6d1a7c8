/**
 * Links over real loopback sockets, in one process: the Noise XX handshake with
 * certificates, the trust gate, key substitution, self-connection, the handshake
 * deadline, oversized and malformed records, unknown message types, replayed handshakes
 * and truncated streams. Each failure closes only that link, with its stable code.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { generateBoxKey, generateSigningKey, type SigningKey } from '../../agent/crypto/index.js';
import { issueCert } from '../../agent/identity/index.js';
import { Link, type CloseInfo, type Gate, type LinkOptions, type PeerIdentity } from '../../agent/link/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import { packValue } from '../../agent/wire/index.js';
import type { WireMessage } from '../../agent/wire/types.js';
import { RawPeer } from '../helpers/rawpeer.js';

interface Ident {
  entity: SigningKey;
  agent: SigningKey;
  certBytes: Uint8Array;
}

function ident(opts: { notAfter?: number; notBefore?: number } = {}): Ident {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const box = generateBoxKey();
  const now = Date.now();
  const certBytes = issueCert(entity, {
    agent: agent.publicKey,
    x25519: box.publicKey,
    notBefore: opts.notBefore ?? now - 1000,
    notAfter: opts.notAfter ?? now + 86400_000,
    seq: 1,
  });
  return { entity, agent, certBytes };
}

const local = (i: Ident) => ({ agentSeed: i.agent.seed, agentPub: i.agent.publicKey, entityPub: i.entity.publicKey, certBytes: i.certBytes });
const allowAll: Gate = () => ({ ok: true });

interface Server {
  addr: string;
  port: number;
  links: Link[];
  closes: CloseInfo[];
  opened: PeerIdentity[];
  messages: WireMessage[];
  close(): Promise<void>;
}

async function listen(id: Ident, opts: Partial<LinkOptions> = {}): Promise<Server> {
  const s: Server = { addr: '', port: 0, links: [], closes: [], opened: [], messages: [], close: async () => {} };
  const srv = net.createServer((sock) => {
    const l = Link.accept(sock, { identity: local(id), gate: allowAll, ...opts });
    s.links.push(l);
    l.on('open', (p) => s.opened.push(p));
    l.on('message', (m) => s.messages.push(m));
    l.on('close', (c) => s.closes.push(c));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  s.port = (srv.address() as net.AddressInfo).port;
  s.addr = `127.0.0.1:${s.port}`;
  s.close = async () => {
    for (const l of s.links) l.close();
    await new Promise<void>((r) => srv.close(() => r()));
  };
  return s;
}

function dial(port: number, id: Ident, opts: Partial<LinkOptions> = {}): Link {
  return Link.initiate(net.connect({ host: '127.0.0.1', port }), { identity: local(id), gate: allowAll, ...opts });
}

const once = <T>(l: Link, ev: 'open' | 'close' | 'message'): Promise<T> => new Promise((r) => l.once(ev, ((x: T) => r(x)) as never));

async function until(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('handshake authenticates both sides by certificate and carries messages both ways', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  const l = dial(srv.port, a, { expectEntity: b.entity.publicKey, addrs: ['127.0.0.1:1234'] });
  const peer = await once<PeerIdentity>(l, 'open');
  assert.equal([...peer.entity], [...b.entity.publicKey]);
  await until(() => srv.opened.length === 1);
  assert.equal([...srv.opened[0]!.entity], [...a.entity.publicKey]);
  assert.equal(srv.links[0]!.peerAddrs, ['127.0.0.1:1234']);
  l.send({ t: MsgType.WELCOME, name: 'hello' });
  await until(() => srv.messages.length === 1);
  assert.equal(srv.messages[0], { t: MsgType.WELCOME, name: 'hello' });
  l.close();
  await srv.close();
});

test('many messages in one tick share records and all arrive in order', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  const l = dial(srv.port, a);
  await once(l, 'open');
  for (let i = 0; i < 2000; i++) l.send({ t: MsgType.PING, n: i });
  // PINGs are answered by the link itself; count PONGs via the sender's stats instead.
  await until(() => srv.links[0]!.stats.recvMessages === 2000);
  assert.ok(l.stats.sentBytes > 0);
  l.close();
  await srv.close();
});

test('lazy messages linger for company: they share a record with later ones, a message that is not lazy takes them along at once, order is kept', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  // A linger far longer than the test: only a message that is not lazy can write these.
  const l = dial(srv.port, a, { lingerMs: 60_000 });
  try {
    await once(l, 'open');
    await until(() => srv.links[0]?.stats !== undefined);
    const hold = (n: number): WireMessage => ({ t: MsgType.HOLD, id: new Uint8Array(16).fill(n) });
    const records0 = l.stats.sentRecords;
    for (let i = 1; i <= 3; i++) {
      assert.ok(l.send(hold(i), true));
      await new Promise((r) => setImmediate(r)); // separate turns: no end-of-turn flush takes them
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.is(srv.messages.length, 0, 'lazy messages wait');
    assert.is(l.stats.sentRecords, records0);
    l.send({ t: MsgType.WELCOME, name: 'now' });
    await until(() => srv.messages.length === 4);
    assert.equal(srv.messages, [hold(1), hold(2), hold(3), { t: MsgType.WELCOME, name: 'now' }]);
    assert.is(l.stats.sentRecords, records0 + 1, 'all four in one record');
    // Lazy messages stop lingering once enough bytes wait (16 KiB): they go without the timer.
    for (let i = 0; i < 1000; i++) l.send(hold(i & 0xff), true); // 22 bytes each, plus the length
    await until(() => srv.messages.length >= 4 + 16 * 1024 / 26);
  } finally {
    l.close();
    await srv.close();
  }
});

test('a lazy message alone is written when its linger ends', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  const l = dial(srv.port, a, { lingerMs: 20 });
  await once(l, 'open');
  l.send({ t: MsgType.HOLD, id: new Uint8Array(16).fill(9) }, true);
  await until(() => srv.messages.length === 1);
  assert.equal(srv.messages[0], { t: MsgType.HOLD, id: new Uint8Array(16).fill(9) });
  l.close();
  await srv.close();
});

test('trust gate: the responder refuses an untrusted peer before parsing any frame and tells it why', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b, { gate: ({ responder }) => (responder ? { ok: false, code: 'ERR_UNTRUSTED', msg: 'go away' } : { ok: true }) });
  const l = dial(srv.port, a);
  await once(l, 'open');
  l.send({ t: MsgType.WELCOME });
  const info = await once<CloseInfo>(l, 'close');
  assert.is(info.code, 'ERR_UNTRUSTED');
  assert.ok(info.remote);
  await until(() => srv.closes.length === 1);
  assert.is(srv.closes[0]!.code, 'ERR_UNTRUSTED');
  assert.ok(srv.closes[0]!.duringHandshake, 'never opened on the responder');
  assert.is(srv.opened.length, 0);
  assert.is(srv.messages.length, 0, 'no application frame was parsed');
  await srv.close();
});

test('key substitution: dialling expecting entity X but reaching Y fails with ERR_KEY_MISMATCH', async () => {
  const a = ident();
  const b = ident();
  const x = ident();
  const srv = await listen(b);
  const l = dial(srv.port, a, { expectEntity: x.entity.publicKey });
  const info = await once<CloseInfo>(l, 'close');
  assert.is(info.code, 'ERR_KEY_MISMATCH');
  assert.ok(info.duringHandshake);
  await srv.close();
});

test('a certificate that does not name the Noise static key is refused', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  const p = await RawPeer.connect(srv.addr);
  // Present a's certificate while using another static key.
  await p.handshake({ agentSeed: a.agent.seed, certBytes: a.certBytes }, { staticSeed: new Uint8Array(32).fill(9) });
  assert.ok(await p.waitClosed());
  await until(() => srv.closes.length === 1);
  assert.is(srv.closes[0]!.code, 'ERR_KEY_MISMATCH');
  await srv.close();
});

test('talking to yourself (reflected connection) is refused with ERR_SELF_CONNECT', async () => {
  const a = ident();
  const srv = await listen(a);
  const l = dial(srv.port, a);
  const info = await once<CloseInfo>(l, 'close');
  assert.is(info.code, 'ERR_SELF_CONNECT');
  await srv.close();
});

test('expired and tampered certificates are refused during the handshake', async () => {
  const b = ident();
  const srv = await listen(b);
  const old = ident({ notBefore: Date.now() - 10 * 86400_000, notAfter: Date.now() - 86400_000 });
  const p1 = await RawPeer.connect(srv.addr);
  await p1.handshake({ agentSeed: old.agent.seed, certBytes: old.certBytes });
  assert.ok(await p1.waitClosed());
  const a = ident();
  const tampered = new Uint8Array(a.certBytes);
  tampered[100]! ^= 1;
  const p2 = await RawPeer.connect(srv.addr);
  await p2.handshake({ agentSeed: a.agent.seed, certBytes: tampered });
  assert.ok(await p2.waitClosed());
  await until(() => srv.closes.length === 2);
  assert.equal(srv.closes.map((c) => c.code).sort(), ['ERR_BAD_SIGNATURE', 'ERR_CERT_EXPIRED']);
  assert.is(srv.opened.length, 0);
  await srv.close();
});

test('slowloris: a handshake that does not finish by the deadline is dropped', async () => {
  const b = ident();
  const srv = await listen(b, { handshakeTimeoutMs: 150 });
  const sock = net.connect({ host: '127.0.0.1', port: srv.port });
  sock.on('error', () => {});
  sock.resume();
  sock.write(Buffer.from([0x00])); // one byte of a header, then silence
  const closed = await new Promise<boolean>((r) => {
    sock.once('close', () => r(true));
    setTimeout(() => r(false), 3000);
  });
  assert.ok(closed);
  await until(() => srv.closes.length === 1);
  assert.is(srv.closes[0]!.code, 'ERR_HANDSHAKE_TIMEOUT');
  await srv.close();
});

test('garbage instead of a handshake is dropped silently (nothing sent back)', async () => {
  const b = ident();
  const srv = await listen(b);
  const sock = net.connect({ host: '127.0.0.1', port: srv.port });
  let received = 0;
  sock.on('data', (d: Buffer) => (received += d.length));
  sock.on('error', () => {});
  sock.write(Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5]));
  await new Promise<void>((r) => sock.once('close', () => r()));
  assert.is(received, 0);
  await until(() => srv.closes.length === 1);
  assert.is(srv.closes[0]!.code, 'ERR_HANDSHAKE_FAILED');
  await srv.close();
});

test('oversized record header (2^32-1) closes the link with ERR_FRAME_TOO_LARGE', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  const p = await RawPeer.connect(srv.addr);
  await p.handshake({ agentSeed: a.agent.seed, certBytes: a.certBytes });
  await until(() => srv.opened.length === 1);
  p.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  await until(() => srv.closes.length === 1);
  assert.is(srv.closes[0]!.code, 'ERR_FRAME_TOO_LARGE');
  await srv.close();
});

test('malformed message, unknown type and bad record each close the link with a stable code', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  const cases: Array<[string, (p: RawPeer) => void]> = [
    ['ERR_MALFORMED_FRAME', (p) => p.sendMessagesRaw([new Uint8Array([0xc1])])],
    ['ERR_UNKNOWN_TYPE', (p) => p.sendMessagesRaw([packValue({ t: 99 })])],
    ['ERR_BAD_FIELD', (p) => p.sendMessagesRaw([packValue({ t: MsgType.PING, n: 'x' })])],
    ['ERR_DECRYPT', (p) => p.write(Buffer.from([0, 0, 0, 20, ...new Uint8Array(20)]))],
  ];
  for (const [code, act] of cases) {
    const before = srv.closes.length;
    const p = await RawPeer.connect(srv.addr);
    await p.handshake({ agentSeed: a.agent.seed, certBytes: a.certBytes });
    await until(() => srv.opened.length === before + 1);
    act(p);
    await until(() => srv.closes.length === before + 1);
    assert.is(srv.closes[before]!.code, code, `case ${code}`);
    const msgs = await p.readMessages(2000).catch(() => null);
    if (msgs) assert.ok(msgs.some((m) => m.t === MsgType.CLOSE && m.code === code), 'peer is told the code');
    p.destroy();
  }
  await srv.close();
});

test('a replayed handshake (same bytes on a new connection) does not authenticate', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  const p = await RawPeer.connect(srv.addr);
  await p.handshake({ agentSeed: a.agent.seed, certBytes: a.certBytes });
  await until(() => srv.opened.length === 1);
  const captured = Buffer.concat(p.sentBytes);
  const replay = net.connect({ host: '127.0.0.1', port: srv.port });
  replay.on('error', () => {});
  replay.resume(); // consume msg2 so the close is seen
  replay.write(captured);
  await new Promise<void>((r) => replay.once('close', () => r()));
  await until(() => srv.closes.length === 1);
  assert.is(srv.closes[0]!.code, 'ERR_HANDSHAKE_FAILED');
  assert.is(srv.opened.length, 1, 'only the original session opened');
  assert.ok(srv.links[0]!.isOpen, 'the live session is untouched');
  p.destroy();
  await srv.close();
});

test('a connection cut in the middle of a record closes only that link', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b);
  const good = dial(srv.port, ident());
  await once(good, 'open');
  const p = await RawPeer.connect(srv.addr);
  await p.handshake({ agentSeed: a.agent.seed, certBytes: a.certBytes });
  await until(() => srv.opened.length === 2);
  p.write(Buffer.from([0, 0, 1, 0, 1, 2, 3]));
  p.destroy();
  await until(() => srv.closes.length === 1);
  assert.is(srv.closes[0]!.code, 'ERR_CONNECTION_LOST');
  good.send({ t: MsgType.WELCOME });
  await until(() => srv.messages.length === 1);
  good.close();
  await srv.close();
});

test('idle timeout closes a link whose peer stops talking; keepalive keeps a quiet link open', async () => {
  const a = ident();
  const b = ident();
  const srv = await listen(b, { idleTimeoutMs: 400, keepaliveMs: 100 });
  const quiet = dial(srv.port, a, { idleTimeoutMs: 400, keepaliveMs: 100 });
  await once(quiet, 'open');
  await new Promise((r) => setTimeout(r, 900));
  assert.ok(quiet.isOpen, 'keepalive pings kept it open');
  // A raw peer that completes the handshake and then never answers pings is dropped.
  const silent = ident();
  const p = await RawPeer.connect(srv.addr);
  await p.handshake({ agentSeed: silent.agent.seed, certBytes: silent.certBytes });
  assert.ok(await p.waitClosed(3000), 'silent peer dropped');
  await until(() => srv.closes.some((c) => c.code === 'ERR_IDLE_TIMEOUT'));
  assert.ok(quiet.isOpen, 'the chatty link is unaffected');
  quiet.close();
  await srv.close();
});

test.run();
