/**
 * Real daemons on 127.0.0.1 in temporary homes, driven through the CLI: invite/accept,
 * send/inbox with a verified path, a stranger turned away, invite reuse and forgery
 * refused, and a restart that keeps trust and messages.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeInvite, decodeEntityId } from '../../agent/identity/index.js';
import type { InboxItem, StatusResult, TrustEntryView, SendResult } from '../../agent/api/methods.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, eventually, link, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

let alice: TestAgent;
let bob: TestAgent;
let carol: TestAgent;

test.before(async () => {
  [alice, bob, carol] = await Promise.all([startAgent('alice'), startAgent('bob'), startAgent('carol')]);
});

test.after(async () => {
  await stopAll();
});

test('invite/accept: both sides trust each other', async () => {
  await link(alice, bob, { aName: 'alice', bName: 'bob' });
  const bobTrust = await bob.json<TrustEntryView[]>(['trust', 'list']);
  const a = bobTrust.find((t) => t.entity === alice.entity);
  assert.ok(a, 'bob trusts alice');
  assert.is(a!.how, 'invited');
  assert.is(a!.petname, 'alice');
  assert.is(a!.state, 'active');
  const aliceTrust = await alice.json<TrustEntryView[]>(['trust', 'list']);
  const b = aliceTrust.find((t) => t.entity === bob.entity);
  assert.ok(b, 'alice trusts bob');
  assert.is(b!.how, 'invite');
  assert.is(b!.petname, 'bob');
});

test('send/inbox: delivered end to end, shown exactly once with its verified path', async () => {
  const sent = await bob.json<SendResult>(['send', 'alice', 'hello', 'alice', '--wait']);
  assert.is(sent.state, 'delivered');
  const inbox = await alice.json<InboxItem[]>(['inbox']);
  const mine = inbox.filter((m) => m.id === sent.id);
  assert.is(mine.length, 1);
  assert.is(mine[0]!.text, 'hello alice');
  assert.is(mine[0]!.from, bob.entity);
  assert.is(mine[0]!.fromName, 'bob');
  assert.equal(mine[0]!.path.map((h) => h.entity), [bob.entity]);
  // Human output shows the path with petnames.
  const human = await alice.cli(['inbox']);
  assert.is(human.code, 0);
  assert.match(human.stdout, 'hello alice');
  assert.match(human.stdout, 'bob');
});

test('a reply works without any further trust step', async () => {
  const sent = await alice.json<SendResult>(['send', 'bob', 'hi bob', '--wait']);
  assert.is(sent.state, 'delivered');
  const inbox = await bob.json<InboxItem[]>(['inbox', '--from', 'alice']);
  assert.ok(inbox.some((m) => m.text === 'hi bob'));
});

test('send --file delivers the file; watch streams new messages as they arrive', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-file-'));
  const file = path.join(dir, 'notes.bin');
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  fs.writeFileSync(file, data);
  const watcher = spawn(process.execPath, [CLI, 'watch', '--json', '--home', alice.home], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  watcher.stdout.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  try {
    await new Promise((r) => setTimeout(r, 500)); // let the watch subscribe
    const sent = await bob.json<SendResult>(['send', 'alice', '--file', file, '--wait']);
    assert.is(sent.state, 'delivered');
    const item = await eventually(async () => lines.map((l) => JSON.parse(l) as InboxItem).find((m) => m.id === sent.id), 10_000, 'watch to print the message');
    assert.is(item.kind, 'file');
    assert.is(item.name, 'notes.bin');
    assert.is(item.size, data.length);
    const human = await alice.cli(['inbox']);
    assert.match(human.stdout, 'notes.bin');
    const saved = path.join(dir, 'saved.bin');
    const r = await alice.cli(['save', sent.id, '--out', saved]);
    assert.is(r.code, 0, r.stderr);
    assert.ok(fs.readFileSync(saved).equals(data), 'the saved file is byte-identical');
    const again = await alice.cli(['save', sent.id, '--out', saved]);
    assert.is(again.code, 2, 'refuses to overwrite without --force');
  } finally {
    watcher.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a stranger is turned away before it can say anything', async () => {
  const before = await alice.json<InboxItem[]>(['inbox']);
  await carol.json(['trust', 'add', alice.entity, '--addr', alice.addr, '--name', 'alice']);
  const sent = await carol.json<SendResult>(['send', 'alice', 'spam', '--wait', '--timeout', '3s']);
  assert.not.equal(sent.state, 'delivered');
  const status = await eventually(async () => {
    const s = await alice.json<StatusResult>(['status']);
    return (s.metrics['handshake.ERR_UNTRUSTED'] ?? 0) > 0 ? s : undefined;
  }, 10_000, 'alice to count an untrusted handshake');
  assert.ok(status.metrics['handshake.ERR_UNTRUSTED']! >= 1);
  const after = await alice.json<InboxItem[]>(['inbox']);
  assert.is(after.length, before.length, 'nothing from the stranger reached the inbox');
  const carolStatus = await carol.json<StatusResult>(['status']);
  assert.ok((carolStatus.metrics['link.closed.ERR_UNTRUSTED'] ?? 0) >= 1, 'carol was told why');
});

test('an invite is single-use: the second accept fails with a clear error', async () => {
  const inv = await alice.json<{ code: string }>(['invite', '--uses', '1']);
  const dave = await startAgent('dave');
  await dave.json(['accept', inv.code]);
  const r = await carol.cli(['accept', inv.code]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /already used/);
});

test('a forged invite (right inviter, made-up secret) is refused', async () => {
  const forged = encodeInvite({
    entity: decodeEntityId(alice.entity),
    addrs: [alice.addr],
    secret: new Uint8Array(32).fill(7),
    expiresAt: Date.now() + 3600_000,
  });
  const r = await carol.cli(['accept', forged]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /invite/i);
  const trust = await alice.json<TrustEntryView[]>(['trust', 'list']);
  assert.not.ok(trust.some((t) => t.entity === carol.entity), 'carol did not get in');
});

test('a tampered invite code is refused by the CLI before dialling', async () => {
  const inv = await alice.json<{ code: string }>(['invite']);
  const tampered = inv.code.replace(/a=[^&]+/, 'a=127.0.0.1%3A1');
  const r = await carol.cli(['accept', tampered]);
  assert.is(r.code, 2, 'a code that does not decode is a bad argument');
  assert.match(r.stderr, /altered|mistyped/);
});

test('restart keeps trust, inbox and the ability to receive', async () => {
  const before = await alice.json<InboxItem[]>(['inbox']);
  await alice.restart();
  const trust = await alice.json<TrustEntryView[]>(['trust', 'list']);
  assert.ok(trust.some((t) => t.entity === bob.entity && t.petname === 'bob'));
  const after = await alice.json<InboxItem[]>(['inbox']);
  assert.is(after.length, before.length);
  const sent = await bob.json<SendResult>(['send', 'alice', 'after restart', '--wait', '--timeout', '30s']);
  assert.is(sent.state, 'delivered');
  const inbox = await alice.json<InboxItem[]>(['inbox']);
  assert.is(inbox.filter((m) => m.text === 'after restart').length, 1);
});

test('a message sent while the recipient is down is delivered when it returns', async () => {
  await alice.stop();
  const sent = await bob.json<SendResult>(['send', 'alice', 'while you were away']);
  assert.is(sent.state, 'queued');
  await alice.restart();
  await eventually(async () => {
    const inbox = await alice.json<InboxItem[]>(['inbox']);
    return inbox.some((m) => m.text === 'while you were away');
  }, 40_000, 'queued message to arrive after restart');
});

test.run();
