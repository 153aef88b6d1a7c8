/**
 * Evidence of envelopes a recipient dropped because their hop chain or sender signature did
 * not verify (a forged hop, a signature over another payload or route, a signer that is not
 * the previous hop). Intermediate hops do not verify earlier signatures, so the neighbour
 * that handed a forgery over may be honest: what is kept is what lets anyone check each hop's
 * signature again later — the envelope's id, recipient, route and signed hop chain with the
 * sha256 of its body (what every hop signature covers), which neighbour handed it over, when,
 * and why it was refused. The body itself is not kept. Memory only, bounded: the newest
 * EVIDENCE_MAX records; `total` counts every drop since start.
 */
import { sha256 } from '../crypto/index.js';
import type { Envelope, HopEntry } from '../wire/types.js';

export const EVIDENCE_MAX = 64;

export interface EvidenceRecord {
  /** Wall clock when it was dropped. */
  at: number;
  /** Entity of the neighbour that handed it over. */
  from: Uint8Array;
  code: string;
  reason: string;
  id: Uint8Array;
  to: Uint8Array;
  route: Uint8Array[];
  /** sha256 of the sealed body: what the hop signatures cover. */
  bodyHash: Uint8Array;
  hops: HopEntry[];
}

export class EvidenceLog {
  private readonly records: EvidenceRecord[] = [];
  private count = 0;

  add(env: Envelope, from: Uint8Array, code: string, reason: string, at: number): void {
    this.count++;
    this.records.push({ at, from, code, reason, id: env.id, to: env.to, route: env.route, bodyHash: sha256(env.body), hops: env.hops });
    if (this.records.length > EVIDENCE_MAX) this.records.shift();
  }

  /** Drops recorded since start (more than are kept). */
  get total(): number {
    return this.count;
  }

  /** The kept records, oldest first. */
  list(): readonly EvidenceRecord[] {
    return this.records;
  }
}
