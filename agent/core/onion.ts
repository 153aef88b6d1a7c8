/**
 * Onion mode in the sans-I/O core (PROTOCOL.md 3.13). It owns, for onion messages:
 *  - the sender: choosing a path of relays from verified routes (and, for cover, from routes
 *    through its own neighbours), wrapping the end-to-end body in one layer per hop
 *    (crypto/onion.ts), and reading the reports and the ack that come back sealed to it;
 *  - a relay: checking the handing hop's signature, peeling its layer, dropping replays
 *    (a durable cache of layer tags), taking custody (relay queue, HOLD after the commit),
 *    signing the onion to the next hop and keeping a forwarding-log entry that translates
 *    this link's message id to the previous one, so reports, the ack and complaints walk
 *    back hop by hop; it re-encrypts everything that walks back;
 *  - the recipient: the innermost layer, delivery through the core's normal path, HOLD and
 *    an ack sealed to the sender (carrying a ratchet step), and complaints.
 *
 * No hop learns its position or the path: every layer and every backward blob has one
 * size, ids change at every hop, and a hop sees only its previous and next neighbour.
 * Failures of strangers' data (a layer that does not open, a replay) are counted and get
 * nothing back; the hop before then reports `stalled` to the sender, sealed.
 *
 * AgentCore (core.ts) owns links, custody bookkeeping and the message pipeline; it hands this
 * module what it needs through `OnionHost`.
 */
import {
  BACK_BLOCK_BYTES,
  buildOnion,
  complaintCheck,
  concatBytes,
  decodeBackPlain,
  encodeBackPlain,
  equalBytes,
  openBackAtSender,
  peelOnion,
  sealBack,
  sign,
  toHex,
  u64be,
  sha256,
  utf8,
  verify,
  wrapBack,
  BACK_MAX_STEP,
  type BackStatus,
  type BoxKey,
  type LayerKeys,
  type SigningKey,
} from '../crypto/index.js';
import { verifyCert, type AgentCert } from '../identity/index.js';
import type { CoreStore, OutboxRow, RelayRow } from '../store/index.js';
import { Domain, Limits, MsgType, MESSAGE_ID_BYTES } from '../wire/constants.js';
import { decodeMessage, encodeMessage } from '../wire/codec.js';
import { WotError } from '../wire/errors.js';
import type { Content, Envelope, Onion, OnionBack, OnionComplaint, WireMessage } from '../wire/types.js';
import { BoundedMap } from './bounded.js';
import type { ComplaintTracker } from './complaints.js';
import type { Action, LinkId, ProgressEvent } from './core.js';
import { hopLeaf, signHop, verifyChain } from './path.js';
import { immediateSigner } from './batch.js';
import type { SessionManager } from './session.js';

/** A verified end-to-end body for us (core.ts openBody), not yet committed. */
export interface OpenedContent {
  content: Content;
  /** The signed content bytes {c, cert, s}. */
  signedBytes: Uint8Array;
  /** sha256 of the content bytes: its causal hash. */
  hash: Uint8Array;
  senderCert: AgentCert;
  /** Stores the sender's session and certificate. */
  commit(viaOnion: boolean): void;
}

export interface OnionConfig {
  stallMs: number;
  fwdRetentionMs: number;
  fwdMaxEntries: number;
  messageTtlMs: number;
  /** Replay tags kept at most (the soonest to expire are forgotten first beyond it). */
  onionTagsMax: number;
  /** Relays an onion message uses when the sender does not say. */
  onionHops: number;
}

export const ONION_DEFAULTS: Pick<OnionConfig, 'onionTagsMax' | 'onionHops'> = {
  onionTagsMax: 200_000,
  onionHops: 2,
};

/** What AgentCore lends this module. */
export interface OnionHost {
  readonly self: { entityPub: Uint8Array; agent: SigningKey; box: BoxKey; certBytes: Uint8Array };
  readonly store: CoreStore;
  readonly sessions: SessionManager;
  readonly complaints: ComplaintTracker;
  readonly cfg: OnionConfig;
  now(): number;
  mono(): number;
  randomBytes(n: number): Uint8Array;
  linkToHex(entityHex: string): LinkId | undefined;
  /** Entities of the neighbours we have a link to. */
  neighbours(): Uint8Array[];
  /** Every cached verified route (neighbour first, target last). */
  allRoutes(): Uint8Array[][];
  /** The entity's latest certificate, if valid now. */
  validCert(entity: Uint8Array): AgentCert | undefined;
  isTrusted(entity: Uint8Array): boolean;
  discover(target: Uint8Array): Action[];
  /** A route query for `target` with `ttl` to every neighbour but those in `except`. */
  probe(target: Uint8Array, ttl: number, except: ReadonlySet<string>): Action[];
  relayQueueFull(waitFor: Uint8Array, bytes: number): string | null;
  /** Custody bookkeeping shared with HOLD/REFUSE handling (core.ts `inflight`). */
  setInflight(idHex: string, nextHex: string): void;
  inflightOf(idHex: string): { next: string; until: number } | undefined;
  backoff(attempts: number): number;
  recordProgress(ev: ProgressEvent): Action[];
  openBody(e2e: Uint8Array, now: number): OpenedContent;
  takeContent(body: OpenedContent, pathJson: string, now: number): { actions: Action[]; outcome: 'new' | 'duplicate' | 'control'; sender: Uint8Array };
  complaintToken(neighbourHex: string): boolean;
  /** The recipient's ack for our message `id` arrived (verified): outbox → delivered. */
  delivered(id: Uint8Array, recipient: Uint8Array, step: Uint8Array | undefined, now: number): Action[];
  /** The recipient's verified complaint about our own message `id` walked back to us. */
  ownComplaint(id: Uint8Array, complainant: Uint8Array, reason: string, now: number): Action[];
}

/** A relay's forwarding-log entry, keyed by the id toward its next hop. */
interface RelayFwd {
  inId: Uint8Array;
  prev: string;
  next: string;
  keys: Pick<LayerKeys, 'report' | 'backStream' | 'backPrp' | 'complaint'>;
  cc: Uint8Array;
  /** The previous hop's signature handing the onion to us (accountability). */
  evidence: Uint8Array;
  complainants: Set<string>;
  reported: Set<BackStatus>;
  /** Blobs passed back for it so far (bounded: a next hop cannot make us its amplifier). */
  backs: number;
}

/** Reports and acks passed back per onion at most (8 relays × 3 statuses + the ack fit). */
const MAX_BACKS_PER_ONION = 64;

/** The recipient's entry, keyed by the message id (for complaints). */
interface FinalFwd {
  inId: Uint8Array;
  prev: string;
  cs: Uint8Array;
  relays: number;
}

/** The sender's view of one onion it sent, keyed by the id toward its first hop. */
interface SentOnion {
  rowId: Uint8Array;
  first: string;
  keys: LayerKeys[];
  /** Per layer: entity, agent key (to verify its report) and the id it received the onion under. */
  hops: Array<{ entity: Uint8Array; agent: Uint8Array; inId: Uint8Array }>;
  /** The complaint secret given to the recipient: a complaint reaching us must carry it. */
  cs: Uint8Array;
}

/** Bytes an onion hop signs: as a clear hop entry (path.ts) over the packet, with no earlier entry. */
function onionAsEnvelope(m: Onion, to: Uint8Array): Envelope {
  return { t: MsgType.ENVELOPE, id: m.id, to, exp: 0, route: [], body: m.o, hops: [] };
}

export function onionComplaintBytes(cs: Uint8Array, k: number, reason: string, ts: number): Uint8Array {
  return concatBytes(cs, Uint8Array.of(k), utf8(reason), u64be(ts));
}

function reportSigBytes(id: Uint8Array, st: string, ts: number): Uint8Array {
  return concatBytes(id, utf8(st), u64be(ts));
}

export class OnionCore {
  private readonly relayFwd: BoundedMap<RelayFwd>;
  private readonly finals: BoundedMap<FinalFwd>;
  private readonly sent: BoundedMap<SentOnion>;
  /** Outbox row id → the id of its latest onion toward the first hop. */
  private readonly latest: BoundedMap<string>;
  /** Outbox rows whose path was too short and for which cover routes were asked. */
  private readonly probed: BoundedMap<true>;

  constructor(private readonly host: OnionHost) {
    const max = host.cfg.fwdMaxEntries;
    this.relayFwd = new BoundedMap(max);
    this.finals = new BoundedMap(max);
    this.sent = new BoundedMap(max);
    this.latest = new BoundedMap(max);
    this.probed = new BoundedMap(10_000);
  }

  /** The in-memory tables of onion mode, their sizes and bounds (AgentCore.bounds). */
  bounds(): Record<string, { size: number; max: number }> {
    return {
      'onion relay log': this.relayFwd.stats(),
      'onion final hops': this.finals.stats(),
      'onions sent': this.sent.stats(),
      'onion latest per message': this.latest.stats(),
      'onion cover probes': this.probed.stats(),
    };
  }

  private get now(): number {
    return this.host.now();
  }

  // ---------------------------------------------------------------- arriving onions

  /** An onion handed to us by neighbour `from` (its entity, agent key and certificate) on link `link`. */
  onOnion(link: LinkId, from: { entity: Uint8Array; agent: Uint8Array; certBytes: Uint8Array }, m: Onion): Action[] {
    const host = this.host;
    const now = this.now;
    const fromHex = toHex(from.entity);
    // The neighbour signed handing this onion to us: checked before anything else is used.
    const env = onionAsEnvelope(m, host.self.entityPub);
    // An onion's hand-over is a batch of one (its root is the leaf; no proof on the wire).
    const packetHash = sha256(m.o);
    const l = hopLeaf(m.id, packetHash, new Uint8Array(32), host.self.entityPub, from.agent);
    env.hops = [{ a: from.agent, n: host.self.entityPub, l, s: m.s, c: from.certBytes }];
    verifyChain(env, host.self.entityPub, from.agent, now, packetHash);
    const peeled = peelOnion(host.self.box, m.o);
    if (!peeled.ok) return [{ type: 'metric', name: `dropped.onion-${peeled.why}` }];
    const { keys, layer } = peeled;
    const exp = layer.exp;
    if (exp < now) return [{ type: 'metric', name: 'dropped.expired' }];
    if (exp > now + host.cfg.messageTtlMs + Limits.MAILBOX_SKEW_MS) return [{ type: 'metric', name: 'dropped.onion-exp' }];
    const hold: Action = { type: 'send', link, msg: { t: MsgType.HOLD, id: m.id } };
    // A layer seen before: a retransmission (our HOLD was lost) or a replay. Custody is ours
    // already, or it was delivered: HOLD again, forward nothing.
    if (host.store.onionTags.has(keys.tag)) return [hold, { type: 'metric', name: 'dropped.onion-replay' }];
    if (!('out' in peeled)) return this.arrive(link, fromHex, m, keys, peeled.layer, hold, now);
    const next = peeled.layer.next;
    const nextHex = toHex(next);
    if (equalBytes(next, host.self.entityPub) || nextHex === fromHex) return [{ type: 'metric', name: 'dropped.onion-loop' }];
    if (!host.isTrusted(next)) {
      // We never link to it: say so to the neighbour (it keeps the onion and reports stalled).
      return [{ type: 'metric', name: 'onion.refused' }, refuse(link, m.id, 'ERR_UNKNOWN_PEER', 'no link to the next hop')];
    }
    const outId = keys.nextId;
    const out: Onion = { t: MsgType.ONION, id: outId, o: peeled.out, s: this.signTo(outId, peeled.out, next) };
    const bytes = encodeMessage(out);
    const full = host.relayQueueFull(next, bytes.length);
    if (full) return [{ type: 'metric', name: 'relay.refused' }, refuse(link, m.id, 'ERR_QUEUE_FULL', full)];
    host.store.relayq.insert({
      id: outId,
      to: next,
      waitFor: next,
      dep: null,
      prev: from.entity,
      envelope: bytes,
      receivedAt: now,
      expiresAt: exp,
      attempts: 0,
      nextAttemptAt: now,
    });
    this.remember(keys.tag, exp);
    const mono = host.mono();
    this.relayFwd.set(
      toHex(outId),
      { inId: m.id, prev: fromHex, next: nextHex, keys, cc: peeled.layer.cc, evidence: m.s, complainants: new Set(), reported: new Set(), backs: 0 },
      mono + host.cfg.fwdRetentionMs,
    );
    const row = host.store.relayq.get(outId)!;
    return [hold, { type: 'metric', name: 'onion.relayed' }, ...this.moveOn(row, false)];
  }

  /** Our signature handing onion (id, packet) to `next` (path.ts signHop as a batch of one; neither key goes on the wire). */
  private signTo(id: Uint8Array, packet: Uint8Array, next: Uint8Array): Uint8Array {
    return signHop(immediateSigner(this.host.self.agent), this.host.self.certBytes, { id, body: packet, hops: [] }, next).s;
  }

  private remember(tag: Uint8Array, exp: number): void {
    const tags = this.host.store.onionTags;
    if (tags.count() >= this.host.cfg.onionTagsMax) {
      tags.purge(this.now, 1000);
      const over = tags.count() - this.host.cfg.onionTagsMax + 1;
      if (over > 0) tags.evictOldest(over);
    }
    tags.add(tag, exp);
  }

  /** The innermost layer: the message is for us. */
  private arrive(
    link: LinkId,
    fromHex: string,
    m: Onion,
    keys: LayerKeys,
    layer: { exp: number; relays: number; cs: Uint8Array; body: Uint8Array },
    hold: Action,
    now: number,
  ): Action[] {
    const host = this.host;
    let body: OpenedContent;
    let r: { actions: Action[] };
    try {
      body = host.openBody(layer.body, now);
      body.commit(true);
      r = host.takeContent(body, '[]', now);
    } catch (e) {
      if (!(e instanceof WotError)) throw e;
      // The layer was the sender's own, so these bytes will never do better: custody ends
      // here (HOLD), nothing is delivered or acked, and a copy of them is a replay.
      this.remember(keys.tag, layer.exp);
      return [hold, { type: 'metric', name: `dropped.${e.code}` }];
    }
    this.remember(keys.tag, layer.exp);
    const idHex = toHex(body.content.id);
    const mono = host.mono();
    this.finals.set(idHex, { inId: m.id, prev: fromHex, cs: layer.cs, relays: layer.relays }, mono + host.cfg.fwdRetentionMs);
    // The ack, sealed to the sender with our layer's report key, carries a ratchet step.
    const ts = now;
    const sig = sign(host.self.agent, Domain.ACK, concatBytes(body.content.id, utf8('delivered')));
    const step = host.sessions.step(body.content.from) ?? new Uint8Array(0);
    const plain = encodeBackPlain({ kind: 'ack', st: 'delivered', ts, sig, step: step.length <= BACK_MAX_STEP ? step : new Uint8Array(0) });
    const block = host.randomBytes(BACK_BLOCK_BYTES);
    const back: OnionBack = { t: MsgType.ONION_BACK, id: m.id, b: block, p: sealBack(keys.report, block, plain) };
    return [...r.actions, hold, { type: 'metric', name: 'onion.delivered' }, { type: 'send', link, msg: back }];
  }

  // ---------------------------------------------------------------- moving queued onions on

  /**
   * Hands a queued onion to its next hop when linked (the next hop is fixed by the layer:
   * there is no other way), else waits with backoff. `stalled`: the next hop did not take
   * custody in time (or refused); the sender hears `stalled` once.
   */
  moveOn(row: RelayRow, stalled: boolean): Action[] {
    const host = this.host;
    const now = this.now;
    if (row.expiresAt < now) {
      host.store.relayq.delete(row.id);
      return [{ type: 'metric', name: 'relay.expired' }];
    }
    const idHex = toHex(row.id);
    const nextHex = toHex(row.waitFor);
    const actions: Action[] = [];
    if (stalled) actions.push(...this.report(idHex, 'stalled'));
    const link = host.linkToHex(nextHex);
    if (link === undefined || stalled) {
      host.store.relayq.reschedule(row.id, row.waitFor, now + host.backoff(row.attempts), { countAttempt: true });
      if (!stalled) actions.push(...this.report(idHex, 'queued'));
      return actions;
    }
    let msg: WireMessage;
    try {
      msg = decodeMessage(row.envelope);
    } catch {
      host.store.relayq.delete(row.id);
      return [{ type: 'metric', name: 'dropped.queued-unreadable' }];
    }
    host.store.relayq.reschedule(row.id, row.waitFor, now + host.cfg.stallMs, { countAttempt: false });
    host.setInflight(idHex, nextHex);
    return [...actions, { type: 'send', link, msg }, { type: 'metric', name: 'relay.forwarded' }, ...this.report(idHex, 'forwarded')];
  }

  /** Our progress report for the onion we hand on as `outIdHex`, sealed to its sender, once per status. */
  private report(outIdHex: string, st: BackStatus): Action[] {
    const host = this.host;
    const f = this.relayFwd.get(outIdHex, host.mono());
    if (!f || f.reported.has(st)) return [];
    f.reported.add(st);
    const link = host.linkToHex(f.prev);
    if (link === undefined) return [];
    const ts = this.now;
    const sig = sign(host.self.agent, Domain.REPORT, reportSigBytes(f.inId, st, ts));
    const block = host.randomBytes(BACK_BLOCK_BYTES);
    const p = sealBack(f.keys.report, block, encodeBackPlain({ kind: 'report', st, ts, sig, step: new Uint8Array(0) }));
    return [{ type: 'send', link, msg: { t: MsgType.ONION_BACK, id: f.inId, b: block, p } }];
  }

  /** Our next hop refused custody: keep it, report stalled, try again later. */
  onRefused(row: RelayRow): Action[] {
    return [{ type: 'metric', name: 'relay.refused-by-next' }, ...this.moveOn(row, true)];
  }

  // ---------------------------------------------------------------- walking back

  /** A report or ack for an onion we handed to `fromHex` as `m.id`. */
  onBack(fromHex: string, m: OnionBack): Action[] {
    const host = this.host;
    const idHex = toHex(m.id);
    const mono = host.mono();
    const f = this.relayFwd.get(idHex, mono);
    if (f) {
      if (f.next !== fromHex) return [{ type: 'metric', name: 'dropped.report-unrelated' }];
      if (++f.backs > MAX_BACKS_PER_ONION) return [{ type: 'metric', name: 'dropped.onion-back-limit' }];
      const link = host.linkToHex(f.prev);
      if (link === undefined) return [{ type: 'metric', name: 'walkback.no-link' }];
      const w = wrapBack(f.keys, m.b, m.p);
      return [{ type: 'send', link, msg: { t: MsgType.ONION_BACK, id: f.inId, b: w.block, p: w.sealed } }];
    }
    const s = this.sent.get(idHex, mono);
    if (!s || s.first !== fromHex) return [{ type: 'metric', name: 'dropped.report-unrelated' }];
    const opened = openBackAtSender(s.keys, m.b, m.p);
    const plain = opened && decodeBackPlain(opened.plain);
    if (!opened || !plain) return [{ type: 'metric', name: 'dropped.onion-back' }];
    const hop = s.hops[opened.layer]!;
    const last = opened.layer === s.hops.length - 1;
    const now = this.now;
    if (plain.kind === 'ack') {
      if (!last || !verify(hop.agent, Domain.ACK, concatBytes(s.rowId, utf8('delivered')), plain.sig)) return [{ type: 'metric', name: 'dropped.onion-back' }];
      return host.delivered(s.rowId, hop.entity, plain.step.length > 0 ? plain.step : undefined, now);
    }
    if (last || !verify(hop.agent, Domain.REPORT, reportSigBytes(hop.inId, plain.st, plain.ts), plain.sig)) return [{ type: 'metric', name: 'dropped.onion-back' }];
    return host.recordProgress({ id: s.rowId, status: plain.st, reporter: hop.entity, at: plain.ts });
  }

  // ---------------------------------------------------------------- complaints

  /** The recipient complains about onion message `id` it received. */
  complain(id: Uint8Array, reason: string): Action[] | undefined {
    const host = this.host;
    const fin = this.finals.get(toHex(id), host.mono());
    if (!fin) return undefined;
    const link = host.linkToHex(fin.prev);
    const ts = this.now;
    const c: OnionComplaint = {
      t: MsgType.ONION_COMPLAINT,
      id: fin.inId,
      cs: fin.cs,
      k: fin.relays,
      reason,
      ts,
      c: host.self.certBytes,
      s: sign(host.self.agent, Domain.ONION_COMPLAINT, onionComplaintBytes(fin.cs, fin.relays, reason, ts)),
      w: 0,
    };
    // Our position is one past the last relay.
    host.complaints.record(fin.prev, toHex(host.self.entityPub), null, host.mono(), fin.relays + 1);
    if (link === undefined) return [{ type: 'metric', name: 'walkback.no-link' }];
    return [{ type: 'metric', name: 'complaint.sent' }, { type: 'send', link, msg: c }];
  }

  /** True when `id` is an onion message we received (its complaint goes this way). */
  received(id: Uint8Array): boolean {
    return this.finals.has(toHex(id), this.host.mono());
  }

  /**
   * A complaint walking back through us. We check that we handed this onion to that
   * neighbour, the complainant's certificate and signature, and that the complaint matches
   * our layer's check (only the recipient knows `cs`; `k` and the complainant are bound);
   * then count it against our previous hop at position k − w (the sender's relays, minus the
   * hops walked), as clear mode counts at the hop's path position.
   */
  onComplaint(fromHex: string, c: OnionComplaint): Action[] {
    const host = this.host;
    const mono = host.mono();
    if (!host.complaintToken(fromHex)) return [{ type: 'metric', name: 'complaint.ratelimited' }];
    const idHex = toHex(c.id);
    const f = this.relayFwd.get(idHex, mono);
    if (!f) {
      const s = this.sent.get(idHex, mono);
      if (s && s.first === fromHex) return this.onOwnComplaint(s, c);
      return [{ type: 'metric', name: 'complaint.unrelated' }];
    }
    if (f.next !== fromHex) return [{ type: 'metric', name: 'complaint.unrelated' }];
    let cert: AgentCert;
    try {
      cert = verifyCert(c.c, this.now);
    } catch {
      return [{ type: 'metric', name: 'complaint.forged' }];
    }
    if (!verify(cert.agent, Domain.ONION_COMPLAINT, onionComplaintBytes(c.cs, c.k, c.reason, c.ts), c.s)) return [{ type: 'metric', name: 'complaint.forged' }];
    if (!equalBytes(complaintCheck(f.keys.complaint, c.cs, cert.entity, c.k), f.cc)) {
      // Cannot be told from a sender that gave us a wrong check: count nothing, but remember
      // where it came from, so a QUENCH from upstream still reaches it.
      host.complaints.noteVia(f.prev, fromHex);
      return [{ type: 'metric', name: 'complaint.forged' }];
    }
    const complainant = toHex(cert.entity);
    if (f.complainants.has(complainant)) return [{ type: 'metric', name: 'complaint.duplicate' }];
    f.complainants.add(complainant);
    host.complaints.record(f.prev, complainant, fromHex, mono, Math.max(0, c.k - c.w));
    const link = host.linkToHex(f.prev);
    const actions: Action[] = [{ type: 'metric', name: 'complaint.counted' }];
    if (link === undefined) actions.push({ type: 'metric', name: 'walkback.no-link' });
    else actions.push({ type: 'send', link, msg: { ...c, id: f.inId, w: Math.min(255, c.w + 1) } });
    return actions;
  }

  /**
   * A complaint about an onion we sent, back at its origin: it counts (for a list, against
   * the post's author) when it is signed by the recipient and carries the complaint secret
   * and path length we gave only to the recipient.
   */
  private onOwnComplaint(s: SentOnion, c: OnionComplaint): Action[] {
    const recipient = s.hops[s.hops.length - 1]!.entity;
    let cert: AgentCert;
    try {
      cert = verifyCert(c.c, this.now);
    } catch {
      return [{ type: 'metric', name: 'complaint.forged' }];
    }
    if (
      !equalBytes(cert.entity, recipient) ||
      c.k !== s.hops.length - 1 ||
      !equalBytes(c.cs, s.cs) ||
      !verify(cert.agent, Domain.ONION_COMPLAINT, onionComplaintBytes(c.cs, c.k, c.reason, c.ts), c.s)
    ) {
      return [{ type: 'metric', name: 'complaint.forged' }];
    }
    return this.host.ownComplaint(s.rowId, cert.entity, c.reason, this.now);
  }

  // ---------------------------------------------------------------- sending

  /** The outbox row an onion toward our first hop belongs to (HOLD/REFUSE from the first hop). */
  outboxIdFor(id: Uint8Array): Uint8Array | undefined {
    return this.sent.get(toHex(id), this.host.mono())?.rowId;
  }

  /**
   * Sends one outbox row as an onion: a fresh path and fresh layers at every attempt. With no
   * path yet it discovers the recipient; with a path shorter than wanted it first asks its
   * neighbours for routes to the first relay (cover) and waits one retry for them, then goes
   * with the shorter path: `onSent`'s detail says so, and `short` is true.
   */
  transmit(row: OutboxRow, onSent: (detail: string, short: boolean) => Action[]): Action[] {
    const host = this.host;
    const now = this.now;
    const mono = host.mono();
    const rowHex = toHex(row.id);
    const prev = this.latest.get(rowHex, mono);
    const f = prev ? host.inflightOf(prev) : undefined;
    if (f && f.until > mono) {
      host.store.outbox.reschedule(row.id, now + (f.until - mono), now);
      return [];
    }
    host.store.outbox.scheduleRetry(row.id, now + host.backoff(row.attempts), now);
    const wanted = Math.max(1, Math.min(Limits.MAX_ONION_RELAYS, row.onion ?? host.cfg.onionHops));
    const recipientCert = host.validCert(row.to);
    const path = recipientCert ? this.choosePath(row.to, wanted) : undefined;
    if (!recipientCert || !path) return host.discover(row.to);
    if (path.length < wanted && !this.probed.has(rowHex, mono)) {
      this.probed.set(rowHex, true, mono + host.cfg.fwdRetentionMs);
      const relays = path.map((h) => h.entity);
      const except = new Set([toHex(host.self.entityPub), ...relays.map(toHex), toHex(row.to)]);
      const first = relays[0] ?? row.to;
      const actions = host.probe(first, Math.min(3, wanted - path.length), except);
      if (actions.some((a) => a.type === 'send')) {
        host.store.outbox.reschedule(row.id, now + 2 * host.cfg.stallMs / 5, now);
        return [{ type: 'metric', name: 'onion.cover-probe' }, ...actions];
      }
    }
    const hops = [...path, { entity: row.to, cert: recipientCert }];
    const fresh = host.sessions.startFresh(row.to, row.attempts);
    const e2e = host.sessions.seal(row.to, recipientCert.x25519, row.envelope, { fresh });
    let built;
    const cs = host.randomBytes(32);
    try {
      built = buildOnion({ hops: hops.map((h) => ({ entity: h.entity, x25519: h.cert.x25519 })), exp: row.expiresAt, cs, body: e2e });
    } catch (e) {
      if (e instanceof WotError && e.code === 'ERR_TOO_LARGE') {
        host.store.outbox.setState(row.id, 'failed', now, e.message);
        return [{ type: 'outbox-state', id: row.id, state: 'failed' }];
      }
      throw e;
    }
    const firstId = host.randomBytes(MESSAGE_ID_BYTES);
    const ids = [firstId, ...built.keys.slice(0, -1).map((k) => k.nextId)];
    const first = hops[0]!.entity;
    const firstHex = toHex(first);
    const link = host.linkToHex(firstHex)!;
    const firstIdHex = toHex(firstId);
    this.sent.set(
      firstIdHex,
      { rowId: row.id, first: firstHex, keys: built.keys, hops: hops.map((h, i) => ({ entity: h.entity, agent: h.cert.agent, inId: ids[i]! })), cs },
      mono + host.cfg.fwdRetentionMs,
    );
    this.latest.set(rowHex, firstIdHex, mono + host.cfg.fwdRetentionMs);
    host.setInflight(firstIdHex, firstHex);
    const msg: Onion = { t: MsgType.ONION, id: firstId, o: built.packet, s: this.signTo(firstId, built.packet, first) };
    const detail = `onion through ${path.length} relay${path.length === 1 ? '' : 's'}${path.length < wanted ? ` (${wanted} asked; no longer path known)` : ''}`;
    return [{ type: 'send', link, msg }, { type: 'metric', name: 'onion.sent' }, ...onSent(detail, path.length < wanted)];
  }

  /**
   * A path of relays from us to `to` over known links (our links and the links in verified
   * routes), each relay with a valid certificate: `wanted` relays when the known links allow,
   * else the longest simple path found (shorter). Random among equals, so paths vary.
   */
  private choosePath(to: Uint8Array, wanted: number): Array<{ entity: Uint8Array; cert: AgentCert }> | undefined {
    const host = this.host;
    const selfHex = toHex(host.self.entityPub);
    const toHexS = toHex(to);
    const adj = new Map<string, Set<string>>();
    const bytes = new Map<string, Uint8Array>();
    const edge = (a: Uint8Array, b: Uint8Array) => {
      const ka = toHex(a);
      const kb = toHex(b);
      if (ka === kb) return;
      bytes.set(ka, a);
      bytes.set(kb, b);
      for (const [x, y] of [[ka, kb], [kb, ka]] as const) {
        let s = adj.get(x);
        if (!s) adj.set(x, (s = new Set()));
        if (s.size < 64) s.add(y);
      }
    };
    const linked = new Set<string>();
    for (const n of host.neighbours()) {
      linked.add(toHex(n));
      edge(host.self.entityPub, n);
    }
    let routes = 0;
    for (const r of host.allRoutes()) {
      if (++routes > 4000) break;
      for (let i = 0; i + 1 < r.length; i++) edge(r[i]!, r[i + 1]!);
    }
    const certs = new Map<string, AgentCert | null>();
    const usable = (h: string): boolean => {
      if (h === selfHex || h === toHexS) return false;
      let c = certs.get(h);
      if (c === undefined) certs.set(h, (c = host.validCert(bytes.get(h)!) ?? null));
      return c !== null;
    };
    let best: string[] | undefined;
    let budget = 20_000;
    const shuffle = (xs: string[]): string[] => {
      const r = host.randomBytes(xs.length);
      return xs.map((x, i) => [x, r[i]!] as const).sort((a, b) => a[1] - b[1]).map(([x]) => x);
    };
    const dfs = (at: string, trail: string[]): boolean => {
      if (--budget < 0) return true;
      if (trail.length <= wanted && adj.get(at)?.has(toHexS) && (at !== selfHex || linked.has(toHexS))) {
        if (!best || trail.length > best.length) best = [...trail];
        if (trail.length === wanted) return true;
      }
      if (trail.length >= wanted) return false;
      for (const n of shuffle([...(adj.get(at) ?? [])])) {
        if (trail.includes(n) || !usable(n)) continue;
        if (at === selfHex && !linked.has(n)) continue;
        trail.push(n);
        if (dfs(n, trail)) return true;
        trail.pop();
      }
      return false;
    };
    dfs(selfHex, []);
    if (!best) return undefined;
    // The first hop must be a neighbour we are linked to right now.
    if (best.length === 0 && !linked.has(toHexS)) return undefined;
    return best.map((h) => ({ entity: bytes.get(h)!, cert: certs.get(h)! }));
  }

  tick(now: number): void {
    const mono = this.host.mono();
    this.host.store.onionTags.purge(now, 1000);
    this.relayFwd.sweep(mono);
    this.finals.sweep(mono);
    this.sent.sweep(mono);
    this.latest.sweep(mono);
    this.probed.sweep(mono);
  }
}

function refuse(link: LinkId, id: Uint8Array, code: 'ERR_QUEUE_FULL' | 'ERR_UNKNOWN_PEER', msg: string): Action {
  return { type: 'send', link, msg: { t: MsgType.REFUSE, id, code, msg: msg.slice(0, 200) } };
}
