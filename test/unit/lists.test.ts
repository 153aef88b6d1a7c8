/**
 * Mailing lists (agent/lists) on the deterministic core network: joining by invite and by
 * subscribe request (auto or approved by policy), posts fanned out once per subscriber with
 * the author's signature verified by each subscriber, replies held until the post they
 * answer, unsubscribe, bans and non-members refused with a notice, complaints muting an
 * author without the owner acting, an offline subscriber served on return, the archive,
 * onion copies for a subscriber that asked for them (and a shorter path when no longer one
 * is known), and the small simulator run (every subscriber gets each post exactly once).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { equalBytes, toHex } from '../../agent/crypto/index.js';
import type { CoreConfig } from '../../agent/core/index.js';
import { decodeSubscribe, encodeSubscribe } from '../../agent/core/mail.js';
import { copyIdFor, ListHost, type ListPolicy } from '../../agent/lists/index.js';
import { decodeMessage } from '../../agent/wire/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import { Net } from '../helpers/corenet.js';
import { listScenario } from '../sim/scenarios.js';

const FAST: Partial<CoreConfig> = { retryBaseMs: 500, maxRetryMs: 4_000, stallMs: 2_000, custodyRetryMs: 20_000 };
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * O (owner) – L (the list) – M1, M2 directly; M3 behind M1, M4 behind M2 (two hops away).
 * Everyone but O joins by a subscribe request.
 */
function listNet(policy: ListPolicy = 'discuss'): { net: Net; host: ListHost } {
  const net = new Net();
  for (const n of ['O', 'L', 'M1', 'M2', 'M3', 'M4']) net.add(n, FAST);
  net.connect('O', 'L');
  net.connect('L', 'M1');
  net.connect('L', 'M2');
  net.connect('M1', 'M3');
  net.connect('M2', 'M4');
  const L = net.n('L');
  const host = new ListHost(L.core, L.store, { name: 'friends', policy, owner: net.n('O').peer.entity }, {}, net.clock);
  for (const m of ['M1', 'M2', 'M3', 'M4']) join(net, m);
  net.advance(10_000);
  return { net, host };
}

function join(net: Net, m: string): void {
  const M = net.n(m);
  net.perform(m, M.store.tx(() => M.core.listJoin(net.n('L').peer.entity, undefined)));
  net.run();
}

function post(net: Net, from: string, body: string): Uint8Array {
  const F = net.n(from);
  const { id, actions } = F.store.tx(() => F.core.send(net.n('L').peer.entity, 'text', text(body)));
  net.perform(from, actions);
  net.run();
  return id;
}

/** Posts in `name`'s inbox that came through the list: [author name, text]. */
function posts(net: Net, name: string): Array<[string, string]> {
  const byEntity = new Map([...net.nodes.entries()].map(([k, v]) => [toHex(v.peer.entity), k]));
  return net
    .n(name)
    .store.inbox.list()
    .filter((r) => r.author)
    .map((r) => [byEntity.get(toHex(r.author!)) ?? '?', str(r.body)]);
}

/** Notices (plain messages from the list) in `name`'s inbox. */
function notices(net: Net, name: string): string[] {
  const L = net.n('L').peer.entity;
  return net.n(name).store.inbox.list().filter((r) => !r.author && equalBytes(r.from, L)).map((r) => str(r.body));
}

test('subscribe requests make members (discuss); a post reaches every other member once, with the author verified by each subscriber', () => {
  const { net, host } = listNet();
  assert.is(host.members('member').length, 5, 'owner + 4 members');
  for (const m of ['M1', 'M2', 'M3', 'M4']) assert.ok(notices(net, m).some((n) => n.startsWith('welcome to friends')), `${m} welcomed`);
  post(net, 'M3', 'hello list');
  net.advance(10_000);
  for (const m of ['O', 'M1', 'M2', 'M4']) assert.equal(posts(net, m), [['M3', 'hello list']], `${m} got it once, by M3`);
  assert.equal(posts(net, 'M3'), [], 'not sent back to its author');
  // The copy's inbox row names the list as sender and M3 as author (verified by the subscriber).
  const row = net.n('M4').store.inbox.list().find((r) => r.author)!;
  assert.ok(equalBytes(row.from, net.n('L').peer.entity));
  assert.ok(equalBytes(row.fromAgent, net.n('M3').peer.agent), 'the author\'s agent signed it');
  const st = host.status(net.clock);
  assert.is(st.posts[0]!.delivered, 4, 'list status: 4 copies delivered');
});

test('a subscriber rejects a post whose author signature was tampered with', () => {
  const { net } = listNet();
  post(net, 'M1', 'genuine');
  net.advance(10_000);
  const copy = net.sent.find((m) => m.t === MsgType.ENVELOPE && m.hops.length === 1 && equalBytes(m.to, net.n('M2').peer.entity));
  assert.ok(copy, 'a copy went to M2');
  // The list itself cannot forge: M2 verifies the author's signature inside the copy.
  const before = net.n('M2').store.inbox.count();
  assert.ok(before >= 2);
  const M2 = net.n('M2');
  const L = net.n('L');
  const forged = L.store.tx(() => L.core.queueMessage(M2.peer.entity, 'post', text('not a signed content')));
  net.perform('L', forged.actions);
  net.advance(5_000);
  assert.is(M2.store.inbox.count(), before, 'nothing new shown');
  assert.ok(net.count('M2', 'dropped.ERR_MALFORMED_FRAME') + net.count('M2', 'dropped.ERR_BAD_FIELD') + net.count('M2', 'dropped.ERR_LIMIT_EXCEEDED') >= 1, 'dropped and counted');
});

test('a reply threads causally: held at a subscriber until the post it answers is there', () => {
  const { net } = listNet();
  const first = post(net, 'M1', 'question?');
  net.advance(10_000);
  post(net, 'M2', 'answer!');
  net.advance(10_000);
  const M4 = net.n('M4');
  const rows = M4.store.inbox.list().filter((r) => r.author);
  assert.equal(rows.map((r) => str(r.body)), ['question?', 'answer!']);
  const q = rows[0]!;
  assert.equal(rows[1]!.parents.map(toHex), [toHex(q.hash!)], 'the answer names the question as its parent');
  assert.ok(net.n('M1').store.outbox.get(first)!.hash, 'the hash is the author\'s content hash');
  assert.is(toHex(net.n('M1').store.outbox.get(first)!.hash!), toHex(q.hash!));
});

test('an unsubscribed member stops receiving; a banned member and a non-member are refused with a notice', () => {
  const { net, host } = listNet();
  const M4 = net.n('M4');
  net.perform('M4', M4.store.tx(() => M4.core.listLeave(net.n('L').peer.entity)));
  net.advance(5_000);
  assert.ok(notices(net, 'M4').includes('you left friends'));
  const L = net.n('L');
  net.perform('L', L.store.tx(() => host.ban(net.n('M3').peer.entity, 'rude', net.clock)));
  net.advance(5_000);
  post(net, 'M1', 'after the changes');
  net.advance(10_000);
  assert.equal(posts(net, 'M4'), [], 'M4 left: nothing');
  assert.equal(posts(net, 'M3'), [], 'M3 banned: nothing');
  assert.equal(posts(net, 'M2'), [['M1', 'after the changes']]);
  post(net, 'M3', 'let me in');
  post(net, 'M4', 'me too');
  net.advance(10_000);
  assert.ok(notices(net, 'M3').some((n) => n.includes('was refused: you are banned from friends: rude')), notices(net, 'M3').join(' | '));
  assert.ok(notices(net, 'M4').some((n) => n.includes('was refused: you are not a member of friends')), notices(net, 'M4').join(' | '));
  assert.equal(posts(net, 'M2'), [['M1', 'after the changes']], 'refused posts go nowhere');
});

test('moderated: a subscribe request waits for the owner\'s approval', () => {
  const { net, host } = listNet('moderated');
  assert.is(host.members('pending').length, 4);
  post(net, 'M1', 'too early');
  net.advance(5_000);
  assert.ok(notices(net, 'M1').some((n) => n.includes('refused: you are not a member')));
  const L = net.n('L');
  net.perform('L', L.store.tx(() => host.approve(net.n('M1').peer.entity, net.clock)));
  net.perform('L', L.store.tx(() => host.approve(net.n('M2').peer.entity, net.clock)));
  net.advance(5_000);
  post(net, 'M1', 'approved now');
  net.advance(10_000);
  assert.equal(posts(net, 'M2'), [['M1', 'approved now']]);
  assert.equal(posts(net, 'M3'), [], 'still pending: nothing');
});

test('announce: only the owner posts', () => {
  const { net } = listNet('announce');
  post(net, 'M1', 'may I?');
  post(net, 'O', 'news');
  net.advance(10_000);
  assert.ok(notices(net, 'M1').some((n) => n.includes('only its owner posts')));
  for (const m of ['M1', 'M2', 'M3', 'M4']) assert.equal(posts(net, m), [['O', 'news']]);
});

test('a member that spams is muted by complaints from 3 subscribers, without the owner acting', () => {
  const { net, host } = listNet();
  post(net, 'M4', 'BUY NOW');
  net.advance(10_000);
  for (const m of ['M1', 'M2', 'M3']) {
    const M = net.n(m);
    const row = M.store.inbox.list().find((r) => r.author && equalBytes(r.author, net.n('M4').peer.entity))!;
    net.perform(m, M.store.tx(() => M.core.complain(row.id, 'spam')));
    net.run();
  }
  net.advance(5_000);
  assert.ok(host.members('member').find((m) => equalBytes(m.entity, net.n('M4').peer.entity))!.mutedUntil > net.clock, 'M4 is muted');
  assert.ok(notices(net, 'M4').some((n) => n.startsWith('you are muted on friends')));
  post(net, 'M4', 'BUY MORE');
  net.advance(10_000);
  for (const m of ['M1', 'M2', 'M3']) assert.equal(posts(net, m), [['M4', 'BUY NOW']], `${m} got no second spam`);
  // The complaints also walked the path: the hop before M3 (M1) counted one against the list.
  assert.ok(net.count('M1', 'complaint.counted') >= 1);
});

test('a subscriber offline for the post gets it on return; the archive serves a new member, in order', () => {
  const { net } = listNet();
  net.kill('M2');
  post(net, 'M1', 'while M2 sleeps');
  post(net, 'M1', 'and another');
  net.advance(10_000);
  assert.equal(posts(net, 'M2'), []);
  net.restart('M2', ['L', 'M4']);
  net.advance(30_000);
  assert.equal(posts(net, 'M2'), [['M1', 'while M2 sleeps'], ['M1', 'and another']], 'delivered on return, in order');
  // A fifth member joins late and fetches the archive.
  net.add('M5', FAST);
  net.connect('L', 'M5');
  join(net, 'M5');
  net.advance(5_000);
  const M5 = net.n('M5');
  net.perform('M5', M5.store.tx(() => M5.core.listFetch(net.n('L').peer.entity, 10)));
  net.advance(10_000);
  assert.equal(posts(net, 'M5'), [['M1', 'while M2 sleeps'], ['M1', 'and another']]);
  // Fetching again shows nothing twice.
  net.perform('M5', M5.store.tx(() => M5.core.listFetch(net.n('L').peer.entity, 10)));
  net.advance(10_000);
  assert.is(posts(net, 'M5').length, 2);
});

/**
 * O (owner) – L – R1 – R2 – S, L – M1 – M2, R2 – M3: S asks for onion copies over `hops`
 * relays (the request travels as an onion too); the others join in clear mode.
 */
function onionNet(hops: number): { net: Net; host: ListHost } {
  const net = new Net();
  for (const n of ['O', 'L', 'R1', 'R2', 'S', 'M1', 'M2', 'M3']) net.add(n, FAST);
  for (const [a, b] of [['O', 'L'], ['L', 'R1'], ['R1', 'R2'], ['R2', 'S'], ['L', 'M1'], ['M1', 'M2'], ['R2', 'M3']] as const) net.connect(a, b);
  const L = net.n('L');
  const host = new ListHost(L.core, L.store, { name: 'quiet', policy: 'discuss', owner: net.n('O').peer.entity }, {}, net.clock);
  for (const m of ['M1', 'M2', 'M3']) join(net, m);
  const S = net.n('S');
  net.perform('S', S.store.tx(() => S.core.listJoin(L.peer.entity, undefined, hops)));
  net.run();
  net.advance(10_000);
  return { net, host };
}

/** Clear ENVELOPEs to `name` on any link so far (onion copies never are). */
const clearTo = (net: Net, name: string) =>
  net.wire.map((f) => decodeMessage(f.bytes)).filter((m) => m.t === MsgType.ENVELOPE && equalBytes(m.to, net.n(name).peer.entity));

test('onion copies: a subscriber that asked for them gets every message from the list as ONION frames, once, author verified; the others get clear copies', () => {
  const { net, host } = onionNet(2);
  const [S, L, M1] = [net.n('S'), net.n('L'), net.n('M1')];
  const mode = (n: string) => host.members().find((m) => equalBytes(m.entity, net.n(n).peer.entity))!.onion;
  assert.equal(['S', 'M1', 'M2', 'M3', 'O'].map(mode), [2, 0, 0, 0, 0], 'the list stored each member\'s preference');
  assert.ok(notices(net, 'S').some((n) => n === 'welcome to quiet (discuss list); your copies come as onions through 2 relays'), notices(net, 'S').join(' | '));
  const postId = post(net, 'M1', 'hello, quietly');
  net.advance(5_000);
  const copy = copyIdFor(postId, S.peer.entity);
  const frames = net.wire.map((f) => ({ ...f, msg: decodeMessage(f.bytes) }));
  assert.not.ok(frames.some((f) => f.msg.t === MsgType.ENVELOPE && equalBytes(f.msg.id, copy)), 'no clear ENVELOPE carries S\'s copy on any link');
  assert.is(clearTo(net, 'S').length, 0, 'nothing from the list (copy, welcome) reached S in clear mode');
  const hopsOn = frames.filter((f) => f.msg.t === MsgType.ONION).map((f) => `${f.from}>${f.to}`);
  for (const link of ['L>R1', 'R1>R2', 'R2>S']) assert.ok(hopsOn.includes(link), `ONION frames on ${link}: ${[...new Set(hopsOn)].join(' ')}`);
  // Delivered once, as "M1 via the list", the author's signature checked by S.
  assert.equal(posts(net, 'S'), [['M1', 'hello, quietly']]);
  const row = S.store.inbox.list().find((r) => r.author)!;
  assert.ok(equalBytes(row.id, copy) && equalBytes(row.from, L.peer.entity));
  assert.ok(equalBytes(row.fromAgent, M1.peer.agent), 'the author\'s agent signed it');
  // The others got clear copies.
  for (const m of ['M2', 'M3', 'O']) {
    assert.equal(posts(net, m), [['M1', 'hello, quietly']], m);
    const id = copyIdFor(postId, net.n(m).peer.entity);
    assert.ok(frames.some((f) => f.msg.t === MsgType.ENVELOPE && equalBytes(f.msg.id, id)), `${m}'s copy went as a clear ENVELOPE`);
  }
  assert.is(host.status(net.clock).posts[0]!.delivered, 4, 'list status counts the onion copy delivered too');
  // S's complaint walks back through the onion relays to the list, which counts it against the author.
  net.perform('S', S.store.tx(() => S.core.complain(row.id, 'off topic')));
  net.run();
  assert.is(net.count('L', 'list.complaint'), 1, 'the list counted the onion complaint');
  assert.is(L.store.list.complainants(M1.peer.entity, 0), 1);
  // Fetching the archive sends the same copy id again, still as an onion, still shown once.
  net.perform('S', S.store.tx(() => S.core.listFetch(L.peer.entity, 10)));
  net.advance(5_000);
  assert.is(clearTo(net, 'S').length, 0);
  assert.equal(posts(net, 'S'), [['M1', 'hello, quietly']]);
  // Joining again without onion switches back to clear copies (and the list says so).
  join(net, 'S');
  net.advance(5_000);
  assert.is(mode('S'), 0);
  assert.ok(notices(net, 'S').includes('your copies from quiet now come in clear mode'), notices(net, 'S').join(' | '));
  const second = post(net, 'M2', 'now in the clear');
  net.advance(5_000);
  assert.equal(posts(net, 'S'), [['M1', 'hello, quietly'], ['M2', 'now in the clear']]);
  const c2 = copyIdFor(second, S.peer.entity);
  assert.ok(clearTo(net, 'S').some((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, c2)), 'the new copy went clear');
});

test('onion copies with fewer relays known than asked: sent over the longest path (counted and logged), never dropped; an unknown mode byte is read leniently', () => {
  const { net, host } = onionNet(5);
  const S = net.n('S');
  assert.is(host.members().find((m) => equalBytes(m.entity, S.peer.entity))!.onion, 5);
  const id = post(net, 'M2', 'far away');
  net.advance(5_000);
  assert.equal(posts(net, 'S'), [['M2', 'far away']], 'delivered');
  assert.is(clearTo(net, 'S').length, 0, 'still onion mode, only shorter');
  assert.ok(net.count('L', 'onion.short-path') >= 1, 'the list counted a shortened path');
  assert.ok(net.n('L').actions.some((a) => a.type === 'log' && a.event === 'onion-short-path' && String(a.fields.detail).includes('5 asked')), 'and logged why');
  const st = host.status(net.clock).posts.find((p) => equalBytes(p.postId, id))!;
  assert.equal([st.delivered, st.failed, st.waiting], [4, 0, 0]);
  // A newer agent's subscribe body (a count above 8, an extra byte) reads as 8 relays.
  assert.is(decodeSubscribe(Uint8Array.of(200, 1)), 8);
  assert.is(decodeSubscribe(new Uint8Array(0)), 0, 'an empty body (every older request) is clear mode');
  assert.equal([...encodeSubscribe(0)], []);
  assert.equal([...encodeSubscribe(3)], [3]);
  assert.throws(() => encodeSubscribe(9), /1\.\.8 relays/);
});

test('simulator: a list with 300 subscribers on a 300-agent graph: every subscriber gets each post exactly once', () => {
  const r = listScenario({ nodes: 300, degree: 8, seed: 'list-unit', posts: 2 });
  assert.is(r.errors, 0);
  assert.is(r.joined, r.subscribers, 'everyone joined');
  assert.equal(r.receivedOnce, [r.subscribers, r.subscribers], 'each post reached every subscriber');
  assert.is(r.duplicates, 0);
  assert.is(r.missing, 0);
});

test.run();
