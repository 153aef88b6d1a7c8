/**
 * Small helpers shared by the in-memory repositories (memory.ts, relayq-memory.ts): byte
 * strings as Map keys, SQLite's BLOB order and its LIMIT, so they behave like the SQL ones,
 * and grouped indexes (what an SQL index on a column gives: the rows with one value).
 */
import { sqlLimit } from './limits.js';

/** Map key for a byte string: one latin1 char per byte (compact, exact, length-preserving). */
export const k = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/** Byte order of SQLite's BLOB comparison (memcmp, then the shorter first). */
export const cmpBytes = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b);

/** Adds row `r` (id key `key`) to group `g` of a grouped index (group key → rows by id key). */
export function group<R>(m: Map<string, Map<string, R>>, g: string, key: string, r: R): void {
  const mine = m.get(g);
  if (mine) mine.set(key, r);
  else m.set(g, new Map([[key, r]]));
}

/** Removes id key `key` from group `g`; an emptied group goes, as a row count reaching 0 would. */
export function ungroup<R>(m: Map<string, Map<string, R>>, g: string, key: string): void {
  const mine = m.get(g);
  if (!mine) return;
  mine.delete(key);
  if (mine.size === 0) m.delete(g);
}

/** SQLite `LIMIT n` applied to an array (n = -1: everything). */
export function applyLimit<T>(rows: T[], limit: number | undefined): T[] {
  const n = sqlLimit(limit);
  return n < 0 || rows.length <= n ? rows : rows.slice(0, n);
}
