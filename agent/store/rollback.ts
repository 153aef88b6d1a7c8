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
  /** One entry per open level: its hooks, or null while it has none (most never get one). */
  private readonly levels: Array<Array<() => void> | null> = [];

  /** Runs `fn` as one level; `fn` is the store's own transaction call. */
  run<T>(fn: () => T): T {
    this.levels.push(null);
    let ok = false;
    try {
      const r = fn();
      ok = true;
      return r;
    } finally {
      const mine = this.levels.pop();
      if (mine) {
        const top = this.levels.length - 1;
        if (!ok) for (let i = mine.length - 1; i >= 0; i--) mine[i]!();
        else if (top >= 0) {
          const parent = this.levels[top];
          if (parent) parent.push(...mine);
          else this.levels[top] = mine;
        }
      }
    }
  }

  /** True while a level is open (inside Store.tx). */
  get open(): boolean {
    return this.levels.length > 0;
  }

  /** Registers `undo` with the innermost open level; outside any transaction it is dropped. */
  add(undo: () => void): void {
    const top = this.levels.length - 1;
    if (top < 0) return;
    const mine = this.levels[top];
    if (mine) mine.push(undo);
    else this.levels[top] = [undo];
  }
}
