/**
 * Group commit for incoming messages. Messages from all links are queued as they are
 * decoded and handed on together at the end of the event-loop turn (setImmediate), at most
 * `max` at a time, so the daemon commits many of them in one store transaction and signs
 * what they produce in one batch (agent/core/batch.ts) before any answer (HOLD, ACK) goes
 * out. Nothing waits for a batch to fill: a lone message goes on in the same turn it came.
 * `drain()` hands on what is queued at once; the daemon calls it before every other event so
 * the core sees events in the order they happened.
 */
export class InboundBatcher<T> {
  private queue: T[] = [];
  private scheduled = false;
  private draining = false;
  /** Batches handed on and items in them (for status and benchmarks). */
  readonly stats = { batches: 0, items: 0, largest: 0 };

  constructor(
    private readonly handle: (batch: T[]) => void,
    private readonly max = 1024,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  push(item: T): void {
    this.queue.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.drain();
      });
    }
  }

  /** Hands on everything queued now, `max` at a time, in arrival order. Re-entrant calls return at once. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= this.max ? this.queue : this.queue.slice(0, this.max);
        this.queue = this.queue.length <= this.max ? [] : this.queue.slice(this.max);
        this.stats.batches++;
        this.stats.items += batch.length;
        if (batch.length > this.stats.largest) this.stats.largest = batch.length;
        this.handle(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Drops what is queued (the daemon is stopping). */
  clear(): void {
    this.queue = [];
  }
}
