/**
 * Bad input against a real daemon process: each case closes only the offending link with
 * a stable error code that shows up in `wotrelay status` metrics, the daemon keeps
 * serving, and no stored message is lost. Also: a loose key file stops the daemon from
 * starting with a message naming the file and the fix.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { generateBoxKey, generateSigningKey } from '../../agent/crypto/index.js';
import { createIdentity, encodeEntityId, issueCert, loadIdentity, type Identity } from '../../agent/identity/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import { packValue } from '../../agent/wire/index.js';
import type { InboxItem, SendResult, StatusResult } from '../../agent/api/methods.js';
import { RawPeer } from '../helpers/rawpeer.js';
import { eventually, link, runCli, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

let target: TestAgent;
let friend: TestAgent;
let mallory: Identity; // trusted by target, speaks raw bytes
let inboxBefore = 0;
const tmpDirs: string[] = [];

function tmpHome(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-raw-'));
  tmpDirs.push(d);
  return d;
}

test.before(async () => {
  [target, friend] = await Promise.all([startAgent('target'), startAgent('friend')]);
  await link(target, friend, { aName: 'target', bName: 'friend' });
  const sent = await friend.json<SendResult>(['send', 'target', 'keep me', '--wait']);
  assert.is(sent.state, 'delivered');
  inboxBefore = (await target.json<InboxItem[]>(['inbox'])).length;
  mallory = createIdentity(tmpHome(), Date.now());
  await target.json(['trust', 'add', encodeEntityId(mallory.entityPub), '--name', 'mallory']);
});

test.after(async () => {
  await stopAll();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

async function metric(name: string): Promise<number> {
  const s = await target.json<StatusResult>(['status']);
  return s.metrics[name] ?? 0;
}

async function expectMetric(name: string, before: number): Promise<void> {
  await eventually(async () => (await metric(name)) > before, 10_000, `metric ${name} to increase`);
}

async function stillHealthy(): Promise<void> {
  const inbox = await target.json<InboxItem[]>(['inbox']);
  assert.ok(inbox.length >= inboxBefore, 'no stored message lost');
  assert.ok(inbox.some((m) => m.text === 'keep me'));
}

const ident = () => ({ agentSeed: mallory.agent.seed, certBytes: mallory.certBytes });

async function afterHandshake(act: (p: RawPeer) => void, code: string): Promise<void> {
  const name = `link.closed.${code}`;
  const before = await metric(name);
  const p = await RawPeer.connect(target.addr);
  await p.handshake(ident());
  act(p);
  await expectMetric(name, before);
  assert.ok(await p.waitClosed(), 'the offending link is closed');
  await stillHealthy();
}

test('malformed frame → ERR_MALFORMED_FRAME, daemon unaffected', async () => {
  await afterHandshake((p) => p.sendMessagesRaw([new Uint8Array([0xc1, 0x00])]), 'ERR_MALFORMED_FRAME');
});

test('oversized frame header → ERR_FRAME_TOO_LARGE', async () => {
  await afterHandshake((p) => p.write(Buffer.from([0xff, 0xff, 0xff, 0xff])), 'ERR_FRAME_TOO_LARGE');
});

test('unknown message type → ERR_UNKNOWN_TYPE', async () => {
  await afterHandshake((p) => p.sendMessagesRaw([packValue({ t: 200 })]), 'ERR_UNKNOWN_TYPE');
});

test('a record that fails authentication → ERR_DECRYPT', async () => {
  await afterHandshake((p) => p.write(Buffer.from([0, 0, 0, 32, ...new Uint8Array(32)])), 'ERR_DECRYPT');
});

test('frame before the handshake completes → ERR_HANDSHAKE_FAILED, nothing parsed', async () => {
  const before = await metric('handshake.ERR_HANDSHAKE_FAILED');
  const s = net.connect({ host: '127.0.0.1', port: Number(target.addr.split(':')[1]) });
  s.on('error', () => {});
  s.resume();
  s.write(Buffer.concat([Buffer.from([0, 32]), Buffer.alloc(32, 1), Buffer.from([0, 0, 0, 8]), Buffer.alloc(8)]));
  await expectMetric('handshake.ERR_HANDSHAKE_FAILED', before);
  s.destroy();
  await stillHealthy();
});

test('key substitution (certificate not naming the handshake key) → ERR_KEY_MISMATCH', async () => {
  const before = await metric('handshake.ERR_KEY_MISMATCH');
  const p = await RawPeer.connect(target.addr);
  await p.handshake(ident(), { staticSeed: new Uint8Array(32).fill(3) });
  await expectMetric('handshake.ERR_KEY_MISMATCH', before);
  assert.ok(await p.waitClosed());
});

test('reflected handshake (the daemon\'s own key talking to it) → ERR_SELF_CONNECT', async () => {
  const self = loadIdentity(target.home, Date.now());
  const before = await metric('handshake.ERR_SELF_CONNECT');
  const p = await RawPeer.connect(target.addr);
  await p.handshake({ agentSeed: self.agent.seed, certBytes: self.certBytes });
  await expectMetric('handshake.ERR_SELF_CONNECT', before);
  assert.ok(await p.waitClosed());
});

test('replayed handshake bytes → ERR_HANDSHAKE_FAILED; the live session survives', async () => {
  const p = await RawPeer.connect(target.addr);
  await p.handshake(ident());
  const before = await metric('handshake.ERR_HANDSHAKE_FAILED');
  const s = net.connect({ host: '127.0.0.1', port: Number(target.addr.split(':')[1]) });
  s.on('error', () => {});
  s.resume();
  s.write(Buffer.concat(p.sentBytes));
  await expectMetric('handshake.ERR_HANDSHAKE_FAILED', before);
  p.sendMessagesRaw([packValue({ t: MsgType.PING, n: 7 })]);
  let pong = false;
  for (let i = 0; i < 5 && !pong; i++) {
    const msgs = await p.readMessages(5000); // the daemon's ANNOUNCE may come first
    if (!msgs) break;
    pong = msgs.some((m) => m.t === MsgType.PONG && m.n === 7);
  }
  assert.ok(pong, 'original session still answers');
  p.destroy();
});

test('expired and tampered certificates → ERR_CERT_EXPIRED / ERR_BAD_SIGNATURE', async () => {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const old = issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: Date.now() - 9e8, notAfter: Date.now() - 8e8, seq: 1 });
  const b1 = await metric('handshake.ERR_CERT_EXPIRED');
  const p1 = await RawPeer.connect(target.addr);
  await p1.handshake({ agentSeed: agent.seed, certBytes: old });
  await expectMetric('handshake.ERR_CERT_EXPIRED', b1);
  const tampered = new Uint8Array(mallory.certBytes);
  tampered[110]! ^= 0x40;
  const b2 = await metric('handshake.ERR_BAD_SIGNATURE');
  const p2 = await RawPeer.connect(target.addr);
  await p2.handshake({ agentSeed: mallory.agent.seed, certBytes: tampered });
  await expectMetric('handshake.ERR_BAD_SIGNATURE', b2);
  await stillHealthy();
});

test('untrusted entity → ERR_UNTRUSTED, told why, and no frame of it parsed', async () => {
  const stranger = createIdentity(tmpHome(), Date.now());
  const before = await metric('handshake.ERR_UNTRUSTED');
  const p = await RawPeer.connect(target.addr);
  await p.handshake({ agentSeed: stranger.agent.seed, certBytes: stranger.certBytes });
  p.sendMessagesRaw([packValue({ t: 200 })]); // would be ERR_UNKNOWN_TYPE if it were parsed
  const msgs = await p.readMessages(5000);
  assert.ok(msgs?.some((m) => m.t === MsgType.CLOSE && m.code === 'ERR_UNTRUSTED'));
  assert.not.ok(msgs?.some((m) => m.t === MsgType.ANNOUNCE), 'a refused peer learns nothing, not even our addresses');
  await expectMetric('handshake.ERR_UNTRUSTED', before);
  assert.is(await metric('link.closed.ERR_UNKNOWN_TYPE'), 1, 'only the earlier test counted an unknown type');
});

test('truncated connection mid-frame → only that link goes', async () => {
  const before = await metric('link.closed.ERR_CONNECTION_LOST');
  const p = await RawPeer.connect(target.addr);
  await p.handshake(ident());
  await eventually(async () => (await target.json<Array<{ entity: string }>>(['peers'])).some((x) => x.entity === encodeEntityId(mallory.entityPub)), 5000, 'raw peer connected');
  p.write(Buffer.from([0, 0, 4, 0, 1, 2, 3]));
  p.destroy();
  await expectMetric('link.closed.ERR_CONNECTION_LOST', before);
  const sent = await friend.json<SendResult>(['send', 'target', 'still here', '--wait']);
  assert.is(sent.state, 'delivered', 'other neighbours keep working');
});

test('a key file readable by others stops the daemon with the file and the fix', async () => {
  const home = tmpHome();
  const r0 = await runCli(['init', '--home', home, '--listen', '127.0.0.1:0']);
  assert.is(r0.code, 0);
  fs.chmodSync(path.join(home, 'entity.key'), 0o644);
  const r = await runCli(['daemon', '--home', home, '--listen', '127.0.0.1:0']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, path.join(home, 'entity.key'));
  assert.match(r.stderr, 'chmod 600');
});

test.run();
