/**
 * The local API transport: RpcServer and RpcClient over a real Unix socket in a temp dir
 * (results, param checking, unknown methods, WotError code + hint, internal errors,
 * notifications, socket mode, one daemon per socket, stale sockets, limits).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { RpcClient } from '../../agent/api/client.js';
import { RpcServer, MAX_CLIENTS, type Handlers, type RpcContext } from '../../agent/api/server.js';
import type { StatusResult, TrustEntryView } from '../../agent/api/methods.js';
import { ParamError, validateParams } from '../../agent/api/validate.js';
import { WotError, isWotError } from '../../agent/wire/errors.js';
import { socketPath, resolveHome, dbPath, configPath, pidPath, listsDir, hostedListHome } from '../../agent/daemon/paths.js';
import { checkListConfig } from '../../agent/daemon/daemon.js';
import { encodeEntityId } from '../../agent/identity/index.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-rpc-'));
  dirs.push(d);
  return d;
}

const STATUS: StatusResult = {
  entity: 'wot1x',
  fingerprint: 'AAAA-BBBB-CCCC-DDDD',
  agent: 'wota1x',
  version: '0.1.0',
  pid: 1,
  home: '/h',
  listen: ['127.0.0.1:1'],
  startedAt: 0,
  peers: 0,
  trusted: 0,
  inbox: 0,
  outboxPending: 0,
  metrics: {},
  revocations: [],
  reachability: { mode: 'direct', relays: [], why: 'listening on a public address (192.0.2.1:7117)' },
  queues: { relay: { messages: 0, bytes: 0, byNextHop: [] }, held: 0, limits: { perHop: 1000, total: 10000, bytes: 1 << 28 } },
  outboxByState: { queued: 0, sent: 0, relayed: 0, delivered: 0, read: 0, failed: 0, expired: 0 },
  mailboxes: { mine: 0, hosted: 0 },
};

const TRUST: TrustEntryView = {
  entity: 'wot1y',
  fingerprint: 'EEEE-FFFF-GGGG-HHHH',
  petname: null,
  how: 'manual',
  state: 'active',
  addr: null,
  addedAt: 0,
  connected: false,
};

interface Harness {
  server: RpcServer;
  path: string;
  logs: Array<{ event: string; fields: Record<string, unknown> }>;
  closedCtx: number[];
  seenParams: unknown[];
}

const servers: RpcServer[] = [];

async function startServer(overrides: Partial<Handlers> = {}, sockPath?: string): Promise<Harness> {
  const h: Harness = { server: null as unknown as RpcServer, path: sockPath ?? path.join(tmpDir(), 'api.sock'), logs: [], closedCtx: [], seenParams: [] };
  const unused = () => {
    throw new Error('not used in this test');
  };
  const handlers: Handlers = {
    status: () => STATUS,
    id: () => ({ entity: 'wot1x', fingerprint: 'AAAA-BBBB-CCCC-DDDD', agent: 'wota1x' }),
    peers: () => [],
    'trust.add': (p) => {
      h.seenParams.push(p);
      return { ...TRUST, entity: p.entity, petname: p.name ?? null };
    },
    'trust.revoke': () => {
      throw new WotError('ERR_UNKNOWN_PEER', 'nobody called "zed" is trusted', 'see: wotrelay trust list');
    },
    'trust.list': async () => {
      throw new Error('disk on fire at /secret/stack/place');
    },
    'invite.create': unused,
    'invite.accept': unused,
    send: unused,
    'send.wait': unused,
    inbox: unused,
    outbox: unused,
    track: unused,
    'inbox.get': unused,
    'inbox.read': unused,
    'mailbox.add': unused,
    'mailbox.remove': unused,
    'mailbox.list': unused,
    follow: unused,
    complain: unused,
    discover: unused,
    watch: (_p, ctx: RpcContext) => {
      ctx.onClose(() => h.closedCtx.push(ctx.id));
      setImmediate(() => {
        ctx.notify('message', { n: 1 });
        ctx.notify('message', { n: 2 });
      });
      return { subscribed: true as const };
    },
    shutdown: () => ({ ok: true as const }),
    'list.create': unused,
    'list.hosted': unused,
    'list.join': unused,
    'list.leave': unused,
    'list.fetch': unused,
    'list.info': unused,
    'list.members': unused,
    'list.add': unused,
    'list.remove': unused,
    'list.approve': unused,
    'list.ban': unused,
    'list.status': unused,
    ...overrides,
  };
  h.server = new RpcServer(handlers, { log: (event, fields) => h.logs.push({ event, fields }) });
  await h.server.listen(h.path);
  servers.push(h.server);
  return h;
}

/** Sends raw lines on a fresh connection and collects the first `n` response lines. */
function raw(sock: string, payload: string | Buffer, n = 1): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(sock);
    let buf = '';
    const got: Array<Record<string, unknown>> = [];
    s.on('data', (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        got.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
        if (got.length === n) {
          s.destroy();
          resolve(got);
        }
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.write(payload);
  });
}

async function rejects(p: Promise<unknown>): Promise<WotError> {
  try {
    await p;
  } catch (e) {
    if (isWotError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

test.after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('call: a request gets its handler result', async () => {
  const h = await startServer();
  const c = await RpcClient.connect(h.path);
  const s = await c.call('status', {});
  assert.equal(s, STATUS);
  const t = await c.call('trust.add', { entity: 'wot1q', name: 'bob' });
  assert.is(t.petname, 'bob');
  assert.equal(h.seenParams, [{ entity: 'wot1q', name: 'bob' }]);
  c.close();
});

test('params: missing, mistyped and unknown params are refused with -32602 naming the param; the handler never runs', async () => {
  const h = await startServer();
  const c = await RpcClient.connect(h.path);
  const e1 = await rejects(c.call('trust.add', {} as never));
  assert.is(e1.code, 'ERR_BAD_REQUEST');
  assert.match(e1.message, '"entity"');
  const e2 = await rejects(c.call('trust.add', { entity: 5 } as never));
  assert.match(e2.message, '"entity" must be a string');
  const e3 = await rejects(c.call('trust.add', { entity: 'wot1q', colour: 'red' } as never));
  assert.match(e3.message, 'unknown param "colour"');
  assert.equal(h.seenParams, []);
  const [r] = await raw(h.path, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'status', params: { x: 1 } }) + '\n');
  assert.is(r!.id, 7);
  assert.is((r!.error as { code: number }).code, -32602);
  assert.match((r!.error as { message: string }).message, '"x"');
  c.close();
});

test('validate: nested objects, enums, integer ranges and the text/file rule', () => {
  const msg = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof ParamError) return e.message;
      throw e;
    }
    return 'no error';
  };
  assert.equal(validateParams('send', { to: 'a', text: 'hi' }), { to: 'a', text: 'hi' });
  assert.match(msg(() => validateParams('send', { to: 'a' })), 'exactly one of');
  assert.match(msg(() => validateParams('send', { to: 'a', text: 'x', file: { name: 'f', data: '' } })), 'exactly one of');
  assert.match(msg(() => validateParams('send', { to: 'a', file: { name: 'f' } })), '"file.data"');
  assert.match(msg(() => validateParams('send', { to: 'a', file: { name: 'f', data: '', mode: 1 } })), 'unknown param "file.mode"');
  assert.equal(validateParams('send', { to: 'a', text: 'x', onion: true, hops: 8 }), { to: 'a', text: 'x', onion: true, hops: 8 });
  assert.match(msg(() => validateParams('send', { to: 'a', text: 'x', hops: 2 })), '"hops" needs "onion": true');
  assert.match(msg(() => validateParams('send', { to: 'a', text: 'x', onion: true, hops: 9 })), '"hops"');
  assert.match(msg(() => validateParams('send', { to: 'a', text: 'x', onion: 'yes' })), '"onion"');
  assert.equal(validateParams('list.join', { list: 'news', onion: true, hops: 3 }), { list: 'news', onion: true, hops: 3 });
  assert.match(msg(() => validateParams('list.join', { list: 'news', hops: 3 })), '"hops" needs "onion": true');
  assert.match(msg(() => validateParams('list.join', { list: 'news', onion: true, hops: 0 })), '"hops"');
  assert.match(msg(() => validateParams('send.wait', { id: 'x', until: 'read', timeoutMs: 1 })), '"until" must be one of');
  assert.match(msg(() => validateParams('invite.create', { uses: 0 })), '"uses" must be at least 1');
  assert.match(msg(() => validateParams('inbox', { limit: 1.5 })), '"limit" must be an integer');
  assert.match(msg(() => validateParams('status', [])), 'must be an object');
  assert.equal(validateParams('status', undefined), {});
});

test('validate: the store-and-forward params (outbox filters, send.wait until relayed, mailbox.*, inbox.read)', () => {
  const msg = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof ParamError) return e.message;
      throw e;
    }
    return 'no error';
  };
  assert.equal(validateParams('outbox', { all: true, state: ['queued', 'relayed'], limit: 5 }), { all: true, state: ['queued', 'relayed'], limit: 5 });
  assert.equal(validateParams('outbox', {}), {});
  assert.match(msg(() => validateParams('outbox', { all: 'yes' })), 'param "all" must be a boolean, not a string');
  assert.match(msg(() => validateParams('outbox', { state: 'queued' })), 'param "state" must be an array, not a string');
  assert.match(msg(() => validateParams('outbox', { state: [] })), 'param "state" must have at least 1 item');
  assert.match(msg(() => validateParams('outbox', { state: ['queued', 'lost'] })), 'param "state[1]" must be one of "queued", "sent", "relayed", "delivered", "read", "failed", "expired"');
  assert.match(msg(() => validateParams('outbox', { state: [1] })), 'param "state[0]" must be a string, not a number');
  assert.match(msg(() => validateParams('outbox', { state: Array(8).fill('sent') })), 'at most 7 items');
  assert.equal(validateParams('send.wait', { id: 'x', until: 'relayed', timeoutMs: 1 }), { id: 'x', until: 'relayed', timeoutMs: 1 });
  assert.equal(validateParams('mailbox.add', { who: 'bob', addr: '192.0.2.1:7117' }), { who: 'bob', addr: '192.0.2.1:7117' });
  assert.match(msg(() => validateParams('mailbox.add', {})), 'missing required param "who" (string)');
  assert.match(msg(() => validateParams('mailbox.add', { who: '' })), 'param "who" must not be empty');
  assert.match(msg(() => validateParams('mailbox.add', { who: 'bob', addr: '' })), 'param "addr" must not be empty');
  assert.match(msg(() => validateParams('mailbox.remove', { who: 'bob', addr: 'x:1' })), 'unknown param "addr" (allowed: who)');
  assert.match(msg(() => validateParams('mailbox.list', { who: 'bob' })), 'unknown param "who" (it takes no params)');
  assert.match(msg(() => validateParams('inbox.read', {})), 'missing required param "id"');
  assert.match(msg(() => validateParams('inbox.read', { id: 7 })), 'param "id" must be a string, not a number');
});

test('new methods: bad params are ERR_BAD_REQUEST over the socket, naming the method and the param', async () => {
  const seen: unknown[] = [];
  const h = await startServer({
    outbox: (p) => (seen.push(p), []),
    'mailbox.list': () => ({ mine: [], hosted: [] }),
  });
  const c = await RpcClient.connect(h.path);
  const e1 = await rejects(c.call('outbox', { state: ['nope'] } as never));
  assert.is(e1.code, 'ERR_BAD_REQUEST');
  assert.match(e1.message, 'outbox: param "state[0]" must be one of');
  const e2 = await rejects(c.call('mailbox.add', { who: 5 } as never));
  assert.is(e2.code, 'ERR_BAD_REQUEST');
  assert.match(e2.message, 'mailbox.add: param "who" must be a string');
  const e3 = await rejects(c.call('inbox.read', {} as never));
  assert.match(e3.message, 'inbox.read: missing required param "id"');
  assert.equal(seen, [], 'the handler never ran');
  assert.equal(await c.call('outbox', { all: true, state: ['relayed'] }), []);
  assert.equal(seen, [{ all: true, state: ['relayed'] }]);
  assert.equal(await c.call('mailbox.list', {}), { mine: [], hosted: [] });
  c.close();
});

test('validate: the mailing-list params (name rule, policy, member state, fetch count, ban reason)', () => {
  const msg = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof ParamError) return e.message;
      throw e;
    }
    return 'no error';
  };
  assert.equal(validateParams('list.create', { name: 'friends-2', policy: 'moderated' }), { name: 'friends-2', policy: 'moderated' });
  assert.equal(validateParams('list.create', { name: 'a' }), { name: 'a' });
  assert.equal(validateParams('list.create', { name: 'x'.repeat(32) }), { name: 'x'.repeat(32) });
  assert.match(msg(() => validateParams('list.create', {})), 'missing required param "name" (string)');
  assert.match(msg(() => validateParams('list.create', { name: '' })), 'param "name" must not be empty');
  for (const bad of ['Friends', 'my list', 'x'.repeat(33), 'a_b', 'ünï', '../up']) {
    assert.match(msg(() => validateParams('list.create', { name: bad })), 'a list name is 1 to 32 characters of a-z, 0-9 and "-"', bad);
  }
  assert.match(msg(() => validateParams('list.create', { name: 'ok', policy: 'open' })), 'param "policy" must be one of "announce", "discuss", "moderated"');
  assert.match(msg(() => validateParams('list.create', { name: 'ok', owner: 'x' })), 'unknown param "owner" (allowed: name, policy)');
  assert.match(msg(() => validateParams('list.hosted', { name: 'x' })), 'unknown param "name" (it takes no params)');
  assert.equal(validateParams('list.join', { list: 'news', addr: '192.0.2.1:7117' }), { list: 'news', addr: '192.0.2.1:7117' });
  assert.match(msg(() => validateParams('list.join', {})), 'missing required param "list" (string)');
  assert.match(msg(() => validateParams('list.join', { list: 'news', addr: '' })), 'param "addr" must not be empty');
  assert.match(msg(() => validateParams('list.leave', { list: 3 })), 'param "list" must be a string, not a number');
  assert.equal(validateParams('list.fetch', { list: 'news', count: 1000 }), { list: 'news', count: 1000 });
  assert.match(msg(() => validateParams('list.fetch', { list: 'news', count: 0 })), 'param "count" must be at least 1');
  assert.match(msg(() => validateParams('list.fetch', { list: 'news', count: 1001 })), 'param "count" must be at most 1000');
  assert.match(msg(() => validateParams('list.fetch', { list: 'news', count: 2.5 })), 'param "count" must be an integer');
  assert.equal(validateParams('list.members', { state: 'pending' }), { state: 'pending' });
  assert.equal(validateParams('list.members', {}), {});
  assert.match(msg(() => validateParams('list.members', { state: 'muted' })), 'param "state" must be one of "member", "pending", "banned"');
  for (const m of ['list.add', 'list.remove', 'list.approve'] as const) {
    assert.match(msg(() => validateParams(m, {})), 'missing required param "who" (string)', m);
    assert.match(msg(() => validateParams(m, { who: '' })), 'param "who" must not be empty', m);
  }
  assert.equal(validateParams('list.ban', { who: 'bob', reason: 'spam' }), { who: 'bob', reason: 'spam' });
  assert.match(msg(() => validateParams('list.ban', { who: 'bob', reason: 'é'.repeat(101) })), 'param "reason" must be at most 200 bytes');
  assert.match(msg(() => validateParams('list.status', { verbose: true })), 'unknown param "verbose"');
  assert.match(msg(() => validateParams('list.info', [])), 'must be an object');
});

test('list methods over the socket: bad params are ERR_BAD_REQUEST naming the method; good ones reach the handler', async () => {
  const seen: unknown[] = [];
  const h = await startServer({
    'list.create': (p) => {
      seen.push(p);
      return { name: p.name, entity: 'wot1l', fingerprint: 'LLLL-LLLL-LLLL-LLLL', policy: p.policy ?? 'discuss', home: '/h/lists/x', invite: 'code', inviteExpiresAt: 1, inviteUses: 1000 };
    },
    'list.members': (p) => (seen.push(p), []),
    'list.ban': () => {
      throw new WotError('ERR_BAD_REQUEST', 'this agent is not a mailing list', 'list commands take the name of a list hosted under your home: wotrelay list hosted shows them');
    },
  });
  const c = await RpcClient.connect(h.path);
  const e1 = await rejects(c.call('list.create', { name: 'Bad Name' }));
  assert.is(e1.code, 'ERR_BAD_REQUEST');
  assert.match(e1.message, 'list.create: param "name" ("Bad Name") is not a list name: a list name is 1 to 32 characters of a-z, 0-9 and "-"');
  const e2 = await rejects(c.call('list.members', { state: 'gone' } as never));
  assert.match(e2.message, 'list.members: param "state" must be one of');
  const e3 = await rejects(c.call('list.fetch', { list: 'x', count: 5000 }));
  assert.match(e3.message, 'list.fetch: param "count" must be at most 1000');
  assert.equal(seen, [], 'the handlers never ran');
  const r = await c.call('list.create', { name: 'friends' });
  assert.is(r.policy, 'discuss');
  assert.equal(await c.call('list.members', { state: 'banned' }), []);
  assert.equal(seen, [{ name: 'friends' }, { state: 'banned' }]);
  const e4 = await rejects(c.call('list.ban', { who: 'bob' }));
  assert.is(e4.message, 'this agent is not a mailing list');
  assert.match(e4.hint ?? '', 'wotrelay list hosted');
  c.close();
});

test('unknown method: -32601, and the client reports it as ERR_BAD_REQUEST', async () => {
  const h = await startServer();
  const [r] = await raw(h.path, JSON.stringify({ jsonrpc: '2.0', id: 'a', method: 'frobnicate' }) + '\n');
  assert.is(r!.id, 'a');
  assert.is((r!.error as { code: number }).code, -32601);
  assert.match((r!.error as { message: string }).message, 'frobnicate');
  const c = await RpcClient.connect(h.path);
  const e = await rejects(c.call('frobnicate' as never, {} as never));
  assert.is(e.code, 'ERR_BAD_REQUEST');
  c.close();
});

test('malformed lines: bad JSON gets -32700, a non-2.0 request -32600; the connection keeps working', async () => {
  const h = await startServer();
  const rs = await raw(h.path, 'not json\n' + JSON.stringify({ id: 1, method: 'status' }) + '\n' + JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'id' }) + '\n', 3);
  assert.is((rs[0]!.error as { code: number }).code, -32700);
  assert.is((rs[1]!.error as { code: number }).code, -32600);
  assert.is(rs[2]!.id, 2);
  assert.is((rs[2]!.result as { entity: string }).entity, 'wot1x');
});

test('WotError round trip: the client gets the same code, message and hint', async () => {
  const h = await startServer();
  const c = await RpcClient.connect(h.path);
  const e = await rejects(c.call('trust.revoke', { who: 'zed' }));
  assert.is(e.code, 'ERR_UNKNOWN_PEER');
  assert.is(e.message, 'nobody called "zed" is trusted');
  assert.is(e.hint, 'see: wotrelay trust list');
  const [r] = await raw(h.path, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'trust.revoke', params: { who: 'zed' } }) + '\n');
  assert.equal(r!.error, { code: 1, message: 'nobody called "zed" is trusted', data: { code: 'ERR_UNKNOWN_PEER', hint: 'see: wotrelay trust list' } });
  c.close();
});

test('other exceptions: -32603 "internal error" without details for the client, logged for the daemon', async () => {
  const h = await startServer();
  const [r] = await raw(h.path, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'trust.list' }) + '\n');
  const error = r!.error as { code: number; message: string };
  assert.is(error.code, -32603);
  assert.is(error.message, 'internal error');
  assert.not.match(JSON.stringify(r), 'disk on fire');
  assert.not.match(JSON.stringify(r), 'stack');
  assert.ok(h.logs.some((l) => l.event === 'rpc.internal_error' && String(l.fields.error).includes('disk on fire')));
  const c = await RpcClient.connect(h.path);
  const e = await rejects(c.call('trust.list', {}));
  assert.is(e.code, 'ERR_INTERNAL');
  c.close();
});

test('notifications: reach the client after watch; onClose runs when the client goes', async () => {
  const h = await startServer();
  const c = await RpcClient.connect(h.path);
  const got: Array<[string, unknown]> = [];
  const two = new Promise<void>((resolve) =>
    c.onNotification((m, p) => {
      got.push([m, p]);
      if (got.length === 2) resolve();
    }),
  );
  const r = await c.call('watch', {});
  assert.equal(r, { subscribed: true });
  await two;
  assert.equal(got, [
    ['message', { n: 1 }],
    ['message', { n: 2 }],
  ]);
  const closed = new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (h.closedCtx.length) {
        clearInterval(t);
        resolve();
      }
    }, 5);
  });
  c.close();
  await closed;
  assert.is(h.closedCtx.length, 1);
});

test('the socket file has mode 0600', async () => {
  const h = await startServer();
  assert.is(fs.statSync(h.path).mode & 0o777, 0o600);
  assert.ok(fs.statSync(h.path).isSocket());
});

test('a second server on the same socket is refused while the first answers', async () => {
  const h = await startServer();
  const second = new RpcServer({} as Handlers);
  const e = await rejects(second.listen(h.path));
  assert.is(e.code, 'ERR_BAD_REQUEST');
  assert.match(e.message, `another daemon is already running for this home (socket ${h.path})`);
  const c = await RpcClient.connect(h.path);
  assert.is((await c.call('id', {})).entity, 'wot1x', 'the first server still answers');
  c.close();
});

test('a stale socket file (nothing listening) is replaced; a non-socket file is left alone', async () => {
  const dir = tmpDir();
  const p = path.join(dir, 'api.sock');
  // Make a socket file nobody listens on: hard-link a live socket, then close its server.
  const tmpSrv = net.createServer();
  const live = path.join(dir, 'live.sock');
  await new Promise<void>((r) => tmpSrv.listen(live, () => r()));
  fs.linkSync(live, p);
  await new Promise<void>((r) => tmpSrv.close(() => r()));
  assert.ok(fs.lstatSync(p).isSocket(), 'stale socket file present');
  const h = await startServer({}, p);
  assert.ok(h.logs.some((l) => l.event === 'rpc.stale_socket_removed'));
  const c = await RpcClient.connect(p);
  assert.is((await c.call('id', {})).entity, 'wot1x');
  c.close();

  const plain = path.join(dir, 'plain');
  fs.writeFileSync(plain, 'keep me');
  const e = await rejects(new RpcServer({} as Handlers).listen(plain));
  assert.match(e.message, 'not a socket');
  assert.is(fs.readFileSync(plain, 'utf8'), 'keep me');
});

test('close removes the socket file and ends client connections', async () => {
  const h = await startServer();
  const c = await RpcClient.connect(h.path);
  const ended = new Promise<WotError | null>((resolve) => c.onClose(resolve));
  await h.server.close();
  assert.not.ok(fs.existsSync(h.path));
  const e = await ended;
  assert.is(e?.code, 'ERR_CONNECTION_LOST');
  const e2 = await rejects(c.call('id', {}));
  assert.is(e2.code, 'ERR_CONNECTION_LOST');
});

test('client to a missing socket: ERR_NOT_RUNNING naming the home and how to start the daemon', async () => {
  const home = tmpDir();
  const e = await rejects(RpcClient.connect(path.join(home, 'api.sock')));
  assert.is(e.code, 'ERR_NOT_RUNNING');
  assert.is(e.message, `the wotrelay daemon is not running for home ${home}`);
  assert.is(e.hint, `start it with: wotrelay daemon --home ${home}`);
  const e2 = await rejects(RpcClient.connect(path.join(home, 'elsewhere.sock'), 3000, { home: '/my/home' }));
  assert.match(e2.message, 'for home /my/home');
});

test('a request line over 4 MiB closes the connection', async () => {
  const h = await startServer();
  const big = Buffer.alloc(4 * 1024 * 1024 + 10, 0x61);
  const rs = await raw(h.path, big, 1);
  assert.is(rs.length, 1);
  assert.match((rs[0]!.error as { message: string }).message, 'larger than');
  assert.ok(h.logs.some((l) => l.event === 'rpc.line_too_long'));
});

test(`more than ${MAX_CLIENTS} clients: the next one is told so and closed`, async () => {
  const h = await startServer();
  const clients: RpcClient[] = [];
  for (let i = 0; i < MAX_CLIENTS; i++) clients.push(await RpcClient.connect(h.path));
  await clients[MAX_CLIENTS - 1]!.call('id', {}); // all accepted by now
  const extra = await RpcClient.connect(h.path);
  const e = await rejects(extra.call('id', {}));
  assert.match(e.message, 'too many API clients');
  for (const c of clients) c.close();
  extra.close();
});

test('paths: home resolution order and socket path fallback for long homes', () => {
  const env = { HOME: '/home/u' };
  assert.is(resolveHome(undefined, env), '/home/u/.local/share/wotrelay');
  assert.is(resolveHome(undefined, { ...env, XDG_DATA_HOME: '/x' }), '/x/wotrelay');
  assert.is(resolveHome(undefined, { ...env, XDG_DATA_HOME: 'relative' }), '/home/u/.local/share/wotrelay');
  assert.is(resolveHome(undefined, { ...env, XDG_DATA_HOME: '/x', WOTRELAY_HOME: '/w' }), '/w');
  assert.is(resolveHome('/flag', { ...env, WOTRELAY_HOME: '/w' }), '/flag');
  assert.is(resolveHome('~/h', env), '/home/u/h');
  assert.is(resolveHome('rel', env), path.resolve('rel'));
  assert.is(socketPath('/h'), '/h/api.sock');
  const long = '/' + 'd'.repeat(120);
  const s = socketPath(long);
  assert.ok(s.startsWith(path.join(os.tmpdir(), 'wotrelay-')));
  assert.match(s, /wotrelay-[0-9a-f]{16}\.sock$/);
  assert.is(socketPath(long), s, 'stable');
  assert.is.not(socketPath(long + 'x'), s, 'per home');
  assert.is(dbPath('/h'), '/h/wotrelay.db');
  assert.is(configPath('/h'), '/h/config.json');
  assert.is(pidPath('/h'), '/h/daemon.pid');
  assert.is(listsDir('/h'), '/h/lists');
  assert.is(hostedListHome('/h', 'friends'), '/h/lists/friends');
});

test('config: the "list" key is checked (name rule, policy, owner id, no unknown keys) with the file named', () => {
  const owner = encodeEntityId(new Uint8Array(32).fill(7));
  assert.equal(checkListConfig({ name: 'friends', policy: 'moderated', owner }, '/h/config.json'), { name: 'friends', policy: 'moderated', owner });
  const msg = (v: unknown) => {
    try {
      checkListConfig(v, '/h/config.json');
    } catch (e) {
      if (isWotError(e)) {
        assert.is(e.code, 'ERR_BAD_REQUEST');
        assert.match(e.hint ?? '', 'fix the "list" key of /h/config.json');
        return e.message;
      }
      throw e;
    }
    return 'no error';
  };
  assert.match(msg('friends'), 'config file /h/config.json: "list" must be an object');
  assert.match(msg({ name: 'Friends!', policy: 'discuss', owner }), '"list.name" "Friends!" is not valid: a list name is 1 to 32 characters');
  assert.match(msg({ name: 'x'.repeat(33), policy: 'discuss', owner }), '"list.name"');
  assert.match(msg({ policy: 'discuss', owner }), '"list.name"');
  assert.match(msg({ name: 'ok', policy: 'open', owner }), '"list.policy" must be one of announce, discuss, moderated');
  assert.match(msg({ name: 'ok', policy: 'discuss' }), '"list.owner" must be the owner\'s entity id');
  assert.match(msg({ name: 'ok', policy: 'discuss', owner: owner.slice(0, -2) + 'qq' }), '"list.owner" is not a valid entity id');
  assert.match(msg({ name: 'ok', policy: 'discuss', owner, extra: 1 }), 'unknown key "list.extra"');
});

test.run();
