/**
 * The memory benchmark's client side: opens idle links to one agent from many identities
 * (links are one per agent, so each needs its own identity), derived deterministically from
 * a prefix and an index so the parent can put the same entities in the agent's trust list.
 * At most 8 handshakes at a time (the daemon caps pending handshakes per address at 16, and
 * counts one as pending until it has read the last handshake message).
 *
 *   node link-farm.js links <addr> <agent entity hex> <prefix>    real links (agent/link)
 *   node link-farm.js raw <addr>                                   plain TCP connections
 *
 * IPC: `{cmd: 'open', from, to}` opens links [from, to) and answers `{open: n}`.
 */
import net from 'node:net';
import { fromHex } from '../../../agent/crypto/index.js';
import { Link } from '../../../agent/link/index.js';
import { farmIdentity } from '../farm.js';

const [mode, addr, agentHex, prefix] = process.argv.slice(2);
const send = (m: unknown): void => {
  process.send?.(m);
};
const i = addr!.lastIndexOf(':');
const host = addr!.slice(0, i);
const port = Number(addr!.slice(i + 1));
const held: Array<Link | net.Socket> = [];

function openLink(n: number): Promise<void> {
  if (mode === 'raw') {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port }, () => resolve());
      s.once('error', reject);
      held.push(s);
    });
  }
  const id = farmIdentity(prefix!, n);
  const expect = fromHex(agentHex!);
  const link = Link.initiate(net.connect({ host, port }), {
    identity: { agentSeed: id.agent.seed, agentPub: id.agent.publicKey, entityPub: id.entity.publicKey, certBytes: id.cert },
    gate: () => ({ ok: true }),
    expectEntity: expect,
  });
  held.push(link);
  return new Promise((resolve, reject) => {
    link.once('open', () => resolve());
    link.once('close', (info) => reject(new Error(`link ${n} closed during the handshake: ${info.code} ${info.msg ?? ''}`)));
  });
}

process.on('message', async (m: { cmd: string; from: number; to: number }) => {
  if (m.cmd === 'open') {
    let next = m.from;
    const worker = async (): Promise<void> => {
      while (next < m.to) await openLink(next++);
    };
    try {
      await Promise.all(Array.from({ length: 8 }, worker));
      send({ open: held.length });
    } catch (e) {
      send({ error: (e as Error).message, open: held.length });
    }
  } else if (m.cmd === 'exit') process.exit(0);
});
if (process.send) send({ ready: true });
