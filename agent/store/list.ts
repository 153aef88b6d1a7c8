/**
 * Mailing-list repository: the state of a mailing-list entity's agent — its members (state,
 * role, mute, note), the post archive (seq order, never reused), the per-subscriber fan-out
 * of each post (a copy id per subscriber, 'waiting' until queued in the outbox) and the
 * complaints about authors. Only list agents use it; every store has the tables (v4). Each
 * member also says how it wants its copies, clear or onion (v6).
 * Per-state member counts and per-post fan-out counts are kept in `list_member_counts` /
 * `list_fanout_counts` by triggers (O(1) reads, always consistent with the rows).
 * Tables `list_members`, `list_posts`, `list_fanout`, `list_complaints`.
 */
import type Database from 'better-sqlite3';
import { keepCount, sqlLimit } from './limits.js';

export type ListMemberState = 'member' | 'pending' | 'banned';
export type ListRole = 'owner' | 'member';

export interface ListMember {
  /** Member entity (primary key). */
  entity: Uint8Array;
  state: ListMemberState;
  role: ListRole;
  joinedAt: number;
  updatedAt: number;
  /** 0 = not muted; muted while mutedUntil > now. */
  mutedUntil: number;
  /** E.g. the reason of a ban, or of a subscribe request. */
  note: string | null;
  /** How the member wants its copies: 0 = clear mode, 1..8 = onion mode over that many relays (v6). */
  onion: number;
}

export interface ListPost {
  /** Archive order, assigned by the store (AUTOINCREMENT: never reused; a duplicate does not consume one). */
  seq: number;
  /** The author's message id (16 bytes), unique. */
  postId: Uint8Array;
  /** sha256 of the author's content bytes (32). */
  hash: Uint8Array;
  /** Author entity (32). */
  author: Uint8Array;
  /** The author's signed content bytes (opaque). */
  signed: Uint8Array;
  receivedAt: number;
}

export type FanoutState = 'waiting' | 'queued';

export interface FanoutRow {
  postId: Uint8Array;
  subscriber: Uint8Array;
  /** Message id of the copy sent to this subscriber (16 bytes), unique. */
  copyId: Uint8Array;
  state: FanoutState;
  createdAt: number;
}

/** Fan-out rows of one post, per state. */
export interface FanoutCount {
  waiting: number;
  queued: number;
}

interface MemberDbRow {
  entity: Buffer;
  state: ListMemberState;
  role: ListRole;
  joined_at: number;
  updated_at: number;
  muted_until: number;
  note: string | null;
  onion: number;
}

interface PostDbRow {
  seq: number;
  post_id: Buffer;
  hash: Buffer;
  author: Buffer;
  signed: Buffer;
  received_at: number;
}

interface FanoutDbRow {
  post_id: Buffer;
  subscriber: Buffer;
  copy_id: Buffer;
  state: FanoutState;
  created_at: number;
}

const MEMBER_COLS = 'entity, state, role, joined_at, updated_at, muted_until, note, onion';
const POST_COLS = 'seq, post_id, hash, author, signed, received_at';
const FANOUT_COLS = 'post_id, subscriber, copy_id, state, created_at';

function memberFromDb(r: MemberDbRow): ListMember {
  return {
    entity: r.entity,
    state: r.state,
    role: r.role,
    joinedAt: r.joined_at,
    updatedAt: r.updated_at,
    mutedUntil: r.muted_until,
    note: r.note,
    onion: r.onion,
  };
}

function postFromDb(r: PostDbRow): ListPost {
  return { seq: r.seq, postId: r.post_id, hash: r.hash, author: r.author, signed: r.signed, receivedAt: r.received_at };
}

function fanoutFromDb(r: FanoutDbRow): FanoutRow {
  return { postId: r.post_id, subscriber: r.subscriber, copyId: r.copy_id, state: r.state, createdAt: r.created_at };
}

export class ListRepo {
  private readonly sMember: Database.Statement<[Uint8Array], MemberDbRow>;
  private readonly sUpsertMember: Database.Statement<[Record<string, unknown>]>;
  private readonly sSetState: Database.Statement<[ListMemberState, number, string | null, Uint8Array]>;
  private readonly sSetMuted: Database.Statement<[number, number, Uint8Array]>;
  private readonly sRemoveMember: Database.Statement<[Uint8Array]>;
  private readonly sMembers: Database.Statement<[number], MemberDbRow>;
  private readonly sMembersIn: Database.Statement<[ListMemberState, number], MemberDbRow>;
  private readonly sCountMembers: Database.Statement<[ListMemberState], { n: number }>;
  private readonly sSubscribers: Database.Statement<[number], { entity: Buffer }>;
  private readonly sSubscribersAfter: Database.Statement<[Uint8Array, number], { entity: Buffer }>;
  private readonly sPutPost: Database.Statement<[Record<string, unknown>]>;
  private readonly sPost: Database.Statement<[Uint8Array], PostDbRow>;
  private readonly sPostByHash: Database.Statement<[Uint8Array], PostDbRow>;
  private readonly sRecentPosts: Database.Statement<[number], PostDbRow>;
  private readonly sTrimCut: Database.Statement<[number], { seq: number }>;
  private readonly sTrimFanout: Database.Statement<[number]>;
  private readonly sTrimPosts: Database.Statement<[number]>;
  private readonly sAddFanout: Database.Statement<[Record<string, unknown>]>;
  private readonly sNextWaiting: Database.Statement<[number], FanoutDbRow>;
  private readonly sMarkQueued: Database.Statement<[Uint8Array]>;
  private readonly sFanoutFor: Database.Statement<[Uint8Array, number], FanoutDbRow>;
  private readonly sFanoutByCopy: Database.Statement<[Uint8Array], FanoutDbRow>;
  private readonly sCountFanout: Database.Statement<[Uint8Array], FanoutCount>;
  private readonly sCountWaiting: Database.Statement<[], { n: number | null }>;
  private readonly sAddComplaint: Database.Statement<[Uint8Array, Uint8Array, Uint8Array, number]>;
  private readonly sComplainants: Database.Statement<[Uint8Array, number], { n: number }>;
  private readonly sPurgeComplaints: Database.Statement<[number]>;
  private readonly trimTx: Database.Transaction<(keep: number) => number>;
  private readonly addFanoutTx: Database.Transaction<(rows: FanoutRow[]) => number>;
  private readonly markQueuedTx: Database.Transaction<(copyIds: Uint8Array[]) => number>;

  constructor(db: Database.Database) {
    this.sMember = db.prepare(`SELECT ${MEMBER_COLS} FROM list_members WHERE entity = ?`);
    this.sUpsertMember = db.prepare(
      `INSERT INTO list_members (${MEMBER_COLS})
       VALUES (@entity, @state, @role, @joined_at, @updated_at, @muted_until, @note, @onion)
       ON CONFLICT (entity) DO UPDATE SET
         state = excluded.state, role = excluded.role, joined_at = excluded.joined_at,
         updated_at = excluded.updated_at, muted_until = excluded.muted_until, note = excluded.note,
         onion = excluded.onion`,
    );
    this.sSetState = db.prepare(`UPDATE list_members SET state = ?, updated_at = ?, note = ? WHERE entity = ?`);
    this.sSetMuted = db.prepare(`UPDATE list_members SET muted_until = ?, updated_at = ? WHERE entity = ?`);
    this.sRemoveMember = db.prepare(`DELETE FROM list_members WHERE entity = ?`);
    this.sMembers = db.prepare(`SELECT ${MEMBER_COLS} FROM list_members ORDER BY joined_at, entity LIMIT ?`);
    this.sMembersIn = db.prepare(`SELECT ${MEMBER_COLS} FROM list_members WHERE state = ? ORDER BY joined_at, entity LIMIT ?`);
    this.sCountMembers = db.prepare(`SELECT n FROM list_member_counts WHERE state = ?`);
    this.sSubscribers = db.prepare(`SELECT entity FROM list_members WHERE state = 'member' ORDER BY entity LIMIT ?`);
    this.sSubscribersAfter = db.prepare(
      `SELECT entity FROM list_members WHERE state = 'member' AND entity > ? ORDER BY entity LIMIT ?`,
    );
    // The NOT EXISTS guard keeps a duplicate from consuming a seq number (as in the inbox).
    this.sPutPost = db.prepare(
      `INSERT INTO list_posts (post_id, hash, author, signed, received_at)
       SELECT @post_id, @hash, @author, @signed, @received_at
       WHERE NOT EXISTS (SELECT 1 FROM list_posts WHERE post_id = @post_id)
       ON CONFLICT (post_id) DO NOTHING`,
    );
    this.sPost = db.prepare(`SELECT ${POST_COLS} FROM list_posts WHERE post_id = ?`);
    this.sPostByHash = db.prepare(`SELECT ${POST_COLS} FROM list_posts WHERE hash = ? ORDER BY seq LIMIT 1`);
    this.sRecentPosts = db.prepare(
      `SELECT ${POST_COLS} FROM (SELECT ${POST_COLS} FROM list_posts ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
    );
    // The newest post that goes: everything at or below its seq is deleted.
    this.sTrimCut = db.prepare(`SELECT seq FROM list_posts ORDER BY seq DESC LIMIT 1 OFFSET ?`);
    this.sTrimFanout = db.prepare(
      `DELETE FROM list_fanout WHERE post_id IN (SELECT post_id FROM list_posts WHERE seq <= ?)`,
    );
    this.sTrimPosts = db.prepare(`DELETE FROM list_posts WHERE seq <= ?`);
    // Conflict target (post_id, subscriber): an existing pair is skipped; a copy_id used by
    // another pair is still a UNIQUE constraint error (SQLite checks the target first).
    this.sAddFanout = db.prepare(
      `INSERT INTO list_fanout (${FANOUT_COLS}) VALUES (@post_id, @subscriber, @copy_id, @state, @created_at)
       ON CONFLICT (post_id, subscriber) DO NOTHING`,
    );
    this.sNextWaiting = db.prepare(
      `SELECT ${FANOUT_COLS} FROM list_fanout WHERE state = 'waiting' ORDER BY created_at, rowid LIMIT ?`,
    );
    this.sMarkQueued = db.prepare(`UPDATE list_fanout SET state = 'queued' WHERE copy_id = ? AND state = 'waiting'`);
    this.sFanoutFor = db.prepare(`SELECT ${FANOUT_COLS} FROM list_fanout WHERE post_id = ? ORDER BY rowid LIMIT ?`);
    this.sFanoutByCopy = db.prepare(`SELECT ${FANOUT_COLS} FROM list_fanout WHERE copy_id = ?`);
    this.sCountFanout = db.prepare(`SELECT waiting, queued FROM list_fanout_counts WHERE post_id = ?`);
    this.sCountWaiting = db.prepare(`SELECT sum(waiting) AS n FROM list_fanout_counts`);
    this.sAddComplaint = db.prepare(
      `INSERT INTO list_complaints (author, complainant, post_id, at) VALUES (?, ?, ?, ?)
       ON CONFLICT (author, complainant, post_id) DO NOTHING`,
    );
    this.sComplainants = db.prepare(
      `SELECT count(DISTINCT complainant) AS n FROM list_complaints WHERE author = ? AND at >= ?`,
    );
    this.sPurgeComplaints = db.prepare(`DELETE FROM list_complaints WHERE at < ?`);

    this.trimTx = db.transaction((keep: number) => {
      const cut = this.sTrimCut.get(keep);
      if (!cut) return 0;
      this.sTrimFanout.run(cut.seq);
      return this.sTrimPosts.run(cut.seq).changes;
    });
    this.addFanoutTx = db.transaction((rows: FanoutRow[]) => {
      let n = 0;
      for (const r of rows) {
        n += this.sAddFanout.run({
          post_id: r.postId,
          subscriber: r.subscriber,
          copy_id: r.copyId,
          state: r.state,
          created_at: r.createdAt,
        }).changes;
      }
      return n;
    });
    this.markQueuedTx = db.transaction((copyIds: Uint8Array[]) => {
      let n = 0;
      for (const id of copyIds) n += this.sMarkQueued.run(id).changes;
      return n;
    });
  }

  // ------------------------------------------------------------ members

  member(entity: Uint8Array): ListMember | undefined {
    const r = this.sMember.get(entity);
    return r ? memberFromDb(r) : undefined;
  }

  /** Inserts or fully replaces the member row of m.entity. */
  upsertMember(m: ListMember): void {
    this.sUpsertMember.run({
      entity: m.entity,
      state: m.state,
      role: m.role,
      joined_at: m.joinedAt,
      updated_at: m.updatedAt,
      muted_until: m.mutedUntil,
      note: m.note,
      onion: m.onion,
    });
  }

  /**
   * Sets the state, updatedAt = now and the note (the reason of this state; cleared to null
   * when not given, as in OutboxRepo.setState). False when the entity is not a member row.
   */
  setState(entity: Uint8Array, state: ListMemberState, now: number, note?: string | null): boolean {
    return this.sSetState.run(state, now, note ?? null, entity).changes > 0;
  }

  /** Mutes until `until` (0 unmutes); updatedAt = now. False when the entity is not a member row. */
  setMuted(entity: Uint8Array, until: number, now: number): boolean {
    return this.sSetMuted.run(until, now, entity).changes > 0;
  }

  /** Deletes the member row. False when there was none. */
  removeMember(entity: Uint8Array): boolean {
    return this.sRemoveMember.run(entity).changes > 0;
  }

  /** Member rows (all, or those in `state`), by joinedAt then entity bytes; all when no limit. */
  members(state?: ListMemberState, limit?: number): ListMember[] {
    const n = sqlLimit(limit);
    const rows = state === undefined ? this.sMembers.all(n) : this.sMembersIn.all(state, n);
    return rows.map(memberFromDb);
  }

  /** Member rows in `state` (O(1)). */
  countMembers(state: ListMemberState): number {
    return this.sCountMembers.get(state)?.n ?? 0;
  }

  /**
   * Entities in state 'member' whose bytes sort after `after` (null: from the first), in
   * ascending byte order: page through a large list by passing the last entity of a page.
   */
  subscribers(after: Uint8Array | null, limit: number): Uint8Array[] {
    const n = sqlLimit(limit);
    const rows = after === null ? this.sSubscribers.all(n) : this.sSubscribersAfter.all(after, n);
    return rows.map((r) => r.entity);
  }

  // ------------------------------------------------------------ post archive

  /** Archives a post; undefined (nothing written, no seq used) when its postId is already archived. */
  putPost(p: Omit<ListPost, 'seq'>): ListPost | undefined {
    const info = this.sPutPost.run({
      post_id: p.postId,
      hash: p.hash,
      author: p.author,
      signed: p.signed,
      received_at: p.receivedAt,
    });
    if (info.changes !== 1) return undefined;
    return { seq: Number(info.lastInsertRowid), postId: p.postId, hash: p.hash, author: p.author, signed: p.signed, receivedAt: p.receivedAt };
  }

  post(postId: Uint8Array): ListPost | undefined {
    const r = this.sPost.get(postId);
    return r ? postFromDb(r) : undefined;
  }

  /** The archived post with this content hash (the oldest one on a tie). */
  postByHash(hash: Uint8Array): ListPost | undefined {
    const r = this.sPostByHash.get(hash);
    return r ? postFromDb(r) : undefined;
  }

  /** The newest `limit` posts, in ascending seq. */
  recentPosts(limit: number): ListPost[] {
    return this.sRecentPosts.all(sqlLimit(limit)).map(postFromDb);
  }

  /**
   * Deletes all but the newest `keep` posts and the fan-out rows of the deleted posts;
   * returns how many posts were deleted. keep = Infinity keeps all; a negative or NaN keep
   * is a RangeError (nothing deleted). Atomic.
   */
  trimPosts(keep: number): number {
    const n = keepCount('list trimPosts', keep);
    return n < 0 ? 0 : this.trimTx(n);
  }

  // ------------------------------------------------------------ fan-out

  /**
   * Inserts fan-out rows, skipping those whose (postId, subscriber) exists (also earlier in
   * `rows`); returns how many were inserted. A copyId already used by another pair is a
   * SQLITE_CONSTRAINT_UNIQUE error and nothing is inserted. Atomic.
   */
  addFanout(rows: FanoutRow[]): number {
    if (rows.length === 0) return 0;
    return this.addFanoutTx(rows);
  }

  /** Rows in state 'waiting', oldest first (createdAt, then insertion). */
  nextWaiting(limit: number): FanoutRow[] {
    return this.sNextWaiting.all(sqlLimit(limit)).map(fanoutFromDb);
  }

  /** Moves the 'waiting' rows with these copy ids to 'queued'; returns how many moved (unknown or already queued ids count 0). */
  markQueued(copyIds: Uint8Array[]): number {
    if (copyIds.length === 0) return 0;
    return this.markQueuedTx(copyIds);
  }

  /** The post's fan-out rows in insertion order; all when no limit. */
  fanoutFor(postId: Uint8Array, limit?: number): FanoutRow[] {
    return this.sFanoutFor.all(postId, sqlLimit(limit)).map(fanoutFromDb);
  }

  fanoutByCopy(copyId: Uint8Array): FanoutRow | undefined {
    const r = this.sFanoutByCopy.get(copyId);
    return r ? fanoutFromDb(r) : undefined;
  }

  /** The post's fan-out rows per state (O(1)). */
  countFanout(postId: Uint8Array): FanoutCount {
    const r = this.sCountFanout.get(postId);
    return r ? { waiting: r.waiting, queued: r.queued } : { waiting: 0, queued: 0 };
  }

  /** Copies of all posts not handed on yet (O(posts in the archive)). */
  countWaiting(): number {
    return this.sCountWaiting.get()?.n ?? 0;
  }

  // ------------------------------------------------------------ complaints

  /** Records a complaint; false (the first `at` kept) when that (author, complainant, postId) exists. */
  addComplaint(author: Uint8Array, complainant: Uint8Array, postId: Uint8Array, at: number): boolean {
    return this.sAddComplaint.run(author, complainant, postId, at).changes === 1;
  }

  /** How many distinct complainants complained about `author` at or after `since`. */
  complainants(author: Uint8Array, since: number): number {
    return this.sComplainants.get(author, since)!.n;
  }

  /** Deletes complaints with at < before; returns how many. */
  purgeComplaints(before: number): number {
    return this.sPurgeComplaints.run(before).changes;
  }
}
