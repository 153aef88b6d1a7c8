/**
 * Multi-hop relaying between real daemons over TCP: five agents in a line A–B–C–D–E,
 * each linked to its neighbours by invites. A sends to E, whom it has never met: route
 * discovery, delivery, E verifies the exact path, A receives every hop's signed report.
 * E complains: the complaint walks back and counts at every hop. Then with a detour
 * B–F–E present, D is killed in the middle of a burst: every message is rerouted and
 * delivered exactly once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InboxItem, ProgressItem, SendResult, StatusResult } from '../../agent/api/methods.js';
import { eventually, link, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

let A: TestAgent, B: TestAgent, C: TestAgent, D: TestAgent, E: TestAgent;
let firstId = '';
// A sender re-sends a relayed message whose end-to-end ack never came after custodyRetryMs
// (30 s by default); 4 s here keeps the "ack lost with D" case below short.
const FAST = { core: { custodyRetryMs: 4_000 } };

test.before(async () => {
  [A, B, C, D, E] = await Promise.all(['A', 'B', 'C', 'D', 'E'].map((n) => startAgent(n, { config: FAST })));
  await link(A, B, { aName: 'A', bName: 'B' });
  await link(B, C, { aName: 'B', bName: 'C' });
  await link(C, D, { aName: 'C', bName: 'D' });
  await link(D, E, { aName: 'D', bName: 'E' });
});

test.after(async () => {
  await stopAll();
});

test('A sends to E it has never met: discovered, delivered, path A→B→C→D→E verified, every hop reports', async () => {
  const sent = await A.json<SendResult>(['send', E.entity, 'hello Erin, from Alice', '--wait', '--timeout', '30s']);
  assert.is(sent.state, 'delivered');
  firstId = sent.id;
  const inbox = await E.json<InboxItem[]>(['inbox']);
  const m = inbox.find((x) => x.id === sent.id);
  assert.ok(m, 'E has the message');
  assert.equal(m!.path.map((h) => h.entity), [A.entity, B.entity, C.entity, D.entity], 'E verified the exact path');
  const steps = await eventually(async () => {
    const t = await A.json<ProgressItem[]>(['track', sent.id]);
    const by = (who: TestAgent, st: string) => t.some((p) => p.reporter === who.entity && p.status === st);
    return by(B, 'forwarded') && by(C, 'forwarded') && by(D, 'forwarded') && by(E, 'delivered') ? t : undefined;
  }, 10_000, 'a report from every hop');
  assert.ok(steps.length >= 5);
  const human = await A.cli(['track', sent.id]);
  assert.match(human.stdout, 'forwarded');
});

test('E complains: the complaint walks back and counts at each hop against its previous hop', async () => {
  const r = await E.cli(['complain', firstId, '--reason', 'spam']);
  assert.is(r.code, 0, r.stderr);
  for (const hop of [D, C, B]) {
    await eventually(async () => {
      const s = await hop.json<StatusResult>(['status']);
      return (s.metrics['complaint.counted'] ?? 0) >= 1;
    }, 10_000, `${hop.name} to count the complaint`);
  }
  // One complaint from one person revokes nobody.
  for (const hop of [B, C, D]) {
    const s = await hop.json<StatusResult>(['status']);
    assert.is(s.revocations.length, 0);
  }
});

test('kill D in the middle of a burst with a detour B–F–E: every message rerouted and delivered once', async () => {
  const F = await startAgent('F', { config: FAST });
  await link(B, F, { aName: 'B', bName: 'F' });
  await link(F, E, { aName: 'F', bName: 'E' });
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const s = await A.json<SendResult>(['send', E.entity, `burst ${i}`]);
    ids.push(s.id);
    if (i === 4) D.kill();
  }
  await eventually(async () => {
    const inbox = await E.json<InboxItem[]>(['inbox', '--limit', '1000']);
    return ids.every((id) => inbox.some((m) => m.id === id));
  }, 60_000, 'all ten messages at E');
  const inbox = await E.json<InboxItem[]>(['inbox', '--limit', '1000']);
  for (const id of ids) assert.is(inbox.filter((m) => m.id === id).length, 1, 'exactly once');
  const detoured = inbox.filter((m) => ids.includes(m.id) && m.path.some((h) => h.entity === F.entity));
  assert.ok(detoured.length >= 1, 'some went around D through F');
  // An ack on its way back through D when D died is lost with it: A sends such a message
  // again after the custody retry (FAST: 4 s ± 25 %, doubling), E acks the duplicate over the
  // detour.
  await eventually(async () => {
    const out = await A.json<Array<{ id: string; state: string }>>(['outbox', '--limit', '100']);
    return ids.every((id) => out.find((o) => o.id === id)?.state === 'delivered');
  }, 45_000, 'A to see every message delivered');
});

test.run();
