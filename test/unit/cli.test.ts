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
import { COMMANDS, usageLine } from '../../agent/cli/help.js';
import { RpcServer, type Handlers } from '../../agent/api/server.js';
import type {
  HostedListView,
  InboxItem,
  ListMemberView,
  ListStatusView,
  MailboxView,
  OutboxItem,
  ProgressItem,
  StatusResult,
  TrustEntryView,
} from '../../agent/api/methods.js';
import { SCHEMAS } from '../../agent/api/validate.js';
import { socketPath } from '../../agent/daemon/paths.js';
import { WotError } from '../../agent/wire/errors.js';
import { decodeEntityId, encodeEntityId, encodeInvite, fingerprint } from '../../agent/identity/index.js';
import { CLI, runCli, type CliResult } from '../helpers/testnet.js';

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
    [['send', 'alice', 'hi', '--hops', '3'], '--hops only applies with --onion'],
    [['send', 'alice', 'hi', '--onion', '--hops', '9'], '--hops must be at most 8'],
    [['send', 'alice', 'hi', '--onion', '--hops', '0'], '--hops must be at least 1'],
    [['send', 'alice', 'hi', '--onion', '--hops', 'two'], '--hops needs a whole number'],
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
  const all = Object.fromEntries(Object.keys(SCHEMAS).map((m) => [m, none]));
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
      hash: null, parents: [], gap: [],
    },
    {
      id: 'b'.repeat(32), from: CAROL, fromName: null, fromFingerprint: 'CCCC-CCCC-CCCC-CCCC', receivedAt: Date.now(), sentAt: 0,
      kind: 'file', name: 'notes.txt', size: 1234, path: [{ entity: CAROL, name: null, fingerprint: 'CCCC-CCCC-CCCC-CCCC' }], seq: 2,
      hash: null, parents: [], gap: [],
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

test('send --onion --hops N asks the daemon for an onion; an onion message in the inbox shows no path', async () => {
  const home = tmpHome();
  const seen: unknown[] = [];
  const item: InboxItem = {
    id: 'c'.repeat(32), from: BOB, fromName: 'bob', fromFingerprint: 'BBBB-BBBB-BBBB-BBBB', receivedAt: Date.now(), sentAt: 0,
    kind: 'text', text: 'psst', size: 4, path: [], onion: true, seq: 3, hash: null, parents: [], gap: [],
  };
  const server = await fakeDaemon(home, {
    send: (p) => (seen.push(p), { id: 'd'.repeat(32), to: BOB, state: 'sent' }),
    inbox: () => [item],
  });
  try {
    const r = await cli(['send', BOB, 'psst', '--onion', '--hops', '3', '--home', home]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(seen[0], { to: BOB, onion: true, hops: 3, text: 'psst' });
    await cli(['send', BOB, 'psst', '--onion', '--home', home]);
    assert.equal(seen[1], { to: BOB, onion: true, text: 'psst' }, 'the daemon picks the relay count');
    const i = await cli(['inbox', '--home', home]);
    assert.match(i.stdout, 'path: onion (no hop knows it, nor do you)');
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

test('mailbox, read and outbox argument errors exit 2, say what is wrong and name the fix', async () => {
  const bad = encodeEntityId(new Uint8Array(32).fill(5)).slice(0, -3) + 'qqq';
  const cases: Array<[string[], string, string]> = [
    [['mailbox'], 'mailbox needs a subcommand: add, remove, list', 'try: e.g. wotrelay mailbox list'],
    [['mailbox', 'frob'], 'unknown subcommand "mailbox frob"', 'wotrelay mailbox add, wotrelay mailbox remove, wotrelay mailbox list'],
    [['mailbox', 'lst'], 'unknown subcommand "mailbox lst"', 'did you mean: wotrelay mailbox list?'],
    [['mailbox', 'add'], 'mailbox add: missing argument <entity-id|petname>', 'try: wotrelay mailbox add <entity-id|petname> [--addr HOST:PORT]'],
    [['mailbox', 'add', 'm1', '--addr', 'nohost'], '--addr: "nohost" has no port', 'try: --addr add a port'],
    [['mailbox', 'add', bad], 'the mailbox "' + bad + '" is not a valid entity id', 'try: '],
    [['mailbox', 'remove'], 'mailbox remove: missing argument <entity-id|petname>', 'try: wotrelay mailbox remove <entity-id|petname>'],
    [['mailbox', 'remove', 'm1', '--addr', '192.0.2.1:7117'], 'unknown option --addr', 'try: wotrelay mailbox remove'],
    [['mailbox', 'list', 'extra'], 'mailbox list: unexpected argument "extra"', 'try: wotrelay mailbox list'],
    [['read'], 'read: missing argument <message-id>', 'try: wotrelay read <message-id>'],
    [['read', 'xyz'], '"xyz" is not a message id', 'try: a message id is 32 hex characters; wotrelay inbox'],
    [['read', 'a'.repeat(32), 'b'.repeat(32)], 'read: unexpected argument', 'try: wotrelay read <message-id>'],
    [['outbox', '--state', 'lost'], '--state: "lost" is not an outbox state', 'the states are queued, sent, relayed, delivered, read, failed, expired'],
    [['outbox', '--state', 'queued,relayd'], '--state: "relayd" is not an outbox state', 'try: did you mean --state relayed?'],
    [['outbox', '--state', ','], '--state is empty', 'e.g. --state queued,sent'],
    [['outbox', '--state'], '--state needs a value', 'try: e.g. --state STATE[,STATE…]'],
    [['outbox', '--all=yes'], '--all takes no value', 'try: write just --all'],
    [['outbox', '--limit', '0'], '--limit must be at least 1', 'try: e.g. --limit 1'],
  ];
  for (const [args, expected, fix] of cases) {
    const r = await cli(args);
    assert.is(r.code, 2, `wotrelay ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, `wotrelay: ${expected}`, `wotrelay ${args.join(' ')}`);
    assert.match(r.stderr, fix, `wotrelay ${args.join(' ')} names the fix`);
  }
});

test('help: the overview lists mailbox and read; mailbox --help lists its subcommands; outbox --help explains every state', async () => {
  const r = await cli(['--help']);
  assert.is(r.code, 0);
  for (const c of ['mailbox add <entity-id|petname>', 'mailbox remove <entity-id|petname>', 'mailbox list', 'read <message-id>']) assert.match(r.stdout, c);
  const g = await cli(['mailbox', '--help']);
  assert.is(g.code, 0, g.stderr);
  assert.match(g.stdout, 'usage: wotrelay mailbox <add|remove|list> …');
  for (const sub of ['mailbox add', 'mailbox remove', 'mailbox list']) assert.match(g.stdout, sub);
  const h = await cli(['help', 'mailbox', 'add']);
  assert.is(h.code, 0);
  assert.match(h.stdout, 'usage: wotrelay mailbox add <entity-id|petname> [--addr HOST:PORT]');
  const o = await cli(['outbox', '--help']);
  assert.is(o.code, 0);
  assert.match(o.stdout, 'usage: wotrelay outbox [--all] [--state STATE[,STATE…]] [--limit N]');
  for (const st of ['queued', 'sent', 'relayed', 'delivered', 'read', 'failed', 'expired']) assert.match(o.stdout, new RegExp(`^  ${st} +\\S`, 'm'), `explains ${st}`);
  assert.match(o.stdout, 'waiting for it to take custody');
  assert.match(o.stdout, 'a hop holds it');
  const rd = await cli(['read', '--help']);
  assert.is(rd.code, 0);
  assert.match(rd.stdout, 'read receipt');
  const sd = await cli(['send', '--help']);
  assert.match(sd.stdout, 'relayed');
});

test('outbox: short ids, kind only with --all, state/attempts/age/error; --state and --all reach the daemon; --json is raw', async () => {
  const home = tmpHome();
  const now = Date.now();
  const items: OutboxItem[] = [
    { id: '0123456789abcdef0123456789abcdef', to: BOB, toName: 'bob', state: 'relayed', kind: 'text', hash: 'ab'.repeat(32), createdAt: now - 3 * 60_000, updatedAt: now, attempts: 2, error: null },
    { id: 'fedcba9876543210fedcba9876543210', to: CAROL, toName: null, state: 'queued', kind: 'receipt', hash: null, createdAt: now - 7_200_000, updatedAt: now, attempts: 4, error: 'ERR_QUEUE_FULL: the relay queue for carol is full' },
  ];
  const seen: unknown[] = [];
  const server = await fakeDaemon(home, { outbox: (p) => (seen.push(p), p.all ? items : items.slice(0, 1)) });
  try {
    const r = await cli(['outbox', '--home', home]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(seen[0], {});
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+TO\s+STATE\s+ATTEMPTS\s+AGE\s+ERROR$/);
    assert.match(lines[1]!, /^01234567\s+bob\s+relayed\s+2\s+3m\s+-$/);
    assert.not.match(r.stdout, '0123456789abcdef0123456789abcdef', 'ids are short in the table');
    const a = await cli(['outbox', '--all', '--state', 'queued,relayed,queued', '--limit', '5', '--home', home]);
    assert.is(a.code, 0, a.stderr);
    assert.equal(seen[1], { limit: 5, all: true, state: ['queued', 'relayed'] });
    const al = a.stdout.trimEnd().split('\n');
    assert.match(al[0]!, /^ID\s+TO\s+KIND\s+STATE\s+ATTEMPTS\s+AGE\s+ERROR$/);
    assert.match(al[1]!, /^01234567\s+bob\s+text\s+relayed\s/);
    assert.match(al[2]!, /^fedcba98\s+wot1\S+\s+receipt\s+queued\s+4\s+2h\s+ERR_QUEUE_FULL: the relay queue for carol is full$/);
    const j = await cli(['outbox', '--json', '--all', '--home', home]);
    assert.equal(JSON.parse(j.stdout), items);
  } finally {
    await server.close();
  }
  const empty = tmpHome();
  const s2 = await fakeDaemon(empty, { outbox: () => [] });
  try {
    const e = await cli(['outbox', '--state', 'failed', '--home', empty]);
    assert.is(e.code, 0);
    assert.is(e.stdout, 'no messages in your outbox are failed\n');
  } finally {
    await s2.close();
  }
});

test('mailbox add/remove/list talk to the daemon and print what changed; list has two sections', async () => {
  const home = tmpHome();
  const m1: MailboxView = { entity: BOB, fingerprint: 'BBBB-BBBB-BBBB-BBBB', petname: 'homebox', connected: true };
  const carolFp = fingerprint(decodeEntityId(CAROL));
  const m2: MailboxView = { entity: CAROL, fingerprint: carolFp, petname: null, connected: false };
  const seen: Array<[string, unknown]> = [];
  const server = await fakeDaemon(home, {
    'mailbox.add': (p) => (seen.push(['add', p]), [m1, m2]),
    'mailbox.remove': (p) => (seen.push(['remove', p]), [m1]),
    'mailbox.list': () => ({
      mine: [m1, m2],
      hosted: [{ owner: CAROL, fingerprint: 'CCCC-CCCC-CCCC-CCCC', petname: 'carol', messages: 12, bytes: 2048, since: Date.now() - 86_400_000 }],
    }),
  });
  try {
    const a = await cli(['mailbox', 'add', CAROL, '--addr', '192.0.2.30:7117', '--home', home]);
    assert.is(a.code, 0, a.stderr);
    assert.equal(seen[0], ['add', { who: CAROL, addr: '192.0.2.30:7117' }]);
    assert.match(a.stdout, `${carolFp} is now one of your mailboxes`);
    assert.match(a.stdout, 'not connected to it right now');
    const b = await cli(['mailbox', 'add', 'homebox', '--home', home]);
    assert.is(b.code, 0, b.stderr);
    assert.equal(seen[1], ['add', { who: 'homebox' }]);
    assert.match(b.stdout, 'homebox (BBBB-BBBB-BBBB-BBBB) is now one of your mailboxes');
    const r = await cli(['mailbox', 'remove', CAROL, '--home', home]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(seen[2], ['remove', { who: CAROL }]);
    assert.match(r.stdout, `${carolFp} is no longer your mailbox; 1 left`);
    const l = await cli(['mailbox', 'list', '--home', home]);
    assert.is(l.code, 0, l.stderr);
    const [mine, hosted] = l.stdout.split('\nmailboxes you host\n') as [string, string];
    assert.ok(hosted !== undefined, l.stdout);
    assert.match(mine, /^your mailboxes\n  NAME\s+FINGERPRINT\s+CONNECTED\s+ENTITY ID\n/);
    assert.match(mine, /homebox\s+BBBB-BBBB-BBBB-BBBB\s+yes/);
    assert.match(mine, new RegExp(`-\\s+${carolFp}\\s+no`));
    assert.match(hosted, /OWNER\s+FINGERPRINT\s+MESSAGES\s+BYTES\s+SINCE/);
    assert.match(hosted, /carol\s+CCCC-CCCC-CCCC-CCCC\s+12\s+2\.0 KiB\s+1d ago/);
    const j = await cli(['mailbox', 'list', '--json', '--home', home]);
    assert.equal((JSON.parse(j.stdout) as { mine: MailboxView[] }).mine, [m1, m2]);
  } finally {
    await server.close();
  }
  const none = tmpHome();
  const s2 = await fakeDaemon(none, {
    'mailbox.list': () => ({ mine: [], hosted: [] }),
    'mailbox.remove': () => {
      throw new WotError('ERR_NOT_FOUND', 'wot1x is not one of your mailboxes', 'wotrelay mailbox list shows them');
    },
  });
  try {
    const l = await cli(['mailbox', 'list', '--home', none]);
    assert.match(l.stdout, 'your mailboxes\n  none');
    assert.match(l.stdout, 'mailboxes you host\n  none');
    const e = await cli(['mailbox', 'remove', 'zed', '--home', none]);
    assert.is(e.code, 1);
    assert.is(e.stderr, 'wotrelay: wot1x is not one of your mailboxes\nhint: wotrelay mailbox list shows them\n');
  } finally {
    await s2.close();
  }
});

test('read marks a message read through inbox.read; inbox shows ids and marks messages with a gap; --json carries parents and gap', async () => {
  const home = tmpHome();
  const id = 'c'.repeat(32);
  const item: InboxItem = {
    id, from: BOB, fromName: 'bob', fromFingerprint: 'BBBB-BBBB-BBBB-BBBB', receivedAt: Date.now(), sentAt: 0, kind: 'text', text: 'later one', size: 9,
    path: [{ entity: BOB, name: 'bob', fingerprint: 'BBBB-BBBB-BBBB-BBBB' }], seq: 3, hash: '11'.repeat(32), parents: ['22'.repeat(32)], gap: ['22'.repeat(32)],
  };
  const plain: InboxItem = { ...item, id: 'd'.repeat(32), text: 'in order', gap: [], seq: 4 };
  const seen: unknown[] = [];
  const server = await fakeDaemon(home, {
    'inbox.read': (p) => (seen.push(p), { id: p.id, read: true as const }),
    inbox: () => [item, plain],
  });
  try {
    const r = await cli(['read', id.toUpperCase(), '--home', home]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(seen, [{ id }]);
    assert.match(r.stdout, `marked ${id} read; its sender gets a read receipt`);
    const j = await cli(['read', id, '--json', '--home', home]);
    assert.equal(JSON.parse(j.stdout), { id, read: true });
    const i = await cli(['inbox', '--home', home]);
    assert.is(i.code, 0, i.stderr);
    const [first, second] = i.stdout.split('\n\n') as [string, string];
    assert.match(first.split('\n')[0]!, 'from bob (BBBB-BBBB-BBBB-BBBB)  (earlier message(s) never arrived)');
    assert.match(first, `id: ${id}`);
    assert.not.match(second, 'never arrived');
    const ij = await cli(['inbox', '--json', '--home', home]);
    const got = JSON.parse(ij.stdout) as InboxItem[];
    assert.equal(got[0]!.parents, ['22'.repeat(32)]);
    assert.equal(got[0]!.gap, ['22'.repeat(32)]);
    assert.equal(got[1]!.gap, []);
  } finally {
    await server.close();
  }
});

test('send: ERR_QUEUE_FULL prints message and hint (exit 1); --wait explains relayed; --follow prints relayed/stored/refused with detail', async () => {
  const home = tmpHome();
  const id = 'e'.repeat(32);
  const step = (status: ProgressItem['status'], at: number, detail?: string): ProgressItem => ({
    id, status, reporter: CAROL, reporterName: 'relay', reporterFingerprint: 'CCCC-CCCC-CCCC-CCCC', at, ...(detail ? { detail } : {}),
  });
  const t0 = Date.now();
  let full = true;
  const waits: unknown[] = [];
  const server = await fakeDaemon(home, {
    send: (p) => {
      if (full) throw new WotError('ERR_QUEUE_FULL', '40 messages to BBBB are still waiting to be delivered (the limit is 40)', 'wotrelay outbox shows them and why they wait');
      return { id, to: p.to, state: 'sent' };
    },
    'send.wait': (p) => (waits.push(p), { id, to: BOB, state: 'relayed' }),
    follow: () => [step('sent', t0), step('refused', t0 + 10, 'ERR_QUEUE_FULL: queue for bob full'), step('relayed', t0 + 20), step('stored', t0 + 30)],
  });
  try {
    const e = await cli(['send', 'bob', 'hi', '--home', home]);
    assert.is(e.code, 1);
    assert.is(e.stderr, 'wotrelay: 40 messages to BBBB are still waiting to be delivered (the limit is 40)\nhint: wotrelay outbox shows them and why they wait\n');
    full = false;
    const w = await cli(['send', 'bob', 'hi', '--wait', '--timeout', '2s', '--home', home]);
    assert.is(w.code, 0, w.stderr);
    assert.equal(waits[0], { id, until: 'delivered', timeoutMs: 2000 });
    assert.match(w.stdout, 'relayed: a relay holds it for bob; it is delivered when bob is back (see: wotrelay outbox)');
    const f = await cli(['send', 'bob', 'hi', '--follow', '--timeout', '2s', '--home', home]);
    assert.is(f.code, 0, f.stderr);
    const lines = f.stdout.split('\n');
    assert.ok(lines.some((l) => /relay \(CCCC-CCCC-CCCC-CCCC\)\s+refused.*: ERR_QUEUE_FULL: queue for bob full$/.test(l)), f.stdout);
    assert.ok(lines.some((l) => /\s+relayed\b/.test(l)), f.stdout);
    assert.ok(lines.some((l) => /\s+stored\b/.test(l)), f.stdout);
    assert.match(f.stdout, 'relayed: a relay holds it for bob');
    const fj = await cli(['send', 'bob', 'hi', '--follow', '--json', '--timeout', '2s', '--home', home]);
    const steps = fj.stdout.trim().split('\n').map((l) => JSON.parse(l) as ProgressItem);
    assert.equal(steps.find((s) => s.status === 'refused')?.detail, 'ERR_QUEUE_FULL: queue for bob full');
  } finally {
    await server.close();
  }
});

test('status prints the relay queue with its limits, held messages, outbox per state and mailbox counts', async () => {
  const home = tmpHome();
  const st: StatusResult = {
    entity: BOB, fingerprint: 'BBBB-BBBB-BBBB-BBBB', agent: 'wota1x', version: '0.1.0', pid: 1, home, listen: ['127.0.0.1:1'], startedAt: Date.now(),
    peers: 2, trusted: 3, inbox: 4, outboxPending: 3, metrics: {}, revocations: [],
    reachability: { mode: 'direct', relays: [], why: 'public address' },
    queues: {
      relay: { messages: 7, bytes: 3072, byNextHop: [{ entity: CAROL, fingerprint: 'CCCC-CCCC-CCCC-CCCC', petname: 'carol', messages: 5, bytes: 2048 }] },
      held: 2,
      limits: { perHop: 1000, total: 10000, bytes: 256 * 1024 * 1024 },
    },
    outboxByState: { queued: 1, sent: 0, relayed: 2, delivered: 10, read: 0, failed: 0, expired: 0 },
    mailboxes: { mine: 1, hosted: 2 },
  };
  const server = await fakeDaemon(home, { status: () => st });
  try {
    const r = await cli(['status', '--home', home]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /relay queue\s+7 messages, 3\.0 KiB held for others \(limits: 1000 per next hop, 10000 in all, 256\.0 MiB\)/);
    assert.match(r.stdout, '5 messages, 2.0 KiB waiting for carol (CCCC-CCCC-CCCC-CCCC)');
    assert.match(r.stdout, /held\s+2 messages held for causal order/);
    assert.match(r.stdout, /outbox\s+3 pending \(by state: 1 queued, 2 relayed, 10 delivered\)/);
    assert.match(r.stdout, /mailboxes\s+1 yours, 2 hosted for others/);
    const j = await cli(['status', '--json', '--home', home]);
    assert.equal(JSON.parse(j.stdout), st);
  } finally {
    await server.close();
  }
});

// ----------------------------------------------------------------------------- mailing lists

const LIST_SUBS = ['create', 'invite', 'add', 'remove', 'members', 'pending', 'approve', 'ban', 'status', 'hosted', 'join', 'leave', 'fetch'];

test('list help: the group lists every subcommand; every subcommand has --help with its usage, summary and notes; the overview lists them', async () => {
  const g = await cli(['list', '--help']);
  assert.is(g.code, 0, g.stderr);
  assert.match(g.stdout, `usage: wotrelay list <${LIST_SUBS.join('|')}> …`);
  const specs = COMMANDS.filter((c) => c.name.startsWith('list '));
  assert.equal(specs.map((c) => c.name.slice(5)), LIST_SUBS);
  const overview = await cli(['--help']);
  for (const spec of specs) {
    assert.match(g.stdout, spec.summary, `group help has ${spec.name}`);
    assert.match(overview.stdout, spec.name, `overview has ${spec.name}`);
    const h = await cli([...spec.name.split(' '), '--help']);
    assert.is(h.code, 0, `${spec.name} --help: ${h.stderr}`);
    assert.match(h.stdout, `usage: ${usageLine(spec)}\n`, spec.name);
    assert.match(h.stdout, spec.summary.charAt(0).toUpperCase() + spec.summary.slice(1));
    assert.match(h.stdout, 'global options: --home DIR, --json, --help', `${spec.name} has --json`);
    for (const n of spec.notes ?? []) assert.match(h.stdout, n);
  }
  const usage = (name: string) => usageLine(COMMANDS.find((c) => c.name === name)!);
  assert.is(usage('list create'), 'wotrelay list create <name> [--policy POLICY]');
  assert.is(usage('list invite'), 'wotrelay list invite <list> [--uses N] [--expires DURATION]');
  assert.is(usage('list add'), 'wotrelay list add <list> <entity-id|petname>');
  assert.is(usage('list ban'), 'wotrelay list ban <list> <entity-id|petname> [--reason TEXT]');
  assert.is(usage('list join'), 'wotrelay list join <list-id|petname|invite> [--addr HOST:PORT] [--onion] [--hops N]');
  assert.is(usage('list fetch'), 'wotrelay list fetch <list-id|petname> [--last N]');
  const create = await cli(['help', 'list', 'create']);
  for (const p of ['announce', 'discuss', 'moderated']) assert.match(create.stdout, new RegExp(`^  ${p} +\\S`, 'm'), `explains ${p}`);
  assert.match(create.stdout, 'wotrelay accept <code>');
  const hosted = await cli(['list', 'hosted', '-h']);
  assert.match(hosted.stdout, 'wotrelay daemon --home <home>/lists/<name>');
});

test('list argument errors exit 2, say what is wrong and name the fix (before any daemon is asked)', async () => {
  const id = encodeEntityId(new Uint8Array(32).fill(6));
  const bad = id.slice(0, -3) + 'qqq';
  const cases: Array<[string[], string, string]> = [
    [['list'], `list needs a subcommand: ${LIST_SUBS.join(', ')}`, 'try: e.g. wotrelay list hosted'],
    [['list', 'frob'], 'unknown subcommand "list frob"', 'wotrelay list create, wotrelay list invite'],
    [['list', 'membrs'], 'unknown subcommand "list membrs"', 'did you mean: wotrelay list members?'],
    [['list', 'create'], 'list create: missing argument <name>', 'try: wotrelay list create <name> [--policy POLICY]'],
    [['list', 'create', 'Bad Name'], '"Bad Name" is not a valid list name: a list name is 1 to 32 characters of a-z, 0-9 and "-"', 'try: e.g. wotrelay list create friends'],
    [['list', 'create', 'x'.repeat(33)], `"${'x'.repeat(33)}" is not a valid list name`, 'try: '],
    [['list', 'create', 'ok', '--policy', 'open'], '--policy must be one of announce, discuss, moderated, not "open"', 'try: e.g. --policy announce'],
    [['list', 'create', 'a', 'b'], 'list create: unexpected argument "b"', 'try: wotrelay list create'],
    [['list', 'invite'], 'list invite: missing argument <list>', 'try: wotrelay list invite <list>'],
    [['list', 'invite', 'friends', '--uses', '0'], '--uses must be at least 1', 'try: e.g. --uses 1'],
    [['list', 'invite', 'friends', '--expires', '10'], '--expires: duration "10" has no unit', 'try: '],
    [['list', 'invite', id], `"${id}" is an entity id, not the name of a list hosted under your home`, `to subscribe to someone else's list: wotrelay list join ${id}`],
    [['list', 'members', 'My_List'], '"My_List" is not a list name: a list name is 1 to 32 characters', 'try: wotrelay list hosted'],
    [['list', 'add'], 'list add: missing argument <list>', 'try: wotrelay list add <list> <entity-id|petname>'],
    [['list', 'add', 'friends'], 'list add: missing argument <entity-id|petname>', 'try: wotrelay list add <list> <entity-id|petname>'],
    [['list', 'add', 'friends', bad], `the member "${bad}" is not a valid entity id`, 'try: '],
    [['list', 'remove', 'friends', 'bob', '--reason', 'x'], 'unknown option --reason', 'try: wotrelay list remove'],
    [['list', 'approve', 'friends', bad], `the member "${bad}" is not a valid entity id`, 'try: '],
    [['list', 'ban', 'friends', 'bob', '--reason', 'x'.repeat(201)], '--reason is longer than 200 bytes', 'try: shorten it'],
    [['list', 'ban', 'friends', bad], `who to ban "${bad}" is not a valid entity id`, 'try: '],
    [['list', 'pending', 'a', 'b'], 'list pending: unexpected argument "b"', 'try: wotrelay list pending <list>'],
    [['list', 'status'], 'list status: missing argument <list>', 'try: wotrelay list status <list>'],
    [['list', 'hosted', 'x'], 'list hosted: unexpected argument "x"', 'try: wotrelay list hosted'],
    [['list', 'join'], 'list join: missing argument <list-id|petname|invite>', 'try: wotrelay list join <list-id|petname|invite> [--addr HOST:PORT] [--onion] [--hops N]'],
    [['list', 'join', 'news', '--hops', '3'], '--hops only applies with --onion (the relays of each copy\'s onion path)', 'try: add --onion, or drop --hops'],
    [['list', 'join', 'news', '--onion', '--hops', '9'], '--hops must be at most 8, not 9', 'try: '],
    [['list', 'join', 'news', '--onion', '--hops', '0'], '--hops must be at least 1, not 0', 'try: '],
    [['list', 'join', 'news', '--onion', '--hops', 'two'], '--hops needs a whole number, not "two"', 'try: '],
    [['list', 'join', 'wotrelay:invite?v=1&e=nonsense'], 'the invite code is not valid', 'try: '],
    [['list', 'join', 'wotrelay:invite?v=1&e=x', '--addr', '192.0.2.1:7117'], '--addr goes with a list id: an invite code carries the list\'s addresses', 'try: drop --addr'],
    [['list', 'join', 'news', '--addr', 'nohost'], '--addr: "nohost" has no port', 'try: --addr add a port'],
    [['list', 'join', bad], `the list "${bad}" is not a valid entity id`, 'try: '],
    [['list', 'leave'], 'list leave: missing argument <list-id|petname>', 'try: wotrelay list leave <list-id|petname>'],
    [['list', 'fetch', 'news', '--last', '0'], '--last must be at least 1', 'try: e.g. --last 1'],
    [['list', 'fetch', 'news', '--last', '1001'], '--last must be at most 1000', 'try: e.g. --last 1000'],
    [['list', 'fetch', 'news', '--last', 'many'], '--last needs a whole number, not "many"', 'try: '],
  ];
  for (const [args, expected, fix] of cases) {
    const r = await cli(args);
    assert.is(r.code, 2, `wotrelay ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, `wotrelay: ${expected}`, `wotrelay ${args.join(' ')}`);
    assert.match(r.stderr, fix, `wotrelay ${args.join(' ')} names the fix`);
  }
});

/** A home with the directory of a hosted list (config.json with a `list` key), as `list create` leaves it. */
function homeWithList(name: string): { home: string; listHome: string } {
  const home = tmpHome();
  const listHome = path.join(home, 'lists', name);
  fs.mkdirSync(listHome, { recursive: true });
  fs.writeFileSync(path.join(listHome, 'config.json'), JSON.stringify({ listen: '127.0.0.1:0', list: { name, policy: 'discuss', owner: BOB } }));
  return { home, listHome };
}

test('list <name> with no such list: exit 1 naming wotrelay list hosted; a hosted list that is not running: exit 3', async () => {
  const home = tmpHome();
  const r = await cli(['list', 'members', 'friends', '--home', home]);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stderr, `wotrelay: no list named "friends" is hosted under ${home}\nhint: wotrelay list hosted --home ${home} shows your lists; create one with: wotrelay list create friends --home ${home}\n`);
  const { home: h2 } = homeWithList('friends');
  const s = await cli(['list', 'status', 'friends', '--home', h2]);
  assert.is(s.code, 3, s.stderr);
  assert.match(s.stderr, 'wotrelay: the list "friends" is not running');
  assert.match(s.stderr, `hint: it runs inside your daemon: start it with: wotrelay daemon --home ${h2}`);
  const o = await cli(['list', 'hosted', '--home', h2]);
  assert.is(o.code, 3, 'list hosted asks your own daemon');
});

test('owner commands talk to the list\'s own agent; petnames come from your trust list first; tables, status and --json', async () => {
  const { home, listHome } = homeWithList('friends');
  const now = Date.now();
  const bobFp = fingerprint(decodeEntityId(BOB));
  const carolFp = fingerprint(decodeEntityId(CAROL));
  const DAVE = encodeEntityId(new Uint8Array(32).fill(8));
  const daveFp = fingerprint(decodeEntityId(DAVE));
  const ownerSeen: Array<[string, unknown]> = [];
  const listSeen: Array<[string, unknown]> = [];
  const hostedRows: HostedListView[] = [
    { name: 'friends', entity: DAVE, fingerprint: daveFp, policy: 'discuss', running: true, listen: ['127.0.0.1:40001'] },
    { name: 'news', entity: CAROL, fingerprint: carolFp, policy: 'announce', running: false, listen: [], error: 'cannot listen on 127.0.0.1:0: EACCES' },
  ];
  const owner = await fakeDaemon(home, {
    'trust.list': () => [
      { entity: BOB, fingerprint: bobFp, petname: 'bob', how: 'invite', state: 'active', addr: null, addedAt: now, connected: true },
      { entity: DAVE, fingerprint: daveFp, petname: 'friends', how: 'manual', state: 'active', addr: null, addedAt: now, connected: true },
    ],
    'list.hosted': () => hostedRows,
    'list.create': (p) => (ownerSeen.push(['create', p]), {
      name: p.name, entity: DAVE, fingerprint: daveFp, policy: p.policy ?? 'discuss', home: path.join(home, 'lists', p.name),
      invite: 'wotrelay:invite?v=1&e=x&c=y', inviteExpiresAt: now + 30 * 86_400_000, inviteUses: 1000,
    }),
  });
  const members: ListMemberView[] = [
    { entity: BOB, fingerprint: bobFp, petname: null, state: 'member', role: 'member', joinedAt: now - 3_600_000, updatedAt: now, mutedUntil: 0, note: null, onion: 3 },
    { entity: CAROL, fingerprint: carolFp, petname: null, state: 'banned', role: 'member', joinedAt: now - 7_200_000, updatedAt: now, mutedUntil: 0, note: 'spam', onion: 0 },
    { entity: DAVE, fingerprint: daveFp, petname: 'owner', state: 'member', role: 'owner', joinedAt: now - 86_400_000, updatedAt: now, mutedUntil: 0, note: null, onion: 0 },
  ];
  const status: ListStatusView = {
    name: 'friends', policy: 'moderated', entity: DAVE, fingerprint: daveFp, owner: BOB, ownerFingerprint: bobFp,
    members: 12, pending: 2, banned: 1, muted: 0,
    posts: [{ postId: 'ab'.repeat(16), author: BOB, authorName: 'owner', authorFingerprint: bobFp, at: now - 60_000, waiting: 3, queued: 4, delivered: 5, failed: 1 }],
  };
  const list = await fakeDaemon(listHome, {
    'list.add': (p) => (listSeen.push(['add', p]), { entity: BOB, fingerprint: bobFp, petname: null, state: 'member' as const }),
    'list.remove': (p) => (listSeen.push(['remove', p]), { entity: BOB, fingerprint: bobFp, petname: null, state: 'removed' as const }),
    'list.ban': (p) => (listSeen.push(['ban', p]), { entity: CAROL, fingerprint: carolFp, petname: null, state: 'banned' as const }),
    'list.approve': () => {
      throw new WotError('ERR_NOT_FOUND', `${CAROL} has no pending request`, 'wotrelay list pending <list> shows them');
    },
    'list.members': (p) => (listSeen.push(['members', p]), p.state === 'pending' ? [{ ...members[0]!, state: 'pending' as const, note: 'hi, it is Bob' }] : members),
    'list.status': () => status,
    'invite.create': (p) => (listSeen.push(['invite', p]), { code: 'wotrelay:invite?v=1&list', expiresAt: now + 7 * 86_400_000, uses: p.uses ?? 1 }),
  });
  try {
    const add = await cli(['list', 'add', 'friends', 'bob', '--home', home]);
    assert.is(add.code, 0, add.stderr);
    assert.equal(listSeen.at(-1), ['add', { who: BOB }], 'your petname bob became its id');
    assert.match(add.stdout, `${bobFp} is now a member of friends`);
    const unknownName = await cli(['list', 'remove', 'friends', 'zed', '--home', home]);
    assert.is(unknownName.code, 0, unknownName.stderr);
    assert.equal(listSeen.at(-1), ['remove', { who: 'zed' }], 'a petname you do not use goes to the list as is');
    assert.match(unknownName.stdout, `${bobFp} is no longer on friends`);
    const ban = await cli(['list', 'ban', 'friends', CAROL, '--reason', 'spam', '--home', home]);
    assert.is(ban.code, 0, ban.stderr);
    assert.equal(listSeen.at(-1), ['ban', { who: CAROL, reason: 'spam' }]);
    assert.match(ban.stdout, `${carolFp} is banned from friends: it cannot rejoin or post`);
    const appr = await cli(['list', 'approve', 'friends', CAROL, '--home', home]);
    assert.is(appr.code, 1);
    assert.is(appr.stderr, `wotrelay: ${CAROL} has no pending request\nhint: wotrelay list pending <list> shows them\n`);

    const m = await cli(['list', 'members', 'friends', '--home', home]);
    assert.is(m.code, 0, m.stderr);
    assert.equal(listSeen.at(-1), ['members', {}]);
    const lines = m.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+FINGERPRINT\s+STATE\s+ROLE\s+COPIES\s+SINCE\s+NOTE\s+ENTITY ID$/);
    assert.match(lines[1]!, new RegExp(`^bob\\s+${bobFp}\\s+member\\s+member\\s+onion/3\\s+1h ago\\s+-\\s+${BOB}$`), 'your petname fills in; onion copies over 3 relays');
    assert.match(lines[2]!, new RegExp(`^-\\s+${carolFp}\\s+banned\\s+member\\s+clear\\s+2h ago\\s+spam\\s+${CAROL}$`));
    assert.match(lines[3]!, new RegExp(`^friends\\s+${daveFp}\\s+member\\s+owner\\s+clear\\s`));
    const mj = await cli(['list', 'members', 'friends', '--json', '--home', home]);
    assert.equal(JSON.parse(mj.stdout), members, '--json is the list agent\'s answer, unchanged');

    const pend = await cli(['list', 'pending', 'friends', '--home', home]);
    assert.is(pend.code, 0, pend.stderr);
    assert.equal(listSeen.at(-1), ['members', { state: 'pending' }]);
    assert.match(pend.stdout, /^NAME\s+FINGERPRINT\s+ASKED\s+NOTE\s+ENTITY ID\n/);
    assert.match(pend.stdout, /bob\s+\S+\s+1h ago\s+hi, it is Bob/);
    assert.match(pend.stdout, 'accept one with: wotrelay list approve friends <entity-id>');

    const st = await cli(['list', 'status', 'friends', '--home', home]);
    assert.is(st.code, 0, st.stderr);
    assert.match(st.stdout, /^list\s+friends \(moderated\)$/m);
    assert.match(st.stdout, /^members\s+12, 2 pending, 1 banned, 0 muted$/m);
    assert.match(st.stdout, /POST\s+AUTHOR\s+AGE\s+DELIVERED\s+QUEUED\s+WAITING\s+FAILED/);
    assert.match(st.stdout, new RegExp(`abababab\\s+owner \\(${bobFp}\\)\\s+1m\\s+5\\s+4\\s+3\\s+1`));
    assert.equal(JSON.parse((await cli(['list', 'status', 'friends', '--json', '--home', home])).stdout), status);

    const inv = await cli(['list', 'invite', 'friends', '--uses', '5', '--expires', '7d', '--home', home]);
    assert.is(inv.code, 0, inv.stderr);
    assert.equal(listSeen.at(-1), ['invite', { uses: 5, expiresInMs: 7 * 86_400_000 }]);
    assert.match(inv.stdout, /^wotrelay:invite\?v=1&list\n/);
    assert.match(inv.stdout, `wotrelay accept 'wotrelay:invite?v=1&list'`);

    const ho = await cli(['list', 'hosted', '--home', home]);
    assert.is(ho.code, 0, ho.stderr);
    assert.match(ho.stdout, /^NAME\s+POLICY\s+STATE\s+FINGERPRINT\s+LISTEN\s+ENTITY ID\n/);
    assert.match(ho.stdout, new RegExp(`friends\\s+discuss\\s+running\\s+${daveFp}\\s+127\\.0\\.0\\.1:40001\\s+${DAVE}`));
    assert.match(ho.stdout, /news\s+announce\s+failed: cannot listen on 127\.0\.0\.1:0: EACCES/);
    assert.equal(JSON.parse((await cli(['list', 'hosted', '--json', '--home', home])).stdout), hostedRows);

    const cr = await cli(['list', 'create', 'club', '--policy', 'announce', '--home', home]);
    assert.is(cr.code, 0, cr.stderr);
    assert.equal(ownerSeen.at(-1), ['create', { name: 'club', policy: 'announce' }]);
    assert.match(cr.stdout, 'created the list club (announce)');
    assert.match(cr.stdout, `list id      ${DAVE}`);
    assert.match(cr.stdout, `fingerprint  ${daveFp}`);
    assert.match(cr.stdout, '\nwotrelay:invite?v=1&e=x&c=y\n');
    assert.match(cr.stdout, `members join with:\n  wotrelay accept 'wotrelay:invite?v=1&e=x&c=y'`);
    const cd = await cli(['list', 'create', 'club2', '--json', '--home', home]);
    assert.equal(ownerSeen.at(-1), ['create', { name: 'club2' }], 'the daemon picks the default policy');
    assert.is((JSON.parse(cd.stdout) as { invite: string }).invite, 'wotrelay:invite?v=1&e=x&c=y');
  } finally {
    await list.close();
    await owner.close();
  }
});

test('member side: list join/leave/fetch reach your daemon with the right params; inbox and watch show a post as "<author> via <list>"', async () => {
  const home = tmpHome();
  const seen: Array<[string, unknown]> = [];
  const newsFp = fingerprint(decodeEntityId(CAROL));
  const answer = (request: 'subscribe' | 'unsubscribe' | 'fetch', count?: number) => ({ list: CAROL, fingerprint: newsFp, name: 'news', request, ...(count ? { count } : {}) });
  const post: InboxItem = {
    id: 'f'.repeat(32), from: CAROL, fromName: 'news', fromFingerprint: newsFp, receivedAt: Date.now(), sentAt: 0, kind: 'text', text: 'hello list', size: 10,
    path: [{ entity: CAROL, name: 'news', fingerprint: newsFp }], seq: 1, hash: null, parents: [], gap: [],
    author: { entity: BOB, name: 'bob', fingerprint: 'BBBB-BBBB-BBBB-BBBB' },
    via: { entity: CAROL, name: 'news', fingerprint: newsFp },
  };
  const server = await fakeDaemon(home, {
    'list.join': (p) => (seen.push(['join', p]), { ...answer('subscribe'), onion: p.onion ? p.hops ?? 2 : 0 }),
    'invite.accept': (p) => (seen.push(['accept', p]), { entity: CAROL, fingerprint: newsFp, petname: 'news', how: 'invite' as const, state: 'active' as const, addr: '192.0.2.40:7117', addedAt: Date.now(), connected: true }),
    'list.leave': (p) => (seen.push(['leave', p]), answer('unsubscribe')),
    'list.fetch': (p) => (seen.push(['fetch', p]), answer('fetch', p.count ?? 50)),
    inbox: () => [post, { ...post, id: 'e'.repeat(32), author: { entity: BOB, name: null, fingerprint: 'BBBB-BBBB-BBBB-BBBB' }, via: { entity: CAROL, name: null, fingerprint: newsFp } }],
  });
  try {
    const j = await cli(['list', 'join', CAROL, '--addr', '192.0.2.40:7117', '--home', home]);
    assert.is(j.code, 0, j.stderr);
    assert.equal(seen.at(-1), ['join', { list: CAROL, addr: '192.0.2.40:7117' }]);
    assert.match(j.stdout, `subscribe request sent to news (${newsFp})`);
    assert.match(j.stdout, 'on a moderated list the owner approves first');
    await cli(['list', 'join', 'news', '--home', home]);
    assert.equal(seen.at(-1), ['join', { list: 'news' }]);
    const jo = await cli(['list', 'join', 'news', '--onion', '--hops', '3', '--home', home]);
    assert.is(jo.code, 0, jo.stderr);
    assert.equal(seen.at(-1), ['join', { list: 'news', onion: true, hops: 3 }]);
    assert.match(jo.stdout, 'you asked for your copies as onions through 3 relays');
    // An invite code of the list: redeemed first (a member at once), then the request with the copy mode.
    const code = encodeInvite({ entity: decodeEntityId(CAROL), addrs: ['192.0.2.40:7117'], secret: new Uint8Array(32).fill(7), expiresAt: Date.now() + 3_600_000 });
    const ji = await cli(['list', 'join', code, '--onion', '--home', home]);
    assert.is(ji.code, 0, ji.stderr);
    assert.equal(seen.slice(-2), [['accept', { code }], ['join', { list: CAROL, onion: true }]]);
    assert.match(ji.stdout, `you joined news (${newsFp}) with its invite`);
    assert.match(ji.stdout, 'as onions through 2 relays');
    const l = await cli(['list', 'leave', 'news', '--home', home]);
    assert.is(l.code, 0, l.stderr);
    assert.equal(seen.at(-1), ['leave', { list: 'news' }]);
    assert.match(l.stdout, `unsubscribe request sent to news (${newsFp})`);
    const f = await cli(['list', 'fetch', 'news', '--last', '20', '--home', home]);
    assert.is(f.code, 0, f.stderr);
    assert.equal(seen.at(-1), ['fetch', { list: 'news', count: 20 }]);
    assert.match(f.stdout, 'for its 20 most recent posts');
    const f2 = await cli(['list', 'fetch', 'news', '--json', '--home', home]);
    assert.equal(seen.at(-1), ['fetch', { list: 'news' }]);
    assert.equal(JSON.parse(f2.stdout), answer('fetch', 50));
    const i = await cli(['inbox', '--home', home]);
    assert.is(i.code, 0, i.stderr);
    const [first, second] = i.stdout.split('\n\n') as [string, string];
    assert.match(first.split('\n')[0]!, /  from bob \(BBBB-BBBB-BBBB-BBBB\) via news$/);
    assert.match(second.split('\n')[0]!, new RegExp(`  from BBBB-BBBB-BBBB-BBBB via ${newsFp}$`));
    const ij = await cli(['inbox', '--json', '--home', home]);
    assert.equal((JSON.parse(ij.stdout) as InboxItem[])[0]!.author, post.author);
  } finally {
    await server.close();
  }
  // watch prints each new message the same way as it arrives.
  const home2 = tmpHome();
  const w = await fakeDaemon(home2, {
    watch: (_p, ctx) => {
      setImmediate(() => ctx.notify('message', post));
      return { subscribed: true as const };
    },
  });
  try {
    const child = spawn(process.execPath, [CLI, 'watch', '--home', home2], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WOTRELAY_HOME: fallbackHome } });
    let stdout = '';
    const seenLine = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 10_000);
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('hello list')) {
          clearTimeout(t);
          resolve(true);
        }
      });
    });
    child.kill('SIGTERM');
    assert.ok(seenLine, stdout);
    assert.match(stdout, /  from bob \(BBBB-BBBB-BBBB-BBBB\) via news\n/);
  } finally {
    await w.close();
  }
});

test.run();
