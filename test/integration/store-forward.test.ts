/**
 * Store-and-forward between real daemons over TCP on loopback:
 *  - Bob is offline while Alice sends 100 messages; a relay holds them durably; Bob comes
 *    back at another address; all 100 reach his app once, in causal order; Alice sees each
 *    delivered.
 *  - Bob names two mailboxes; one is down; messages are stored at the other and fetched when
 *    Bob returns; with both up nothing is delivered twice; receipts tell Alice "delivered".
 *  - A next hop that never returns: the relay queue fills to its bound, then the sender gets
 *    ERR_QUEUE_FULL (in its outbox, then from `send`), and the relay still serves others.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InboxItem, OutboxItem, SendResult, StatusResult } from '../../agent/api/methods.js';
import type { RpcClient } from '../../agent/api/client.js';
import { isWotError } from '../../agent/wire/errors.js';
import { eventually, link, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

const FAST = { core: { retryBaseMs: 300, maxRetryMs: 3_000, stallMs: 2_000, custodyRetryMs: 20_000 } };

test.after(async () => {
  await stopAll();
});

async function allInbox(c: RpcClient): Promise<InboxItem[]> {
  const out: InboxItem[] = [];
  for (let after = 0; ; ) {
    const page = await c.call('inbox', { afterSeq: after, limit: 1000 });
    out.push(...page);
    if (page.length < 1000) return out;
    after = page[page.length - 1]!.seq;
  }
}

async function outboxStates(c: RpcClient, ids: string[]): Promise<Map<string, OutboxItem>> {
  const items = await c.call('outbox', { limit: 1000 });
  const want = new Set(ids);
  return new Map(items.filter((i) => want.has(i.id)).map((i) => [i.id, i]));
}

test('Bob offline; Alice sends 100; Bob returns at another address: all 100 arrive once, in causal order, and Alice sees each delivered', async () => {
  const [A, R, B] = await Promise.all(['alice', 'relay', 'bob'].map((n) => startAgent(n, { config: FAST }))) as [TestAgent, TestAgent, TestAgent];
  await link(A, R, { aName: 'alice', bName: 'relay' });
  await link(R, B, { aName: 'relay', bName: 'bob' });
  const warm = await A.json<SendResult>(['send', B.entity, 'warm-up', '--wait', '--timeout', '30s']);
  assert.is(warm.state, 'delivered');
  const oldAddr = B.addr;
  await B.stop();
  const a = await A.rpc();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await a.call('send', { to: B.entity, text: `message ${i}` })).id);
    await eventually(async () => {
      const st = await outboxStates(a, ids);
      return ids.every((id) => st.get(id)?.state === 'relayed');
    }, 30_000, 'the relay to take custody of all 100');
    const rs = await R.json<StatusResult & { queues: { relay: { messages: number } } }>(['status']);
    assert.is(rs.queues.relay.messages, 100, 'the relay holds them in its queue');

    await B.restart('127.0.0.1:0');
    assert.is.not(B.addr, oldAddr, 'Bob is back at another address');
    await eventually(async () => {
      const st = await outboxStates(a, ids);
      return ids.every((id) => st.get(id)?.state === 'delivered');
    }, 60_000, 'Alice to see all 100 delivered');

    const b = await B.rpc();
    try {
      const got = (await allInbox(b)).filter((m) => m.from === A.entity && m.text?.startsWith('message '));
      assert.is(got.length, 100, 'exactly 100, no duplicates');
      assert.is(new Set(got.map((m) => m.id)).size, 100);
      assert.equal(got.map((m) => m.text), ids.map((_, i) => `message ${i}`), 'in causal (= send) order');
    } finally {
      b.close();
    }
  } finally {
    a.close();
  }
  for (const x of [A, R, B]) await x.stop();
});

test('two mailboxes, one down: messages are stored at the other and reach Bob on return; both up: no duplicates; receipts make them delivered', async () => {
  const [A, R, B, M1, M2] = await Promise.all(['alice', 'relay', 'bob', 'mbox1', 'mbox2'].map((n) => startAgent(n, { config: FAST }))) as [TestAgent, TestAgent, TestAgent, TestAgent, TestAgent];
  await link(A, R, { aName: 'alice', bName: 'relay' });
  await link(R, B, { aName: 'relay', bName: 'bob' });
  await link(R, M1, { aName: 'relay', bName: 'mbox1' });
  await link(R, M2, { aName: 'relay', bName: 'mbox2' });
  await link(B, M1, { aName: 'bob', bName: 'mbox1' });
  await link(B, M2, { aName: 'bob', bName: 'mbox2' });
  for (const m of [M1, M2]) {
    const r = await B.cli(['mailbox', 'add', m.entity]);
    assert.is(r.code, 0, r.stderr);
  }
  for (const m of [M1, M2]) {
    await eventually(async () => {
      const l = await m.json<{ hosted: Array<{ owner: string }> }>(['mailbox', 'list']);
      return l.hosted.some((h) => h.owner === B.entity);
    }, 15_000, `${m.name} to open Bob's account`);
  }
  const warm = await A.json<SendResult>(['send', B.entity, 'warm-up', '--wait', '--timeout', '30s']);
  assert.is(warm.state, 'delivered');

  // Phase 1: Bob and mbox1 are down.
  await B.stop();
  await M1.stop();
  const a = await A.rpc();
  try {
    const first: string[] = [];
    for (let i = 0; i < 10; i++) first.push((await a.call('send', { to: B.entity, text: `phase1 ${i}` })).id);
    await eventually(async () => {
      const l = await M2.json<{ hosted: Array<{ owner: string; messages: number }> }>(['mailbox', 'list']);
      return l.hosted.find((h) => h.owner === B.entity)?.messages === 10;
    }, 30_000, 'mbox2 to store all 10');
    const track = await A.json<Array<{ status: string }>>(['track', first[0]!]);
    assert.ok(track.some((t) => t.status === 'stored'), 'Alice heard "stored"');

    await B.restart();
    await eventually(async () => {
      const st = await outboxStates(a, first);
      return first.every((id) => st.get(id)?.state === 'delivered');
    }, 60_000, 'receipts to make phase 1 delivered');

    // Phase 2: both mailboxes up, Bob away again.
    await M1.restart();
    await B.stop();
    const second: string[] = [];
    for (let i = 0; i < 10; i++) second.push((await a.call('send', { to: B.entity, text: `phase2 ${i}` })).id);
    await eventually(async () => {
      const st = await outboxStates(a, second);
      return second.every((id) => st.get(id)?.state === 'relayed');
    }, 30_000, 'phase 2 to be held');
    await B.restart();
    await eventually(async () => {
      const st = await outboxStates(a, second);
      return second.every((id) => st.get(id)?.state === 'delivered');
    }, 60_000, 'phase 2 delivered');
    const b = await B.rpc();
    try {
      const inbox = (await allInbox(b)).filter((m) => m.from === A.entity);
      assert.is(inbox.length, 21, 'warm-up + 20, each once');
      assert.is(new Set(inbox.map((m) => m.id)).size, 21);
    } finally {
      b.close();
    }
    for (const m of [M1, M2]) {
      const l = await m.json<{ hosted: Array<{ owner: string; messages: number }> }>(['mailbox', 'list']);
      assert.is(l.hosted.find((h) => h.owner === B.entity)?.messages ?? 0, 0, `${m.name} deleted what Bob fetched`);
    }
  } finally {
    a.close();
  }
  for (const x of [A, R, B, M1, M2]) await x.stop();
});

test('a next hop that never returns: the queue fills to its bound, senders get ERR_QUEUE_FULL, the relay keeps serving others', async () => {
  const [A, B, C, X] = await Promise.all([
    startAgent('alice', { config: { core: { ...FAST.core, outboxPerRecipient: 40 } } }),
    startAgent('relay', { config: { core: { ...FAST.core, relayQueuePerHop: 20 } } }),
    startAgent('carol', { config: FAST }),
    startAgent('xavier', { config: FAST }),
  ]);
  await link(A, B, { aName: 'alice', bName: 'relay' });
  await link(B, C, { aName: 'relay', bName: 'carol' });
  await link(X, B, { aName: 'xavier', bName: 'relay' });
  const warm = await A.json<SendResult>(['send', C.entity, 'warm-up', '--wait', '--timeout', '30s']);
  assert.is(warm.state, 'delivered');
  await C.stop(); // and never comes back
  const a = await A.rpc();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await a.call('send', { to: C.entity, text: `into the void ${i}` })).id);
    await eventually(async () => {
      const st = await outboxStates(a, ids);
      const relayed = ids.filter((id) => st.get(id)?.state === 'relayed').length;
      const refused = ids.filter((id) => (st.get(id)?.error ?? '').includes('ERR_QUEUE_FULL')).length;
      return relayed === 20 && refused === 20;
    }, 30_000, '20 held by the relay and 20 refused with ERR_QUEUE_FULL');
    let err: unknown;
    try {
      await a.call('send', { to: C.entity, text: 'one too many' });
    } catch (e) {
      err = e;
    }
    assert.ok(isWotError(err) && err.code === 'ERR_QUEUE_FULL', `send refused with ERR_QUEUE_FULL, got ${String(err)}`);
    assert.match((err as Error).message, 'still waiting');
    const r = await A.cli(['send', C.entity, 'and again']);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'still waiting');
  } finally {
    a.close();
  }
  // The relay is still at its bound a while later, and still serves its other neighbour.
  await new Promise((r) => setTimeout(r, 3_000));
  const st = await B.json<StatusResult & { queues: { relay: { messages: number } } }>(['status']);
  assert.is(st.queues.relay.messages, 20, 'the queue stays at its bound');
  const other = await X.json<SendResult>(['send', B.entity, 'still there?', '--wait', '--timeout', '20s']);
  assert.is(other.state, 'delivered', 'the relay serves its other neighbour');
  for (const x of [A, B, X]) await x.stop();
});

test.run();
