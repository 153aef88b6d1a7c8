/**
 * Invite redemption under attack, against a real inviter daemon (test/ADVERSARIAL.md case 10):
 * acceptors racing for the same code (real daemons through the CLI, and in-process links
 * redeeming at the same instant), redemption after the inviter was killed and restarted, and
 * after expiry (the server's own check, not only the CLI's). Exactly the allowed number of
 * redemptions succeed, and each is committed before WELCOME: kill -9 right after the
 * acceptor hears WELCOME loses nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import net from 'node:net';
import path from 'node:path';
import { generateBoxKey, generateSigningKey } from '../../agent/crypto/index.js';
import { decodeInvite, encodeEntityId, issueCert } from '../../agent/identity/index.js';
import { Link, type CloseInfo } from '../../agent/link/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import type { TrustEntryView } from '../../agent/api/methods.js';
import { startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

let inviter: TestAgent;
let x: TestAgent;
let y: TestAgent;

test.before(async () => {
  [inviter, x, y] = await Promise.all([startAgent('inv-inviter'), startAgent('inv-x'), startAgent('inv-y')]);
});

test.after(async () => {
  await stopAll();
});

function usesLeft(): Array<{ uses_left: number; uses_total: number }> {
  const db = new Database(path.join(inviter.home, 'wotrelay.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT uses_left, uses_total FROM invites ORDER BY created_at').all() as Array<{ uses_left: number; uses_total: number }>;
  } finally {
    db.close();
  }
}

/** Redeems `code` from a fresh in-process identity; resolves 'welcomed' or the close code. */
function redeem(code: string): Promise<{ outcome: string; entity: string }> {
  const inv = decodeInvite(code);
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const now = Date.now();
  const certBytes = issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: now - 60_000, notAfter: now + 86400_000, seq: 1 });
  const [host, port] = [inv.addrs[0]!.slice(0, inv.addrs[0]!.lastIndexOf(':')), Number(inv.addrs[0]!.slice(inv.addrs[0]!.lastIndexOf(':') + 1))];
  const l = Link.initiate(net.connect({ host, port }), {
    identity: { agentSeed: agent.seed, agentPub: agent.publicKey, entityPub: entity.publicKey, certBytes },
    gate: () => ({ ok: true }),
    expectEntity: inv.entity,
    inviteSecret: inv.secret,
  });
  return new Promise((resolve) => {
    l.on('message', (m) => {
      if (m.t === MsgType.WELCOME) {
        resolve({ outcome: 'welcomed', entity: encodeEntityId(entity.publicKey) });
        l.close();
      }
    });
    l.on('close', (c: CloseInfo) => resolve({ outcome: c.code, entity: encodeEntityId(entity.publicKey) }));
  });
}

test('case 10: two daemons accepting one single-use invite at the same time → exactly one succeeds; it is committed before WELCOME (kill -9 right after loses nothing); after a restart the code stays used', async () => {
  const { code } = await inviter.json<{ code: string }>(['invite', '--uses', '1']);
  const [rx, ry] = await Promise.all([x.cli(['accept', code, '--name', 'inviter', '--json']), y.cli(['accept', code, '--name', 'inviter', '--json'])]);
  const winners = [rx, ry].filter((r) => r.code === 0);
  const losers = [rx, ry].filter((r) => r.code !== 0);
  assert.is(winners.length, 1, `exactly one accept succeeds: ${rx.code}/${ry.code}`);
  assert.is(losers[0]!.code, 1);
  assert.match(losers[0]!.stderr, /already used|ERR_INVITE_USED/);
  const winner = rx.code === 0 ? x : y;
  // The acceptor returned after WELCOME: kill the inviter at once; the redemption must be on disk.
  await inviter.crash();
  await inviter.restart();
  const trust = await inviter.json<TrustEntryView[]>(['trust', 'list']);
  const entry = trust.find((t) => t.entity === winner.entity);
  assert.ok(entry && entry.how === 'invite' && entry.state === 'active', 'the winner is trusted after kill -9');
  assert.not.ok(trust.some((t) => t.entity === (winner === x ? y : x).entity), 'the loser is not');
  assert.equal(usesLeft().at(-1), { uses_left: 0, uses_total: 1 });
  const again = await redeem(code);
  assert.is(again.outcome, 'ERR_INVITE_USED', 'after the restart the code is still used');
});

test('case 10: eight in-process acceptors redeeming a 3-use invite at the same instant → exactly 3 welcomed, 5 told ERR_INVITE_USED', async () => {
  const { code } = await inviter.json<{ code: string }>(['invite', '--uses', '3']);
  const results = await Promise.all(Array.from({ length: 8 }, () => redeem(code)));
  const welcomed = results.filter((r) => r.outcome === 'welcomed');
  assert.is(welcomed.length, 3, JSON.stringify(results.map((r) => r.outcome)));
  assert.ok(results.filter((r) => r.outcome !== 'welcomed').every((r) => r.outcome === 'ERR_INVITE_USED'));
  const trust = await inviter.json<TrustEntryView[]>(['trust', 'list']);
  for (const w of welcomed) assert.ok(trust.some((t) => t.entity === w.entity && t.how === 'invite'));
  assert.is(trust.filter((t) => results.some((r) => r.entity === t.entity)).length, 3, 'no loser was trusted');
  assert.equal(usesLeft().at(-1), { uses_left: 0, uses_total: 3 });
});

test('case 10: a 2-use invite used once, the inviter restarted, used again → ok, and a third time → ERR_INVITE_USED', async () => {
  const { code } = await inviter.json<{ code: string }>(['invite', '--uses', '2']);
  assert.is((await redeem(code)).outcome, 'welcomed');
  await inviter.restart();
  assert.is((await redeem(code)).outcome, 'welcomed', 'the remaining use survived the restart');
  assert.is((await redeem(code)).outcome, 'ERR_INVITE_USED');
});

test('case 10: after expiry the inviter itself refuses (ERR_INVITE_EXPIRED), not only the acceptor\'s CLI', async () => {
  const { code } = await inviter.json<{ code: string }>(['invite', '--uses', '5', '--expires', '1s']);
  await new Promise((r) => setTimeout(r, 1_500));
  const r = await x.cli(['accept', code]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /expired/);
  const raw = await redeem(code); // bypasses the CLI's own check
  assert.is(raw.outcome, 'ERR_INVITE_EXPIRED');
  assert.equal(usesLeft().at(-1), { uses_left: 5, uses_total: 5 }, 'no use was spent');
});

test.run();
