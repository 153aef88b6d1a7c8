/**
 * VirtualClock: simulated time for test/sim. Events run in (time, insertion sequence) order,
 * so events at the same time run in the order they were scheduled and every run is
 * deterministic. Nothing here touches the wall clock.
 *
 * Layout: one bucket per distinct time holding its events in scheduling order, and a binary
 * min-heap of the distinct times (plain numbers). A simulation has many events per time and
 * few distinct times pending (the next few milliseconds of deliveries, the next second of
 * ticks), so a push is a Map look-up and an append, and the heap compares numbers instead of
 * walking thousands of event objects (the event heap was ~6 % of a 10,000-agent discovery run).
 */
import { WotError } from '../../agent/wire/errors.js';

export interface Timer {
  readonly at: number;
  /** Prevents the event from running (no-op if it already ran). */
  cancel(): void;
}

/**
 * An event the caller owns (see `postEvent`): `fn(ev)` runs at `at`. Letting the event object
 * carry its own state saves a closure and a wrapper per event (the simulator's deliveries).
 * `fn` is null once it ran or was cancelled.
 */
export interface ClockEvent {
  at: number;
  fn: ((ev: never) => void) | null;
  /** Its place in scheduling order (set by the clock; make it 0). */
  seq: number;
}

interface Bucket {
  readonly at: number;
  readonly evs: ClockEvent[];
  /** Next event to run. */
  i: number;
}

export class VirtualClock {
  private t: number;
  private readonly buckets = new Map<number, Bucket>();
  /** Min-heap of the times that have a bucket. */
  private readonly times: number[] = [];
  private live = 0;
  /** Scheduling order: the next event's (or reservation's) sequence number. */
  private seq = 0;
  /** The running event's sequence number; Infinity once everything due has run (see `isPast`). */
  private curSeq = Infinity;
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
    return this.front()?.at;
  }

  /** Runs fn at absolute time atMs (a time in the past runs at now, after what is already due). */
  schedule(atMs: number, fn: () => void): Timer {
    const ev: ClockEvent = { at: atMs, fn, seq: 0 };
    this.postEvent(ev);
    return { at: ev.at, cancel: () => this.cancel(ev) };
  }

  /** Like schedule, for an event that is never cancelled (no Timer is made). */
  post(atMs: number, fn: () => void): void {
    this.postEvent({ at: atMs, fn, seq: 0 });
  }

  /**
   * Schedules a caller-made event: `ev.fn(ev)` runs at `ev.at` (moved up to now if in the
   * past), unless given to `cancel` first. The clock sets `ev.fn` to null when it runs; an
   * event object is posted once.
   */
  postEvent(ev: ClockEvent): void {
    if (Number.isNaN(ev.at)) throw new WotError('ERR_BAD_REQUEST', 'VirtualClock: event time is NaN');
    if (ev.at < this.t) ev.at = this.t;
    ev.seq = this.seq++;
    this.bucketAt(ev.at).evs.push(ev);
    this.live++;
  }

  /**
   * A place in scheduling order for an event that may never be posted (the simulator's tick
   * of an agent that will likely have nothing due): `postReserved` puts it there later, as if
   * it had been posted now; until then it costs the clock nothing.
   */
  reserve(): number {
    return this.seq++;
  }

  /**
   * Posts `ev` in the place `reserve` gave (ev.seq) among the events of its time. It must not
   * be past yet (`isPast(ev.at, ev.seq)` false): an event posted now would still run there.
   */
  postReserved(ev: ClockEvent): void {
    if (this.isPast(ev.at, ev.seq)) throw new WotError('ERR_INTERNAL', `VirtualClock: reserved place ${ev.seq} at ${ev.at} is already past (now ${this.t})`);
    const b = this.bucketAt(ev.at);
    const evs = b.evs;
    let j = evs.length;
    // Everything before b.i ran, so its sequence numbers are smaller: the scan stops there.
    while (j > b.i && evs[j - 1]!.seq > ev.seq) j--;
    evs.splice(j, 0, ev);
    this.live++;
  }

  /** True when an event at `at` with sequence number `seq` would have run by now. */
  isPast(at: number, seq: number): boolean {
    return at < this.t || (at === this.t && seq < this.curSeq);
  }

  private bucketAt(at: number): Bucket {
    let b = this.buckets.get(at);
    if (!b) {
      b = { at, evs: [], i: 0 };
      this.buckets.set(at, b);
      this.heapPush(at);
    }
    return b;
  }

  /** Cancels an event given to postEvent that has not run yet (no-op if it ran). */
  cancel(ev: ClockEvent): void {
    if (ev.fn) {
      ev.fn = null;
      this.live--;
    }
  }

  after(delayMs: number, fn: () => void): Timer {
    return this.schedule(this.t + Math.max(0, delayMs), fn);
  }

  /** Runs the next event; false when there is none. */
  step(): boolean {
    const b = this.front();
    if (!b) return false;
    this.runFirst(b);
    return true;
  }

  /**
   * Runs every event due at or before tMs (including ones they schedule) and returns how many;
   * now stays at the last one's time (runUntil moves it on to tMs).
   */
  runDue(tMs: number): number {
    let n = 0;
    for (;;) {
      const b = this.front();
      if (!b || b.at > tMs) {
        // All that was due ran: a reservation at a time up to now is past.
        this.curSeq = Infinity;
        return n;
      }
      this.runFirst(b);
      n++;
    }
  }

  /** Runs every event due at or before tMs (including ones they schedule), then sets now = tMs. */
  runUntil(tMs: number): number {
    const n = this.runDue(tMs);
    if (tMs > this.t) this.t = tMs;
    this.curSeq = Infinity;
    return n;
  }

  /** Runs bucket b's next event (b is the front). */
  private runFirst(b: Bucket): void {
    const ev = b.evs[b.i++]!;
    this.t = b.at;
    this.curSeq = ev.seq;
    const fn = ev.fn as (ev: ClockEvent) => void;
    ev.fn = null;
    this.live--;
    this.executed++;
    fn(ev);
  }

  /** Runs events until none is left; throws after maxEvents (something reschedules forever). */
  runUntilIdle(maxEvents = 50_000_000): number {
    let n = 0;
    while (this.step()) {
      if (++n >= maxEvents && this.live > 0) {
        throw new WotError('ERR_INTERNAL', `VirtualClock.runUntilIdle: still busy after ${maxEvents} events`, 'something reschedules itself forever; use runUntil(t)');
      }
    }
    this.curSeq = Infinity;
    return n;
  }

  // ---------------------------------------------------------------- buckets and heap

  /** The earliest bucket with an event still to run (cancelled ones and spent buckets dropped). */
  private front(): Bucket | undefined {
    for (;;) {
      const at = this.times[0];
      if (at === undefined) return undefined;
      const b = this.buckets.get(at)!;
      while (b.i < b.evs.length && b.evs[b.i]!.fn === null) b.i++;
      if (b.i < b.evs.length) return b;
      this.buckets.delete(at);
      this.heapPop();
    }
  }

  private heapPush(at: number): void {
    const h = this.times;
    let i = h.length;
    h.push(at);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = at;
  }

  private heapPop(): void {
    const h = this.times;
    const last = h.pop()!;
    const n = h.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]! < h[l]! ? r : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
