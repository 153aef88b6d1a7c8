/**
 * Onion mode over real daemons and real TCP: seven agents in a line A–B–C–D–E–F–G, each
 * linked to its neighbours by invites. A sends to G through five relays with
 * `wotrelay send --onion --hops 5`. The five relays run with the test-only frame tap
 * (WOTRELAY_FRAME_TAP, agent/daemon/tap.ts): every application frame each of them received
 * and sent, decrypted from the link, is checked for A's and G's ids and keys and the text —
 * none may appear — and every onion layer they handled must have one length. Then a trusted
 * neighbour of C hands C a replayed, a tampered, a foreign, a truncated, a re-classed and a
 * reordered layer and one with a non-canonical key over a raw link (hardening cases 8 and
 * 2): each is dropped and counted by C, which answers nothing but a HOLD to the replay and
 * keeps serving.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { immediateSigner } from '../../agent/core/batch.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ONION_SIZES, randomBytes } from '../../agent/crypto/index.js';
import { signHop } from '../../agent/core/path.js';
import { readFrameTap } from '../../agent/daemon/tap.js';
import { createIdentity, decodeEntityId, encodeEntityId, type Identity } from '../../agent/identity/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import { decodeMessage, encodeMessage } from '../../agent/wire/index.js';
import type { Onion, WireMessage } from '../../agent/wire/types.js';
import type { InboxItem, ProgressItem, SendResult, StatusResult } from '../../agent/api/methods.js';
import { RawPeer } from '../helpers/rawpeer.js';
import { eventually, link, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

const NAMES = ['A', 'B', 'C', 'D', 'E', 'F', 'G'];
const RELAYS = ['B', 'C', 'D', 'E', 'F'];
const TEXT = 'meet at the old mill at nine, bring the maps';
let tapDir = '';
const tapOf = (name: string) => path.join(tapDir, `${name}.tap`);
const agents: Record<string, TestAgent> = {};
const tmpDirs: string[] = [];

test.before(async () => {
  tapDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-tap-'));
  tmpDirs.push(tapDir);
  // Short ring waits: discovery over six hops on loopback need not take ten seconds.
  const config = { core: { ringWaitPerHopMs: 60 } };
  const started = await Promise.all(NAMES.map((n) => startAgent(n, RELAYS.includes(n) ? { config, env: { WOTRELAY_FRAME_TAP: tapOf(n) } } : { config })));
  started.forEach((a, i) => (agents[NAMES[i]!] = a));
  await Promise.all(NAMES.slice(0, -1).map((n, i) => link(agents[n]!, agents[NAMES[i + 1]!]!, { aName: n, bName: NAMES[i + 1]! })));
});

test.after(async () => {
  await stopAll();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

test('A sends to G through five relays as an onion; no relay sees who, to whom or what, and every layer has one length', async () => {
  const A = agents['A']!;
  const G = agents['G']!;
  // Discovery asks the network who reaches G; the onion send afterwards hides everything.
  const d = await A.json<{ routes: unknown[][] }>(['discover', G.entity, '--timeout', '20s']);
  assert.ok(d.routes.some((r) => r.length === 6), 'a route through the five relays');
  const offsets = Object.fromEntries(RELAYS.map((n) => [n, fs.existsSync(tapOf(n)) ? fs.statSync(tapOf(n)).size : 0]));
  const sent = await A.json<SendResult>(['send', G.entity, TEXT, '--onion', '--hops', '5', '--wait', '--timeout', '30s']);
  assert.is(sent.state, 'delivered');
  const inbox = await G.json<InboxItem[]>(['inbox']);
  const m = inbox.find((x) => x.id === sent.id);
  assert.ok(m, 'G has it');
  assert.is(m!.text, TEXT);
  assert.is(m!.from, A.entity, 'G knows the sender from its signature');
  assert.equal([m!.onion, m!.path], [true, []], 'and no path');
  const steps = await eventually(async () => {
    const t = await A.json<ProgressItem[]>(['track', sent.id]);
    const by = (who: string, st: string) => t.some((p) => p.reporter === agents[who]!.entity && p.status === st);
    return RELAYS.every((r) => by(r, 'forwarded')) && by('G', 'delivered') ? t : undefined;
  }, 15_000, 'a sealed report from every relay and the ack');
  assert.ok(steps.some((p) => p.status === 'sent' && /5 relays/.test(p.detail ?? '')));
  const human = await A.cli(['track', sent.id]);
  assert.match(human.stdout, 'forwarded');

  const needles: Array<[string, Buffer]> = [];
  for (const who of ['A', 'G']) {
    const entity = decodeEntityId(agents[who]!.entity);
    const status = await agents[who]!.json<StatusResult>(['status']);
    needles.push([`${who} entity key`, Buffer.from(entity)], [`${who} entity id`, Buffer.from(agents[who]!.entity)], [`${who} agent id`, Buffer.from(status.agent)]);
  }
  const agentKeyOf = async (who: string) => {
    const peers = await agents[who === 'A' ? 'B' : 'F']!.json<Array<{ entity: string; agent: string }>>(['peers']);
    return peers.find((p) => p.entity === agents[who]!.entity)!.agent;
  };
  needles.push(['A agent id (as B sees it)', Buffer.from(await agentKeyOf('A'))], ['G agent id (as F sees it)', Buffer.from(await agentKeyOf('G'))]);
  needles.push(['the text', Buffer.from(TEXT)], ['a piece of the text', Buffer.from('old mill')]);
  const onionLengths = new Set<number>();
  const backLengths = new Set<number>();
  for (const r of RELAYS) {
    const records = readFrameTap(tapOf(r));
    const bytesBefore = offsets[r]!;
    let pos = 0;
    const handled = { in: 0, out: 0 };
    for (const rec of records) {
      const at = pos;
      pos += 37 + rec.frame.length;
      if (at < bytesBefore) continue;
      for (const [what, needle] of needles) assert.not.ok(Buffer.from(rec.frame).includes(needle), `${r} ${rec.dir}: ${what} in a frame`);
      const msg: WireMessage = decodeMessage(rec.frame);
      if (msg.t === MsgType.ONION) {
        onionLengths.add(msg.o.length);
        onionLengths.add(rec.frame.length);
        handled[rec.dir] += 1;
      }
      if (msg.t === MsgType.ONION_BACK) backLengths.add(rec.frame.length);
    }
    assert.equal(handled, { in: 1, out: 1 }, `${r} took one onion and handed one on`);
  }
  assert.is(onionLengths.size, 2, `one packet length and one frame length on every link: ${[...onionLengths].join(', ')}`);
  assert.is(backLengths.size, 1, 'every report and the ack one length');
});

test('case 8 (and 2) on a real relay: a trusted neighbour hands it replayed, tampered, foreign, truncated, re-classed and reordered layers and one with a non-canonical key — each dropped and counted, nothing answered but a HOLD to the replay; the relay keeps serving', async () => {
  const C = agents['C']!;
  const inAt = (r: string) => readFrameTap(tapOf(r)).map((x) => ({ ...x, msg: decodeMessage(x.frame) })).filter((x) => x.dir === 'in' && x.msg.t === MsgType.ONION);
  const atC = (inAt('C')[0]!.msg as Onion).o;
  const atB = (inAt('B')[0]!.msg as Onion).o;
  // Mallory: an agent C trusts, talking to C over a raw link.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-mallory-'));
  tmpDirs.push(home);
  const mallory: Identity = createIdentity(home, Date.now());
  await C.json(['trust', 'add', encodeEntityId(mallory.entityPub), '--name', 'mallory']);
  const p = await RawPeer.connect(C.addr);
  assert.ok(await p.handshake({ agentSeed: mallory.agent.seed, certBytes: mallory.certBytes }));
  const cEntity = decodeEntityId(C.entity);
  const hand = (o: Uint8Array): Onion => {
    const id = randomBytes(16);
    return { t: MsgType.ONION, id, o, s: signHop(immediateSigner(mallory.agent), mallory.certBytes, { id, body: o, hops: [] }, cEntity).s };
  };
  const metrics = async () => (await C.json<StatusResult>(['status'])).metrics;
  const before = await metrics();
  const flipped = Uint8Array.from(atC);
  flipped[777] ^= 0x10;
  // Grown to the next size class (zeros appended), and two 32-byte blocks of the routing
  // header swapped: the sizes are valid, the MAC is not.
  const reclassed = new Uint8Array(ONION_SIZES[ONION_SIZES.indexOf(atC.length) + 1]!);
  reclassed.set(atC);
  const reordered = Uint8Array.from(atC);
  reordered.set(atC.subarray(64, 96), 32);
  reordered.set(atC.subarray(32, 64), 64);
  // The layer's own ephemeral key, with the top bit set: the same point to node:crypto.
  const nonCanonical = Uint8Array.from(atC);
  nonCanonical[31]! |= 0x80;
  const replay = hand(atC);
  const bad = [replay, hand(flipped), hand(atB), hand(atC.subarray(0, atC.length - 64)), hand(reclassed), hand(reordered), hand(nonCanonical)];
  for (const m of bad) p.sendMessagesRaw([encodeMessage(m)]);
  const after = await eventually(async () => {
    const m = await metrics();
    const grew = (k: string, n: number) => (m[k] ?? 0) - (before[k] ?? 0) === n;
    return grew('dropped.onion-replay', 1) && grew('dropped.onion-mac', 4) && grew('dropped.onion-size', 1) && grew('dropped.onion-key', 1) ? m : undefined;
  }, 10_000, 'C to count each bad layer');
  assert.is((after['relay.accepted'] ?? 0) + (after['onion.relayed'] ?? 0), (before['relay.accepted'] ?? 0) + (before['onion.relayed'] ?? 0), 'nothing relayed');
  // Answers: only the HOLD for the replay (custody is C's already); nothing for the others.
  const answers: WireMessage[] = [];
  for (let i = 0; i < 3; i++) {
    const got = await p.readMessages(700).catch(() => null);
    if (!got) break;
    answers.push(...got.filter((m) => m.t !== MsgType.PING && m.t !== MsgType.ANNOUNCE));
  }
  assert.equal(answers.map((m) => m.t), [MsgType.HOLD]);
  assert.ok(answers[0]!.t === MsgType.HOLD && Buffer.from(answers[0]!.id).equals(Buffer.from(replay.id)));
  assert.not.ok(p.closed, 'the link stays open: an onion that does not open is not a protocol error');
  p.destroy();
  // C still relays: A sends again through the same relays.
  const again = await agents['A']!.json<SendResult>(['send', agents['G']!.entity, 'still working', '--onion', '--hops', '5', '--wait', '--timeout', '30s']);
  assert.is(again.state, 'delivered');
});

test.run();
