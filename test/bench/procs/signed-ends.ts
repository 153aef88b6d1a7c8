/**
 * The two ends of the signed relay line A→B→C→D; B and C are real `wotrelay daemon`
 * processes. Both ends speak the real protocol through agent/link (Noise XX, encrypted
 * records batched per tick) with identities made by `wotrelay init`.
 *
 *   node signed-ends.js sender <home> <B addr> <B entity hex> <C entity hex> <D entity hex> <D cert hex>
 *     A: sends ENVELOPEs to D with route [C, D], each with A's hop entry, signed in batches
 *     (agent/core/batch.ts) exactly as a daemon's core signs them; the sealed body is a real
 *     256-byte text message sealed to D once (relays never look inside it). Counts the HOLDs,
 *     REPORTs and ACKs coming back; keeps at most `window` messages unacknowledged.
 *   node signed-ends.js recipient <home> <C addr> <C entity hex>
 *     D: verifies every envelope's whole hop chain (agent/core/path.ts verifyChain: every
 *     certificate and every hop's batch signature, verified roots remembered) and answers
 *     each with a batch-signed ACK, as the core does. It does not open the sealed body: that
 *     and the sender's content signature are end-to-end costs, the same for any relay.
 *
 * Message ids carry the sender's monotonic clock (ns) in their first 8 bytes, so D measures
 * the latency of each message. The parent (relay.ts) drives both over IPC.
 */
import net from 'node:net';
import { ackBytes, sealAd } from '../../../agent/core/core.js';
import { BatchSigner, PENDING_SIG } from '../../../agent/core/batch.js';
import { signHop, verifyChain } from '../../../agent/core/path.js';
import { seal, sign, fromHex } from '../../../agent/crypto/index.js';
import { decodeCertUnverified, loadIdentity } from '../../../agent/identity/index.js';
import { Link, type PeerIdentity } from '../../../agent/link/index.js';
import { Domain, MsgType } from '../../../agent/wire/constants.js';
import { encodeContent, encodeMessage, encodeSignedContent } from '../../../agent/wire/index.js';
import type { Ack, Envelope, WireMessage } from '../../../agent/wire/types.js';
import { percentile } from '../lib.js';

type Cmd =
  | { cmd: 'flood'; seconds: number; window: number }
  | { cmd: 'paced'; rate: number; seconds: number }
  | { cmd: 'mark'; latencies: boolean }
  | { cmd: 'counts' }
  | { cmd: 'exit' };

const [role, home, addr, peerHex] = process.argv.slice(2);
const send = (m: unknown): void => {
  process.send?.(m);
};
const identity = loadIdentity(home!, Date.now());

function dial(target: string, expect: Uint8Array): Promise<Link> {
  const i = target.lastIndexOf(':');
  const socket = net.connect({ host: target.slice(0, i), port: Number(target.slice(i + 1)) });
  const link = Link.initiate(socket, {
    identity: { agentSeed: identity.agent.seed, agentPub: identity.agent.publicKey, entityPub: identity.entityPub, certBytes: identity.certBytes },
    gate: ({ peer }: { peer: PeerIdentity }) => (Buffer.compare(peer.entity, expect) === 0 ? { ok: true } : { ok: false, code: 'ERR_UNTRUSTED' }),
    expectEntity: expect,
    idleTimeoutMs: 600_000,
    keepaliveMs: 60_000,
    maxQueuedBytes: 64 * 1024 * 1024,
  });
  return new Promise((resolve, reject) => {
    link.once('open', () => resolve(link));
    link.once('close', (info) => reject(new Error(`link to ${target} closed: ${info.code} ${info.msg ?? ''}`)));
  });
}

if (role === 'sender') {
  const [, , , , cHex, dHex, dCertHex] = process.argv.slice(2);
  const B = fromHex(peerHex!);
  const C = fromHex(cHex!);
  const D = fromHex(dHex!);
  const dCert = decodeCertUnverified(fromHex(dCertHex!));
  const signer = new BatchSigner(identity.agent);
  // A real 256-byte text message, signed and sealed to D once; every envelope carries it.
  const id0 = new Uint8Array(16);
  const c = encodeContent({ v: 1, id: id0, from: identity.entityPub, to: D, ts: Date.now(), kind: 'text', body: new Uint8Array(256).fill(0x61) });
  const body = seal(dCert.x25519, encodeSignedContent({ c, cert: identity.certBytes, s: sign(identity.agent, Domain.MESSAGE, c) }), sealAd(id0, D));
  const counts = { sent: 0, held: 0, reports: 0, acked: 0, bytes: 0 };
  let seq = 0;
  let wake: (() => void) | null = null;
  const linkP = dial(addr!, B);
  const makeEnvelopes = (n: number): Envelope[] =>
    signer.run(() => {
      const out: Envelope[] = [];
      const now = process.hrtime.bigint();
      const exp = Date.now() + 3600_000;
      for (let i = 0; i < n; i++) {
        const id = new Uint8Array(16);
        const dv = new DataView(id.buffer);
        dv.setBigUint64(0, now);
        dv.setUint32(8, seq++ >>> 0);
        dv.setUint32(12, process.pid);
        const env: Envelope = { t: MsgType.ENVELOPE, id, to: D, exp, route: [C, D], body, hops: [] };
        env.hops = [signHop(signer, identity.certBytes, env, B)];
        out.push(env);
      }
      return out;
    });
  linkP.then((link) => {
    link.on('message', (m: WireMessage) => {
      if (m.t === MsgType.ACK) counts.acked++;
      else if (m.t === MsgType.HOLD) counts.held++;
      else if (m.t === MsgType.REPORT) counts.reports++;
      if (wake) {
        const w = wake;
        wake = null;
        w();
      }
    });
    send({ ready: true, bodyBytes: body.length });
  }, (e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
  process.on('message', async (m: Cmd) => {
    const link = await linkP;
    if (m.cmd === 'flood') {
      const end = performance.now() + m.seconds * 1000;
      const pump = (): void => {
        if (performance.now() >= end) return void send({ done: true, ...counts });
        const room = m.window - (counts.sent - counts.acked);
        if (room <= 0 || link.bufferedBytes > 8 * 1024 * 1024) {
          wake = pump; // the next message from B (an ACK, most likely) pumps again
          setTimeout(() => {
            if (wake === pump) {
              wake = null;
              pump();
            }
          }, 5);
          return;
        }
        for (const env of makeEnvelopes(Math.min(room, 256))) {
          link.send(env);
          counts.sent++;
        }
        setImmediate(pump);
      };
      pump();
    } else if (m.cmd === 'paced') {
      const t0 = performance.now();
      const sentAtStart = counts.sent;
      const timer = setInterval(() => {
        const el = performance.now() - t0;
        if (el >= m.seconds * 1000) {
          clearInterval(timer);
          send({ done: true, ...counts });
          return;
        }
        const due = Math.floor((el / 1000) * m.rate) - (counts.sent - sentAtStart);
        if (due > 0) {
          for (const env of makeEnvelopes(due)) {
            link.send(env);
            counts.sent++;
          }
        }
      }, 1);
    } else if (m.cmd === 'counts') {
      send({ ...counts, envelopeBytes: encodeMessage(makeEnvelopes(1)[0]!).length });
    } else if (m.cmd === 'exit') process.exit(0);
  });
} else if (role === 'recipient') {
  const C = fromHex(peerHex!);
  const signer = new BatchSigner(identity.agent);
  let verified = 0;
  let failed = 0;
  let hopBytes = 0;
  let recording = false;
  let lat: number[] = [];
  let queue: Envelope[] = [];
  let scheduled = false;
  const linkP = dial(addr!, C);
  const work = (link: Link): void => {
    scheduled = false;
    const batch = queue;
    queue = [];
    const now = Date.now();
    const acks = signer.run(() => {
      const out: Ack[] = [];
      for (const env of batch) {
        try {
          verifyChain(env, identity.entityPub, link.peer!.agent, now);
        } catch {
          failed++;
          continue;
        }
        verified++;
        if (recording && lat.length < 4_000_000) {
          const sentAt = new DataView(env.id.buffer, env.id.byteOffset, 16).getBigUint64(0);
          lat.push(Number(process.hrtime.bigint() - sentAt) / 1000);
        }
        const ack: Ack = { t: MsgType.ACK, id: env.id, st: 'delivered', by: identity.agent.publicKey, s: PENDING_SIG, c: identity.certBytes };
        signer.sign(Domain.ACK, ackBytes(env.id, 'delivered'), ack);
        out.push(ack);
      }
      return out;
    });
    for (const a of acks) link.send(a, true); // lazily, as a daemon acknowledges (link.ts lingerMs)
  };
  linkP.then((link) => {
    link.on('message', (m: WireMessage, raw: Uint8Array) => {
      if (m.t !== MsgType.ENVELOPE) return;
      if (hopBytes === 0) hopBytes = raw.length;
      queue.push(m);
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => work(link));
      }
    });
    send({ ready: true });
  }, (e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
  process.on('message', (m: Cmd) => {
    if (m.cmd === 'mark') {
      const sorted = Float64Array.from(lat).sort();
      send({ verified, failed, hopBytes, latencies: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, signing: signer.stats });
      verified = 0;
      failed = 0;
      lat = [];
      recording = m.latencies;
    } else if (m.cmd === 'exit') process.exit(0);
  });
} else {
  process.stderr.write('usage: signed-ends.js sender|recipient <home> <addr> <peer hex> …\n');
  process.exit(2);
}
