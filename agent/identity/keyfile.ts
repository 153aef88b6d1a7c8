/**
 * Secret key files owned by agent/identity: JSON files written atomically with mode 0600
 * (never group/world readable at any moment) and refused on read when they are symlinks,
 * not regular files, owned by another user or accessible by group/others.
 * Key material never appears in any message.
 */
import {
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname } from 'node:path';
import { fromBase64url, randomBytes, toBase64url, toHex } from '../crypto/index.js';
import { WotError } from '../wire/errors.js';

export interface KeyFileContents {
  kind: 'entity' | 'agent';
  ed25519Seed: Uint8Array;
  x25519Secret?: Uint8Array;
}

const TYPE = { entity: 'wotrelay-entity-key', agent: 'wotrelay-agent-key' } as const;
const MAX_KEY_FILE_BYTES = 4096;

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** Atomically writes a key file: tmp file (0600, exclusive) → fsync → rename → fsync dir. */
export function writeKeyFile(path: string, contents: KeyFileContents): void {
  if (contents.ed25519Seed.length !== 32) throw new WotError('ERR_KEY_FILE', `key for ${path}: Ed25519 seed must be 32 bytes`);
  if (contents.x25519Secret !== undefined && contents.x25519Secret.length !== 32) {
    throw new WotError('ERR_KEY_FILE', `key for ${path}: X25519 secret must be 32 bytes`);
  }
  const json: Record<string, string | number> = {
    type: TYPE[contents.kind],
    version: 1,
    ed25519Seed: toBase64url(contents.ed25519Seed),
  };
  if (contents.x25519Secret !== undefined) json.x25519Secret = toBase64url(contents.x25519Secret);
  const data = Buffer.from(JSON.stringify(json) + '\n', 'utf8');
  const tmp = `${path}.tmp-${toHex(randomBytes(6))}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (e) {
    throw new WotError('ERR_KEY_FILE', `cannot create key file ${tmp}: ${(e as Error).message}`, `check that ${dirname(path)} exists and is writable`);
  }
  let renamed = false;
  try {
    fchmodSync(fd, 0o600);
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
    renamed = true;
  } catch (e) {
    throw new WotError('ERR_KEY_FILE', `cannot write key file ${path}: ${(e as Error).message}`, `check that ${dirname(path)} is writable`);
  } finally {
    if (fd !== -1) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    if (!renamed) {
      try {
        unlinkSync(tmp);
      } catch {
        /* nothing to clean */
      }
    }
  }
  fsyncDir(dirname(path));
}

/** Best-effort fsync of a directory so a rename is durable. */
export function fsyncDir(dir: string): void {
  let dfd = -1;
  try {
    dfd = openSync(dir, 'r');
    fsyncSync(dfd);
  } catch {
    /* not supported on every platform/filesystem */
  } finally {
    if (dfd !== -1) closeSync(dfd);
  }
}

function modeString(mode: number): string {
  return '0' + (mode & 0o777).toString(8).padStart(3, '0');
}

function checkStats(path: string, st: Stats): void {
  if (st.isSymbolicLink()) {
    throw new WotError('ERR_KEY_FILE_PERMS', `key file ${path} is a symlink; refusing to follow it`, 'replace the symlink with the real file');
  }
  if (!st.isFile()) {
    throw new WotError('ERR_KEY_FILE_PERMS', `key file ${path} is not a regular file`, `replace ${path} with the real key file`);
  }
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new WotError(
      'ERR_KEY_FILE_PERMS',
      `key file ${path} is owned by another user (uid ${st.uid}); fix it with: chown $(id -u) ${path}`,
      `fix it with: chown $(id -u) ${path}`,
    );
  }
  if ((st.mode & 0o077) !== 0) {
    const how = (st.mode & 0o044) !== 0 ? 'readable' : 'writable or executable';
    throw new WotError(
      'ERR_KEY_FILE_PERMS',
      `key file ${path} is ${how} by group or others (mode ${modeString(st.mode)}); fix it with: chmod 600 ${path}`,
      `fix it with: chmod 600 ${path}`,
    );
  }
}

function bad(path: string, what: string): WotError {
  return new WotError('ERR_KEY_FILE', `key file ${path} is damaged: ${what}`, 'restore it from a backup');
}

function decodeKey(path: string, field: string, v: unknown): Uint8Array {
  if (typeof v !== 'string') throw bad(path, `field ${field} is missing`);
  let b: Uint8Array;
  try {
    b = fromBase64url(v);
  } catch {
    throw bad(path, `field ${field} is not base64url`);
  }
  if (b.length !== 32) throw bad(path, `field ${field} must be 32 bytes`);
  return b;
}

/** Reads and checks a key file of the expected kind (permissions first, then contents). */
export function readKeyFile(path: string, expected: 'entity' | 'agent'): KeyFileContents {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) {
      throw new WotError('ERR_KEY_FILE', `key file ${path} not found`, 'create an identity with `wotrelay init`, or restore the file from a backup');
    }
    throw new WotError('ERR_KEY_FILE', `cannot read key file ${path}: ${(e as Error).message}`);
  }
  checkStats(path, st);
  let text: string;
  let fd = -1;
  try {
    // O_NOFOLLOW and a second check on the open descriptor close the lstat/open race.
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
    const st2 = fstatSync(fd);
    if (st2.ino !== st.ino || st2.dev !== st.dev) {
      throw new WotError('ERR_KEY_FILE_PERMS', `key file ${path} changed while being read`, 'try again');
    }
    checkStats(path, st2);
    if (st2.size > MAX_KEY_FILE_BYTES) throw bad(path, 'file is too large');
    text = readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof WotError) throw e;
    if (isErrno(e, 'ELOOP')) {
      throw new WotError('ERR_KEY_FILE_PERMS', `key file ${path} is a symlink; refusing to follow it`, 'replace the symlink with the real file');
    }
    throw new WotError('ERR_KEY_FILE', `cannot read key file ${path}: ${(e as Error).message}`);
  } finally {
    if (fd !== -1) closeSync(fd);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    // The parser's message can quote file contents: never include it.
    throw bad(path, 'not valid JSON');
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw bad(path, 'not a JSON object');
  const o = obj as Record<string, unknown>;
  const type = o.type;
  if (type !== TYPE[expected]) {
    const other = expected === 'entity' ? 'agent' : 'entity';
    if (type === TYPE[other]) {
      throw new WotError('ERR_KEY_FILE', `key file ${path} holds an ${other} key, expected an ${expected} key`, 'check which file you passed');
    }
    throw bad(path, `field type must be "${TYPE[expected]}"`);
  }
  if (o.version !== 1) {
    throw new WotError('ERR_KEY_FILE', `key file ${path} has unsupported version ${JSON.stringify(o.version)}`, 'upgrade wotrelay');
  }
  const out: KeyFileContents = { kind: expected, ed25519Seed: decodeKey(path, 'ed25519Seed', o.ed25519Seed) };
  if (o.x25519Secret !== undefined || expected === 'agent') {
    out.x25519Secret = decodeKey(path, 'x25519Secret', o.x25519Secret);
  }
  return out;
}
