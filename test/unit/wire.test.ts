/**
 * Unit tests of agent/wire: codec fixtures, scanner limits (msgpack bombs), validators,
 * framing (FrameDecoder, batches) and fast-check round-trip / fuzz properties.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  ErrorCodes,
  FrameDecoder,
  Limits,
  MsgType,
  WotError,
  decodeBatch,
  decodeContent,
  decodeE2E,
  encodeSessionMessage,
  peekType,
  decodeHandshakePayload,
  decodeMessage,
  decodeSignedContent,
  encodeBatch,
  encodeContent,
  encodeFrame,
  encodeHandshakePayload,
  encodeMessage,
  encodeSignedContent,
  packValue,
  scanMsgpack,
  unpackValue,
  type Ack,
  type Close,
  type Content,
  type Envelope,
  type ErrorCode,
  type HandshakePayload,
  type SessionMessage,
  type SignedContent,
  type WireMessage,
} from '../../agent/wire/index.js';

const SEED = 0x5eed;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** Deep copy turning every Uint8Array (Buffer included) into a plain Uint8Array, for deep-equal. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = norm(x);
    return o;
  }
  return v;
}

/** Runs fn, asserts it throws a WotError with `code`, returns the error. */
function throwsCode(fn: () => unknown, code: ErrorCode, includes?: string): WotError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WotError)) throw new Error(`expected WotError ${code}, got ${String(e)}`);
    assert.is(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (includes !== undefined) assert.ok(e.message.includes(includes), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(includes)}`);
    return e;
  }
  throw new Error(`expected WotError ${code}, nothing thrown`);
}

const sampleEnvelope = (): Envelope => ({
  t: MsgType.ENVELOPE,
  id: bytes(16, 0x11),
  to: bytes(32, 0x22),
  exp: 1_700_000_000_000,
  route: [bytes(32, 0x33)],
  body: Uint8Array.from([1, 2, 3]),
  hops: [
    { a: bytes(32, 0x44), n: bytes(32, 0x55), l: bytes(32, 0x45), s: bytes(64, 0x66) },
    { a: bytes(32, 0x77), n: bytes(32, 0x88), l: bytes(32, 0x78), s: bytes(64, 0x99), c: bytes(185, 0xaa) },
  ],
});

const sampleAck = (): Ack => ({
  t: MsgType.ACK,
  id: bytes(16, 1),
  st: 'delivered',
  by: bytes(32, 2),
  s: bytes(64, 3),
  c: bytes(185, 4),
});

// ---------------------------------------------------------------------------------------------
// Fixtures and determinism

test('fixture: PING {n:5} encodes to 82a17401a16e05 and decodes back', () => {
  const b = encodeMessage({ t: MsgType.PING, n: 5 });
  assert.is(hex(b), '82a17401a16e05');
  assert.equal(decodeMessage(unhex('82a17401a16e05')), { t: 1, n: 5 });
});

test('fixture: PONG with a u32 n uses the u32 form', () => {
  const b = encodeMessage({ t: MsgType.PONG, n: 0xffffffff });
  assert.is(hex(b), '82a17402a16eceffffffff');
  assert.equal(decodeMessage(b), { t: 2, n: 0xffffffff });
});

test('fixture: CLOSE and WELCOME encode in fixed field order', () => {
  assert.is(
    hex(encodeMessage({ t: MsgType.CLOSE, code: 'ERR_SHUTDOWN', msg: 'bye' })),
    '83a17403a4636f6465ac4552525f53485554444f574ea36d7367a3627965',
  );
  assert.is(hex(encodeMessage({ t: MsgType.WELCOME })), '81a17404');
  assert.is(hex(encodeMessage({ t: MsgType.WELCOME, name: 'al' })), '82a17404a46e616d65a2616c');
});

test('fixture: ENVELOPE encodes bytes as bin, exp as uint64, deterministically', () => {
  const env = sampleEnvelope();
  const b = encodeMessage(env);
  const expected =
    '87' +
    'a174' + '10' +
    'a26964' + 'c410' + '11'.repeat(16) +
    'a2746f' + 'c420' + '22'.repeat(32) +
    'a3657870' + 'cf0000018bcfe56800' +
    'a5726f757465' + '91' + 'c420' + '33'.repeat(32) +
    'a4626f6479' + 'c403010203' +
    'a4686f7073' + '92' +
    '84' + 'a161c420' + '44'.repeat(32) + 'a16ec420' + '55'.repeat(32) + 'a16cc420' + '45'.repeat(32) + 'a173c440' + '66'.repeat(64) +
    '85' + 'a161c420' + '77'.repeat(32) + 'a16ec420' + '88'.repeat(32) + 'a16cc420' + '78'.repeat(32) + 'a173c440' + '99'.repeat(64) +
    'a163c4b9' + 'aa'.repeat(185);
  assert.is(hex(b), expected);
  // Same bytes whatever the key order of the input object and whether bytes are Buffers.
  const shuffled = {
    hops: env.hops.map((h) => ({ s: Buffer.from(h.s), ...(h.c ? { c: h.c } : {}), n: h.n, l: h.l, a: h.a })),
    body: Buffer.from(env.body),
    route: env.route,
    exp: env.exp,
    to: env.to,
    id: env.id,
    t: env.t,
  } as Envelope;
  assert.is(hex(encodeMessage(shuffled)), expected);
  const d = decodeMessage(b) as Envelope;
  assert.ok(d.body instanceof Uint8Array, 'decoded bin is a Uint8Array');
  assert.ok(d.hops[1]!.c instanceof Uint8Array);
  assert.is(typeof d.exp, 'number');
  assert.equal(norm(d), norm(env));
});

test('fixture: a Uint8Array and a Buffer both encode as msgpack bin (c4), never array/ext', () => {
  assert.is(hex(packValue(Uint8Array.from([1, 2]))), 'c4020102');
  assert.is(hex(packValue(Buffer.from([1, 2]))), 'c4020102');
  assert.is(hex(packValue(new Uint8Array(300))).slice(0, 6), 'c5012c');
  const v = unpackValue(unhex('c4020102'));
  assert.ok(v instanceof Uint8Array);
  assert.equal(Array.from(v as Uint8Array), [1, 2]);
});

test('encoding matches msgpackr Packr (plain-data options) for small-integer messages', () => {
  const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, variableMapSize: true });
  const msgs: WireMessage[] = [
    { t: MsgType.PING, n: 0 },
    { t: MsgType.PONG, n: 70000 },
    { t: MsgType.CLOSE, code: 'ERR_UNTRUSTED', msg: 'not trusted' },
    { ...sampleEnvelope(), exp: 123456 },
    sampleAck(),
  ];
  for (const m of msgs) assert.is(hex(encodeMessage(m)), hex(packr.pack(m)), `t=${m.t}`);
});

test('integers: 2^53-1 decodes as a number; 2^53 and above are refused (ERR_LIMIT_EXCEEDED)', () => {
  assert.is(unpackValue(unhex('cf001fffffffffffff')), Number.MAX_SAFE_INTEGER);
  assert.is(hex(packValue(Number.MAX_SAFE_INTEGER)), 'cf001fffffffffffff');
  assert.is(unpackValue(unhex('d3001fffffffffffff')), Number.MAX_SAFE_INTEGER);
  throwsCode(() => unpackValue(unhex('cf0020000000000000')), 'ERR_LIMIT_EXCEEDED', '2^53');
  throwsCode(() => unpackValue(unhex('cfffffffffffffffff')), 'ERR_LIMIT_EXCEEDED');
  throwsCode(() => unpackValue(unhex('d30020000000000000')), 'ERR_LIMIT_EXCEEDED');
  throwsCode(() => decodeMessage(unhex('82a17401a16ecf0020000000000000')), 'ERR_LIMIT_EXCEEDED', 'offset 6');
  throwsCode(() => packValue(2 ** 53), 'ERR_BAD_FIELD');
});

test('profile: floats, negative integers, 0xc1 are refused (ERR_MALFORMED_FRAME)', () => {
  throwsCode(() => unpackValue(unhex('cb3ff0000000000000')), 'ERR_MALFORMED_FRAME', 'float');
  throwsCode(() => unpackValue(unhex('ca3f800000')), 'ERR_MALFORMED_FRAME', 'float');
  throwsCode(() => unpackValue(unhex('ff')), 'ERR_MALFORMED_FRAME', 'negative');
  throwsCode(() => unpackValue(unhex('d0ff')), 'ERR_MALFORMED_FRAME', 'negative');
  throwsCode(() => unpackValue(unhex('d38000000000000000')), 'ERR_MALFORMED_FRAME', 'negative');
  throwsCode(() => unpackValue(unhex('c1')), 'ERR_MALFORMED_FRAME', '0xc1');
  assert.is(unpackValue(unhex('d07f')), 127);
  throwsCode(() => packValue(1.5), 'ERR_BAD_FIELD');
  throwsCode(() => packValue(-1), 'ERR_BAD_FIELD');
  throwsCode(() => packValue(new Date(0)), 'ERR_BAD_FIELD');
  throwsCode(() => packValue(10n), 'ERR_BAD_FIELD');
  throwsCode(() => packValue([undefined]), 'ERR_BAD_FIELD');
  throwsCode(() => packValue(new Map()), 'ERR_BAD_FIELD');
});

test('profile: map keys must be unique strings, strings valid UTF-8', () => {
  throwsCode(() => unpackValue(unhex('810102')), 'ERR_MALFORMED_FRAME', 'not a string');
  throwsCode(() => unpackValue(unhex('81c4016101')), 'ERR_MALFORMED_FRAME', 'not a string');
  throwsCode(() => decodeMessage(unhex('83a17401a16e05a17402')), 'ERR_MALFORMED_FRAME', 'duplicate');
  throwsCode(() => unpackValue(unhex('a2c328')), 'ERR_MALFORMED_FRAME', 'UTF-8'); // bad continuation
  throwsCode(() => unpackValue(unhex('a3eda080')), 'ERR_MALFORMED_FRAME', 'UTF-8'); // surrogate
  throwsCode(() => unpackValue(unhex('a2c0af')), 'ERR_MALFORMED_FRAME', 'UTF-8'); // overlong
  throwsCode(() => unpackValue(unhex('a2e282')), 'ERR_MALFORMED_FRAME', 'UTF-8'); // cut sequence
  assert.is(unpackValue(unhex('a4f09f9880')), '😀');
  assert.equal(unpackValue(unhex('82a161c0a162c3')), { a: null, b: true });
});

// ---------------------------------------------------------------------------------------------
// msgpack bombs

test('bomb: array32/map32 header claiming 2^32-1 elements in a tiny buffer is refused before allocation', () => {
  throwsCode(() => unpackValue(unhex('ddffffffff00')), 'ERR_LIMIT_EXCEEDED', 'maxArray');
  throwsCode(() => unpackValue(unhex('dfffffffff00')), 'ERR_LIMIT_EXCEEDED', 'maxArray');
  throwsCode(() => decodeMessage(unhex('ddffffffff')), 'ERR_LIMIT_EXCEEDED');
  // With a huge maxArray the fit check still refuses it: n elements need >= n bytes.
  const loose = { maxDepth: 8, maxArray: 0xffffffff, maxString: 4096, maxBin: 1 << 20 };
  throwsCode(() => scanMsgpack(unhex('ddffffffff00'), loose), 'ERR_MALFORMED_FRAME', 'needs at least');
  throwsCode(() => scanMsgpack(unhex('dfffffffff0000'), loose), 'ERR_MALFORMED_FRAME', 'needs at least');
  // 256 elements within the limit but only 255 bytes left.
  throwsCode(() => unpackValue(cat(unhex('dc0100'), new Uint8Array(255))), 'ERR_MALFORMED_FRAME');
  assert.is((unpackValue(cat(unhex('dc0100'), new Uint8Array(256))) as unknown[]).length, 256);
  throwsCode(() => unpackValue(cat(unhex('dc0101'), new Uint8Array(257))), 'ERR_LIMIT_EXCEEDED');
});

test('bomb: str32/bin32 headers declaring 4 GiB in a tiny buffer are refused', () => {
  throwsCode(() => unpackValue(unhex('dbffffffff61')), 'ERR_LIMIT_EXCEEDED', 'maxString');
  throwsCode(() => unpackValue(unhex('c6ffffffff61')), 'ERR_LIMIT_EXCEEDED', 'maxBin');
  const loose = { maxDepth: 8, maxArray: 256, maxString: 0xffffffff, maxBin: 0xffffffff };
  throwsCode(() => scanMsgpack(unhex('dbffffffff61'), loose), 'ERR_MALFORMED_FRAME', 'truncated');
  throwsCode(() => scanMsgpack(unhex('c6ffffffff61'), loose), 'ERR_MALFORMED_FRAME', 'truncated');
});

test('bomb: nesting depth 100 is refused (ERR_LIMIT_EXCEEDED), depth 8 accepted', () => {
  throwsCode(() => unpackValue(cat(new Uint8Array(99).fill(0x91), unhex('90'))), 'ERR_LIMIT_EXCEEDED', 'maxDepth');
  throwsCode(() => unpackValue(cat(new Uint8Array(8).fill(0x91), unhex('90'))), 'ERR_LIMIT_EXCEEDED', 'maxDepth');
  let v = unpackValue(cat(new Uint8Array(7).fill(0x91), unhex('90')));
  for (let i = 0; i < 7; i++) v = (v as unknown[])[0];
  assert.equal(v, []);
  // nested maps count too
  const deepMap = cat(...Array.from({ length: 100 }, () => unhex('81a161')), unhex('c0'));
  throwsCode(() => unpackValue(deepMap), 'ERR_LIMIT_EXCEEDED', 'maxDepth');
  throwsCode(() => packValue([[[[[[[[[]]]]]]]]]), 'ERR_LIMIT_EXCEEDED');
});

test('bomb: a 1 MB string is refused (ERR_LIMIT_EXCEEDED), also as a message field', () => {
  const big = cat(unhex('db00100000'), new Uint8Array(1 << 20).fill(0x61));
  throwsCode(() => unpackValue(big), 'ERR_LIMIT_EXCEEDED', 'maxString');
  const close = cat(unhex('83a17403a4636f6465a3455252a36d7367'), big);
  throwsCode(() => decodeMessage(close), 'ERR_LIMIT_EXCEEDED', 'maxString');
  const s4096 = cat(unhex('da1000'), new Uint8Array(4096).fill(0x62));
  assert.is((unpackValue(s4096) as string).length, 4096);
  throwsCode(() => packValue('x'.repeat(4097)), 'ERR_LIMIT_EXCEEDED');
});

test('bomb: every ext type (fixext 1..16, ext8/16/32, timestamps) is refused', () => {
  for (const h of [
    'd40100',
    'd5010000',
    'd601' + '00'.repeat(4),
    'd7ff' + '00'.repeat(8), // timestamp 64
    'd801' + '00'.repeat(16),
    'c70101' + '00',
    'c7ff' + 'ff' + '00', // declared 255, tiny buffer
    'c8000101' + '00',
    'c9ffffffff01',
    'd6ff00000000', // timestamp 32
    'c70cff' + '00'.repeat(12), // timestamp 96
  ]) {
    throwsCode(() => unpackValue(unhex(h)), 'ERR_MALFORMED_FRAME', 'ext');
  }
  // ext hidden inside a message
  throwsCode(() => decodeMessage(unhex('82a17401a16ed6ff00000000')), 'ERR_MALFORMED_FRAME', 'ext');
});

test('bomb: trailing bytes, truncation and empty input are refused (ERR_MALFORMED_FRAME)', () => {
  throwsCode(() => decodeMessage(unhex('82a17401a16e0500')), 'ERR_MALFORMED_FRAME', 'trailing');
  throwsCode(() => decodeMessage(unhex('82a17401a16e05' + '82a17401a16e05')), 'ERR_MALFORMED_FRAME', 'trailing');
  throwsCode(() => decodeMessage(unhex('82a17401a16e')), 'ERR_MALFORMED_FRAME', 'truncated');
  throwsCode(() => decodeMessage(unhex('82a17401')), 'ERR_MALFORMED_FRAME');
  throwsCode(() => decodeMessage(new Uint8Array(0)), 'ERR_MALFORMED_FRAME', 'empty');
  throwsCode(() => unpackValue(unhex('cd01')), 'ERR_MALFORMED_FRAME', 'truncated');
  throwsCode(() => unpackValue(unhex('cf00000000')), 'ERR_MALFORMED_FRAME', 'truncated');
});

test('bomb: hostile headers cause no allocation blow-up (arrayBuffers and heap grow < 16 MiB over 2000 tries)', () => {
  const bombs = [
    'ddffffffff00',
    'dfffffffff00',
    'dbffffffff61',
    'c6ffffffff61',
    'c9ffffffff01',
    '91'.repeat(100) + '90',
    'dc0100' + '00'.repeat(255),
  ].map(unhex);
  const before = process.memoryUsage();
  for (let i = 0; i < 2000; i++) {
    for (const b of bombs) {
      try {
        decodeMessage(b);
        assert.unreachable('bomb accepted');
      } catch (e) {
        assert.ok(e instanceof WotError);
      }
    }
  }
  const after = process.memoryUsage();
  assert.ok(after.arrayBuffers - before.arrayBuffers < 16 * 2 ** 20, `arrayBuffers grew ${after.arrayBuffers - before.arrayBuffers}`);
  assert.ok(after.heapUsed - before.heapUsed < 16 * 2 ** 20 * 4, `heap grew ${after.heapUsed - before.heapUsed}`);
});

// ---------------------------------------------------------------------------------------------
// Validators

test('validator: a 15-byte id is ERR_BAD_FIELD naming "id" (expected 16 bytes, got 15)', () => {
  const bad = { ...sampleEnvelope(), id: bytes(15, 1) };
  throwsCode(() => encodeMessage(bad), 'ERR_BAD_FIELD', '"id" expected 16 bytes, got 15');
  // the same on decode: build the bytes with msgpackr so our encoder's validation is bypassed
  const raw = new Packr({ useRecords: false, variableMapSize: true }).pack({ ...bad, exp: 5 });
  throwsCode(() => decodeMessage(raw), 'ERR_BAD_FIELD', '"id" expected 16 bytes, got 15');
  throwsCode(() => decodeMessage(new Packr({ useRecords: false, variableMapSize: true }).pack({ ...sampleAck(), id: bytes(17, 1) })), 'ERR_BAD_FIELD', '"id"');
});

test('validator: nested and array fields are named (hops[i].s, route[i], hops, invite.key, addrs[i], parents[i])', () => {
  const env = sampleEnvelope();
  throwsCode(() => encodeMessage({ ...env, hops: [env.hops[0]!, { ...env.hops[1]!, s: bytes(63, 0) }] }), 'ERR_BAD_FIELD', '"hops[1].s" expected 64 bytes, got 63');
  throwsCode(() => encodeMessage({ ...env, hops: [{ ...env.hops[0]!, c: bytes(184, 0) }] }), 'ERR_BAD_FIELD', '"hops[0].c"');
  throwsCode(() => encodeMessage({ ...env, route: [bytes(31, 0)] }), 'ERR_BAD_FIELD', '"route[0]" expected 32 bytes, got 31');
  throwsCode(() => encodeMessage({ ...env, hops: [] }), 'ERR_BAD_FIELD', '"hops" expected at least 1');
  throwsCode(() => encodeMessage({ ...env, hops: Array(33).fill(env.hops[0]!) }), 'ERR_BAD_FIELD', '"hops" expected at most 32');
  throwsCode(() => encodeMessage({ ...env, route: Array(33).fill(bytes(32, 0)) }), 'ERR_BAD_FIELD', '"route" expected at most 32');
  throwsCode(() => encodeMessage({ ...env, hops: [{ ...env.hops[0]!, x: 1 } as never] }), 'ERR_BAD_FIELD', '"hops[0].x"');
  throwsCode(() => encodeMessage({ ...env, exp: -1 }), 'ERR_BAD_FIELD', '"exp"');
  throwsCode(() => encodeMessage({ ...env, exp: 1.5 }), 'ERR_BAD_FIELD', '"exp"');
  const hp: HandshakePayload = { v: 1, cert: bytes(185, 1) };
  throwsCode(() => encodeHandshakePayload({ ...hp, cert: bytes(184, 1) }), 'ERR_BAD_FIELD', '"cert" expected 185 bytes, got 184');
  throwsCode(() => encodeHandshakePayload({ ...hp, invite: { key: bytes(31, 1), proof: bytes(64, 1) } }), 'ERR_BAD_FIELD', '"invite.key"');
  throwsCode(() => encodeHandshakePayload({ ...hp, addrs: ['x'.repeat(65)] }), 'ERR_BAD_FIELD', '"addrs[0]"');
  throwsCode(() => encodeHandshakePayload({ ...hp, addrs: Array(9).fill('h:1') }), 'ERR_BAD_FIELD', '"addrs"');
  throwsCode(() => encodeHandshakePayload({ ...hp, v: 2 as 1 }), 'ERR_BAD_FIELD', '"v"');
  const c: Content = { v: 1, id: bytes(16, 1), from: bytes(32, 2), to: bytes(32, 3), ts: 1, kind: 'text', body: bytes(1, 0) };
  throwsCode(() => encodeContent({ ...c, parents: [bytes(32, 0), bytes(1, 0)] }), 'ERR_BAD_FIELD', '"parents[1]"');
  throwsCode(() => encodeContent({ ...c, parents: Array(17).fill(bytes(32, 0)) }), 'ERR_BAD_FIELD', '"parents"');
  throwsCode(() => encodeContent({ ...c, kind: 'image' as 'text' }), 'ERR_BAD_FIELD', '"kind"');
  throwsCode(() => encodeContent({ ...c, name: 'n'.repeat(256) }), 'ERR_BAD_FIELD', '"name"');
  throwsCode(() => encodeContent({ ...c, body: new Uint8Array(Limits.MAX_BODY + 1) }), 'ERR_BAD_FIELD', '"body"');
  throwsCode(() => encodeSignedContent({ c: bytes(3, 1), cert: bytes(185, 0), s: bytes(65, 0) }), 'ERR_BAD_FIELD', '"s" expected 64 bytes, got 65');
});

test('validator: PING n must be u32; CLOSE code must be a known code, msg <= 256; WELCOME name <= 64; ACK st', () => {
  throwsCode(() => encodeMessage({ t: MsgType.PING, n: 2 ** 32 }), 'ERR_BAD_FIELD', '"n"');
  throwsCode(() => decodeMessage(unhex('82a17401a16ecf0000000100000000')), 'ERR_BAD_FIELD', '"n"');
  throwsCode(() => decodeMessage(unhex('81a17401')), 'ERR_BAD_FIELD', '"n" is required');
  throwsCode(() => encodeMessage({ t: MsgType.CLOSE, code: 'ERR_NOPE' as ErrorCode }), 'ERR_BAD_FIELD', '"code"');
  throwsCode(() => encodeMessage({ t: MsgType.CLOSE, code: 'ERR_SHUTDOWN', msg: 'm'.repeat(257) }), 'ERR_BAD_FIELD', '"msg"');
  encodeMessage({ t: MsgType.CLOSE, code: 'ERR_SHUTDOWN', msg: 'm'.repeat(256) });
  throwsCode(() => encodeMessage({ t: MsgType.WELCOME, name: 'w'.repeat(65) }), 'ERR_BAD_FIELD', '"name"');
  throwsCode(() => encodeMessage({ ...sampleAck(), st: 'seen' as 'read' }), 'ERR_BAD_FIELD', '"st"');
  throwsCode(() => decodeMessage(unhex('82a174a131a16e05')), 'ERR_BAD_FIELD', '"t"');
});

test('validator: unknown t is ERR_UNKNOWN_TYPE; extra key is ERR_BAD_FIELD naming it; non-map is ERR_MALFORMED_FRAME', () => {
  throwsCode(() => decodeMessage(unhex('81a17463')), 'ERR_UNKNOWN_TYPE', 't=99');
  throwsCode(() => decodeMessage(unhex('82a17400a16e05')), 'ERR_UNKNOWN_TYPE');
  throwsCode(() => decodeMessage(unhex('83a17401a16e05a17805')), 'ERR_BAD_FIELD', '"x"');
  throwsCode(() => encodeMessage({ t: MsgType.PING, n: 1, extra: 1 } as WireMessage), 'ERR_BAD_FIELD', '"extra"');
  throwsCode(() => decodeHandshakePayload(packValue({ v: 1, cert: bytes(185, 1), more: true })), 'ERR_BAD_FIELD', '"more"');
  throwsCode(() => decodeContent(packValue({ v: 1, id: bytes(16, 1), from: bytes(32, 2), to: bytes(32, 3), ts: 1, kind: 'text', body: bytes(1, 0), z: 0 })), 'ERR_BAD_FIELD', '"z"');
  throwsCode(() => decodeSignedContent(packValue({ c: bytes(3, 1), cert: bytes(185, 0), s: bytes(64, 0), q: null })), 'ERR_BAD_FIELD', '"q"');
  throwsCode(() => decodeMessage(unhex('92a17401')), 'ERR_MALFORMED_FRAME', 'map');
  throwsCode(() => decodeMessage(unhex('05')), 'ERR_MALFORMED_FRAME');
  // '__proto__' as a key cannot smuggle fields in
  throwsCode(() => decodeMessage(unhex('82a17401a95f5f70726f746f5f5f81a16e05')), 'ERR_BAD_FIELD');
});

test('encode: undefined optional fields are left out; encodings over MAX_MESSAGE are ERR_TOO_LARGE', () => {
  const m = { t: MsgType.CLOSE, code: 'ERR_SHUTDOWN', msg: undefined } as Close;
  assert.is(hex(encodeMessage(m)), hex(encodeMessage({ t: MsgType.CLOSE, code: 'ERR_SHUTDOWN' })));
  assert.equal(decodeMessage(encodeMessage(m)), { t: 3, code: 'ERR_SHUTDOWN' });
  assert.equal(unpackValue(packValue({ a: 1, b: undefined })), { a: 1 });
  const env = { ...sampleEnvelope(), body: new Uint8Array(Limits.MAX_MESSAGE), hops: Array(32).fill(sampleEnvelope().hops[1]!) };
  throwsCode(() => encodeMessage(env), 'ERR_TOO_LARGE');
  // the encoder is usable afterwards
  assert.is(hex(encodeMessage({ t: MsgType.PING, n: 5 })), '82a17401a16e05');
});

test('every error code is a valid CLOSE code and round-trips', () => {
  for (const code of ErrorCodes) assert.equal(decodeMessage(encodeMessage({ t: MsgType.CLOSE, code })), { t: 3, code });
});

// ---------------------------------------------------------------------------------------------
// Property tests

const bin = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u53 = fc.maxSafeNat();
const str = (max: number) => fc.oneof(fc.string({ maxLength: max }), fc.string({ unit: 'binary', maxLength: Math.floor(max / 2) }));

const hopArb = fc.record({ a: bin(32), n: bin(32), l: bin(32), s: bin(64), c: bin(185) }, { requiredKeys: ['a', 'n', 'l', 's'] });
const envelopeArb: fc.Arbitrary<Envelope> = fc.record({
  t: fc.constant(MsgType.ENVELOPE),
  id: bin(16),
  to: bin(32),
  exp: u53,
  route: fc.array(bin(32), { maxLength: Limits.MAX_HOPS }),
  body: fc.uint8Array({ maxLength: 2048 }),
  hops: fc.array(hopArb, { minLength: 1, maxLength: Limits.MAX_HOPS }),
});
const ackArb: fc.Arbitrary<Ack> = fc.record({
  t: fc.constant(MsgType.ACK),
  id: bin(16),
  st: fc.constantFrom('delivered' as const, 'read' as const),
  by: bin(32),
  s: bin(64),
  c: bin(185),
  r: fc.uint8Array({ minLength: 1, maxLength: Limits.MAX_RATCHET_STEP }),
}, { requiredKeys: ['t', 'id', 'st', 'by', 's', 'c'] });
const onionArb: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.record({ t: fc.constant(MsgType.ONION), id: bin(16), o: fc.uint8Array({ minLength: 1, maxLength: 6000 }), s: bin(64) }),
  fc.record({ t: fc.constant(MsgType.ONION_BACK), id: bin(16), b: bin(16), p: bin(272) }),
  fc.record({
    t: fc.constant(MsgType.ONION_COMPLAINT),
    id: bin(16),
    cs: bin(32),
    k: fc.integer({ min: 0, max: Limits.MAX_ONION_RELAYS }),
    reason: str(200),
    ts: u53,
    c: bin(185),
    s: bin(64),
    w: fc.integer({ min: 0, max: 255 }),
  }),
);
const messageArb: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.record({ t: fc.constant(MsgType.PING), n: u32 }),
  fc.record({ t: fc.constant(MsgType.PONG), n: u32 }),
  fc.record({ t: fc.constant(MsgType.CLOSE), code: fc.constantFrom(...ErrorCodes), msg: str(256) }, { requiredKeys: ['t', 'code'] }),
  fc.record({ t: fc.constant(MsgType.WELCOME), name: str(64) }, { requiredKeys: ['t'] }),
  envelopeArb,
  ackArb,
  onionArb,
);
const handshakeArb: fc.Arbitrary<HandshakePayload> = fc.record(
  {
    v: fc.constant(1 as const),
    cert: bin(185),
    invite: fc.record({ key: bin(32), proof: bin(64) }),
    addrs: fc.array(str(64), { maxLength: 8 }),
  },
  { requiredKeys: ['v', 'cert'] },
);
const contentArb: fc.Arbitrary<Content> = fc.record(
  {
    v: fc.constant(1 as const),
    id: bin(16),
    from: bin(32),
    to: bin(32),
    ts: u53,
    kind: fc.constantFrom('text' as const, 'file' as const),
    body: fc.uint8Array({ maxLength: 4096 }),
    name: str(255),
    parents: fc.array(bin(32), { maxLength: 16 }),
  },
  { requiredKeys: ['v', 'id', 'from', 'to', 'ts', 'kind', 'body'] },
);
const signedArb: fc.Arbitrary<SignedContent> = fc.record({ c: fc.uint8Array({ minLength: 1, maxLength: 4096 }), cert: bin(185), s: bin(64) });

test('property: every message type round-trips encode → decode to an equal value, and re-encodes to the same bytes', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      const b = encodeMessage(m);
      const d = decodeMessage(b);
      assert.equal(norm(d), norm(m));
      assert.is(hex(encodeMessage(d)), hex(b));
    }),
    { seed: SEED, numRuns: 600 },
  );
});

test('onion messages and session messages: sizes checked, field named, unknown keys refused; peekType reads t without decoding', () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      return e instanceof WotError ? `${e.code}: ${e.message}` : String(e);
    }
    return 'ok';
  };
  const onion = { t: MsgType.ONION, id: new Uint8Array(16), o: new Uint8Array(5312), s: new Uint8Array(64) };
  assert.is(decodeMessage(encodeMessage(onion as WireMessage)).t, MsgType.ONION);
  assert.is(peekType(encodeMessage(onion as WireMessage)), MsgType.ONION);
  assert.is(peekType(encodeMessage({ t: MsgType.PING, n: 1 })), MsgType.PING);
  assert.is(peekType(new Uint8Array([0x91, 0x01])), undefined);
  assert.match(code(() => decodeMessage(packValue({ ...onion, o: new Uint8Array(0) }))), '"o" expected 1..');
  assert.match(code(() => decodeMessage(packValue({ ...onion, s: new Uint8Array(63) }))), '"s" expected 64 bytes, got 63');
  assert.match(code(() => decodeMessage(packValue({ ...onion, n: new Uint8Array(32) }))), '"n" is not a field of ONION');
  const back = { t: MsgType.ONION_BACK, id: new Uint8Array(16), b: new Uint8Array(16), p: new Uint8Array(272) };
  assert.is(code(() => decodeMessage(packValue(back))), 'ok');
  assert.match(code(() => decodeMessage(packValue({ ...back, p: new Uint8Array(271) }))), '"p" expected 272 bytes');
  const oc = { t: MsgType.ONION_COMPLAINT, id: new Uint8Array(16), cs: new Uint8Array(32), k: 3, reason: 'spam', ts: 1, c: new Uint8Array(185), s: new Uint8Array(64), w: 0 };
  assert.is(code(() => decodeMessage(packValue(oc))), 'ok');
  assert.match(code(() => decodeMessage(packValue({ ...oc, k: 9 }))), '"k" expected at most 8');
  const ack = { t: MsgType.ACK, id: new Uint8Array(16), st: 'delivered', by: new Uint8Array(32), s: new Uint8Array(64), c: new Uint8Array(185), r: new Uint8Array(181) };
  assert.match(code(() => decodeMessage(packValue(ack))), '"r" expected 1..180 bytes');
  const sm: SessionMessage = { v: 1, sid: new Uint8Array(16), dh: new Uint8Array(32), pn: 0, n: 7, i: { ek: new Uint8Array(32), ik: new Uint8Array(32), ts: 5 }, ct: new Uint8Array(16) };
  const enc = encodeSessionMessage(sm);
  assert.equal(norm(decodeE2E(enc)), norm({ session: sm }));
  assert.is(hex(encodeSessionMessage((decodeE2E(enc) as { session: SessionMessage }).session)), hex(enc), 'deterministic');
  const signed = encodeSignedContent({ c: new Uint8Array([1]), cert: new Uint8Array(185), s: new Uint8Array(64) });
  assert.ok('signed' in decodeE2E(signed), 'signed content without a session');
  assert.match(code(() => decodeE2E(packValue({ ...sm, ct: new Uint8Array(15) }))), '"ct" expected 16..');
  assert.match(code(() => decodeE2E(packValue({ ...sm, i: { ek: new Uint8Array(32), ik: new Uint8Array(32) } }))), '"i.ts" is required');
  assert.match(code(() => decodeE2E(packValue({ ...sm, x: 1 }))), '"x" is not a field of a session message');
});

test('property: handshake payload, content and signed content round-trip', () => {
  fc.assert(
    fc.property(handshakeArb, (p) => {
      assert.equal(norm(decodeHandshakePayload(encodeHandshakePayload(p))), norm(p));
    }),
    { seed: SEED, numRuns: 300 },
  );
  fc.assert(
    fc.property(contentArb, (c) => {
      assert.equal(norm(decodeContent(encodeContent(c))), norm(c));
    }),
    { seed: SEED, numRuns: 300 },
  );
  fc.assert(
    fc.property(signedArb, (s) => {
      assert.equal(norm(decodeSignedContent(encodeSignedContent(s))), norm(s));
    }),
    { seed: SEED, numRuns: 200 },
  );
});

test('property: packValue → unpackValue round-trips plain data of the profile', () => {
  const key = fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__');
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 5 },
      fc.constant(null),
      fc.boolean(),
      u53,
      u32,
      str(64),
      fc.uint8Array({ maxLength: 64 }),
      fc.array(tie('value'), { maxLength: 6 }),
      fc.dictionary(key, tie('value'), { maxKeys: 6, noNullPrototype: true }),
    ),
  }));
  fc.assert(
    fc.property(value, (v) => {
      assert.equal(norm(unpackValue(packValue(v))), norm(v));
    }),
    { seed: SEED, numRuns: 500 },
  );
});

function onlyWotErrors(b: Uint8Array): void {
  for (const f of [decodeMessage, decodeHandshakePayload, decodeContent, decodeSignedContent, unpackValue] as ((x: Uint8Array) => unknown)[]) {
    try {
      f(b);
    } catch (e) {
      if (!(e instanceof WotError)) throw new Error(`${f.name} threw a non-WotError on ${hex(b).slice(0, 200)}: ${String(e)}`);
    }
  }
}

test('fuzz: random bytes make the decoders throw WotError only', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), onlyWotErrors), { seed: SEED, numRuns: 3000 });
});

test('fuzz: msgpack-token soup (headers with hostile lengths) makes the decoders throw WotError only', () => {
  const tokens = fc.oneof(
    fc.constantFrom(
      ...[
        '80', '81', '8f', '90', '91', '9f', 'a0', 'a1', 'bf', 'c0', 'c1', 'c2', 'c3', 'c4ff', 'c5ffff', 'c6ffffffff',
        'c7ff01', 'c8ffff01', 'c9ffffffff01', 'ca', 'cb', 'cc', 'cd', 'ce', 'cf', 'd0', 'd1', 'd2', 'd3', 'd4', 'd8',
        'd9ff', 'daffff', 'dbffffffff', 'dcffff', 'ddffffffff', 'deffff', 'dfffffffff', 'ff', 'a174', 'a16e', '10', '01',
        'a26964c410', 'a4686f7073', '91', 'cf001fffffffffffff', 'cf0020000000000000',
      ].map(unhex),
    ),
    fc.uint8Array({ minLength: 1, maxLength: 4 }),
  );
  fc.assert(
    fc.property(fc.array(tokens, { maxLength: 40 }), (parts) => onlyWotErrors(cat(...parts))),
    { seed: SEED, numRuns: 3000 },
  );
});

test('fuzz: mutated and truncated valid encodings make the decoders throw WotError only (or decode validly)', () => {
  fc.assert(
    fc.property(messageArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), (m, flips, cut) => {
      const b = Uint8Array.from(encodeMessage(m));
      for (const [i, v] of flips) b[i % b.length] = v;
      onlyWotErrors(b);
      onlyWotErrors(b.subarray(0, cut % (b.length + 1)));
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

// ---------------------------------------------------------------------------------------------
// Framing

test('encodeFrame writes a big-endian 2- or 4-byte length; refuses empty and oversized payloads', () => {
  assert.is(hex(encodeFrame(Uint8Array.from([9, 8, 7]), 2)), '0003090807');
  assert.is(hex(encodeFrame(Uint8Array.from([9]), 4)), '0000000109');
  assert.is(hex(encodeFrame(new Uint8Array(300), 4).subarray(0, 4)), '0000012c');
  throwsCode(() => encodeFrame(new Uint8Array(0), 2), 'ERR_MALFORMED_FRAME');
  throwsCode(() => encodeFrame(new Uint8Array(65536), 2), 'ERR_FRAME_TOO_LARGE');
  assert.is(encodeFrame(new Uint8Array(65535), 2).length, 65537);
});

test('FrameDecoder: a stream split at every possible point (1 and 2 cuts) yields the same frames', () => {
  for (const hb of [2, 4] as const) {
    const payloads = [Uint8Array.from([1]), Uint8Array.from([2, 3, 4, 5, 6]), bytes(300, 7), Uint8Array.from([8, 9])];
    const stream = cat(...payloads.map((p) => encodeFrame(p, hb)));
    const expected = payloads.map(hex);
    for (let i = 0; i <= stream.length; i++) {
      const d = new FrameDecoder({ maxFrame: 1000, headerBytes: hb });
      const got = [...d.push(stream.subarray(0, i)), ...d.push(stream.subarray(i))].map(hex);
      assert.equal(got, expected, `split at ${i} (header ${hb})`);
      assert.is(d.buffered, 0);
    }
    // two cuts, including cuts inside headers
    for (let i = 0; i <= 40; i++) {
      for (let j = i; j <= stream.length; j += 7) {
        const d = new FrameDecoder({ maxFrame: 1000, headerBytes: hb });
        const got = [...d.push(stream.subarray(0, i)), ...d.push(stream.subarray(i, j)), ...d.push(stream.subarray(j))].map(hex);
        assert.equal(got, expected, `cuts ${i},${j}`);
      }
    }
    // byte by byte
    const d = new FrameDecoder({ maxFrame: 1000, headerBytes: hb });
    const got: string[] = [];
    for (let i = 0; i < stream.length; i++) {
      got.push(...d.push(stream.subarray(i, i + 1)).map(hex));
      assert.ok(d.buffered <= 300 + hb);
    }
    assert.equal(got, expected);
  }
});

test('FrameDecoder: several frames in one chunk, plus a partial one kept in buffered', () => {
  const d = new FrameDecoder({ maxFrame: 100, headerBytes: 4 });
  const chunk = cat(encodeFrame(Uint8Array.from([1]), 4), encodeFrame(Uint8Array.from([2, 2]), 4), encodeFrame(Uint8Array.from([3, 3, 3]), 4), unhex('0000000504'));
  const frames = d.push(chunk);
  assert.equal(frames.map(hex), ['01', '0202', '030303']);
  assert.is(d.buffered, 1); // the partial frame's header is consumed, one payload byte is held
  assert.equal(d.push(unhex('04040404')).map(hex), ['0404040404']);
  assert.is(d.buffered, 0);
  assert.equal(d.push(new Uint8Array(0)), []);
});

test('FrameDecoder: a header declaring 2^32-1 bytes throws ERR_FRAME_TOO_LARGE right after its 4th byte, buffering nothing', () => {
  const d = new FrameDecoder({ maxFrame: Limits.MAX_RECORD + 16, headerBytes: 4 });
  assert.equal(d.push(unhex('ff')), []);
  assert.equal(d.push(unhex('ffff')), []);
  assert.is(d.buffered, 3);
  throwsCode(() => d.push(unhex('ff')), 'ERR_FRAME_TOO_LARGE', '4294967295');
  assert.ok(d.buffered < 16, `buffered ${d.buffered}`);
  // dead afterwards
  throwsCode(() => d.push(unhex('00')), 'ERR_FRAME_TOO_LARGE');
  // header and some payload in one chunk: same, nothing kept
  const d2 = new FrameDecoder({ maxFrame: 1000, headerBytes: 4 });
  throwsCode(() => d2.push(cat(unhex('ffffffff'), new Uint8Array(64))), 'ERR_FRAME_TOO_LARGE');
  assert.ok(d2.buffered < 16);
  // just over the cap, 2-byte header
  const d3 = new FrameDecoder({ maxFrame: 10, headerBytes: 2 });
  assert.equal(d3.push(encodeFrame(new Uint8Array(10), 2)).length, 1);
  throwsCode(() => d3.push(unhex('000b')), 'ERR_FRAME_TOO_LARGE');
});

test('FrameDecoder: a zero-length frame is ERR_MALFORMED_FRAME', () => {
  const d = new FrameDecoder({ maxFrame: 100, headerBytes: 2 });
  assert.equal(d.push(unhex('000101')).map(hex), ['01']);
  throwsCode(() => d.push(unhex('0000')), 'ERR_MALFORMED_FRAME', 'zero-length');
});

// ---------------------------------------------------------------------------------------------
// Batches

test('batch: encode/decode round trip of encoded messages', () => {
  const msgs = [encodeMessage({ t: MsgType.PING, n: 1 }), encodeMessage(sampleEnvelope()), encodeMessage(sampleAck())];
  const plain = encodeBatch(msgs);
  assert.is(plain.length, msgs.reduce((a, m) => a + 4 + m.length, 0));
  assert.is(hex(plain.subarray(0, 4 + 7)), '00000007' + '82a17401a16e01');
  const out = decodeBatch(plain);
  assert.equal(out.map(hex), msgs.map(hex));
  assert.equal(norm(out.map((b) => decodeMessage(b))), norm([{ t: 1, n: 1 }, sampleEnvelope(), sampleAck()]));
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 50 }), { minLength: 1, maxLength: 20 }), (ms) => {
      assert.equal(decodeBatch(encodeBatch(ms)).map(hex), ms.map(hex));
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('batch: truncation, trailing garbage, zero length, empty batch → ERR_MALFORMED_FRAME; oversize → ERR_FRAME_TOO_LARGE; count → ERR_LIMIT_EXCEEDED', () => {
  const plain = encodeBatch([Uint8Array.from([1, 2, 3]), Uint8Array.from([4])]);
  for (let cut = 1; cut < plain.length; cut++) {
    if (cut === 7) continue; // a cut right after the first message is a valid shorter batch
    throwsCode(() => decodeBatch(plain.subarray(0, cut)), 'ERR_MALFORMED_FRAME');
  }
  assert.is(decodeBatch(plain.subarray(0, 7)).length, 1);
  throwsCode(() => decodeBatch(cat(plain, unhex('00'))), 'ERR_MALFORMED_FRAME', 'truncated');
  throwsCode(() => decodeBatch(cat(plain, unhex('000000'))), 'ERR_MALFORMED_FRAME');
  throwsCode(() => decodeBatch(cat(plain, unhex('00000009aa'))), 'ERR_MALFORMED_FRAME', 'truncated');
  throwsCode(() => decodeBatch(cat(plain, unhex('00000000'))), 'ERR_MALFORMED_FRAME', 'zero-length');
  throwsCode(() => decodeBatch(new Uint8Array(0)), 'ERR_MALFORMED_FRAME', 'empty');
  throwsCode(() => decodeBatch(unhex('ffffffff00')), 'ERR_FRAME_TOO_LARGE');
  throwsCode(() => decodeBatch(encodeBatch([new Uint8Array(11)]), 10), 'ERR_FRAME_TOO_LARGE');
  assert.is(decodeBatch(encodeBatch([new Uint8Array(10)]), 10).length, 1);
  throwsCode(() => decodeBatch(encodeBatch(Array(5).fill(Uint8Array.from([1]))), 100, 4), 'ERR_LIMIT_EXCEEDED');
  throwsCode(() => encodeBatch([]), 'ERR_MALFORMED_FRAME');
  throwsCode(() => encodeBatch([new Uint8Array(0)]), 'ERR_MALFORMED_FRAME');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (g) => {
      try {
        decodeBatch(g);
      } catch (e) {
        assert.ok(e instanceof WotError, String(e));
      }
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test.run();
