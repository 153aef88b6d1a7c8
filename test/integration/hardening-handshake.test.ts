/**
 * Hostile handshakes against a real daemon process (test/ADVERSARIAL.md cases 1–4): strangers
 * that complete the handshake, ephemeral and static keys of small order or in non-canonical
 * form, a certificate with a low-order X25519 key signed by a trusted entity, the daemon's
 * own first message reflected back to it and a dial to itself, and a transport record
 * replayed inside a live session. Each is refused without a word to an unauthenticated
 * peer, and the daemon keeps no state about it beyond a counter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import net from 'node:net';
import path from 'node:path';
import { generateBoxKey, generateSigningKey } from '../../agent/crypto/index.js';
import { encodeEntityId, issueCert } from '../../agent/identity/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import { packValue } from '../../agent/wire/index.js';
import type { StatusResult } from '../../agent/api/methods.js';
import type { RpcClient } from '../../agent/api/client.js';
import { RawPeer } from '../helpers/rawpeer.js';
import { simIssueCert } from '../sim/keys.js';
import { eventually, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

let target: TestAgent;

function genuine(entity = generateSigningKey()) {
  const agent = generateSigningKey();
  const now = Date.now();
  return { entity, agent, certBytes: issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: now - 60_000, notAfter: now + 86400_000, seq: 1 }) };
}

let api: RpcClient;
const status = (): Promise<StatusResult> => api.call('status', {});
const metric = async (name: string) => (await status()).metrics[name] ?? 0;
async function metricRises(name: string, from: number, by = 1): Promise<void> {
  await eventually(async () => (await metric(name)) >= from + by, 10_000, `${name} to reach ${from + by}`);
}

/** Row counts of the tables a stranger could make the daemon write to. */
function dbCounts(): Record<string, number> {
  const db = new Database(path.join(target.home, 'wotrelay.db'), { readonly: true, fileMustExist: true });
  try {
    const out: Record<string, number> = {};
    for (const t of ['trust', 'certs', 'addrbook', 'invites', 'inbox', 'outbox', 'relayq', 'mailbox', 'held']) {
      out[t] = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    }
    return out;
  } finally {
    db.close();
  }
}

test.before(async () => {
  target = await startAgent('hs-target', { config: { handshakeTimeoutMs: 3000 } });
  api = await target.rpc();
});

test.after(async () => {
  api.close();
  await stopAll();
});

// ---------------------------------------------------------------- case 1

test('case 1: 25 strangers complete the handshake → each is told ERR_UNTRUSTED before any frame of it is parsed; nothing is kept about them but a counter', async () => {
  const before = await status();
  const db0 = dbCounts();
  const refused0 = before.metrics['handshake.ERR_UNTRUSTED'] ?? 0;
  for (let i = 0; i < 25; i++) {
    const s = genuine();
    const p = await RawPeer.connect(target.addr);
    await p.handshake({ agentSeed: s.agent.seed, certBytes: s.certBytes });
    // An application frame right behind msg3: it would close the link as ERR_UNKNOWN_TYPE if it were parsed.
    p.sendMessagesRaw([packValue({ t: 200 })]);
    const msgs = await p.readMessages(5000);
    assert.ok(msgs?.some((m) => m.t === MsgType.CLOSE && m.code === 'ERR_UNTRUSTED'), `stranger ${i} is told why`);
    assert.not.ok(msgs?.some((m) => m.t === MsgType.ANNOUNCE), 'and learns nothing else');
    assert.ok(await p.waitClosed(), 'and is closed');
  }
  await metricRises('handshake.ERR_UNTRUSTED', refused0, 25);
  const after = await eventually(async () => {
    const s = await status();
    return s.connections!.links === before.connections!.links && s.connections!.pendingHandshakes === 0 ? s : null;
  }, 10_000, 'every stranger\'s socket to be gone');
  assert.is(after.metrics['link.closed.ERR_UNKNOWN_TYPE'] ?? 0, before.metrics['link.closed.ERR_UNKNOWN_TYPE'] ?? 0, 'no frame of theirs was parsed');
  assert.is(after.peers, before.peers);
  assert.equal(dbCounts(), db0, 'nothing written to the database');
  // Every in-memory table is as it was, except the counters' own table (one name: handshake.ERR_UNTRUSTED).
  for (const [name, t] of Object.entries(after.tables!)) {
    if (name === 'metric names') assert.ok(t.size <= before.tables![name]!.size + 2, name);
    else if (name !== 'links and handshakes') assert.is(t.size, before.tables![name]!.size, `table ${name}`);
  }
});

// ---------------------------------------------------------------- case 2

const ED_SMALL_ORDER_OR_NONCANONICAL = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Buffer.from(h, 'hex'));

test('case 2: an ephemeral key of small order or in non-canonical form in msg1 → no session, not a byte sent back', async () => {
  const failed0 = await metric('handshake.ERR_HANDSHAKE_FAILED');
  const port = Number(target.addr.split(':')[1]);
  for (const e of ED_SMALL_ORDER_OR_NONCANONICAL) {
    const s = net.connect({ host: '127.0.0.1', port });
    let received = 0;
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(Buffer.concat([Buffer.from([0, 32]), e]));
    await new Promise<void>((r) => s.once('close', () => r()));
    assert.is(received, 0, `nothing sent back for ${e.toString('hex')}`);
  }
  await metricRises('handshake.ERR_HANDSHAKE_FAILED', failed0, ED_SMALL_ORDER_OR_NONCANONICAL.length);
});

test('case 2: a static key of small order in msg3, and a genuine (trusted) entity\'s certificate with a low-order X25519 key → refused silently after msg2, no session', async () => {
  const s = genuine();
  const failed0 = await metric('handshake.ERR_HANDSHAKE_FAILED');
  for (const pub of ED_SMALL_ORDER_OR_NONCANONICAL.slice(0, 4)) {
    const p = await RawPeer.connect(target.addr);
    const m2 = await p.handshake({ agentSeed: s.agent.seed, certBytes: s.certBytes }, { staticKeyPair: { publicKey: pub, secretKey: Buffer.concat([s.agent.seed, pub]) } });
    assert.ok(m2, 'msg2 came (msg1 was fine)');
    assert.ok(await p.waitClosed(), 'closed after msg3');
    assert.is(await p.readMessages(200), null, 'nothing after msg2');
  }
  await metricRises('handshake.ERR_HANDSHAKE_FAILED', failed0, 4);
  // The entity is trusted, its signature genuine: only the X25519 key check refuses the certificate.
  const entity = generateSigningKey();
  await target.json(['trust', 'add', encodeEntityId(entity.publicKey), '--name', 'lowx']);
  const agent = generateSigningKey();
  const lowX = new Uint8Array(32);
  lowX[0] = 1;
  const cert = simIssueCert(entity, { agent: agent.publicKey, x25519: lowX, notBefore: Date.now() - 60_000, notAfter: Date.now() + 86400_000, seq: 1 });
  const badCert0 = await metric('handshake.ERR_BAD_CERT');
  const peers0 = (await status()).peers;
  const p = await RawPeer.connect(target.addr);
  await p.handshake({ agentSeed: agent.seed, certBytes: cert });
  assert.ok(await p.waitClosed());
  assert.is(await p.readMessages(200), null, 'no CLOSE, nothing: the peer is not authenticated');
  await metricRises('handshake.ERR_BAD_CERT', badCert0);
  assert.is((await status()).peers, peers0, 'no session');
});

// ---------------------------------------------------------------- case 3

test('case 3: the daemon\'s own first message reflected back, and a dial to its own address → refused (ERR_HANDSHAKE_FAILED, ERR_SELF_CONNECT); it keeps serving', async () => {
  const sockets: net.Socket[] = [];
  let reflected = 0;
  const echo = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      reflected += d.length;
      s.write(d);
    });
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const failed0 = await metric('handshake.ERR_HANDSHAKE_FAILED');
  await target.json(['trust', 'add', encodeEntityId(generateSigningKey().publicKey), '--name', 'mirror', '--addr', `127.0.0.1:${echoPort}`]);
  await metricRises('handshake.ERR_HANDSHAKE_FAILED', failed0);
  assert.ok(reflected > 0, 'the daemon dialled the reflector');
  for (const s of sockets) s.destroy();
  echo.close();
  // A trust entry whose address is the daemon itself: it dials itself and both ends refuse.
  const self0 = await metric('handshake.ERR_SELF_CONNECT');
  await target.json(['trust', 'add', encodeEntityId(generateSigningKey().publicKey), '--name', 'myself', '--addr', target.addr]);
  await metricRises('handshake.ERR_SELF_CONNECT', self0);
  assert.is((await status()).peers, 0, 'no link to itself');
  await target.json(['trust', 'revoke', 'mirror']);
  await target.json(['trust', 'revoke', 'myself']);
});

// ---------------------------------------------------------------- case 4

test('case 4: a transport record replayed inside a live session → ERR_DECRYPT closes that link; the replayed PING is not answered twice', async () => {
  const s = genuine();
  await target.json(['trust', 'add', encodeEntityId(s.entity.publicKey), '--name', 'replayer']);
  const decrypt0 = await metric('link.closed.ERR_DECRYPT');
  const p = await RawPeer.connect(target.addr);
  await p.handshake({ agentSeed: s.agent.seed, certBytes: s.certBytes });
  const mark = p.sentBytes.length;
  p.sendMessagesRaw([packValue({ t: MsgType.PING, n: 4242 })]);
  const record = Buffer.concat(p.sentBytes.slice(mark));
  let pongs = 0;
  let closeCode = '';
  for (let i = 0; i < 10 && !closeCode; i++) {
    const msgs = await p.readMessages(3000);
    if (!msgs) break;
    for (const m of msgs) {
      if (m.t === MsgType.PONG && m.n === 4242) {
        pongs++;
        if (pongs === 1) p.write(record); // replay it once the first answer came
      }
      if (m.t === MsgType.CLOSE) closeCode = m.code;
    }
  }
  assert.is(pongs, 1, 'answered once');
  assert.is(closeCode, 'ERR_DECRYPT', 'the replay closed the link');
  await metricRises('link.closed.ERR_DECRYPT', decrypt0);
});

test.run();
