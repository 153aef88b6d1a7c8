/**
 * A mailing list between real daemons over TCP. The owner's daemon hosts the list (its own
 * identity, in the same process); A, B and C join with the list's invite code; D and E join
 * by a signed subscribe request through A and B. Then: a post from A reaches every other
 * member once with A's signature verified by each; a reply threads causally; a subscriber
 * that is offline for a post gets it on return; a member who spams is muted by three
 * members' complaints without the owner acting; a member who left gets nothing more; a
 * banned member's post is refused with a notice saying so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InboxItem } from '../../agent/api/methods.js';
import { eventually, link, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

const FAST = { core: { retryBaseMs: 300, maxRetryMs: 3_000, stallMs: 2_000, custodyRetryMs: 20_000 } };

let O: TestAgent, A: TestAgent, B: TestAgent, C: TestAgent, D: TestAgent, E: TestAgent;
let list = '';
let firstPost = '';

test.before(async () => {
  [O, A, B, C, D, E] = await Promise.all(['owner', 'ann', 'bob', 'cat', 'dan', 'eve'].map((n) => startAgent(n, { config: FAST })));
});

test.after(async () => {
  await stopAll();
});

type Item = InboxItem & { author?: { entity: string }; hash?: string; parents?: string[] };

async function inbox(x: TestAgent): Promise<Item[]> {
  return x.json<Item[]>(['inbox', '--limit', '1000']);
}

/** Posts in x's inbox that came through the list, as [author, text]. */
async function posts(x: TestAgent): Promise<Array<[string, string]>> {
  return (await inbox(x)).filter((m) => m.author && m.from === list).map((m) => [m.author!.entity, m.text ?? '']);
}

async function waitForPost(x: TestAgent, author: TestAgent, text: string): Promise<void> {
  await eventually(async () => (await posts(x)).some(([a, t]) => a === author.entity && t === text), 30_000, `${x.name} to get "${text}"`);
}

test('the owner creates a list; three members join by invite, two by a subscribe request through a relay', async () => {
  const created = await O.json<{ entity: string; invite: string; policy: string }>(['list', 'create', 'friends', '--policy', 'discuss']);
  list = created.entity;
  assert.is(created.policy, 'discuss');
  for (const m of [A, B, C]) {
    const r = await m.cli(['accept', created.invite, '--name', 'friends']);
    assert.is(r.code, 0, r.stderr);
  }
  await link(A, D, { aName: 'ann', bName: 'dan' });
  await link(B, E, { aName: 'bob', bName: 'eve' });
  for (const m of [D, E]) {
    const r = await m.cli(['list', 'join', list]);
    assert.is(r.code, 0, r.stderr);
  }
  await eventually(async () => {
    const ms = await O.json<Array<{ entity: string; state: string }>>(['list', 'members', 'friends']);
    return [A, B, C, D, E].every((m) => ms.some((x) => x.entity === m.entity && x.state === 'member'));
  }, 45_000, 'all five to be members');
});

test('a post from A reaches every other member once, with A\'s signature verified by each subscriber', async () => {
  const r = await A.json<{ id: string }>(['send', list, 'hello friends']);
  firstPost = r.id;
  for (const m of [O, B, C, D, E]) await waitForPost(m, A, 'hello friends');
  for (const m of [O, B, C, D, E]) {
    const got = (await posts(m)).filter(([, t]) => t === 'hello friends');
    assert.is(got.length, 1, `${m.name} got it once`);
  }
  assert.equal((await posts(A)).filter(([, t]) => t === 'hello friends'), [], 'not echoed to its author');
  const human = await D.cli(['inbox']);
  assert.match(human.stdout, 'via');
});

test('a reply threads causally: its parents name the post it answers', async () => {
  await B.json(['send', list, 'hi ann!']);
  for (const m of [A, C, D, E]) await waitForPost(m, B, 'hi ann!');
  const items = await inbox(D);
  const post = items.find((m) => m.text === 'hello friends')!;
  const reply = items.find((m) => m.text === 'hi ann!')!;
  assert.ok(post.hash && reply.parents, 'hash and parents are shown');
  assert.ok(reply.parents!.includes(post.hash!), 'the reply names the post as its parent');
  assert.ok(post.seq < reply.seq, 'and comes after it');
  void firstPost;
});

test('a subscriber offline for a post gets it when it returns', async () => {
  await D.stop();
  await C.json(['send', list, 'while dan is away']);
  await waitForPost(E, C, 'while dan is away');
  await D.restart();
  await waitForPost(D, C, 'while dan is away');
});

test('a member who spams is muted by three members\' complaints, without the owner acting', async () => {
  await E.json(['send', list, 'BUY CHEAP PILLS']);
  for (const m of [A, B, C]) await waitForPost(m, E, 'BUY CHEAP PILLS');
  for (const m of [A, B, C]) {
    const spam = (await inbox(m)).find((x) => x.text === 'BUY CHEAP PILLS')!;
    const r = await m.cli(['complain', spam.id, '--reason', 'spam']);
    assert.is(r.code, 0, r.stderr);
  }
  await eventually(async () => (await inbox(E)).some((m) => (m.text ?? '').startsWith('you are muted on friends')), 30_000, 'E to be told it is muted');
  await E.json(['send', list, 'MORE PILLS']);
  await eventually(async () => (await inbox(E)).some((m) => (m.text ?? '').includes('was refused: you are muted')), 30_000, 'E\'s next post refused');
  await new Promise((r) => setTimeout(r, 2_000));
  for (const m of [A, B]) assert.not.ok((await posts(m)).some(([, t]) => t === 'MORE PILLS'), `${m.name} never sees it`);
});

test('a member who left gets nothing more; a banned member\'s post is refused with a notice', async () => {
  const left = await D.cli(['list', 'leave', list]);
  assert.is(left.code, 0, left.stderr);
  await eventually(async () => (await inbox(D)).some((m) => m.text === 'you left friends'), 30_000, 'D to have left');
  const ban = await O.cli(['list', 'ban', 'friends', C.entity, '--reason', 'trolling']);
  assert.is(ban.code, 0, ban.stderr);
  await A.json(['send', list, 'after the changes']);
  await waitForPost(B, A, 'after the changes');
  await new Promise((r) => setTimeout(r, 2_000));
  assert.not.ok((await posts(D)).some(([, t]) => t === 'after the changes'), 'D left: nothing');
  assert.not.ok((await posts(C)).some(([, t]) => t === 'after the changes'), 'C banned: nothing');
  await C.json(['send', list, 'let me back']);
  await eventually(async () => (await inbox(C)).some((m) => (m.text ?? '').includes('was refused: you are banned from friends: trolling')), 30_000, 'C told why');
  await new Promise((r) => setTimeout(r, 2_000));
  assert.not.ok((await posts(B)).some(([, t]) => t === 'let me back'), 'nobody gets the banned member\'s post');
});

test.run();
