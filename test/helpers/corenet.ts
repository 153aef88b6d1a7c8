/**
 * A tiny deterministic network of sans-I/O cores for unit tests: a fake clock, FIFO delivery
 * with every message through the real codec, SQLite stores in memory, and the daemon's order
 * of work (each event in one store transaction, its actions performed after it). Nodes can
 * be linked, unlinked, killed, and restarted: a restart builds a new core over the same
 * store, as a daemon does after kill -9 (only committed state survives). Also helpers for
 * onion tests: send as an onion, the onions a node was handed, and an onion re-signed by a
 * (possibly malicious) relay.
 */
import { createHash } from 'node:crypto';
import { AgentCore, type Action, type CoreConfig, type CoreDeps, type LinkId } from '../../agent/core/index.js';
import { immediateSigner } from '../../agent/core/batch.js';
import { signHop } from '../../agent/core/path.js';
import { signingKeyFromSeed, boxKeyFromSecret, equalBytes } from '../../agent/crypto/index.js';
import { issueCert, verifyCert } from '../../agent/identity/index.js';
import { Store } from '../../agent/store/index.js';
import { decodeMessage, encodeMessage } from '../../agent/wire/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import type { Onion, WireMessage } from '../../agent/wire/types.js';
import type { PeerIdentity } from '../../agent/link/index.js';

export function seeded(seed: string): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) out.set(createHash('sha256').update(`${seed}:${i++}`).digest().subarray(0, Math.min(32, n - off)), off);
    return out;
  };
}

export class Net {
  clock = Date.UTC(2026, 10, 21);
  nodes = new Map<string, { core: AgentCore; store: Store; peer: PeerIdentity; links: Map<LinkId, string>; actions: Action[]; deps: CoreDeps; cfg: Partial<CoreConfig>; linked: Set<string> }>();
  queue: Array<{ to: string; link: LinkId; bytes: Uint8Array }> = [];
  sent: WireMessage[] = [];
  /** Every frame put on a link, with its ends: what each node received and sent. */
  wire: Array<{ from: string; to: string; bytes: Uint8Array }> = [];
  /** A test's hand on the wire: replace a message in flight, or drop it (null). */
  intercept: ((from: string, to: string, msg: WireMessage) => WireMessage | null) | null = null;
  dead = new Set<string>();

  add(name: string, cfg: Partial<CoreConfig> = {}): void {
    const r = seeded(name);
    const entity = signingKeyFromSeed(r(32));
    const agent = signingKeyFromSeed(r(32));
    const box = boxKeyFromSecret(r(32));
    const certBytes = issueCert(entity, { agent: agent.publicKey, x25519: box.publicKey, notBefore: this.clock - 1000, notAfter: this.clock + 86400_000 * 30, seq: 1 });
    const cert = verifyCert(certBytes, this.clock);
    const store = Store.open(':memory:');
    const addr = `10.0.0.${this.nodes.size + 1}:7117`;
    const deps: CoreDeps = { identity: { entityPub: entity.publicKey, agent, box, certBytes, cert }, store, now: () => this.clock, randomBytes: r, addrs: () => [addr] };
    const core = new AgentCore(deps, cfg);
    this.nodes.set(name, { core, store, peer: { agent: agent.publicKey, entity: entity.publicKey, cert, certBytes, remoteAddress: '127.0.0.1', remotePort: 1 }, links: new Map(), actions: [], deps, cfg, linked: new Set() });
  }

  n(name: string) {
    return this.nodes.get(name)!;
  }

  private linkId(a: string, b: string): LinkId {
    // one id per (node, neighbour)
    return [...this.nodes.keys()].indexOf(b) + 1 + (a === b ? 1000 : 0);
  }

  connect(a: string, b: string): void {
    const A = this.n(a);
    const B = this.n(b);
    A.store.tx(() => A.core.trustAdd(B.peer.entity, b, undefined));
    B.store.tx(() => B.core.trustAdd(A.peer.entity, a, undefined));
    this.relink(a, b);
  }

  unlink(a: string, b: string): void {
    const A = this.n(a);
    const B = this.n(b);
    const la = this.linkId(a, b);
    const lb = this.linkId(b, a);
    A.links.delete(la);
    B.links.delete(lb);
    A.linked.delete(b);
    B.linked.delete(a);
    this.perform(a, A.store.tx(() => A.core.peerDown(la)));
    this.perform(b, B.store.tx(() => B.core.peerDown(lb)));
  }

  relink(a: string, b: string): void {
    const A = this.n(a);
    const B = this.n(b);
    A.links.set(this.linkId(a, b), b);
    B.links.set(this.linkId(b, a), a);
    A.linked.add(b);
    B.linked.add(a);
    this.perform(a, A.store.tx(() => A.core.peerUp(this.linkId(a, b), B.peer)));
    this.perform(b, B.store.tx(() => B.core.peerUp(this.linkId(b, a), A.peer)));
  }

  /**
   * Brings a killed node back as after kill -9 and a restart: a new core over the same
   * store (memory state gone, committed state kept), linked again to its neighbours
   * (`to`, default: those it had) that are alive.
   */
  restart(name: string, to?: string[]): void {
    const N = this.n(name);
    const peers = to ?? [...N.linked];
    this.dead.delete(name);
    N.core = new AgentCore(N.deps, N.cfg);
    N.links.clear();
    N.linked.clear();
    for (const p of peers) {
      if (this.dead.has(p)) continue;
      const P = this.n(p);
      P.links.delete(this.linkId(p, name));
      P.linked.delete(name);
      this.relink(name, p);
    }
  }

  kill(name: string): void {
    this.dead.add(name);
    // Messages on the wire to it are lost.
    this.queue = this.queue.filter((m) => m.to !== name);
    for (const [, other] of this.n(name).links) {
      const O = this.n(other);
      const l = this.linkId(other, name);
      O.links.delete(l);
      O.linked.delete(name);
      this.perform(other, O.store.tx(() => O.core.peerDown(l)));
    }
    this.n(name).links.clear();
  }

  perform(name: string, actions: Action[]): void {
    const N = this.n(name);
    for (const a of actions) {
      N.actions.push(a);
      if (a.type !== 'send') continue;
      const to = N.links.get(a.link);
      if (!to || this.dead.has(to)) continue;
      const msg = this.intercept ? this.intercept(name, to, a.msg) : a.msg;
      if (!msg) continue;
      this.sent.push(msg);
      const bytes = encodeMessage(msg);
      this.wire.push({ from: name, to, bytes });
      this.queue.push({ to, link: this.linkId(to, name), bytes });
    }
  }

  run(maxSteps = 100_000): void {
    for (let i = 0; i < maxSteps && this.queue.length > 0; i++) {
      const m = this.queue.shift()!;
      if (this.dead.has(m.to)) continue;
      const N = this.n(m.to);
      this.clock += 1;
      this.perform(m.to, N.store.tx(() => N.core.onMessage(m.link, decodeMessage(m.bytes))));
    }
  }

  /** Delivers `msg` to `to` as if `from` sent it on their link (a test injecting frames). */
  inject(from: string, to: string, msg: WireMessage): void {
    const bytes = encodeMessage(msg);
    this.wire.push({ from, to, bytes });
    this.queue.push({ to, link: this.linkId(to, from), bytes });
    this.run();
  }

  /** Advances the fake clock, ticking every live node each second. */
  advance(ms: number): void {
    const end = this.clock + ms;
    while (this.clock < end) {
      this.clock = Math.min(end, this.clock + 1000);
      for (const [name, N] of this.nodes) if (!this.dead.has(name)) this.perform(name, N.store.tx(() => N.core.tick()));
      this.run();
    }
  }

  send(from: string, to: string, text: string): Uint8Array {
    const F = this.n(from);
    const { id, actions } = F.store.tx(() => F.core.send(this.n(to).peer.entity, 'text', new TextEncoder().encode(text)));
    this.perform(from, actions);
    this.run();
    return id;
  }

  count(name: string, metric: string): number {
    return this.n(name).actions.filter((a) => a.type === 'metric' && a.name === metric).length;
  }
}

export function line(names: string[], cfg: Partial<CoreConfig> = {}): Net {
  const net = new Net();
  for (const n of names) net.add(n, cfg);
  for (let i = 0; i + 1 < names.length; i++) net.connect(names[i]!, names[i + 1]!);
  return net;
}

export const progress = (net: Net, name: string, id: Uint8Array) =>
  net.n(name).actions.flatMap((a) => (a.type === 'progress' && equalBytes(a.event.id, id) ? [a.event] : []));

/** `from` sends `body` to `to` as an onion through `hops` relays; the network runs until quiet. Returns the message id. */
export function sendOnion(net: Net, from: string, to: string, body: string | Uint8Array, hops: number): Uint8Array {
  const F = net.n(from);
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const { id, actions } = F.store.tx(() => F.core.send(net.n(to).peer.entity, 'text', bytes, undefined, { onion: hops }));
  net.perform(from, actions);
  net.run();
  return id;
}

/** The ONION messages put on links to `to` so far, in order. */
export const onionsTo = (net: Net, to: string): Onion[] =>
  net.wire.filter((f) => f.to === to).map((f) => decodeMessage(f.bytes)).filter((m): m is Onion => m.t === MsgType.ONION);

/** An ONION handing packet `o` to `to` under `id`, signed by `signer` as a (possibly malicious) relay would sign it. */
export function onionSignedBy(net: Net, signer: string, to: string, id: Uint8Array, o: Uint8Array): Onion {
  const S = net.n(signer);
  return { t: MsgType.ONION, id, o, s: signHop(immediateSigner(S.deps.identity.agent), S.deps.identity.certBytes, { id, body: o, hops: [] }, net.n(to).peer.entity).s };
}
