/**
 * Byte formats of store-and-forward that are not wire frames of their own: what a mailbox
 * fetch and delete sign, and the bodies of the two control content kinds, 'receipt' (the
 * recipient tells the sender which messages arrived or were read when no reverse path
 * exists) and 'want' (the recipient asks the sender again for causal parents it lacks),
 * and the body of a mailing-list 'subscribe' (how the member wants its copies).
 * Layouts are specified in agent/PROTOCOL.md §3.9–3.12.
 */
import { concatBytes, u64be, utf8 } from '../crypto/index.js';
import { MESSAGE_ID_BYTES, KEY_BYTES, Limits } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';

/** Bytes an owner signs (Domain.MAILBOX) to fetch items with seq > after from `mailbox`. */
export function fetchBytes(mailbox: Uint8Array, after: number, ts: number): Uint8Array {
  return concatBytes(utf8('fetch'), mailbox, u64be(after), u64be(ts));
}

/** Bytes an owner signs (Domain.MAILBOX) to delete items `seqs` from `mailbox`. */
export function deleteBytes(mailbox: Uint8Array, seqs: readonly number[], ts: number): Uint8Array {
  return concatBytes(utf8('delete'), mailbox, ...seqs.map((q) => u64be(q)), u64be(ts));
}

export type ReceiptState = 'delivered' | 'read';

/** Most message ids in one receipt (16 bytes each: 64 KiB). */
export const MAX_RECEIPT_IDS = 4096;
/** Most hashes in one 'want' request. */
export const MAX_WANT_HASHES = 64;

const STATE_BYTE: Record<ReceiptState, number> = { delivered: 1, read: 2 };

/** receipt body = state byte (1 delivered, 2 read) || id (16) * n, 1 ≤ n ≤ MAX_RECEIPT_IDS. */
export function encodeReceipt(state: ReceiptState, ids: readonly Uint8Array[]): Uint8Array {
  if (ids.length === 0 || ids.length > MAX_RECEIPT_IDS) throw new WotError('ERR_BAD_REQUEST', `a receipt carries 1 to ${MAX_RECEIPT_IDS} ids`);
  const out = new Uint8Array(1 + ids.length * MESSAGE_ID_BYTES);
  out[0] = STATE_BYTE[state];
  ids.forEach((id, i) => out.set(id, 1 + i * MESSAGE_ID_BYTES));
  return out;
}

export function decodeReceipt(body: Uint8Array): { state: ReceiptState; ids: Uint8Array[] } {
  const n = (body.length - 1) / MESSAGE_ID_BYTES;
  if (body.length < 1 + MESSAGE_ID_BYTES || !Number.isInteger(n) || n > MAX_RECEIPT_IDS) {
    throw new WotError('ERR_BAD_FIELD', `a receipt body of ${body.length} bytes is not 1 + 16·n bytes`);
  }
  const state = body[0] === 1 ? 'delivered' : body[0] === 2 ? 'read' : undefined;
  if (!state) throw new WotError('ERR_BAD_FIELD', `unknown receipt state byte ${body[0]}`);
  const ids: Uint8Array[] = [];
  for (let i = 0; i < n; i++) ids.push(body.slice(1 + i * MESSAGE_ID_BYTES, 1 + (i + 1) * MESSAGE_ID_BYTES));
  return { state, ids };
}

/** want body = content hash (32) * n, 1 ≤ n ≤ MAX_WANT_HASHES. */
export function encodeWant(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0 || hashes.length > MAX_WANT_HASHES) throw new WotError('ERR_BAD_REQUEST', `a want carries 1 to ${MAX_WANT_HASHES} hashes`);
  return concatBytes(...hashes);
}

export function decodeWant(body: Uint8Array): Uint8Array[] {
  const n = body.length / KEY_BYTES;
  if (body.length === 0 || !Number.isInteger(n) || n > MAX_WANT_HASHES) {
    throw new WotError('ERR_BAD_FIELD', `a want body of ${body.length} bytes is not 32·n bytes`);
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(body.slice(i * KEY_BYTES, (i + 1) * KEY_BYTES));
  return out;
}

/**
 * subscribe body = empty (clear copies, as every request before onion copies) or one byte:
 * the relays wanted on each copy's onion path, 0 = clear mode. Sending: 0..MAX_ONION_RELAYS.
 */
export function encodeSubscribe(onionRelays: number): Uint8Array {
  if (!(Number.isInteger(onionRelays) && onionRelays >= 0 && onionRelays <= Limits.MAX_ONION_RELAYS)) {
    throw new WotError('ERR_BAD_REQUEST', `an onion path has 1..${Limits.MAX_ONION_RELAYS} relays, not ${String(onionRelays)}`, 'use --hops N with N from 1 to 8');
  }
  return onionRelays === 0 ? new Uint8Array(0) : Uint8Array.of(onionRelays);
}

/**
 * The relays a subscribe request asks for (0 = clear). Reading is lenient, for requests from
 * newer agents: bytes after the first are ignored and a count above MAX_ONION_RELAYS reads as
 * MAX_ONION_RELAYS.
 */
export function decodeSubscribe(body: Uint8Array): number {
  return body.length === 0 ? 0 : Math.min(body[0]!, Limits.MAX_ONION_RELAYS);
}

/** Concatenated 32-byte hashes (store columns) ↔ a list. */
export function splitHashes(b: Uint8Array | null | undefined): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (!b) return out;
  for (let i = 0; i + KEY_BYTES <= b.length; i += KEY_BYTES) out.push(b.slice(i, i + KEY_BYTES));
  return out;
}
