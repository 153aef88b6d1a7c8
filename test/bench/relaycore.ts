/**
 * One relay's work per message, in one process on one core: B's real AgentCore with its
 * SQLite store, fed exactly what a daemon in the middle of a line A→B→C→D gets — envelopes
 * from A (decoded from their wire bytes), then from C the HOLDs, the progress reports and
 * D's acks for them — grouped as the daemon groups them (inbound.ts: one transaction and one
 * signing batch per turn, a savepoint per message), and everything B sends encoded to bytes.
 * No sockets and no Noise: what is left is the relay's own logic, custody and codec, measured
 * in CPU time per relayed message, which other load on the machine hardly moves.
 *
 * Baseline in the same run: the same core on the in-memory store (the simulator's), i.e. the
 * same work without durable custody; the ratio is what durability costs. Then the SQLite run
 * again with one message per turn, against the batched run: what a relay pays per message
 * when messages arrive one at a time (the relay line at half load).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentCore, type Action } from '../../agent/core/core.js';
import { BatchSigner, PENDING_SIG } from '../../agent/core/batch.js';
import { ackBytes, reportBytes } from '../../agent/core/core.js';
import { signHop } from '../../agent/core/path.js';
import { randomBytes } from '../../agent/crypto/index.js';
import type { PeerIdentity } from '../../agent/link/index.js';
import { Store, type CoreStore } from '../../agent/store/index.js';
import { MemoryStore } from '../../agent/store/memory.js';
import { Domain, MsgType } from '../../agent/wire/constants.js';
import { decodeMessage, encodeMessage } from '../../agent/wire/index.js';
import type { Ack, Envelope, Report, WireMessage } from '../../agent/wire/types.js';
import { compare, type Bench, type BenchOptions, type BenchReport } from './lib.js';
import { benchParty, type Party } from './party.js';

const peerOf = (p: Party, port: number): PeerIdentity => ({
  agent: p.agent.publicKey,
  entity: p.entity.publicKey,
  cert: p.cert,
  certBytes: p.certBytes,
  remoteAddress: '127.0.0.1',
  remotePort: port,
});

interface RunResult {
  messages: number;
  cpuUs: number;
  perMessageUs: number;
  sentBytes: number;
  /** Envelopes B sent on to C, warm-up included (each of the warm-up + n must be). */
  forwarded: number;
  custodyLeft: number;
  /** Bytes this process wrote (write syscalls: here only SQLite's database and WAL) per relayed message; null off Linux. */
  writtenPerMessage: number | null;
}

/** Bytes written by this process so far (`wchar` of /proc/self/io), null where there is none. */
function bytesWritten(): number | null {
  try {
    const m = /^wchar: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Relays `n` envelopes A→B→C in batches of `batch`, B's store made by `open`. */
function runRelay(open: () => { store: CoreStore; close: () => void }, n: number, batch: number, warm: number): RunResult {
  const now0 = Date.now();
  const [A, B, C, D] = [benchParty(now0), benchParty(now0), benchParty(now0), benchParty(now0)];
  const { store, close } = open();
  try {
    for (const p of [A, C]) {
      store.trust.upsert({ entity: p.entity.publicKey, petname: null, how: 'manual', addedAt: now0, state: 'active', addr: null, updatedAt: now0, note: null });
    }
    const core = new AgentCore({
      identity: { entityPub: B.entity.publicKey, agent: B.agent, box: B.box, certBytes: B.certBytes, cert: B.cert },
      store,
      now: () => Date.now(),
      mono: () => performance.now(),
      randomBytes,
      addrs: () => ['127.0.0.1:1'],
    });
    const LA = 1;
    const LC = 2;
    store.tx(() => core.peerUp(LA, peerOf(A, 1)));
    store.tx(() => core.peerUp(LC, peerOf(C, 2)));

    // What A sends (its hop entry signed in batches, as a sender's core does) and what C and D
    // answer, all made before the clock starts.
    const total = warm + n;
    const body = randomBytes(700);
    const aSigner = new BatchSigner(A.agent);
    const cSigner = new BatchSigner(C.agent);
    const dSigner = new BatchSigner(D.agent);
    const envs: Uint8Array[] = [];
    const answers: Uint8Array[][] = [];
    const exp = now0 + 3600_000;
    for (let i = 0; i < total; i += batch) {
      const ids = Array.from({ length: Math.min(batch, total - i) }, () => randomBytes(16));
      const made: Envelope[] = [];
      aSigner.run(() => {
        for (const id of ids) {
          const env: Envelope = { t: MsgType.ENVELOPE, id, to: D.entity.publicKey, exp, route: [C.entity.publicKey, D.entity.publicKey], body, hops: [] };
          env.hops = [signHop(aSigner, A.certBytes, env, B.entity.publicKey)];
          made.push(env);
        }
      });
      for (const env of made) envs.push(encodeMessage(env)); // once the batch is signed
      const back: WireMessage[] = [];
      cSigner.run(() => {
        for (const id of ids) {
          back.push({ t: MsgType.HOLD, id });
          const rep: Report = { t: MsgType.REPORT, id, st: 'forwarded', ts: now0, s: PENDING_SIG, c: C.certBytes };
          cSigner.sign(Domain.REPORT, reportBytes(id, 'forwarded', now0), rep);
          back.push(rep);
        }
      });
      dSigner.run(() => {
        for (const id of ids) {
          const ack: Ack = { t: MsgType.ACK, id, st: 'delivered', by: D.agent.publicKey, s: PENDING_SIG, c: D.certBytes };
          dSigner.sign(Domain.ACK, ackBytes(id, 'delivered'), ack);
          back.push(ack);
        }
      });
      answers.push(back.map((m) => encodeMessage(m)));
    }

    let sentBytes = 0;
    let forwarded = 0;
    const perform = (actions: Action[]): void => {
      for (const a of actions) {
        if (a.type !== 'send') continue;
        sentBytes += encodeMessage(a.msg).length;
        if (a.msg.t === MsgType.ENVELOPE) forwarded++;
      }
    };
    /** One daemon turn: decode, one transaction and signing batch, a savepoint per message. */
    const turn = (link: number, wire: Uint8Array[]): void => {
      const msgs = wire.map((b) => decodeMessage(b));
      perform(store.tx(() => core.batch(() => msgs.flatMap((m, i) => store.tx(() => core.onMessage(link, m, wire[i]))))));
    };
    let c0 = process.cpuUsage();
    let w0 = bytesWritten();
    for (let i = 0, b = 0; i < total; i += batch, b++) {
      if (i === warm) {
        c0 = process.cpuUsage();
        w0 = bytesWritten();
        sentBytes = 0;
      }
      turn(LA, envs.slice(i, i + batch));
      turn(LC, answers[b]!);
    }
    const c = process.cpuUsage(c0);
    const w1 = bytesWritten();
    const cpuUs = c.user + c.system;
    const writtenPerMessage = w0 === null || w1 === null ? null : (w1 - w0) / n;
    return { messages: n, cpuUs, perMessageUs: cpuUs / n, sentBytes, forwarded, custodyLeft: store.relayq.totals().n, writtenPerMessage };
  } finally {
    close();
  }
}

export const relayCoreBench: Bench = {
  name: 'relaycore',
  title: "one relay's core per message (custody, hop signing, reports, acks, codec), one process",
  async run(opts: BenchOptions): Promise<BenchReport> {
    const t0 = performance.now();
    const n = opts.quick ? 512 : 20_000;
    const warm = opts.quick ? 128 : 2_000;
    const batch = 64;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wr-relaycore-'));
    try {
      opts.log(`relaycore: ${n} envelopes through B's core, batches of ${batch}, SQLite store, then the in-memory store`);
      /** B's SQLite store, a fresh file per run. */
      const sqliteAt = (file: string) => () => {
        const s = Store.open(path.join(dir, file));
        return { store: s, close: () => s.close() };
      };
      const sqlite = runRelay(sqliteAt('b.db'), n, batch, warm);
      const memory = runRelay(() => ({ store: new MemoryStore(), close: () => {} }), n, batch, warm);
      // One message per turn, as a relay gets them when they arrive one at a time (the line at
      // half load): every turn pays its commit and its signature alone.
      const single = n / 4;
      opts.log(`relaycore: ${single} more, one per turn, SQLite store`);
      const alone = runRelay(sqliteAt('b1.db'), single, 1, warm / 4);
      return {
        name: 'relaycore',
        title: this.title,
        figures: [
          compare({ name: 'CPU per relayed message, SQLite custody', value: sqlite.perMessageUs, unit: 'µs', baseline: { name: 'in-memory store', value: memory.perMessageUs }, lowerIsBetter: true }),
          { name: 'relayed messages per CPU-second, SQLite custody', value: 1e6 / sqlite.perMessageUs, unit: 'msgs/s' },
          compare({ name: 'CPU per relayed message, one message per turn, SQLite custody', value: alone.perMessageUs, unit: 'µs', baseline: { name: `batches of ${batch}`, value: sqlite.perMessageUs }, lowerIsBetter: true }),
          ...(alone.writtenPerMessage === null || sqlite.writtenPerMessage === null
            ? []
            : [compare({ name: 'bytes written to SQLite per relayed message, one per turn', value: alone.writtenPerMessage, unit: 'B', baseline: { name: `batches of ${batch}`, value: sqlite.writtenPerMessage }, lowerIsBetter: true })]),
        ],
        details: { batch, warm, sqlite, memory, alone },
        notes: [
          `per relayed message B takes 1 envelope from A and 3 messages from C (HOLD, report, D's ack) and sends 4 (the envelope on, HOLD, its report and the two passed back); ${Math.round(sqlite.sentBytes / n)} bytes sent per message`,
          `custody left at the end (must be 0): ${sqlite.custodyLeft} SQLite, ${memory.custodyLeft} in memory, ${alone.custodyLeft} one per turn`,
          'one per turn: each turn pays a commit and (the envelope turn) an Ed25519 signature that batches share; this is what a relay pays per message when they arrive one at a time, as at half load',
          'bytes written: write syscalls of this process (/proc/self/io wchar; no sockets here, so the database and its WAL): the envelope turn writes its journal row and the release marks waiting; the turn of HOLDs alone writes nothing (agent/store/relayq.ts)',
        ],
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
