/**
 * A worker thread of test/sim/parallel.ts: builds the seed's discovery network, says
 * `ready`, and on `ring` runs its share of the pairs' expanding-ring discoveries; on `flood`
 * builds the full-flood network and runs the pairs it is given there. Posts each part's
 * result back. The parent ends it (terminate) when done.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { discoveryNetwork, runDiscoveries, type DiscoveryOptions } from './scenarios.js';
import type { SimNetwork } from './network.js';

export interface ShardData {
  opts: Pick<DiscoveryOptions, 'nodes' | 'degree' | 'seed'>;
  pairs: Array<[number, number]>;
}

export type ToShard = { type: 'ring' } | { type: 'flood'; pairs: Array<[number, number]> };

const port = parentPort;
if (port === null) throw new Error('discovery-worker.js runs as a worker thread of test/sim/parallel.ts');
const data = workerData as ShardData;
let ring: SimNetwork | null;
{
  const built = discoveryNetwork(data.opts, false);
  ring = built.net;
  port.postMessage({ type: 'ready', edges: built.edges });
}
port.on('message', (m: ToShard) => {
  if (m.type === 'ring' && ring !== null) {
    port.postMessage({ type: 'ring', part: runDiscoveries(ring, data.pairs) });
  } else if (m.type === 'flood') {
    ring = null; // its memory, before the flood network takes as much again
    const t = performance.now();
    const part = runDiscoveries(discoveryNetwork(data.opts, true).net, m.pairs);
    port.postMessage({ type: 'flood', part, wallMs: performance.now() - t });
  }
});
