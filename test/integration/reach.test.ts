/**
 * Reachability between real daemons and a real directory server: an agent whose address
 * changes (it restarts on a new port) is found again, with no manual step, by a
 * neighbour (from the signed announcement it sends when it reconnects) and by a third
 * agent that only knows its entity id (through the directory server).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SendResult, TrustEntryView } from '../../agent/api/methods.js';
import { eventually, link, startAgent, stopAll, type TestAgent } from '../helpers/testnet.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIRECTORY = path.resolve(here, '../../directory-server/main.js');

let dir: ChildProcess;
let dirUrl = '';
let tmp = '';
let X: TestAgent, Y: TestAgent, Z: TestAgent;

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-reach-'));
  dir = spawn(process.execPath, [DIRECTORY, '--listen', '127.0.0.1:0', '--store', `sqlite:${path.join(tmp, 'dir.db')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  dirUrl = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`directory did not start: ${out}`)), 15_000);
    const on = (d: Buffer) => {
      out += d.toString();
      const m = /listening addr=(\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(`http://${m[1]}`);
      }
    };
    dir.stdout!.on('data', on);
    dir.stderr!.on('data', on);
  });
  const config = { directories: [dirUrl] };
  [X, Y, Z] = await Promise.all([startAgent('X', { config }), startAgent('Y', { config }), startAgent('Z', { config })]);
  await link(X, Y, { aName: 'X', bName: 'Y' });
  // Z knows X only by its entity id; X trusts Z back.
  await Z.json(['trust', 'add', X.entity, '--name', 'X']);
  await X.json(['trust', 'add', Z.entity, '--name', 'Z']);
});

test.after(async () => {
  await stopAll();
  dir?.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the directory server holds each agent\'s signed announcement', async () => {
  const rec = await eventually(async () => {
    const r = await fetch(`${dirUrl}/v1/records/${X.entity}?format=json`);
    return r.status === 200 ? ((await r.json()) as { addrs: string[] }) : undefined;
  }, 10_000, 'X to publish');
  assert.equal(rec.addrs, [X.addr]);
});

test('a third agent that knows only the entity id reaches it through the directory', async () => {
  const sent = await Z.json<SendResult>(['send', 'X', 'found you via the directory', '--wait', '--timeout', '20s']);
  assert.is(sent.state, 'delivered');
});

test('after an address change, the neighbour and the third agent reach it again with no manual step', async () => {
  const oldAddr = X.addr;
  await Z.json(['stop']).catch(() => undefined); // Z is offline while X moves
  await X.restart('127.0.0.1:0');
  assert.is.not(X.addr, oldAddr, 'X came back on a new address');
  // The neighbour: X reconnects and announces itself; Y learns the new address.
  await eventually(async () => {
    const t = await Y.json<TrustEntryView[]>(['trust', 'list']);
    return t.find((e) => e.entity === X.entity)?.addr === X.addr;
  }, 20_000, 'Y to learn X\'s new address');
  const fromY = await Y.json<SendResult>(['send', 'X', 'hello at your new address', '--wait', '--timeout', '20s']);
  assert.is(fromY.state, 'delivered');
  // The third agent: still has the old address; the directory has the new one. Z comes
  // back on a new address itself, so X cannot dial it: only the directory can help.
  await Z.restart('127.0.0.1:0');
  await eventually(async () => {
    const r = await fetch(`${dirUrl}/v1/records/${X.entity}?format=json`);
    return r.status === 200 && ((await r.json()) as { addrs: string[] }).addrs[0] === X.addr;
  }, 10_000, 'the directory to hold the new address');
  const fromZ = await Z.json<SendResult>(['send', 'X', 'and me too', '--wait', '--timeout', '30s']);
  assert.is(fromZ.state, 'delivered');
  const st = await Z.json<{ metrics: Record<string, number> }>(['status']);
  assert.ok((st.metrics['directory.lookup.200'] ?? 0) >= 1, 'Z asked the directory');
});

test.run();
