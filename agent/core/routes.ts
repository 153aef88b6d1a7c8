/**
 * Route discovery pieces that need no state machine: signing and verifying the entries a
 * route reply collects on its way back to the asker, and the cache of verified routes.
 *
 * Entry i (responder first) signs, with Domain.ROUTE,
 *   qid (16) || target (32) || H(entry i-1) (32, zeros for i = 0) || n (32)
 * where H(e) = sha256(c || n || s) and n is the entity the reply is handed to. The asker
 * checks every certificate and signature, that each hand-over names the next signer, and
 * that the last names itself, then reads the route forward: last signer first.
 */
import type NodeCacheClass from 'node-cache';
import { requireCjs } from '../cjs.js';
import { concatBytes, equalBytes, sha256, sign, toHex, verify, type SigningKey } from '../crypto/index.js';
import { verifyCert, type AgentCert } from '../identity/index.js';
import { Domain } from '../wire/constants.js';
import { WotError } from '../wire/errors.js';
import type { PathEntry, RouteReply } from '../wire/types.js';

const NodeCache = requireCjs('node-cache') as typeof NodeCacheClass;

const ZERO32 = new Uint8Array(32);

function entryHash(e: PathEntry): Uint8Array {
  return sha256(e.c, e.n, e.s);
}

export function signPathEntry(agent: SigningKey, certBytes: Uint8Array, qid: Uint8Array, target: Uint8Array, path: PathEntry[], next: Uint8Array): PathEntry {
  const last = path[path.length - 1];
  const prev = last ? entryHash(last) : ZERO32;
  const s = sign(agent, Domain.ROUTE, concatBytes(qid, target, prev, next));
  return { c: certBytes, n: next, s };
}

export interface VerifiedRoute {
  /** Entities from the asker's neighbour to the target, inclusive. */
  route: Uint8Array[];
  /** Certificates by entity hex (hops and, when known, the target). */
  certs: Map<string, AgentCert>;
  /** The target's certificate, when the reply carried it (or the target replied itself). */
  targetCert: { cert: AgentCert; bytes: Uint8Array } | undefined;
}

/** Verifies a reply received by `self`; throws WotError naming what is wrong. */
export function verifyRouteReply(reply: RouteReply, self: Uint8Array, now: number): VerifiedRoute {
  let prev: Uint8Array = ZERO32;
  const certs = new Map<string, AgentCert>();
  const hops: Uint8Array[] = [];
  for (let i = 0; i < reply.path.length; i++) {
    const e = reply.path[i]!;
    const cert = verifyCert(e.c, now);
    if (!verify(cert.agent, Domain.ROUTE, concatBytes(reply.qid, reply.target, prev, e.n), e.s)) {
      throw new WotError('ERR_BAD_SIGNATURE', `route entry ${i} signature does not verify`);
    }
    if (i > 0 && !equalBytes(reply.path[i - 1]!.n, cert.entity)) {
      throw new WotError('ERR_BAD_SIGNATURE', `route entry ${i - 1} was handed to another entity than entry ${i}`);
    }
    certs.set(toHex(cert.entity), cert);
    hops.push(cert.entity);
    prev = entryHash(e);
  }
  if (!equalBytes(reply.path[reply.path.length - 1]!.n, self)) {
    throw new WotError('ERR_BAD_SIGNATURE', 'the route reply was handed to another entity');
  }
  const route = hops.reverse();
  const responder = route[route.length - 1]!;
  let targetCert: VerifiedRoute['targetCert'];
  if (equalBytes(responder, reply.target)) {
    const c = certs.get(toHex(reply.target))!;
    targetCert = { cert: c, bytes: reply.path[0]!.c };
  } else {
    if (reply.tc) {
      const c = verifyCert(reply.tc, now);
      if (!equalBytes(c.entity, reply.target)) throw new WotError('ERR_BAD_CERT', 'the target certificate names another entity');
      targetCert = { cert: c, bytes: reply.tc };
    }
    route.push(reply.target);
  }
  // A route through ourselves or with a repeated hop is useless.
  const seen = new Set<string>([toHex(self)]);
  for (const r of route) {
    const k = toHex(r);
    if (seen.has(k)) throw new WotError('ERR_BAD_FIELD', 'the route has a loop');
    seen.add(k);
  }
  return { route, certs, targetCert };
}

export interface CachedRoutes {
  routes: Uint8Array[][];
  /** Injected-clock expiry (node-cache's own TTL only reclaims memory). */
  expiresAt: number;
}

/**
 * Verified routes per target, several per target, in node-cache (bounded, with a TTL).
 * Expiry is checked against the injected clock so the simulator's virtual time rules.
 */
export class RouteCache {
  private readonly cache: NodeCacheClass;

  constructor(
    private readonly ttlMs: number,
    private readonly maxTargets = 10_000,
    private readonly perTarget = 4,
  ) {
    this.cache = new NodeCache({ stdTTL: Math.ceil(ttlMs / 1000) * 2, checkperiod: 0, useClones: false, maxKeys: -1 });
  }

  get(target: Uint8Array, now: number): Uint8Array[][] {
    const k = toHex(target);
    const v = this.cache.get<CachedRoutes>(k);
    if (!v) return [];
    if (v.expiresAt <= now) {
      this.cache.del(k);
      return [];
    }
    return v.routes;
  }

  add(target: Uint8Array, route: Uint8Array[], now: number): void {
    const k = toHex(target);
    const v = this.cache.get<CachedRoutes>(k);
    const routes = v && v.expiresAt > now ? v.routes.filter((r) => !sameRoute(r, route)) : [];
    routes.push(route);
    routes.sort((a, b) => a.length - b.length);
    if (routes.length > this.perTarget) routes.length = this.perTarget;
    if (!v && this.cache.getStats().keys >= this.maxTargets) {
      const first = this.cache.keys()[0];
      if (first !== undefined) this.cache.del(first);
    }
    this.cache.set(k, { routes, expiresAt: now + this.ttlMs });
  }

  /** Every cached route that has not expired (at most `limit`): the links they show make the onion path graph. */
  all(now: number, limit = 4000): Uint8Array[][] {
    const out: Uint8Array[][] = [];
    for (const k of this.cache.keys()) {
      const v = this.cache.get<CachedRoutes>(k);
      if (!v || v.expiresAt <= now) continue;
      for (const r of v.routes) {
        if (out.length >= limit) return out;
        out.push(r);
      }
    }
    return out;
  }

  /** Targets cached now, and the bound on them. */
  get size(): number {
    return this.cache.getStats().keys;
  }

  get maxSize(): number {
    return this.maxTargets;
  }

  /** Forgets routes whose first hop is `via` (a neighbour that went away or stalled). */
  dropVia(via: Uint8Array): void {
    for (const k of this.cache.keys()) {
      const v = this.cache.get<CachedRoutes>(k);
      if (!v) continue;
      const kept = v.routes.filter((r) => !equalBytes(r[0]!, via));
      if (kept.length === 0) this.cache.del(k);
      else if (kept.length !== v.routes.length) this.cache.set(k, { ...v, routes: kept });
    }
  }

  close(): void {
    this.cache.close();
  }
}

function sameRoute(a: Uint8Array[], b: Uint8Array[]): boolean {
  return a.length === b.length && a.every((x, i) => equalBytes(x, b[i]!));
}
