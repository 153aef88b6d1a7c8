/**
 * The agent's protocol state machine, sans I/O. It owns trust decisions (the trust gate,
 * invites, implicit trust by sending), direct messaging (sealing, signing, verifying,
 * exactly-once inbox, signed acks) and the outbox retry schedule.
 *
 * It takes events (a neighbour came up or went down, a message from a neighbour, a timer
 * tick, an API call) and returns actions (send a message to a link, dial an entity, close
 * a link, notify the app). Clock, randomness and the store are injected; the daemon runs
 * each event inside one store transaction and performs the actions after it commits, so
 * nothing is acknowledged before it is durable.
 */
import {
  equalBytes,
  open as openSealed,
  seal,
  sha256,
  sign,
  toHex,
  utf8,
  verify,
  type BoxKey,
  type SigningKey,
} from '../crypto/index.js';
import {
  encodeEntityId,
  encodeInvite,
  fingerprint,
  inviteKeyFromSecret,
  verifyCert,
  verifyInviteProof,
  type AgentCert,
} from '../identity/index.js';
import type { GateInput, GateResult, PeerIdentity } from '../link/link.js';
import type { CoreStore, TrustEntry, OutboxRow, OutboxState, InboxRow } from '../store/index.js';
import { Domain, Limits, MsgType, MESSAGE_ID_BYTES, type ErrorCode } from '../wire/constants.js';
import { WotError, isWotError } from '../wire/errors.js';
import { decodeContent, decodeSignedContent, encodeContent, encodeSignedContent } from '../wire/index.js';
import type { Ack, Content, ContentKind, Envelope, WireMessage } from '../wire/types.js';
import { signHop, verifyChain, type VerifiedHop } from './path.js';

export type LinkId = number;

export interface CoreIdentity {
  entityPub: Uint8Array;
  agent: SigningKey;
  box: BoxKey;
  certBytes: Uint8Array;
  cert: AgentCert;
}

export interface CoreDeps {
  identity: CoreIdentity;
  store: CoreStore;
  /** Wall clock, ms since epoch. */
  now: () => number;
  randomBytes: (n: number) => Uint8Array;
  /** Addresses this agent can be dialled at (for invite codes and handshakes). */
  addrs: () => string[];
}

export interface CoreConfig {
  /** Default message lifetime. */
  messageTtlMs: number;
  /** First retry delay; doubles per attempt up to maxRetryMs, with ±25 % jitter. */
  retryBaseMs: number;
  maxRetryMs: number;
}

export const CORE_DEFAULTS: CoreConfig = {
  messageTtlMs: 7 * 24 * 3600_000,
  retryBaseMs: 1000,
  maxRetryMs: 5 * 60_000,
};

export type Action =
  | { type: 'send'; link: LinkId; msg: WireMessage }
  | { type: 'dial'; entity: Uint8Array; addr: string }
  | { type: 'close'; link: LinkId; code: ErrorCode; msg?: string }
  | { type: 'delivered-to-app'; item: InboxRow }
  | { type: 'outbox-state'; id: Uint8Array; state: OutboxState }
  | { type: 'welcomed'; link: LinkId; inviter: Uint8Array }
  | { type: 'metric'; name: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn'; event: string; fields: Record<string, unknown> };

interface Neighbour {
  link: LinkId;
  peer: PeerIdentity;
  /** True when this link was dialled to redeem an invite and awaits WELCOME. */
  awaitingWelcome: boolean;
}

export interface PathHopView {
  entity: string;
  agent: string;
}

export class AgentCore {
  private readonly neighbours = new Map<LinkId, Neighbour>();
  /** entity hex → link ids (several devices or a duplicate link during a race). */
  private readonly byEntity = new Map<string, Set<LinkId>>();
  /** agent hex of peers whose invite we redeemed in the gate; they get WELCOME on open. */
  private readonly pendingWelcome = new Map<string, number>();
  private readonly cfg: CoreConfig;
  private readonly self: CoreIdentity;

  constructor(
    private readonly deps: CoreDeps,
    cfg: Partial<CoreConfig> = {},
  ) {
    this.cfg = { ...CORE_DEFAULTS, ...cfg };
    this.self = deps.identity;
  }

  private get store(): CoreStore {
    return this.deps.store;
  }

  // ---------------------------------------------------------------- trust gate

  /**
   * Decides, right after a handshake authenticated `peer`, whether the link may carry
   * application frames. Redeeming an invite commits (trust + one use) before returning.
   */
  gate(input: GateInput): GateResult {
    const { peer } = input;
    const trust = this.store.trust.get(peer.entity);
    if (trust?.state === 'active') return { ok: true };
    if (!input.responder) {
      // We only dial trusted entities or the inviter of a code we redeem (the link has
      // checked that the peer is the inviter named in the code); anyone else is refused.
      return input.redeemingInvite ? { ok: true } : { ok: false, code: 'ERR_UNTRUSTED', msg: 'we do not trust this entity' };
    }
    if (!input.invite) return { ok: false, code: 'ERR_UNTRUSTED', msg: 'not trusted: ask for an invite' };
    const { key, proof, handshakeHash } = input.invite;
    if (!verifyInviteProof(key, handshakeHash, peer.entity, proof)) {
      return { ok: false, code: 'ERR_INVITE_INVALID', msg: 'invite proof does not verify' };
    }
    const now = this.deps.now();
    const outcome = this.store.invites.redeem(key, now);
    switch (outcome) {
      case 'ok':
        break;
      case 'unknown':
        return { ok: false, code: 'ERR_INVITE_INVALID', msg: 'unknown invite' };
      case 'expired':
        return { ok: false, code: 'ERR_INVITE_EXPIRED', msg: 'the invite has expired' };
      case 'used':
        return { ok: false, code: 'ERR_INVITE_USED', msg: 'the invite was already used' };
    }
    this.trustUpsert(peer.entity, 'invite', now, trust);
    this.store.certs.put(certRow(peer, now));
    this.pendingWelcome.set(toHex(peer.agent), now);
    return { ok: true };
  }

  private trustUpsert(entity: Uint8Array, how: TrustEntry['how'], now: number, existing?: TrustEntry, petname?: string | null): TrustEntry {
    const e: TrustEntry = existing
      ? { ...existing, state: 'active', updatedAt: now, ...(petname !== undefined ? { petname } : {}) }
      : { entity, petname: petname ?? null, how, addedAt: now, state: 'active', addr: null, updatedAt: now, note: null };
    this.store.trust.upsert(e);
    return e;
  }

  // ---------------------------------------------------------------- neighbour events

  peerUp(link: LinkId, peer: PeerIdentity, opts: { awaitingWelcome?: boolean; addrs?: string[] } = {}): Action[] {
    const now = this.deps.now();
    const actions: Action[] = [];
    this.neighbours.set(link, { link, peer, awaitingWelcome: !!opts.awaitingWelcome });
    const key = toHex(peer.entity);
    let set = this.byEntity.get(key);
    if (!set) this.byEntity.set(key, (set = new Set()));
    set.add(link);
    this.store.certs.put(certRow(peer, now));
    const trust = this.store.trust.get(peer.entity);
    const announced = opts.addrs?.[0];
    if (trust && announced && trust.addr !== announced) this.store.trust.setAddr(peer.entity, announced, now);
    const agentKey = toHex(peer.agent);
    if (this.pendingWelcome.has(agentKey)) {
      this.pendingWelcome.delete(agentKey);
      actions.push({ type: 'send', link, msg: { t: MsgType.WELCOME } });
      actions.push({ type: 'log', level: 'info', event: 'invite-redeemed', fields: { peer: fingerprint(peer.entity) } });
    }
    actions.push(...this.flushOutboxTo(peer.entity, now));
    return actions;
  }

  peerDown(link: LinkId): Action[] {
    const n = this.neighbours.get(link);
    if (!n) return [];
    this.neighbours.delete(link);
    const key = toHex(n.peer.entity);
    const set = this.byEntity.get(key);
    set?.delete(link);
    if (set && set.size === 0) this.byEntity.delete(key);
    return [];
  }

  /** Open link to an entity, if any. */
  linkTo(entity: Uint8Array): LinkId | undefined {
    const set = this.byEntity.get(toHex(entity));
    if (!set) return undefined;
    for (const l of set) return l;
    return undefined;
  }

  isConnected(entity: Uint8Array): boolean {
    return this.linkTo(entity) !== undefined;
  }

  neighbourList(): Array<{ link: LinkId; peer: PeerIdentity }> {
    return [...this.neighbours.values()].map((n) => ({ link: n.link, peer: n.peer }));
  }

  // ---------------------------------------------------------------- messages from neighbours

  onMessage(link: LinkId, msg: WireMessage): Action[] {
    const n = this.neighbours.get(link);
    if (!n) return [];
    try {
      switch (msg.t) {
        case MsgType.ENVELOPE:
          return this.onEnvelope(n, msg);
        case MsgType.ACK:
          return this.onAck(n, msg);
        case MsgType.WELCOME:
          return this.onWelcome(n);
        case MsgType.PING:
        case MsgType.PONG:
        case MsgType.CLOSE:
          return [];
      }
    } catch (e) {
      if (!isWotError(e)) throw e;
      return [
        { type: 'metric', name: `dropped.${e.code}` },
        { type: 'log', level: 'warn', event: 'message-dropped', fields: { peer: fingerprint(n.peer.entity), code: e.code, reason: e.message } },
      ];
    }
  }

  private onWelcome(n: Neighbour): Action[] {
    if (!n.awaitingWelcome) return [{ type: 'metric', name: 'dropped.unexpected-welcome' }];
    n.awaitingWelcome = false;
    const now = this.deps.now();
    const existing = this.store.trust.get(n.peer.entity);
    this.trustUpsert(n.peer.entity, 'invited', now, existing);
    return [{ type: 'welcomed', link: n.link, inviter: n.peer.entity }];
  }

  private onEnvelope(n: Neighbour, env: Envelope): Action[] {
    const now = this.deps.now();
    if (!equalBytes(env.to, this.self.entityPub) || env.route.length > 0) {
      // Relaying arrives with the multi-hop release; until then only direct messages.
      return [{ type: 'metric', name: 'dropped.not-for-us' }];
    }
    if (env.exp < now) return [{ type: 'metric', name: 'dropped.expired' }];
    const path = verifyChain(env, this.self.entityPub, n.peer.agent, now);
    const sender = path[0]!;
    const inner = openSealed(this.self.box, env.body, sealAd(env.id, env.to));
    if (!inner) throw new WotError('ERR_DECRYPT', 'sealed body does not open');
    const signed = decodeSignedContent(inner);
    const senderCert = verifyCert(signed.cert, now);
    if (!verify(senderCert.agent, Domain.MESSAGE, signed.c, signed.s)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'sender signature does not verify');
    }
    const content = decodeContent(signed.c);
    if (!equalBytes(content.id, env.id) || !equalBytes(content.to, this.self.entityPub)) {
      throw new WotError('ERR_BAD_FIELD', 'content does not match its envelope');
    }
    if (!equalBytes(content.from, senderCert.entity) || !equalBytes(senderCert.entity, sender.entity)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'sender does not match the first hop');
    }
    const actions: Action[] = [];
    const row: Omit<InboxRow, 'seq' | 'read'> = {
      id: env.id,
      from: content.from,
      fromAgent: senderCert.agent,
      receivedAt: now,
      sentAt: content.ts,
      kind: content.kind,
      body: content.body,
      name: content.name ?? null,
      path: JSON.stringify(pathView(path)),
    };
    if (this.store.inbox.insert(row)) {
      const stored = this.store.inbox.get(env.id);
      if (stored) actions.push({ type: 'delivered-to-app', item: stored });
      actions.push({ type: 'metric', name: 'inbox.delivered' });
    } else {
      actions.push({ type: 'metric', name: 'inbox.duplicate' });
    }
    // Ack every copy (the first ack may have been lost); sent after the insert commits.
    actions.push({ type: 'send', link: n.link, msg: this.makeAck(env.id, 'delivered') });
    return actions;
  }

  private makeAck(id: Uint8Array, st: Ack['st']): Ack {
    const s = sign(this.self.agent, Domain.ACK, ackBytes(id, st));
    return { t: MsgType.ACK, id, st, by: this.self.agent.publicKey, s, c: this.self.certBytes };
  }

  private onAck(n: Neighbour, ack: Ack): Action[] {
    const now = this.deps.now();
    const row = this.store.outbox.get(ack.id);
    if (!row) return [{ type: 'metric', name: 'dropped.ack-unknown' }];
    const cert = verifyCert(ack.c, now);
    if (!equalBytes(cert.agent, ack.by) || !equalBytes(cert.entity, row.to)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'ack is not from the recipient');
    }
    if (!verify(ack.by, Domain.ACK, ackBytes(ack.id, ack.st), ack.s)) {
      throw new WotError('ERR_BAD_SIGNATURE', 'ack signature does not verify');
    }
    void n;
    const rank: Record<OutboxState, number> = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 0, expired: 0 };
    if (rank[ack.st] <= rank[row.state]) return [];
    this.store.outbox.setState(ack.id, ack.st, now);
    return [{ type: 'outbox-state', id: ack.id, state: ack.st }];
  }

  // ---------------------------------------------------------------- API

  /**
   * Accepts a message from the app: signs it, makes it durable in the outbox and, when
   * the recipient is connected, sends it. Sending trusts the recipient for replies.
   */
  send(to: Uint8Array, kind: ContentKind, body: Uint8Array, name?: string): { id: Uint8Array; actions: Action[] } {
    if (body.length > Limits.MAX_BODY) {
      throw new WotError('ERR_TOO_LARGE', `message body is ${body.length} bytes; the limit is ${Limits.MAX_BODY}`, 'send a smaller file');
    }
    if (equalBytes(to, this.self.entityPub)) throw new WotError('ERR_BAD_REQUEST', 'cannot send a message to yourself');
    const now = this.deps.now();
    const trust = this.store.trust.get(to);
    if (trust?.state === 'revoked') {
      throw new WotError('ERR_REVOKED', `you revoked trust in ${encodeEntityId(to)}`, 'trust it again with: wotrelay trust add <entity-id>');
    }
    if (!trust) this.trustUpsert(to, 'sent', now);
    const id = this.deps.randomBytes(MESSAGE_ID_BYTES);
    const content: Content = { v: 1, id, from: this.self.entityPub, to, ts: now, kind, body, ...(name ? { name } : {}) };
    const c = encodeContent(content);
    const signed = encodeSignedContent({ c, cert: this.self.certBytes, s: sign(this.self.agent, Domain.MESSAGE, c) });
    const row: OutboxRow = {
      id,
      to,
      createdAt: now,
      expiresAt: now + this.cfg.messageTtlMs,
      state: 'queued',
      envelope: signed,
      attempts: 0,
      nextAttemptAt: now,
      updatedAt: now,
      error: null,
    };
    this.store.outbox.insert(row);
    const actions = this.transmit(row, now);
    return { id, actions };
  }

  /** Sends one outbox row if the recipient is connected, else asks for a dial. */
  private transmit(row: OutboxRow, now: number): Action[] {
    const link = this.linkTo(row.to);
    this.store.outbox.scheduleRetry(row.id, now + this.backoff(row.attempts), now);
    if (link === undefined) {
      const addr = this.store.trust.get(row.to)?.addr;
      return addr ? [{ type: 'dial', entity: row.to, addr }] : [];
    }
    const cert = this.store.certs.latestForEntity(row.to);
    if (!cert) return [];
    const x25519 = verifyCertCached(cert.cert, now)?.x25519;
    if (!x25519) return [];
    const env: Envelope = {
      t: MsgType.ENVELOPE,
      id: row.id,
      to: row.to,
      exp: row.expiresAt,
      route: [],
      body: seal(x25519, row.envelope, sealAd(row.id, row.to)),
      hops: [],
    };
    env.hops.push(signHop(this.self.agent, this.self.certBytes, env, row.to));
    const actions: Action[] = [{ type: 'send', link, msg: env }];
    if (row.state === 'queued') {
      this.store.outbox.setState(row.id, 'sent', now);
      actions.push({ type: 'outbox-state', id: row.id, state: 'sent' });
    }
    return actions;
  }

  private backoff(attempts: number): number {
    const base = Math.min(this.cfg.maxRetryMs, this.cfg.retryBaseMs * 2 ** Math.min(attempts, 20));
    const r = this.deps.randomBytes(2);
    const jitter = ((r[0]! * 256 + r[1]!) / 65535 - 0.5) * 0.5; // ±25 %
    return Math.max(100, Math.round(base * (1 + jitter)));
  }

  private flushOutboxTo(entity: Uint8Array, now: number): Action[] {
    const actions: Action[] = [];
    for (const row of this.store.outbox.pendingFor(entity, 1000)) actions.push(...this.transmit(row, now));
    return actions;
  }

  /** Timer: expire old messages, retry due ones (dialling recipients that are not connected). */
  tick(): Action[] {
    const now = this.deps.now();
    const actions: Action[] = [];
    this.store.outbox.expire(now);
    const dialled = new Set<string>();
    for (const row of this.store.outbox.due(now, 500)) {
      const a = this.transmit(row, now);
      for (const x of a) {
        if (x.type === 'dial') {
          const k = toHex(x.entity);
          if (dialled.has(k)) continue;
          dialled.add(k);
        }
        actions.push(x);
      }
    }
    return actions;
  }

  createInvite(uses: number, expiresInMs: number): { code: string; expiresAt: number } {
    const now = this.deps.now();
    const secret = this.deps.randomBytes(32);
    const key = inviteKeyFromSecret(secret).publicKey;
    const expiresAt = now + expiresInMs;
    this.store.invites.create({ key, createdAt: now, expiresAt, usesLeft: uses, usesTotal: uses, note: null });
    const code = encodeInvite({ entity: this.self.entityPub, addrs: this.deps.addrs(), secret, expiresAt });
    return { code, expiresAt };
  }

  trustAdd(entity: Uint8Array, name: string | undefined, addr: string | undefined): { entry: TrustEntry; actions: Action[] } {
    if (equalBytes(entity, this.self.entityPub)) throw new WotError('ERR_BAD_REQUEST', 'that is your own entity id');
    const now = this.deps.now();
    const existing = this.store.trust.get(entity);
    if (name !== undefined) {
      const other = this.store.trust.byPetname(name);
      if (other && !equalBytes(other.entity, entity)) {
        throw new WotError('ERR_BAD_REQUEST', `petname "${name}" is already used by ${encodeEntityId(other.entity)}`, 'pick another --name');
      }
    }
    const entry: TrustEntry = existing
      ? { ...existing, state: 'active', how: existing.state === 'revoked' ? 'manual' : existing.how, updatedAt: now }
      : { entity, petname: null, how: 'manual', addedAt: now, state: 'active', addr: null, updatedAt: now, note: null };
    if (name !== undefined) entry.petname = name;
    if (addr !== undefined) entry.addr = addr;
    this.store.trust.upsert(entry);
    const actions: Action[] = [];
    if (entry.addr && !this.isConnected(entity)) actions.push({ type: 'dial', entity, addr: entry.addr });
    return { entry, actions };
  }

  trustRevoke(entity: Uint8Array): { entry: TrustEntry; actions: Action[] } {
    const now = this.deps.now();
    if (!this.store.trust.get(entity)) throw new WotError('ERR_NOT_FOUND', `${encodeEntityId(entity)} is not in your trust list`);
    this.store.trust.setState(entity, 'revoked', now);
    const actions: Action[] = [];
    for (const l of this.byEntity.get(toHex(entity)) ?? []) {
      actions.push({ type: 'close', link: l, code: 'ERR_REVOKED', msg: 'trust revoked' });
    }
    return { entry: this.store.trust.get(entity)!, actions };
  }

  /** Resolves an entity id or petname to an entity key. */
  resolve(who: string, decode: (s: string) => Uint8Array): Uint8Array {
    const byName = this.store.trust.byPetname(who);
    if (byName) return byName.entity;
    if (!/^wot1/i.test(who.trim())) {
      throw new WotError('ERR_NOT_FOUND', `nobody in your trust list is called "${who}"`, 'wotrelay trust list shows petnames; or give an entity id (wot1…)');
    }
    return decode(who);
  }
}

// ---------------------------------------------------------------- helpers

function certRow(peer: PeerIdentity, now: number) {
  return { agent: peer.agent, entity: peer.entity, cert: peer.certBytes, seq: peer.cert.seq, notAfter: peer.cert.notAfter, seenAt: now };
}

export function sealAd(id: Uint8Array, to: Uint8Array): Uint8Array {
  const ad = new Uint8Array(id.length + to.length);
  ad.set(id, 0);
  ad.set(to, id.length);
  return ad;
}

export function ackBytes(id: Uint8Array, st: string): Uint8Array {
  const s = utf8(st);
  const out = new Uint8Array(id.length + s.length);
  out.set(id, 0);
  out.set(s, id.length);
  return out;
}

function pathView(path: VerifiedHop[]): PathHopView[] {
  return path.map((h) => ({ entity: encodeEntityId(h.entity), agent: toHex(h.agent) }));
}

const certCache = new Map<string, AgentCert>();
function verifyCertCached(bytes: Uint8Array, now: number): AgentCert | undefined {
  const k = toHex(sha256(bytes));
  const hit = certCache.get(k);
  if (hit && hit.notAfter + 600_000 >= now) return hit;
  try {
    const c = verifyCert(bytes, now);
    if (certCache.size > 4096) certCache.clear();
    certCache.set(k, c);
    return c;
  } catch {
    return undefined;
  }
}
