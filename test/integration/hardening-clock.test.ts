/**
 * Clock skew on real daemons (test/ADVERSARIAL.md case 18), with Debian's libfaketime
 * (`apt-get install faketime`; skipped, with the reason, without it). Against a reference
 * agent R on the real clock:
 *  - agents 10 minutes ahead and 10 minutes behind (identity and daemon) link, exchange
 *    messages both ways and have their announcements accepted: within the tolerance;
 *  - an agent a day ahead is refused at the handshake, and told why (CLOSE ERR_CERT_EXPIRED
 *    naming the refuser's clock), an agent a day behind refuses R's certificate itself and
 *    says so; an agent whose identity is sound but whose clock runs a day ahead links and
 *    talks, but its announcements are refused as clock skew;
 *  - an agent whose wall clock jumps a day back while running keeps its links (keepalive and
 *    timeouts run on the monotonic clock), notices the step, and still delivers.
 * The tolerance is PROTOCOL.md section 4 ("Clocks"); the sans-I/O side (retry schedules,
 * rate limits) is in test/unit/hardening.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InboxItem, PeerView, SendResult, StatusResult } from '../../agent/api/methods.js';
import type { RpcClient } from '../../agent/api/client.js';
import { eventually, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

const LIB = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'].find((p) => fs.existsSync(p));
/** Quick keepalive and idle timeout, so a clock-dependent timer would show within seconds. */
const FAST = { keepaliveMs: 500, idleTimeoutMs: 2_000, core: { retryBaseMs: 200, maxRetryMs: 2_000 } };

const faked = (offset: string): NodeJS.ProcessEnv => ({ LD_PRELOAD: LIB, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' });

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-clock-'));
const stamp = path.join(tmp, 'jump.rc');
let R: TestAgent;
let ahead: TestAgent;
let behind: TestAgent;
let dayAhead: TestAgent;
let dayBehind: TestAgent;
let drift: TestAgent;
let J: TestAgent;
let O: TestAgent;

test.before(async () => {
  if (!LIB) return;
  fs.writeFileSync(stamp, '+0\n');
  [R, ahead, behind, dayAhead, dayBehind, drift, J, O] = await Promise.all([
    startAgent('clock-R', { config: FAST }),
    startAgent('clock-plus10m', { env: faked('+10m'), config: FAST }),
    startAgent('clock-minus10m', { env: faked('-10m'), config: FAST }),
    startAgent('clock-plus1d', { env: faked('+1d') }),
    startAgent('clock-minus1d', { env: faked('-1d') }),
    // Identity made on the right clock, daemon running a day ahead.
    startAgent('clock-drift', { initEnv: {}, env: faked('+1d'), config: FAST }),
    // J and its partner O have identities made two days ago, so their certificates stay valid to J across its jump.
    startAgent('clock-jump', {
      initEnv: faked('-2d'),
      env: { LD_PRELOAD: LIB, FAKETIME_TIMESTAMP_FILE: stamp, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
      config: FAST,
    }),
    startAgent('clock-old', { initEnv: faked('-2d'), env: {}, config: FAST }),
  ]);
});

test.after(async () => {
  for (const c of clients.values()) c.close();
  await stopAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const clients = new Map<TestAgent, RpcClient>();
async function api(a: TestAgent): Promise<RpcClient> {
  let c = clients.get(a);
  if (!c) clients.set(a, (c = await a.rpc()));
  return c;
}
const status = async (a: TestAgent): Promise<StatusResult> => (await api(a)).call('status', {});
const metric = async (a: TestAgent, name: string) => (await status(a)).metrics[name] ?? 0;
const peers = async (a: TestAgent): Promise<PeerView[]> => (await api(a)).call('peers', {});
const trustAdd = async (a: TestAgent, entity: string, name: string) => (await api(a)).call('trust.add', { entity, name });

/** `a` redeems an invite of `ref` (valid a week, so a clock a day ahead does not see it expired). */
async function accept(a: TestAgent, name: string, ref: TestAgent = R) {
  const { code } = await ref.json<{ code: string }>(['invite', '--expires', '7d']);
  return a.cli(['accept', code, '--name', name, '--json']);
}

async function sendWait(from: TestAgent, to: string, text: string): Promise<SendResult> {
  const c = await api(from);
  const { id } = await c.call('send', { to, text });
  return c.call('send.wait', { id, until: 'delivered', timeoutMs: 15_000 });
}

async function roundTrip(a: TestAgent, aName: string, ref: TestAgent = R, refName = 'R'): Promise<void> {
  assert.is((await sendWait(a, refName, `hello from ${aName}`)).state, 'delivered', `${aName} → ${refName}`);
  assert.is((await sendWait(ref, aName, `hello ${aName}`)).state, 'delivered', `${refName} → ${aName}`);
}

test('case 18: ±10 minutes (identity and daemon) is within the tolerance: link, messages both ways, announcements accepted', async () => {
  if (!LIB) return void console.log('  skipping the clock-skew tests: libfaketime is not installed (apt-get install faketime)');
  const skew0 = await metric(R, 'dropped.ERR_BAD_FIELD');
  const learned0 = await metric(R, 'announce.learned');
  await Promise.all(
    ([[ahead, 'ahead'], [behind, 'behind']] as const).map(async ([a, name]) => {
      const r = await accept(a, 'R');
      assert.is(r.code, 0, `${name} accepted R's invite: ${r.stderr}`);
      await trustAdd(R, a.entity, name);
      await roundTrip(a, name);
    }),
  );
  await eventually(async () => (await metric(R, 'announce.learned')) >= learned0 + 2, 10_000, 'both announcements accepted');
  assert.is(await metric(R, 'dropped.ERR_BAD_FIELD'), skew0, 'no announcement refused for clock skew');
  assert.is(await metric(R, 'handshake.ERR_CERT_EXPIRED'), 0);
});

test('case 18: a day ahead or behind is refused at the handshake with a clear error on the skewed side', async () => {
  if (!LIB) return;
  // A day ahead: R (the responder) refuses its certificate ("not valid until tomorrow") and tells it so.
  const r1 = await accept(dayAhead, 'R');
  assert.is(r1.code, 1);
  assert.match(r1.stderr, /not valid until/);
  assert.match(r1.stderr, /check the clocks/);
  await eventually(async () => (await metric(R, 'handshake.ERR_CERT_EXPIRED')) >= 1, 10_000, 'R to count the refusal');
  assert.ok(R.log.some((l) => l.includes('handshake-refused-clock')), 'R logs it with the hint');
  // A day behind: R's certificate is "not valid until" tomorrow by its clock; it refuses R itself.
  const r2 = await accept(dayBehind, 'R');
  assert.is(r2.code, 1);
  assert.match(r2.stderr, /not valid until/);
  assert.ok(dayBehind.log.some((l) => l.includes('handshake-refused-clock') && l.includes('check the clock')), 'and logs why, with the hint');
  const linked = await peers(R);
  assert.not.ok(linked.some((p) => p.entity === dayAhead.entity || p.entity === dayBehind.entity), 'no link to either');
});

test('case 18: an agent whose identity is sound but whose clock runs a day ahead links and talks; its announcements are refused as clock skew', async () => {
  if (!LIB) return;
  const skew0 = await metric(R, 'dropped.ERR_BAD_FIELD');
  const r = await accept(drift, 'R');
  assert.is(r.code, 0, r.stderr);
  await trustAdd(R, drift.entity, 'drift');
  await roundTrip(drift, 'drift');
  await eventually(async () => (await metric(R, 'dropped.ERR_BAD_FIELD')) > skew0, 10_000, 'R to refuse the announcement');
  assert.ok(R.log.some((l) => l.includes('message-dropped') && l.includes('clock skew')), 'R says why');
});

test('case 18: a wall clock that jumps a day back while running: links stay up, the step is noticed, messages still flow; certificates issued within the last day are refused with a clear error', async () => {
  if (!LIB) return;
  for (const [ref, refName] of [[O, 'O'], [R, 'R']] as const) {
    const r = await accept(J, refName, ref);
    assert.is(r.code, 0, r.stderr);
    await trustAdd(ref, J.entity, 'jumper');
  }
  await roundTrip(J, 'jumper', O, 'O');
  const since = (await peers(J)).find((p) => p.entity === O.entity)!.since;
  fs.writeFileSync(stamp, '-1d\n');
  await eventually(async () => (await metric(J, 'clock.stepped-back')) >= 1, 10_000, 'J to notice the step');
  assert.ok(J.log.some((l) => l.includes('clock-stepped-back')), 'and log it');
  // Several idle timeouts (2 s) later the link is the same one: keepalive runs on the monotonic clock.
  await new Promise((res) => setTimeout(res, 3_000));
  const peer = (await peers(J)).find((p) => p.entity === O.entity);
  assert.ok(peer, 'still linked');
  assert.is(peer!.since, since, 'the same link, never dropped');
  await roundTrip(J, 'jumper', O, 'O');
  const inbox: InboxItem[] = await (await api(O)).call('inbox', { from: 'jumper' });
  assert.is(inbox.length, 2, 'both of J\'s messages arrived once');
  // R's certificate was issued minutes ago: a day "ahead" of J now. J refuses what R signs, and says why.
  const drops0 = await metric(J, 'dropped.ERR_CERT_EXPIRED');
  await (await api(R)).call('send', { to: 'jumper', text: 'from the future' });
  await eventually(async () => (await metric(J, 'dropped.ERR_CERT_EXPIRED')) > drops0, 10_000, 'J to refuse it');
  const st = await status(J);
  assert.ok(st.evidence!.recent.some((e) => e.code === 'ERR_CERT_EXPIRED' && /not valid until/.test(e.reason)), 'kept as evidence with the reason');
});

test.run();
