/**
 * `npm run demo`: real agents on loopback in temporary homes. Alice invites Bob, Bob
 * invites Carol, Carol invites Dave; they exchange end-to-end encrypted, signed messages;
 * Alice reaches Dave, whom she has never met, over three hops found by route discovery,
 * watches the signed hop reports arrive, and Dave sees the verified path; a stranger is
 * turned away. Prints what happens at each step and exits 0 (non-zero if a step fails).
 */
import type { InboxItem, ProgressItem, SendResult, StatusResult, TrustEntryView } from '../../agent/api/methods.js';
import { startAgent, stopAll, eventually, type TestAgent } from '../helpers/testnet.js';

const say = (s: string) => process.stdout.write(s + '\n');
const short = (id: string) => id.slice(0, 14) + '…';

async function invite(from: TestAgent, to: TestAgent, fromName: string, toName: string): Promise<void> {
  const inv = await from.json<{ code: string }>(['invite', '--uses', '1', '--expires', '10m']);
  say(`  ${from.name} runs: wotrelay invite           → ${inv.code.slice(0, 60)}…`);
  await to.json(['accept', inv.code, '--name', fromName]);
  await from.json(['trust', 'add', to.entity, '--name', toName]);
  say(`  ${to.name} runs: wotrelay accept <code> --name ${fromName}  → both now trust each other`);
}

async function sendAndShow(from: TestAgent, to: TestAgent, toName: string, text: string): Promise<void> {
  const r = await from.json<SendResult>(['send', toName, text, '--wait']);
  say(`  ${from.name} → ${toName}: "${text}"  [message ${r.id.slice(0, 8)}… ${r.state}]`);
  const inbox = await eventually(async () => {
    const items = await to.json<InboxItem[]>(['inbox']);
    return items.find((m) => m.id === r.id);
  }, 10_000, 'the message to arrive');
  const path = inbox.path.map((h) => h.name ?? h.fingerprint).join(' → ');
  say(`  ${to.name}'s inbox: from ${inbox.fromName ?? inbox.fromFingerprint}, verified path ${path} → ${to.name}: "${inbox.text}"`);
}

async function main(): Promise<void> {
  say('wotrelay demo: four agents on 127.0.0.1, each in its own temporary home\n');
  const [alice, bob, carol, dave, mallory] = await Promise.all([
    startAgent('alice'),
    startAgent('bob'),
    startAgent('carol'),
    startAgent('dave'),
    startAgent('mallory'),
  ]);
  for (const a of [alice, bob, carol, dave]) say(`  ${a.name.padEnd(7)} ${short(a.entity)} listening on ${a.addr}`);

  say('\n1. Invitations build the web of trust: alice – bob – carol – dave');
  await invite(alice, bob, 'alice', 'bob');
  await invite(bob, carol, 'bob', 'carol');
  await invite(carol, dave, 'carol', 'dave');

  say('\n2. Direct messages: sealed to the recipient, signed by the sender, acknowledged when stored');
  await sendAndShow(alice, bob, 'bob', 'Hi Bob, it is Alice.');
  await sendAndShow(bob, alice, 'alice', 'Hello Alice!');
  await sendAndShow(carol, bob, 'bob', 'Bob, Carol here.');

  say('\n3. Alice writes to Dave, whom she has never met: route discovery, three hops (bob and carol relay)');
  const sent = await alice.json<SendResult>(['send', dave.entity, 'Hi Dave, Carol says you are great.', '--wait', '--timeout', '30s']);
  say(`  alice → ${short(dave.entity)}: [message ${sent.id.slice(0, 8)}… ${sent.state}]`);
  const steps = await eventually(async () => {
    const t = await alice.json<ProgressItem[]>(['track', sent.id]);
    return t.some((p) => p.status === 'delivered') && t.filter((p) => p.status === 'forwarded').length >= 2 ? t : undefined;
  }, 10_000, 'the hop reports');
  say('  alice\'s timeline, from signed reports walking back along the path:');
  const t0 = steps[0]!.at;
  for (const p of steps) say(`    +${((p.at - t0) / 1000).toFixed(3)}s  ${(p.reporterName ?? p.reporterFingerprint).padEnd(8)} ${p.status}`);
  const got = await eventually(async () => (await dave.json<InboxItem[]>(['inbox'])).find((m) => m.id === sent.id), 10_000, 'dave\'s copy');
  say(`  dave's inbox: verified path ${got.path.map((h) => h.name ?? h.fingerprint).join(' → ')} → dave: "${got.text}"`);
  say('  (dave knows only carol by name; the other hops show as fingerprints he can check)');

  say('\n4. A stranger cannot send: Mallory knows Alice\'s address but nobody invited her');
  await mallory.json(['trust', 'add', alice.entity, '--addr', alice.addr, '--name', 'alice']);
  const m = await mallory.json<SendResult>(['send', 'alice', 'buy now!', '--wait', '--timeout', '3s']);
  say(`  mallory → alice: state ${m.state} (never delivered)`);
  const st = await eventually(async () => {
    const s = await alice.json<StatusResult>(['status']);
    return (s.metrics['handshake.ERR_UNTRUSTED'] ?? 0) > 0 ? s : undefined;
  }, 10_000, 'alice to refuse mallory');
  say(`  alice refused ${st.metrics['handshake.ERR_UNTRUSTED']} untrusted handshake(s) before parsing any frame`);

  say('\n5. Trust lists');
  for (const a of [alice, bob, carol, dave]) {
    const t = await a.json<TrustEntryView[]>(['trust', 'list']);
    say(`  ${a.name.padEnd(6)} trusts: ${t.filter((x) => x.state === 'active').map((x) => `${x.petname ?? x.fingerprint} (${x.how})`).join(', ')}`);
  }
  say('\ndone: every message delivered exactly once, paths verified, the stranger turned away.');
}

main()
  .then(async () => {
    await stopAll();
    process.exit(0);
  })
  .catch(async (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    await stopAll();
    process.exit(1);
  });
