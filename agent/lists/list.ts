/**
 * The mailing-list entity (PROTOCOL.md 3.12). A list is an identity of its own whose agent
 * takes posts addressed to it and re-sends one copy per subscriber through the normal relay
 * (paths, reports, custody, mailboxes), keeping the author's signed content so every
 * subscriber verifies who wrote it. This module owns: membership (invite, subscribe
 * requests by policy, approval, unsubscribe, ban), how each member wants its copies (clear
 * or onion mode, from its subscribe request), who may post (policy, bans, mutes), the
 * bounded archive, paced fan-out with per-subscriber state, and complaints from subscribers
 * counting against a post's author (automatic mute). It is sans-I/O like the core it
 * attaches to: every method runs inside the caller's store transaction and returns actions.
 */
import { concatBytes, equalBytes, sha256, toHex, utf8 } from '../crypto/index.js';
import type { Action, AgentCore, ListHooks, ListInput } from '../core/index.js';
import { decodeSubscribe } from '../core/mail.js';
import { encodeEntityId, fingerprint } from '../identity/index.js';
import type { CoreStore, ListMember, ListMemberState } from '../store/index.js';
import { WotError } from '../wire/errors.js';

export type ListPolicy = 'announce' | 'discuss' | 'moderated';
export const LIST_POLICIES: readonly ListPolicy[] = ['announce', 'discuss', 'moderated'];

export interface ListSettings {
  name: string;
  /**
   * announce: only the owner posts; anyone may subscribe. discuss: every member posts; anyone
   * may subscribe. moderated: every member posts; subscribe requests wait for the owner.
   */
  policy: ListPolicy;
  owner: Uint8Array;
}

export interface ListTunables {
  /** Posts kept in the archive (newest). */
  archiveMax: number;
  /** Copies handed to the outbox per tick (the daemon ticks once a second). */
  fanoutPerTick: number;
  /** Copies not yet handed on, at most: beyond it new posts are refused (the author is told). */
  maxWaiting: number;
  /** Distinct subscribers complaining about one author within muteWindowMs mute it. */
  muteThreshold: number;
  muteWindowMs: number;
  muteForMs: number;
  /** Most posts one fetch request returns. */
  fetchMax: number;
}

export const LIST_DEFAULTS: ListTunables = {
  archiveMax: 1000,
  fanoutPerTick: 500,
  maxWaiting: 200_000,
  muteThreshold: 3,
  muteWindowMs: 24 * 3600_000,
  muteForMs: 7 * 24 * 3600_000,
  fetchMax: 200,
};

export interface ListPostStatus {
  postId: Uint8Array;
  author: Uint8Array;
  at: number;
  /** Copies not handed to the outbox yet (pacing). */
  waiting: number;
  /** Handed on, not confirmed delivered yet. */
  queued: number;
  delivered: number;
  failed: number;
}

export interface ListStatus {
  name: string;
  policy: ListPolicy;
  owner: Uint8Array;
  members: number;
  pending: number;
  banned: number;
  muted: number;
  posts: ListPostStatus[];
}

function modeText(onion: number): string {
  return onion > 0 ? `as onions through ${onion} relay${onion === 1 ? '' : 's'}` : 'in clear mode';
}

/** The id of the copy of `postId` for `subscriber`: the same copy is never sent twice under two ids. */
export function copyIdFor(postId: Uint8Array, subscriber: Uint8Array): Uint8Array {
  return sha256(utf8('wotrelay/v1/list-copy'), postId, subscriber).slice(0, 16);
}

export class ListHost implements ListHooks {
  private readonly t: ListTunables;

  constructor(
    private readonly core: AgentCore,
    private readonly store: CoreStore,
    readonly settings: ListSettings,
    tunables: Partial<ListTunables> = {},
    now: number = Date.now(),
  ) {
    if (!LIST_POLICIES.includes(settings.policy)) throw new WotError('ERR_BAD_REQUEST', `unknown list policy "${settings.policy}"`, `use one of ${LIST_POLICIES.join(', ')}`);
    this.t = { ...LIST_DEFAULTS, ...tunables };
    core.attachList(this);
    // The owner is trusted and a member with the owner's role, always.
    store.tx(() => {
      const t = store.trust.get(settings.owner);
      if (t?.state !== 'active') core.trustAdd(settings.owner, t?.petname ?? 'owner', undefined);
      const m = store.list.member(settings.owner);
      if (!m || m.role !== 'owner' || m.state !== 'member') {
        store.list.upsertMember({ entity: settings.owner, state: 'member', role: 'owner', joinedAt: m?.joinedAt ?? now, updatedAt: now, mutedUntil: 0, note: null, onion: m?.onion ?? 0 });
      }
    });
  }

  private get name(): string {
    return this.settings.name;
  }

  // ---------------------------------------------------------------- from the core

  onContent(m: ListInput, now: number): Action[] {
    const author = m.content.from;
    switch (m.content.kind) {
      case 'subscribe':
        return this.onSubscribe(author, decodeSubscribe(m.content.body), now);
      case 'unsubscribe':
        return this.onUnsubscribe(author);
      case 'fetch':
        return this.onFetch(author, m.content.body);
      case 'want':
        return this.onWant(author, m.content.body);
      case 'text':
      case 'file':
        return this.onPost(m, now);
      default:
        return [{ type: 'metric', name: 'list.dropped-kind' }];
    }
  }

  onInviteRedeemed(entity: Uint8Array, now: number): void {
    // An invite of the list is an invitation to join it.
    const m = this.store.list.member(entity);
    if (m?.state === 'banned') return;
    this.store.list.upsertMember({ entity, state: 'member', role: m?.role ?? 'member', joinedAt: m?.joinedAt ?? now, updatedAt: now, mutedUntil: m?.mutedUntil ?? 0, note: null, onion: m?.onion ?? 0 });
  }

  onComplaint(copyId: Uint8Array, complainant: Uint8Array, reason: string, now: number): Action[] {
    const copy = this.store.list.fanoutByCopy(copyId);
    if (!copy || !equalBytes(copy.subscriber, complainant)) return [{ type: 'metric', name: 'list.complaint-unrelated' }];
    const post = this.store.list.post(copy.postId);
    if (!post) return [{ type: 'metric', name: 'list.complaint-unrelated' }];
    if (!this.store.list.addComplaint(post.author, complainant, post.postId, now)) return [{ type: 'metric', name: 'list.complaint-duplicate' }];
    const actions: Action[] = [
      { type: 'metric', name: 'list.complaint' },
      { type: 'log', level: 'info', event: 'list-complaint', fields: { list: this.name, author: fingerprint(post.author), by: fingerprint(complainant), reason } },
    ];
    const n = this.store.list.complainants(post.author, now - this.t.muteWindowMs);
    const m = this.store.list.member(post.author);
    if (n >= this.t.muteThreshold && m && m.role !== 'owner' && m.mutedUntil <= now) {
      const until = now + this.t.muteForMs;
      this.store.list.setMuted(post.author, until, now);
      actions.push(
        { type: 'metric', name: 'list.muted' },
        { type: 'log', level: 'warn', event: 'list-member-muted', fields: { list: this.name, author: fingerprint(post.author), complainants: n } },
        ...this.notice(post.author, `you are muted on ${this.name} until ${new Date(until).toISOString()}: ${n} members complained about your posts`),
      );
    }
    return actions;
  }

  tick(now: number): Action[] {
    this.store.list.purgeComplaints(now - this.t.muteWindowMs);
    return this.pump();
  }

  // ---------------------------------------------------------------- membership

  /** `onion`: how the subscriber wants its copies (relays per onion path, 0 = clear mode). */
  private onSubscribe(entity: Uint8Array, onion: number, now: number): Action[] {
    const m = this.store.list.member(entity);
    if (m?.state === 'banned') return [{ type: 'metric', name: 'list.subscribe-banned' }, ...this.notice(entity, `you are banned from ${this.name}${m.note ? `: ${m.note}` : ''}`)];
    if (m) {
      // Subscribing again (a member, or a request still pending) changes how copies come.
      if (m.onion === onion) return [{ type: 'metric', name: 'list.subscribe-again' }];
      this.store.list.upsertMember({ ...m, updatedAt: now, onion });
      this.remode(entity, onion, now);
      return [
        { type: 'metric', name: 'list.copy-mode-changed' },
        ...(m.state === 'member' ? this.notice(entity, `your copies from ${this.name} now come ${modeText(onion)}`) : []),
      ];
    }
    if (this.settings.policy === 'moderated') {
      this.store.list.upsertMember({ entity, state: 'pending', role: 'member', joinedAt: now, updatedAt: now, mutedUntil: 0, note: null, onion });
      return [
        { type: 'metric', name: 'list.subscribe-pending' },
        { type: 'log', level: 'info', event: 'list-subscribe-request', fields: { list: this.name, who: fingerprint(entity) } },
        ...this.notice(entity, `your request to join ${this.name} waits for the owner's approval`),
      ];
    }
    this.store.list.upsertMember({ entity, state: 'member', role: 'member', joinedAt: now, updatedAt: now, mutedUntil: 0, note: null, onion });
    return [{ type: 'metric', name: 'list.subscribed' }, ...this.notice(entity, `welcome to ${this.name} (${this.settings.policy} list); your copies come ${modeText(onion)}`)];
  }

  /**
   * The member's copies and notices not yet taken by a hop go out in its new mode from their
   * next attempt (at most the outbox's per-recipient bound of rows; a rare event).
   */
  private remode(entity: Uint8Array, onion: number, now: number): void {
    for (const row of this.store.outbox.pendingFor(entity, Infinity)) {
      if (row.kind === 'post' || row.kind === 'notice') this.store.outbox.setOnion(row.id, onion > 0 ? onion : null, now);
    }
  }

  /** queueMessage options for a message to `entity`, in the mode the member asked for. */
  private modeFor(entity: Uint8Array): { onion?: number } {
    const onion = this.store.list.member(entity)?.onion ?? 0;
    return onion > 0 ? { onion } : {};
  }

  private onUnsubscribe(entity: Uint8Array): Action[] {
    const m = this.store.list.member(entity);
    if (!m || m.state === 'banned' || m.role === 'owner') return [{ type: 'metric', name: 'list.unsubscribe-ignored' }];
    this.store.list.removeMember(entity);
    return [{ type: 'metric', name: 'list.unsubscribed' }, ...this.notice(entity, `you left ${this.name}`)];
  }

  /** The owner adds a member directly (and the list trusts it, so it may link to the list). */
  add(entity: Uint8Array, now: number = Date.now()): Action[] {
    const m = this.store.list.member(entity);
    const actions: Action[] = [];
    if (this.store.trust.get(entity)?.state !== 'active') actions.push(...this.core.trustAdd(entity, undefined, undefined).actions);
    this.store.list.upsertMember({ entity, state: 'member', role: m?.role ?? 'member', joinedAt: m?.joinedAt ?? now, updatedAt: now, mutedUntil: 0, note: null, onion: m?.onion ?? 0 });
    return [...actions, ...this.notice(entity, `you were added to ${this.name}`)];
  }

  remove(entity: Uint8Array): Action[] {
    const m = this.need(entity);
    if (m.role === 'owner') throw new WotError('ERR_BAD_REQUEST', 'the owner cannot be removed from the list');
    this.store.list.removeMember(entity);
    return this.notice(entity, `you were removed from ${this.name}`);
  }

  approve(entity: Uint8Array, now: number = Date.now()): Action[] {
    const m = this.store.list.member(entity);
    if (!m || m.state !== 'pending') throw new WotError('ERR_NOT_FOUND', `${encodeEntityId(entity)} has no pending request`, 'wotrelay list pending <list> shows them');
    this.store.list.setState(entity, 'member', now, null);
    return this.notice(entity, `welcome to ${this.name}: the owner approved your request`);
  }

  ban(entity: Uint8Array, reason: string | null, now: number = Date.now()): Action[] {
    if (equalBytes(entity, this.settings.owner)) throw new WotError('ERR_BAD_REQUEST', 'the owner cannot be banned');
    const m = this.store.list.member(entity);
    this.store.list.upsertMember({ entity, state: 'banned', role: 'member', joinedAt: m?.joinedAt ?? now, updatedAt: now, mutedUntil: 0, note: reason, onion: m?.onion ?? 0 });
    return this.notice(entity, `you are banned from ${this.name}${reason ? `: ${reason}` : ''}`);
  }

  members(state?: ListMemberState): ListMember[] {
    return this.store.list.members(state);
  }

  status(now: number = Date.now(), posts = 10): ListStatus {
    const members = this.store.list.members('member');
    return {
      name: this.name,
      policy: this.settings.policy,
      owner: this.settings.owner,
      members: members.length,
      pending: this.store.list.countMembers('pending'),
      banned: this.store.list.countMembers('banned'),
      muted: members.filter((m) => m.mutedUntil > now).length,
      posts: this.store.list.recentPosts(posts).map((p) => this.postStatus(p.postId, p.author, p.receivedAt)),
    };
  }

  private postStatus(postId: Uint8Array, author: Uint8Array, at: number): ListPostStatus {
    const s: ListPostStatus = { postId, author, at, waiting: 0, queued: 0, delivered: 0, failed: 0 };
    for (const f of this.store.list.fanoutFor(postId)) {
      if (f.state === 'waiting') {
        s.waiting++;
        continue;
      }
      const row = this.store.outbox.get(f.copyId);
      const st = row?.state;
      if (st === 'delivered' || st === 'read') s.delivered++;
      else if (st === 'failed' || st === 'expired') s.failed++;
      else s.queued++;
    }
    return s;
  }

  private need(entity: Uint8Array): ListMember {
    const m = this.store.list.member(entity);
    if (!m) throw new WotError('ERR_NOT_FOUND', `${encodeEntityId(entity)} is not on ${this.name}`, `wotrelay list members ${this.name} shows who is`);
    return m;
  }

  // ---------------------------------------------------------------- posts

  /** Why `author` may not post now, or null. */
  private refusal(author: Uint8Array, now: number): string | null {
    const m = this.store.list.member(author);
    if (!m || m.state === 'pending') return `you are not a member of ${this.name} (join with: wotrelay list join ${encodeEntityId(this.core.entity)})`;
    if (m.state === 'banned') return `you are banned from ${this.name}${m.note ? `: ${m.note}` : ''}`;
    if (m.mutedUntil > now) return `you are muted on ${this.name} until ${new Date(m.mutedUntil).toISOString()} after complaints`;
    if (this.settings.policy === 'announce' && m.role !== 'owner') return `${this.name} is an announcement list: only its owner posts`;
    return null;
  }

  private onPost(m: ListInput, now: number): Action[] {
    const author = m.content.from;
    const why = this.refusal(author, now);
    if (why) {
      return [
        { type: 'metric', name: 'list.post-refused' },
        { type: 'log', level: 'info', event: 'list-post-refused', fields: { list: this.name, author: fingerprint(author), why } },
        ...this.notice(author, `your post to ${this.name} was refused: ${why}`, [m.hash]),
      ];
    }
    if (this.store.list.post(m.content.id)) return [{ type: 'metric', name: 'list.post-duplicate' }];
    const backlog = this.backlog();
    if (backlog >= this.t.maxWaiting) {
      return [{ type: 'metric', name: 'list.post-refused-busy' }, ...this.notice(author, `your post to ${this.name} was refused: the list is still sending ${backlog} copies; try again later`, [m.hash])];
    }
    const post = this.store.list.putPost({ postId: m.content.id, hash: m.hash, author, signed: m.signed, receivedAt: now });
    if (!post) return [{ type: 'metric', name: 'list.post-duplicate' }];
    this.store.list.trimPosts(this.t.archiveMax);
    // One waiting copy per subscriber (not the author); pump() hands them on at a steady pace.
    let copies = 0;
    for (let after: Uint8Array | null = null; ; ) {
      const page = this.store.list.subscribers(after, 1000);
      if (page.length === 0) break;
      const rows = page
        .filter((s) => !equalBytes(s, author))
        .map((subscriber) => ({ postId: post.postId, subscriber, copyId: copyIdFor(post.postId, subscriber), state: 'waiting' as const, createdAt: now }));
      copies += this.store.list.addFanout(rows);
      after = page[page.length - 1]!;
    }
    return [
      { type: 'metric', name: 'list.post' },
      { type: 'log', level: 'info', event: 'list-post', fields: { list: this.name, author: fingerprint(author), id: toHex(post.postId), copies } },
      ...this.pump(),
    ];
  }

  private backlog(): number {
    return this.store.list.countWaiting();
  }

  /** Hands up to fanoutPerTick waiting copies to the outbox; a subscriber whose outbox share is full waits. */
  private pump(): Action[] {
    const waiting = this.store.list.nextWaiting(this.t.fanoutPerTick);
    if (waiting.length === 0) return [];
    const actions: Action[] = [];
    const queued: Uint8Array[] = [];
    for (const f of waiting) {
      const post = this.store.list.post(f.postId);
      if (!post) continue;
      const r = this.core.queueMessage(f.subscriber, 'post', post.signed, { id: f.copyId, ...this.modeFor(f.subscriber) });
      actions.push(...r.actions);
      if (r.queued) queued.push(f.copyId);
    }
    this.store.list.markQueued(queued);
    return actions;
  }

  /** A member asks for the recent archive: each post it lacks comes as its usual copy (same id: no duplicates). */
  private onFetch(entity: Uint8Array, body: Uint8Array): Action[] {
    const m = this.store.list.member(entity);
    if (m?.state !== 'member') return [{ type: 'metric', name: 'list.fetch-refused' }, ...this.notice(entity, `only members of ${this.name} can fetch its archive`)];
    const want = body.length >= 2 ? (body[0]! << 8) | body[1]! : 50;
    const actions: Action[] = [{ type: 'metric', name: 'list.fetch' }];
    const mode = m.onion > 0 ? { onion: m.onion } : {};
    for (const p of this.store.list.recentPosts(Math.min(want, this.t.fetchMax))) {
      if (equalBytes(p.author, entity)) continue;
      actions.push(...this.core.queueMessage(entity, 'post', p.signed, { id: copyIdFor(p.postId, entity), ...mode }).actions);
    }
    return actions;
  }

  /** A member misses causal parents: the posts with those hashes are sent to it again. */
  private onWant(entity: Uint8Array, body: Uint8Array): Action[] {
    const m = this.store.list.member(entity);
    if (m?.state !== 'member') return [];
    const actions: Action[] = [];
    const mode = m.onion > 0 ? { onion: m.onion } : {};
    for (let i = 0; i + 32 <= body.length && i < 64 * 32; i += 32) {
      const p = this.store.list.postByHash(body.subarray(i, i + 32));
      if (p && !equalBytes(p.author, entity)) actions.push(...this.core.queueMessage(entity, 'post', p.signed, { id: copyIdFor(p.postId, entity), ...mode }).actions);
    }
    return actions;
  }

  /** A short text from the list to one member (refusals, welcome, mute), in its mode; `refused` names the refused post. */
  private notice(to: Uint8Array, text: string, refused: Uint8Array[] = []): Action[] {
    return this.core.queueMessage(to, 'notice', concatBytes(utf8(text)), { parents: refused, ...this.modeFor(to) }).actions;
  }
}
