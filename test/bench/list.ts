/**
 * A mailing list at scale, in the simulator: a list with every other agent of a
 * 10,000-agent small-world graph subscribed (test/sim/scenarios.ts listScenario). Each post
 * must reach every subscriber exactly once; reports the messages on all links per post
 * (against the number of subscribers: one copy each is the floor) and the time per post.
 */
import { listScenario } from '../sim/scenarios.js';
import { compare, type Bench, type BenchOptions, type BenchReport } from './lib.js';

export const listBench: Bench = {
  name: 'list',
  title: 'mailing list, simulator, 10,000 agents, every other agent subscribed',
  async run(opts: BenchOptions): Promise<BenchReport> {
    const t0 = performance.now();
    const nodes = opts.quick ? 100 : 10_000;
    const posts = 1;
    opts.log(`list: ${nodes - 2} subscribers, ${posts} posts`);
    const r = listScenario({ nodes, degree: 8, seed: 'bench-list', posts });
    const allOnce = r.receivedOnce.every((n) => n === r.subscribers) && r.duplicates === 0 && r.missing === 0;
    return {
      name: 'list',
      title: this.title,
      figures: [
        { name: 'subscribers that got each post exactly once', value: Math.min(...r.receivedOnce), unit: `of ${r.subscribers}`, target: 'all, once', met: allOnce },
        compare({ name: 'messages on all links per post', value: r.messagesPerPost, unit: 'msgs', baseline: { name: 'one copy per subscriber', value: r.subscribers }, lowerIsBetter: true }),
        { name: 'wall time per post (copies, hops, reports, acks)', value: r.wallMsPerPost / 1000, unit: 's' },
        { name: 'virtual time from post to the last delivery', value: r.virtualSecondsPerPost, unit: 's' },
        { name: 'wall time for every subscriber to join', value: r.joinWallMs / 1000, unit: 's' },
      ],
      details: r as unknown as Record<string, unknown>,
      notes: [`duplicates ${r.duplicates}, missing ${r.missing}, core errors ${r.errors}; building the network took ${(r.buildMs / 1000).toFixed(1)} s`],
      seconds: (performance.now() - t0) / 1000,
    };
  },
};
