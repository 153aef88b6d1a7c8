/**
 * Parameter checking for the local JSON-RPC API: one small schema per method (required
 * or optional fields, their types, integer ranges, allowed strings, arrays of a checked
 * item type; unknown keys are rejected). The server runs this before any handler, so handlers can trust their params.
 */
import { LIST_MEMBER_STATES, LIST_NAME_RE, LIST_NAME_RULE, LIST_POLICIES, OUTBOX_STATES, type MethodName, type Params } from './methods.js';

export type FieldType = 'string' | 'number' | 'boolean' | 'object' | 'array';

export interface FieldSpec {
  type: FieldType;
  optional?: boolean;
  /** number: must be an integer. */
  integer?: boolean;
  /** number: inclusive bounds. */
  min?: number;
  max?: number;
  /** string: allowed values. */
  oneOf?: readonly string[];
  /** string: must not be empty. */
  nonEmpty?: boolean;
  /** object: the schema of its fields (unknown keys rejected). */
  fields?: Readonly<Record<string, FieldSpec>>;
  /** array: the spec every item must meet. */
  items?: FieldSpec;
  /** array: inclusive bounds on the number of items. */
  minItems?: number;
  maxItems?: number;
}

export type Schema<P> = { readonly [K in keyof P]-?: FieldSpec };

const none = {} as const;
const count = (min: number): FieldSpec => ({ type: 'number', optional: true, integer: true, min, max: Number.MAX_SAFE_INTEGER });

/** The parameter schema of every API method. */
export const SCHEMAS: { readonly [M in MethodName]: Schema<Params<M>> } = {
  status: none,
  id: none,
  peers: none,
  'trust.add': {
    entity: { type: 'string', nonEmpty: true },
    name: { type: 'string', optional: true, nonEmpty: true },
    addr: { type: 'string', optional: true, nonEmpty: true },
  },
  'trust.revoke': { who: { type: 'string', nonEmpty: true } },
  'trust.list': none,
  'invite.create': { uses: count(1), expiresInMs: count(1) },
  'invite.accept': {
    code: { type: 'string', nonEmpty: true },
    name: { type: 'string', optional: true, nonEmpty: true },
  },
  send: {
    to: { type: 'string', nonEmpty: true },
    text: { type: 'string', optional: true },
    file: {
      type: 'object',
      optional: true,
      fields: { name: { type: 'string', nonEmpty: true }, data: { type: 'string' } },
    },
    onion: { type: 'boolean', optional: true },
    hops: { type: 'number', optional: true, integer: true, min: 1, max: 8 },
  },
  'send.wait': {
    id: { type: 'string', nonEmpty: true },
    until: { type: 'string', oneOf: ['sent', 'relayed', 'delivered'] },
    timeoutMs: { type: 'number', integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
  },
  inbox: { afterSeq: count(0), limit: count(1), from: { type: 'string', optional: true, nonEmpty: true } },
  outbox: {
    limit: count(1),
    all: { type: 'boolean', optional: true },
    state: { type: 'array', optional: true, minItems: 1, maxItems: OUTBOX_STATES.length, items: { type: 'string', oneOf: OUTBOX_STATES } },
  },
  track: { id: { type: 'string', nonEmpty: true } },
  'inbox.get': { id: { type: 'string', nonEmpty: true } },
  'inbox.read': { id: { type: 'string', nonEmpty: true } },
  'mailbox.add': {
    who: { type: 'string', nonEmpty: true },
    addr: { type: 'string', optional: true, nonEmpty: true },
  },
  'mailbox.remove': { who: { type: 'string', nonEmpty: true } },
  'mailbox.list': none,
  follow: { id: { type: 'string', nonEmpty: true } },
  complain: { id: { type: 'string', nonEmpty: true }, reason: { type: 'string', optional: true } },
  discover: { to: { type: 'string', nonEmpty: true }, timeoutMs: { type: 'number', optional: true, integer: true, min: 0, max: 600_000 } },
  watch: { afterSeq: count(0) },
  shutdown: none,
  'list.create': {
    name: { type: 'string', nonEmpty: true },
    policy: { type: 'string', optional: true, oneOf: LIST_POLICIES },
  },
  'list.hosted': none,
  'list.join': {
    list: { type: 'string', nonEmpty: true },
    addr: { type: 'string', optional: true, nonEmpty: true },
    onion: { type: 'boolean', optional: true },
    hops: { type: 'number', optional: true, integer: true, min: 1, max: 8 },
  },
  'list.leave': { list: { type: 'string', nonEmpty: true } },
  'list.fetch': { list: { type: 'string', nonEmpty: true }, count: { type: 'number', optional: true, integer: true, min: 1, max: 1000 } },
  'list.info': none,
  'list.members': { state: { type: 'string', optional: true, oneOf: LIST_MEMBER_STATES } },
  'list.add': { who: { type: 'string', nonEmpty: true } },
  'list.remove': { who: { type: 'string', nonEmpty: true } },
  'list.approve': { who: { type: 'string', nonEmpty: true } },
  'list.ban': { who: { type: 'string', nonEmpty: true }, reason: { type: 'string', optional: true } },
  'list.status': none,
};

/** Rules that span fields, per method. */
const CROSS_CHECKS: { readonly [M in MethodName]?: (p: Record<string, unknown>) => void } = {
  send: (p) => {
    if ((p.text === undefined) === (p.file === undefined)) {
      throw new ParamError('send needs exactly one of the params "text" and "file"');
    }
    if (p.hops !== undefined && p.onion !== true) throw new ParamError('param "hops" needs "onion": true (the relays of an onion path)');
  },
  'list.join': (p) => {
    if (p.hops !== undefined && p.onion !== true) throw new ParamError('param "hops" needs "onion": true (the relays of each copy\'s onion path)');
  },
  'list.create': (p) => {
    if (typeof p.name === 'string' && !LIST_NAME_RE.test(p.name)) {
      throw new ParamError(`param "name" ("${p.name.slice(0, 40)}") is not a list name: ${LIST_NAME_RULE}`);
    }
  },
  'list.ban': (p) => {
    if (typeof p.reason === 'string' && Buffer.byteLength(p.reason) > 200) throw new ParamError('param "reason" must be at most 200 bytes');
  },
};

/** A parameter is missing, of the wrong type or not known; `message` names it. */
export class ParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParamError';
  }
}

export function isMethodName(s: string): s is MethodName {
  return Object.prototype.hasOwnProperty.call(SCHEMAS, s);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' || typeof v === 'undefined' ? `an ${typeof v}` : `a ${typeof v}`;
}

function checkObject(where: string, value: Record<string, unknown>, fields: Readonly<Record<string, FieldSpec>>): void {
  const allowed = Object.keys(fields);
  for (const key of Object.keys(value)) {
    if (!Object.prototype.hasOwnProperty.call(fields, key)) {
      const list = allowed.length ? `allowed: ${allowed.join(', ')}` : 'it takes no params';
      throw new ParamError(`unknown param "${where}${key}" (${list})`);
    }
  }
  for (const [key, spec] of Object.entries(fields)) {
    const v = value[key];
    const name = `${where}${key}`;
    if (v === undefined) {
      if (!spec.optional) throw new ParamError(`missing required param "${name}" (${spec.type})`);
      continue;
    }
    checkField(name, v, spec);
  }
}

function checkField(name: string, v: unknown, spec: FieldSpec): void {
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') throw new ParamError(`param "${name}" must be a string, not ${describe(v)}`);
      if (spec.nonEmpty && v.length === 0) throw new ParamError(`param "${name}" must not be empty`);
      if (spec.oneOf && !spec.oneOf.includes(v)) {
        throw new ParamError(`param "${name}" must be one of ${spec.oneOf.map((s) => `"${s}"`).join(', ')}`);
      }
      return;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ParamError(`param "${name}" must be a finite number, not ${describe(v)}`);
      if (spec.integer && !Number.isInteger(v)) throw new ParamError(`param "${name}" must be an integer`);
      if (spec.min !== undefined && v < spec.min) throw new ParamError(`param "${name}" must be at least ${spec.min}`);
      if (spec.max !== undefined && v > spec.max) throw new ParamError(`param "${name}" must be at most ${spec.max}`);
      return;
    case 'boolean':
      if (typeof v !== 'boolean') throw new ParamError(`param "${name}" must be a boolean, not ${describe(v)}`);
      return;
    case 'object':
      if (!isPlainObject(v)) throw new ParamError(`param "${name}" must be an object, not ${describe(v)}`);
      if (spec.fields) checkObject(`${name}.`, v, spec.fields);
      return;
    case 'array':
      if (!Array.isArray(v)) throw new ParamError(`param "${name}" must be an array, not ${describe(v)}`);
      if (spec.minItems !== undefined && v.length < spec.minItems) {
        throw new ParamError(`param "${name}" must have at least ${spec.minItems} item${spec.minItems === 1 ? '' : 's'}`);
      }
      if (spec.maxItems !== undefined && v.length > spec.maxItems) throw new ParamError(`param "${name}" must have at most ${spec.maxItems} items`);
      if (spec.items) v.forEach((item: unknown, i) => checkField(`${name}[${i}]`, item, spec.items!));
      return;
  }
}

/**
 * Checks `params` (absent means `{}`) against the method's schema and returns them typed.
 * Throws ParamError naming the offending param.
 */
export function validateParams<M extends MethodName>(method: M, params: unknown): Params<M> {
  const p = params === undefined ? {} : params;
  if (!isPlainObject(p)) throw new ParamError(`params of "${method}" must be an object, not ${describe(p)}`);
  checkObject('', p, SCHEMAS[method] as Readonly<Record<string, FieldSpec>>);
  CROSS_CHECKS[method]?.(p);
  return p as Params<M>;
}
