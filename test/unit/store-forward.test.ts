/**
 * Store-and-forward in the sans-I/O core, on the deterministic core network (fake clock,
 * real codec, SQLite stores): custody (durable before HOLD, released after the next hop's
 * HOLD), survival of a relay restart, queue bounds with REFUSE and the outbox bound,
 * mailboxes (deposit, stored report, fetch, delete, receipts, a mailbox down, no
 * duplicates), and causal order (held messages, wants, the gap marker after the timeout).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { equalBytes, toHex } from '../../agent/crypto/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import { isWotError } from '../../agent/wire/errors.js';
import { decodeMessage } from '../../agent/wire/index.js';
import type { CoreConfig } from '../../agent/core/index.js';
import { Net, line, progress } from '../helpers/corenet.js';

const FAST: Partial<CoreConfig> = { retryBaseMs: 500, maxRetryMs: 4_000, stallMs: 2_000, custodyRetryMs: 20_000 };
const text = (s: string) => new TextEncoder().encode(s);

function sendRaw(net: Net, from: string, to: string, body: string): Uint8Array {
  const F = net.n(from);
  const { id, actions } = F.store.tx(() => F.core.send(net.n(to).peer.entity, 'text', text(body)));
  net.perform(from, actions);
  return id;
}

function inboxBodies(net: Net, name: string): string[] {
  return net.n(name).store.inbox.list().map((r) => new TextDecoder().decode(r.body));
}

test('custody: a relay commits the envelope to its queue before HOLD; HOLD releases the sender to "relayed", the ack to "delivered"', () => {
  const net = line(['A', 'B', 'C'], FAST);
  const warm = net.send('A', 'C', 'warm-up');
  net.advance(3_000);
  assert.is(net.n('A').store.outbox.get(warm)!.state, 'delivered');
  // C goes away: B must take custody and hold the next message durably.
  net.unlink('B', 'C');
  const id = net.send('A', 'C', 'wait for me');
  net.run();
  const B = net.n('B');
  assert.ok(B.store.relayq.get(id), 'B holds it in its durable relay queue');
  const holds = net.sent.filter((m) => m.t === MsgType.HOLD && equalBytes(m.id, id));
  assert.is(holds.length, 1, 'B answered HOLD once');
  assert.is(net.n('A').store.outbox.get(id)!.state, 'relayed', 'the sender shows relayed');
  assert.ok(progress(net, 'A', id).some((p) => p.status === 'queued'), 'B reported queued');
  net.relink('B', 'C');
  net.advance(2_000);
  assert.ok(net.n('C').store.inbox.get(id), 'delivered when C is back');
  assert.not.ok(B.store.relayq.get(id), 'B released its copy');
  assert.is(net.n('A').store.outbox.get(id)!.state, 'delivered');
});

test('a relay killed while it holds messages delivers them after its restart, each exactly once', () => {
  const net = line(['A', 'B', 'C', 'D'], FAST);
  net.send('A', 'D', 'warm-up');
  net.advance(3_000);
  net.unlink('C', 'D');
  const ids = Array.from({ length: 20 }, (_, i) => sendRaw(net, 'A', 'D', `m${i}`));
  net.run();
  assert.is(net.n('C').store.relayq.totals().n, 20, 'C holds all 20');
  net.kill('C');
  net.advance(3_000);
  net.restart('C', ['B', 'D']);
  net.advance(10_000);
  const D = net.n('D');
  for (const id of ids) assert.ok(D.store.inbox.get(id), 'each message arrived');
  assert.is(D.store.inbox.count(), 21, 'exactly once each (and the warm-up)');
  assert.is(net.n('C').store.relayq.totals().n, 0, 'C\'s queue is empty');
});

test('a sender killed mid-send resends from its outbox after restart; the recipient keeps one copy', () => {
  const net = line(['A', 'B'], FAST);
  const id = sendRaw(net, 'A', 'B', 'once');
  // The envelope is on the wire when A dies; B receives it and acks, but the ack is lost.
  net.run();
  net.kill('A');
  net.n('A').store.outbox.setState(id, 'sent', net.clock); // as if the ack never committed
  net.restart('A', ['B']);
  net.advance(30_000);
  assert.is(net.n('B').store.inbox.count(), 1);
  assert.is(net.n('A').store.outbox.get(id)!.state, 'delivered');
});

test('queue bound: a next hop that never returns fills the queue to its bound, then REFUSE; the sender sees the error; its outbox bound throws ERR_QUEUE_FULL', () => {
  const net = new Net();
  net.add('A', { ...FAST, outboxPerRecipient: 12 });
  net.add('B', { ...FAST, relayQueuePerHop: 5 });
  net.add('C', FAST);
  net.add('X', FAST);
  net.connect('A', 'B');
  net.connect('B', 'C');
  net.connect('B', 'X');
  net.send('A', 'C', 'warm-up');
  net.advance(3_000);
  net.kill('C');
  const ids = Array.from({ length: 10 }, (_, i) => sendRaw(net, 'A', 'C', `m${i}`));
  net.run();
  const B = net.n('B');
  assert.is(B.store.relayq.countFor(net.n('C').peer.entity).n, 5, 'B holds up to its bound');
  assert.ok(net.count('B', 'relay.refused') >= 5, 'and refuses the rest');
  const A = net.n('A');
  const refused = ids.filter((id) => (A.store.outbox.get(id)!.error ?? '').includes('ERR_QUEUE_FULL'));
  assert.is(refused.length, 5, 'the sender\'s outbox shows why 5 wait');
  assert.ok(progress(net, 'A', ids[9]!).some((p) => p.status === 'refused'), 'and the progress says refused');
  // B keeps serving its other neighbour.
  const other = net.send('X', 'B', 'still here?');
  assert.ok(B.store.inbox.get(other), 'B still serves X');
  // The sender's own bound: 11 undelivered to C (10 + warm-up delivered: 10), 2 more fit, then ERR_QUEUE_FULL.
  sendRaw(net, 'A', 'C', 'm10');
  sendRaw(net, 'A', 'C', 'm11');
  try {
    A.store.tx(() => A.core.send(net.n('C').peer.entity, 'text', text('one too many')));
    assert.unreachable('send should refuse');
  } catch (e) {
    assert.ok(isWotError(e) && e.code === 'ERR_QUEUE_FULL', String(e));
    assert.match((e as Error).message, 'still waiting');
  }
  net.advance(60_000);
  assert.ok(B.store.relayq.countFor(net.n('C').peer.entity).n <= 5, 'the bound holds over time');
});

/** Bob (B) names M1 and M2 as mailboxes; Alice (A) reaches Bob over relay R. */
function mailboxNet(): Net {
  const net = new Net();
  for (const n of ['A', 'R', 'B', 'M1', 'M2']) net.add(n, FAST);
  net.connect('A', 'R');
  net.connect('R', 'B');
  net.connect('R', 'M1');
  net.connect('R', 'M2');
  net.connect('B', 'M1');
  net.connect('B', 'M2');
  const B = net.n('B');
  for (const m of ['M1', 'M2']) net.perform('B', B.store.tx(() => B.core.mailboxAdd(net.n(m).peer.entity, undefined)));
  net.run();
  // R learns Bob's announcement (with its mailboxes) over their link.
  net.perform('B', B.store.tx(() => B.core.announce()));
  net.run();
  return net;
}

test('mailbox: Bob offline, the last hop deposits at his mailbox (stored), Bob fetches on return, a receipt makes it delivered', () => {
  const net = mailboxNet();
  for (const m of ['M1', 'M2']) assert.ok(net.n(m).store.mailbox.account(net.n('B').peer.entity), `${m} opened Bob's account`);
  net.send('A', 'B', 'warm-up');
  net.advance(3_000);
  net.kill('B');
  const ids = Array.from({ length: 5 }, (_, i) => sendRaw(net, 'A', 'B', `while away ${i}`));
  net.advance(5_000);
  const stored = net.n('M1').store.mailbox.usage(net.n('B').peer.entity).n + net.n('M2').store.mailbox.usage(net.n('B').peer.entity).n;
  assert.is(stored, 5, 'all five are in a mailbox');
  assert.ok(progress(net, 'A', ids[0]!).some((p) => p.status === 'stored'), 'Alice heard "stored"');
  assert.is(net.n('R').store.relayq.totals().n, 0, 'R does not keep them');
  net.restart('B', ['M1', 'M2']);
  net.advance(5_000);
  for (const id of ids) assert.ok(net.n('B').store.inbox.get(id), 'Bob has each message');
  assert.is(net.n('B').store.inbox.count(), 6);
  for (const m of ['M1', 'M2']) assert.is(net.n(m).store.mailbox.usage(net.n('B').peer.entity).n, 0, `${m} deleted after Bob's commit`);
  net.relink('B', 'R');
  net.advance(10_000);
  for (const id of ids) assert.is(net.n('A').store.outbox.get(id)!.state, 'delivered', 'the receipt reached Alice');
});

test('two mailboxes, one down: messages still arrive; both up: no duplicates', () => {
  const net = mailboxNet();
  net.send('A', 'B', 'warm-up');
  net.advance(3_000);
  net.kill('B');
  net.kill('M1');
  const ids = Array.from({ length: 4 }, (_, i) => sendRaw(net, 'A', 'B', `via M2 ${i}`));
  net.advance(10_000);
  assert.is(net.n('M2').store.mailbox.usage(net.n('B').peer.entity).n, 4, 'M2 took them all');
  net.restart('M1', ['R']);
  net.restart('B', ['M1', 'M2', 'R']);
  net.advance(10_000);
  for (const id of ids) assert.ok(net.n('B').store.inbox.get(id));
  assert.is(net.n('B').store.inbox.count(), 5);
  // The same envelope stored at both mailboxes reaches the app once.
  const env = net.sent.find((m) => m.t === MsgType.ENVELOPE && equalBytes(m.id, ids[0]!));
  assert.ok(env);
  assert.is(net.count('B', 'inbox.delivered'), 5, 'no duplicate deliveries');
});

test('a mailbox refuses to store for an entity that did not name it', () => {
  const net = line(['A', 'M', 'B'], FAST);
  net.send('A', 'B', 'warm-up');
  net.advance(3_000);
  const M = net.n('M');
  assert.not.ok(M.store.mailbox.account(net.n('B').peer.entity));
  const env = net.sent.find((m) => m.t === MsgType.ENVELOPE && m.hops.length === 1);
  assert.ok(env && env.t === MsgType.ENVELOPE);
  const fromA = [...M.links.entries()].find(([, v]) => v === 'A')![0];
  const deposit = { ...env, id: new Uint8Array(16).fill(3), dep: M.peer.entity };
  const acts = M.store.tx(() => M.core.onMessage(fromA, deposit));
  assert.ok(acts.some((a) => a.type === 'send' && a.msg.t === MsgType.REFUSE && a.msg.code === 'ERR_NOT_MAILBOX'), 'REFUSE ERR_NOT_MAILBOX');
  assert.is(M.store.mailbox.totals().n, 0);
});

test('causal order: messages arriving in reverse are shown in causal order; a parent that never comes is given up after causalWaitMs with a gap marker', () => {
  const net = line(['A', 'B'], { ...FAST, causalWaitMs: 60_000 });
  const A = net.n('A');
  const B = net.n('B');
  const ids = Array.from({ length: 5 }, (_, i) => {
    const { id, actions } = A.store.tx(() => A.core.send(B.peer.entity, 'text', text(`m${i}`)));
    net.perform('A', actions);
    return id;
  });
  // Reverse the envelopes on the wire.
  const envs = net.queue.filter((m) => decodeMessage(m.bytes).t === MsgType.ENVELOPE);
  net.queue = net.queue.filter((m) => !envs.includes(m)).concat(envs.reverse());
  net.run();
  assert.equal(inboxBodies(net, 'B'), ['m0', 'm1', 'm2', 'm3', 'm4'], 'causal order in the inbox');
  assert.ok(net.count('B', 'causal.held') >= 4, 'later ones waited for their parents');
  for (const id of ids) assert.is(A.store.outbox.get(id)!.state, 'delivered');
  // Bob replies: his message's parent is Alice's last one.
  const reply = net.send('B', 'A', 'reply');
  const r = A.store.inbox.get(reply)!;
  assert.equal(r.parents.map(toHex), [toHex(A.store.outbox.get(ids[4]!)!.hash!)], 'the reply names Alice\'s last message as its parent');
  // A message whose parent is lost for good: drop the parent on the wire, keep the child.
  const { id: lost, actions: a1 } = A.store.tx(() => A.core.send(B.peer.entity, 'text', text('lost')));
  net.perform('A', a1);
  net.queue = net.queue.filter((m) => {
    const d = decodeMessage(m.bytes);
    return !(d.t === MsgType.ENVELOPE && equalBytes(d.id, lost));
  });
  A.store.outbox.setState(lost, 'failed', net.clock); // the sender gave up on it too
  const child = sendRaw(net, 'A', 'B', 'child');
  net.run();
  assert.not.ok(B.store.inbox.get(child), 'held while its parent is missing');
  assert.ok(B.store.held.get(child));
  net.advance(70_000);
  const shown = B.store.inbox.get(child);
  assert.ok(shown, 'shown after the causal wait');
  assert.is(shown!.gap.length, 1, 'with a gap marker naming the missing parent');
  assert.is(toHex(shown!.gap[0]!), toHex(A.store.outbox.get(lost)!.hash!));
});

test('causal order: a held message makes the recipient ask for the missing parent (want), and the sender sends it again', () => {
  const net = line(['A', 'B'], FAST);
  const A = net.n('A');
  const first = sendRaw(net, 'A', 'B', 'first');
  // Lose the first envelope on the wire; the sender thinks it is in flight.
  net.queue = net.queue.filter((m) => {
    const d = decodeMessage(m.bytes);
    return !(d.t === MsgType.ENVELOPE && equalBytes(d.id, first));
  });
  const second = sendRaw(net, 'A', 'B', 'second');
  net.run();
  net.advance(1_000); // B asks on its next tick, for every parent still missing at once
  assert.ok(net.n('B').store.inbox.get(second));
  assert.ok(net.count('B', 'causal.held') >= 1, 'second waited for first');
  assert.ok(net.count('B', 'causal.want') >= 1, 'B asked for it');
  assert.ok(net.count('A', 'causal.resent') >= 1, 'A sent it again at once');
  net.run();
  assert.equal(inboxBodies(net, 'B'), ['first', 'second']);
  assert.is(A.store.outbox.get(first)!.state, 'delivered');
});

test('read receipt: the recipient marks a message read, the sender\'s outbox moves to "read"', () => {
  const net = line(['A', 'R', 'B'], FAST);
  const id = net.send('A', 'B', 'please read');
  net.advance(3_000);
  assert.is(net.n('A').store.outbox.get(id)!.state, 'delivered');
  const B = net.n('B');
  net.perform('B', B.store.tx(() => B.core.markRead(id)));
  net.advance(3_000);
  assert.ok(B.store.inbox.get(id)!.read);
  assert.is(net.n('A').store.outbox.get(id)!.state, 'read');
  assert.ok(progress(net, 'A', id).some((p) => p.status === 'read'));
  assert.is(net.n('A').store.inbox.count(), 0, 'the receipt is not shown to Alice\'s app');
  // Marking it again sends nothing more.
  assert.equal(B.store.tx(() => B.core.markRead(id)), []);
});

test('mailbox quota: beyond its per-owner quota a mailbox refuses (ERR_QUEUE_FULL) and the last hop keeps the rest', () => {
  const net = new Net();
  for (const n of ['A', 'R', 'B']) net.add(n, FAST);
  net.add('M', { ...FAST, mailboxQuotaMessages: 3 });
  net.connect('A', 'R');
  net.connect('R', 'B');
  net.connect('R', 'M');
  net.connect('B', 'M');
  const B = net.n('B');
  net.perform('B', B.store.tx(() => B.core.mailboxAdd(net.n('M').peer.entity, undefined)));
  net.run();
  net.send('A', 'B', 'warm-up');
  net.advance(3_000);
  net.kill('B');
  for (let i = 0; i < 5; i++) sendRaw(net, 'A', 'B', `m${i}`);
  net.advance(5_000);
  assert.is(net.n('M').store.mailbox.usage(B.peer.entity).n, 3, 'the mailbox keeps its quota');
  assert.ok(net.count('M', 'mailbox.full') >= 2, 'and refuses the rest');
  assert.is(net.n('R').store.relayq.totals().n, 2, 'R keeps the two it could not deposit');
  net.restart('B', ['M', 'R']);
  net.advance(20_000);
  assert.is(B.store.inbox.count(), 6, 'all arrive once Bob is back');
});

test.run();
