/**
 * Unit tests for agent/reach/lan: the LAN tag and TXT record (PROTOCOL.md §2.6), base32,
 * the choice of address to dial. No network: the DNS-SD part runs only inside network
 * namespaces in test/integration/lan.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { generateSigningKey } from '../../agent/crypto/index.js';
import { encodeEntityId, fingerprint } from '../../agent/identity/index.js';
import {
  LanDiscovery,
  LanPeerTable,
  base32Decode,
  base32Encode,
  lanTag,
  makeLanTxt,
  matchLanTxt,
  parseLanTxt,
  pickLanAddress,
} from '../../agent/reach/lan.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

test('lanTag is the first 16 bytes of HMAC-SHA256(key = entity key, "wotrelay/v1/lan" || n): fixed vector and node:crypto', () => {
  const pub = Uint8Array.from({ length: 32 }, (_, i) => i);
  const n = new Uint8Array(16).fill(0xff);
  // Computed independently (Python hmac): the vector pins the construction.
  assert.is(hex(lanTag(pub, n)), '69ab5d0df341241583776b893a5071d7');
  assert.equal(makeLanTxt(pub, n), { v: '1', n: '77777777777777777777777774', t: 'ngvv2dptiesbla3xnoetuudr24' });
  fc.assert(
    fc.property(bytes(32), bytes(16), (k, nonce) => {
      const want = createHmac('sha256', k).update(Buffer.concat([Buffer.from('wotrelay/v1/lan'), nonce])).digest().subarray(0, 16);
      assert.is(hex(lanTag(k, nonce)), want.toString('hex'));
    }),
    { numRuns: 50 },
  );
});

test('a peer that trusts the entity recognises its TXT among other trusted entities; a peer that does not trust it cannot', () => {
  const others = Array.from({ length: 5 }, () => generateSigningKey().publicKey);
  fc.assert(
    fc.property(bytes(16), fc.integer({ min: 0, max: 5 }), (nonce, at) => {
      const me = generateSigningKey().publicKey;
      const txt = makeLanTxt(me, nonce);
      const trusting = [...others.slice(0, at), me, ...others.slice(at)];
      const got = matchLanTxt(txt, trusting);
      assert.ok(got && hex(got) === hex(me), 'trusted entity recognised');
      assert.is(matchLanTxt(txt, others), null, 'a peer not trusting it recognises nothing');
      assert.is(matchLanTxt(txt, []), null);
      // A tag copied onto another nonce, or a flipped bit, matches no one.
      const other = makeLanTxt(me, Uint8Array.from(nonce, (b, i) => (i === 0 ? b ^ 1 : b)));
      assert.is(matchLanTxt({ ...txt, t: other.t }, trusting), null);
      assert.is(matchLanTxt({ ...txt, n: other.n }, trusting), null);
    }),
    { numRuns: 40 },
  );
});

test('the TXT never contains the entity id or its key bytes in any encoding (bech32 id, hex, base64, base64url, base32, fingerprint), and a fresh nonce changes n and t', () => {
  fc.assert(
    fc.property(bytes(16), bytes(16), (n1, n2) => {
      fc.pre(hex(n1) !== hex(n2));
      const key = generateSigningKey().publicKey;
      const b = Buffer.from(key);
      const forms = [
        encodeEntityId(key),
        encodeEntityId(key).slice(4, 16),
        b.toString('hex'),
        b.toString('hex').slice(0, 12),
        b.toString('base64'),
        b.toString('base64url'),
        base32Encode(key),
        base32Encode(key).slice(0, 12),
        fingerprint(key),
        fingerprint(key).replace(/-/g, ''),
      ].map((s) => s.toLowerCase());
      const t1 = makeLanTxt(key, n1);
      const t2 = makeLanTxt(key, n2);
      assert.equal(Object.keys(t1).sort(), ['n', 't', 'v']);
      const text = JSON.stringify(t1).toLowerCase();
      for (const f of forms) assert.not.ok(text.includes(f), `TXT contains ${f}`);
      assert.not.ok(Buffer.from(JSON.stringify(t1)).includes(b.subarray(0, 8)), 'raw key bytes');
      assert.is.not(t1.n, t2.n);
      assert.is.not(t1.t, t2.t);
    }),
    { numRuns: 40 },
  );
});

test('parseLanTxt refuses other versions, bad base32, wrong lengths, non-strings and oversized values', () => {
  const good = makeLanTxt(generateSigningKey().publicKey, new Uint8Array(16).fill(7));
  assert.ok(parseLanTxt(good));
  assert.ok(parseLanTxt({ ...good, n: good.n.toUpperCase() }), 'base32 is case-insensitive');
  assert.is(parseLanTxt({ ...good, v: '2' }), null);
  assert.is(parseLanTxt({ n: good.n, t: good.t }), null);
  assert.is(parseLanTxt({ ...good, n: good.n.slice(0, 25) }), null);
  assert.is(parseLanTxt({ ...good, t: good.t + 'aa' }), null);
  assert.is(parseLanTxt({ ...good, n: good.n.slice(0, 25) + '1' }), null);
  assert.is(parseLanTxt({ ...good, t: 'a'.repeat(1000) }), null);
  assert.is(parseLanTxt({ ...good, t: 5 }), null);
  assert.is(parseLanTxt(null), null);
  assert.is(parseLanTxt('v=1'), null);
});

test('base32 round-trips and refuses bad characters and non-zero padding bits', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const s = base32Encode(b);
      assert.match(s, /^[a-z2-7]*$/);
      assert.is(hex(base32Decode(s)!), hex(b));
    }),
  );
  assert.is(base32Encode(new TextEncoder().encode('foobar')), 'mzxw6ytboi'); // RFC 4648 §10
  assert.is(base32Decode('mzxw6ytboi0'), null);
  assert.is(base32Decode('mzxw6ytboj'), null, 'non-zero padding bits');
  assert.is(base32Decode('m'), null, 'dangling 5 bits');
});

test('pickLanAddress prefers an IPv4 address on one of our subnets and ignores loopback, IPv6, multicast and junk', () => {
  const ifaces = {
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: '127.0.0.1/8' }],
    eth0: [{ address: '10.77.0.3', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '10.77.0.3/24' }],
  } as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>;
  assert.is(pickLanAddress(['192.168.9.9', '10.77.0.1'], ifaces), '10.77.0.1');
  assert.is(pickLanAddress(['fe80::1', '127.0.0.1', '192.168.9.9'], ifaces), '192.168.9.9');
  assert.is(pickLanAddress(['fe80::1', '127.0.0.1', '224.0.0.251', '0.0.0.0', '300.1.1.1', 'x'], ifaces), null);
  assert.is(pickLanAddress([], ifaces), null);
});

function service(name: string, entity: Uint8Array, addresses: string[] = ['10.77.0.9'], port = 7117, nonce: Uint8Array = generateSigningKey().publicKey.subarray(0, 16)) {
  return { fullname: `${name}._wotrelay._tcp.local.`, name, port, addresses, txt: makeLanTxt(entity, nonce) };
}

function table(opts: { self?: Uint8Array; trusted?: Uint8Array[]; maxServices?: number; tagBudget?: number; now?: () => number } = {}) {
  const trusted = opts.trusted ?? [];
  const peers: string[] = [];
  const logs: string[] = [];
  const t = new LanPeerTable({
    self: opts.self ?? generateSigningKey().publicKey,
    trusted: () => trusted,
    onPeer: (e, addr) => peers.push(`${hex(e)} ${addr}`),
    log: (event) => logs.push(event),
    ...(opts.maxServices !== undefined ? { maxServices: opts.maxServices } : {}),
    ...(opts.tagBudget !== undefined ? { tagBudget: opts.tagBudget } : {}),
    ...(opts.now ? { now: opts.now, windowMs: 1000 } : {}),
  });
  return { t, trusted, peers, logs };
}

test('LanPeerTable reports a trusted service once with its IPv4 address and port, skips its own advertisement, strangers and malformed services', () => {
  const me = generateSigningKey().publicKey;
  const friend = generateSigningKey().publicKey;
  const stranger = generateSigningKey().publicKey;
  const { t, peers } = table({ self: me, trusted: [friend, me] });
  const own = service('own', me);
  t.setOwnNonce(own.txt.n);
  t.up(own);
  t.up(service('own-earlier-start', me)); // our entity, other nonce: still never a peer
  t.up(service('stranger', stranger));
  const fr = service('friend', friend, ['fe80::1', '127.0.0.1', '10.77.0.2'], 7118);
  t.up(fr);
  t.up({ ...fr }); // the same service announced again
  for (const junk of [null, 'x', { fullname: 'j', port: 0, txt: {} }, { fullname: 5, port: 7117 }, { ...service('v2', friend), txt: { v: '2' } }]) t.up(junk);
  assert.equal(peers, [`${hex(friend)} 10.77.0.2:7118`]);
  assert.is(t.size, 3, 'own advertisement and malformed services are not remembered');
  t.up(service('no-ipv4', friend, ['fe80::2']));
  assert.is(peers.length, 1, 'a service with no usable IPv4 address is not reported');
});

test('LanPeerTable reports a peer again when it restarts (new nonce) or moves (new address), and forgets a service that goes down', () => {
  const friend = generateSigningKey().publicKey;
  const { t, peers } = table({ trusted: [friend] });
  const s1 = service('f', friend, ['10.77.0.2']);
  t.up(s1);
  t.up({ ...s1, addresses: ['10.77.0.3'] });
  t.up(service('f', friend, ['10.77.0.3']));
  assert.equal(peers, [`${hex(friend)} 10.77.0.2:7117`, `${hex(friend)} 10.77.0.3:7117`, `${hex(friend)} 10.77.0.3:7117`]);
  t.down(s1);
  assert.is(t.size, 0);
});

test('LanPeerTable remembers at most maxServices (least recently seen evicted first); recheck() finds a remembered service once its entity is trusted', () => {
  const { t, trusted, peers, logs } = table({ maxServices: 3 });
  const keys = Array.from({ length: 5 }, () => generateSigningKey().publicKey);
  keys.forEach((k, i) => t.up(service(`s${i}`, k)));
  assert.is(t.size, 3);
  assert.ok(logs.includes('lan-table-full'));
  t.up(service('s2', keys[2]!)); // s2 seen again: now the most recent
  t.up(service('s5', generateSigningKey().publicKey)); // evicts s3, the least recently seen
  trusted.push(keys[3]!, keys[4]!, keys[2]!, keys[0]!);
  assert.equal(peers, [], 'nothing reported before recheck');
  t.recheck();
  assert.equal(peers.sort(), [`${hex(keys[2]!)} 10.77.0.9:7117`, `${hex(keys[4]!)} 10.77.0.9:7117`].sort(), 's0 and s3 were evicted');
  t.recheck();
  assert.is(peers.length, 2, 'recheck does not report the same peer twice');
});

test('LanPeerTable spends at most tagBudget tag computations per window; the rest are checked in the next window', () => {
  let now = 0;
  const friends = Array.from({ length: 4 }, () => generateSigningKey().publicKey);
  const { t, peers, logs } = table({ trusted: friends, tagBudget: 8, now: () => now });
  friends.forEach((f, i) => t.up(service(`f${i}`, f))); // each check costs 4 tags: 2 fit
  assert.is(peers.length, 2);
  assert.ok(logs.includes('lan-busy'));
  now += 1000;
  t.sweep();
  assert.is(peers.length, 4);
  t.clear();
});

test('a LanDiscovery that was never started stops cleanly, twice; a bad port or key is refused', async () => {
  const lan = new LanDiscovery({ port: 7117, entityPub: generateSigningKey().publicKey, trusted: () => [], onPeer: () => assert.unreachable() });
  await lan.stop();
  await lan.stop();
  assert.is(lan.errorCount, 0);
  assert.is(lan.serviceCount, 0);
  assert.throws(() => new LanDiscovery({ port: 0, entityPub: new Uint8Array(32), trusted: () => [], onPeer: () => {} }), /port must be 1\.\.65535/);
  assert.throws(() => new LanDiscovery({ port: 7117, entityPub: new Uint8Array(31), trusted: () => [], onPeer: () => {} }), /32-byte/);
});

test.run();
