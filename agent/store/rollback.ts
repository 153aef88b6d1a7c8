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
   * never get one). Only touched when some level has hooks: entering and leaving a level is a
   * counter on this object (the simulator opens one per message on each of thousands of stores).
   */
  private readonly levels: Array<Array<() => void> | null> = [];
  /** Open levels. */
  private depth = 0;
  /** Levels holding hooks. */
  private withHooks = 0;

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
      if (this.withHooks > 0) this.settle(level, ok);
    }
  }

  /** The level that just ended: undo its hooks (newest first) if it threw, else hand them to its parent. */
  private settle(level: number, ok: boolean): void {
    const mine = this.levels[level];
    if (!mine) return;
    this.levels[level] = null;
    this.withHooks--;
    if (!ok) for (let i = mine.length - 1; i >= 0; i--) mine[i]!();
    else if (level > 0) {
      const parent = this.levels[level - 1];
      if (parent) parent.push(...mine);
      else {
        this.levels[level - 1] = mine;
        this.withHooks++;
      }
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
    else {
      this.levels[top] = [undo];
      this.withHooks++;
    }
  }
}
