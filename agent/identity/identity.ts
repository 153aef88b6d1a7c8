/**
 * The on-disk identity in a home directory, owned by agent/identity:
 *   entity.key (0600)  the entity's Ed25519 seed (may be moved offline)
 *   agent.key  (0600)  the agent's Ed25519 seed and X25519 secret
 *   agent.cert         the 185-byte certificate binding the agent to the entity
 * Creating, loading, and renewing the certificate near expiry.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import {
  boxKeyFromSecret,
  equalBytes,
  generateBoxKey,
  generateSigningKey,
  randomBytes,
  signingKeyFromSeed,
  toHex,
  type BoxKey,
  type SigningKey,
} from '../crypto/index.js';
import { WotError } from '../wire/errors.js';
import { decodeCertUnverified, issueCert, verifyCert, type AgentCert } from './cert.js';
import { fsyncDir, readKeyFile, writeKeyFile } from './keyfile.js';

export interface Identity {
  home: string;
  entityPub: Uint8Array;
  entityKey: SigningKey | null;
  agent: SigningKey;
  box: BoxKey;
  certBytes: Uint8Array;
  cert: AgentCert;
}

export const ENTITY_KEY_FILE = 'entity.key';
export const AGENT_KEY_FILE = 'agent.key';
export const AGENT_CERT_FILE = 'agent.cert';
export const DEFAULT_CERT_VALIDITY_MS = 365 * 24 * 3600 * 1000;
/** A certificate this close to expiry is renewed on load when the entity key is present. */
export const CERT_RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

export function identityExists(home: string): boolean {
  return existsSync(join(home, ENTITY_KEY_FILE)) || existsSync(join(home, AGENT_KEY_FILE));
}

/** Atomic write of a public file (tmp → fsync → rename → fsync dir). */
function writePublicFile(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp-${toHex(randomBytes(6))}`;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

function writeCert(home: string, certBytes: Uint8Array): void {
  const path = join(home, AGENT_CERT_FILE);
  try {
    writePublicFile(path, certBytes);
  } catch (e) {
    throw new WotError('ERR_KEY_FILE', `cannot write certificate ${path}: ${(e as Error).message}`, `check that ${home} is writable`);
  }
}

/** Creates a new entity + agent identity in `home` (made 0700 if missing) with a seq-1 cert. */
export function createIdentity(home: string, now: number, validityMs: number = DEFAULT_CERT_VALIDITY_MS): Identity {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new WotError('ERR_KEY_FILE', `cannot create home directory ${home}: ${(e as Error).message}`);
  }
  const entityPath = join(home, ENTITY_KEY_FILE);
  if (existsSync(entityPath) || existsSync(join(home, AGENT_KEY_FILE))) {
    throw new WotError(
      'ERR_KEY_FILE',
      `an identity already exists in ${home}; refusing to overwrite its keys`,
      'use another --home, or `wotrelay init --renew` to renew the certificate',
    );
  }
  const entityKey = generateSigningKey();
  const agent = generateSigningKey();
  const box = generateBoxKey();
  const certBytes = issueCert(entityKey, {
    agent: agent.publicKey,
    x25519: box.publicKey,
    notBefore: now,
    notAfter: now + validityMs,
    seq: 1,
  });
  writeKeyFile(entityPath, { kind: 'entity', ed25519Seed: entityKey.seed });
  writeKeyFile(join(home, AGENT_KEY_FILE), { kind: 'agent', ed25519Seed: agent.seed, x25519Secret: box.secretKey });
  writeCert(home, certBytes);
  const cert = verifyCert(certBytes, now);
  return { home, entityPub: entityKey.publicKey, entityKey, agent, box, certBytes, cert };
}

/**
 * Loads the identity in `home`, enforcing key-file permissions and checking that the cert
 * matches both keys. Renews the cert (seq+1) when it is expired or within 7 days of expiry
 * and the entity key is present.
 */
export function loadIdentity(home: string, now: number): Identity {
  const agentFile = readKeyFile(join(home, AGENT_KEY_FILE), 'agent');
  const agent = signingKeyFromSeed(agentFile.ed25519Seed);
  const box = boxKeyFromSecret(agentFile.x25519Secret!);
  const entityPath = join(home, ENTITY_KEY_FILE);
  const entityKey = existsSync(entityPath) ? signingKeyFromSeed(readKeyFile(entityPath, 'entity').ed25519Seed) : null;

  const certPath = join(home, AGENT_CERT_FILE);
  let certBytes: Uint8Array;
  try {
    certBytes = new Uint8Array(readFileSync(certPath));
  } catch (e) {
    throw new WotError('ERR_BAD_CERT', `cannot read certificate ${certPath}: ${(e as Error).message}`, 'restore agent.cert from a backup');
  }
  // Layout, keys and signature first, independent of the clock.
  const unverified = decodeCertUnverified(certBytes);
  let cert = verifyCert(certBytes, unverified.notBefore, 0);
  if (!equalBytes(cert.agent, agent.publicKey) || !equalBytes(cert.x25519, box.publicKey)) {
    throw new WotError('ERR_BAD_CERT', `certificate ${certPath} does not match ${join(home, AGENT_KEY_FILE)}`, 'restore the matching agent.cert');
  }
  if (entityKey !== null && !equalBytes(cert.entity, entityKey.publicKey)) {
    throw new WotError('ERR_BAD_CERT', `certificate ${certPath} was not issued by ${entityPath}`, 'restore the matching agent.cert');
  }
  if (entityKey !== null && now > cert.notAfter - CERT_RENEW_BEFORE_MS) {
    certBytes = issueCert(entityKey, {
      agent: agent.publicKey,
      x25519: box.publicKey,
      notBefore: now,
      notAfter: now + DEFAULT_CERT_VALIDITY_MS,
      seq: cert.seq + 1,
    });
    writeCert(home, certBytes);
  }
  cert = verifyCert(certBytes, now);
  return { home, entityPub: cert.entity, entityKey, agent, box, certBytes, cert };
}
