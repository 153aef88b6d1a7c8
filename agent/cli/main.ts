#!/usr/bin/env node
/**
 * The `wotrelay` command line: finds the command, parses its options (args.ts), talks to
 * the daemon over the local API (api/client.ts) and prints text or, with --json, the raw
 * results. Exit codes: 0 ok, 1 the operation failed, 2 bad arguments, 3 daemon not running.
 * Heavy modules (identity, daemon) are imported only by the commands that need them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RpcClient } from '../api/client.js';
import {
  LIST_NAME_RE,
  LIST_NAME_RULE,
  OUTBOX_STATES,
  type ListChangeResult,
  type ListMemberView,
  type ListPolicy,
  type ListRequestResult,
  type MethodName,
  type OutboxState,
  type Params,
  type Result,
  type SendResult,
  type InboxItem,
  type ProgressItem,
} from '../api/methods.js';
import { resolveHome, socketPath, configPath, hostedListHome } from '../daemon/paths.js';
import { EarlyListener, configuredListen } from '../daemon/listener.js';
import { Limits } from '../wire/constants.js';
import { WotError, isWotError } from '../wire/errors.js';
import { ArgError, editDistance, parseArgs, type OptSpec, type OptValue } from './args.js';
import { COMMANDS, GLOBAL_OPTIONS, commandHelp, findCommand, groupHelp, overviewHelp, subcommands, usageLine, type CommandSpec } from './help.js';
import * as fmt from './format.js';
import { packageVersion } from './version.js';

const DEFAULT_LISTEN = '0.0.0.0:7117';
const DEFAULT_INVITE_MS = 24 * 3_600_000;
const DEFAULT_SEND_TIMEOUT_MS = 10_000;

/** What a command run leaves behind: an exit code, or 'running' for daemon/watch. */
type Outcome = number | 'running';

interface Ctx {
  home: string;
  json: boolean;
  opts: Record<string, OptValue | OptValue[]>;
  positionals: string[];
  spec: CommandSpec;
  /** ` --home DIR` when the home is not the default, for commands shown in hints. */
  homeArg: string;
}

const out = (s: string) => void process.stdout.write(s);
const err = (s: string) => void process.stderr.write(s);
const printJson = (v: unknown) => out(JSON.stringify(v, null, 2) + '\n');

// ----------------------------------------------------------------------------- helpers

function str(v: OptValue | OptValue[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function num(v: OptValue | OptValue[] | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
function strs(v: OptValue | OptValue[] | undefined): string[] | undefined {
  return Array.isArray(v) ? v.map(String) : undefined;
}

async function withClient<T>(c: Ctx, fn: (client: RpcClient) => Promise<T>): Promise<T> {
  let client: RpcClient;
  try {
    client = await RpcClient.connect(socketPath(c.home), 3000, { home: c.home });
  } catch (e) {
    throw explainNotRunning(c, e);
  }
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** When the daemon is not running in a home that has no identity yet, say to run init first. */
function explainNotRunning(c: Ctx, e: unknown): unknown {
  if (!isWotError(e) || e.code !== 'ERR_NOT_RUNNING') return e;
  const initialised = fs.existsSync(path.join(c.home, 'agent.key')) || fs.existsSync(path.join(c.home, 'entity.key'));
  if (initialised) return new WotError('ERR_NOT_RUNNING', e.message, `start it with: wotrelay daemon${c.homeArg}`);
  return new WotError(
    'ERR_NOT_RUNNING',
    e.message,
    `${c.home} has no identity yet: create one with: wotrelay init${c.homeArg}, then start it with: wotrelay daemon${c.homeArg}`,
  );
}

function call<M extends MethodName>(c: Ctx, method: M, params: Params<M>, timeoutMs?: number): Promise<Result<M>> {
  return withClient(c, (client) => client.call(method, params, timeoutMs));
}

function looksLikeId(s: string): boolean {
  return /^wota?1/i.test(s.trim()) && s.trim().length >= 8;
}

/** Checks an entity id with the identity module's decoder; a bad one is an argument error (exit 2). */
async function checkEntityId(s: string, what: string): Promise<{ entity: string; fingerprint: string }> {
  const { decodeEntityId, encodeEntityId, fingerprint } = await import('../identity/index.js');
  let pub: Uint8Array;
  try {
    pub = decodeEntityId(s);
  } catch (e) {
    if (isWotError(e)) {
      throw new ArgError(`${what} "${fmt.clean(s)}" is not a valid entity id: ${e.message}`, e.hint ?? 'copy the id again (it starts with wot1); `wotrelay id` prints yours');
    }
    throw e;
  }
  return { entity: encodeEntityId(pub), fingerprint: fingerprint(pub) };
}

/** An entity id (checked) or a petname (passed on as is). */
async function checkWho(s: string, what: string): Promise<{ who: string; fingerprint: string | null }> {
  if (s.trim() === '') throw new ArgError(`${what} is empty`, 'give an entity id (wot1…) or a petname');
  if (!looksLikeId(s)) return { who: s, fingerprint: null };
  const r = await checkEntityId(s, what);
  return { who: r.entity, fingerprint: r.fingerprint };
}

// ----------------------------------------------------------------------------- commands

async function cmdInit(c: Ctx): Promise<Outcome> {
  const listen = str(c.opts.listen);
  const addrs = strs(c.opts.addr);
  const cfgFile = configPath(c.home);
  let cfg: Record<string, unknown> = {};
  if (fs.existsSync(cfgFile)) {
    try {
      const parsed = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      cfg = parsed as Record<string, unknown>;
    } catch (e) {
      throw new WotError('ERR_BAD_REQUEST', `${cfgFile} is not a valid JSON object (${(e as Error).message})`, `fix it or delete it, then run: wotrelay init${c.homeArg}`);
    }
  }
  const id = await import('../identity/index.js');
  if (id.identityExists(c.home)) {
    throw new WotError('ERR_KEY_FILE', `${c.home} already has an identity; init changes nothing`, `start it with: wotrelay daemon${c.homeArg} (for a second identity, use another --home)`);
  }
  const identity = id.createIdentity(c.home, Date.now());
  cfg.listen = listen ?? (typeof cfg.listen === 'string' ? cfg.listen : DEFAULT_LISTEN);
  cfg.addrs = addrs ?? (Array.isArray(cfg.addrs) ? cfg.addrs : []);
  const tmp = `${cfgFile}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, cfgFile);
  const result = {
    entity: id.encodeEntityId(identity.entityPub),
    fingerprint: id.fingerprint(identity.entityPub),
    agent: id.encodeAgentId(identity.agent.publicKey),
    home: c.home,
    listen: cfg.listen,
    addrs: cfg.addrs,
  };
  if (c.json) {
    printJson(result);
    return 0;
  }
  out(
    [
      `created a new identity in ${c.home}`,
      '',
      `  entity id    ${result.entity}`,
      `  fingerprint  ${result.fingerprint}`,
      `  listen       ${String(result.listen)}`,
      '',
      'Keep entity.key safe: it is who you are. Next, start your agent:',
      `  wotrelay daemon${c.homeArg}`,
      '',
    ].join('\n'),
  );
  return 0;
}

async function cmdDaemon(c: Ctx): Promise<Outcome> {
  // Say so before the daemon binds its ports when one already serves this home.
  try {
    const running = await RpcClient.connect(socketPath(c.home), 1000, { home: c.home });
    running.close();
    throw new WotError('ERR_BAD_REQUEST', `a daemon is already running for ${c.home}`, `see it with: wotrelay status${c.homeArg}; stop it with: wotrelay stop${c.homeArg}`);
  } catch (e) {
    if (!isWotError(e) || e.code !== 'ERR_NOT_RUNNING') throw e;
  }
  const listen = str(c.opts.listen);
  // The port is bound before the daemon's modules load (most of its start-up): connections
  // wait, unread, until the identity and store are ready (daemon/listener.ts).
  // A home without an identity is the first thing to report, whether or not the port binds.
  const at = configuredListen(c.home, listen);
  let listener: EarlyListener | undefined;
  let bindError: unknown = null;
  if (at !== null) {
    try {
      listener = await EarlyListener.bind(at);
    } catch (e) {
      bindError = e;
    }
  }
  let runDaemon: typeof import('../daemon/daemon.js').runDaemon;
  try {
    const { identityExists } = await import('../identity/index.js');
    if (!identityExists(c.home)) {
      throw new WotError('ERR_KEY_FILE', `${c.home} has no identity yet`, `create one first with: wotrelay init${c.homeArg}`);
    }
    if (bindError !== null) throw bindError;
    ({ runDaemon } = await import('../daemon/daemon.js'));
  } catch (e) {
    await listener?.close();
    throw e;
  }
  const level = str(c.opts['log-level']) as 'debug' | 'info' | 'warn' | undefined;
  const handle = await runDaemon({
    home: c.home,
    ...(listen !== undefined ? { listen } : {}),
    ...(level !== undefined ? { logLevel: level } : {}),
    ...(c.json ? { logFormat: 'json' as const } : {}),
    ...(listener ? { listener } : {}),
  });
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      err(`wotrelay: ${sig} again, exiting without a clean stop\n`);
      process.exit(130);
    }
    stopping = true;
    handle.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        report(e);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return 'running';
}

async function cmdStatus(c: Ctx): Promise<Outcome> {
  const s = await call(c, 'status', {});
  if (c.json) printJson(s);
  else out(fmt.statusText(s));
  return 0;
}

async function cmdId(c: Ctx): Promise<Outcome> {
  const r = await call(c, 'id', {});
  if (c.json) {
    printJson(r);
    return 0;
  }
  out(
    [
      `entity id    ${r.entity}`,
      `fingerprint  ${r.fingerprint}`,
      `agent id     ${r.agent}`,
      '',
      'Give your entity id to people you know; they should check the fingerprint with you',
      '(read it aloud) before trusting it.',
      '',
    ].join('\n'),
  );
  return 0;
}

async function cmdPeers(c: Ctx): Promise<Outcome> {
  const peers = await call(c, 'peers', {});
  if (c.json) printJson(peers);
  else if (peers.length === 0) out(`no agents connected\nhint: trusted agents with a known address are dialled automatically; see: wotrelay trust list${c.homeArg}\n`);
  else out(fmt.peersTable(peers));
  return 0;
}

async function cmdTrustAdd(c: Ctx): Promise<Outcome> {
  const { entity, fingerprint } = await checkEntityId(c.positionals[0]!, 'the entity id');
  const note = `fingerprint  ${fingerprint}\ncheck this fingerprint with the person (read it aloud) before trusting\n`;
  // With --json stdout carries only the result; the reminder still reaches the person.
  if (c.json) err(note);
  else out(note);
  const name = str(c.opts.name);
  const addr = str(c.opts.addr);
  const t = await call(c, 'trust.add', { entity, ...(name !== undefined ? { name } : {}), ...(addr !== undefined ? { addr } : {}) });
  if (c.json) printJson(t);
  else out(`trusted ${fmt.who(t.petname, t.fingerprint)}${t.addr ? ` at ${t.addr}` : ''}\n`);
  return 0;
}

async function cmdTrustRevoke(c: Ctx): Promise<Outcome> {
  const { who } = await checkWho(c.positionals[0]!, 'who to revoke');
  const t = await call(c, 'trust.revoke', { who });
  if (c.json) printJson(t);
  else out(`revoked trust in ${fmt.who(t.petname, t.fingerprint)}; its links are closed\n`);
  return 0;
}

async function cmdTrustList(c: Ctx): Promise<Outcome> {
  const list = await call(c, 'trust.list', {});
  if (c.json) printJson(list);
  else if (list.length === 0) out(`you trust nobody yet\nhint: invite someone with: wotrelay invite${c.homeArg}\n`);
  else out(fmt.trustTable(list));
  return 0;
}

async function cmdInvite(c: Ctx): Promise<Outcome> {
  const uses = num(c.opts.uses) ?? 1;
  const expiresInMs = num(c.opts.expires) ?? DEFAULT_INVITE_MS;
  const r = await call(c, 'invite.create', { uses, expiresInMs });
  if (c.json) {
    printJson(r);
    return 0;
  }
  out(
    [
      r.code,
      '',
      `valid for ${r.uses} use${r.uses === 1 ? '' : 's'} until ${fmt.when(r.expiresAt)}.`,
      'Send it over a channel you trust (in person, a call, a chat); the other person runs:',
      `  wotrelay accept ${fmt.shellQuote(r.code)} --name <your name>`,
      '',
    ].join('\n'),
  );
  return 0;
}

async function cmdAccept(c: Ctx): Promise<Outcome> {
  const code = c.positionals[0]!.trim();
  // Check the code locally first: a mistyped or altered code fails here, before any dialling.
  const { decodeInvite } = await import('../identity/index.js');
  try {
    decodeInvite(code);
  } catch (e) {
    // A code that does not decode is a bad argument: say what is wrong, exit 2.
    if (isWotError(e)) throw new ArgError(`the invite code is not valid: ${e.message}`, e.hint ?? 'copy the whole code again (it starts with wotrelay:invite?)');
    throw e;
  }
  const name = str(c.opts.name);
  const t = await call(c, 'invite.accept', { code, ...(name !== undefined ? { name } : {}) }, 60_000);
  if (c.json) {
    printJson(t);
    return 0;
  }
  const label = t.petname ?? t.entity;
  out(
    [
      `you and ${fmt.who(t.petname, t.fingerprint)} now trust each other`,
      ...(t.petname === null ? [`entity id ${t.entity}`, `give them a name with: wotrelay trust add ${t.entity} --name NAME${c.homeArg}`] : []),
      `say hello: wotrelay send ${fmt.shellQuote(label)} "hello"${c.homeArg}`,
      '',
    ].join('\n'),
  );
  return 0;
}

function describeState(r: SendResult, to: string, waited: number | null): string {
  switch (r.state) {
    case 'delivered':
      return `delivered to ${to}`;
    case 'read':
      return `delivered to ${to} and read`;
    case 'relayed':
      return `relayed: a relay holds it for ${to}; it is delivered when ${to} is back (see: wotrelay outbox)`;
    case 'sent':
      return waited !== null
        ? `sent to ${to}, but delivery was not confirmed within ${waited / 1000}s; the agent keeps trying (see: wotrelay outbox)`
        : `sent to ${to}; delivery not confirmed yet (see: wotrelay outbox, or use --wait)`;
    case 'queued':
      return waited !== null
        ? `queued for ${to}: not delivered within ${waited / 1000}s (not connected?); the agent keeps trying (see: wotrelay outbox)`
        : `queued for ${to}; it goes out when ${to} is reachable (see: wotrelay outbox, or use --wait)`;
    case 'failed':
      return `sending to ${to} failed (see: wotrelay outbox for the error)`;
    case 'expired':
      return `the message to ${to} expired before it could be delivered`;
  }
}

async function cmdSend(c: Ctx): Promise<Outcome> {
  const [rawTo, ...words] = c.positionals;
  const file = str(c.opts.file);
  const wait = c.opts.wait === true;
  const follow = c.opts.follow === true;
  const timeoutMs = num(c.opts.timeout) ?? DEFAULT_SEND_TIMEOUT_MS;
  if (c.opts.timeout !== undefined && !wait && !follow) throw new ArgError('--timeout only applies with --wait or --follow', 'add --wait, or drop --timeout');
  const onion = c.opts.onion === true;
  const hops = num(c.opts.hops);
  if (hops !== undefined && !onion) throw new ArgError('--hops only applies with --onion (the relays of an onion path)', 'add --onion, or drop --hops');
  const { who, fingerprint } = await checkWho(rawTo!, 'the recipient');
  const params: Params<'send'> = { to: who, ...(onion ? { onion: true } : {}), ...(hops !== undefined ? { hops } : {}) };
  if (file !== undefined) {
    if (words.length) throw new ArgError('give either a text or --file, not both', usageLine(c.spec));
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ArgError(`cannot read --file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`, 'check the path');
    }
    if (!st.isFile()) throw new ArgError(`--file ${file} is not a regular file`, 'give the path of a file');
    if (st.size > Limits.MAX_BODY) throw new ArgError(`--file ${file} is ${fmt.bytes(st.size)}; the limit is ${fmt.bytes(Limits.MAX_BODY)}`, 'send a smaller file (compress or split it)');
    const data = fs.readFileSync(file);
    if (data.length > Limits.MAX_BODY) throw new ArgError(`--file ${file} is ${fmt.bytes(data.length)}; the limit is ${fmt.bytes(Limits.MAX_BODY)}`, 'send a smaller file');
    params.file = { name: path.basename(file), data: data.toString('base64') };
  } else {
    if (words.length === 0) throw new ArgError('nothing to send: give the text after the recipient, or --file FILE', usageLine(c.spec));
    const text = words.join(' ');
    if (text.trim() === '') throw new ArgError('the message text is empty', usageLine(c.spec));
    const size = Buffer.byteLength(text);
    if (size > Limits.MAX_BODY) throw new ArgError(`the message is ${fmt.bytes(size)}; the limit is ${fmt.bytes(Limits.MAX_BODY)}`, 'shorten it');
    params.text = text;
  }
  const to = fingerprint !== null ? fingerprint : fmt.clean(who);
  const final = await withClient(c, async (client) => {
    let r = await client.call('send', params);
    if (follow) {
      // Subscribe first, then print past and new steps as they come, until delivered.
      const started = Date.now();
      const seen = new Set<string>();
      const show = (p: ProgressItem) => {
        const k = `${p.reporter}:${p.status}:${p.detail ?? ''}`;
        if (seen.has(k)) return;
        seen.add(k);
        if (c.json) out(JSON.stringify(p) + '\n');
        else out(fmt.progressLine(p, started) + '\n');
      };
      client.onNotification((method, p) => {
        if (method === 'progress') show(p as ProgressItem);
      });
      for (const p of await client.call('follow', { id: r.id })) show(p);
      r = await client.call('send.wait', { id: r.id, until: 'delivered', timeoutMs }, timeoutMs + 10_000);
      await new Promise((res) => setTimeout(res, 200)); // late reports
      return r;
    }
    if (wait && (r.state === 'queued' || r.state === 'sent' || r.state === 'relayed')) {
      r = await client.call('send.wait', { id: r.id, until: 'delivered', timeoutMs }, timeoutMs + 10_000);
    }
    return r;
  });
  if (c.json) {
    if (!follow) printJson(final);
  } else out(`${describeState(final, to, wait || follow ? timeoutMs : null)}\nmessage id ${final.id}\n`);
  return 0;
}

function messageIdArg(s: string | undefined): string {
  const id = (s ?? '').trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(id)) throw new ArgError(`"${fmt.clean(s ?? '')}" is not a message id`, 'a message id is 32 hex characters; wotrelay inbox and wotrelay outbox --json list them');
  return id;
}

async function cmdSave(c: Ctx): Promise<Outcome> {
  const id = messageIdArg(c.positionals[0]);
  const r = await call(c, 'inbox.get', { id });
  const suggested = r.item.name ? path.basename(r.item.name) : `${id}.txt`;
  const target = str(c.opts.out) ?? suggested;
  if (!c.opts.force && fs.existsSync(target)) throw new ArgError(`${target} already exists`, 'pick another --out PATH, or add --force to overwrite it');
  fs.writeFileSync(target, Buffer.from(r.data, 'base64'), { mode: 0o600 });
  if (c.json) printJson({ id, path: path.resolve(target), size: r.item.size });
  else out(`saved ${r.item.size} bytes from ${r.item.fromName ?? r.item.fromFingerprint} to ${target}\n`);
  return 0;
}

async function cmdTrack(c: Ctx): Promise<Outcome> {
  const id = messageIdArg(c.positionals[0]);
  const steps = await call(c, 'track', { id });
  if (c.json) printJson(steps);
  else if (steps.length === 0) out(`no progress recorded for ${id} (only messages sent since the daemon started are tracked)\n`);
  else {
    const t0 = steps[0]!.at;
    out(steps.map((p) => fmt.progressLine(p, t0)).join('\n') + '\n');
  }
  return 0;
}

async function cmdComplain(c: Ctx): Promise<Outcome> {
  const id = messageIdArg(c.positionals[0]);
  const reason = str(c.opts.reason);
  if (reason !== undefined && Buffer.byteLength(reason) > 200) throw new ArgError('--reason is longer than 200 bytes', 'shorten it');
  const r = await call(c, 'complain', { id, ...(reason !== undefined ? { reason } : {}) });
  if (c.json) printJson(r);
  else out(`complaint about ${id} sent back along its path\n`);
  return 0;
}

async function cmdDiscover(c: Ctx): Promise<Outcome> {
  const { who } = await checkWho(c.positionals[0]!, 'the entity to find');
  const timeoutMs = num(c.opts.timeout) ?? 15_000;
  const r = await call(c, 'discover', { to: who, timeoutMs }, timeoutMs + 10_000);
  if (c.json) printJson(r);
  else if (r.routes.length === 0) out(`no route found to ${fmt.clean(who)} within ${Math.round(timeoutMs / 1000)}s\n`);
  else out(r.routes.map((route) => 'you → ' + route.map((h) => h.name ?? h.fingerprint).join(' → ')).join('\n') + '\n');
  return 0;
}

async function cmdInbox(c: Ctx): Promise<Outcome> {
  const rawFrom = str(c.opts.from);
  const limit = num(c.opts.limit);
  const params: Params<'inbox'> = {};
  if (rawFrom !== undefined) params.from = (await checkWho(rawFrom, '--from')).who;
  if (limit !== undefined) params.limit = limit;
  const items = await call(c, 'inbox', params);
  if (c.json) {
    printJson(items);
    return 0;
  }
  if (items.length === 0) {
    out(rawFrom !== undefined ? `no messages from ${fmt.clean(rawFrom)}\n` : 'your inbox is empty\n');
    return 0;
  }
  const now = Date.now();
  out(items.map((m) => fmt.inboxEntry(m, now)).join('\n'));
  return 0;
}

async function cmdWatch(c: Ctx): Promise<Outcome> {
  let client: RpcClient;
  try {
    client = await RpcClient.connect(socketPath(c.home), 3000, { home: c.home });
  } catch (e) {
    throw explainNotRunning(c, e);
  }
  client.onNotification((method, params) => {
    if (method !== 'message') return;
    if (c.json) out(JSON.stringify(params) + '\n');
    else out(fmt.inboxEntry(params as InboxItem) + '\n');
  });
  client.onClose((e) => {
    if (e) {
      report(new WotError('ERR_CONNECTION_LOST', 'the daemon went away while watching', `start it again with: wotrelay daemon${c.homeArg}`));
      process.exit(1);
    }
  });
  try {
    await client.call('watch', {});
  } catch (e) {
    client.close();
    throw e;
  }
  if (!c.json) err(`watching for new messages (Ctrl-C stops)\n`);
  const stop = () => {
    client.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return 'running';
}

async function cmdRead(c: Ctx): Promise<Outcome> {
  const id = messageIdArg(c.positionals[0]);
  const r = await call(c, 'inbox.read', { id });
  if (c.json) printJson(r);
  else out(`marked ${r.id} read; its sender gets a read receipt\n`);
  return 0;
}

/** `--state queued,sent`: known states only, each once, in the order given. */
function statesArg(raw: string | undefined): OutboxState[] | undefined {
  if (raw === undefined) return undefined;
  const list = OUTBOX_STATES.join(', ');
  const parts = raw.split(',').map((x) => x.trim().toLowerCase()).filter((x) => x !== '');
  if (parts.length === 0) throw new ArgError('--state is empty', `give one or more states separated by commas, e.g. --state queued,sent (states: ${list})`);
  const states: OutboxState[] = [];
  for (const p of parts) {
    const st = OUTBOX_STATES.find((x) => x === p);
    if (st === undefined) {
      const close = suggest(p, [...OUTBOX_STATES]);
      throw new ArgError(`--state: "${fmt.clean(p)}" is not an outbox state`, `${close ? `did you mean --state ${close}? ` : ''}the states are ${list}`);
    }
    if (!states.includes(st)) states.push(st);
  }
  return states;
}

async function cmdOutbox(c: Ctx): Promise<Outcome> {
  const limit = num(c.opts.limit);
  const all = c.opts.all === true;
  const state = statesArg(str(c.opts.state));
  const items = await call(c, 'outbox', { ...(limit !== undefined ? { limit } : {}), ...(all ? { all } : {}), ...(state !== undefined ? { state } : {}) });
  if (c.json) printJson(items);
  else if (items.length === 0) out(state !== undefined ? `no messages in your outbox are ${state.join(' or ')}\n` : 'your outbox is empty\n');
  else out(fmt.outboxTable(items, all));
  return 0;
}

async function cmdMailboxAdd(c: Ctx): Promise<Outcome> {
  const { who, fingerprint } = await checkWho(c.positionals[0]!, 'the mailbox');
  const addr = str(c.opts.addr);
  const list = await call(c, 'mailbox.add', { who, ...(addr !== undefined ? { addr } : {}) });
  if (c.json) {
    printJson(list);
    return 0;
  }
  const m = list.find((x) => (fingerprint !== null ? x.fingerprint === fingerprint : x.petname === who));
  const label = m ? fmt.who(m.petname, m.fingerprint) : (fingerprint ?? fmt.clean(who));
  out(
    [
      `${label} is now one of your mailboxes: it stores messages for you while you are away`,
      m && !m.connected
        ? 'not connected to it right now: it opens your account once your announcement reaches it'
        : 'it opens your account when your announcement reaches it',
      `see them with: wotrelay mailbox list${c.homeArg}`,
      '',
    ].join('\n'),
  );
  return 0;
}

async function cmdMailboxRemove(c: Ctx): Promise<Outcome> {
  const { who, fingerprint } = await checkWho(c.positionals[0]!, 'the mailbox');
  const list = await call(c, 'mailbox.remove', { who });
  if (c.json) printJson(list);
  else out(`${fingerprint ?? fmt.clean(who)} is no longer your mailbox; ${list.length === 0 ? 'you have none left' : `${list.length} left`}\n`);
  return 0;
}

async function cmdMailboxList(c: Ctx): Promise<Outcome> {
  const l = await call(c, 'mailbox.list', {});
  if (c.json) printJson(l);
  else out(fmt.mailboxLists(l));
  return 0;
}

async function cmdStop(c: Ctx): Promise<Outcome> {
  let client: RpcClient;
  try {
    client = await RpcClient.connect(socketPath(c.home), 3000, { home: c.home });
  } catch (e) {
    throw explainNotRunning(c, e);
  }
  const closed = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 10_000);
    client.onClose(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
  let r: Result<'shutdown'>;
  try {
    r = await client.call('shutdown', {});
  } catch (e) {
    client.close();
    throw e;
  }
  const gone = await closed;
  client.close();
  if (c.json) printJson(r);
  else out(gone ? `the daemon for ${c.home} stopped\n` : `the daemon for ${c.home} is stopping\n`);
  return 0;
}

// ----------------------------------------------------------------------------- mailing lists

/** A list hosted under this home: its name (checked) and its agent home. */
interface HostedListRef {
  name: string;
  home: string;
}

/**
 * `<list>` of the owner's commands: the name of a list under <home>/lists/. A string that
 * cannot be a list name is an argument error (exit 2); a name with no list is ERR_NOT_FOUND.
 */
function hostedListArg(c: Ctx, raw: string): HostedListRef {
  const name = raw.trim();
  if (!LIST_NAME_RE.test(name)) {
    if (looksLikeId(name)) {
      throw new ArgError(
        `"${fmt.clean(raw)}" is an entity id, not the name of a list hosted under your home`,
        `give the name of one of your lists (wotrelay list hosted${c.homeArg} shows them); to subscribe to someone else's list: wotrelay list join ${fmt.shellQuote(name)}`,
      );
    }
    throw new ArgError(`"${fmt.clean(raw)}" is not a list name: ${LIST_NAME_RULE}`, `wotrelay list hosted${c.homeArg} shows your lists`);
  }
  const home = hostedListHome(c.home, name);
  if (!fs.existsSync(configPath(home))) {
    throw new WotError(
      'ERR_NOT_FOUND',
      `no list named "${name}" is hosted under ${c.home}`,
      `wotrelay list hosted${c.homeArg} shows your lists; create one with: wotrelay list create ${name}${c.homeArg}`,
    );
  }
  return { name, home };
}

/** Calls a method on a hosted list's own agent (its API socket in <home>/lists/<name>/). */
async function callList<M extends MethodName>(c: Ctx, list: HostedListRef, method: M, params: Params<M>, timeoutMs?: number): Promise<Result<M>> {
  let client: RpcClient;
  try {
    client = await RpcClient.connect(socketPath(list.home), 3000, { home: list.home });
  } catch (e) {
    if (!isWotError(e) || e.code !== 'ERR_NOT_RUNNING') throw e;
    throw new WotError(
      'ERR_NOT_RUNNING',
      `the list "${list.name}" is not running`,
      `it runs inside your daemon: start it with: wotrelay daemon${c.homeArg} (if the daemon runs, wotrelay list hosted${c.homeArg} says why the list does not)`,
    );
  }
  try {
    return await client.call(method, params, timeoutMs);
  } finally {
    client.close();
  }
}

/**
 * An entity for a list command: an id (checked), or a petname looked up in your own trust
 * list first (the list's agent has its own, mostly empty), else passed on to the list.
 */
async function whoForList(c: Ctx, r: { who: string; fingerprint: string | null }): Promise<{ who: string; fingerprint: string | null }> {
  if (r.fingerprint !== null) return r;
  return (await ownPetnames(c)).get(r.who) ?? r;
}

/** Your own petnames (petname → id and fingerprint); empty when your daemon does not answer. */
async function ownPetnames(c: Ctx): Promise<Map<string, { who: string; fingerprint: string }>> {
  const m = new Map<string, { who: string; fingerprint: string }>();
  try {
    for (const t of await call(c, 'trust.list', {})) if (t.petname !== null && t.state === 'active') m.set(t.petname, { who: t.entity, fingerprint: t.fingerprint });
  } catch {
    /* the list may run in a dedicated process while yours is down */
  }
  return m;
}

/** Fills in your own petnames for members the list knows by fingerprint only. */
async function withOwnNames(c: Ctx, members: ListMemberView[]): Promise<ListMemberView[]> {
  const byEntity = new Map<string, string>();
  for (const [name, v] of await ownPetnames(c)) byEntity.set(v.who, name);
  return members.map((m) => ({ ...m, petname: byEntity.get(m.entity) ?? m.petname }));
}

function changeLabel(r: ListChangeResult): string {
  return fmt.who(r.petname, r.fingerprint);
}

async function cmdListCreate(c: Ctx): Promise<Outcome> {
  const name = c.positionals[0]!.trim();
  if (!LIST_NAME_RE.test(name)) throw new ArgError(`"${fmt.clean(c.positionals[0]!)}" is not a valid list name: ${LIST_NAME_RULE}`, 'e.g. wotrelay list create friends');
  const policy = str(c.opts.policy) as ListPolicy | undefined;
  const r = await call(c, 'list.create', { name, ...(policy !== undefined ? { policy } : {}) }, 60_000);
  if (c.json) {
    printJson(r);
    return 0;
  }
  out(
    [
      `created the list ${r.name} (${r.policy}); it runs inside your daemon`,
      '',
      `  list id      ${r.entity}`,
      `  fingerprint  ${r.fingerprint}`,
      `  home         ${r.home}`,
      '',
      `invite code (${r.inviteUses} uses, valid until ${fmt.when(r.inviteExpiresAt)}):`,
      '',
      r.invite,
      '',
      'members join with:',
      `  wotrelay accept ${fmt.shellQuote(r.invite)}`,
      '',
      `post to it with: wotrelay send ${r.name} "hello"${c.homeArg}`,
      `see who joined:  wotrelay list members ${r.name}${c.homeArg}`,
      '',
    ].join('\n'),
  );
  return 0;
}

async function cmdListInvite(c: Ctx): Promise<Outcome> {
  const list = hostedListArg(c, c.positionals[0]!);
  const uses = num(c.opts.uses) ?? 1;
  const expiresInMs = num(c.opts.expires) ?? DEFAULT_INVITE_MS;
  const r = await callList(c, list, 'invite.create', { uses, expiresInMs });
  if (c.json) {
    printJson(r);
    return 0;
  }
  out(
    [
      r.code,
      '',
      `an invite to the list ${list.name}, valid for ${r.uses} use${r.uses === 1 ? '' : 's'} until ${fmt.when(r.expiresAt)}.`,
      'Whoever redeems it becomes a member; members join with:',
      `  wotrelay accept ${fmt.shellQuote(r.code)}`,
      '',
    ].join('\n'),
  );
  return 0;
}

async function listChangeCommand(c: Ctx, method: 'list.add' | 'list.remove' | 'list.approve', say: (who: string, list: string) => string): Promise<Outcome> {
  const checked = await checkWho(c.positionals[1]!, 'the member');
  const list = hostedListArg(c, c.positionals[0]!);
  const { who } = await whoForList(c, checked);
  const r = await callList(c, list, method, { who });
  if (c.json) printJson(r);
  else out(say(changeLabel(r), list.name) + '\n');
  return 0;
}

const cmdListAdd = (c: Ctx) => listChangeCommand(c, 'list.add', (w, l) => `${w} is now a member of ${l}; the list trusts it and tells it so`);
const cmdListRemove = (c: Ctx) => listChangeCommand(c, 'list.remove', (w, l) => `${w} is no longer on ${l}`);
const cmdListApprove = (c: Ctx) => listChangeCommand(c, 'list.approve', (w, l) => `${w} is now a member of ${l}`);

async function cmdListBan(c: Ctx): Promise<Outcome> {
  const reason = str(c.opts.reason);
  if (reason !== undefined && Buffer.byteLength(reason) > 200) throw new ArgError('--reason is longer than 200 bytes', 'shorten it');
  const checked = await checkWho(c.positionals[1]!, 'who to ban');
  const list = hostedListArg(c, c.positionals[0]!);
  const { who } = await whoForList(c, checked);
  const r = await callList(c, list, 'list.ban', { who, ...(reason !== undefined ? { reason } : {}) });
  if (c.json) printJson(r);
  else out(`${changeLabel(r)} is banned from ${list.name}: it cannot rejoin or post\n`);
  return 0;
}

async function cmdListMembers(c: Ctx): Promise<Outcome> {
  const list = hostedListArg(c, c.positionals[0]!);
  const members = await callList(c, list, 'list.members', {});
  if (c.json) printJson(members);
  else if (members.length === 0) out(`nobody is on ${list.name} yet\nhint: invite people with: wotrelay list invite ${list.name}${c.homeArg}\n`);
  else out(fmt.listMembersTable(await withOwnNames(c, members)));
  return 0;
}

async function cmdListPending(c: Ctx): Promise<Outcome> {
  const list = hostedListArg(c, c.positionals[0]!);
  const pending = await callList(c, list, 'list.members', { state: 'pending' });
  if (c.json) printJson(pending);
  else if (pending.length === 0) out(`no subscribe requests wait for your approval on ${list.name}\n`);
  else out(fmt.listPendingTable(await withOwnNames(c, pending)) + `accept one with: wotrelay list approve ${list.name} <entity-id>${c.homeArg}\n`);
  return 0;
}

async function cmdListStatus(c: Ctx): Promise<Outcome> {
  const list = hostedListArg(c, c.positionals[0]!);
  const s = await callList(c, list, 'list.status', {});
  if (c.json) printJson(s);
  else out(fmt.listStatusText(s));
  return 0;
}

async function cmdListHosted(c: Ctx): Promise<Outcome> {
  const lists = await call(c, 'list.hosted', {});
  if (c.json) printJson(lists);
  else if (lists.length === 0) out(`you host no lists\nhint: create one with: wotrelay list create <name>${c.homeArg}\n`);
  else out(fmt.hostedListsTable(lists));
  return 0;
}

function requestLabel(r: ListRequestResult): string {
  return fmt.who(r.name, r.fingerprint);
}

async function cmdListJoin(c: Ctx): Promise<Outcome> {
  const arg = c.positionals[0]!.trim();
  const addr = str(c.opts.addr);
  const onion = c.opts.onion === true;
  const hops = num(c.opts.hops);
  if (hops !== undefined && !onion) throw new ArgError('--hops only applies with --onion (the relays of each copy\'s onion path)', 'add --onion, or drop --hops');
  const { INVITE_PREFIX, decodeInvite } = await import('../identity/index.js');
  let who: string;
  let accepted = false;
  if (arg.startsWith(INVITE_PREFIX)) {
    if (addr !== undefined) throw new ArgError('--addr goes with a list id: an invite code carries the list\'s addresses', 'drop --addr');
    try {
      decodeInvite(arg);
    } catch (e) {
      if (isWotError(e)) throw new ArgError(`the invite code is not valid: ${e.message}`, e.hint ?? 'copy the whole code again (it starts with wotrelay:invite?)');
      throw e;
    }
    // Redeeming the invite makes us a member; the request that follows says how copies come.
    who = (await call(c, 'invite.accept', { code: arg }, 60_000)).entity;
    accepted = true;
  } else {
    who = (await checkWho(arg, 'the list')).who;
  }
  const r = await call(c, 'list.join', { list: who, ...(addr !== undefined ? { addr } : {}), ...(onion ? { onion: true } : {}), ...(hops !== undefined ? { hops } : {}) });
  if (c.json) printJson(r);
  else {
    const copies = r.onion ? `as onions through ${r.onion} relay${r.onion === 1 ? '' : 's'}` : 'in clear mode';
    out(
      [
        accepted ? `you joined ${requestLabel(r)} with its invite; your agent and the list trust each other` : `subscribe request sent to ${requestLabel(r)}; your agent trusts the list`,
        `you asked for your copies ${copies}${onion ? '' : ` (for onion copies: wotrelay list join ${fmt.shellQuote(r.name ?? r.list)} --onion${c.homeArg})`}`,
        `the list answers in your inbox (wotrelay inbox${c.homeArg})${accepted ? '' : '; on a moderated list the owner approves first'}`,
        ...(r.name === null ? [`give it a name with: wotrelay trust add ${r.list} --name NAME${c.homeArg}`] : []),
        '',
      ].join('\n'),
    );
  }
  return 0;
}

async function cmdListLeave(c: Ctx): Promise<Outcome> {
  const { who } = await checkWho(c.positionals[0]!, 'the list');
  const r = await call(c, 'list.leave', { list: who });
  if (c.json) printJson(r);
  else out(`unsubscribe request sent to ${requestLabel(r)}\nyour agent still trusts it; stop that with: wotrelay trust revoke ${fmt.shellQuote(r.name ?? r.list)}${c.homeArg}\n`);
  return 0;
}

async function cmdListFetch(c: Ctx): Promise<Outcome> {
  const { who } = await checkWho(c.positionals[0]!, 'the list');
  const count = num(c.opts.last);
  const r = await call(c, 'list.fetch', { list: who, ...(count !== undefined ? { count } : {}) });
  if (c.json) printJson(r);
  else out(`asked ${requestLabel(r)} for its ${r.count ?? count ?? 50} most recent posts; they arrive in your inbox (wotrelay inbox${c.homeArg})\n`);
  return 0;
}

const RUNNERS: Record<string, (c: Ctx) => Promise<Outcome>> = {
  init: cmdInit,
  daemon: cmdDaemon,
  status: cmdStatus,
  id: cmdId,
  peers: cmdPeers,
  'trust add': cmdTrustAdd,
  'trust revoke': cmdTrustRevoke,
  'trust list': cmdTrustList,
  invite: cmdInvite,
  accept: cmdAccept,
  send: cmdSend,
  inbox: cmdInbox,
  watch: cmdWatch,
  read: cmdRead,
  outbox: cmdOutbox,
  'mailbox add': cmdMailboxAdd,
  'mailbox remove': cmdMailboxRemove,
  'mailbox list': cmdMailboxList,
  track: cmdTrack,
  save: cmdSave,
  complain: cmdComplain,
  discover: cmdDiscover,
  'list create': cmdListCreate,
  'list invite': cmdListInvite,
  'list add': cmdListAdd,
  'list remove': cmdListRemove,
  'list members': cmdListMembers,
  'list pending': cmdListPending,
  'list approve': cmdListApprove,
  'list ban': cmdListBan,
  'list status': cmdListStatus,
  'list hosted': cmdListHosted,
  'list join': cmdListJoin,
  'list leave': cmdListLeave,
  'list fetch': cmdListFetch,
  stop: cmdStop,
};

// ----------------------------------------------------------------------------- dispatch

/** Option names that take a value, in any command: their value is never the command name. */
const VALUE_OPTIONS = new Set<string>(
  [...GLOBAL_OPTIONS, ...COMMANDS.flatMap((c) => c.options)].filter((o) => o.type !== 'boolean').map((o) => o.name),
);

/** Indexes of the command word(s): the first tokens that are neither options nor option values. */
function findWords(argv: readonly string[], max: number): number[] {
  const found: number[] = [];
  for (let i = 0; i < argv.length && found.length < max; i++) {
    const t = argv[i]!;
    if (t === '--') break;
    if (t.startsWith('-') && t.length > 1) {
      if (t.startsWith('--') && !t.includes('=') && VALUE_OPTIONS.has(t.slice(2))) i++;
      continue;
    }
    found.push(i);
  }
  return found;
}

function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

function suggest(word: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = editDistance(word, n);
    if (d < bestD) {
      best = n;
      bestD = d;
    }
  }
  return best;
}

const TOP_WORDS = [...new Set(COMMANDS.map((c) => c.name.split(' ')[0]!)), 'help'];

function report(e: unknown): number {
  if (e instanceof ArgError) {
    err(`wotrelay: ${e.message}\n`);
    if (e.tryHint) err(`try: ${e.tryHint}\n`);
    return 2;
  }
  if (isWotError(e)) {
    err(`wotrelay: ${e.message}\n`);
    if (e.hint) err(`hint: ${e.hint}\n`);
    return e.code === 'ERR_NOT_RUNNING' ? 3 : 1;
  }
  const errno = (e as NodeJS.ErrnoException | null)?.code;
  if (e instanceof Error && typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) {
    const hints: Record<string, string> = {
      EACCES: 'check the permissions of that path, or use another --home',
      EPERM: 'check the permissions of that path, or use another --home',
      EROFS: 'the file system is read-only; use another --home',
      ENOSPC: 'free some disk space and try again',
      ENOENT: 'check that the path exists',
    };
    err(`wotrelay: ${e.message}\nhint: ${hints[errno] ?? 'check the path and try again'}\n`);
    return 1;
  }
  const msg = e instanceof Error ? e.message : String(e);
  err(`wotrelay: unexpected error: ${msg}\nhint: this is a bug in wotrelay; please report it with the command you ran\n`);
  if (process.env.WOTRELAY_DEBUG && e instanceof Error && e.stack) err(e.stack + '\n');
  return 1;
}

export async function main(argv: readonly string[]): Promise<Outcome> {
  const help = wantsHelp(argv);
  const [first] = findWords(argv, 1);
  if (first === undefined) {
    if (help) {
      out(overviewHelp(packageVersion()));
      return 0;
    }
    const { opts } = parseArgs(argv, GLOBAL_OPTIONS);
    if (opts.version) {
      out(opts.json ? JSON.stringify({ version: packageVersion() }) + '\n' : `wotrelay ${packageVersion()}\n`);
      return 0;
    }
    err(overviewHelp(packageVersion()));
    throw new ArgError('no command given', 'wotrelay init to start, or wotrelay --help');
  }
  let word = argv[first]!;
  let words = [first];
  if (word === 'help') {
    const rest = argv.filter((_, i) => i !== first).filter((a) => !a.startsWith('-'));
    const name = rest.join(' ');
    if (name === '') out(overviewHelp(packageVersion()));
    else if (findCommand(name)) out(commandHelp(findCommand(name)!));
    else if (subcommands(name).length) out(groupHelp(name));
    else throw new ArgError(`no help for "${name}": there is no such command`, 'wotrelay --help lists the commands');
    return 0;
  }
  if (!TOP_WORDS.includes(word)) {
    const close = suggest(word, TOP_WORDS);
    throw new ArgError(`unknown command "${fmt.clean(word)}"`, close ? `did you mean: wotrelay ${close}? (wotrelay --help lists the commands)` : 'wotrelay --help lists the commands');
  }
  const subs = subcommands(word);
  if (subs.length) {
    const [, second] = findWords(argv, 2);
    if (second === undefined) {
      if (help) {
        out(groupHelp(word));
        return 0;
      }
      const example = subs.includes('list') ? 'list' : subs.includes('hosted') ? 'hosted' : subs[0]!;
      throw new ArgError(`${word} needs a subcommand: ${subs.join(', ')}`, `e.g. wotrelay ${word} ${example} (or wotrelay ${word} --help)`);
    }
    const sub = argv[second]!;
    if (!subs.includes(sub)) {
      const close = suggest(sub, subs);
      throw new ArgError(`unknown subcommand "${word} ${fmt.clean(sub)}"`, close ? `did you mean: wotrelay ${word} ${close}?` : `one of: ${subs.map((s) => `wotrelay ${word} ${s}`).join(', ')}`);
    }
    word = `${word} ${sub}`;
    words = [first, second];
  }
  const spec = findCommand(word)!;
  if (help) {
    out(commandHelp(spec));
    return 0;
  }
  const rest = argv.filter((_, i) => !words.includes(i));
  const usage = usageLine(spec);
  const specs: OptSpec[] = [...GLOBAL_OPTIONS, ...spec.options];
  const { opts, positionals } = parseArgs(rest, specs, usage);
  if (opts.version) {
    out(`wotrelay ${packageVersion()}\n`);
    return 0;
  }
  const { min, max, names } = spec.positionals;
  if (positionals.length < min) throw new ArgError(`${spec.name}: missing argument <${names[positionals.length]}>`, usage);
  if (max !== null && positionals.length > max) {
    throw new ArgError(`${spec.name}: unexpected argument "${fmt.clean(positionals[max]!)}"`, usage);
  }
  const home = resolveHome(str(opts.home));
  const homeArg = home === resolveHome(undefined) ? '' : ` --home ${fmt.shellQuote(home)}`;
  return RUNNERS[spec.name]!({ home, json: opts.json === true, opts, positionals, spec, homeArg });
}

// Ignore EPIPE (e.g. `wotrelay inbox | head`): the reader has gone, nothing to report.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (outcome) => {
    if (outcome !== 'running') process.exitCode = outcome;
  },
  (e: unknown) => {
    process.exitCode = report(e);
  },
);
