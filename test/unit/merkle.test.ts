/**
 * Batch signatures (agent/crypto/merkle.ts, agent/core/batch.ts; PROTOCOL.md 3.16): tree
 * shapes and proofs checked against an independent recursive definition written here, the
 * test vectors of the protocol spec, and every way an item can fail to be in a signed batch
 * (tampered item, wrong domain, forged sibling, wrong direction bits, a root signed by
 * another key, an item that is not in the root, malformed proofs), including after the
 * verifier has cached the root.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  batchCacheStats,
  clearBatchCache,
  equalBytes,
  merkleLeaf,
  merkleNode,
  merkleRoot,
  merkleTree,
  sha256,
  sign,
  signBatch,
  signingKeyFromSeed,
  toHex,
  utf8,
  verify,
  verifyBatched,
  type BatchSig,
} from '../../agent/crypto/index.js';
import { BatchSigner, immediateSigner } from '../../agent/core/batch.js';
import { hopLeaf, hopSigningBytes } from '../../agent/core/path.js';
import { Domain } from '../../agent/wire/constants.js';
import { decodeMessage, encodeMessage } from '../../agent/wire/index.js';
import type { Report } from '../../agent/wire/types.js';

const h = (...parts: Uint8Array[]): Uint8Array => {
  const x = createHash('sha256');
  for (const p of parts) x.update(p);
  return new Uint8Array(x.digest());
};
const item = (i: number): Uint8Array => utf8(`item ${i}`);
const key = signingKeyFromSeed(new Uint8Array(32).fill(7));
const other = signingKeyFromSeed(new Uint8Array(32).fill(8));

/** The spec's definition, recursively: pair neighbours level by level, an odd last node moves up. */
function specRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0]!;
  const next: Uint8Array[] = [];
  for (let i = 0; i + 1 < leaves.length; i += 2) next.push(h(Uint8Array.of(1), leaves[i]!, leaves[i + 1]!));
  if (leaves.length % 2 === 1) next.push(leaves[leaves.length - 1]!);
  return specRoot(next);
}

test('leaf and node hashes are the spec\'s domain-separated SHA-256', () => {
  const leaf = merkleLeaf(Domain.HOP, utf8('abc'));
  assert.equal(leaf, h(Uint8Array.of(0), utf8('wotrelay/v1/hop'), Uint8Array.of(0), utf8('abc')));
  assert.not.equal(leaf, merkleLeaf(Domain.REPORT, utf8('abc')), 'the domain is part of the leaf');
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  assert.equal(merkleNode(a, b), h(Uint8Array.of(1), a, b));
});

test('every tree from 1 to 70 leaves: the root is the spec\'s and every proof leads to it', () => {
  for (let n = 1; n <= 70; n++) {
    const leaves = Array.from({ length: n }, (_, i) => merkleLeaf(Domain.HOP, item(i)));
    const { root, proofs } = merkleTree(leaves);
    assert.equal(root, specRoot(leaves), `root of ${n}`);
    for (let i = 0; i < n; i++) {
      assert.equal(merkleRoot(leaves[i]!, proofs[i]!.p, proofs[i]!.x), root, `proof ${i} of ${n}`);
      assert.ok(proofs[i]!.p.length <= Math.ceil(Math.log2(n)), 'proofs are at most ceil(log2 n) long');
    }
  }
});

test('test vectors of PROTOCOL.md 3.16: three items, one batch', () => {
  // Leaves of utf8("item 0"), utf8("item 1"), utf8("item 2") in domain wotrelay/v1/hop,
  // signed by the agent key with seed 32 × 0x07.
  const sigs = signBatch(key, [0, 1, 2].map((i) => ({ domain: Domain.HOP, bytes: item(i) })));
  const leaves = [0, 1, 2].map((i) => merkleLeaf(Domain.HOP, item(i)));
  const root = merkleRoot(leaves[0]!, sigs[0]!.p, sigs[0]!.x);
  assert.is(toHex(key.publicKey), 'ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c');
  assert.equal(leaves.map(toHex), [
    '0056aa1ab1588a9d0db47efd5a08e850e90168bfab9b4e56f1d57c087076c597',
    '5422801901bbbdce7024172f998d84db0df7f52050dad721c15e0b827000d2a5',
    '0a967116cab895a083cf03c85cb446f1971cc27d30233f9f90153b205da076dc',
  ]);
  assert.is(toHex(merkleNode(leaves[0]!, leaves[1]!)), '876f1045d31e1f3c909b2a07e2edd9b7b6069127074d59bd29c342e9d318a133');
  assert.is(toHex(root), '9533afef926d033f320c63828ca0a380b2c7bfc6cf6e0a83b2761b3b65bb4eca');
  assert.is(toHex(sigs[0]!.s), 'd737fe061fd063b3f61acc9429db00f2a472bb5e1ab640d178dd5ace659542761d219fbaaf9ef3fe2d774b38c9e317e2c4c25286741dea48ab76b951d14b580c');
  assert.ok(sigs.every((x) => equalBytes(x.s, sigs[0]!.s)), 'one signature for the batch');
  assert.equal(sigs.map((x) => x.x), [0, 1, 1], 'item 2\'s sibling, node(leaf 0, leaf 1), is on its left');
  assert.equal(sigs.map((x) => x.p!.map(toHex)), [
    [toHex(leaves[1]!), toHex(leaves[2]!)],
    [toHex(leaves[0]!), toHex(leaves[2]!)],
    ['876f1045d31e1f3c909b2a07e2edd9b7b6069127074d59bd29c342e9d318a133'],
  ]);
  assert.ok(verify(key.publicKey, Domain.BATCH, root, sigs[0]!.s), 'the signature is the agent\'s over the root');
});

test('test vectors of PROTOCOL.md 3.16: hop leaves chain each entry to the ones before', () => {
  const id = new Uint8Array(16).fill(0x11);
  const bodyHash = sha256(utf8('hello'));
  assert.is(toHex(bodyHash), '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  const l0 = hopLeaf(id, bodyHash, new Uint8Array(32), new Uint8Array(32).fill(0x22), key.publicKey);
  assert.is(toHex(l0), 'b245e4937c25234842520bb2fd22e36f4259ed163611305cb726568496fb65e6');
  assert.equal(l0, merkleLeaf(Domain.HOP, hopSigningBytes(id, bodyHash, new Uint8Array(32), new Uint8Array(32).fill(0x22), key.publicKey)));
  const l1 = hopLeaf(id, bodyHash, l0, new Uint8Array(32).fill(0x33), key.publicKey);
  assert.is(toHex(l1), 'bf43235ec854456bae2615c849e4ecff4bc764c9f96a123bf591c7f92260bc66');
});

test('verifyBatched accepts each item of a signed batch, and nothing else', () => {
  clearBatchCache();
  const items = Array.from({ length: 9 }, (_, i) => ({ domain: Domain.REPORT, bytes: item(i) }));
  const sigs = signBatch(key, items);
  for (let i = 0; i < items.length; i++) assert.ok(verifyBatched(key.publicKey, Domain.REPORT, item(i), sigs[i]!), `item ${i}`);
  // The root is cached now; none of these may pass through the cache.
  const s3 = sigs[3]!;
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, utf8('item 3!'), s3), 'tampered item');
  assert.not.ok(verifyBatched(key.publicKey, Domain.ACK, item(3), s3), 'another domain');
  assert.not.ok(verifyBatched(other.publicKey, Domain.REPORT, item(3), s3), 'another signer named');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, p: [new Uint8Array(32).fill(1), ...s3.p!.slice(1)] }), 'forged sibling');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, x: (s3.x ?? 0) ^ 1 }), 'wrong direction bits');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { s: s3.s }), 'proof dropped');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(42), s3), 'an item that is not in the root');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, p: [...s3.p!, new Uint8Array(32)] }), 'proof one too long');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, p: Array.from({ length: 17 }, () => new Uint8Array(32)) }), 'proof over the limit');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, x: -1 }), 'negative x');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, p: [new Uint8Array(31), ...s3.p!.slice(1)] }), 'short sibling');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, s: new Uint8Array(63) }), 'short signature');
  const root = merkleRoot(merkleLeaf(Domain.REPORT, item(3)), s3.p, s3.x);
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, s: sign(other, Domain.BATCH, root) }), 'another key\'s signature over the cached root');
  assert.not.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), { ...s3, s: new Uint8Array(64).fill(5) }), 'a garbage signature with a cached root');
  assert.ok(verifyBatched(key.publicKey, Domain.REPORT, item(3), s3), 'and the real one still passes');
});

test('a root signed by someone else does not verify for the named signer', () => {
  clearBatchCache();
  const items = [0, 1, 2, 3].map((i) => ({ domain: Domain.HOP, bytes: item(i) }));
  const mine = signBatch(key, items);
  const root = merkleRoot(merkleLeaf(Domain.HOP, item(1)), mine[1]!.p, mine[1]!.x);
  const forged: BatchSig = { ...mine[1]!, s: sign(other, Domain.BATCH, root) };
  assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, item(1), forged), 'other key\'s signature under our name');
  assert.ok(verifyBatched(other.publicKey, Domain.HOP, item(1), forged), 'it is the other key\'s batch');
  // A root signature over the raw item (no tree) is not a batch signature either.
  assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, item(1), { s: sign(key, Domain.HOP, item(1)) }));
});

test('property: any single change to an item or its proof is refused, cached root or not', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), fc.nat(), fc.boolean(), (n, pick, flip, warm) => {
      clearBatchCache();
      const items = Array.from({ length: n }, (_, i) => ({ domain: Domain.HOP, bytes: item(i) }));
      const sigs = signBatch(key, items);
      const i = pick % n;
      if (warm) assert.ok(verifyBatched(key.publicKey, Domain.HOP, item((i + 1) % n), sigs[(i + 1) % n]!));
      const bytes = item(i);
      const bad = bytes.slice();
      bad[flip % bad.length]! ^= 1 << (flip % 8);
      assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, bad, sigs[i]!));
      const s = sigs[i]!;
      if (s.p && s.p.length > 0) {
        const p = s.p.map((x) => x.slice());
        p[flip % p.length]![flip % 32]! ^= 1;
        assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, bytes, { ...s, p }));
      }
      assert.ok(verifyBatched(key.publicKey, Domain.HOP, bytes, s));
    }),
    { numRuns: 150 },
  );
});

test('verified-node cache: a batch costs one root check; every later item is a hit with the same answer', () => {
  clearBatchCache();
  const items = Array.from({ length: 64 }, (_, i) => ({ domain: Domain.HOP, bytes: item(i) }));
  const sigs = signBatch(key, items);
  const before = batchCacheStats().rootsVerified;
  for (let i = 0; i < 64; i++) assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(i), sigs[i]!), `item ${i}`);
  assert.is(batchCacheStats().rootsVerified - before, 1, 'one Ed25519 check for 64 items');
  for (let i = 63; i >= 0; i--) assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(i), sigs[i]!), `item ${i} again`);
  assert.is(batchCacheStats().rootsVerified - before, 1, 'and none for the same items again');
  // A tampered item or proof misses the cache and fails (the whole tree is cached by now).
  const s9 = sigs[9]!;
  for (let j = 0; j < s9.p!.length; j++) {
    const p = s9.p!.map((b) => b.slice());
    p[j]![31]! ^= 0x80;
    assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, item(9), { ...s9, p }), `sibling ${j} changed`);
    assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, item(9), { ...s9, x: s9.x! ^ (1 << j) }), `direction ${j} flipped`);
  }
  assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, item(9), { ...s9, p: s9.p!.slice(0, -1) }), 'proof cut short of the root');
  assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, item(9), { ...s9, s: s9.s.map((b, i) => (i === 63 ? b ^ 1 : b)) }), 'signature changed');
  assert.is(batchCacheStats().rootsVerified - before, 1, 'no failed check was remembered as verified');
  assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(9), s9));
});

test('verified-node cache: the same item in two batches; a proof mixing both is refused', () => {
  clearBatchCache();
  // Item 5 sits at index 5 of both batches; the other items differ above its first sibling pair.
  const a = signBatch(key, Array.from({ length: 16 }, (_, i) => ({ domain: Domain.HOP, bytes: item(i) })));
  const b = signBatch(key, Array.from({ length: 16 }, (_, i) => ({ domain: Domain.HOP, bytes: i === 4 || i === 5 ? item(i) : item(100 + i) })));
  for (let i = 0; i < 16; i++) assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(i), a[i]!), `batch a item ${i}`);
  assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(5), b[5]!), 'item 5 by batch b\'s proof');
  assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(5), a[5]!), 'and still by batch a\'s');
  const mixed: BatchSig = { s: a[5]!.s, p: [b[5]!.p![0]!, b[5]!.p![1]!, a[5]!.p![2]!, b[5]!.p![3]!], x: a[5]!.x! };
  assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, item(5), mixed), 'siblings of both batches');
  assert.not.ok(verifyBatched(key.publicKey, Domain.HOP, item(5), { ...b[5]!, s: a[5]!.s }), 'batch b\'s proof with batch a\'s signature');
});

test('verified-node cache: bounded; driven far past its bound it holds, and evicted items still verify in full', () => {
  clearBatchCache();
  const { max } = batchCacheStats();
  const per = 4096;
  const first = signBatch(key, Array.from({ length: per }, (_, i) => ({ domain: Domain.HOP, bytes: item(i) })));
  // Batches until the cache is full, then as many again: every node of the first batch has
  // been overwritten by then (the oldest go first).
  let peak = 0;
  let fullAt = -1;
  for (let b = 0; fullAt < 0 || b < 2 * fullAt; b++) {
    assert.ok(b < 64, `the cache never filled (${peak} of ${max})`);
    const sigs = b === 0 ? first : signBatch(key, Array.from({ length: per }, (_, i) => ({ domain: Domain.HOP, bytes: item(b * per + i) })));
    for (let i = 0; i < per; i++) if (!verifyBatched(key.publicKey, Domain.HOP, item(b * per + i), sigs[i]!)) assert.unreachable(`batch ${b} item ${i}`);
    const size = batchCacheStats().size;
    assert.ok(size <= max, `${size} entries, bound ${max}`);
    if (fullAt < 0 && size > max - 2 * per) fullAt = b + 1;
    peak = Math.max(peak, size);
  }
  assert.ok(peak > max - 2 * per, `the bound was reached (${peak} of ${max})`);
  const roots = batchCacheStats().rootsVerified;
  assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(7), first[7]!), 'an evicted batch verifies again');
  assert.is(batchCacheStats().rootsVerified - roots, 1, 'by its signature');
  assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(8), first[8]!), 'and its next item');
  assert.is(batchCacheStats().rootsVerified - roots, 1, 'from the cache again');
  clearBatchCache();
  assert.is(batchCacheStats().size, 0, 'cleared');
});

test('verified-node cache: a chain whose root was overwritten is a miss; the root is checked again', () => {
  clearBatchCache();
  const verifyAll = (sigs: BatchSig[], base: number): void => {
    for (let i = 0; i < sigs.length; i++) if (!verifyBatched(key.publicKey, Domain.HOP, item(base + i), sigs[i]!)) assert.unreachable(`item ${base + i}`);
  };
  // Batch a's item 0 leaves its root and three pairs of siblings (4 of the ring's pairs).
  const a = signBatch(key, Array.from({ length: 8 }, (_, i) => ({ domain: Domain.HOP, bytes: item(i) })));
  assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(0), a[0]!));
  // A batch of 2^k items verified in full takes 2^k pairs: fill the rest of the ring exactly,
  // then one batch of one overwrites the oldest pair, batch a's root.
  const ring = batchCacheStats().max / 2;
  let base = 1000;
  for (let left = ring - 4; left > 0; ) {
    const n = 2 ** Math.min(12, Math.floor(Math.log2(left)));
    verifyAll(signBatch(key, Array.from({ length: n }, (_, i) => ({ domain: Domain.HOP, bytes: item(base + i) }))), base);
    base += n;
    left -= n;
  }
  const roots = batchCacheStats().rootsVerified;
  assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(1), a[1]!), 'batch a before its root is overwritten');
  assert.is(batchCacheStats().rootsVerified - roots, 0, 'from the cache');
  verifyAll(signBatch(key, [{ domain: Domain.HOP, bytes: item(base) }]), base);
  assert.ok(verifyBatched(key.publicKey, Domain.HOP, item(1), a[1]!), 'batch a after');
  assert.is(batchCacheStats().rootsVerified - roots, 2, 'its root checked again (its lower pairs are still there)');
  clearBatchCache();
});

test('BatchSigner: one signature for a batch, at once outside one, nothing when the batch throws', () => {
  const signer = new BatchSigner(key);
  const a: BatchSig = { s: new Uint8Array(0) };
  const b: BatchSig = { s: new Uint8Array(0) };
  signer.run(() => {
    signer.sign(Domain.ACK, item(1), a);
    signer.sign(Domain.ACK, item(2), b);
    assert.is(a.s.length, 0, 'pending until the batch closes');
  });
  assert.equal(a.s, b.s, 'one root signature for both');
  assert.ok(verifyBatched(key.publicKey, Domain.ACK, item(1), a) && verifyBatched(key.publicKey, Domain.ACK, item(2), b));
  assert.equal(signer.stats, { batches: 1, items: 2 });
  const c: BatchSig = { s: new Uint8Array(0) };
  signer.sign(Domain.ACK, item(3), c);
  assert.is(c.s.length, 64, 'signed at once outside a batch');
  assert.is(c.p, undefined, 'a batch of one carries no proof');
  const d: BatchSig = { s: new Uint8Array(0) };
  assert.throws(() => signer.run(() => {
    signer.sign(Domain.ACK, item(4), d);
    throw new Error('boom');
  }));
  assert.is(d.s.length, 0, 'a batch that threw signs nothing');
  const small = new BatchSigner(key, 3);
  const many = Array.from({ length: 7 }, () => ({ s: new Uint8Array(0) }) as BatchSig);
  small.run(() => many.forEach((t, i) => small.sign(Domain.ACK, item(i), t)));
  assert.equal(small.stats, { batches: 3, items: 7 }, 'a full batch is signed early');
  many.forEach((t, i) => assert.ok(verifyBatched(key.publicKey, Domain.ACK, item(i), t)));
  const once: BatchSig = { s: new Uint8Array(0) };
  immediateSigner(key).sign(Domain.ACK, item(9), once);
  assert.ok(verifyBatched(key.publicKey, Domain.ACK, item(9), once));
});

test('wire: proofs round-trip in REPORT, and malformed proofs are refused by the validator', () => {
  const sigs = signBatch(key, [0, 1, 2].map((i) => ({ domain: Domain.REPORT, bytes: item(i) })));
  const rep: Report = { t: 18, id: new Uint8Array(16), st: 'forwarded', ts: 1, c: new Uint8Array(185), ...sigs[2]! };
  const back = decodeMessage(encodeMessage(rep)) as Report;
  assert.equal(back.p, sigs[2]!.p);
  assert.is(back.x, sigs[2]!.x);
  assert.throws(() => encodeMessage({ ...rep, p: [] }), /p/, 'an empty proof is written as no proof');
  assert.throws(() => encodeMessage({ ...rep, p: [new Uint8Array(31)] }), /p\[0\]/);
  assert.throws(() => encodeMessage({ ...rep, p: [new Uint8Array(32)], x: 2 }), /x/, 'x below 2^len(p)');
  assert.throws(() => encodeMessage({ ...rep, p: undefined, x: 1 }), /x/, 'x only with p');
  assert.throws(() => encodeMessage({ ...rep, p: Array.from({ length: 17 }, () => new Uint8Array(32)), x: 0 }), /p/);
});

test.run();
