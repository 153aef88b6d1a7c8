/**
 * The daemon side of the local API: a JSON-RPC 2.0 server on a Unix socket (mode 0600),
 * one JSON object per line. Owns the socket file (stale-file cleanup, refusing a second
 * daemon), connection limits, parameter checking (validate.ts) and the mapping of handler
 * errors to JSON-RPC errors. Handlers get checked params and a per-connection context.
 */
import fs from 'node:fs';
import net from 'node:net';
import { RpcErrors, type MethodName, type Params, type Result } from './methods.js';
import { ParamError, isMethodName, validateParams } from './validate.js';
import { WotError, isWotError } from '../wire/errors.js';

export interface RpcContext {
  /** Sends a JSON-RPC notification to this connection (dropped once it is closed). */
  notify(method: string, params: unknown): void;
  /** Runs `fn` when this connection closes (at once if it already has). */
  onClose(fn: () => void): void;
  /** Connection id, unique within this server. */
  readonly id: number;
}

export type Handlers = {
  [M in MethodName]: (params: Params<M>, ctx: RpcContext) => Promise<Result<M>> | Result<M>;
};

export interface RpcServerOptions {
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/** Longest accepted request line; a client sending more is disconnected. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;
/** Connections beyond this are answered with an error and closed. */
export const MAX_CLIENTS = 64;
/** A connection whose unsent output grows beyond this (a client not reading) is closed. */
const MAX_PENDING_OUTPUT = 32 * 1024 * 1024;

type RpcId = string | number | null;

interface RpcErrorObject {
  code: number;
  message: string;
  data?: { code: string; hint?: string };
}

class Connection implements RpcContext {
  readonly id: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private closed = false;
  private readonly closeFns: Array<() => void> = [];

  constructor(
    id: number,
    private readonly socket: net.Socket,
    private readonly onLine: (conn: Connection, line: string) => void,
    private readonly log: (event: string, fields: Record<string, unknown>) => void,
  ) {
    this.id = id;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => {
      /* a client vanishing is normal; 'close' follows */
    });
    socket.on('close', () => this.finish());
  }

  private onData(d: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = d.indexOf(0x0a, start);
      if (nl < 0) break;
      const part = d.subarray(start, nl);
      if (this.buffered + part.length > MAX_LINE_BYTES) return this.tooLong();
      const line = this.chunks.length ? Buffer.concat([...this.chunks, part]).toString('utf8') : part.toString('utf8');
      this.chunks = [];
      this.buffered = 0;
      start = nl + 1;
      if (line.trim() !== '') this.onLine(this, line);
      if (this.closed) return;
    }
    if (start < d.length) {
      const rest = d.subarray(start);
      if (this.buffered + rest.length > MAX_LINE_BYTES) return this.tooLong();
      this.chunks.push(Buffer.from(rest));
      this.buffered += rest.length;
    }
  }

  private tooLong(): void {
    this.log('rpc.line_too_long', { conn: this.id });
    this.send({
      jsonrpc: '2.0',
      id: null,
      error: { code: RpcErrors.INVALID_REQUEST, message: `request larger than ${MAX_LINE_BYTES} bytes; connection closed`, data: { code: 'ERR_TOO_LARGE' } },
    });
    this.chunks = [];
    this.buffered = 0;
    this.socket.end(() => this.socket.destroy());
    this.finish();
  }

  send(obj: unknown): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(JSON.stringify(obj) + '\n');
    if (this.socket.writableLength > MAX_PENDING_OUTPUT) {
      this.log('rpc.slow_client', { conn: this.id });
      this.destroy();
    }
  }

  notify(method: string, params: unknown): void {
    this.send({ jsonrpc: '2.0', method, params });
  }

  onClose(fn: () => void): void {
    if (this.closed) queueMicrotask(fn);
    else this.closeFns.push(fn);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.closeFns.splice(0)) {
      try {
        fn();
      } catch (e) {
        this.log('rpc.onclose_error', { conn: this.id, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
}

/** Resolves true when something accepts a connection on `path`. */
function somethingListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(2000, () => done(true)); // it exists and accepts slowly: treat as alive, never delete it
  });
}

export class RpcServer {
  private readonly server: net.Server;
  private readonly conns = new Set<Connection>();
  private readonly log: (event: string, fields: Record<string, unknown>) => void;
  private nextConnId = 1;
  private path: string | null = null;
  private ino: number | null = null;

  constructor(
    private readonly handlers: Handlers,
    opts: RpcServerOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Listens on the Unix socket `path` (mode 0600), removing a stale socket file first. */
  async listen(path: string): Promise<void> {
    if (this.path !== null) throw new WotError('ERR_BAD_REQUEST', `the API server is already listening on ${this.path}`);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st) {
      if (!st.isSocket()) {
        throw new WotError('ERR_BAD_REQUEST', `${path} exists and is not a socket`, `move or delete ${path}, then start the daemon again`);
      }
      if (await somethingListens(path)) {
        throw new WotError(
          'ERR_BAD_REQUEST',
          `another daemon is already running for this home (socket ${path})`,
          'stop it first with: wotrelay stop (or use another --home)',
        );
      }
      fs.unlinkSync(path);
      this.log('rpc.stale_socket_removed', { path });
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        reject(
          e.code === 'EADDRINUSE'
            ? new WotError('ERR_BAD_REQUEST', `another daemon is already running for this home (socket ${path})`, 'stop it first with: wotrelay stop')
            : new WotError('ERR_INTERNAL', `cannot listen on ${path}: ${e.message}`, 'check that the home directory exists and is writable'),
        );
      };
      this.server.once('error', onError);
      // Create the socket file with no group/other access from the first moment.
      let oldMask: number | null = null;
      try {
        oldMask = process.umask(0o177);
      } catch {
        /* umask is not available in worker threads; chmod below still applies */
      }
      try {
        this.server.listen(path, () => {
          this.server.off('error', onError);
          resolve();
        });
      } finally {
        if (oldMask !== null) process.umask(oldMask);
      }
    });
    fs.chmodSync(path, 0o600);
    this.path = path;
    this.ino = fs.statSync(path).ino;
    this.server.on('error', (e) => this.log('rpc.server_error', { error: e.message }));
    this.log('rpc.listening', { path });
  }

  /** Stops listening, closes every connection and removes the socket file. */
  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Node unlinks the socket on close; remove it ourselves only if it is still ours.
    if (this.path !== null) {
      try {
        if (fs.statSync(this.path).ino === this.ino) fs.unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
    this.path = null;
  }

  private accept(socket: net.Socket): void {
    const id = this.nextConnId++;
    if (this.conns.size >= MAX_CLIENTS) {
      this.log('rpc.too_many_clients', { conn: id, limit: MAX_CLIENTS });
      socket.on('error', () => {});
      socket.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: RpcErrors.INTERNAL, message: `too many API clients (limit ${MAX_CLIENTS})`, data: { code: 'ERR_LIMIT_EXCEEDED', hint: 'close other wotrelay commands (e.g. watch) and try again' } },
        }) + '\n',
        () => socket.destroy(),
      );
      return;
    }
    const conn = new Connection(id, socket, (c, line) => this.onLine(c, line), this.log);
    this.conns.add(conn);
    conn.onClose(() => {
      this.conns.delete(conn);
      this.log('rpc.disconnect', { conn: id });
    });
    this.log('rpc.connect', { conn: id });
  }

  private onLine(conn: Connection, line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      conn.send({ jsonrpc: '2.0', id: null, error: { code: RpcErrors.PARSE_ERROR, message: 'request is not valid JSON', data: { code: 'ERR_BAD_REQUEST' } } });
      return;
    }
    if (Array.isArray(msg)) {
      conn.send({ jsonrpc: '2.0', id: null, error: { code: RpcErrors.INVALID_REQUEST, message: 'batch requests are not supported; send one request per line', data: { code: 'ERR_BAD_REQUEST' } } });
      return;
    }
    if (typeof msg !== 'object' || msg === null) {
      conn.send({ jsonrpc: '2.0', id: null, error: { code: RpcErrors.INVALID_REQUEST, message: 'request must be a JSON object', data: { code: 'ERR_BAD_REQUEST' } } });
      return;
    }
    const req = msg as Record<string, unknown>;
    const hasId = Object.prototype.hasOwnProperty.call(req, 'id');
    const rawId = req.id;
    const idOk = rawId === null || typeof rawId === 'string' || (typeof rawId === 'number' && Number.isFinite(rawId));
    const id: RpcId = idOk ? (rawId as RpcId) : null;
    const reply = (body: { result: unknown } | { error: RpcErrorObject }) => {
      if (hasId) conn.send({ jsonrpc: '2.0', id, ...body });
    };
    if (req.jsonrpc !== '2.0' || typeof req.method !== 'string' || (hasId && !idOk)) {
      const what = req.jsonrpc !== '2.0' ? '"jsonrpc" must be "2.0"' : typeof req.method !== 'string' ? '"method" must be a string' : '"id" must be a string, number or null';
      conn.send({ jsonrpc: '2.0', id, error: { code: RpcErrors.INVALID_REQUEST, message: `invalid request: ${what}`, data: { code: 'ERR_BAD_REQUEST' } } });
      return;
    }
    const method = req.method;
    if (!isMethodName(method)) {
      reply({ error: { code: RpcErrors.METHOD_NOT_FOUND, message: `unknown method "${method}"`, data: { code: 'ERR_BAD_REQUEST', hint: 'the methods are listed in README.md ("Local API")' } } });
      return;
    }
    let params: Params<typeof method>;
    try {
      params = validateParams(method, req.params);
    } catch (e) {
      if (e instanceof ParamError) {
        reply({ error: { code: RpcErrors.INVALID_PARAMS, message: `${method}: ${e.message}`, data: { code: 'ERR_BAD_REQUEST' } } });
        return;
      }
      throw e;
    }
    this.log('rpc.request', { conn: conn.id, method });
    const handler = this.handlers[method] as (p: unknown, ctx: RpcContext) => unknown;
    let pending: unknown;
    try {
      pending = handler(params, conn);
    } catch (e) {
      reply({ error: this.toRpcError(method, e) });
      return;
    }
    Promise.resolve(pending).then(
      (result) => reply({ result: result === undefined ? null : result }),
      (e: unknown) => reply({ error: this.toRpcError(method, e) }),
    );
  }

  private toRpcError(method: string, e: unknown): RpcErrorObject {
    if (isWotError(e)) {
      const data: { code: string; hint?: string } = { code: e.code };
      if (e.hint !== undefined) data.hint = e.hint;
      return { code: RpcErrors.APP_ERROR, message: e.message, data };
    }
    // The stack goes to the daemon's own log only, never to the client.
    this.log('rpc.internal_error', {
      method,
      error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      ...(e instanceof Error && e.stack ? { stack: e.stack } : {}),
    });
    return { code: RpcErrors.INTERNAL, message: 'internal error', data: { code: 'ERR_INTERNAL', hint: 'see the daemon log for details' } };
  }
}
