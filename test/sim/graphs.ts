/**
 * Trust-graph generators for test/sim: Watts–Strogatz small worlds (kept connected), lines
 * and grids. A graph is `{ n, edges }` with undirected edges between vertices 0..n-1, no
 * self loops and no duplicate edges (in either orientation).
 */
import { WotError } from '../../agent/wire/errors.js';
import type { Rng } from './rng.js';

export interface Graph {
  n: number;
  edges: Array<[number, number]>;
}

const bad = (msg: string): WotError => new WotError('ERR_BAD_REQUEST', msg);

/**
 * Watts–Strogatz: a ring lattice where each vertex links to its meanDegree/2 nearest
 * neighbours on each side, then each lattice edge (i, i+j) has its far end moved, with
 * probability rewireProb, to a uniform vertex that is neither i nor already adjacent to i.
 * Exactly n*meanDegree/2 edges. If rewiring disconnected the graph, each stray component is
 * joined to the main one by an edge that replaces a non-bridge edge (one on a cycle), so
 * the edge count stays exact and nothing else is cut off.
 */
export function smallWorld(n: number, meanDegree: number, rewireProb: number, rng: Rng): Graph {
  if (!Number.isInteger(n) || n < 3) throw bad(`smallWorld: n must be an integer >= 3, got ${n}`);
  if (!Number.isInteger(meanDegree) || meanDegree < 2 || meanDegree % 2 !== 0 || meanDegree >= n) {
    throw bad(`smallWorld: meanDegree must be an even integer in [2, n), got ${meanDegree}`);
  }
  if (!(rewireProb >= 0 && rewireProb <= 1)) throw bad(`smallWorld: rewireProb must be in [0, 1], got ${rewireProb}`);
  const half = meanDegree / 2;
  const adj: Array<Set<number>> = Array.from({ length: n }, () => new Set<number>());
  const edges: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    for (let j = 1; j <= half; j++) {
      const v = (i + j) % n;
      adj[i]!.add(v);
      adj[v]!.add(i);
      edges.push([i, v]);
    }
  }
  // Rewire in lattice order (by distance j, then by vertex), as in the original model.
  for (let j = 1; j <= half; j++) {
    for (let i = 0; i < n; i++) {
      if (rng.float() >= rewireProb) continue;
      const idx = i * half + (j - 1);
      const [u, v] = edges[idx]!;
      if (adj[u]!.size >= n - 1) continue; // u is adjacent to everyone: nowhere to go
      let w: number;
      do w = rng.int(n);
      while (w === u || adj[u]!.has(w));
      adj[u]!.delete(v);
      adj[v]!.delete(u);
      adj[u]!.add(w);
      adj[w]!.add(u);
      edges[idx] = [u, w];
    }
  }
  reconnect(n, edges, adj, rng);
  return { n, edges };
}

/** Joins every component to the one holding vertex 0, keeping the edge count (see smallWorld). */
function reconnect(n: number, edges: Array<[number, number]>, adj: Array<Set<number>>, rng: Rng): void {
  for (;;) {
    const comp = components(n, adj);
    let stray = -1;
    for (let v = 0; v < n; v++) {
      if (comp[v] !== comp[0]) {
        stray = v;
        break;
      }
    }
    if (stray < 0) return;
    const mainVertices: number[] = [];
    for (let v = 0; v < n; v++) if (comp[v] === comp[0]) mainVertices.push(v);
    const x = rng.pick(mainVertices);
    // Add the joining edge, then drop an edge that lies on a cycle (any non-tree edge of a
    // BFS spanning forest); one exists since the graph now has more than n-1 edges.
    adj[stray]!.add(x);
    adj[x]!.add(stray);
    const nonTree = nonTreeEdges(n, edges, adj);
    if (nonTree.length === 0) throw bad('smallWorld: cannot keep the graph connected (too few edges)');
    const drop = rng.pick(nonTree);
    const [a, b] = edges[drop]!;
    adj[a]!.delete(b);
    adj[b]!.delete(a);
    edges[drop] = [stray, x];
  }
}

function components(n: number, adj: Array<Set<number>>): Int32Array {
  const comp = new Int32Array(n).fill(-1);
  const queue = new Int32Array(n);
  let c = 0;
  for (let s = 0; s < n; s++) {
    if (comp[s] !== -1) continue;
    let head = 0;
    let tail = 0;
    queue[tail++] = s;
    comp[s] = c;
    while (head < tail) {
      const v = queue[head++]!;
      for (const w of adj[v]!) {
        if (comp[w] === -1) {
          comp[w] = c;
          queue[tail++] = w;
        }
      }
    }
    c++;
  }
  return comp;
}

/** Indices (into edges) of edges not in a BFS spanning forest: none of them is a bridge. */
function nonTreeEdges(n: number, edges: Array<[number, number]>, adj: Array<Set<number>>): number[] {
  const parent = new Int32Array(n).fill(-2);
  const queue = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    if (parent[s] !== -2) continue;
    let head = 0;
    let tail = 0;
    queue[tail++] = s;
    parent[s] = -1;
    while (head < tail) {
      const v = queue[head++]!;
      for (const w of adj[v]!) {
        if (parent[w] === -2) {
          parent[w] = v;
          queue[tail++] = w;
        }
      }
    }
  }
  const out: number[] = [];
  edges.forEach(([a, b], i) => {
    if (parent[a] !== b && parent[b] !== a) out.push(i);
  });
  return out;
}

/** A path 0 - 1 - … - (n-1). */
export function line(n: number): Graph {
  if (!Number.isInteger(n) || n < 1) throw bad(`line: n must be an integer >= 1, got ${n}`);
  const edges: Array<[number, number]> = [];
  for (let i = 0; i + 1 < n; i++) edges.push([i, i + 1]);
  return { n, edges };
}

/** A w×h grid with 4-neighbour edges; vertex (x, y) is y*w + x. */
export function grid(w: number, h: number): Graph {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw bad(`grid: w and h must be integers >= 1, got ${w}x${h}`);
  const edges: Array<[number, number]> = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = y * w + x;
      if (x + 1 < w) edges.push([v, v + 1]);
      if (y + 1 < h) edges.push([v, v + w]);
    }
  }
  return { n: w * h, edges };
}

/** Neighbour lists, in edge order. */
export function adjacency(g: Graph): number[][] {
  const adj: number[][] = Array.from({ length: g.n }, () => []);
  for (const [a, b] of g.edges) {
    adj[a]!.push(b);
    adj[b]!.push(a);
  }
  return adj;
}

/**
 * Breadth-first search from `source` over an adjacency list (`adjacency(g)`): each vertex's
 * hop distance (-1 if unreachable) and the neighbour it was first reached from (the source
 * its own), and the reachable vertices in the order reached (by distance).
 */
export function bfs(adj: number[][], source: number): { dist: Int32Array; parent: Int32Array; order: Int32Array } {
  const dist = new Int32Array(adj.length).fill(-1);
  const parent = new Int32Array(adj.length).fill(-1);
  const order = new Int32Array(adj.length);
  dist[source] = 0;
  parent[source] = source;
  order[0] = source;
  let tail = 1;
  for (let head = 0; head < tail; head++) {
    const v = order[head]!;
    for (const w of adj[v]!) {
      if (dist[w]! >= 0) continue;
      dist[w] = dist[v]! + 1;
      parent[w] = v;
      order[tail++] = w;
    }
  }
  return { dist, parent, order: order.subarray(0, tail) };
}

/** True when every vertex is reachable from vertex 0 (an empty graph counts as connected). */
export function isConnected(g: Graph): boolean {
  if (g.n === 0) return true;
  const adj = adjacency(g);
  const seen = new Uint8Array(g.n);
  const stack = [0];
  seen[0] = 1;
  let count = 1;
  while (stack.length > 0) {
    const v = stack.pop()!;
    for (const w of adj[v]!) {
      if (!seen[w]) {
        seen[w] = 1;
        count++;
        stack.push(w);
      }
    }
  }
  return count === g.n;
}
