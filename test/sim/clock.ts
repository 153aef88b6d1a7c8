/**
 * VirtualClock: simulated time for test/sim. Events live in a binary min-heap keyed by
 * (time, insertion sequence), so events at the same time run in the order they were
 * scheduled and every run is deterministic. Nothing here touches the wall clock.
 */
import { WotError } from '../../agent/wire/errors.js';

export interface Timer {
  readonly at: number;
  /** Prevents the event from running (no-op if it already ran). */
  cancel(): void;
}

interface Ev {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

const before = (a: Ev, b: Ev): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

export class VirtualClock {
  private t: number;
  private seq = 0;
  private readonly heap: Ev[] = [];
  private live = 0;
  /** Events run so far. */
  executed = 0;

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  /** Events scheduled and not yet run or cancelled. */
  pending(): number {
    return this.live;
  }

  /** Time of the next event, or undefined when idle. */
  nextAt(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Runs fn at absolute time atMs (a time in the past runs at now, after what is already due). */
  schedule(atMs: number, fn: () => void): Timer {
    if (Number.isNaN(atMs)) throw new WotError('ERR_BAD_REQUEST', 'VirtualClock.schedule: time is NaN');
    const ev: Ev = { at: Math.max(atMs, this.t), seq: this.seq++, fn };
    this.push(ev);
    this.live++;
    return {
      at: ev.at,
      cancel: () => {
        if (ev.fn) {
          ev.fn = null;
          this.live--;
        }
      },
    };
  }

  /** Like schedule, for an event that is never cancelled (no Timer is made). */
  post(atMs: number, fn: () => void): void {
    if (Number.isNaN(atMs)) throw new WotError('ERR_BAD_REQUEST', 'VirtualClock.post: time is NaN');
    this.push({ at: Math.max(atMs, this.t), seq: this.seq++, fn });
    this.live++;
  }

  after(delayMs: number, fn: () => void): Timer {
    return this.schedule(this.t + Math.max(0, delayMs), fn);
  }

  /** Runs the next event; false when there is none. */
  step(): boolean {
    this.dropCancelled();
    const ev = this.pop();
    if (!ev) return false;
    this.t = ev.at;
    const fn = ev.fn!;
    ev.fn = null;
    this.live--;
    this.executed++;
    fn();
    return true;
  }

  /** Runs every event due at or before tMs (including ones they schedule), then sets now = tMs. */
  runUntil(tMs: number): number {
    let n = 0;
    for (;;) {
      const at = this.nextAt();
      if (at === undefined || at > tMs) break;
      this.step();
      n++;
    }
    if (tMs > this.t) this.t = tMs;
    return n;
  }

  /** Runs events until none is left; throws after maxEvents (something reschedules forever). */
  runUntilIdle(maxEvents = 50_000_000): number {
    let n = 0;
    while (this.step()) {
      if (++n >= maxEvents && this.live > 0) {
        throw new WotError('ERR_INTERNAL', `VirtualClock.runUntilIdle: still busy after ${maxEvents} events`, 'something reschedules itself forever; use runUntil(t)');
      }
    }
    return n;
  }

  // ---------------------------------------------------------------- heap

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.fn === null) this.pop();
  }

  private push(ev: Ev): void {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = ev;
  }

  private pop(): Ev | undefined {
    const h = this.heap;
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
