/**
 * Small helpers shared by the in-memory repositories (memory.ts, relayq-memory.ts): byte
 * strings as Map keys, SQLite's BLOB order and its LIMIT, so they behave like the SQL ones.
 */
import { sqlLimit } from './limits.js';

/** Map key for a byte string: one latin1 char per byte (compact, exact, length-preserving). */
export const k = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/** Byte order of SQLite's BLOB comparison (memcmp, then the shorter first). */
export const cmpBytes = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b);

/** SQLite `LIMIT n` applied to an array (n = -1: everything). */
export function applyLimit<T>(rows: T[], limit: number | undefined): T[] {
  const n = sqlLimit(limit);
  return n < 0 || rows.length <= n ? rows : rows.slice(0, n);
}
