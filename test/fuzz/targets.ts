/**
 * Stateful fuzz targets (test/ADVERSARIAL.md case 5), driven by fast-check with a seed so a
 * failure is reproduced exactly from the printed seed (and path):
 *
 *  - core: a line of four sans-I/O cores (test/helpers/corenet.ts: real codec, SQLite stores
 *    in memory, one transaction per event as in the daemon) takes random sequences of
 *    replayed valid frames, frames with a field swapped for a hostile value, byte-mutated
 *    and garbage frames (each decoded exactly as the link would; a frame that does not decode
 *    closes that link, which then comes back), clock jumps, links going down and up, and app
 *    calls. Nothing but a WotError may come out of a decoder, nothing at all out of the core,
 *    every in-memory table stays within its bound, no message is shown twice.
 *  - link: a live responder Link on loopback takes a real or garbled handshake and then valid
 *    records, records whose plaintext is garbage or a mutated message, raw garbage, hostile
 *    length headers, replays and truncation. No exception escapes, every link ends closed with
 *    a stable code or stays healthy, its input buffer stays within one frame, and an honest
 *    peer still connects afterwards.
 *
 * The valid frames come from running real traffic once (a corpus of every message family
 * the scenario produces).
 */
import fc from 'fast-check';
import net from 'node:net';
import Noise from 'noise-handshake';
import curve from 'noise-curve-ed';
import { aeadSeal, counterNonce, generateBoxKey, generateSigningKey, utf8 } from '../../agent/crypto/index.js';
import type { LinkId } from '../../agent/core/index.js';
import { issueCert } from '../../agent/identity/index.js';
import { Link, type CloseInfo } from '../../agent/link/index.js';
import { ErrorCodes, Limits, NOISE_PROLOGUE } from '../../agent/wire/constants.js';
import { isWotError } from '../../agent/wire/errors.js';
import { decodeMessage, encodeBatch, encodeMessage } from '../../agent/wire/index.js';
import type { WireMessage } from '../../agent/wire/types.js';
import { line, type Net } from '../helpers/corenet.js';
import { RawPeer } from '../helpers/rawpeer.js';

// ---------------------------------------------------------------- corpus

export interface Frame {
  to: string;
  link: LinkId;
  bytes: Uint8Array;
}

const NAMES = ['A', 'B', 'C', 'D'];

/** The fuzzed network: a line A–B–C–D, every identity derived from its name (so frames replay across runs). */
function network(): Net {
  return line(NAMES, { stallMs: 2_000, retryBaseMs: 500, maxRetryMs: 5_000 });
}

let corpusCache: Frame[] | null = null;

/** Every frame of a scripted run: messages, discovery, custody, acks, reports, complaints, announcements, mailboxes. */
export function corpus(): Frame[] {
  if (corpusCache) return corpusCache;
  const net = network();
  const frames: Frame[] = [];
  const push = net.queue.push.bind(net.queue);
  net.queue.push = (...items: Frame[]) => {
    frames.push(...items);
    return push(...items);
  };
  const ids = [net.send('A', 'D', 'one'), net.send('A', 'D', 'two'), net.send('D', 'A', 'reply')];
  net.advance(5_000);
  const D = net.n('D');
  net.perform('D', D.store.tx(() => D.core.complain(ids[0]!, 'spam')));
  net.perform('D', D.store.tx(() => D.core.markRead(ids[1]!)));
  net.run();
  const A = net.n('A');
  net.perform('A', A.store.tx(() => A.core.mailboxAdd(net.n('B').peer.entity, undefined)));
  net.perform('A', A.store.tx(() => A.core.announce()));
  net.advance(5_000);
  corpusCache = frames;
  return frames;
}

// ---------------------------------------------------------------- mutations

type Op =
  | { kind: 'replay'; i: number }
  | { kind: 'field'; i: number; path: number; pick: number; bytes: Uint8Array }
  | { kind: 'bytes'; i: number; pos: number; how: number; bytes: Uint8Array }
  | { kind: 'garbage'; to: number; from: number; bytes: Uint8Array }
  | { kind: 'tick'; ms: number }
  | { kind: 'flap'; a: number }
  | { kind: 'app'; from: number; to: number; what: number };

const HOSTILE_NUMBERS = [0, 1, 255, 256, 0xffff, 0xffffffff, 2 ** 53 - 1, 17, 33];

/** Replaces one leaf of a decoded message (chosen by `path`) with a hostile value of a related kind. */
function mutateField(m: WireMessage, path: number, pick: number, bytes: Uint8Array): unknown {
  const leaves: Array<{ set: (v: unknown) => void; value: unknown }> = [];
  const walk = (o: Record<string, unknown> | unknown[], depth: number): void => {
    for (const k of Object.keys(o)) {
      if (k === 't' && depth === 0) continue;
      const v = (o as Record<string, unknown>)[k];
      leaves.push({ value: v, set: (x) => ((o as Record<string, unknown>)[k] = x) });
      if (depth < 3 && v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) walk(v as Record<string, unknown>, depth + 1);
    }
  };
  const copy = structuredClone(m) as unknown as Record<string, unknown>;
  walk(copy, 0);
  if (leaves.length === 0) return copy;
  const leaf = leaves[path % leaves.length]!;
  const v = leaf.value;
  if (v instanceof Uint8Array) {
    const len = [v.length, v.length + 1, Math.max(0, v.length - 1), bytes.length][pick % 4]!;
    const out = new Uint8Array(len);
    out.set(bytes.subarray(0, len));
    leaf.set(pick % 5 === 4 ? v.map((b, i) => (i === 0 ? b ^ 1 : b)) : out);
  } else if (typeof v === 'number') leaf.set(HOSTILE_NUMBERS[pick % HOSTILE_NUMBERS.length]! + (pick % 2));
  else if (typeof v === 'string') leaf.set([ErrorCodes[pick % ErrorCodes.length], '', 'x'.repeat(300), 'delivered', 'read'][pick % 5]);
  else if (Array.isArray(v)) leaf.set(pick % 3 === 0 ? [] : pick % 3 === 1 ? [...v, ...v] : v.slice(1));
  else if (typeof v === 'boolean') leaf.set(!v);
  else leaf.set(pick % 2 ? null : bytes);
  return copy;
}

function mutateBytes(b: Uint8Array, pos: number, how: number, bytes: Uint8Array): Uint8Array {
  if (b.length === 0) return bytes;
  const p = pos % b.length;
  switch (how % 5) {
    case 0: {
      const out = Uint8Array.from(b);
      out[p]! ^= 1 << (how % 8);
      return out;
    }
    case 1:
      return b.subarray(0, p);
    case 2: {
      const out = new Uint8Array(b.length + bytes.length);
      out.set(b.subarray(0, p));
      out.set(bytes, p);
      out.set(b.subarray(p), p + bytes.length);
      return out;
    }
    case 3: {
      const out = Uint8Array.from(b);
      out.set(bytes.subarray(0, out.length - p), p);
      return out;
    }
    default: {
      const out = Uint8Array.from(b);
      out[p] = [0xc1, 0xdd, 0xdf, 0xc6, 0xff][how % 5]!; // msgpack headers that declare 4 GiB, or are invalid
      return out;
    }
  }
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('replay' as const), i: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('field' as const), i: fc.nat(), path: fc.nat(), pick: fc.nat(), bytes: fc.uint8Array({ maxLength: 200 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('bytes' as const), i: fc.nat(), pos: fc.nat(), how: fc.nat(), bytes: fc.uint8Array({ maxLength: 40 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('garbage' as const), to: fc.nat(), from: fc.nat(), bytes: fc.uint8Array({ maxLength: 300 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(1, 1000, 5_000, 60_000, 3600_000, 8 * 86400_000) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('flap' as const), a: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('app' as const), from: fc.nat(), to: fc.nat(), what: fc.nat() }), weight: 1 },
);

export interface CoreStats {
  events: number;
  delivered: number;
  closed: number;
}

/** One fuzz run of the core target: a fresh network, `ops` applied in order, invariants checked. Throws on a bug. */
export function runCoreOps(ops: Op[], stats: CoreStats): void {
  const frames = corpus();
  const netw = network();
  const linkOf = (to: string, from: string) => [...netw.n(to).links.entries()].find(([, v]) => v === from)?.[0];
  const neighbours = (n: string) => [...netw.n(n).links.values()];
  const deliver = (f: Frame, bytes: Uint8Array): void => {
    if (!netw.n(f.to).links.has(f.link)) return; // that link is down in this run
    let msg: WireMessage;
    try {
      msg = decodeMessage(bytes);
    } catch (e) {
      if (!isWotError(e)) throw new Error(`decodeMessage threw a non-WotError: ${String(e)}`);
      // The link layer closes a link on an undecodable frame; the neighbour comes back later.
      stats.closed++;
      const other = netw.n(f.to).links.get(f.link)!;
      netw.unlink(f.to, other);
      netw.relink(f.to, other);
      return;
    }
    const N = netw.n(f.to);
    stats.events++;
    netw.perform(f.to, N.store.tx(() => N.core.onMessage(f.link, msg)));
  };
  for (const op of ops) {
    switch (op.kind) {
      case 'replay':
        deliver(frames[op.i % frames.length]!, frames[op.i % frames.length]!.bytes);
        break;
      case 'field': {
        const f = frames[op.i % frames.length]!;
        let bytes: Uint8Array;
        try {
          bytes = encodeMessage(mutateField(decodeMessage(f.bytes), op.path, op.pick, op.bytes) as WireMessage);
        } catch (e) {
          if (!isWotError(e) && !(e instanceof TypeError) && !(e instanceof RangeError)) throw e;
          break; // our own encoder refuses it: a peer would have to hand-craft it, which 'bytes' covers
        }
        deliver(f, bytes);
        break;
      }
      case 'bytes': {
        const f = frames[op.i % frames.length]!;
        deliver(f, mutateBytes(f.bytes, op.pos, op.how, op.bytes));
        break;
      }
      case 'garbage': {
        const to = NAMES[op.to % NAMES.length]!;
        const ns = neighbours(to);
        if (ns.length === 0) break;
        const link = linkOf(to, ns[op.from % ns.length]!);
        if (link !== undefined) deliver({ to, link, bytes: op.bytes }, op.bytes);
        break;
      }
      case 'tick':
        netw.advance(Math.min(op.ms, 5_000));
        if (op.ms > 5_000) netw.clock += op.ms; // a long sleep: expiry, retention, certificate windows
        break;
      case 'flap': {
        const a = NAMES[op.a % (NAMES.length - 1)]!;
        const b = NAMES[(op.a % (NAMES.length - 1)) + 1]!;
        if (netw.n(a).linked.has(b)) netw.unlink(a, b);
        else netw.relink(a, b);
        break;
      }
      case 'app': {
        const from = NAMES[op.from % NAMES.length]!;
        const to = NAMES[op.to % NAMES.length]!;
        const F = netw.n(from);
        try {
          if (op.what % 3 === 0 && from !== to) netw.perform(from, F.store.tx(() => F.core.send(netw.n(to).peer.entity, 'text', utf8(`fuzz ${op.what}`)).actions));
          else if (op.what % 3 === 1) netw.perform(from, F.store.tx(() => F.core.discover(netw.n(to).peer.entity)));
          else {
            const last = F.store.inbox.list({ limit: 1 })[0];
            if (last) netw.perform(from, F.store.tx(() => F.core.complain(last.id, 'fuzz')));
          }
        } catch (e) {
          if (!isWotError(e)) throw e; // app calls may refuse (unknown message, queue full), never crash
        }
        break;
      }
    }
    netw.run(2_000);
  }
  netw.advance(10_000);
  for (const name of NAMES) {
    const N = netw.n(name);
    for (const [t, { size, max }] of Object.entries(N.core.bounds())) {
      if (size > max) throw new Error(`${name}: table ${t} holds ${size} > ${max}`);
    }
    const ids = N.store.inbox.list({ limit: 100_000 }).map((r) => Buffer.from(r.id).toString('hex'));
    if (new Set(ids).size !== ids.length) throw new Error(`${name}: a message is in the inbox twice`);
    stats.delivered += ids.length;
    const ok = N.store.integrityCheck();
    if (ok !== 'ok') throw new Error(`${name}: integrity check: ${ok}`);
  }
}

export function coreProperty(stats: CoreStats): fc.IPropertyWithHooks<[Op[]]> {
  return fc.property(fc.array(opArb, { minLength: 5, maxLength: 50, size: 'max' }), (ops) => runCoreOps(ops, stats));
}

// ---------------------------------------------------------------- link target

type LinkStep =
  | { kind: 'valid'; i: number }
  | { kind: 'plain'; bytes: Uint8Array }
  | { kind: 'mutated'; i: number; pos: number; how: number; bytes: Uint8Array }
  | { kind: 'raw'; bytes: Uint8Array }
  | { kind: 'header'; len: number }
  | { kind: 'replay' }
  | { kind: 'wait' };

const linkStepArb: fc.Arbitrary<LinkStep> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('valid' as const), i: fc.nat() }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('plain' as const), bytes: fc.uint8Array({ maxLength: 200 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('mutated' as const), i: fc.nat(), pos: fc.nat(), how: fc.nat(), bytes: fc.uint8Array({ maxLength: 30 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('raw' as const), bytes: fc.uint8Array({ maxLength: 64 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('header' as const), len: fc.oneof(fc.constantFrom(0, 1, Limits.MAX_RECORD + 16, Limits.MAX_RECORD + 17, 2 ** 31, 2 ** 32 - 1), fc.nat()) }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'replay' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'wait' as const }), weight: 1 },
);

const handshakeArb = fc.record({
  /** 0: honest; 1: garbage msg1; 2: garbage msg3; 3: msg1 split and stalled; 4: oversized header. */
  mode: fc.constantFrom(0, 0, 0, 0, 1, 2, 3, 4),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 120 }),
});

export interface LinkFuzz {
  port: number;
  links: Link[];
  closes: CloseInfo[];
  errors: unknown[];
  close(): Promise<void>;
}

function ident() {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const now = Date.now();
  const certBytes = issueCert(entity, { agent: agent.publicKey, x25519: generateBoxKey().publicKey, notBefore: now - 60_000, notAfter: now + 86400_000, seq: 1 });
  return { agentSeed: agent.seed, agentPub: agent.publicKey, entityPub: entity.publicKey, certBytes };
}

/** A listening responder whose links are all observed; every event handler failure is recorded. */
export async function linkServer(): Promise<LinkFuzz> {
  const me = ident();
  const s: LinkFuzz = { port: 0, links: [], closes: [], errors: [], close: async () => {} };
  const srv = net.createServer((sock) => {
    const l = Link.accept(sock, { identity: me, gate: () => ({ ok: true }), handshakeTimeoutMs: 1_000 });
    s.links.push(l);
    l.on('close', (c) => {
      if (c.code !== 'OK' && !(ErrorCodes as readonly string[]).includes(c.code)) s.errors.push(new Error(`close with an unknown code ${String(c.code)}`));
      s.closes.push(c);
    });
    l.on('message', (m) => {
      if (typeof m.t !== 'number') s.errors.push(new Error('a message without a type reached the app'));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  s.port = (srv.address() as net.AddressInfo).port;
  s.close = async () => {
    for (const l of s.links) l.close();
    await new Promise<void>((r) => srv.close(() => r()));
  };
  return s;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `u32 length || message` without the encoder's checks (a hostile peer's batch may hold an empty message). */
function rawBatch(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + msg.length);
  new DataView(out.buffer).setUint32(0, msg.length);
  out.set(msg, 4);
  return out;
}

/** One fuzz run against the live link: handshake (maybe garbled), then the steps. Throws on a broken invariant. */
export async function runLinkSteps(srv: LinkFuzz, hs: { mode: number; bytes: Uint8Array }, steps: LinkStep[]): Promise<void> {
  const frames = corpus();
  const peer = ident();
  const first = srv.links.length;
  const p = await RawPeer.connect(`127.0.0.1:${srv.port}`);
  try {
    if (hs.mode === 0) {
      await p.handshake({ agentSeed: peer.agentSeed, certBytes: peer.certBytes });
    } else if (hs.mode === 1) {
      p.write(Uint8Array.from([0, hs.bytes.length, ...hs.bytes]));
    } else if (hs.mode === 2) {
      await p.handshake({ agentSeed: peer.agentSeed, certBytes: peer.certBytes }, { payload3: () => ({ v: 1, cert: hs.bytes.length >= 185 ? hs.bytes.subarray(0, 185) : new Uint8Array(185).fill(hs.bytes[0]!) }) });
    } else if (hs.mode === 3) {
      const noise = new Noise('XX', true, curve.generateKeyPair(), { curve });
      noise.initialise(utf8(NOISE_PROLOGUE));
      const m1 = noise.send(new Uint8Array(0));
      p.write(Uint8Array.from([0, m1.length, ...m1.subarray(0, 5)]));
    } else {
      p.write(Uint8Array.of(0xff, 0xff, ...hs.bytes));
    }
    let last: Uint8Array | null = null;
    for (const st of steps) {
      if (p.closed) break;
      const send = (plain: Uint8Array) => {
        if (!p.tx) return p.write(plain);
        const ct = aeadSeal(p.tx, counterNonce(p.txCounter++), plain);
        const rec = Uint8Array.from([ct.length >>> 24, (ct.length >>> 16) & 0xff, (ct.length >>> 8) & 0xff, ct.length & 0xff, ...ct]);
        last = rec;
        p.write(rec);
      };
      switch (st.kind) {
        case 'valid':
          send(encodeBatch([frames[st.i % frames.length]!.bytes]));
          break;
        case 'plain':
          send(st.bytes);
          break;
        case 'mutated':
          send(rawBatch(mutateBytes(frames[st.i % frames.length]!.bytes, st.pos, st.how, st.bytes)));
          break;
        case 'raw':
          p.write(st.bytes);
          break;
        case 'header':
          p.write(Uint8Array.of(st.len >>> 24, (st.len >>> 16) & 0xff, (st.len >>> 8) & 0xff, st.len & 0xff));
          break;
        case 'replay':
          if (last) p.write(last);
          break;
        case 'wait':
          await pause(5);
          break;
      }
    }
    await pause(20);
    for (const l of srv.links.slice(first)) {
      if (l.bufferedInput > Limits.MAX_RECORD + 20) throw new Error(`a link holds ${l.bufferedInput} input bytes`);
    }
  } finally {
    p.destroy();
  }
  // Every link of this run ends (the peer hung up), with a stable code.
  const end = Date.now() + 3_000;
  while (srv.closes.length < srv.links.length && Date.now() < end) await pause(5);
  if (srv.closes.length < srv.links.length) throw new Error(`${srv.links.length - srv.closes.length} links never closed`);
  if (srv.errors.length) throw srv.errors[0];
}

export function linkProperty(srv: LinkFuzz): fc.IAsyncPropertyWithHooks<[{ mode: number; bytes: Uint8Array }, LinkStep[]]> {
  return fc.asyncProperty(handshakeArb, fc.array(linkStepArb, { minLength: 1, maxLength: 25, size: 'max' }), (hs, steps) => runLinkSteps(srv, hs, steps));
}

/** After a fuzz run: an honest peer still completes a handshake and is heard. */
export async function honestStillConnects(srv: LinkFuzz): Promise<boolean> {
  const before = srv.links.length;
  const p = await RawPeer.connect(`127.0.0.1:${srv.port}`);
  const id = ident();
  const m2 = await p.handshake({ agentSeed: id.agentSeed, certBytes: id.certBytes });
  const end = Date.now() + 2_000;
  while (!srv.links[before]?.isOpen && Date.now() < end) await pause(5);
  const opened = m2 !== null && (srv.links[before]?.isOpen ?? false);
  p.destroy();
  return opened;
}

