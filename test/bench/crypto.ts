/**
 * The crypto backends on one core, to decide which library does what (the decision is in
 * test/bench/README.md): Ed25519 sign and verify with node:crypto (OpenSSL), sodium-native
 * (libsodium), @noble/ed25519 and tweetnacl; X25519 with node:crypto, sodium-native and tweetnacl; a 1 KiB and a 400-byte AEAD
 * (ChaCha20-Poly1305 by node:crypto and libsodium, tweetnacl's XSalsa20-Poly1305 secretbox); SHA-256 of a Merkle node;
 * and what a batch signature costs per item, signing and verifying, against one Ed25519
 * signature per item. node:crypto is the baseline of every row.
 */
import { createCipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hash, randomBytes, sign, verify } from 'node:crypto';
import * as ed from '@noble/ed25519';
import nacl from 'tweetnacl';
import { aeadSeal, clearBatchCache, counterNonce, signBatch, signingKeyFromSeed, verifyBatched } from '../../agent/crypto/index.js';
import { sodium } from '../../agent/crypto/sodium.js';
import { Domain } from '../../agent/wire/constants.js';
import { compare, opsPerSecond, type Bench, type BenchOptions, type BenchReport, type Figure } from './lib.js';

ed.hashes.sha512 = (m: Uint8Array) => new Uint8Array(createHash('sha512').update(m).digest());

export const cryptoBench: Bench = {
  name: 'crypto',
  title: 'crypto backends on one core (node:crypto is the baseline of each row)',
  async run(opts: BenchOptions): Promise<BenchReport> {
    const t0 = performance.now();
    const ms = opts.quick ? 30 : 400;
    const msg = new Uint8Array(randomBytes(200));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const seed = new Uint8Array(Buffer.from(String(privateKey.export({ format: 'jwk' }).d), 'base64url'));
    const pub = new Uint8Array(Buffer.from(String(publicKey.export({ format: 'jwk' }).x), 'base64url'));
    const nodeSig = new Uint8Array(sign(null, msg, privateKey));
    const naclKp = nacl.sign.keyPair.fromSeed(seed);
    const figures: Figure[] = [];
    const row = (name: string, unit: string, node: number, others: Array<[string, number]>): void => {
      figures.push({ name: `${name}: node:crypto`, value: node, unit });
      for (const [lib, v] of others) figures.push(compare({ name: `${name}: ${lib}`, value: v, unit, baseline: { name: 'node:crypto', value: node } }));
    };
    opts.log('crypto: Ed25519');
    const sodiumSk = Buffer.concat([Buffer.from(seed), Buffer.from(pub)]);
    const sodiumRows = (f: () => void): Array<[string, number]> => (sodium ? [['sodium-native (libsodium)', opsPerSecond(f, ms)]] : []);
    row('Ed25519 sign', 'ops/s', opsPerSecond(() => sign(null, msg, privateKey), ms), [
      ...sodiumRows(() => sodium!.crypto_sign_detached(new Uint8Array(64), msg, sodiumSk)),
      ['@noble/ed25519', opsPerSecond(() => ed.sign(msg, seed), ms)],
      ['tweetnacl', opsPerSecond(() => nacl.sign.detached(msg, naclKp.secretKey), ms / 3)],
    ]);
    row('Ed25519 verify', 'ops/s', opsPerSecond(() => verify(null, msg, publicKey, nodeSig), ms), [
      ...sodiumRows(() => sodium!.crypto_sign_verify_detached(nodeSig, msg, pub)),
      ['@noble/ed25519', opsPerSecond(() => ed.verify(nodeSig, msg, pub), ms)],
      ['tweetnacl', opsPerSecond(() => nacl.sign.detached.verify(msg, nodeSig, pub), ms / 3)],
    ]);
    opts.log('crypto: X25519, AEAD, SHA-256');
    const a = generateKeyPairSync('x25519');
    const b = generateKeyPairSync('x25519');
    const bRaw = new Uint8Array(Buffer.from(String(b.publicKey.export({ format: 'jwk' }).x), 'base64url'));
    const aRaw = new Uint8Array(Buffer.from(String(a.privateKey.export({ format: 'jwk' }).d), 'base64url'));
    const shared = new Uint8Array(32);
    row('X25519 (key agreement)', 'ops/s', opsPerSecond(() => diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey }), ms), [
      ...sodiumRows(() => sodium!.crypto_scalarmult(shared, aRaw, bRaw)),
      ['tweetnacl', opsPerSecond(() => nacl.scalarMult(aRaw, bRaw), ms / 3)],
    ]);
    row('X25519 incl. importing the raw peer key (as seal/open do)', 'ops/s', opsPerSecond(() => diffieHellman({ privateKey: a.privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(bRaw).toString('base64url') }, format: 'jwk' }) }), ms), [
      ['same, DER import of our own secret each time', opsPerSecond(() => diffieHellman({ privateKey: createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.from(aRaw)]), format: 'der', type: 'pkcs8' }), publicKey: b.publicKey }), ms)],
    ]);
    const kib = new Uint8Array(randomBytes(1024));
    const key = new Uint8Array(randomBytes(32));
    const nonce24 = new Uint8Array(randomBytes(24));
    let ctr = 0;
    const nodeSeal = (m: Uint8Array): Uint8Array => {
      const c = createCipheriv('chacha20-poly1305', key, counterNonce(ctr++), { authTagLength: 16 });
      return Buffer.concat([c.update(m), c.final(), c.getAuthTag()]);
    };
    const small = new Uint8Array(randomBytes(400));
    for (const [label, m] of [['1 KiB', kib], ['400 B (a link record of acknowledgements)', small]] as const) {
      row(`AEAD seal ${label}, ChaCha20-Poly1305`, 'ops/s', opsPerSecond(() => nodeSeal(m), ms), [
        ...(sodium ? [['sodium-native (libsodium), as aead.ts seals', opsPerSecond(() => aeadSeal(key, counterNonce(ctr++), m), ms)] as [string, number]] : []),
        ['tweetnacl secretbox (XSalsa20-Poly1305)', opsPerSecond(() => nacl.secretbox(m, nonce24, key), ms)],
      ]);
    }
    const node65 = new Uint8Array(randomBytes(65));
    const out32 = new Uint8Array(32);
    row('SHA-256 of a 65-byte Merkle node (crypto.hash)', 'ops/s', opsPerSecond(() => hash('sha256', node65, 'buffer'), ms), [
      ['createHash().update().digest()', opsPerSecond(() => createHash('sha256').update(node65).digest(), ms)],
      ...sodiumRows(() => sodium!.crypto_hash_sha256(out32, node65)),
    ]);
    opts.log('crypto: batch signatures');
    const k = signingKeyFromSeed(seed);
    const items = (n: number) => Array.from({ length: n }, (_, i) => ({ domain: Domain.HOP, bytes: new Uint8Array(112).fill(i & 255) }));
    const perItemSign = (n: number): number => {
      const it = items(n);
      return n * opsPerSecond(() => signBatch(k, it), ms);
    };
    const single = perItemSign(1);
    for (const n of [16, 256]) {
      figures.push(compare({ name: `batch signature, ${n} items: items signed`, value: perItemSign(n), unit: 'items/s', baseline: { name: 'one signature per item', value: single } }));
    }
    const verifyPerItem = (n: number): number => {
      const it = items(n);
      const sigs = signBatch(k, it);
      return n * opsPerSecond(() => {
        clearBatchCache();
        for (let i = 0; i < n; i++) verifyBatched(k.publicKey, Domain.HOP, it[i]!.bytes, sigs[i]!);
      }, ms);
    };
    const vSingle = verifyPerItem(1);
    for (const n of [16, 256]) {
      figures.push(compare({ name: `batch signature, ${n} items: items verified (cold cache)`, value: verifyPerItem(n), unit: 'items/s', baseline: { name: 'one signature per item', value: vSingle } }));
    }
    return {
      name: 'crypto',
      title: this.title,
      figures,
      details: { openssl: process.versions.openssl, msgBytes: msg.length },
      notes: [`the hot path uses ${sodium ? 'libsodium (sodium-native) for Ed25519, X25519, ChaCha20-Poly1305, SHA-256 of small inputs and HMAC/HKDF of short ones, and node:crypto for SHA-256 of long inputs' : 'node:crypto (sodium-native did not load here)'}; the pure-JS libraries stay off it (see test/bench/README.md); batch rows use the agent's own sign/verify`],
      seconds: (performance.now() - t0) / 1000,
    };
  },
};
