/**
 * The relaying protocol at scale, in the simulator (virtual clock, seeded randomness):
 * discovery success and cost on a 10,000-agent small-world trust graph (expanding rings
 * against one full flood, each query at most once per directed trust edge), a neighbour
 * flooding queries held to its rate limit, and spam quenched at its source through
 * complaints with no honest agent revoked. Full-size figures: `node dist/test/sim/run.js`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { discoveryNetwork, discoveryPairs, discoveryScenario, queryFloodScenario, runDiscoveries, spamScenario } from '../sim/scenarios.js';
import { discoveryScenarioParallel } from '../sim/parallel.js';

test('discovery on 10,000 agents (mean degree 8): ≥ 99 % succeed, rings ≥ 5× cheaper than a flood, one copy per edge', () => {
  const r = discoveryScenario({ nodes: 10_000, degree: 8, seed: 'ci-discovery', discoveries: 30, floodSample: 3 });
  assert.is(r.errors, 0, 'no core threw');
  assert.ok(r.successRate >= 0.99, `success ${r.successRate}`);
  assert.is(r.maxQueryCopiesPerEdge, 1, 'no trust edge carries a query twice in one direction');
  assert.ok(r.floodMedian <= 2 * r.edges, `a full flood costs ${r.floodMedian} messages for ${r.edges} edges`);
  assert.ok(r.ringAdvantage >= 5, `expanding ring only ${r.ringAdvantage.toFixed(1)}× cheaper`);
});

test('discovery on worker threads: each thread\'s share costs exactly what it costs on one network; one thread is the sequential run', async () => {
  const opts = { nodes: 150, degree: 8, seed: 'ci-parallel', discoveries: 9, floodSample: 1 };
  const pairs = discoveryPairs(opts);
  const two = await discoveryScenarioParallel({ ...opts, workers: 2 });
  assert.is(two.workers, 2);
  assert.is(two.errors, 0, 'no core threw');
  assert.is(two.ringCosts.length, pairs.length, 'every pair ran once');
  for (const k of [0, 1]) {
    const share = pairs.filter((_, i) => i % 2 === k);
    const alone = runDiscoveries(discoveryNetwork(opts, false).net, share);
    assert.equal(two.ringCosts.filter((_, i) => i % 2 === k), alone.costs, `thread ${k}'s pairs, in order`);
  }
  const one = await discoveryScenarioParallel({ ...opts, workers: 1 });
  const seq = discoveryScenario(opts);
  assert.equal(one.ringCosts, seq.ringCosts, 'one thread: the same costs as discoveryScenario');
  assert.is(one.floodMedian, seq.floodMedian);
  assert.is(one.edges, seq.edges);
  assert.is(one.succeeded, seq.succeeded);
});

test('a neighbour flooding queries at 100× its limit is held to it; another neighbour\'s discovery still succeeds', () => {
  const r = queryFloodScenario({ nodes: 200, seed: 'ci-flood', seconds: 5 });
  assert.ok(r.accepted <= r.budget, `accepted ${r.accepted} > budget ${r.budget}`);
  assert.ok(r.accepted >= r.budget * 0.5, 'the limit does not starve it entirely');
  assert.ok(r.honestFound, 'honest discovery still answered');
});

test('spam through one inviter is quenched by complaints: spammer cut off by all its honest neighbours, no honest agent revoked', () => {
  const r = spamScenario({ honest: 1000, degree: 8, sybils: 100, trustedBy: 3, seed: 'ci-spam', durationMs: 90_000, intervalMs: 200, honestIntervalMs: 500 });
  assert.is(r.errors, 0);
  assert.is(r.revokedSpammer, r.spammerTrustedBy, 'every honest neighbour cut the spammer off');
  assert.ok(r.cutoffAtMs !== null);
  assert.is(r.honestRevoked, 0, 'no honest agent revoked');
  assert.is(r.spamDelivered, r.spamDeliveredBeforeCutoff, 'no spam after the cut-off');
  assert.ok(r.honestDelivered >= r.honestSent * 0.99, `honest delivery ${r.honestDelivered}/${r.honestSent}`);
});

test.run();
