/**
 * `wotrelay mailbox add / list / remove` between two real daemons: Bob names the agent he
 * calls "mbox" as his mailbox; both sides list it (Bob under "your mailboxes", mbox under
 * "mailboxes you host" once Bob's announcement reaches it), and `status` counts it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HostedMailboxView, MailboxView, StatusResult } from '../../agent/api/methods.js';
import { eventually, link, startAgent, stopAll } from '../helpers/testnet.js';

interface Lists {
  mine: MailboxView[];
  hosted: HostedMailboxView[];
}

test.after(async () => {
  await stopAll();
});

test('mailbox add names a mailbox; both sides list it; status counts it; remove takes it off the list', async () => {
  const [B, M] = await Promise.all([startAgent('bob'), startAgent('mbox')]);
  await link(M, B, { aName: 'mbox', bName: 'bob' });

  const added = await B.cli(['mailbox', 'add', 'mbox']);
  assert.is(added.code, 0, added.stderr);
  assert.match(added.stdout, /^mbox \([A-Z2-7-]+\) is now one of your mailboxes/);

  const mine = await eventually(async () => {
    const l = await B.json<Lists>(['mailbox', 'list']);
    return l.mine.find((m) => m.entity === M.entity && m.connected);
  }, 15_000, 'Bob to list mbox as his connected mailbox');
  assert.is(mine.petname, 'mbox');

  const hosted = await eventually(async () => {
    const l = await M.json<Lists>(['mailbox', 'list']);
    return l.hosted.find((h) => h.owner === B.entity);
  }, 15_000, "mbox to open Bob's account after his announcement");
  assert.is(hosted.petname, 'bob');
  assert.is(hosted.messages, 0);
  assert.ok(hosted.since > 0);

  const text = await M.cli(['mailbox', 'list']);
  assert.is(text.code, 0, text.stderr);
  const [own, host] = text.stdout.split('\nmailboxes you host\n') as [string, string | undefined];
  assert.match(own, 'your mailboxes\n  none');
  assert.ok(host !== undefined && /bob\s+[A-Z2-7-]+\s+0\s+0 bytes/.test(host), text.stdout);
  const btext = await B.cli(['mailbox', 'list']);
  assert.match(btext.stdout, /mbox\s+[A-Z2-7-]+\s+yes\s+wot1/);

  const bs = await B.json<StatusResult>(['status']);
  assert.equal(bs.mailboxes, { mine: 1, hosted: 0 });
  const ms = await M.json<StatusResult>(['status']);
  assert.equal(ms.mailboxes, { mine: 0, hosted: 1 });
  assert.is(ms.queues.relay.messages, 0);

  // Errors from the daemon: exit 1 with message and hint.
  const nobody = await B.cli(['mailbox', 'add', 'nobody']);
  assert.is(nobody.code, 1);
  assert.match(nobody.stderr, 'wotrelay: nobody in your trust list is called "nobody"');
  assert.match(nobody.stderr, '\nhint: ');

  const removed = await B.cli(['mailbox', 'remove', M.entity]);
  assert.is(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, 'is no longer your mailbox; you have none left');
  assert.equal((await B.json<Lists>(['mailbox', 'list'])).mine, []);
  const again = await B.cli(['mailbox', 'remove', 'mbox']);
  assert.is(again.code, 1);
  assert.match(again.stderr, 'is not one of your mailboxes');
  assert.match(again.stderr, 'hint: wotrelay mailbox list shows them');
});

test.run();
