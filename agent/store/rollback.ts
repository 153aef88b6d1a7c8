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
   * The outermost level's hooks, null while it has none (most never get one): entering and
   * leaving a transaction reads this object alone, not the array below as well (the simulator
   * opens one per message on each of thousands of stores, each one's objects a cache miss).
   */
  private outer: Array<() => void> | null = null;
  /** Hooks of the nested levels (index = nesting depth - 2), null or absent while a level has none. */
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
      const mine = this.hooksOf(level);
      if (mine) this.settle(level, mine, ok);
    }
  }

  /** The level that just ended: undo its hooks (newest first) if it threw, else hand them to its parent. */
  private settle(level: number, mine: Array<() => void>, ok: boolean): void {
    this.setHooks(level, null);
    if (!ok) for (let i = mine.length - 1; i >= 0; i--) mine[i]!();
    else if (level > 0) {
      const parent = this.hooksOf(level - 1);
      if (parent) parent.push(...mine);
      else this.setHooks(level - 1, mine);
    }
  }

  /** Level `level`'s hooks (0 = outermost). */
  private hooksOf(level: number): Array<() => void> | null | undefined {
    return level === 0 ? this.outer : this.levels[level - 1];
  }

  private setHooks(level: number, hooks: Array<() => void> | null): void {
    if (level === 0) this.outer = hooks;
    else this.levels[level - 1] = hooks;
  }

  /** True while a level is open (inside Store.tx). */
  get open(): boolean {
    return this.depth > 0;
  }

  /** Registers `undo` with the innermost open level; outside any transaction it is dropped. */
  add(undo: () => void): void {
    const top = this.depth - 1;
    if (top < 0) return;
    const mine = this.hooksOf(top);
    if (mine) mine.push(undo);
    else this.setHooks(top, [undo]);
  }
}
