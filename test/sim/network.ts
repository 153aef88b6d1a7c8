/**
 * SimNetwork: runs one real `AgentCore` per graph vertex in this process, on a virtual
 * clock with seeded randomness. It owns what the daemon and the link layer do for a core:
 * identities (deterministic keys and certificates), a MemoryStore per node, in-memory
 * links (peerUp/peerDown on both sides, the real trust gate on every new link), message
 * delivery with latency and jitter through the real wire codec, dialling, ticks, and the
 * counters and trace hash that tests assert on.
 *
 * Every core action is performed here: 'send' is delivered to the neighbour after
 * latency+jitter (per-direction FIFO, like one TCP stream), 'close' takes the link down on
 * both sides, 'dial' opens a link after a handshake delay when both trust gates accept, and
 * every action (including ones this file does not know, so new core actions plug in) is
 * counted and passed to `onAction` hooks. An exception thrown by a core is a bug: it is
 * recorded in `errors` and the run goes on.
 */
import { createHash, type Hash } from 'node:crypto';
import { AgentCore, type Action, type CoreConfig, type LinkId } from '../../agent/core/index.js';
import { equalBytes, utf8, type BoxKey, type SigningKey } from '../../agent/crypto/index.js';
import { decodeCertUnverified, issueCert, type AgentCert } from '../../agent/identity/index.js';
import type { PeerIdentity } from '../../agent/link/link.js';
import { MemoryStore } from '../../agent/store/memory.js';
import { MsgType } from '../../agent/wire/constants.js';
import { WotError } from '../../agent/wire/errors.js';
import { decodeMessage, encodeMessage } from '../../agent/wire/index.js';
import type { ContentKind, WireMessage } from '../../agent/wire/types.js';
import { VirtualClock, type ClockEvent } from './clock.js';
import { Rng } from './rng.js';
import { simBoxKey, simIssueCert, simSigningKey } from './keys.js';
import type { Graph } from './graphs.js';

export interface SimNetworkOptions {
  seed: string;
  graph: Graph;
  /** One-way link latency (default 5 ms). */
  latencyMs?: number;
  /** Extra uniform delay 0..jitterMs per message (default 3 ms); links stay FIFO. */
  jitterMs?: number;
  /** Period of each node's core.tick() (default 1000 ms, like the daemon). */
  tickMs?: number;
  /** Pass every message through encodeMessage/decodeMessage (default true). */
  encode?: boolean;
  coreConfig?: Partial<CoreConfig>;
  /** Virtual start time, ms since epoch (default 2026-01-01T00:00:00Z). */
  startMs?: number;
  /**
   * 'busy' (default): only nodes with something to do tick (see keepTicking in README);
   * 'all': every live node ticks every tickMs, like real daemons (exact, slower at scale).
   */
  tickPolicy?: 'busy' | 'all';
  /** In 'busy' mode a node keeps ticking this long after its last event (default 120 s). */
  busyGraceMs?: number;
  /** Extra reason to keep a node ticking (in 'busy' mode). */
  keepTicking?: (node: SimNode) => boolean;
  /**
   * In 'busy' mode a node that was busy ticks once more even with nothing due (default true).
   * false: when that tick comes and the node has no reason to tick (the reasons that keep a
   * node ticking, see README), its core's tick() is not called — housekeeping only (sweeps,
   * prunes), which changes no decision while nothing is due. Check with traceHash().
   */
  idleTick?: boolean;
  /** Keep every sent message for maxCopiesPerDirectedEdge (default true; turn off for huge floods). */
  record?: boolean;
  /** Hash every delivery into traceHash() (default true; off where no one compares traces: 1–2 % of a flood's CPU in a profile). */
  trace?: boolean;
  /** Delay from a dial to the link coming up (default 3 × latencyMs: Noise XX is 1.5 round trips). */
  handshakeMs?: number;
  /**
   * With idleTick false: keep ticks with nothing due in reserve instead of posting them
   * (default true; same trace and times, fewer clock events). false posts every one (for
   * tests that check the two agree).
   */
  lazyTicks?: boolean;
}

/** One simulated agent. `core` is replaced when the node is revived with restart. */
export interface SimNode {
  readonly index: number;
  core: AgentCore;
  readonly store: MemoryStore;
  readonly entity: SigningKey;
  readonly agent: SigningKey;
  readonly box: BoxKey;
  readonly certBytes: Uint8Array;
  readonly cert: AgentCert;
  /** What neighbours see after the handshake. */
  readonly peer: PeerIdentity;
  /** The address it "listens" on (trust entries of its neighbours point here). */
  readonly addr: string;
  readonly alive: boolean;
  /** This node's own random stream (keys were drawn from it; forks feed the core and jitter). */
  readonly rng: Rng;
}

export interface SimError {
  node: number;
  at: number;
  event: string;
  msgType?: number;
  message: string;
  error: unknown;
}

export interface SentRecord {
  at: number;
  from: number;
  to: number;
  msg: WireMessage;
}

interface Conn {
  a: NodeState;
  b: NodeState;
  linkA: LinkId;
  linkB: LinkId;
  up: boolean;
  /** Last scheduled delivery time a→b and b→a (FIFO per direction). */
  lastAB: number;
  lastBA: number;
}

/** One message on its way to a node; the next one in its box. */
interface Arrival {
  /** The sender's index (the trace needs no more of it). */
  from: number;
  conn: Conn;
  /** SimNetwork.linksDown when it was sent: while unchanged, its link is still up. */
  downs: number;
  toLink: LinkId;
  msg: WireMessage;
  bytes: Uint8Array | undefined;
  next: Arrival | null;
  /** Set at delivery: handed to the core (not lost, decoded). */
  ok: boolean;
}

/**
 * Everything arriving at one node at one instant: one clock event (itself, no closure) handed
 * over in one `core.batch`. Its arrivals are a list in arrival order; the node's boxes not yet
 * delivered are a list too (prev/next), so neither needs an array of its own.
 */
interface ArrivalBox extends ClockEvent {
  readonly to: NodeState;
  first: Arrival;
  last: Arrival;
  prev: ArrivalBox | null;
  next: ArrivalBox | null;
}

/** A node's next tick: one object per tick, no closure or Timer (a flood schedules ~10,000). */
interface TickEvent extends ClockEvent {
  readonly node: NodeState;
}

/**
 * Fields in the order a delivery reads them: V8 lays an object's fields out in the order they
 * are defined, and those that every delivery, tick check and send touches then share one or
 * two cache lines (10,000 agents are far more than the CPU caches hold, so each line of a
 * node's state is a miss).
 */
class NodeState implements SimNode {
  readonly index: number;
  readonly store: MemoryStore;
  core!: AgentCore;
  alive = true;
  /**
   * Arrival boxes not yet delivered, one per instant (SimNetwork.deliver), newest first. A
   * handful at most (a link's latency and jitter span a few milliseconds): a scan beats a Map
   * keyed by time, and a list in the boxes themselves touches no array of the node's.
   */
  boxes: ArrivalBox | null = null;
  /** Set by every activity, read only after one (a small integer, never a boxed double, before). */
  lastActive = 0;
  tickTimer: TickEvent | null = null;
  /**
   * A tick kept in reserve instead of posted (see SimNetwork.ensureTick): its time (-1: none)
   * and its place in the clock's scheduling order.
   */
  reservedAt = -1;
  reservedSeq = 0;
  readonly phase: number;
  readonly links = new Map<LinkId, Conn>();
  readonly netRng: Rng;
  readonly byPeer = new Map<number, Conn>();
  nextLink = 1;
  readonly coreRng: Rng;
  readonly entity: SigningKey;
  readonly agent: SigningKey;
  readonly box: BoxKey;
  readonly certBytes: Uint8Array;
  readonly cert: AgentCert;
  readonly peer: PeerIdentity;
  readonly addr: string;
  readonly rng: Rng;

  constructor(
    index: number,
    store: MemoryStore,
    entity: SigningKey,
    agent: SigningKey,
    box: BoxKey,
    certBytes: Uint8Array,
    cert: AgentCert,
    peer: PeerIdentity,
    addr: string,
    rng: Rng,
    tickMs: number,
  ) {
    this.index = index;
    this.store = store;
    this.entity = entity;
    this.agent = agent;
    this.box = box;
    this.certBytes = certBytes;
    this.cert = cert;
    this.peer = peer;
    this.addr = addr;
    this.rng = rng;
    this.coreRng = rng.fork('core');
    this.netRng = rng.fork('net');
    this.phase = rng.fork('tick').int(tickMs);
  }
}

export const DEFAULT_SIM_START = Date.UTC(2026, 0, 1);
const CERT_VALIDITY_MS = 10 * 365 * 24 * 3600_000;

const TYPE_NAMES = new Map<number, string>(Object.entries(MsgType).map(([name, t]) => [t as number, name]));
/** Printable name of a message type id (e.g. 16 → 'ENVELOPE'). */
export const typeName = (t: number): string => TYPE_NAMES.get(t) ?? `T${t}`;

/** Adds one to `key`'s count. */
function count(cells: Map<string, { n: number }>, key: string): void {
  const c = cells.get(key);
  if (c) c.n++;
  else cells.set(key, { n: 1 });
}

/** Map key for bytes (latin1: one char per byte). */
const bkey = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/** 10.x.y.z:7000 from a node index, so addresses look like the daemon's host:port. */
const simAddr = (i: number): string => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}:${7000 + (i >>> 24)}`;

/** The id a trace record uses for a message: its id, qid or subject, else none. */
function traceId(m: WireMessage): Uint8Array | undefined {
  const o = m as { id?: unknown; qid?: unknown; about?: unknown };
  const v = o.id ?? o.qid ?? o.about;
  return v instanceof Uint8Array ? v : undefined;
}

/** Trace records are collected in a buffer this size and hashed a buffer at a time. */
const TRACE_CHUNK = 65_536;
/** A trace record: time (f64), from, to (u32), type, id length (u8), then at most 255 bytes of id. */
const TRACE_RECORD_MAX = 8 + 4 + 4 + 1 + 1 + 255;

export class SimNetwork {
  /**
   * Virtual time in ms since `startMs` (now() adds it back): times this small are small
   * integers to V8, so events, buckets and the cores' monotonic readings carry no boxed
   * double (every event and every timestamp the cores keep allocated one when the clock ran
   * on epoch milliseconds).
   */
  readonly clock: VirtualClock;
  readonly rng: Rng;
  readonly n: number;
  /** Exceptions thrown by cores (or codec failures on their messages): each one is a bug. */
  readonly errors: SimError[] = [];
  /** Sent messages (when `record` is on), in send order. */
  readonly sent: SentRecord[] = [];
  /** Counts behind `metrics` and `actionCounts` (one look-up per action, no re-insert). */
  private readonly metricCells = new Map<string, { n: number }>();
  private readonly actionCells = new Map<string, { n: number }>();
  readonly counters = {
    /** Messages handed to a link. */
    sent: 0,
    bytes: 0,
    /** Messages handed to the receiving core. */
    delivered: 0,
    /** Messages lost in flight (link closed or receiver killed before arrival). */
    lost: 0,
    /** 'send' actions naming a link that is not up. */
    sendNoLink: 0,
    dials: 0,
    dialsFailed: 0,
    gateRefused: 0,
    ticks: 0,
  };
  /** Messages currently in flight. */
  inFlight = 0;
  /** Links taken down so far (see Arrival.downs). */
  private linksDown = 0;
  /**
   * Ticks with nothing due are kept in reserve rather than posted (see ensureTick): with
   * idleTick false they would run and do nothing, and a flood leaves one behind per agent it
   * touched (a third of all clock events of a discovery, and the look-ups of every such
   * agent's outbox and timers when it ran). Not with a keepTicking hook (it may say yes at
   * any time) or tickPolicy 'all'.
   */
  private readonly lazyTicks: boolean;
  /** The latest time of a tick reserved so far (not forgotten by kill): see runUntilIdle. */
  private reservedMax = -Infinity;

  /** Sum of 'metric' actions over all nodes, by name (a snapshot). */
  get metrics(): Map<string, number> {
    return new Map([...this.metricCells].map(([k, c]) => [k, c.n]));
  }

  /** Actions performed, by action type, all nodes (a snapshot). */
  get actionCounts(): Map<string, number> {
    return new Map([...this.actionCells].map(([k, c]) => [k, c.n]));
  }

  private readonly nodes: NodeState[] = [];
  private readonly byEntity = new Map<string, number>();
  private readonly byAddr = new Map<string, number>();
  private readonly byType = new Map<number, { count: number; bytes: number; edges: Map<number, number> }>();
  private readonly hooks: Array<(node: number, action: Action) => void> = [];
  private readonly pendingDials = new Set<number>();
  private readonly trace: Hash = createHash('sha256');
  private readonly traceBuf = Buffer.allocUnsafe(TRACE_CHUNK);
  /** The same bytes: its little-endian writes compile to plain stores (Buffer's write methods check and call). */
  private readonly traceView = new DataView(this.traceBuf.buffer, this.traceBuf.byteOffset, TRACE_CHUNK);
  private traceLen = 0;
  private readonly opts: Required<Omit<SimNetworkOptions, 'keepTicking' | 'lazyTicks' | 'coreConfig' | 'graph' | 'seed'>> & {
    keepTicking?: (node: SimNode) => boolean;
    coreConfig: Partial<CoreConfig>;
  };
  private readonly t0: number;
  private building = true;

  constructor(opts: SimNetworkOptions) {
    const latencyMs = opts.latencyMs ?? 5;
    this.opts = {
      latencyMs,
      jitterMs: opts.jitterMs ?? 3,
      tickMs: opts.tickMs ?? 1000,
      encode: opts.encode ?? true,
      coreConfig: opts.coreConfig ?? {},
      startMs: opts.startMs ?? DEFAULT_SIM_START,
      tickPolicy: opts.tickPolicy ?? 'busy',
      busyGraceMs: opts.busyGraceMs ?? 120_000,
      record: opts.record ?? true,
      trace: opts.trace ?? true,
      handshakeMs: opts.handshakeMs ?? 3 * latencyMs,
      idleTick: opts.idleTick ?? true,
      ...(opts.keepTicking ? { keepTicking: opts.keepTicking } : {}),
    };
    if (!(this.opts.tickMs > 0)) throw new WotError('ERR_BAD_REQUEST', `SimNetwork: tickMs must be > 0, got ${this.opts.tickMs}`);
    this.t0 = this.opts.startMs;
    this.lazyTicks = !this.opts.idleTick && this.opts.tickPolicy === 'busy' && !this.opts.keepTicking && (opts.lazyTicks ?? true);
    this.clock = new VirtualClock(0);
    this.rng = new Rng(opts.seed);
    this.n = opts.graph.n;
    for (let i = 0; i < this.n; i++) this.nodes.push(this.makeNode(i));
    for (const [a, b] of opts.graph.edges) this.addEdge(a, b);
    this.building = false;
    if (this.opts.tickPolicy === 'all') for (const node of this.nodes) this.ensureTick(node);
  }

  // ---------------------------------------------------------------- building

  private makeNode(i: number): NodeState {
    const r = this.rng.fork(`node/${i}`);
    // Same keys as signingKeyFromSeed / boxKeyFromSecret of these bytes, derived faster (keys.ts).
    const entity = simSigningKey(r.bytes(32));
    const agent = simSigningKey(r.bytes(32));
    const box = simBoxKey(r.bytes(32));
    const fields = { agent: agent.publicKey, x25519: box.publicKey, notBefore: this.t0 - 3600_000, notAfter: this.t0 + CERT_VALIDITY_MS, seq: 1 };
    const certBytes = simIssueCert(entity, fields);
    // Once per network: the fast path must give exactly the bytes of the real issueCert.
    if (i === 0 && !equalBytes(certBytes, issueCert(entity, fields))) {
      throw new WotError('ERR_INTERNAL', 'test/sim/keys.ts simIssueCert no longer matches agent/identity issueCert', 'update simIssueCert to the new certificate layout');
    }
    // We just issued it; the cores verify it whenever it matters.
    const cert = decodeCertUnverified(certBytes);
    const addr = simAddr(i);
    const peer: PeerIdentity = {
      agent: agent.publicKey,
      entity: entity.publicKey,
      cert,
      certBytes,
      remoteAddress: addr.slice(0, addr.lastIndexOf(':')),
      remotePort: Number(addr.slice(addr.lastIndexOf(':') + 1)),
    };
    const node = new NodeState(i, new MemoryStore(), entity, agent, box, certBytes, cert, peer, addr, r, this.opts.tickMs);
    node.core = this.makeCore(node);
    this.byEntity.set(bkey(entity.publicKey), i);
    this.byAddr.set(addr, i);
    return node;
  }

  /** Every core's clocks: one function each for all (a core reads them twice per message). */
  private readonly nowFn = (): number => this.t0 + this.clock.now();
  /** Monotonic: ms since the network was made (the daemon's is performance.now()). */
  private readonly monoFn = (): number => this.clock.now();

  private makeCore(node: NodeState): AgentCore {
    return new AgentCore(
      {
        identity: { entityPub: node.entity.publicKey, agent: node.agent, box: node.box, certBytes: node.certBytes, cert: node.cert },
        store: node.store,
        now: this.nowFn,
        mono: this.monoFn,
        randomBytes: (k) => node.coreRng.bytes(k),
        addrs: () => [node.addr],
      },
      this.opts.coreConfig,
    );
  }

  /** Mutual trust (how 'manual', with the other's address) and a link. */
  private addEdge(a: number, b: number): void {
    const na = this.nodeState(a);
    const nb = this.nodeState(b);
    if (a === b) throw new WotError('ERR_BAD_REQUEST', `graph edge ${a}-${b} is a self loop`);
    const now = this.now();
    for (const [x, y] of [
      [na, nb],
      [nb, na],
    ] as const) {
      x.store.trust.upsert({ entity: y.entity.publicKey, petname: null, how: 'manual', addedAt: now, state: 'active', addr: y.addr, updatedAt: now, note: null });
    }
    this.openLink(na, nb);
  }

  // ---------------------------------------------------------------- nodes

  node(i: number): SimNode {
    return this.nodeState(i);
  }

  private nodeState(i: number): NodeState {
    const node = this.nodes[i];
    if (!node) throw new WotError('ERR_BAD_REQUEST', `no node ${i} (the network has ${this.n})`);
    return node;
  }

  /** Node index of an entity key, if it is one of ours. */
  indexOf(entity: Uint8Array): number | undefined {
    return this.byEntity.get(bkey(entity));
  }

  /** Indices of the nodes i has an open link to, ascending. */
  neighbours(i: number): number[] {
    return [...this.nodeState(i).byPeer.keys()].sort((x, y) => x - y);
  }

  isLinked(a: number, b: number): boolean {
    return this.nodeState(a).byPeer.get(b)?.up === true;
  }

  now(): number {
    return this.t0 + this.clock.now();
  }

  // ---------------------------------------------------------------- links

  /**
   * Opens a link now (no handshake delay) if both are alive, not linked, and both trust
   * gates accept (initiator a, responder b). Returns whether the link is up.
   */
  connect(a: number, b: number): boolean {
    return this.openLink(this.nodeState(a), this.nodeState(b));
  }

  /** Takes the link between a and b down on both sides (in-flight messages are lost). */
  disconnect(a: number, b: number): boolean {
    const conn = this.nodeState(a).byPeer.get(b);
    if (!conn) return false;
    this.closeConn(conn);
    return true;
  }

  private openLink(a: NodeState, b: NodeState): boolean {
    if (a === b || !a.alive || !b.alive || a.byPeer.has(b.index)) return false;
    const ga = this.gate(a, { peer: b.peer, responder: false });
    const gb = ga && this.gate(b, { peer: a.peer, responder: true });
    if (!ga || !gb) {
      this.counters.gateRefused++;
      return false;
    }
    const conn: Conn = { a, b, linkA: a.nextLink++, linkB: b.nextLink++, up: true, lastAB: 0, lastBA: 0 };
    a.links.set(conn.linkA, conn);
    a.byPeer.set(b.index, conn);
    b.links.set(conn.linkB, conn);
    b.byPeer.set(a.index, conn);
    this.activity(a);
    this.activity(b);
    this.call(a, 'peerUp', () => a.core.peerUp(conn.linkA, b.peer, { addrs: [b.addr] }));
    // a's peerUp actions may have closed the link again.
    if (conn.up) this.call(b, 'peerUp', () => b.core.peerUp(conn.linkB, a.peer, { addrs: [a.addr] }));
    // The gates ran before the activity that may have reserved b's tick.
    this.checkReserved(a);
    this.checkReserved(b);
    return conn.up;
  }

  private gate(node: NodeState, input: Parameters<AgentCore['gate']>[0]): boolean {
    try {
      return node.store.tx(() => node.core.gate(input)).ok;
    } catch (e) {
      this.recordError(node, 'gate', e);
      return false;
    }
  }

  private closeConn(conn: Conn): void {
    if (!conn.up) return;
    conn.up = false;
    this.linksDown++;
    conn.a.links.delete(conn.linkA);
    conn.a.byPeer.delete(conn.b.index);
    conn.b.links.delete(conn.linkB);
    conn.b.byPeer.delete(conn.a.index);
    this.activity(conn.a);
    this.activity(conn.b);
    this.call(conn.a, 'peerDown', () => conn.a.core.peerDown(conn.linkA));
    this.call(conn.b, 'peerDown', () => conn.b.core.peerDown(conn.linkB));
  }

  private dial(from: NodeState, entity: Uint8Array, addr: string): void {
    this.counters.dials++;
    const ti = this.byAddr.get(addr);
    if (ti === undefined) {
      this.counters.dialsFailed++;
      return;
    }
    const key = from.index * this.n + ti;
    if (from.byPeer.has(ti) || this.pendingDials.has(key)) return;
    this.pendingDials.add(key);
    this.clock.after(this.opts.handshakeMs, () => {
      this.pendingDials.delete(key);
      const to = this.nodes[ti]!;
      if (!from.alive || from.byPeer.has(ti)) return;
      // A dead node refuses the connection; a different key at the address fails the handshake.
      if (!to.alive || !equalBytes(to.entity.publicKey, entity)) {
        this.counters.dialsFailed++;
        return;
      }
      this.openLink(from, to);
    });
  }

  // ---------------------------------------------------------------- node lifecycle

  /** Stops node i: its links go down on both sides, messages to it are lost, it stops ticking. */
  kill(i: number): void {
    const node = this.nodeState(i);
    if (!node.alive) return;
    node.alive = false;
    if (node.tickTimer) {
      this.clock.cancel(node.tickTimer);
      // A cancelled tick never moves the clock: if it was a reserved one posted, forget its time.
      const at = node.tickTimer.at;
      node.tickTimer = null;
      if (this.lazyTicks) this.dropReserved(node, at);
    }
    if (node.reservedAt >= 0) this.dropReserved(node, node.reservedAt);
    const conns = [...node.byPeer.values()];
    // Take every link down first, so nothing the dying core does can use one.
    for (const c of conns) {
      c.up = false;
      this.linksDown++;
      c.a.links.delete(c.linkA);
      c.a.byPeer.delete(c.b.index);
      c.b.links.delete(c.linkB);
      c.b.byPeer.delete(c.a.index);
    }
    for (const c of conns) {
      const other = c.a === node ? c.b : c.a;
      const otherLink = c.a === node ? c.linkB : c.linkA;
      this.activity(other);
      this.call(node, 'peerDown', () => node.core.peerDown(c.a === node ? c.linkA : c.linkB));
      this.call(other, 'peerDown', () => other.core.peerDown(otherLink));
    }
  }

  /**
   * Starts node i again. restart (default true): a fresh AgentCore on the same store, as a
   * daemon restart (in-memory state such as routes and the forwarding log is gone).
   * reconnect (default true): dials every active trusted entity with an address, as the
   * daemon does at start; with false it waits for others to dial it.
   */
  revive(i: number, opts: { restart?: boolean; reconnect?: boolean } = {}): void {
    const node = this.nodeState(i);
    if (node.alive) return;
    node.alive = true;
    if (opts.restart ?? true) node.core = this.makeCore(node);
    this.activity(node);
    this.checkReserved(node);
    if (opts.reconnect ?? true) {
      for (const t of node.store.trust.list()) {
        if (t.state === 'active' && t.addr) this.dial(node, t.entity, t.addr);
      }
    }
  }

  // ---------------------------------------------------------------- API calls

  /**
   * Runs an API call on node i's core (e.g. `c => c.discover(x)`) and performs its actions.
   * Exceptions propagate to the caller (API calls may legitimately refuse).
   */
  step(i: number, fn: (core: AgentCore) => Action[]): void {
    const node = this.live(i);
    const actions = node.store.tx(() => fn(node.core));
    this.activity(node);
    this.perform(node, actions);
    this.checkReserved(node);
  }

  /**
   * Puts a raw message on the link from → to, as if from's agent had sent it (a
   * misbehaving or flooding neighbour). Returns false when they are not linked.
   */
  inject(from: number, to: number, msg: WireMessage): boolean {
    const a = this.live(from);
    const conn = a.byPeer.get(to);
    if (!conn || !conn.up) return false;
    this.transmit(a, conn, msg);
    return true;
  }

  /** node `from` sends a message to node `to` (core.send); returns the message id. */
  send(from: number, to: number, body: string | Uint8Array, kind: ContentKind = 'text', name?: string): Uint8Array {
    const node = this.live(from);
    const target = this.nodeState(to).entity.publicKey;
    const bytes = typeof body === 'string' ? utf8(body) : body;
    const r = node.store.tx(() => node.core.send(target, kind, bytes, name));
    this.activity(node);
    this.perform(node, r.actions);
    this.checkReserved(node);
    return r.id;
  }

  private live(i: number): NodeState {
    const node = this.nodeState(i);
    if (!node.alive) throw new WotError('ERR_NOT_RUNNING', `node ${i} is killed`, 'revive it first');
    return node;
  }

  /** Calls fn(node, action) for every action any core returns, after the network performed it. */
  onAction(fn: (node: number, action: Action) => void): () => void {
    this.hooks.push(fn);
    return () => {
      const k = this.hooks.indexOf(fn);
      if (k >= 0) this.hooks.splice(k, 1);
    };
  }

  // ---------------------------------------------------------------- running

  /** Advances virtual time by ms, running everything due. */
  run(ms: number): void {
    this.clock.runUntil(this.clock.now() + ms);
  }

  /** Runs everything due up to the absolute time tMs (ms since epoch, like now()). */
  runUntil(tMs: number): void {
    this.clock.runUntil(tMs - this.t0);
  }

  /**
   * Runs until nothing is scheduled (no message in flight, no dial, no busy node), or for
   * at most maxMs of virtual time. Returns true when it went idle. With tickPolicy 'all'
   * it never goes idle: use run(ms).
   */
  runUntilIdle(maxMs = 24 * 3600_000): boolean {
    const limit = this.clock.now() + maxMs;
    this.clock.runDue(limit);
    // Ticks kept in reserve (lazyTicks) would have run, doing nothing, and moved the clock on.
    if (this.reservedMax > this.clock.now() && this.reservedMax <= limit) this.clock.runUntil(this.reservedMax);
    if (this.clock.nextAt() === undefined && !(this.reservedMax > limit)) return true;
    this.clock.runUntil(limit);
    return false;
  }

  // ---------------------------------------------------------------- performing actions

  private call(node: NodeState, event: string, fn: () => Action[], msgType?: number): void {
    let actions: Action[];
    try {
      actions = node.store.tx(fn);
    } catch (e) {
      this.recordError(node, event, e, msgType);
      this.checkReserved(node);
      return;
    }
    if (node.alive) this.perform(node, actions);
    this.checkReserved(node);
  }

  private recordError(node: NodeState, event: string, e: unknown, msgType?: number): void {
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
    this.errors.push({ node: node.index, at: this.now(), event, ...(msgType !== undefined ? { msgType } : {}), message, error: e });
  }

  private perform(node: NodeState, actions: Action[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send': {
          const conn = node.links.get(a.link);
          if (!conn || !conn.up) this.counters.sendNoLink++;
          else this.transmit(node, conn, a.msg);
          break;
        }
        case 'dial':
          this.dial(node, a.entity, a.addr);
          break;
        case 'close': {
          const conn = node.links.get(a.link);
          if (conn) this.closeConn(conn);
          break;
        }
        case 'metric':
          count(this.metricCells, a.name);
          break;
        default:
          break;
      }
      count(this.actionCells, a.type);
      for (const h of this.hooks) h(node.index, a);
    }
  }

  private transmit(from: NodeState, conn: Conn, msg: WireMessage): void {
    const forward = conn.a === from;
    const to = forward ? conn.b : conn.a;
    const toLink = forward ? conn.linkB : conn.linkA;
    let bytes: Uint8Array | undefined;
    if (this.opts.encode) {
      try {
        bytes = encodeMessage(msg);
      } catch (e) {
        this.recordError(from, 'encode', e, msg.t);
        return;
      }
    }
    const now = this.clock.now();
    const size = bytes?.length ?? 0;
    this.counters.sent++;
    this.counters.bytes += size;
    let st = this.byType.get(msg.t);
    if (!st) this.byType.set(msg.t, (st = { count: 0, bytes: 0, edges: new Map() }));
    st.count++;
    st.bytes += size;
    if (this.opts.record) {
      const ek = from.index * this.n + to.index;
      st.edges.set(ek, (st.edges.get(ek) ?? 0) + 1);
      this.sent.push({ at: this.t0 + now, from: from.index, to: to.index, msg });
    }
    const jitter = this.opts.jitterMs > 0 ? from.netRng.int(this.opts.jitterMs + 1) : 0;
    let at = now + this.opts.latencyMs + jitter;
    if (forward) {
      if (at < conn.lastAB) at = conn.lastAB;
      conn.lastAB = at;
    } else {
      if (at < conn.lastBA) at = conn.lastBA;
      conn.lastBA = at;
    }
    this.inFlight++;
    // Everything arriving at one node at one instant is handed over in one event, as the
    // daemon commits what arrived in one event-loop turn together (one signing batch).
    const item: Arrival = { from: from.index, conn, downs: this.linksDown, toLink, msg, bytes, next: null, ok: false };
    let box = to.boxes;
    while (box !== null && box.at !== at) box = box.next;
    if (box === null) {
      box = { at, fn: this.deliverBox, seq: 0, to, first: item, last: item, prev: null, next: to.boxes };
      if (to.boxes !== null) to.boxes.prev = box;
      to.boxes = box;
      this.clock.postEvent(box);
    } else {
      box.last.next = item;
      box.last = item;
    }
  }

  private readonly deliverBox = (box: ArrivalBox): void => this.deliver(box);

  private deliver(ev: ArrivalBox): void {
    const { to, at } = ev;
    if (ev.prev !== null) ev.prev.next = ev.next;
    else to.boxes = ev.next;
    if (ev.next !== null) ev.next.prev = ev.prev;
    let k = 0;
    let one: Arrival | null = null;
    for (let item: Arrival | null = ev.first; item !== null; item = item.next) {
      this.inFlight--;
      // The link's own flag only when some link went down since it was sent (one object less to read).
      if ((item.downs !== this.linksDown && !item.conn.up) || !to.alive) {
        this.counters.lost++;
        continue;
      }
      if (item.bytes) {
        try {
          item.msg = decodeMessage(item.bytes);
        } catch (e) {
          this.recordError(to, 'decode', e, item.msg.t);
          continue;
        }
      }
      this.counters.delivered++;
      if (this.opts.trace) this.traceRecord(this.t0 + at, item.from, to.index, item.msg);
      item.ok = true;
      one = item;
      k++;
    }
    if (k === 0) return;
    this.activity(to);
    if (k === 1) {
      const { toLink, msg } = one!;
      this.call(to, 'onMessage', () => to.core.onMessage(toLink, msg), msg.t);
      return;
    }
    this.call(to, 'onMessage', () =>
      to.core.batch(() => {
        const out: Action[] = [];
        for (let item: Arrival | null = ev.first; item !== null; item = item.next) {
          if (!item.ok) continue;
          const { toLink, msg } = item;
          try {
            for (const a of to.core.onMessage(toLink, msg)) out.push(a);
          } catch (e) {
            this.recordError(to, 'onMessage', e, msg.t);
          }
        }
        return out;
      }),
    );
  }

  /** Appends one delivery to the trace (hashed a 64 KiB buffer at a time: one native call per ~3,000 deliveries). */
  private traceRecord(at: number, from: number, to: number, m: WireMessage): void {
    const id = traceId(m);
    const idLen = id ? Math.min(id.length, 255) : 0;
    if (this.traceLen + TRACE_RECORD_MAX > TRACE_CHUNK) this.flushTrace();
    const b = this.traceBuf;
    const v = this.traceView;
    let o = this.traceLen;
    v.setFloat64(o, at, true);
    v.setUint32(o + 8, from, true);
    v.setUint32(o + 12, to, true);
    o += 16;
    b[o++] = m.t;
    b[o++] = idLen;
    if (id) {
      b.set(idLen === id.length ? id : id.subarray(0, idLen), o);
      o += idLen;
    }
    this.traceLen = o;
  }

  private flushTrace(): void {
    if (this.traceLen === 0) return;
    this.trace.update(this.traceBuf.subarray(0, this.traceLen));
    this.traceLen = 0;
  }

  // ---------------------------------------------------------------- ticks

  /** Something happened at node: keep it ticking for a while ('busy' mode). */
  private activity(node: NodeState): void {
    if (this.building) return;
    node.lastActive = this.clock.now();
    this.ensureTick(node, this.lazyTicks);
  }

  /**
   * Schedules node's next tick unless one is pending. `reserve` (lazy ticks, see
   * `lazyTicks`): when the tick would have nothing due as things stand, it only takes its
   * place in the clock's order (clock.reserve); `checkReserved` posts it there as soon as a
   * call into the node leaves something due. A tick that stays in reserve is one that would
   * have run and done nothing (idleTick false), so the order of everything that does run is
   * the same; `runUntilIdle` moves the clock over such ticks as it would have run them.
   */
  private ensureTick(node: NodeState, reserve = false): void {
    if (node.tickTimer || !node.alive) return;
    if (node.reservedAt >= 0) {
      if (!this.clock.isPast(node.reservedAt, node.reservedSeq)) {
        // Pending: activity since may have brought it within the grace period.
        if (node.reservedAt - node.lastActive < this.opts.busyGraceMs) this.postReservedTick(node);
        return;
      }
      node.reservedAt = -1;
    }
    const tick = this.opts.tickMs;
    const base = node.phase;
    const k = Math.floor((this.clock.now() - base) / tick) + 1;
    const at = base + k * tick;
    if (reserve && !(at - node.lastActive < this.opts.busyGraceMs)) {
      node.reservedAt = at;
      node.reservedSeq = this.clock.reserve();
      if (at > this.reservedMax) this.reservedMax = at;
      return;
    }
    node.tickTimer = { at, fn: this.tickFn, seq: 0, node };
    this.clock.postEvent(node.tickTimer);
  }

  /** After a call into node: a tick it holds in reserve is posted if something is due now. */
  private checkReserved(node: NodeState): void {
    if (node.reservedAt < 0 || !node.alive) return;
    if (this.clock.isPast(node.reservedAt, node.reservedSeq)) node.reservedAt = -1;
    else if (this.somethingDue(node)) this.postReservedTick(node);
  }

  private postReservedTick(node: NodeState): void {
    node.tickTimer = { at: node.reservedAt, fn: this.tickFn, seq: node.reservedSeq, node };
    node.reservedAt = -1;
    this.clock.postReserved(node.tickTimer);
  }

  /** Drops node's reserved tick (it is killed); `reservedMax` forgets it. */
  private dropReserved(node: NodeState, at: number): void {
    node.reservedAt = -1;
    if (at < this.reservedMax) return;
    this.reservedMax = -Infinity;
    for (const x of this.nodes) if (x.reservedAt > this.reservedMax) this.reservedMax = x.reservedAt;
    for (const x of this.nodes) if (x.tickTimer && x.tickTimer.at > this.reservedMax) this.reservedMax = x.tickTimer.at;
  }

  private readonly tickFn = (ev: TickEvent): void => this.onTick(ev.node);

  private onTick(node: NodeState): void {
    node.tickTimer = null;
    if (!node.alive) return;
    if (!this.opts.idleTick && !this.keepTicking(node, 0)) return;
    this.counters.ticks++;
    let produced = 0;
    this.call(node, 'tick', () => {
      const a = node.core.tick();
      produced = a.length;
      return a;
    });
    if (node.alive && this.keepTicking(node, produced)) this.ensureTick(node);
  }

  private keepTicking(node: NodeState, produced: number): boolean {
    if (this.opts.tickPolicy === 'all' || produced > 0) return true;
    if (this.clock.now() - node.lastActive < this.opts.busyGraceMs) return true;
    if (this.somethingDue(node)) return true;
    return this.opts.keepTicking?.(node) ?? false;
  }

  /** What in node's own state keeps it ticking: messages waiting in its outbox, or its core's timers. */
  private somethingDue(node: NodeState): boolean {
    if (node.store.outbox.countPending() > 0) return true;
    const wants = (node.core as unknown as { wantsTick?: () => boolean }).wantsTick;
    return typeof wants === 'function' && wants.call(node.core);
  }

  /** Nodes with a tick scheduled. */
  tickingNodes(): number {
    let n = 0;
    for (const node of this.nodes) if (node.tickTimer || (node.reservedAt >= 0 && !this.clock.isPast(node.reservedAt, node.reservedSeq))) n++;
    return n;
  }

  // ---------------------------------------------------------------- counters

  /** Messages sent and bytes, by type name (e.g. { ENVELOPE: { count, bytes } }). */
  sentByType(): Record<string, { count: number; bytes: number }> {
    const out: Record<string, { count: number; bytes: number }> = {};
    for (const [t, st] of [...this.byType].sort((x, y) => x[0] - y[0])) out[typeName(t)] = { count: st.count, bytes: st.bytes };
    return out;
  }

  /** Messages of these types sent so far, all nodes (no snapshot of every type, as sentByType makes). */
  sentCount(...types: number[]): number {
    let n = 0;
    for (const t of types) n += this.byType.get(t)?.count ?? 0;
    return n;
  }

  /** How many messages of `type` crossed the directed edge from → to. Needs `record` on. */
  edgeCount(type: number, from: number, to: number): number {
    this.needRecord('edgeCount');
    return this.byType.get(type)?.edges.get(from * this.n + to) ?? 0;
  }

  /** Every directed edge that carried messages of `type`, with counts. Needs `record` on. */
  edgeCounts(type: number): Array<{ from: number; to: number; count: number }> {
    this.needRecord('edgeCounts');
    const edges = this.byType.get(type)?.edges;
    if (!edges) return [];
    return [...edges].map(([k, count]) => ({ from: Math.floor(k / this.n), to: k % this.n, count }));
  }

  /**
   * The largest number of messages of `type` with the same key (keyFn, e.g. the qid in
   * hex) that crossed one directed edge; 0 when none was sent. Needs `record` on.
   */
  maxCopiesPerDirectedEdge(type: number, keyFn: (msg: WireMessage) => string): number {
    this.needRecord('maxCopiesPerDirectedEdge');
    const counts = new Map<string, number>();
    let max = 0;
    for (const r of this.sent) {
      if (r.msg.t !== type) continue;
      const key = `${r.from}>${r.to}|${keyFn(r.msg)}`;
      const c = (counts.get(key) ?? 0) + 1;
      counts.set(key, c);
      if (c > max) max = c;
    }
    return max;
  }

  private needRecord(what: string): void {
    if (!this.opts.record) throw new WotError('ERR_BAD_REQUEST', `${what} needs the sent-message log`, 'create the SimNetwork with record: true');
  }

  /**
   * sha256 (hex) over one record per delivered message so far, in delivery order: its
   * time (f64 LE), from and to (u32 LE), type (u8), and its id, qid or subject (a length
   * byte, then the bytes).
   */
  traceHash(): string {
    if (!this.opts.trace) throw new WotError('ERR_BAD_REQUEST', 'traceHash needs the trace', 'create the SimNetwork with trace: true (the default)');
    this.flushTrace();
    return this.trace.copy().digest('hex');
  }
}
