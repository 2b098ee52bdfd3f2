/**
 * The media-frame fast path must read exactly what JSON.parse reads, or say
 * "not mine". Differential tests against the slow path (TextDecoder +
 * JSON.parse + Buffer's base64), with fixed seeds so a failure replays.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeBase64Into, newMediaFrameScan, scanMediaFrame } from '../../src/wire/mediaFrameScan.js';

const SEED = 20261126;
const decoder = new TextDecoder('utf-8', { fatal: true });
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

interface Read {
  payload: string;
  /** The payload decoded, hex. */
  bytes: string;
  track: 'absent' | 'inbound' | 'other';
  chunk: number;
}

/** What CallActor's slow path reads from a media frame; null for anything it would not play as media. */
function slowRead(bytes: Uint8Array): Read | null {
  let frame: unknown;
  try {
    frame = JSON.parse(decoder.decode(bytes));
  } catch {
    return null;
  }
  if (frame === null || typeof frame !== 'object' || (frame as { event?: unknown }).event !== 'media') return null;
  const media = (frame as { media?: { payload?: unknown; track?: unknown; chunk?: unknown } }).media;
  if (typeof media?.payload !== 'string') return null;
  const chunk = media.chunk;
  return {
    payload: media.payload,
    bytes: Buffer.from(media.payload, 'base64').toString('hex'),
    track: media.track === undefined ? 'absent' : media.track === 'inbound' ? 'inbound' : 'other',
    chunk: typeof chunk === 'string' && /^\d{1,15}$/.test(chunk) ? Number(chunk) : typeof chunk === 'number' && Number.isSafeInteger(chunk) && chunk >= 0 ? chunk : NaN,
  };
}

function fastRead(bytes: Uint8Array): Read | null {
  const scan = newMediaFrameScan();
  const out = Buffer.alloc(4096);
  if (!scanMediaFrame(bytes, scan, out)) return null;
  return {
    payload: Buffer.from(bytes.subarray(scan.payloadStart, scan.payloadEnd)).toString('latin1'),
    bytes: out.subarray(0, scan.payloadBytes).toString('hex'),
    track: scan.track,
    chunk: scan.chunk,
  };
}

/** Fast path accepted => the slow path reads the same; the fast path may decline anything. */
function assertAgrees(bytes: Uint8Array): boolean {
  const fast = fastRead(bytes);
  if (fast === null) return false;
  assert.deepEqual(fast, slowRead(bytes), `frame ${Buffer.from(bytes).toString('latin1').slice(0, 200)}`);
  return true;
}

const PAYLOAD = Buffer.from(Array.from({ length: 160 }, (_, k) => (k * 37) & 0xff)).toString('base64');

test('reads the frames the simulator and the provider send', () => {
  const sim = `{"event":"media","sequence_number":"7","stream_id":"s-1","media":{"track":"inbound","chunk":"5","timestamp":"80","payload":"${PAYLOAD}"}}`;
  const telnyx = `{"event": "media", "sequence_number": "4", "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": "${PAYLOAD}"}, "stream_id": "32de0dea"}`;
  for (const text of [sim, telnyx]) {
    assert.equal(assertAgrees(utf8(text)), true, text.slice(0, 60));
    assert.equal(fastRead(utf8(text))?.bytes, Buffer.from(PAYLOAD, 'base64').toString('hex'));
  }
});

test('declines every form outside its subset, leaving the frame to JSON.parse', () => {
  const declined = [
    `{"event":"start","media":{"payload":"AA=="}}`,
    `{"event":"media"}`,
    `{"media":{"payload":"AA=="}}`,
    `{"event":"media","media":{}}`,
    `{"event":"media","media":{"track":"inbound"}}`,
    `{"event":"media","media":{"payload":"AA==","payload":"AAA="}}`, // JSON.parse keeps the last: never guess
    `{"event":"media","event":"media","media":{"payload":"AA=="}}`,
    `{"event":"media","media":{"payload":"AA=="},"media":{"payload":"AAA="}}`,
    `{"event":"media","media":{"payload":"AA\\u003d="}}`, // an escape
    `{"event":"media","media":{"payload":"AA\\"==","track":"x"}}`, // an escaped quote: the payload does not decode
    `{"event":"media","media":{"payload":"AA=A"}}`,
    `{"event":"media","media":{"payload":"AA"}}`, // unpadded: Buffer takes it, the scan leaves it to Buffer
    `{"event":"media","media":{"payload":"AA-_"}}`, // base64url
    `{"event":"media","media":{"payload":""}}`,
    `{"event":"media","media":{"payload":"${'A'.repeat(5464)}"}}`, // does not fit the payload buffer
    `{"event":"me\\u0064ia","media":{"payload":"AA=="}}`,
    `{"event":"media","media":{"payload":"AA==","chunk":5}}`, // a number
    `{"event":"media","media":{"payload":"AA=="},"sequence_number":4}`,
    `{"event":"media","media":{"payload":"AA=="},"x":null}`,
    `{"event":"media","media":{"payload":"AA=="},"x":{"y":"z"}}`,
    `{"event":"media","media":{"payload":"AA==","x":{}}}`,
    `{"event":"media","media":{"payload":"AA=="}} x`,
    `{"event":"media","media":{"payload":"AA=="}}}`,
    `{"event":"media","media":{"payload":"AA=="},}`,
    `{"event":"media","media":{"payload":"AA==",}}`,
    `{"event":"media","media":{"payload":"AA=="}`,
    `{"event":"media","media":{"payload":"AA=`,
    `{"event":"média","media":{"payload":"AA=="}}`,
    `["event","media"]`,
    `{'event':'media','media':{'payload':'AA=='}}`,
    ``,
  ];
  for (const text of declined) assert.equal(fastRead(utf8(text)), null, text);
});

test('the chunk reads as the slow path reads it', () => {
  const frame = (chunk: string) => utf8(`{"event":"media","media":{"chunk":"${chunk}","payload":"AA=="}}`);
  assert.equal(fastRead(frame('42'))?.chunk, 42);
  assert.equal(fastRead(frame('000000000000042'))?.chunk, 42);
  for (const unreadable of ['', '-1', '4.2', '1e3', ' 4', '0000000000000042', 'x']) {
    assert.ok(Number.isNaN(fastRead(frame(unreadable))?.chunk), unreadable);
    assertAgrees(frame(unreadable));
  }
});

// Mostly strings (the form the scan reads), sometimes what it declines; keys in any order.
const anyValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('media', 'inbound', 'outbound', '', '42', '007', 'AA==', 'AAA=', 'AAAA', PAYLOAD) },
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.fullUnicodeString({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constant(null) },
);
const shuffled = <T extends Record<string, unknown>>(arb: fc.Arbitrary<T>): fc.Arbitrary<Record<string, unknown>> =>
  arb.chain((o) => {
    const entries = Object.entries(o);
    return fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }).map((e) => Object.fromEntries(e));
  });
const mediaObject = shuffled(
  fc.record(
    {
      track: anyValue,
      chunk: anyValue,
      payload: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('AA==', 'AAA=', 'AAAA', PAYLOAD) }, { weight: 1, arbitrary: anyValue }),
      timestamp: anyValue,
      x: anyValue,
    },
    { requiredKeys: ['payload'] },
  ),
);
const frameObject = shuffled(
  fc.record(
    {
      event: fc.oneof({ weight: 8, arbitrary: fc.constant('media') }, { weight: 2, arbitrary: anyValue }),
      media: fc.oneof({ weight: 8, arbitrary: mediaObject }, { weight: 1, arbitrary: anyValue }),
      sequence_number: anyValue,
      stream_id: anyValue,
      extra: anyValue,
    },
    { requiredKeys: ['event', 'media'] },
  ),
);
const spacing = fc.constantFrom(undefined, 0, 1, 2, '\t', ' \r\n');

test('differential: generated frames, in any key order and spacing', () => {
  let accepted = 0;
  fc.assert(
    fc.property(frameObject, spacing, (obj, space) => {
      if (assertAgrees(utf8(JSON.stringify(obj, null, space)))) accepted++;
    }),
    { seed: SEED, numRuns: 4000 },
  );
  // The generators must reach the accepting side too, or the property proves nothing.
  assert.ok(accepted > 200, `only ${accepted} generated frames were accepted`);
});

test('differential: mutated frames (bytes flipped, inserted, cut)', () => {
  const base = utf8(`{"event":"media","sequence_number":"7","stream_id":"s-1","media":{"track":"inbound","chunk":"5","timestamp":"80","payload":"${PAYLOAD}"}}`);
  const mutation = fc.record({ at: fc.nat({ max: base.length }), byte: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom('flip', 'insert', 'cut', 'truncate') });
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
      let bytes = Uint8Array.from(base);
      for (const m of mutations) {
        const at = Math.min(m.at, bytes.length);
        if (m.kind === 'flip' && at < bytes.length) bytes[at] = m.byte;
        else if (m.kind === 'insert') bytes = Uint8Array.from([...bytes.subarray(0, at), m.byte, ...bytes.subarray(at)]);
        else if (m.kind === 'cut') bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
        else if (m.kind === 'truncate') bytes = bytes.slice(0, at);
      }
      assertAgrees(bytes);
    }),
    { seed: SEED, numRuns: 4000 },
  );
});

test('base64: what it decodes equals Buffer; what it declines is not padded standard base64', () => {
  const out = new Uint8Array(64);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 48 }), (bytes) => {
      const text = utf8(Buffer.from(bytes).toString('base64'));
      const n = decodeBase64Into(text, 0, text.length, out);
      if (bytes.length === 0) assert.equal(n, -1);
      else assert.deepEqual(Buffer.from(out.subarray(0, n)), Buffer.from(bytes));
    }),
    { seed: SEED, numRuns: 2000 },
  );
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ .';
  let decoded = 0;
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 24 }).map((cs) => cs.join('')), (text) => {
      const n = decodeBase64Into(utf8(text), 0, text.length, out);
      if (n < 0) return;
      decoded++;
      assert.match(text, /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/);
      assert.deepEqual(Buffer.from(out.subarray(0, n)), Buffer.from(text, 'base64'));
    }),
    { seed: SEED, numRuns: 20000 },
  );
  assert.ok(decoded > 0);
  assert.equal(decodeBase64Into(utf8('AAAA'), 0, 4, new Uint8Array(2)), -1, 'a payload that does not fit is declined');
});
