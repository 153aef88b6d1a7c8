/**
 * Where an agent keeps its files: the home directory (flag, WOTRELAY_HOME, XDG data dir)
 * and the fixed file names inside it. Pure functions of their inputs (plus os.tmpdir()).
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

/** Unix socket paths longer than this do not fit in sockaddr_un on every platform. */
const MAX_SOCKET_PATH_BYTES = 100;

function nonEmpty(s: string | undefined): string | undefined {
  return s !== undefined && s.trim() !== '' ? s : undefined;
}

function expandTilde(p: string, env: NodeJS.ProcessEnv): string {
  if (p === '~' || p.startsWith('~/')) {
    const userHome = nonEmpty(env.HOME) ?? os.homedir();
    return path.join(userHome, p.slice(1));
  }
  return p;
}

/**
 * The agent's home directory, absolute: `--home` flag > `WOTRELAY_HOME` >
 * `$XDG_DATA_HOME/wotrelay` (only when absolute, as the XDG spec requires) > `~/.local/share/wotrelay`.
 */
export function resolveHome(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = nonEmpty(flag) ?? nonEmpty(env.WOTRELAY_HOME);
  if (explicit !== undefined) return path.resolve(expandTilde(explicit, env));
  const xdg = nonEmpty(env.XDG_DATA_HOME);
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'wotrelay');
  const userHome = nonEmpty(env.HOME) ?? os.homedir();
  return path.resolve(userHome, '.local', 'share', 'wotrelay');
}

/**
 * The local API socket: `<home>/api.sock`, or, when that path is too long for a Unix
 * socket, `<tmpdir>/wotrelay-<first 16 hex of sha256(home)>.sock`.
 */
export function socketPath(home: string): string {
  const p = path.join(home, 'api.sock');
  if (Buffer.byteLength(p) <= MAX_SOCKET_PATH_BYTES) return p;
  const h = createHash('sha256').update(home).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), `wotrelay-${h}.sock`);
}

export function dbPath(home: string): string {
  return path.join(home, 'wotrelay.db');
}

export function configPath(home: string): string {
  return path.join(home, 'config.json');
}

export function pidPath(home: string): string {
  return path.join(home, 'daemon.pid');
}

/** Where the lists hosted by the agent in `home` live: <home>/lists/. */
export function listsDir(home: string): string {
  return path.join(home, 'lists');
}

/** The agent home of the list `name` hosted by the agent in `home`: <home>/lists/<name>. */
export function hostedListHome(home: string, name: string): string {
  return path.join(home, 'lists', name);
}
