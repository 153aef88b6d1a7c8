/** Shared helpers for the store's list queries: optional limits → SQLite LIMIT values, and keep counts. */

/** undefined → -1 (SQLite: no limit); otherwise a non-negative integer (NaN/negative → 0). */
export function sqlLimit(limit: number | undefined): number {
  if (limit === undefined || limit === Infinity) return -1;
  if (!Number.isFinite(limit) || limit <= 0) return 0;
  return Math.floor(limit);
}

/**
 * A "keep this many" count (e.g. ListRepo.trimPosts): floored; Infinity → -1 (keep all).
 * NaN or negative is a RangeError, so a bad argument never deletes everything.
 */
export function keepCount(what: string, keep: number): number {
  if (keep === Infinity) return -1;
  if (!(keep >= 0)) throw new RangeError(`${what}: keep must be a non-negative number, got ${String(keep)}`);
  return Math.floor(keep);
}
