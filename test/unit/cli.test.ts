/**
 * The `wotrelay` and `wotrelay-directory` binaries as a user meets them, without a daemon:
 * help, argument errors (exit 2 with "try:"), a home with no daemon (exit 3), init.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../../agent/cli/help.js';
import { RpcServer, type Handlers } from '../../agent/api/server.js';
import type { InboxItem, TrustEntryView } from '../../agent/api/methods.js';
import { socketPath } from '../../agent/daemon/paths.js';
import { WotError } from '../../agent/wire/errors.js';
import { decodeEntityId, encodeEntityId } from '../../agent/identity/index.js';
import { runCli, type CliResult } from '../helpers/testnet.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIRECTORY = path.resolve(here, '../../directory-server/main.js');

const dirs: string[] = [];
function tmpHome(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-cli-'));
  dirs.push(d);
  return d;
}

/** Runs the CLI with a private default home, so nothing touches the real one. */
let fallbackHome = '';
function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { env: { WOTRELAY_HOME: fallbackHome } });
}

function runDirectory(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DIRECTORY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test.before(() => {
  fallbackHome = tmpHome();
});

test.after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('--help exits 0 and lists every command with its summary', async () => {
  const r = await cli(['--help']);
  assert.is(r.code, 0, r.stderr);
  for (const c of COMMANDS) {
    assert.match(r.stdout, c.name, `lists ${c.name}`);
    assert.match(r.stdout, c.summary, `summary of ${c.name}`);
  }
  assert.match(r.stdout, '--home DIR');
  assert.match(r.stdout, '--json');
});

test('<command> --help prints that command\'s usage and options (exit 0)', async () => {
  const r = await cli(['invite', '--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, 'usage: wotrelay invite [--uses N] [--expires DURATION]');
  const t = await cli(['trust', 'add', '-h']);
  assert.is(t.code, 0);
  assert.match(t.stdout, 'usage: wotrelay trust add <entity-id>');
  const g = await cli(['trust', '--help']);
  assert.is(g.code, 0);
  assert.match(g.stdout, 'trust revoke');
});

test('--version prints the version', async () => {
  const r = await cli(['--version']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /^wotrelay \d+\.\d+\.\d+/);
});

test('an unknown command exits 2 and says so, with what to try', async () => {
  const r = await cli(['bogus-command']);
  assert.is(r.code, 2);
  assert.match(r.stderr, 'wotrelay: unknown command "bogus-command"');
  assert.match(r.stderr, 'try: ');
  const near = await cli(['stauts']);
  assert.is(near.code, 2);
  assert.match(near.stderr, 'did you mean: wotrelay status');
});

test('invite --uses abc exits 2 naming the option and the expected value', async () => {
  const r = await cli(['invite', '--uses', 'abc']);
  assert.is(r.code, 2);
  assert.match(r.stderr, 'wotrelay: --uses needs a whole number, not "abc"');
  assert.match(r.stderr, 'try: ');
});

test('bad values and unknown options are argument errors (exit 2)', async () => {
  const cases: Array<[string[], string]> = [
    [['init', '--listen', 'nohost'], '--listen'],
    [['invite', '--expires', '10'], 'no unit'],
    [['status', '--frob'], 'unknown option --frob'],
    [['trust'], 'trust needs a subcommand'],
    [['trust', 'remove', 'x'], 'unknown subcommand "trust remove"'],
    [['send'], 'missing argument <entity-id|petname>'],
    [['send', 'alice'], 'nothing to send'],
    [['send', 'alice', '--file', '/nonexistent/file'], 'no such file'],
    [['status', 'extra'], 'unexpected argument "extra"'],
    [[], 'no command given'],
  ];
  for (const [args, expected] of cases) {
    const r = await cli(args);
    assert.is(r.code, 2, `wotrelay ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, expected, `wotrelay ${args.join(' ')}`);
  }
});

test('trust add not-an-id exits 2 with the id decoder\'s message', async () => {
  let decoderMessage = '';
  try {
    decodeEntityId('not-an-id');
  } catch (e) {
    decoderMessage = (e as Error).message;
  }
  assert.ok(decoderMessage, 'the decoder refuses it');
  const r = await cli(['trust', 'add', 'not-an-id']);
  assert.is(r.code, 2);
  assert.match(r.stderr, 'wotrelay: the entity id "not-an-id" is not a valid entity id');
  assert.match(r.stderr, decoderMessage);
});

test('status with a fresh empty home exits 3: not running, and says to init first', async () => {
  const home = tmpHome();
  const r = await cli(['status', '--home', home]);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, `wotrelay: the wotrelay daemon is not running for home ${home}`);
  assert.match(r.stderr, `hint: ${home} has no identity yet: create one with: wotrelay init --home ${home}`);
});

test('init creates the identity and config.json, prints the next step, and refuses a second time', async () => {
  const home = path.join(tmpHome(), 'h');
  const r = await cli(['init', '--home', home, '--listen', '127.0.0.1:0', '--addr', '192.0.2.1:7117', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { entity: string; fingerprint: string; home: string };
  assert.is(out.home, home);
  assert.is(encodeEntityId(decodeEntityId(out.entity)), out.entity);
  assert.match(out.fingerprint, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(home, 'config.json'), 'utf8')), { listen: '127.0.0.1:0', addrs: ['192.0.2.1:7117'] });
  const again = await cli(['init', '--home', home]);
  assert.is(again.code, 1);
  assert.match(again.stderr, 'already has an identity');
  assert.match(again.stderr, 'hint: ');
  // An initialised home without a daemon: exit 3 and how to start it.
  const s = await cli(['status', '--home', home]);
  assert.is(s.code, 3);
  assert.match(s.stderr, `hint: start it with: wotrelay daemon --home ${home}`);
  // Human init output names the next step.
  const home2 = path.join(tmpHome(), 'h2');
  const h = await cli(['init', '--home', home2]);
  assert.is(h.code, 0, h.stderr);
  assert.match(h.stdout, 'fingerprint');
  assert.match(h.stdout, `wotrelay daemon --home ${home2}`);
  assert.equal(JSON.parse(fs.readFileSync(path.join(home2, 'config.json'), 'utf8')), { listen: '0.0.0.0:7117', addrs: [] });
});

test('trust add with a valid id shows the fingerprint check before needing the daemon', async () => {
  const id = encodeEntityId(new Uint8Array(32).fill(9));
  const r = await cli(['trust', 'add', id, '--home', tmpHome()]);
  assert.is(r.code, 3);
  assert.match(r.stdout, 'check this fingerprint with the person (read it aloud) before trusting');
});

test('a mistyped invite code is a bad argument: exit 2 before contacting the daemon', async () => {
  const r = await cli(['accept', 'wotrelay:invite?v=1&e=x&c=00', '--home', tmpHome()]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /^wotrelay: /);
});

/** A stand-in daemon: an RpcServer with canned answers on the home's socket. */
async function fakeDaemon(home: string, handlers: Partial<Handlers>): Promise<RpcServer> {
  const none = () => {
    throw new WotError('ERR_INTERNAL', 'not in this test');
  };
  const all = Object.fromEntries(
    ['status', 'id', 'peers', 'trust.add', 'trust.revoke', 'trust.list', 'invite.create', 'invite.accept', 'send', 'send.wait', 'inbox', 'inbox.get', 'outbox', 'track', 'follow', 'complain', 'discover', 'watch', 'shutdown'].map((m) => [m, none]),
  );
  const server = new RpcServer({ ...all, ...handlers } as Handlers);
  await server.listen(socketPath(home));
  return server;
}

const BOB = encodeEntityId(new Uint8Array(32).fill(3));
const CAROL = encodeEntityId(new Uint8Array(32).fill(4));

test('inbox: time, sender, the verified path with petnames, text or [file …]; control characters neutralised; --json is raw', async () => {
  const home = tmpHome();
  const items: InboxItem[] = [
    {
      id: 'a'.repeat(32), from: BOB, fromName: 'bob', fromFingerprint: 'BBBB-BBBB-BBBB-BBBB', receivedAt: Date.now() - 120_000, sentAt: 0,
      kind: 'text', text: 'hi \u001b[31mthere\nsecond line', size: 10,
      path: [{ entity: BOB, name: 'bob', fingerprint: 'BBBB-BBBB-BBBB-BBBB' }, { entity: CAROL, name: null, fingerprint: 'CCCC-CCCC-CCCC-CCCC' }], seq: 1,
    },
    {
      id: 'b'.repeat(32), from: CAROL, fromName: null, fromFingerprint: 'CCCC-CCCC-CCCC-CCCC', receivedAt: Date.now(), sentAt: 0,
      kind: 'file', name: 'notes.txt', size: 1234, path: [{ entity: CAROL, name: null, fingerprint: 'CCCC-CCCC-CCCC-CCCC' }], seq: 2,
    },
  ];
  const seen: unknown[] = [];
  const server = await fakeDaemon(home, { inbox: (p) => (seen.push(p), items) });
  try {
    const r = await cli(['inbox', '--home', home, '--from', 'bob', '--limit', '5']);
    assert.is(r.code, 0, r.stderr);
    assert.equal(seen[0], { from: 'bob', limit: 5 });
    assert.match(r.stdout, 'from bob (BBBB-BBBB-BBBB-BBBB)');
    assert.match(r.stdout, 'path: bob → CCCC-CCCC-CCCC-CCCC → you');
    assert.match(r.stdout, '(2m ago)');
    assert.match(r.stdout, '  second line');
    assert.not.match(r.stdout, '\u001b', 'no raw escape reaches the terminal');
    assert.match(r.stdout, 'from CCCC-CCCC-CCCC-CCCC');
    assert.match(r.stdout, '[file notes.txt, 1234 bytes]');
    const j = await cli(['inbox', '--json', '--home', home]);
    assert.is(j.code, 0);
    assert.equal(JSON.parse(j.stdout), items);
  } finally {
    await server.close();
  }
});

test('trust list as an aligned table; daemon errors print message and hint (exit 1)', async () => {
  const home = tmpHome();
  const entry: TrustEntryView = { entity: BOB, fingerprint: 'BBBB-BBBB-BBBB-BBBB', petname: 'bob', how: 'invite', state: 'active', addr: '192.0.2.1:7117', addedAt: Date.now(), connected: true };
  const server = await fakeDaemon(home, {
    'trust.list': () => [entry, { ...entry, entity: CAROL, petname: null, fingerprint: 'CCCC-CCCC-CCCC-CCCC', addr: null, connected: false, how: 'manual' }],
    'trust.revoke': () => {
      throw new WotError('ERR_UNKNOWN_PEER', 'nobody called "zed" is trusted', 'see: wotrelay trust list');
    },
  });
  try {
    const r = await cli(['trust', 'list', '--home', home]);
    assert.is(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.is(lines.length, 3);
    assert.match(lines[0]!, /^NAME\s+FINGERPRINT\s+STATE/);
    const col = lines[0]!.indexOf('FINGERPRINT');
    assert.is(lines[1]!.indexOf('BBBB-BBBB-BBBB-BBBB'), col, 'aligned');
    assert.is(lines[2]!.indexOf('CCCC-CCCC-CCCC-CCCC'), col, 'aligned');
    assert.match(lines[1]!, 'up');
    const e = await cli(['trust', 'revoke', 'zed', '--home', home]);
    assert.is(e.code, 1);
    assert.is(e.stderr, 'wotrelay: nobody called "zed" is trusted\nhint: see: wotrelay trust list\n');
  } finally {
    await server.close();
  }
});

test('daemon refuses to start when a daemon already answers for the home (exit 1), before listening', async () => {
  const home = path.join(tmpHome(), 'h');
  assert.is((await cli(['init', '--home', home, '--listen', '127.0.0.1:0'])).code, 0);
  const server = await fakeDaemon(home, {});
  try {
    const r = await cli(['daemon', '--home', home]);
    assert.is(r.code, 1);
    assert.match(r.stderr, `wotrelay: a daemon is already running for ${home}`);
    assert.not.match(r.stdout, 'listening');
  } finally {
    await server.close();
  }
});

test('wotrelay-directory --help documents its flags; bad flags exit 2', async () => {
  const r = await runDirectory(['--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, 'where is X?');
  assert.match(r.stdout, 'never relays messages');
  for (const f of ['--listen', '--store', '--ttl', '--max-records', '--rate-write', '--rate-read', '--log-format', '--trust-proxy']) assert.match(r.stdout, f);
  assert.is((await runDirectory(['--version'])).code, 0);
  const bad = await runDirectory(['--listen', 'nowhere']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, '--listen: "nowhere" is not HOST:PORT');
  assert.is((await runDirectory(['--bogus'])).code, 2);
});

test.run();
