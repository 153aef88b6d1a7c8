/**
 * Hardening cases of the link layer over real loopback sockets in one process
 * (test/ADVERSARIAL.md): a reflected handshake — our own first message echoed back, or two
 * initiators wired to each other (3); a transport record replayed inside a live session (4);
 * length headers up to 2^32−1 that must be refused once the header is read, without the
 * declared length ever being allocated (6).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import Noise from 'noise-handshake';
import curve from 'noise-curve-ed';
import { generateBoxKey, generateSigningKey, utf8 } from '../../agent/crypto/index.js';
import { issueCert } from '../../agent/identity/index.js';
import { ByteQueue, Link, type CloseInfo, type LinkOptions } from '../../agent/link/index.js';
import { Limits, MsgType, NOISE_PROLOGUE } from '../../agent/wire/constants.js';
import { isWotError } from '../../agent/wire/errors.js';
import { packValue } from '../../agent/wire/index.js';
import type { WireMessage } from '../../agent/wire/types.js';
import { RawPeer } from '../helpers/rawpeer.js';

function identity() {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const now = Date.now();
  const certBytes = issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: now - 1000, notAfter: now + 86400_000, seq: 1 });
  return { agentSeed: agent.seed, agentPub: agent.publicKey, entityPub: entity.publicKey, certBytes };
}

const opts = (id: ReturnType<typeof identity>, extra: Partial<LinkOptions> = {}): LinkOptions => ({ identity: id, gate: () => ({ ok: true }), ...extra });
const closed = (l: Link) => new Promise<CloseInfo>((r) => l.once('close', r));

async function server(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = net.createServer(onSocket);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { port: (srv.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

// ---------------------------------------------------------------- case 3

test('case 3: our own first handshake message echoed back is refused (ERR_HANDSHAKE_FAILED), no link opens', async () => {
  const sockets: net.Socket[] = [];
  const echo = await server((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.pipe(s); // a reflector: every byte goes back where it came from
  });
  const l = Link.initiate(net.connect({ host: '127.0.0.1', port: echo.port }), opts(identity()));
  let opened = false;
  l.on('open', () => (opened = true));
  const info = await closed(l);
  assert.is(info.code, 'ERR_HANDSHAKE_FAILED');
  assert.ok(info.duringHandshake);
  assert.not.ok(opened);
  for (const s of sockets) s.destroy();
  await echo.close();
});

test('case 3: two initiators wired to each other (each gets the other\'s first message as a reply) both fail; a responder fed its own second message fails too', async () => {
  // Splice two outgoing connections together through a relay server.
  const pending: net.Socket[] = [];
  const splice = await server((s) => {
    s.on('error', () => {});
    const other = pending.shift();
    if (other) {
      s.pipe(other);
      other.pipe(s);
    } else pending.push(s);
  });
  const a = Link.initiate(net.connect({ host: '127.0.0.1', port: splice.port }), opts(identity()));
  const b = Link.initiate(net.connect({ host: '127.0.0.1', port: splice.port }), opts(identity()));
  const [ia, ib] = await Promise.all([closed(a), closed(b)]);
  assert.is(ia.code, 'ERR_HANDSHAKE_FAILED');
  assert.is(ib.code, 'ERR_HANDSHAKE_FAILED');
  await splice.close();
  // A responder whose own msg2 comes back as msg3.
  const me = identity();
  const respCloses: CloseInfo[] = [];
  const srv = await server((s) => Link.accept(s, opts(me)).on('close', (c) => respCloses.push(c)));
  const p = await RawPeer.connect(`127.0.0.1:${srv.port}`);
  const init = new Noise('XX', true, curve.generateKeyPair(), { curve });
  init.initialise(utf8(NOISE_PROLOGUE));
  const m1 = init.send(new Uint8Array(0));
  p.socket.on('data', (d: Buffer) => p.write(d)); // reflect msg2
  p.write(Uint8Array.from([m1.length >> 8, m1.length & 0xff, ...m1]));
  assert.ok(await p.waitClosed(3000), 'the responder hung up');
  assert.is(respCloses[0]?.code, 'ERR_HANDSHAKE_FAILED');
  await srv.close();
});

// ---------------------------------------------------------------- case 4

test('case 4: a transport record replayed inside the live session is refused (ERR_DECRYPT) and its message is not delivered twice', async () => {
  const me = identity();
  const peer = identity();
  const messages: WireMessage[] = [];
  const closes: CloseInfo[] = [];
  const srv = await server((s) => {
    const l = Link.accept(s, opts(me));
    l.on('message', (m) => messages.push(m));
    l.on('close', (c) => closes.push(c));
  });
  const p = await RawPeer.connect(`127.0.0.1:${srv.port}`);
  await p.handshake({ agentSeed: peer.agentSeed, certBytes: peer.certBytes });
  const before = p.sentBytes.length;
  p.sendMessagesRaw([packValue({ t: MsgType.WELCOME, name: 'once' })]);
  const record = Buffer.concat(p.sentBytes.slice(before));
  const deadline = Date.now() + 3000;
  while (messages.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.is(messages.length, 1);
  p.write(record); // sealed under counter n; the receiver now expects n + 1, so it cannot authenticate
  while (closes.length === 0 && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 10));
  assert.is(closes[0]?.code, 'ERR_DECRYPT');
  assert.is(messages.length, 1, 'the replayed message was not delivered');
  p.destroy();
  await srv.close();
});

// ---------------------------------------------------------------- case 6

test('case 6: length headers up to 2^32−1 are refused once the header is read, byte by byte, and the declared length is never allocated', () => {
  const lengths = [Limits.MAX_RECORD + 17, 2 ** 24, 2 ** 31, 2 ** 32 - 1];
  const base = process.memoryUsage().arrayBuffers;
  for (let round = 0; round < 200; round++) {
    for (const len of lengths) {
      const q = new ByteQueue();
      const header = [len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff];
      for (let i = 0; i < 3; i++) {
        q.push(Uint8Array.of(header[i]!));
        assert.is(q.takeFrame(4, Limits.MAX_RECORD + 16), null, 'waits for the whole header');
      }
      q.push(Uint8Array.of(header[3]!));
      try {
        q.takeFrame(4, Limits.MAX_RECORD + 16);
        assert.unreachable(`${len} accepted`);
      } catch (e) {
        assert.ok(isWotError(e) && e.code === 'ERR_FRAME_TOO_LARGE', String(e));
      }
      assert.is(q.length, 4, 'only the header is held');
    }
  }
  // 800 refusals of up to 4 GiB each: had one been allocated, memory would show it (or the process would die).
  assert.ok(process.memoryUsage().arrayBuffers - base < 8 * 1024 * 1024, 'no large buffer allocated');
  // The handshake's 2-byte header can declare at most 65,535 bytes, which is the cap itself.
  const hq = new ByteQueue();
  hq.push(Uint8Array.of(0xff, 0xff));
  assert.is(hq.takeFrame(2, Limits.MAX_HANDSHAKE_MESSAGE), null, 'a full-size handshake frame is waited for, not refused');
  assert.is(Limits.MAX_HANDSHAKE_MESSAGE, 0xffff);
});

test('case 6: over a live link, the 4-byte header 0xffffffff sent one byte at a time closes the link right after its last byte', async () => {
  const me = identity();
  const peer = identity();
  const closes: CloseInfo[] = [];
  let opened = 0;
  const srv = await server((s) => {
    const l = Link.accept(s, opts(me));
    l.on('open', () => opened++);
    l.on('close', (c) => closes.push(c));
  });
  const p = await RawPeer.connect(`127.0.0.1:${srv.port}`);
  await p.handshake({ agentSeed: peer.agentSeed, certBytes: peer.certBytes });
  const wait = async (cond: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return cond();
  };
  assert.ok(await wait(() => opened === 1, 3000));
  for (let i = 0; i < 3; i++) {
    p.write(Uint8Array.of(0xff));
    await new Promise((r) => setTimeout(r, 30));
  }
  assert.is(closes.length, 0, 'three header bytes: still waiting');
  p.write(Uint8Array.of(0xff));
  assert.ok(await wait(() => closes.length === 1, 3000), 'closed after the fourth byte, with no payload sent');
  assert.is(closes[0]!.code, 'ERR_FRAME_TOO_LARGE');
  p.destroy();
  await srv.close();
});

test.run();
