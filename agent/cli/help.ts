/**
 * The commands of `wotrelay` as data (name, arguments, options, one-line summary, notes)
 * and the usage texts made from them: `wotrelay --help` and `wotrelay <command> --help`.
 */
import type { OptSpec } from './args.js';

export interface CommandSpec {
  /** 'status', or 'trust add' for a subcommand. */
  name: string;
  /** Positional arguments as shown in usage, e.g. '<entity-id>'. */
  args?: string;
  /** Least and most positionals (max null = any number). */
  positionals: { min: number; max: number | null; names: string[] };
  summary: string;
  options: OptSpec[];
  /** Extra paragraphs after the options. */
  notes?: string[];
  examples?: string[];
  /** Whether --json changes the output. */
  json?: boolean;
}

export const GLOBAL_OPTIONS: OptSpec[] = [
  { name: 'home', type: 'string', metavar: 'DIR', describe: 'the agent home (default: $WOTRELAY_HOME, else $XDG_DATA_HOME/wotrelay, else ~/.local/share/wotrelay)' },
  { name: 'json', type: 'boolean', describe: 'print machine-readable JSON instead of text' },
  { name: 'help', short: 'h', type: 'boolean', describe: 'show help (also: wotrelay <command> --help)' },
  { name: 'version', type: 'boolean', describe: 'print the version' },
];

const listPolicyOpt: OptSpec = {
  name: 'policy',
  type: 'string',
  metavar: 'POLICY',
  choices: ['announce', 'discuss', 'moderated'],
  describe: 'announce, discuss (default) or moderated',
};

const LIST_ARG_NOTE = '<list> is the name of a list hosted under your home (wotrelay list hosted shows them); the command talks to that list\'s own agent.';

const listenOpt = (describe: string): OptSpec => ({ name: 'listen', type: 'addr', metavar: 'HOST:PORT', allowPortZero: true, describe });

export const COMMANDS: CommandSpec[] = [
  {
    name: 'init',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'create your identity (keys and certificate) and config.json',
    json: true,
    options: [
      listenOpt('where the agent listens for other agents (default 0.0.0.0:7117)'),
      { name: 'addr', type: 'addr', metavar: 'HOST:PORT', repeatable: true, describe: 'an address others can reach you at, put in invite codes (repeatable; default: derived from the interfaces)' },
    ],
    notes: ['Refuses to touch a home that already has an identity.'],
    examples: ['wotrelay init', 'wotrelay init --listen 0.0.0.0:7117 --addr 192.0.2.10:7117'],
  },
  {
    name: 'daemon',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'run the agent in the foreground (Ctrl-C stops it)',
    options: [
      listenOpt('override the listen address of config.json; port 0 picks a free port'),
      { name: 'log-level', type: 'string', metavar: 'LEVEL', choices: ['debug', 'info', 'warn'], describe: 'debug, info (default) or warn' },
    ],
    notes: ['With --json the log is written as JSON lines instead of logfmt.'],
    examples: ['wotrelay daemon', 'wotrelay daemon --listen 127.0.0.1:0 --log-level debug'],
  },
  {
    name: 'status',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'identity, listen addresses, peers, counts and error metrics',
    json: true,
    options: [],
  },
  {
    name: 'id',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'your entity id and fingerprint (to give to others)',
    json: true,
    options: [],
    notes: ['Others check your fingerprint with you (read it aloud) before they trust your entity id.'],
  },
  {
    name: 'peers',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'agents connected right now',
    json: true,
    options: [],
  },
  {
    name: 'trust add',
    args: '<entity-id>',
    positionals: { min: 1, max: 1, names: ['entity-id'] },
    summary: 'trust an entity (after checking its fingerprint with the person)',
    json: true,
    options: [
      { name: 'name', type: 'string', metavar: 'NAME', describe: 'a petname for it, usable instead of the id' },
      { name: 'addr', type: 'addr', metavar: 'HOST:PORT', describe: 'where its agent can be reached' },
    ],
    notes: ['Prints the fingerprint of the id first: compare it with the person (read it aloud) before relying on the trust.'],
    examples: ['wotrelay trust add wot1… --name bob --addr 192.0.2.20:7117'],
  },
  {
    name: 'trust revoke',
    args: '<entity-id|petname>',
    positionals: { min: 1, max: 1, names: ['entity-id|petname'] },
    summary: 'stop trusting an entity; open links to it are closed',
    json: true,
    options: [],
  },
  {
    name: 'trust list',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'the entities you trust (and revoked ones)',
    json: true,
    options: [],
  },
  {
    name: 'invite',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'print an invite code for someone to join your trust',
    json: true,
    options: [
      { name: 'uses', type: 'number', integer: true, min: 1, max: 1000, metavar: 'N', describe: 'how many people may use the code (default 1)' },
      { name: 'expires', type: 'duration', metavar: 'DURATION', describe: 'how long the code is valid: 30m, 24h, 7d (default 24h)' },
    ],
    notes: ['Send the code over a channel you trust (in person, a call, a chat). Whoever has it can become trusted.'],
    examples: ['wotrelay invite', 'wotrelay invite --uses 3 --expires 7d'],
  },
  {
    name: 'accept',
    args: '<code>',
    positionals: { min: 1, max: 1, names: ['code'] },
    summary: 'redeem an invite code; you and the inviter then trust each other',
    json: true,
    options: [{ name: 'name', type: 'string', metavar: 'NAME', describe: 'a petname for the inviter' }],
    notes: ['Quote the code in the shell: it contains "&" and "?".'],
    examples: [`wotrelay accept 'wotrelay:invite?v=1&e=wot1…' --name alice`],
  },
  {
    name: 'send',
    args: '<entity-id|petname> <text…>',
    positionals: { min: 1, max: null, names: ['entity-id|petname', 'text'] },
    summary: 'send an end-to-end encrypted, signed message',
    json: true,
    options: [
      { name: 'file', type: 'string', metavar: 'FILE', describe: 'send this file (at most 1 MiB) instead of text' },
      { name: 'wait', type: 'boolean', describe: 'wait until the message is delivered (or --timeout passes)' },
      { name: 'timeout', type: 'duration', metavar: 'DURATION', describe: 'how long --wait or --follow waits (default 10s)' },
      { name: 'follow', type: 'boolean', describe: 'show a live timeline of the hops as their signed reports arrive' },
      { name: 'onion', type: 'boolean', describe: 'onion mode: no relay learns who talks to whom or what is said (one sealed layer per hop)' },
      { name: 'hops', type: 'number', metavar: 'N', integer: true, min: 1, max: 8, describe: 'with --onion: relays on the path (1-8, default 2); short paths are lengthened through your neighbours when possible' },
    ],
    notes: [
      'The words after the recipient are joined with spaces; put -- before text that starts with a dash.',
      'A recipient you have no link to is found by route discovery through your trusted neighbours.',
      'Without --wait it prints the state the message reached at once. With --wait it waits for "delivered" and prints the state reached: ' +
        '"relayed" means a relay holds it and delivers it when the recipient is back (see: wotrelay outbox).',
      'With --follow each step is printed as it is reported: forwarded, queued, relayed (a hop took custody), stored (in a mailbox), refused (with the reason), delivered, read.',
      'With --onion the hops report to you sealed (forwarded, queued, stalled); nobody on the way learns the recipient, you, or your position. Discovering a route still asks the network who reaches the recipient: run wotrelay discover well before, if that matters.',
    ],
    examples: ['wotrelay send alice "hi, it is Bob" --wait', 'wotrelay send alice --file notes.txt', 'wotrelay send alice "off the record" --onion --hops 3 --follow'],
  },
  {
    name: 'inbox',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'received messages with their verified paths',
    json: true,
    options: [
      { name: 'from', type: 'string', metavar: 'WHO', describe: 'only messages from this entity id or petname' },
      { name: 'limit', type: 'number', integer: true, min: 1, max: 1000, metavar: 'N', describe: 'at most N messages (default 100)' },
    ],
  },
  {
    name: 'watch',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'print new messages as they arrive (Ctrl-C stops)',
    json: true,
    options: [],
    notes: ['With --json, one JSON object per message per line.'],
  },
  {
    name: 'read',
    args: '<message-id>',
    positionals: { min: 1, max: 1, names: ['message-id'] },
    summary: 'mark a received message read; its sender gets a read receipt',
    json: true,
    options: [],
    notes: ['The message id is shown by wotrelay inbox (32 hex characters). The sender sees the message as "read" in its outbox.'],
    examples: ['wotrelay read 3f2a9c1b04de4e0f8a6b5c7d9e1f2a3b'],
  },
  {
    name: 'save',
    args: '<message-id>',
    positionals: { min: 1, max: 1, names: ['message-id'] },
    summary: 'save a received file (or text) to disk',
    json: true,
    options: [
      { name: 'out', type: 'string', metavar: 'PATH', describe: 'where to write it (default: the file name it was sent with, in the current directory)' },
      { name: 'force', type: 'boolean', describe: 'overwrite an existing file' },
    ],
  },
  {
    name: 'track',
    args: '<message-id>',
    positionals: { min: 1, max: 1, names: ['message-id'] },
    summary: 'the journey of a message you sent, hop by hop, from signed reports',
    json: true,
    options: [],
  },
  {
    name: 'complain',
    args: '<message-id>',
    positionals: { min: 1, max: 1, names: ['message-id'] },
    summary: 'complain about a message you received; the complaint walks back its path',
    json: true,
    options: [{ name: 'reason', type: 'string', metavar: 'TEXT', describe: 'why (at most 200 bytes; default "unwanted")' }],
    notes: ['Relays that handed the message on count complaints against their previous hop and revoke one that draws complaints from several people.'],
  },
  {
    name: 'discover',
    args: '<entity-id|petname>',
    positionals: { min: 1, max: 1, names: ['entity-id|petname'] },
    summary: 'find routes to an entity through your trusted neighbours',
    json: true,
    options: [{ name: 'timeout', type: 'duration', metavar: 'DURATION', describe: 'how long to search (default 15s)' }],
  },
  {
    name: 'outbox',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'messages you sent and their state (queued, sent, relayed, delivered, …)',
    json: true,
    options: [
      { name: 'all', type: 'boolean', describe: 'also show the receipts, wants and list messages your agent sends by itself (KIND column)' },
      { name: 'state', type: 'string', metavar: 'STATE[,STATE…]', describe: 'only messages in these states (comma-separated)' },
      { name: 'limit', type: 'number', integer: true, min: 1, max: 1000, metavar: 'N', describe: 'at most N messages (default 100)' },
    ],
    notes: [
      [
        'States, in order:',
        '  queued     no way to the recipient yet; the agent keeps looking (ERROR says why it waits)',
        '  sent       handed to the first hop, waiting for it to take custody',
        '  relayed    a hop holds it; waiting for the recipient\'s acknowledgement (it arrives when the recipient is back)',
        '  delivered  the recipient\'s agent has it',
        '  read       the recipient read it',
        '  failed     given up for good (ERROR says why)',
        '  expired    not delivered before it expired',
      ].join('\n'),
      'The ID column shows the first 8 characters; --json shows whole ids (for wotrelay track).',
    ],
    examples: ['wotrelay outbox', 'wotrelay outbox --state queued,sent,relayed', 'wotrelay outbox --all --limit 20'],
  },
  {
    name: 'mailbox add',
    args: '<entity-id|petname>',
    positionals: { min: 1, max: 1, names: ['entity-id|petname'] },
    summary: 'name an always-on agent as your mailbox: it stores messages for you while you are away',
    json: true,
    options: [{ name: 'addr', type: 'addr', metavar: 'HOST:PORT', describe: 'where its agent can be reached (it is trusted if it is not yet)' }],
    notes: [
      'Your agent announces its mailboxes (at most 8); a mailbox opens your account when the announcement reaches it, and your agent fetches from it whenever they are connected.',
    ],
    examples: ['wotrelay mailbox add homeserver', 'wotrelay mailbox add wot1… --addr 192.0.2.30:7117'],
  },
  {
    name: 'mailbox remove',
    args: '<entity-id|petname>',
    positionals: { min: 1, max: 1, names: ['entity-id|petname'] },
    summary: 'stop using an agent as your mailbox',
    json: true,
    options: [],
    notes: ['The new list is announced at once; what the mailbox still holds for you can no longer be fetched.'],
  },
  {
    name: 'mailbox list',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'your mailboxes, and the mailboxes you host for others',
    json: true,
    options: [],
  },
  {
    name: 'list create',
    args: '<name>',
    positionals: { min: 1, max: 1, names: ['name'] },
    summary: 'create a mailing list hosted by your agent, and print its invite code',
    json: true,
    options: [listPolicyOpt],
    notes: [
      'A list is an entity of its own (its own keys, in <home>/lists/<name>/) whose agent runs inside your daemon and re-sends every accepted post to every member; each member verifies who wrote it.',
      [
        'Policies:',
        '  announce   only you post; anyone may join (with an invite, or wotrelay list join)',
        '  discuss    every member posts; anyone may join (default)',
        '  moderated  every member posts; invite holders join at once, other requests wait for your approval (wotrelay list pending)',
      ].join('\n'),
      'The name is 1 to 32 characters of a-z, 0-9 and "-"; your agent trusts the list under that petname. The invite code is valid for 1000 uses and 30 days; members join with: wotrelay accept <code>.',
    ],
    examples: ['wotrelay list create friends', 'wotrelay list create news --policy announce'],
  },
  {
    name: 'list invite',
    args: '<list>',
    positionals: { min: 1, max: 1, names: ['list'] },
    summary: 'print another invite code of one of your lists',
    json: true,
    options: [
      { name: 'uses', type: 'number', integer: true, min: 1, max: 1000, metavar: 'N', describe: 'how many people may use the code (default 1)' },
      { name: 'expires', type: 'duration', metavar: 'DURATION', describe: 'how long the code is valid: 30m, 24h, 7d (default 24h)' },
    ],
    notes: [LIST_ARG_NOTE, 'Whoever redeems the code (wotrelay accept <code>) becomes a member at once, whatever the policy.'],
    examples: ['wotrelay list invite friends --uses 20 --expires 7d'],
  },
  {
    name: 'list add',
    args: '<list> <entity-id|petname>',
    positionals: { min: 2, max: 2, names: ['list', 'entity-id|petname'] },
    summary: 'make an entity a member of one of your lists (the list trusts it)',
    json: true,
    options: [],
    notes: [LIST_ARG_NOTE, 'A petname is looked up in your own trust list first, then in the list\'s.'],
    examples: ['wotrelay list add friends bob'],
  },
  {
    name: 'list remove',
    args: '<list> <entity-id|petname>',
    positionals: { min: 2, max: 2, names: ['list', 'entity-id|petname'] },
    summary: 'take a member off one of your lists',
    json: true,
    options: [],
    notes: [LIST_ARG_NOTE, 'It may subscribe again (with an invite, or a request on a discuss or announce list); to keep it out, use wotrelay list ban.'],
  },
  {
    name: 'list members',
    args: '<list>',
    positionals: { min: 1, max: 1, names: ['list'] },
    summary: 'who is on one of your lists: members, pending requests and bans',
    json: true,
    options: [],
    notes: [LIST_ARG_NOTE],
  },
  {
    name: 'list pending',
    args: '<list>',
    positionals: { min: 1, max: 1, names: ['list'] },
    summary: 'subscribe requests waiting for your approval (moderated lists)',
    json: true,
    options: [],
    notes: [LIST_ARG_NOTE, 'Accept one with: wotrelay list approve <list> <entity-id>; refuse and keep it out with: wotrelay list ban <list> <entity-id>.'],
  },
  {
    name: 'list approve',
    args: '<list> <entity-id|petname>',
    positionals: { min: 2, max: 2, names: ['list', 'entity-id|petname'] },
    summary: 'accept a pending subscribe request',
    json: true,
    options: [],
    notes: [LIST_ARG_NOTE],
  },
  {
    name: 'list ban',
    args: '<list> <entity-id|petname>',
    positionals: { min: 2, max: 2, names: ['list', 'entity-id|petname'] },
    summary: 'ban an entity from one of your lists: it gets no more posts and cannot rejoin or post',
    json: true,
    options: [{ name: 'reason', type: 'string', metavar: 'TEXT', describe: 'why (at most 200 bytes; the banned entity is told)' }],
    notes: [LIST_ARG_NOTE],
    examples: ['wotrelay list ban friends wot1… --reason spam'],
  },
  {
    name: 'list status',
    args: '<list>',
    positionals: { min: 1, max: 1, names: ['list'] },
    summary: 'policy, member counts and recent posts with their copies delivered, queued and failed',
    json: true,
    options: [],
    notes: [LIST_ARG_NOTE],
  },
  {
    name: 'list hosted',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'the lists hosted by your agent, and whether they run',
    json: true,
    options: [],
    notes: ['Hosted lists start and stop with your daemon. A list can also run in a process of its own: wotrelay daemon --home <home>/lists/<name>.'],
  },
  {
    name: 'list join',
    args: '<list-id|petname|invite>',
    positionals: { min: 1, max: 1, names: ['list-id|petname|invite'] },
    summary: 'subscribe to someone\'s list (your agent trusts it and sends a signed request)',
    json: true,
    options: [
      { name: 'addr', type: 'addr', metavar: 'HOST:PORT', describe: 'where the list\'s agent can be reached' },
      { name: 'onion', type: 'boolean', describe: 'ask for every copy in onion mode: no relay learns that you read this list' },
      { name: 'hops', type: 'number', metavar: 'N', integer: true, min: 1, max: 8, describe: 'with --onion: relays on each copy\'s path (1-8, default 2)' },
    ],
    notes: [
      'With an invite code of the list you become a member at once (as with wotrelay accept <code>), and the request says how you want your copies.',
      'On a moderated list the request waits for the owner\'s approval; the list tells you.',
      'Join again to change how copies come: with --onion for onion copies, without it for clear ones. A request for onion copies travels as an onion itself.',
    ],
    examples: ['wotrelay list join wot1… --addr 192.0.2.40:7117', 'wotrelay list join news --onion --hops 3', `wotrelay list join 'wotrelay:invite?v=1&e=wot1…' --onion`],
  },
  {
    name: 'list leave',
    args: '<list-id|petname>',
    positionals: { min: 1, max: 1, names: ['list-id|petname'] },
    summary: 'unsubscribe from a list (a signed request to the list)',
    json: true,
    options: [],
    notes: ['Your agent keeps trusting the list; stop that with: wotrelay trust revoke <list>.'],
  },
  {
    name: 'list fetch',
    args: '<list-id|petname>',
    positionals: { min: 1, max: 1, names: ['list-id|petname'] },
    summary: 'ask a list you are on for its recent posts (they arrive in your inbox)',
    json: true,
    options: [{ name: 'last', type: 'number', integer: true, min: 1, max: 1000, metavar: 'N', describe: 'how many of the newest posts (default 50)' }],
    notes: ['Posts you already have are not shown twice.'],
    examples: ['wotrelay list fetch news --last 20'],
  },
  {
    name: 'stop',
    positionals: { min: 0, max: 0, names: [] },
    summary: 'stop the daemon',
    json: true,
    options: [],
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** Names of the subcommands of a command group ('trust' → ['add', 'revoke', 'list']). */
export function subcommands(group: string): string[] {
  return COMMANDS.filter((c) => c.name.startsWith(group + ' ')).map((c) => c.name.slice(group.length + 1));
}

function optUsage(o: OptSpec): string {
  const flag = o.type === 'boolean' ? `--${o.name}` : `--${o.name} ${o.metavar ?? 'VALUE'}`;
  return o.repeatable ? `[${flag} …]` : `[${flag}]`;
}

/** The one-line synopsis: `wotrelay trust add <entity-id> [--name NAME] [--addr HOST:PORT]`. */
export function usageLine(c: CommandSpec): string {
  const parts = ['wotrelay', c.name];
  if (c.name === 'send') {
    return 'wotrelay send <entity-id|petname> (<text…> | --file FILE) [--wait] [--follow] [--timeout DURATION]';
  }
  if (c.args) parts.push(c.args);
  for (const o of c.options) parts.push(optUsage(o));
  return parts.join(' ');
}

function optionRows(opts: OptSpec[]): string[] {
  const rows = opts.map((o) => {
    const flag = (o.short ? `-${o.short}, ` : '') + (o.type === 'boolean' ? `--${o.name}` : `--${o.name} ${o.metavar ?? 'VALUE'}`);
    return [flag, o.describe ?? ''] as const;
  });
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([f, d]) => `  ${f.padEnd(w)}  ${d}`);
}

/** `wotrelay <command> --help`. */
export function commandHelp(c: CommandSpec): string {
  const out = [`usage: ${usageLine(c)}`, '', capitalise(c.summary) + '.'];
  if (c.options.length) out.push('', 'options:', ...optionRows(c.options));
  for (const n of c.notes ?? []) out.push('', n);
  if (c.examples?.length) out.push('', 'examples:', ...c.examples.map((e) => `  ${e}`));
  out.push('', `global options: --home DIR${c.json ? ', --json' : ''}, --help`);
  return out.join('\n') + '\n';
}

/** `wotrelay trust --help`: the subcommands of a group. */
export function groupHelp(group: string): string {
  const cs = COMMANDS.filter((c) => c.name.startsWith(group + ' '));
  const w = Math.max(...cs.map((c) => c.name.length + (c.args ? c.args.length + 1 : 0)));
  const out = [`usage: wotrelay ${group} <${subcommands(group).join('|')}> …`, ''];
  for (const c of cs) out.push(`  ${(c.name + (c.args ? ' ' + c.args : '')).padEnd(w)}  ${c.summary}`);
  out.push('', `Run 'wotrelay ${group} <subcommand> --help' for its options.`);
  return out.join('\n') + '\n';
}

/** `wotrelay --help`: every command with one line each. */
export function overviewHelp(version: string): string {
  const label = (c: CommandSpec) => c.name + (c.args ? ' ' + c.args : '');
  const w = Math.max(...COMMANDS.map((c) => label(c).length));
  const row = (c: CommandSpec) => `  ${label(c).padEnd(w)}  ${c.summary}`;
  return [
    `wotrelay ${version}: a web-of-trust relay agent. Your agent talks only to agents you trust;`,
    'messages are end-to-end encrypted and signed, and show the verified path they took.',
    '',
    'usage: wotrelay <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map(row),
    '',
    'global options (anywhere on the line):',
    ...optionRows(GLOBAL_OPTIONS),
    '',
    'getting started: wotrelay init, then wotrelay daemon; in another terminal,',
    'wotrelay invite (give the code to a friend) or wotrelay accept <code>, then wotrelay send.',
    '',
    "Run 'wotrelay <command> --help' for a command's options.",
    'Exit codes: 0 ok, 1 the operation failed, 2 bad arguments, 3 the daemon is not running.',
  ].join('\n') + '\n';
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
