/**
 * The hop-count model of route discovery (test/sim/rings.ts) against the simulator running
 * the real cores: the costs of expanding-ring discoveries and of full floods agree pair by
 * pair within a few percent, so the model's figures for the protocol's ring schedule
 * (agent/PROTOCOL.md 3.4) and for delayed forwarding stand for what the cores would do.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CORE_DEFAULTS } from '../../agent/core/index.js';
import { adjacency } from '../sim/graphs.js';
import { delayedFlood, ringModel, scheduleCost, searchSchedules } from '../sim/rings.js';
import { Rng } from '../sim/rng.js';
import { seedGraph, discoveryNetwork, discoveryPairs, runDiscoveries } from '../sim/scenarios.js';

const opts = { nodes: 800, degree: 8, seed: 'model-check', discoveries: 16 };
const graph = seedGraph(opts);
const pairs = discoveryPairs(opts);
const model = ringModel(graph, pairs);
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const within = (got: number, want: number, share: number): boolean => Math.abs(got - want) <= share * want + 1;

test('the model costs each expanding-ring discovery as the simulated cores do, within 5 % per pair and 3 % in all', () => {
  const sim = runDiscoveries(discoveryNetwork(opts, false).net, pairs);
  assert.is(sim.found, pairs.length, 'every simulated discovery found its target');
  const modelled = scheduleCost(model, CORE_DEFAULTS.rings);
  assert.is(modelled.found, 1, 'the model finds every target too');
  sim.costs.forEach((c, i) => assert.ok(within(modelled.costs[i]!, c, 0.05), `pair ${i} (${model.distance[i]} hops): model ${modelled.costs[i]} against simulated ${c}`));
  assert.ok(within(sum(modelled.costs), sum(sim.costs), 0.03), `in all: model ${sum(modelled.costs)} against simulated ${sum(sim.costs)}`);
  // Nearer targets are cheaper: the rings stop at the first that answers.
  const byDistance = [...pairs.keys()].sort((a, b) => model.distance[a]! - model.distance[b]!);
  assert.ok(modelled.costs[byDistance[0]!]! < modelled.costs[byDistance[byDistance.length - 1]!]!, 'the nearest target costs less than the farthest');
});

test('the model costs a full flood (one ring of ttl 16) as the simulated cores do, within 2 %; so does the event model without delay', () => {
  const flooded = pairs.slice(0, 2);
  const sim = runDiscoveries(discoveryNetwork(opts, true).net, flooded);
  const modelled = scheduleCost(model, [16]).costs;
  const adj = adjacency(graph);
  flooded.forEach(([asker], i) => {
    assert.ok(within(modelled[i]!, sim.costs[i]!, 0.02), `flood ${i}: model ${modelled[i]} against simulated ${sim.costs[i]}`);
    // Queries alone (no replies), the same rule as an event model with jitter.
    const events = delayedFlood(adj, asker, { delayMs: 0, ttl: 16, rng: new Rng('model-check/events') });
    assert.ok(within(events.messages, sim.costs[i]!, 0.02), `flood ${i}: event model ${events.messages} against simulated ${sim.costs[i]}`);
  });
  // A flood sends at most two queries per trust edge (one each way), less one per agent reached.
  for (const c of modelled.slice(0, 2)) assert.ok(c <= 2 * graph.edges.length, `${c} messages for ${graph.edges.length} edges`);
});

test('delayed forwarding: waiting for duplicates sends fewer queries and takes longer, and every agent is still reached', () => {
  const adj = adjacency(graph);
  const at = (delayMs: number) => delayedFlood(adj, 0, { delayMs, ttl: 16, rng: new Rng('model-check/delay') });
  const now = at(0);
  const waited = at(10);
  assert.ok(waited.messages < now.messages, `${waited.messages} queries waiting 10 ms against ${now.messages}`);
  assert.ok(waited.lastMs > now.lastMs, `last arrival ${waited.lastMs} ms against ${now.lastMs} ms`);
  // Every agent is reached either way: at least one query per agent but the asker.
  assert.ok(waited.messages >= opts.nodes - 1);
});

test('schedules: the search ranks every schedule by mean cost and includes the protocol\'s; a ttl outside the model is refused', () => {
  const ranked = searchSchedules(model, { maxRing: 9, last: 16 });
  assert.is(ranked.length, 1 << 9, 'every subset of 1..9 (the empty one too), each followed by 16');
  for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1]!.mean <= ranked[i]!.mean);
  const current = scheduleCost(model, CORE_DEFAULTS.rings);
  const found = ranked.find((c) => c.rings.join() === CORE_DEFAULTS.rings.join());
  assert.ok(found, 'the default schedule is among those searched');
  assert.is(found!.mean, current.mean);
  assert.ok(ranked[0]!.mean <= current.mean);
  assert.throws(() => scheduleCost(model, [0, 16]), /outside 1\.\.16/);
  assert.throws(() => scheduleCost(model, [17]), /outside 1\.\.16/);
});

test.run();
