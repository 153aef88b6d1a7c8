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
  /**
   * Hooks by level (index = nesting depth - 1), null or absent while a level has none (most
   * never get one): entering and leaving a level is a counter on this object and one read
   * here (the simulator opens one per message on each of thousands of stores).
   */
  private readonly levels: Array<Array<() => void> | null | undefined> = [];
  /** Open levels. */
  private depth = 0;

  /** Runs `fn` as one level; `fn` is the store's own transaction call. */
  run<T>(fn: () => T): T {
    const level = this.depth++;
    let ok = false;
    try {
      const r = fn();
      ok = true;
      return r;
    } finally {
      this.depth = level;
      const mine = this.levels[level];
      if (mine) this.settle(level, mine, ok);
    }
  }

  /** The level that just ended: undo its hooks (newest first) if it threw, else hand them to its parent. */
  private settle(level: number, mine: Array<() => void>, ok: boolean): void {
    this.levels[level] = null;
    if (!ok) for (let i = mine.length - 1; i >= 0; i--) mine[i]!();
    else if (level > 0) {
      const parent = this.levels[level - 1];
      if (parent) parent.push(...mine);
      else this.levels[level - 1] = mine;
    }
  }

  /** True while a level is open (inside Store.tx). */
  get open(): boolean {
    return this.depth > 0;
  }

  /** Registers `undo` with the innermost open level; outside any transaction it is dropped. */
  add(undo: () => void): void {
    const top = this.depth - 1;
    if (top < 0) return;
    const mine = this.levels[top];
    if (mine) mine.push(undo);
    else this.levels[top] = [undo];
  }
}
