/**
 * The client side of the local API (used by the CLI, usable by apps): connects to the
 * daemon's Unix socket, sends JSON-RPC 2.0 requests one per line, matches responses by id,
 * delivers notifications, and turns JSON-RPC errors back into WotError (code + hint).
 */
import net from 'node:net';
import path from 'node:path';
import { RpcErrors, type MethodName, type Params, type Result } from './methods.js';
import { ErrorCodes, type ErrorCode } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';

/** Default time a call may take before the client gives up on it. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** Longest response line accepted (inbox pages can be large). */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: WotError) => void;
  timer: NodeJS.Timeout | null;
}

function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && (ErrorCodes as readonly string[]).includes(s);
}

function homeOf(socket: string): string | null {
  return path.basename(socket) === 'api.sock' ? path.dirname(socket) : null;
}

function quoteArg(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The error for "nothing answers on this socket", naming the home and how to start the daemon. */
export function notRunningError(socket: string, home?: string): WotError {
  const h = home ?? homeOf(socket);
  return h !== null
    ? new WotError('ERR_NOT_RUNNING', `the wotrelay daemon is not running for home ${h}`, `start it with: wotrelay daemon --home ${quoteArg(h)}`)
    : new WotError('ERR_NOT_RUNNING', `the wotrelay daemon is not running (nothing answers on ${socket})`, 'start it with: wotrelay daemon --home <its home>');
}

/** Turns a JSON-RPC error object into a WotError. */
function toWotError(method: string, err: unknown): WotError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown; data?: unknown };
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : `"${method}" failed`;
  const data = (typeof e.data === 'object' && e.data !== null ? e.data : {}) as { code?: unknown; hint?: unknown };
  const hint = typeof data.hint === 'string' ? data.hint : undefined;
  if (isErrorCode(data.code)) return new WotError(data.code, message, hint);
  switch (e.code) {
    case RpcErrors.METHOD_NOT_FOUND:
      return new WotError('ERR_BAD_REQUEST', message, hint ?? 'the daemon may be an older version; restart it');
    case RpcErrors.INVALID_PARAMS:
    case RpcErrors.INVALID_REQUEST:
    case RpcErrors.PARSE_ERROR:
      return new WotError('ERR_BAD_REQUEST', message, hint);
    default:
      return new WotError('ERR_INTERNAL', message, hint ?? 'see the daemon log for details');
  }
}

export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: Array<(method: string, params: unknown) => void> = [];
  private readonly closeListeners: Array<(err: WotError | null) => void> = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  private closedWith: WotError | null = null;
  private serverError: WotError | null = null;
  private closing = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => {
      /* 'close' follows */
    });
    socket.on('close', () =>
      this.fail(
        this.closing
          ? new WotError('ERR_CONNECTION_LOST', 'the API connection was closed')
          : new WotError('ERR_CONNECTION_LOST', 'the daemon closed the API connection', 'it may have stopped; check with: wotrelay status'),
      ),
    );
  }

  /**
   * Connects to the daemon's API socket. Nothing there (ENOENT, ECONNREFUSED) →
   * WotError ERR_NOT_RUNNING naming the home (`opts.home`, else the socket's directory).
   */
  static connect(socketPath: string, timeoutMs = 3000, opts: { home?: string } = {}): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new WotError(
            'ERR_NOT_RUNNING',
            `the wotrelay daemon did not accept the API connection within ${timeoutMs / 1000}s (${socketPath})`,
            'it may be stuck; check its log, or stop and start it again',
          ),
        );
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RpcClient(socket));
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ENOTDIR') {
          reject(notRunningError(socketPath, opts.home));
        } else if (e.code === 'EACCES' || e.code === 'EPERM') {
          reject(new WotError('ERR_BAD_REQUEST', `permission denied on the API socket ${socketPath}`, 'run wotrelay as the user who owns the home directory'));
        } else {
          reject(new WotError('ERR_CONNECTION_LOST', `cannot connect to the API socket ${socketPath}: ${e.message}`, 'check that the daemon is running: wotrelay status'));
        }
      });
    });
  }

  /** Calls `method`; resolves with its result or rejects with a WotError (code and hint from the daemon). */
  call<M extends MethodName>(method: M, params: Params<M>, timeoutMs: number = DEFAULT_CALL_TIMEOUT_MS): Promise<Result<M>> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise<Result<M>>((resolve, reject) => {
      const p: Pending = { method, resolve: resolve as (v: unknown) => void, reject, timer: null };
      if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(
            new WotError('ERR_INTERNAL', `the daemon did not answer "${method}" within ${Math.round(timeoutMs / 100) / 10}s`, 'it may be busy or stuck; check its log, or restart it'),
          );
        }, timeoutMs);
      }
      this.pending.set(id, p);
      this.socket.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  }

  /** Registers a listener for notifications (e.g. `message` after `watch`). */
  onNotification(fn: (method: string, params: unknown) => void): void {
    this.listeners.push(fn);
  }

  /** Registers a listener for the end of the connection (`null` after close()). */
  onClose(fn: (err: WotError | null) => void): void {
    if (this.closedWith) queueMicrotask(() => fn(this.closing ? null : this.closedWith));
    else this.closeListeners.push(fn);
  }

  close(): void {
    this.closing = true;
    this.socket.end();
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = d.indexOf(0x0a, start);
      if (nl < 0) break;
      const part = d.subarray(start, nl);
      const line = this.chunks.length ? Buffer.concat([...this.chunks, part]).toString('utf8') : part.toString('utf8');
      this.chunks = [];
      this.buffered = 0;
      start = nl + 1;
      if (line.trim() !== '') this.onLine(line);
    }
    if (start < d.length) {
      const rest = d.subarray(start);
      this.buffered += rest.length;
      if (this.buffered > MAX_RESPONSE_BYTES) {
        this.fail(new WotError('ERR_TOO_LARGE', 'the daemon sent a response larger than the client accepts', 'ask for less, e.g. with --limit'));
        this.socket.destroy();
        return;
      }
      this.chunks.push(Buffer.from(rest));
    }
  }

  private onLine(line: string): void {
    let msg: { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return; // not ours to fix; the matching call times out
    }
    if (typeof msg !== 'object' || msg === null) return;
    if (typeof msg.method === 'string' && msg.id === undefined) {
      for (const fn of this.listeners) fn(msg.method, msg.params);
      return;
    }
    if (typeof msg.id === 'number') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (p.timer) clearTimeout(p.timer);
      if (msg.error !== undefined) p.reject(toWotError(p.method, msg.error));
      else p.resolve(msg.result);
      return;
    }
    if (msg.id === null && msg.error !== undefined) {
      // An error the server could not tie to a request (limits, parse errors): fails everything in flight.
      const e = toWotError('request', msg.error);
      this.serverError = e;
      this.rejectAll(e);
    }
  }

  private rejectAll(e: WotError): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.timer) clearTimeout(p.timer);
      p.reject(e);
    }
  }

  private fail(e: WotError): void {
    if (this.closedWith !== null) return;
    this.closedWith = this.serverError ?? e;
    this.rejectAll(this.closedWith);
    for (const fn of this.closeListeners.splice(0)) fn(this.closing ? null : this.closedWith);
  }
}
