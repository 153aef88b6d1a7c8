/**
 * Mailing lists hosted in the owner's daemon, driven through the real CLI and real daemons:
 * `list create` makes and starts a list agent in <home>/lists/<name>/, `list hosted` shows it
 * running, a second agent redeems the list's invite and becomes a member, joins again asking
 * for onion copies (`list members` shows it; the owner's post comes as an onion, shown as
 * "<author> via <list>"), `list ban` and `list members` reflect the ban; the hosted list stops alone on `stop --home <list home>`,
 * comes back with its owner's daemon, and goes away with it. (Posting behaviour in depth is
 * tested with the list logic itself.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import type { HostedListView, InboxItem, ListCreated, ListMemberView, ListStatusView, TrustEntryView } from '../../agent/api/methods.js';
import { eventually, runCli, startAgent, stopAll } from '../helpers/testnet.js';

test.after(async () => {
  await stopAll();
});

test('list create → hosted and running → a member accepts the invite → members shows it → ban shows in members and status', async () => {
  const [O, M] = await Promise.all([startAgent('owner'), startAgent('member')]);

  const created = await O.json<ListCreated>(['list', 'create', 'friends']);
  const listHome = path.join(O.home, 'lists', 'friends');
  assert.is(created.name, 'friends');
  assert.is(created.policy, 'discuss');
  assert.is(created.home, listHome);
  assert.match(created.entity, /^wot1/);
  assert.match(created.fingerprint, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
  assert.match(created.invite, /^wotrelay:invite\?/);
  assert.is(created.inviteUses, 1000);
  assert.ok(created.inviteExpiresAt > Date.now() + 29 * 86_400_000, 'valid for 30 days');
  // The list's home: its own identity and a 0600 config naming it a list of ours, on our listen host.
  const cfgFile = path.join(listHome, 'config.json');
  assert.is(fs.statSync(cfgFile).mode & 0o777, 0o600);
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as { listen: string; list: { name: string; policy: string; owner: string } };
  assert.is(cfg.listen, '127.0.0.1:0');
  assert.equal(cfg.list, { name: 'friends', policy: 'discuss', owner: O.entity });
  assert.ok(fs.existsSync(path.join(listHome, 'entity.key')));
  // Hosted lines in the owner's log carry list=friends.
  await eventually(async () => O.log.some((l) => / list=friends /.test(l) && / ready /.test(l)), 5000, 'the hosted list to log ready');

  // The human output: id, fingerprint, the code and how members join; a second list with another policy.
  const news = await O.cli(['list', 'create', 'news', '--policy', 'announce'], { timeoutMs: 60_000 });
  assert.is(news.code, 0, news.stderr);
  assert.match(news.stdout, 'created the list news (announce)');
  assert.match(news.stdout, /list id +wot1/);
  assert.match(news.stdout, 'members join with:\n  wotrelay accept ');
  // A taken name fails (exit 1 with a hint); a bad one is an argument error.
  const again = await O.cli(['list', 'create', 'friends']);
  assert.is(again.code, 1);
  assert.match(again.stderr, 'wotrelay: a list named "friends" already exists');
  assert.match(again.stderr, 'hint: pick another name; wotrelay list hosted shows your lists');
  assert.is((await O.cli(['list', 'create', 'No Good'])).code, 2);

  const hosted = await O.json<HostedListView[]>(['list', 'hosted']);
  assert.equal(hosted.map((h) => [h.name, h.policy, h.running]), [['friends', 'discuss', true], ['news', 'announce', true]]);
  assert.is(hosted[0]!.entity, created.entity);
  assert.match(hosted[0]!.listen[0]!, /^127\.0\.0\.1:\d+$/);
  const hostedText = await O.cli(['list', 'hosted']);
  assert.match(hostedText.stdout, new RegExp(`friends\\s+discuss\\s+running\\s+${created.fingerprint}`));

  // The owner trusts the list under its name, and the list knows its owner.
  const trust = await O.json<TrustEntryView[]>(['trust', 'list']);
  assert.ok(trust.some((t) => t.entity === created.entity && t.petname === 'friends' && t.state === 'active'), JSON.stringify(trust));
  const info0 = await O.json<ListStatusView>(['list', 'status', 'friends']);
  assert.is(info0.owner, O.entity);
  assert.is(info0.policy, 'discuss');

  // A member redeems the list's invite: the list makes it a member.
  const acc = await M.cli(['accept', created.invite, '--name', 'friends'], { timeoutMs: 60_000 });
  assert.is(acc.code, 0, acc.stderr);
  const member = await eventually(async () => {
    const ms = await O.json<ListMemberView[]>(['list', 'members', 'friends']);
    return ms.find((m) => m.entity === M.entity && m.state === 'member');
  }, 15_000, 'the list to list the member');
  assert.is(member.role, 'member');
  const owner = (await O.json<ListMemberView[]>(['list', 'members', 'friends'])).find((m) => m.entity === O.entity);
  assert.is(owner?.role, 'owner');
  const text = await O.cli(['list', 'members', 'friends']);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`\\s${member.fingerprint}\\s+member\\s+member\\s+clear\\s`));

  // Joining again with --onion: the signed request carries the copy mode; the list keeps it.
  const rejoin = await M.cli(['list', 'join', 'friends', '--onion', '--hops', '1']);
  assert.is(rejoin.code, 0, rejoin.stderr);
  assert.match(rejoin.stdout, 'you asked for your copies as onions through 1 relay');
  await eventually(async () => (await O.json<ListMemberView[]>(['list', 'members', 'friends'])).find((m) => m.entity === M.entity && m.onion === 1), 15_000, 'the list to store the onion preference');
  assert.match((await O.cli(['list', 'members', 'friends'])).stdout, new RegExp(`\\s${member.fingerprint}\\s+member\\s+member\\s+onion/1\\s`));

  // A post by the owner reaches the member through the list: its inbox names the author and the list.
  const sent = await O.cli(['send', 'friends', 'hello members']);
  assert.is(sent.code, 0, sent.stderr);
  const post = await eventually(async () => {
    const items = await M.json<InboxItem[]>(['inbox']);
    return items.find((i) => i.text === 'hello members');
  }, 20_000, 'the post to reach the member');
  assert.equal(post.author, { entity: O.entity, name: null, fingerprint: owner!.fingerprint });
  assert.equal(post.via, { entity: created.entity, name: 'friends', fingerprint: created.fingerprint });
  assert.is(post.from, created.entity);
  assert.is(post.onion, true, 'the copy came in onion mode, as the member asked');
  const inboxText = await M.cli(['inbox']);
  assert.match(inboxText.stdout, `from ${owner!.fingerprint} via friends`);

  // Ban: reflected by members (state and reason) and status (counts).
  const ban = await O.cli(['list', 'ban', 'friends', M.entity, '--reason', 'spam']);
  assert.is(ban.code, 0, ban.stderr);
  assert.match(ban.stdout, `${member.fingerprint} is banned from friends`);
  const after = (await O.json<ListMemberView[]>(['list', 'members', 'friends'])).find((m) => m.entity === M.entity);
  assert.is(after?.state, 'banned');
  assert.is(after?.note, 'spam');
  assert.is(after?.onion, 1, 'a ban keeps the copy mode');
  const st = await O.json<ListStatusView>(['list', 'status', 'friends']);
  assert.is(st.banned, 1);
  assert.is(st.members, 1, 'only the owner is left');
  const stText = await O.cli(['list', 'status', 'friends']);
  assert.match(stText.stdout, /members\s+1, 0 pending, 1 banned, 0 muted/);
  // Errors of the list agent reach the owner: exit 1 with message and hint.
  const appr = await O.cli(['list', 'approve', 'friends', M.entity]);
  assert.is(appr.code, 1);
  assert.match(appr.stderr, 'has no pending request');
  assert.match(appr.stderr, 'hint: ');
  // Not a list: the owner's own agent refuses list-agent methods.
  const rpc = await O.rpc();
  try {
    await rpc.call('list.members', {});
    assert.unreachable('the owner is not a list');
  } catch (e) {
    assert.match((e as Error).message, 'this agent is not a mailing list');
  } finally {
    rpc.close();
  }

  // `stop` on the list's home stops only the hosted list; the owner's daemon goes on.
  const stopList = await runCli(['stop', '--home', listHome]);
  assert.is(stopList.code, 0, stopList.stderr);
  const stopped = await eventually(async () => {
    const hs = await O.json<HostedListView[]>(['list', 'hosted']);
    return hs.find((h) => h.name === 'friends' && !h.running);
  }, 10_000, 'the hosted list to stop');
  assert.equal(stopped.listen, []);
  const down = await O.cli(['list', 'members', 'friends']);
  assert.is(down.code, 3);
  assert.match(down.stderr, 'the list "friends" is not running');
  assert.is(O.proc.exitCode, null, 'the owner still runs');

  // The owner's daemon starts its lists again when it starts, with their state.
  await O.restart();
  const back = await O.json<HostedListView[]>(['list', 'hosted']);
  assert.equal(back.map((h) => [h.name, h.running]), [['friends', true], ['news', true]]);
  const kept = (await O.json<ListMemberView[]>(['list', 'members', 'friends'])).find((m) => m.entity === M.entity);
  assert.is(kept?.state, 'banned');
  // … and stops them when it stops.
  await O.stop();
  const gone = await O.cli(['list', 'members', 'friends']);
  assert.is(gone.code, 3, gone.stderr);
  assert.not.ok(fs.existsSync(path.join(listHome, 'api.sock')), 'the list\'s socket is gone');
});

test.run();
