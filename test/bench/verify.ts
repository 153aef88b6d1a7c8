/**
 * Recipient chain verification on one core: envelopes that crossed five hops (sender and
 * four relays), each hop having signed its entries in batches as a loaded relay does
 * (whatever it sends in one turn: 64 messages here), verified by the recipient with the
 * real verifyChain (every certificate, every hop's batch signature through the cache of
 * verified roots). Baseline in the same run: the same chains signed one message per batch,
 * i.e. one Ed25519 signature per hop per message, as before batch signatures.
 */
import { BatchSigner } from '../../agent/core/batch.js';
import { signHop, verifyChain } from '../../agent/core/path.js';
import { clearBatchCache, randomBytes } from '../../agent/crypto/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import { decodeMessage, encodeMessage } from '../../agent/wire/index.js';
import type { Envelope } from '../../agent/wire/types.js';
import { compare, type Bench, type BenchOptions, type BenchReport } from './lib.js';
import { benchParty, type Party } from './party.js';

/** `n` envelopes from hops[0] through hops[1..] to `to`, each hop signing `batch` at a time. */
function chains(hops: Party[], to: Uint8Array, n: number, batch: number, bodyBytes: number, now: number): Envelope[] {
  const body = randomBytes(bodyBytes);
  const envs: Envelope[] = [];
  for (let i = 0; i < n; i++) envs.push({ t: MsgType.ENVELOPE, id: randomBytes(16), to, exp: now + 3600_000, route: [], body, hops: [] });
  for (let h = 0; h < hops.length; h++) {
    const signer = new BatchSigner(hops[h]!.agent);
    const next = h + 1 < hops.length ? hops[h + 1]!.entity.publicKey : to;
    for (let i = 0; i < n; i += batch) {
      signer.run(() => {
        for (const env of envs.slice(i, i + batch)) env.hops.push(signHop(signer, hops[h]!.certBytes, env, next));
      });
    }
  }
  return envs;
}

/**
 * Messages per second verifying every envelope once (cold root cache): by the wall clock, and
 * per second of this process's CPU time (what one core gives when other work shares it).
 */
function verifyRate(envs: Envelope[], self: Uint8Array, from: Uint8Array, now: number, decode: boolean): { wall: number; cpu: number } {
  const wire = decode ? envs.map((e) => encodeMessage(e)) : [];
  clearBatchCache();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < envs.length; i++) {
    const env = decode ? (decodeMessage(wire[i]!) as Envelope) : envs[i]!;
    verifyChain(env, self, from, now);
  }
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall: envs.length / wall, cpu: envs.length / ((c.user + c.system) / 1e6) };
}

export const verifyBench: Bench = {
  name: 'verify',
  title: 'recipient verifies 5-hop chains, one core',
  async run(opts: BenchOptions): Promise<BenchReport> {
    const t0 = performance.now();
    const now = Date.now();
    const hops = Array.from({ length: 5 }, () => benchParty(now));
    const me = benchParty(now);
    const n = opts.quick ? 512 : 10_000;
    const batch = 64;
    opts.log(`verify: signing ${n} five-hop chains, batches of ${batch} and of 1`);
    const batched = chains(hops, me.entity.publicKey, n, batch, 700, now);
    const singles = chains(hops, me.entity.publicKey, opts.quick ? 128 : 2_000, 1, 700, now);
    const last = hops[4]!.agent.publicKey;
    // Warm-up (JIT, certificate cache), then measure.
    verifyRate(batched.slice(0, 256), me.entity.publicKey, last, now, false);
    const measured = verifyRate(batched, me.entity.publicKey, last, now, false);
    const decoded = verifyRate(batched, me.entity.publicKey, last, now, true);
    const single = verifyRate(singles, me.entity.publicKey, last, now, false);
    const [rate, rateDecoded, base] = [measured.wall, decoded.wall, single.wall];
    const proofLen = batched[0]!.hops[0]!.p?.length ?? 0;
    const perCpu = (r: { cpu: number }): number => Math.round(r.cpu);
    return {
      name: 'verify',
      title: this.title,
      figures: [
        compare({ name: `verifyChain, 5 hops, hops signed in batches of ${batch}`, value: rate, unit: 'msgs/s', baseline: { name: 'one signature per hop per message', value: base }, target: '≥ 20,000 msgs/s', met: rate >= 20_000 }),
        compare({ name: 'decode + verifyChain (from the wire bytes)', value: rateDecoded, unit: 'msgs/s', baseline: { name: 'one signature per hop per message', value: base } }),
      ],
      details: {
        messages: n,
        batch,
        hops: 5,
        bodyBytes: 700,
        proofLength: proofLen,
        envelopeBytes: encodeMessage(batched[0]!).length,
        baselineMessages: singles.length,
        perCpuSecond: { verifyChain: perCpu(measured), decodeAndVerify: perCpu(decoded), baseline: perCpu(single) },
      },
      notes: [
        `an envelope with 5 hops is ${encodeMessage(batched[0]!).length} bytes (proofs of ${proofLen} siblings); the root cache starts empty for each measurement`,
        `per second of CPU time (this process): verifyChain ${perCpu(measured).toLocaleString('en-US')}, decode + verifyChain ${perCpu(decoded).toLocaleString('en-US')}, baseline ${perCpu(single).toLocaleString('en-US')} msgs/s`,
      ],
      seconds: (performance.now() - t0) / 1000,
    };
  },
};
