/** Shared helper for the store's list queries: turns an optional limit into SQLite's LIMIT value. */

/** undefined → -1 (SQLite: no limit); otherwise a non-negative integer (NaN/negative → 0). */
export function sqlLimit(limit: number | undefined): number {
  if (limit === undefined || limit === Infinity) return -1;
  if (!Number.isFinite(limit) || limit <= 0) return 0;
  return Math.floor(limit);
}
