/**
 * Undo hooks for in-memory state changed inside a store transaction. The core keeps some
 * state in memory next to the database (for example which copies of an envelope it already
 * holds); when the transaction that wrote the matching rows rolls back (a full disk, an I/O
 * error), that memory must forget it too, or the core would later act on rows that were
 * never committed. Each nesting level collects its hooks; a level that throws runs its own
 * (newest first), a level that returns hands them to its parent, the outermost one drops
 * them on commit.
 */
export class RollbackHooks {
  private readonly levels: Array<Array<() => void>> = [];

  /** Runs `fn` as one level; `fn` is the store's own transaction call. */
  run<T>(fn: () => T): T {
    this.levels.push([]);
    let ok = false;
    try {
      const r = fn();
      ok = true;
      return r;
    } finally {
      const mine = this.levels.pop()!;
      if (ok) this.levels[this.levels.length - 1]?.push(...mine);
      else for (let i = mine.length - 1; i >= 0; i--) mine[i]!();
    }
  }

  /** True while a level is open (inside Store.tx). */
  get open(): boolean {
    return this.levels.length > 0;
  }

  /** Registers `undo` with the innermost open level; outside any transaction it is dropped. */
  add(undo: () => void): void {
    this.levels[this.levels.length - 1]?.push(undo);
  }
}
