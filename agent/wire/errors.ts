/**
 * The one error class of wotrelay: a stable `code` (see constants.ts / PROTOCOL.md) and a
 * message that says what went wrong and, for people, what to do next.
 */
import type { ErrorCode } from './constants.js';

export class WotError extends Error {
  readonly code: ErrorCode;
  /** Optional hint for a person: what to do next. */
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'WotError';
    this.code = code;
    if (hint !== undefined) this.hint = hint;
  }
}

export function wotError(code: ErrorCode, message: string, hint?: string): WotError {
  return new WotError(code, message, hint);
}

export function isWotError(e: unknown): e is WotError {
  return e instanceof WotError;
}
