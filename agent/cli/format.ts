/**
 * Human-readable output of the CLI: aligned tables, times (local ISO-like plus relative),
 * names (petname, else fingerprint), inbox entries with their verified path, and
 * neutralising control characters in anything that came from the network.
 */
import {
  OUTBOX_STATES,
  type HostedListView,
  type HostedMailboxView,
  type InboxItem,
  type ListMemberView,
  type ListStatusView,
  type MailboxView,
  type OutboxItem,
  type PeerView,
  type StatusResult,
  type TrustEntryView,
} from '../api/methods.js';

/** Replaces terminal control characters (escape sequences from a remote sender) with '�'; keeps \n and \t when asked. */
export function clean(s: string, keepNewlines = false): string {
  const re = keepNewlines ? /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g : /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
  return s.replace(re, '\ufffd');
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `2026-11-21 10:00:05` in local time. */
export function clock(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** `5m ago`, `in 24h`, `just now`. */
export function relative(ms: number, now = Date.now()): string {
  const diff = ms - now;
  const a = Math.abs(diff);
  if (a < 5000) return 'just now';
  const [n, unit] =
    a < 59_500 ? [Math.round(a / 1000), 's'] : a < 3_570_000 ? [Math.round(a / 60_000), 'm'] : a < 84_600_000 ? [Math.round(a / 3_600_000), 'h'] : [Math.round(a / 86_400_000), 'd'];
  return diff < 0 ? `${n}${unit} ago` : `in ${n}${unit}`;
}

/** How long ago: `5m`, `2d`, `now`. */
export function age(ms: number, now = Date.now()): string {
  const r = relative(Math.min(ms, now), now);
  return r === 'just now' ? 'now' : r.replace(/ ago$/, '');
}

export function when(ms: number, now = Date.now()): string {
  return `${clock(ms)} (${relative(ms, now)})`;
}

/** `1.2 MiB`, `300 bytes`. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Aligned columns with a header row; '-' for empty cells. */
export function table(header: string[], rows: Array<Array<string | null | undefined>>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : clean(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

/** Petname if known, else the fingerprint. */
export function who(name: string | null, fingerprint: string): string {
  return name !== null ? `${clean(name)} (${fingerprint})` : fingerprint;
}

function hopName(h: InboxItem['path'][number]): string {
  return h.name !== null ? clean(h.name) : h.fingerprint;
}

/** Said next to a message shown without some of its causal parents (they never arrived). */
export const GAP_NOTE = '(earlier message(s) never arrived)';

/**
 * One inbox entry: time, sender (and a note when earlier messages never arrived), verified
 * path, message id, then the text (indented) or `[file name, N bytes]`.
 */
export function inboxEntry(m: InboxItem, now = Date.now()): string {
  const gap = (m.gap ?? []).length > 0 ? `  ${GAP_NOTE}` : '';
  // A list post: who wrote it (verified by its signature), and the list it came through.
  const sender = m.author
    ? `${who(m.author.name, m.author.fingerprint)} via ${m.via ? (m.via.name !== null ? clean(m.via.name) : m.via.fingerprint) : who(m.fromName, m.fromFingerprint)}`
    : who(m.fromName, m.fromFingerprint);
  const lines = [`${when(m.receivedAt, now)}  from ${sender}${gap}`];
  lines.push(m.onion || m.path.length === 0 ? '  path: onion (no hop knows it, nor do you)' : `  path: ${[...m.path.map(hopName), 'you'].join(' → ')}  (verified)`);
  lines.push(`  id: ${clean(m.id)}`);
  if (m.kind === 'file') {
    lines.push(`  [file ${clean(m.name ?? 'unnamed')}, ${m.size} bytes]`);
  } else {
    for (const l of clean(m.text ?? '', true).split('\n')) lines.push(`  ${l}`);
  }
  return lines.join('\n') + '\n';
}

export function statusText(s: StatusResult, now = Date.now()): string {
  const metrics = Object.entries(s.metrics);
  const rows: Array<[string, string]> = [
    ['entity id', s.entity],
    ['fingerprint', s.fingerprint],
    ['agent id', s.agent],
    ['daemon', `wotrelay ${s.version}, pid ${s.pid}, up since ${when(s.startedAt, now)}`],
    ['home', s.home],
    ['listening', s.listen.length ? s.listen.join(', ') : 'nowhere'],
    ['peers', `${s.peers} connected, ${s.trusted} trusted`],
    ['inbox', `${s.inbox} message${s.inbox === 1 ? '' : 's'}`],
    ['outbox', outboxLine(s)],
  ];
  // Absent when the daemon is older than this CLI.
  if (s.queues) {
    const q = s.queues;
    const l = q.limits;
    rows.push([
      'relay queue',
      `${plural(q.relay.messages, 'message')}, ${bytes(q.relay.bytes)} held for others (limits: ${l.perHop} per next hop, ${l.total} in all, ${bytes(l.bytes)})`,
    ]);
    for (const h of q.relay.byNextHop) rows.push(['', `  ${plural(h.messages, 'message')}, ${bytes(h.bytes)} waiting for ${who(h.petname, h.fingerprint)}`]);
    rows.push(['held', `${plural(q.held, 'message')} held for causal order (waiting for earlier ones)`]);
  }
  if (s.mailboxes) rows.push(['mailboxes', `${s.mailboxes.mine} yours, ${s.mailboxes.hosted} hosted for others`]);
  if (s.connections) {
    const c = s.connections;
    rows.push(['connections', `${plural(c.links, 'link')}, ${plural(c.pendingHandshakes, 'handshake')} in progress (caps: ${c.maxPendingHandshakes} in progress, ${c.maxConnectionsPerAddress} per address, ${c.maxLinks} links)`]);
  }
  if (s.memory) rows.push(['memory', `${bytes(s.memory.rss)} resident, ${bytes(s.memory.heapUsed)} heap`]);
  if (s.evidence && s.evidence.total > 0) {
    const e = s.evidence.recent[s.evidence.recent.length - 1];
    const last = e ? ` (latest from ${e.fromFingerprint}: ${e.code}, ${clean(e.reason)})` : '';
    rows.push(['evidence', `${plural(s.evidence.total, 'envelope')} for you dropped for a broken hop chain or signature${last}; status --json shows the signed chains`]);
  }
  if (s.reachability) {
    const r = s.reachability;
    const via = r.relays.length ? ` ${r.relays.map((x) => clean(x)).join(', ')}` : '';
    rows.push(['reachable', `${r.mode}${via}: ${clean(r.why)}`]);
  }
  const w = Math.max(...rows.map((r) => r[0].length));
  let out = rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
  const revs = s.revocations ?? [];
  if (revs.length) {
    out += `${'revoked after complaints'}\n`;
    for (const r of revs) out += `  ${clean(r.petname ?? r.fingerprint)}  ${r.complainants} complainants, ${when(r.at, now)}\n`;
  }
  if (metrics.length) {
    out += `${'metrics'.padEnd(w)}\n`;
    const mw = Math.max(...metrics.map(([k]) => k.length));
    for (const [k, v] of metrics) out += `  ${clean(k).padEnd(mw)}  ${v}\n`;
  }
  return out;
}

export function peersTable(peers: PeerView[], now = Date.now()): string {
  return table(
    ['NAME', 'FINGERPRINT', 'DIRECTION', 'ADDRESS', 'SINCE', 'ENTITY ID'],
    peers.map((p) => [p.petname, p.fingerprint, p.direction === 'in' ? 'incoming' : 'outgoing', p.remoteAddress, relative(p.since, now), p.entity]),
  );
}

export function trustTable(entries: TrustEntryView[], now = Date.now()): string {
  return table(
    ['NAME', 'FINGERPRINT', 'STATE', 'HOW', 'LINK', 'ADDRESS', 'ADDED', 'ENTITY ID'],
    entries.map((t) => [t.petname, t.fingerprint, t.state, t.how, t.connected ? 'up' : 'down', t.addr, relative(t.addedAt, now), t.entity]),
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `3 pending: 1 queued, 2 relayed; 10 delivered` from the per-state counts (text/file only). */
function outboxLine(s: StatusResult): string {
  const by = s.outboxByState;
  if (!by) return `${s.outboxPending} pending`;
  const parts = OUTBOX_STATES.filter((st) => (by[st] ?? 0) > 0).map((st) => `${by[st]} ${st}`);
  return `${s.outboxPending} pending${parts.length ? ` (by state: ${parts.join(', ')})` : ''}`;
}

/** The first 8 hex characters of a message id (the whole id is in --json). */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

/** The outbox as a table; `withKind` adds the KIND column (for --all). */
export function outboxTable(items: OutboxItem[], withKind = false, now = Date.now()): string {
  const header = ['ID', 'TO', ...(withKind ? ['KIND'] : []), 'STATE', 'ATTEMPTS', 'AGE', 'ERROR'];
  return table(
    header,
    items.map((o) => [shortId(o.id), o.toName ?? o.to, ...(withKind ? [o.kind] : []), o.state, String(o.attempts), age(o.createdAt, now), o.error]),
  );
}

/** `wotrelay mailbox list`: the mailboxes we named, then the accounts we host. */
export function mailboxLists(l: { mine: MailboxView[]; hosted: HostedMailboxView[] }, now = Date.now()): string {
  const indent = (t: string) => t.split('\n').map((line) => (line ? `  ${line}` : line)).join('\n');
  let out = 'your mailboxes\n';
  out +=
    l.mine.length === 0
      ? '  none: messages wait at relays while you are away (add one with: wotrelay mailbox add <entity-id|petname>)\n'
      : indent(table(['NAME', 'FINGERPRINT', 'CONNECTED', 'ENTITY ID'], l.mine.map((m) => [m.petname, m.fingerprint, m.connected ? 'yes' : 'no', m.entity])));
  out += '\nmailboxes you host\n';
  out +=
    l.hosted.length === 0
      ? '  none: nobody named you as their mailbox\n'
      : indent(
          table(
            ['OWNER', 'FINGERPRINT', 'MESSAGES', 'BYTES', 'SINCE', 'ENTITY ID'],
            l.hosted.map((h) => [h.petname, h.fingerprint, String(h.messages), bytes(h.bytes), relative(h.since, now), h.owner]),
          ),
        );
  return out;
}

/** Quotes a shell argument only when needed, for commands shown in hints. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What each progress status means, shown after it in a timeline. */
const STEP_NOTES: Readonly<Record<string, string>> = {
  sent: 'handed to the first hop',
  relayed: 'holds it until it can go on',
  stored: 'stored it in a mailbox',
  refused: 'refused to hold it',
  read: 'the recipient read it',
  stalled: 'its next hop did not take it in time',
};

/** One line of a message's timeline: "+0.012s  bob (ABCD-…)  forwarded", with the detail of a refusal. */
export function progressLine(p: { status: string; reporterName: string | null; reporterFingerprint: string; at: number; detail?: string }, t0: number): string {
  const dt = ((p.at - t0) / 1000).toFixed(3);
  const who = p.reporterName ? `${clean(p.reporterName)} (${p.reporterFingerprint})` : p.reporterFingerprint;
  const detail = p.detail !== undefined && p.detail !== '' ? clean(p.detail) : undefined;
  const note = detail ?? STEP_NOTES[p.status];
  return `  +${dt}s  ${who.padEnd(32)} ${p.status}${note !== undefined ? `: ${note}` : ''}`;
}

/** `wotrelay list hosted`: one row per list under <home>/lists/. */
export function hostedListsTable(lists: HostedListView[]): string {
  return table(
    ['NAME', 'POLICY', 'STATE', 'FINGERPRINT', 'LISTEN', 'ENTITY ID'],
    lists.map((l) => [l.name, l.policy, l.running ? 'running' : l.error ? `failed: ${l.error}` : 'stopped', l.fingerprint, l.listen.join(' '), l.entity]),
  );
}

/** A member's state, with "muted" while it lasts. */
function memberState(m: ListMemberView, now: number): string {
  return m.state === 'member' && m.mutedUntil > now ? `muted until ${clock(m.mutedUntil)}` : m.state;
}

/** `wotrelay list members`: everyone the list knows, with state and role. */
export function listMembersTable(members: ListMemberView[], now = Date.now()): string {
  return table(
    ['NAME', 'FINGERPRINT', 'STATE', 'ROLE', 'COPIES', 'SINCE', 'NOTE', 'ENTITY ID'],
    members.map((m) => [m.petname, m.fingerprint, memberState(m, now), m.role, copyMode(m.onion), relative(m.joinedAt, now), m.note, m.entity]),
  );
}

/** How a member gets its copies: "clear", or "onion/N" (N relays per path). */
function copyMode(onion: number): string {
  return onion > 0 ? `onion/${onion}` : 'clear';
}

/** `wotrelay list pending`: subscribe requests waiting for the owner. */
export function listPendingTable(members: ListMemberView[], now = Date.now()): string {
  return table(
    ['NAME', 'FINGERPRINT', 'ASKED', 'NOTE', 'ENTITY ID'],
    members.map((m) => [m.petname, m.fingerprint, relative(m.joinedAt, now), m.note, m.entity]),
  );
}

/** `wotrelay list status`: what the list is, its counts, and how far each recent post got. */
export function listStatusText(s: ListStatusView, now = Date.now()): string {
  const rows: Array<[string, string]> = [
    ['list', `${clean(s.name)} (${s.policy})`],
    ['entity id', s.entity],
    ['fingerprint', s.fingerprint],
    ['owner', `${s.ownerFingerprint} (${s.owner})`],
    ['members', `${s.members}, ${s.pending} pending, ${s.banned} banned, ${s.muted} muted`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  let out = rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
  if (s.posts.length === 0) return out + 'recent posts\n  none yet\n';
  out += 'recent posts (copies to members)\n';
  const t = table(
    ['POST', 'AUTHOR', 'AGE', 'DELIVERED', 'QUEUED', 'WAITING', 'FAILED'],
    s.posts.map((p) => [shortId(p.postId), p.authorName !== null ? `${p.authorName} (${p.authorFingerprint})` : p.authorFingerprint, age(p.at, now), String(p.delivered), String(p.queued), String(p.waiting), String(p.failed)]),
  );
  return out + t.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');
}
