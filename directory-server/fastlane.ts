/**
 * The directory's fast lane: a strict reader of the one hot request, a lookup — `GET` or
 * `HEAD /v1/records/<canonical entity id> HTTP/1.1`, no body — placed in front of node:http
 * on the same listening server. It answers pipelined lookups straight from the socket, all
 * answers to one read in one write, without node:http's per-request objects (about half of a
 * lookup's CPU went to them).
 *
 * It understands only that one request form, and strictly. The first request of a connection
 * it does not take — any other method, path or version, a body or a header announcing one
 * (Content-Length, Transfer-Encoding, Expect, Upgrade), any byte in a header that HTTP does
 * not allow (a bare CR or LF, other controls), no Host or two, an unusual Connection value, a
 * head over the size limit — is handed, from its first byte, to node:http's own connection
 * handler together with the socket, which keeps it for the rest of its life. So everything
 * but the plain lookup is parsed, answered or refused by Node's parser exactly as without the
 * lane, and the lane never decides where one message ends except for a bodiless GET/HEAD whose
 * head it has read whole.
 *
 * The lane keeps node:http's limits for what it holds: the keep-alive timeout (an idle
 * connection is closed), the header size, requests per connection (the last answer says
 * `Connection: close`), backpressure (a client that does not read its answers is not read
 * further until they have gone out), and a head left unfinished is answered 408 and closed
 * when the connection then falls silent for the keep-alive timeout or the headers timeout
 * passes.
 */
import http from 'node:http';
import type net from 'node:net';

/** A lookup read by the lane. */
export interface LaneRequest {
  /** HEAD: the answer has no body. */
  readonly head: boolean;
  /** The id as written in the path (canonical: checksum verified by `decodeId`). */
  readonly rawId: string;
  readonly entity: Uint8Array;
  /** The Accept header's value (several joined with ", "), if any. */
  readonly accept: string | undefined;
  /** The X-Forwarded-For header's value (several joined with ", "), if any. */
  readonly forwardedFor: string | undefined;
  /** `Connection: close`: the answer is the connection's last. */
  readonly close: boolean;
}

/** An answer: status, header names and values in turn, and the body as a latin1 string (one char per byte). */
export interface LaneReply {
  readonly status: number;
  readonly headers: readonly string[];
  readonly body: string;
}

export interface LaneOptions {
  readonly maxHeaderSize: number;
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly maxRequestsPerSocket: number;
  /** The entity key of an id in canonical form, or null (the request then goes to node:http). */
  decodeId(rawId: string): Uint8Array | null;
  /** Answers a lookup that came on `socket`, synchronously (a refusal is an answer too). */
  answer(req: LaneRequest, socket: net.Socket): LaneReply;
  /** Told of each connection handed to node:http (metrics, tests). */
  onHandOff?(reason: HandOffReason): void;
}

export interface FastLane {
  /** Connections the lane holds now (not yet handed to node:http). */
  readonly connections: number;
  /** Closes the lane's connections that wait for nothing; new requests on them are not read. */
  closeIdleConnections(): void;
  /** Destroys every connection the lane holds. */
  closeAllConnections(): void;
}

const GET_PREFIX = 'GET /v1/records/';
const HEAD_PREFIX = 'HEAD /v1/records/';
const VERSION_SUFFIX = ' HTTP/1.1';
/** A header name: an RFC 9110 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A byte a header value may not hold: controls other than HTAB, and DEL. */
const BAD_VALUE_BYTE = /[\x00-\x08\x0a-\x1f\x7f]/;
/** More header lines than this and the request goes to node:http (whose limit is higher). */
const MAX_LANE_HEADERS = 64;

/**
 * Why the lane handed a connection to node:http: `request` another method, path, id form or
 * version; `header` a header line HTTP does not allow (or that the lane does not read: a folded
 * line); `headers` more header lines than the lane reads; `body` Content-Length or
 * Transfer-Encoding; `expect`, `upgrade`; `connection` a Connection value other than
 * keep-alive or close; `host` no Host header or more than one; `size` a head over the size limit.
 */
export type HandOffReason = 'request' | 'header' | 'headers' | 'body' | 'expect' | 'upgrade' | 'connection' | 'host' | 'size';

/** The lookup, or why the lane does not take the request. */
type Parsed = LaneRequest | HandOffReason;

let dateSecond = -1;
let dateText = '';
/** The Date header's value, made once a second. */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

/** Trims optional whitespace (SP, HTAB) around a header value, as HTTP defines it. */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

const join = (a: string | undefined, v: string): string => (a === undefined ? v : `${a}, ${v}`);

/**
 * Reads the request whose head is `text[start, end)` (`end` the index of its blank line's
 * CRLFCRLF): the lookup, or why the lane does not take it.
 */
function parseHead(text: string, start: number, end: number, decodeId: (raw: string) => Uint8Array | null): Parsed {
  const lineEnd = text.indexOf('\r\n', start);
  let head: boolean;
  let idStart: number;
  if (text.startsWith(GET_PREFIX, start)) {
    head = false;
    idStart = start + GET_PREFIX.length;
  } else if (text.startsWith(HEAD_PREFIX, start)) {
    head = true;
    idStart = start + HEAD_PREFIX.length;
  } else return 'request';
  const idEnd = lineEnd - VERSION_SUFFIX.length;
  if (idEnd <= idStart || !text.startsWith(VERSION_SUFFIX, idEnd)) return 'request';
  const rawId = text.slice(idStart, idEnd);
  // Canonical ids are lower-case letters and digits: a space, '%', '?' or anything else fails here.
  const entity = decodeId(rawId);
  if (entity === null) return 'request';
  let host = 0;
  let accept: string | undefined;
  let forwardedFor: string | undefined;
  let close = false;
  let lines = 0;
  for (let p = lineEnd + 2; p < end + 2; ) {
    const e = text.indexOf('\r\n', p);
    if (++lines > MAX_LANE_HEADERS) return 'headers';
    const colon = text.indexOf(':', p);
    if (colon <= p || colon > e) return 'header';
    const name = text.slice(p, colon);
    if (!TOKEN.test(name)) return 'header';
    const value = trimOws(text.slice(colon + 1, e));
    if (BAD_VALUE_BYTE.test(value)) return 'header';
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') host++;
        break;
      case 6:
        if (name.toLowerCase() === 'accept') accept = join(accept, value);
        else if (name.toLowerCase() === 'expect') return 'expect';
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return 'upgrade';
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          const v = value.toLowerCase();
          if (v === 'close') close = true;
          else if (v !== 'keep-alive') return 'connection';
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') return 'body';
        break;
      case 15:
        if (name.toLowerCase() === 'x-forwarded-for') forwardedFor = join(forwardedFor, value);
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return 'body';
        break;
    }
    p = e + 2;
  }
  if (host !== 1) return 'host';
  return { head, rawId, entity, accept, forwardedFor, close };
}

/**
 * Puts the lane in front of `server`'s own connection handler: from now on every connection
 * `server` accepts is read by the lane first.
 */
export function installFastLane(server: http.Server, opts: LaneOptions): FastLane {
  const nodeHandlers = server.listeners('connection') as ((socket: net.Socket) => void)[];
  if (nodeHandlers.length !== 1) throw new Error(`expected node:http's one connection handler, found ${nodeHandlers.length}`);
  const nodeConnection = nodeHandlers[0]!;
  server.removeListener('connection', nodeConnection);
  /** The lane's connections, each with the unfinished head it holds (null: none). */
  const held = new Map<net.Socket, { pending: Buffer | null; release(): void }>();
  // As node:http says it (with maxRequestsPerSocket set).
  const keepAlive = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(opts.keepAliveTimeoutMs / 1000)}, max=${opts.maxRequestsPerSocket}\r\n\r\n`;
  let closing = false;

  function serialize(reply: LaneReply, head: boolean, last: boolean): string {
    let s = `HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status] ?? 'Unknown'}\r\n`;
    const h = reply.headers;
    for (let i = 0; i < h.length; i += 2) s += `${h[i]}: ${h[i + 1]}\r\n`;
    s += `Date: ${httpDate()}\r\n`;
    s += last ? 'Connection: close\r\n\r\n' : keepAlive;
    return head ? s : s + reply.body;
  }

  /** What node:http does with a request its parser refuses: the server's 'clientError' handler answers. */
  function clientError(socket: net.Socket, code: string, message: string): void {
    const err = Object.assign(new Error(message), { code });
    if (server.listenerCount('clientError') > 0) server.emit('clientError', err, socket);
    else socket.destroy();
  }

  server.on('connection', (socket: net.Socket) => {
    let pendingSince = 0;
    let requests = 0;

    const release = (): void => {
      held.delete(socket);
      socket.removeListener('drain', onDrain);
      socket.removeListener('data', onData);
      socket.removeListener('timeout', onTimeout);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onEnd);
      socket.setTimeout(0);
    };
    const conn = { pending: null as Buffer | null, release };
    held.set(socket, conn);
    const timeOutHead = (): void => {
      release();
      closeAfterWrites(socket, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
    const onTimeout = (): void => {
      if (conn.pending !== null) timeOutHead();
      else {
        release();
        socket.destroy();
      }
    };
    // Backpressure, as node:http has it for pipelined requests: a client that sends lookups
    // without reading the answers is not read further until they have gone out.
    const onDrain = (): void => {
      socket.resume();
    };
    const onError = (): void => {
      /* a reset by the peer: 'close' follows */
    };
    const onClose = (): void => {
      held.delete(socket);
    };
    // node:http's server allows half-open connections: the client's end is answered with ours;
    // a head left unfinished by it is a client error, as node:http's parser finds it.
    const onEnd = (): void => {
      release();
      if (conn.pending !== null) clientError(socket, 'HPE_INVALID_EOF_STATE', 'the request ended before its head');
      else socket.end();
    };

    function onData(chunk: Buffer): void {
      const buf: Buffer = conn.pending === null ? chunk : Buffer.concat([conn.pending, chunk]);
      conn.pending = null;
      const text = buf.toString('latin1');
      let pos = 0;
      let out = '';
      let last = false;
      let closeAsked = false;
      let handOff: HandOffReason | null = null;
      while (pos < text.length) {
        const end = text.indexOf('\r\n\r\n', pos);
        if (end < 0) {
          if (text.length - pos > opts.maxHeaderSize) handOff = 'size';
          break;
        }
        if (end + 4 - pos > opts.maxHeaderSize) {
          handOff = 'size';
          break;
        }
        const req = parseHead(text, pos, end, opts.decodeId);
        if (typeof req === 'string') {
          handOff = req;
          break;
        }
        requests++;
        const reply = opts.answer(req, socket);
        closeAsked = req.close;
        last = req.close || requests >= opts.maxRequestsPerSocket || closing || closesConnection(reply);
        out += serialize(reply, req.head, last);
        pos = end + 4;
        if (last) break;
      }
      if (out !== '' && !socket.write(out, 'latin1') && !last && handOff === null) {
        socket.pause();
        socket.once('drain', onDrain);
      }
      if (last) {
        release();
        // Bytes after a request that said Connection: close are a client error to node:http's
        // parser as well; those after the last request a connection may make are not read.
        if (closeAsked && pos < buf.length) clientError(socket, 'HPE_CLOSED_CONNECTION', 'data after Connection: close');
        else closeAfterWrites(socket);
        return;
      }
      if (handOff !== null) {
        opts.onHandOff?.(handOff);
        release();
        socket.pause();
        if (pos < buf.length) socket.unshift(buf.subarray(pos));
        nodeConnection.call(server, socket);
        socket.resume();
        return;
      }
      if (pos < buf.length) {
        // An unfinished head: kept (a copy, not a view holding the whole read) until the rest comes.
        // Its clock starts with its first bytes: this read's, if a request ended in it.
        const now = performance.now();
        if (pendingSince === 0 || pos > 0) pendingSince = now;
        else if (now - pendingSince > opts.headersTimeoutMs) return timeOutHead();
        conn.pending = Buffer.from(buf.subarray(pos));
      } else pendingSince = 0;
    }

    socket.setNoDelay(true);
    socket.setTimeout(opts.keepAliveTimeoutMs);
    socket.on('timeout', onTimeout);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('end', onEnd);
    socket.on('data', onData);
  });

  return {
    get connections() {
      return held.size;
    },
    closeIdleConnections(): void {
      closing = true;
      for (const [s, c] of held) {
        if (c.pending !== null) continue;
        c.release();
        closeAfterWrites(s);
      }
    },
    closeAllConnections(): void {
      closing = true;
      for (const s of held.keys()) s.destroy();
      held.clear();
    },
  };
}

/**
 * Ends the connection (after `last`, if given) and destroys it once what was written has gone
 * out, as node:http's destroySoon does: the server allows half-open connections, and a client
 * that never closes its side must not keep the socket.
 */
function closeAfterWrites(socket: net.Socket, last?: string): void {
  if (last === undefined) socket.end(() => socket.destroy());
  else socket.end(last, () => socket.destroy());
}

function closesConnection(reply: LaneReply): boolean {
  const h = reply.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i]!.length === 10 && h[i]!.toLowerCase() === 'connection' && h[i + 1]!.toLowerCase() === 'close') return true;
  return false;
}
