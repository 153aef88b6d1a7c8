/**
 * The daemon's TCP listener, bound before the heavy part of start-up (crypto backends, the
 * codec, SQLite, Noise, identity, store): `wotrelay daemon` binds it first, so the port
 * accepts connections while the rest loads, and hands it to runDaemon. Until the daemon
 * serves it, accepted sockets are held paused (nothing is read from them, so no frame and
 * no handshake is processed before the identity and store are ready and the trust gate can
 * run); at most MAX_HELD are held, later ones are closed. Also owns HOST:PORT parsing and
 * the configured listen address. Imports nothing heavy.
 */
import fs from 'node:fs';
import net from 'node:net';
import { WotError } from '../wire/errors.js';
import { configPath } from './paths.js';

/** Where a daemon listens when neither --listen nor config.json says. */
export const DEFAULT_LISTEN = '0.0.0.0:7117';
/** Connections held while the daemon starts (its own per-address and handshake caps apply once it serves). */
export const MAX_HELD = 64;

export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new WotError('ERR_BAD_REQUEST', `"${s}" is not HOST:PORT`, 'use e.g. 127.0.0.1:7117 or [::1]:7117');
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new WotError('ERR_BAD_REQUEST', `port ${m[2]} is out of range`, 'use a port between 0 and 65535');
  }
  return { host: m[1]!, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The listen address a daemon in `home` will use: `flag`, else config.json's `listen`, else
 * DEFAULT_LISTEN. Null when config.json cannot be read as JSON: the daemon's own config check
 * reports that (and binds nothing early).
 */
export function configuredListen(home: string, flag: string | undefined): string | null {
  if (flag !== undefined) return flag;
  const p = configPath(home);
  if (!fs.existsSync(p)) return DEFAULT_LISTEN;
  try {
    const raw = JSON.parse(fs.readFileSync(p, 'utf8')) as { listen?: unknown };
    return typeof raw.listen === 'string' ? raw.listen : raw.listen === undefined ? DEFAULT_LISTEN : null;
  } catch {
    return null;
  }
}

/** A bound listener whose connections wait (paused, bounded) until `serve` gives them a handler. */
export class EarlyListener {
  private handler: ((socket: net.Socket) => void) | null = null;
  /** Held sockets and how to detach what this module listens to on each. */
  private readonly held = new Map<net.Socket, () => void>();
  /** Connections closed because MAX_HELD were already waiting. */
  refused = 0;

  private constructor(
    readonly server: net.Server,
    /** The address asked for (as given to bind), e.g. 0.0.0.0:7117. */
    readonly listen: string,
  ) {
    server.on('connection', (socket: net.Socket) => {
      if (this.handler) return this.handler(socket);
      if (this.held.size >= MAX_HELD) {
        this.refused++;
        socket.destroy();
        return;
      }
      const onError = (): void => void socket.destroy();
      const onClose = (): void => void this.held.delete(socket);
      socket.on('error', onError);
      socket.once('close', onClose);
      this.held.set(socket, () => {
        socket.off('error', onError);
        socket.off('close', onClose);
      });
    });
  }

  /** Binds `listen` (HOST:PORT); rejects with ERR_BAD_REQUEST naming the problem (port in use, bad address). */
  static async bind(listen: string): Promise<EarlyListener> {
    const { host, port } = parseHostPort(listen);
    // Paused on accept: a socket's bytes are read only once its handler resumes it.
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new WotError(
            'ERR_BAD_REQUEST',
            `cannot listen on ${listen}: ${e.code ?? e.message}`,
            e.code === 'EADDRINUSE' ? 'another process uses that port; pick another with --listen HOST:PORT' : 'check --listen',
          ),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    return new EarlyListener(server, listen);
  }

  /** From now on every connection goes to `handler` (which must resume it), those held first. */
  serve(handler: (socket: net.Socket) => void): void {
    this.handler = handler;
    const held = [...this.held];
    this.held.clear();
    for (const [s, detach] of held) {
      detach();
      if (!s.destroyed) handler(s);
    }
  }

  /** Stops listening and closes the connections still held. */
  close(): Promise<void> {
    for (const s of this.held.keys()) s.destroy();
    this.held.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
