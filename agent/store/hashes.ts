/**
 * Packing of hash lists (causal parents, gaps) into one BLOB column: the concatenation of
 * 32-byte hashes, NULL for an empty list. Shared by the SQLite repositories and MemoryStore
 * so both accept and refuse exactly the same input.
 */

/** Length of one packed hash (sha256). */
export const HASH_BYTES = 32;

/** Throws a RangeError unless every hash is exactly HASH_BYTES long. */
export function checkHashes(what: string, hashes: readonly Uint8Array[]): void {
  for (const h of hashes) {
    if (h.length !== HASH_BYTES) throw new RangeError(`${what}: each hash must be ${HASH_BYTES} bytes, got ${h.length}`);
  }
}

/** Concatenates the hashes (checked); null for an empty list. */
export function packHashes(what: string, hashes: readonly Uint8Array[]): Buffer | null {
  checkHashes(what, hashes);
  if (hashes.length === 0) return null;
  return Buffer.concat(hashes.map((h) => Buffer.from(h.buffer, h.byteOffset, h.byteLength)));
}

/** Splits a packed column back into hashes (views into `blob`); [] for NULL. */
export function unpackHashes(blob: Uint8Array | null): Uint8Array[] {
  if (blob === null) return [];
  const out: Uint8Array[] = [];
  for (let i = 0; i + HASH_BYTES <= blob.length; i += HASH_BYTES) out.push(blob.subarray(i, i + HASH_BYTES));
  return out;
}
