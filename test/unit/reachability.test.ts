/**
 * The reachability heuristic of the core (no sockets, fake clock): which addresses count
 * as public; an agent whose addresses are all private names its connected, trusted,
 * public neighbours (at most 3) as relays in its announcement, re-announces to every
 * neighbour when that set changes, and reports direct / via-relay / unknown with a reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentCore, isPublicAddr, type Action } from '../../agent/core/index.js';
import { generateBoxKey, generateSigningKey } from '../../agent/crypto/index.js';
import { issueCert, verifyAnnouncement, verifyCert } from '../../agent/identity/index.js';
import { Store } from '../../agent/store/index.js';
import { MsgType } from '../../agent/wire/constants.js';
import type { PeerIdentity } from '../../agent/link/index.js';

const clock = Date.UTC(2026, 10, 21);
const now = () => clock;
let rnd = 0;

interface Node {
  core: AgentCore;
  store: Store;
  peer: PeerIdentity;
}

function makeNode(addrs: string[]): Node {
  const entity = generateSigningKey();
  const agent = generateSigningKey();
  const box = generateBoxKey();
  const certBytes = issueCert(entity, { agent: agent.publicKey, x25519: box.publicKey, notBefore: clock - 1000, notAfter: clock + 365 * 86400_000, seq: 1 });
  const cert = verifyCert(certBytes, clock);
  const store = Store.open(':memory:');
  const core = new AgentCore({
    identity: { entityPub: entity.publicKey, agent, box, certBytes, cert },
    store,
    now,
    randomBytes: (n) => new Uint8Array(n).fill(++rnd & 0xff),
    addrs: () => addrs,
  });
  const peer: PeerIdentity = { agent: agent.publicKey, entity: entity.publicKey, cert, certBytes, remoteAddress: '127.0.0.1', remotePort: 1 };
  return { core, store, peer };
}

function trust(n: Node, other: Node): void {
  n.store.trust.upsert({ entity: other.peer.entity, petname: null, how: 'manual', addedAt: clock, state: 'active', addr: null, updatedAt: clock, note: null });
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const announcesTo = (actions: Action[]): number[] =>
  actions.flatMap((a) => (a.type === 'send' && a.msg.t === MsgType.ANNOUNCE ? [a.link as number] : [])).sort();
const announcedRelays = (actions: Action[]): string[] | undefined => {
  const a = actions.find((x): x is Extract<Action, { type: 'announced' }> => x.type === 'announced');
  return a ? verifyAnnouncement(a.announcement, clock).relays.map(hex) : undefined;
};

test('isPublicAddr: RFC 1918, loopback, link-local, CGNAT and IPv6 local ranges are private; others public', () => {
  for (const a of ['10.1.2.3:1', '172.16.0.1:1', '172.31.255.1:1', '192.168.1.1:1', '127.0.0.1:1', '169.254.1.1:1', '100.64.0.1:1', '100.127.0.1:1', '0.0.0.0:1', '[::1]:1', '[fe80::1]:1', '[fd00::1]:1', 'localhost:1']) {
    assert.not.ok(isPublicAddr(a), `${a} is private`);
  }
  for (const a of ['8.8.8.8:1', '172.32.0.1:1', '100.128.0.1:1', '203.0.113.2:7201', '[2001:db8::1]:1', 'relay.example.org:7117']) {
    assert.ok(isPublicAddr(a), `${a} is public`);
  }
});

test('reachability: a public address is direct; private with no public neighbour is unknown', () => {
  const pub = makeNode(['198.51.100.7:7117']);
  assert.equal(pub.core.reachability(), { mode: 'direct', relays: [], why: 'listening on a public address (198.51.100.7:7117)' });
  const priv = makeNode(['10.0.0.2:7117']);
  const r = priv.core.reachability();
  assert.is(r.mode, 'unknown');
  assert.match(r.why, /private/);
});

test('reachability: behind NAT, a connected trusted public neighbour becomes a relay, everyone hears the new announcement, and it is dropped on peerDown', () => {
  const h = makeNode(['10.88.1.2:7117']);
  const lan = makeNode(['192.168.1.5:7117']);
  const p = makeNode(['203.0.113.2:7201']);
  trust(h, lan);
  trust(h, p);
  h.core.announce();
  // A private neighbour is no relay: no re-announcement, just our announcement to it.
  const up1 = h.core.peerUp(1, lan.peer, { addrs: ['192.168.1.5:7117'] });
  assert.is(announcedRelays(up1), undefined);
  assert.equal(announcesTo(up1), [1]);
  assert.is(h.core.reachability().mode, 'unknown');
  // The public neighbour: re-announced to both links (and the directories) naming it.
  const up2 = h.core.peerUp(2, p.peer, { addrs: ['203.0.113.2:7201'] });
  assert.equal(announcedRelays(up2), [hex(p.peer.entity)]);
  assert.equal(announcesTo(up2), [1, 2]);
  const r = h.core.reachability();
  assert.is(r.mode, 'via-relay');
  assert.equal(r.relays.map(hex), [hex(p.peer.entity)]);
  // It goes away: announced again without relays.
  const down = h.core.peerDown(2);
  assert.equal(announcedRelays(down), []);
  assert.equal(announcesTo(down), [1]);
  assert.is(h.core.reachability().mode, 'unknown');
});

test('reachability: untrusted public neighbours are no relays, and at most 3 relays are named', () => {
  const h = makeNode(['10.88.1.2:7117']);
  h.core.announce();
  const stranger = makeNode(['203.0.113.9:1']);
  h.core.peerUp(9, stranger.peer, { addrs: ['203.0.113.9:1'] });
  assert.is(h.core.reachability().mode, 'unknown');
  const pubs = [1, 2, 3, 4, 5].map((i) => makeNode([`203.0.113.${i}:1`]));
  pubs.forEach((p, i) => {
    trust(h, p);
    h.core.peerUp(i + 1, p.peer, { addrs: [`203.0.113.${i + 1}:1`] });
  });
  const r = h.core.reachability();
  assert.is(r.mode, 'via-relay');
  assert.is(r.relays.length, 3);
  assert.not.ok(r.relays.some((e) => hex(e) === hex(stranger.peer.entity)));
});

test.run();
