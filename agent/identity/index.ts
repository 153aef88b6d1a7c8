/**
 * agent/identity: printable ids and fingerprints, agent certificates, secret key files,
 * the on-disk identity and invite codes.
 */
export * from './ids.js';
export * from './cert.js';
export * from './keyfile.js';
export * from './identity.js';
export * from './invite.js';
export * from './announce.js';
