/**
 * Forward-secret end-to-end sessions (PROTOCOL.md 3.14). It owns the session state of this
 * agent with every peer entity: which session to send on, setting one up without a round
 * trip, encrypting and decrypting with the Double Ratchet (crypto/ratchet.ts), ratchet steps
 * carried back in acks, and erasing old keys (each step overwrites the stored state; unused
 * sessions are deleted).
 *
 * Setup (no round trip): the initiator makes a one-time key `ek`, derives the shared secret
 * from X25519(ek, the recipient's certificate X25519 key `ik`) and starts the ratchet with
 * `ik` as the peer's first ratchet key. Until it hears back on the session, every message
 * carries `i = {ek, ik, ts}` so the recipient can set up its side from any of them. The
 * recipient answers every message with an ack carrying a ratchet step (its fresh ratchet key),
 * and the initiator's next messages move to keys that no long-term key can recompute.
 *
 * Sans I/O: the store, clock and our box key are injected. Decryption never writes: `open`
 * returns a `commit` the caller runs once the sender's signature is verified.
 */
import {
  concatBytes,
  equalBytes,
  generateEphemeralBoxKey,
  initReceiver,
  initSender,
  initiatorSecret,
  isStrictBoxPublicKey,
  ratchetDecrypt,
  ratchetEncrypt,
  responderSecret,
  sha256,
  toHex,
  u64be,
  utf8,
  type BoxKey,
  type RatchetState,
} from '../crypto/index.js';
import type { CoreStore, SessionRow } from '../store/index.js';
import { encodeSessionMessage, packValue, unpackValue } from '../wire/codec.js';
import { WotError } from '../wire/errors.js';
import type { SessionMessage } from '../wire/types.js';

export interface SessionConfig {
  /** Sessions kept in all (least recently used dropped first). */
  sessionsMax: number;
  /** Sessions kept per peer (lowest rank dropped first). */
  sessionsPerPeer: number;
  /** A session unused this long is deleted, its keys with it. */
  sessionIdleMs: number;
  /** Skipped message keys (for messages that arrive out of order) are kept this long at most. */
  skippedKeyTtlMs: number;
  /**
   * A message still unacked after FRESH_AFTER_ATTEMPTS tries, on a session older than this,
   * goes on a new session (the peer may have lost its state).
   */
  freshAfterMs: number;
}

/** See SessionConfig.freshAfterMs. */
const FRESH_AFTER_ATTEMPTS = 4;

export const SESSION_DEFAULTS: SessionConfig = {
  sessionsMax: 50_000,
  sessionsPerPeer: 4,
  sessionIdleMs: 30 * 24 * 3600_000,
  skippedKeyTtlMs: 7 * 24 * 3600_000,
  freshAfterMs: 2 * 60_000,
};

/** A decoded session. */
export interface Session {
  sid: Uint8Array;
  peer: Uint8Array;
  rank: number;
  createdAt: number;
  /** Set while we, the initiator, have not heard back on it. */
  init: { ek: Uint8Array; ik: Uint8Array; ts: number } | null;
  /** True once the peer has sent us something on it. */
  confirmed: boolean;
  /** True when the peer's latest message on it came as an onion (we answer the same way). */
  onion: boolean;
  r: RatchetState;
}

export interface OpenedBody {
  /** The decrypted signed content bytes. */
  plaintext: Uint8Array;
  /** Persists the session after the sender (the signer of `plaintext`) was verified. */
  commit(sender: Uint8Array, viaOnion: boolean): void;
}

const SID_DOMAIN = utf8('wotrelay/v1/session-id');
const AD_DOMAIN = utf8('wotrelay/v1/session');

function sidOf(ek: Uint8Array): Uint8Array {
  return sha256(SID_DOMAIN, ek).slice(0, 16);
}

/** Associated data: session id, the recipient entity, and the setup fields when present. */
export function sessionAd(sid: Uint8Array, to: Uint8Array, init: SessionMessage['i']): Uint8Array {
  return init ? concatBytes(AD_DOMAIN, sid, to, init.ek, init.ik, u64be(init.ts)) : concatBytes(AD_DOMAIN, sid, to);
}

function encodeSession(s: Session): Uint8Array {
  const r = s.r;
  return packValue({
    v: 1,
    rank: s.rank,
    created: s.createdAt,
    ...(s.init ? { init: { ek: s.init.ek, ik: s.init.ik, ts: s.init.ts } } : {}),
    confirmed: s.confirmed,
    onion: s.onion,
    rk: r.rk,
    dhsSk: r.dhs.secretKey,
    dhsPk: r.dhs.publicKey,
    ...(r.dhr ? { dhr: r.dhr } : {}),
    ...(r.cks ? { cks: r.cks } : {}),
    ...(r.ckr ? { ckr: r.ckr } : {}),
    ns: r.ns,
    nr: r.nr,
    pn: r.pn,
    skipped: packSkipped(r.skipped),
  });
}

/**
 * Skipped message keys, stored as one byte string of fixed 80-byte records
 * (dh 32 || n u64 || mk 32 || exp u64): a session may keep up to RATCHET_MAX_STORED_SKIPPED of
 * them, more than a msgpack array may hold under the wire limits the decoder enforces.
 */
const SKIPPED_REC = 80;

function packSkipped(keys: ReadonlyArray<{ dh: Uint8Array; n: number; mk: Uint8Array; exp: number }>): Uint8Array {
  const out = new Uint8Array(keys.length * SKIPPED_REC);
  const dv = new DataView(out.buffer);
  keys.forEach((k, i) => {
    const o = i * SKIPPED_REC;
    out.set(k.dh, o);
    dv.setBigUint64(o + 32, BigInt(k.n));
    out.set(k.mk, o + 40);
    dv.setBigUint64(o + 72, BigInt(k.exp));
  });
  return out;
}

function unpackSkipped(v: unknown): Array<{ dh: Uint8Array; n: number; mk: Uint8Array; exp: number }> {
  // Rows written before the packed form kept an array of maps.
  if (Array.isArray(v)) return (v as Array<{ dh: Uint8Array; n: number; mk: Uint8Array; exp: number }>).map((k) => ({ dh: k.dh, n: k.n, mk: k.mk, exp: k.exp }));
  if (!(v instanceof Uint8Array) || v.length % SKIPPED_REC !== 0) throw new WotError('ERR_BAD_FIELD', 'stored session: skipped keys are malformed');
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: Array<{ dh: Uint8Array; n: number; mk: Uint8Array; exp: number }> = [];
  for (let o = 0; o < v.length; o += SKIPPED_REC) {
    out.push({ dh: v.slice(o, o + 32), n: Number(dv.getBigUint64(o + 32)), mk: v.slice(o + 40, o + 72), exp: Number(dv.getBigUint64(o + 72)) });
  }
  return out;
}

/** Decodes a stored session row (also what a thief of the database would read). */
export function decodeSession(row: SessionRow): Session {
  const o = unpackValue(row.state) as Record<string, unknown>;
  const b = (k: string) => o[k] as Uint8Array;
  const init = o['init'] as { ek: Uint8Array; ik: Uint8Array; ts: number } | undefined;
  const skipped = unpackSkipped(o['skipped']);
  return {
    sid: row.sid,
    peer: row.peer,
    rank: row.rank,
    createdAt: o['created'] as number,
    init: init ? { ek: init.ek, ik: init.ik, ts: init.ts } : null,
    confirmed: o['confirmed'] as boolean,
    onion: o['onion'] as boolean,
    r: {
      rk: b('rk'),
      dhs: Object.freeze({ secretKey: b('dhsSk'), publicKey: b('dhsPk') }),
      dhr: (o['dhr'] as Uint8Array | undefined) ?? null,
      cks: (o['cks'] as Uint8Array | undefined) ?? null,
      ckr: (o['ckr'] as Uint8Array | undefined) ?? null,
      ns: o['ns'] as number,
      nr: o['nr'] as number,
      pn: o['pn'] as number,
      skipped,
    },
  };
}

export interface SessionDeps {
  store: CoreStore;
  /** Our certificate's X25519 key (the initial ratchet key peers set sessions up with). */
  box: BoxKey;
  now: () => number;
}

export class SessionManager {
  private readonly cfg: SessionConfig;

  constructor(
    private readonly deps: SessionDeps,
    cfg: Partial<SessionConfig> = {},
  ) {
    this.cfg = { ...SESSION_DEFAULTS, ...cfg };
  }

  private get store(): CoreStore {
    return this.deps.store;
  }

  private save(s: Session, now: number): void {
    this.store.sessions.put({ sid: s.sid, peer: s.peer, rank: s.rank, state: encodeSession(s), createdAt: s.createdAt, usedAt: now });
  }

  /** Our sessions with `peer`, highest rank first. */
  private sessionsWith(peer: Uint8Array): Session[] {
    return this.store.sessions.byPeer(peer, this.cfg.sessionsPerPeer + 1).map(decodeSession);
  }

  /**
   * The session to send on: the highest-ranked one the peer has used (both sides agree on
   * rank, so two sessions set up at once converge on one), else our newest set up for the
   * peer's current key `ik`.
   */
  private current(peer: Uint8Array, ik: Uint8Array | null): Session | undefined {
    const all = this.sessionsWith(peer);
    return all.find((s) => s.confirmed) ?? all.find((s) => s.init !== null && (ik === null || equalBytes(s.init.ik, ik)));
  }

  /** Keeps at most sessionsPerPeer sessions with `peer` and sessionsMax in all. */
  private bound(peer: Uint8Array): void {
    for (const s of this.store.sessions.byPeer(peer, Infinity).slice(this.cfg.sessionsPerPeer)) this.store.sessions.delete(s.sid);
    const over = this.store.sessions.count() - this.cfg.sessionsMax;
    if (over > 0) this.store.sessions.deleteOldest(over);
  }

  private create(peer: Uint8Array, ik: Uint8Array, now: number): Session {
    const ek = generateEphemeralBoxKey();
    const sk = initiatorSecret(ek, ik);
    // ek's secret is not kept anywhere: only its public half travels in `i`.
    const top = this.store.sessions.byPeer(peer, 1)[0];
    const rank = Math.max(now, (top?.rank ?? 0) + 1);
    const s: Session = { sid: sidOf(ek.publicKey), peer, rank, createdAt: now, init: { ek: ek.publicKey, ik, ts: rank }, confirmed: false, onion: false, r: initSender(sk, ik) };
    this.save(s, now);
    this.bound(peer);
    return s;
  }

  /**
   * Encrypts `plaintext` (signed content) for `peer`, whose certificate X25519 key is `ik`,
   * on the current session (set up now if there is none, or when `fresh`: the peer may
   * have lost its state). Returns the encoded session message.
   */
  seal(peer: Uint8Array, ik: Uint8Array, plaintext: Uint8Array, opts: { fresh?: boolean } = {}): Uint8Array {
    const now = this.deps.now();
    let s = opts.fresh ? undefined : this.current(peer, ik);
    if (!s || !s.r.cks) s = this.create(peer, ik, now);
    return this.encrypt(s, plaintext, now);
  }

  private encrypt(s: Session, plaintext: Uint8Array, now: number): Uint8Array {
    const i = s.init ?? undefined;
    const { header, ct } = ratchetEncrypt(s.r, plaintext, sessionAd(s.sid, s.peer, i));
    this.save(s, now);
    return encodeSessionMessage({ v: 1, sid: s.sid, dh: header.dh, pn: header.pn, n: header.n, ...(i ? { i } : {}), ct });
  }

  /**
   * True when a message to `peer` tried `attempts` times without an ack should go on a new
   * session: the one we use is older than freshAfterMs, and the peer may have lost it.
   */
  startFresh(peer: Uint8Array, attempts: number): boolean {
    if (attempts < FRESH_AFTER_ATTEMPTS) return false;
    const s = this.current(peer, null);
    return s !== undefined && this.deps.now() - s.createdAt > this.cfg.freshAfterMs;
  }

  /**
   * Decrypts a session message addressed to us (`self`). Throws ERR_DECRYPT when it does not
   * authenticate, when it needs a session we do not have, or when it was set up for another
   * key of ours. Nothing is stored until `commit`.
   */
  open(m: SessionMessage, self: Uint8Array): OpenedBody {
    const now = this.deps.now();
    const row = this.store.sessions.get(m.sid);
    const header = { dh: m.dh, pn: m.pn, n: m.n };
    const ad = sessionAd(m.sid, self, m.i);
    let s: Session;
    if (row) {
      s = decodeSession(row);
    } else {
      const i = m.i;
      if (!i) throw new WotError('ERR_DECRYPT', 'no such session (the sender must set up a new one)');
      if (!equalBytes(i.ik, this.deps.box.publicKey)) throw new WotError('ERR_DECRYPT', 'the session was set up for another key of ours');
      if (!equalBytes(sidOf(i.ek), m.sid)) throw new WotError('ERR_DECRYPT', 'the session id does not match its setup');
      // From the wire: refused before use unless canonical and of full order (one key, one encoding).
      if (!isStrictBoxPublicKey(i.ek)) throw new WotError('ERR_DECRYPT', 'the session setup key is not a canonical X25519 key of full order');
      const sk = responderSecret(this.deps.box, i.ek);
      s = { sid: m.sid, peer: new Uint8Array(32), rank: i.ts, createdAt: now, init: null, confirmed: false, onion: false, r: initReceiver(sk, this.deps.box) };
    }
    const res = ratchetDecrypt(s.r, header, m.ct, ad, now, this.cfg.skippedKeyTtlMs);
    if (!res) throw new WotError('ERR_DECRYPT', 'the session message does not authenticate');
    const isNew = !row;
    return {
      plaintext: res.plaintext,
      commit: (sender, viaOnion) => {
        if (!isNew && !equalBytes(s.peer, sender)) throw new WotError('ERR_BAD_SIGNATURE', 'a session message signed by someone else than its peer');
        const next: Session = { ...s, peer: isNew ? sender : s.peer, r: res.state, confirmed: true, init: null, onion: viaOnion };
        this.save(next, now);
        if (isNew) this.bound(sender);
      },
    };
  }

  /**
   * A ratchet step for `peer` to carry in an ack: an empty message on the session we would
   * send on, so the peer's next messages use a fresh DH ratchet key of ours. Undefined when we
   * have no confirmed session with it.
   */
  step(peer: Uint8Array): Uint8Array | undefined {
    const s = this.sessionsWith(peer).find((x) => x.confirmed && x.r.cks);
    return s ? this.encrypt(s, new Uint8Array(0), this.deps.now()) : undefined;
  }

  /** Applies a ratchet step from `peer` (from an ack); false when it does not authenticate. */
  applyStep(peer: Uint8Array, m: SessionMessage, self: Uint8Array): boolean {
    const row = this.store.sessions.get(m.sid);
    if (!row || !equalBytes(row.peer, peer)) return false;
    try {
      const opened = this.open(m, self);
      if (opened.plaintext.length !== 0) return false;
      const s = decodeSession(row);
      opened.commit(peer, s.onion);
      return true;
    } catch {
      return false;
    }
  }

  /** True when `peer` last wrote to us as an onion (our automatic answers go the same way). */
  prefersOnion(peer: Uint8Array): boolean {
    return this.sessionsWith(peer).find((s) => s.confirmed)?.onion ?? false;
  }

  /** Deletes sessions unused for sessionIdleMs (their keys with them). */
  tick(now: number): void {
    this.store.sessions.deleteUnusedBefore(now - this.cfg.sessionIdleMs, 1000);
  }

  /** Session ids with `peer` (tests, status). */
  idsWith(peer: Uint8Array): string[] {
    return this.store.sessions.byPeer(peer, Infinity).map((r) => toHex(r.sid));
  }
}
