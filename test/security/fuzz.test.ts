/**
 * Bounded, seeded fuzzing of the gateway's two parsers (a failure replays
 * from FUZZ_SEED):
 *  (a) the webhook door: about 2,000 mutated or random deliveries through
 *      WebhookGate.check (never throws; only an exact original verifies), then
 *      about 200 of them over HTTP to the running gateway (each answered 4xx,
 *      the gateway still healthy);
 *  (b) the media frame parser: about 2,000 mutated provider frames on
 *      authenticated media sockets of live calls (the gateway does not crash,
 *      no media worker restarts, every call ends with a summary), while an
 *      honest call keeps flowing.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { after, before, test } from 'node:test';
import nacl from 'tweetnacl';
import type WebSocket from 'ws';
import { WebhookGate } from '../../src/control/WebhookGate.js';
import { parseEd25519PublicKey } from '../../src/wire/webhookSignature.js';
import { attack } from './attacks.js';
import { closedWithin, rawHttp, rawWebhookRequest, SecurityStack, sleep, waitFor, type CloseResult, type HonestCall } from './harness.js';

const FUZZ_SEED = 0xf022_0004;
const WEBHOOK_CASES = 2_000;
const WEBHOOK_HTTP_CASES = 200;
const MEDIA_FRAMES = 2_000;
/** Frames per media socket: under the per-call burst (150), so the flood limit is not what ends a socket. */
const FRAMES_PER_SOCKET = 100;
const FRAMES_PER_SEND_BURST = 20;
/** Long enough to span both fuzz runs (about 2 s here), with margin. */
const NOW_MS = 1_760_000_000_000;

/** mulberry32: small, fast, seeded. */
class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

const NASTY_STRINGS = ['', ' ', '\u0000', '__proto__', 'constructor', '\ud800', '\uffff', 'NaN', '-0', '1e309', '9'.repeat(40), '%00', '../../', '{"', '\\', '"'];
const NASTY_NUMBERS = [0, -1, 1e308, -1e308, 2 ** 53 + 1, Number.MIN_VALUE, 0.1, 4294967296];

/** A random JSON value, bounded in depth and size. */
function randomJson(rng: Rng, depth = 0): unknown {
  const kind = rng.int(depth > 3 ? 5 : 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(NASTY_NUMBERS) : rng.int(1_000_000) - 500_000;
    case 3:
      return rng.pick(NASTY_STRINGS);
    case 4:
      return rng.bytes(rng.int(12)).toString('latin1');
    case 5:
      return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
    default: {
      const obj: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) obj[rng.pick(['event', 'media', 'payload', 'start', 'data', 'id', rng.pick(NASTY_STRINGS)])] = randomJson(rng, depth + 1);
      return obj;
    }
  }
}

/** Byte-level mutations: flip, set, insert, delete, truncate, duplicate a slice, splice a nasty token. */
function mutateBytes(rng: Rng, input: Buffer, rounds = 1 + rng.int(3)): Buffer {
  let bytes = Buffer.from(input);
  for (let r = 0; r < rounds; r++) {
    const at = bytes.length === 0 ? 0 : rng.int(bytes.length);
    switch (rng.int(7)) {
      case 0:
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << rng.int(8));
        break;
      case 1:
        if (bytes.length > 0) bytes[at] = rng.int(256);
        break;
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), rng.bytes(1 + rng.int(4)), bytes.subarray(at)]);
        break;
      case 3:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + rng.int(8))]);
        break;
      case 4:
        bytes = bytes.subarray(0, at);
        break;
      case 5: {
        const end = Math.min(bytes.length, at + 1 + rng.int(32));
        bytes = Buffer.concat([bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end)]);
        break;
      }
      default:
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(JSON.stringify(rng.pick(NASTY_STRINGS)), 'utf8'), bytes.subarray(at)]);
    }
  }
  return bytes;
}

function mutateText(rng: Rng, text: string): string {
  return mutateBytes(rng, Buffer.from(text, 'latin1')).toString('latin1');
}

// ---------------------------------------------------------------- (a) webhooks

interface Delivery {
  body: Buffer;
  timestamp: string | undefined;
  signature: string | undefined;
  /** Re-signed with the provider's key after mutation: what a buggy (not hostile) provider could send. */
  signedByKey: boolean;
}

interface Original {
  body: Buffer;
  timestamp: string;
  signature: Buffer;
}

function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed)]), format: 'der', type: 'pkcs8' });
}

function makeOriginals(rng: Rng, count: number, key: KeyObject, nowSec: number): Original[] {
  const types = ['call.initiated', 'call.answered', 'call.hangup', 'call.dtmf.received', 'streaming.started', 'streaming.failed', 'call.recording.saved'];
  return Array.from({ length: count }, (_, i) => {
    const body = Buffer.from(
      JSON.stringify({
        data: {
          record_type: 'event',
          event_type: rng.pick(types),
          id: `evt-fuzz-${FUZZ_SEED}-${i}`,
          occurred_at: new Date(nowSec * 1000).toISOString(),
          // An unserved number and unknown call ids: even an original could start nothing.
          payload: { call_control_id: `fz-${i}`, from: '+15550209999', to: '+15550109999', direction: 'incoming', extra: randomJson(rng) },
        },
        meta: { attempt: 1, delivered_to: 'fuzz' },
      }),
    );
    const timestamp = String(nowSec - rng.int(200));
    const signature = cryptoSign(null, Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), body]), key);
    return { body, timestamp, signature };
  });
}

/** One fuzzed delivery: an original with some of its parts mutated, swapped, dropped or replaced. */
function fuzzDelivery(rng: Rng, originals: Original[], nowSec: number, key: KeyObject): Delivery {
  const base = rng.pick(originals);
  const donor = rng.pick(originals);
  const delivery: Delivery = { body: base.body, timestamp: base.timestamp, signature: base.signature.toString('base64'), signedByKey: false };
  const parts = 1 + rng.int(3);
  for (let p = 0; p < parts; p++) {
    switch (rng.int(12)) {
      case 0:
      case 1:
      case 2:
        delivery.body = mutateBytes(rng, delivery.body);
        break;
      case 3:
        delivery.timestamp = mutateText(rng, delivery.timestamp ?? base.timestamp);
        break;
      case 4:
        delivery.signature = mutateText(rng, delivery.signature ?? base.signature.toString('base64'));
        break;
      case 5:
        delivery.signature = mutateBytes(rng, base.signature, 1).toString('base64');
        break;
      case 6:
        // A genuine signature, timestamp or body from another event.
        if (rng.chance(0.5)) delivery.signature = donor.signature.toString('base64');
        else if (rng.chance(0.5)) delivery.timestamp = donor.timestamp;
        else delivery.body = donor.body;
        break;
      case 7:
        delivery.timestamp = rng.pick([undefined, '', String(nowSec + 301), String(nowSec - 301), `${nowSec}.0`, `+${nowSec}`, `0${nowSec}`, '9'.repeat(13), '-1', `${nowSec}\u0000`]);
        break;
      case 8:
        delivery.signature = rng.pick([undefined, '', '====', 'A'.repeat(88), rng.bytes(64).toString('base64'), rng.bytes(63).toString('base64'), rng.bytes(65).toString('base64'), rng.bytes(64).toString('hex'), base.signature.toString('base64url')]);
        break;
      case 9:
        delivery.body = Buffer.from(JSON.stringify(randomJson(rng)) ?? '', 'utf8');
        break;
      case 10:
        delivery.body = rng.bytes(rng.int(256));
        break;
      default:
        delivery.body = Buffer.concat([delivery.body, Buffer.from(rng.pick([' ', '\n', '\u0000', '}', ',{}']), 'utf8')]);
    }
  }
  if (rng.chance(0.3)) {
    // Correctly signed hostile bodies: past the signature, the JSON and shape checks must hold too.
    if (rng.chance(0.5)) delivery.body = Buffer.from(JSON.stringify(hostileEnvelope(rng)), 'utf8');
    delivery.timestamp = base.timestamp;
    delivery.signature = cryptoSign(null, Buffer.concat([Buffer.from(`${base.timestamp}|`, 'utf8'), delivery.body]), key).toString('base64');
    delivery.signedByKey = true;
  }
  return delivery;
}

/** Envelopes with the right keys and the wrong shapes. */
function hostileEnvelope(rng: Rng): unknown {
  const data: Record<string, unknown> = {
    record_type: 'event',
    event_type: rng.chance(0.7) ? rng.pick(['call.initiated', 'call.hangup', 'streaming.failed', 'call.answered']) : randomJson(rng),
    id: rng.chance(0.7) ? `evt-hostile-${rng.int(1e9)}` : randomJson(rng),
    payload: rng.chance(0.6)
      ? { call_control_id: rng.chance(0.5) ? `fz-h-${rng.int(1e9)}` : randomJson(rng), from: randomJson(rng), to: rng.chance(0.5) ? '+15550109999' : randomJson(rng), direction: rng.pick(['incoming', 'outgoing', randomJson(rng)]), hangup_cause: randomJson(rng), failure_reason: randomJson(rng) }
      : randomJson(rng),
  };
  if (rng.chance(0.2)) delete data[rng.pick(['event_type', 'id', 'payload'])];
  return rng.chance(0.9) ? { data, meta: randomJson(rng) } : rng.pick([[data], data, { data: [data] }, { data: JSON.stringify(data) }]);
}

/** The only deliveries that may verify: the exact original bytes, timestamp and signature bytes. */
function isExactOriginal(delivery: Delivery, originals: Original[]): boolean {
  if (delivery.signedByKey) return true;
  if (delivery.signature === undefined || delivery.timestamp === undefined) return false;
  const signature = Buffer.from(delivery.signature.trim(), 'base64');
  return originals.some((o) => o.timestamp === delivery.timestamp && o.body.equals(delivery.body) && o.signature.equals(signature));
}

/** What an HTTP header can carry: printable ASCII, no surrounding blanks (parsers trim them). */
function sendableHeader(value: string | undefined): boolean {
  return value === undefined || /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(value);
}

// ---------------------------------------------------------------- (b) media frames

type FrameKind = 'utf8' | 'mutated' | 'types' | 'json' | 'truncated' | 'base64' | 'nested' | 'events' | 'binary' | 'start' | 'oversize';

function fuzzFrame(rng: Rng, s: SecurityStack, callId: string, seq: number): { kind: FrameKind; data: string | Buffer; binary: boolean } {
  const valid = s.mediaFrame(seq);
  const roll = rng.next();
  // Text frames must be UTF-8 (RFC 6455 5.6): uWS drops a socket that breaks that, so most
  // mutants are re-decoded (U+FFFD for broken sequences) to reach the JSON parser; a few are not.
  if (roll < 0.01) return { kind: 'utf8', data: mutateBytes(rng, Buffer.from(valid, 'utf8')), binary: false };
  if (roll < 0.3) return { kind: 'mutated', data: mutateBytes(rng, Buffer.from(valid, 'utf8')).toString('utf8'), binary: false };
  if (roll < 0.55) {
    const frame = JSON.parse(valid) as Record<string, unknown>;
    const media = frame.media as Record<string, unknown>;
    const field = rng.pick(['event', 'media', 'payload', 'track', 'sequence_number', 'chunk', 'timestamp', 'stream_id']);
    const value = rng.chance(0.3) ? rng.pick(NASTY_NUMBERS) : randomJson(rng);
    if (field === 'event' || field === 'media' || field === 'sequence_number' || field === 'stream_id') frame[field] = value;
    else media[field] = value;
    return { kind: 'types', data: JSON.stringify(frame), binary: false };
  }
  if (roll < 0.65) return { kind: 'json', data: JSON.stringify(randomJson(rng)) ?? 'null', binary: false };
  if (roll < 0.75) return { kind: 'truncated', data: valid.slice(0, rng.int(valid.length)), binary: false };
  if (roll < 0.85) {
    const payload = rng.pick(['!!!!', '====', 'A', 'AB=C', '\u0000\u0000', 'ÿÿÿÿ', '-_-_', 'A'.repeat(5_462), Buffer.alloc(4_200).toString('base64'), rng.bytes(rng.int(400)).toString('latin1'), rng.bytes(1 + rng.int(9)).toString('base64')]);
    return { kind: 'base64', data: JSON.stringify({ event: 'media', sequence_number: String(seq), media: { track: 'inbound', chunk: '1', timestamp: '0', payload } }), binary: false };
  }
  if (roll < 0.9) {
    const depth = 100 + rng.int(5_000);
    const open = rng.chance(0.5) ? '['.repeat(depth) : '{"a":'.repeat(Math.min(depth, 2_500));
    const close = open.startsWith('[') ? ']'.repeat(depth) : '}'.repeat(Math.min(depth, 2_500));
    return { kind: 'nested', data: `{"event":"media","media":{"track":"inbound","payload":${open}1${close}}}`, binary: false };
  }
  if (roll < 0.97) {
    const frames = [
      { event: 'dtmf', dtmf: { digit: randomJson(rng) } },
      { event: 'dtmf', dtmf: randomJson(rng) },
      { event: 'mark', mark: { name: randomJson(rng) } },
      { event: 'stop', stop: randomJson(rng) },
      { event: 'error', error: randomJson(rng) },
      { event: 'connected', version: randomJson(rng) },
      { event: rng.pick(NASTY_STRINGS) },
      { __proto__: { event: 'media' }, constructor: { prototype: { event: 'start' } } },
      JSON.parse('{"__proto__":{"event":"start","start":{"call_control_id":"x"}}}') as unknown,
    ];
    return { kind: 'events', data: JSON.stringify(rng.pick(frames)), binary: false };
  }
  if (roll < 0.985) return { kind: 'binary', data: rng.bytes(1 + rng.int(600)), binary: true };
  if (roll < 0.995) {
    const start = JSON.parse(s.startFrame(rng.chance(0.5) ? callId : `fz-other-${seq}`, rng.pick(['PCMU', 'L16', 'G729', 'OPUS']), rng.pick([8000, 16000, 0, -1, 1e9]))) as { start: Record<string, unknown> };
    if (rng.chance(0.3)) start.start.media_format = randomJson(rng);
    return { kind: 'start', data: JSON.stringify(start), binary: false };
  }
  return { kind: 'oversize', data: JSON.stringify({ event: 'media', media: { payload: 'A'.repeat(16 * 1024 + rng.int(4096)) } }), binary: false };
}

/** Close codes the gateway (or uWS for it) may legitimately end a fuzzed socket with. 1011 (worker failed) is not one. */
const ALLOWED_CLOSES = new Set([1000, 1003, 1006, 1007, 1008, 1009]);

// ---------------------------------------------------------------- tests

/** Unit-level webhook cases run between two turns of the event loop. */
const YIELD_EVERY = 20;

let s: SecurityStack;
let honest: HonestCall;

before(async () => {
  s = await SecurityStack.start({ mailboxFrames: 200 });
  honest = await s.honestCall();
});

after(async () => {
  await s?.stop();
});

attack('fuzz: webhook parser', async (probe) => {
  // Unit level, a fixed key: WEBHOOK_CASES deliveries through the gate, which must never throw.
  const rng = new Rng(FUZZ_SEED);
  const keySeed = Buffer.alloc(32, 0x24);
  const unitKey = ed25519PrivateKey(keySeed);
  const publicKey = parseEd25519PublicKey(Buffer.from(nacl.sign.keyPair.fromSeed(keySeed).publicKey).toString('base64'));
  const nowSec = NOW_MS / 1000;
  const originals = makeOriginals(rng, 24, unitKey, nowSec);
  const unsigned = new Map<string, number>();
  const signed = new Map<string, number>();
  let forgeriesAccepted = 0;
  let threw = 0;
  for (let i = 0; i < WEBHOOK_CASES; i++) {
    // The simulated provider shares this thread: run in one go, the signing and verifying held its
    // honest caller for seconds under load, and its catch-up burst was closed as a flood (1008).
    if (i % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    const delivery = fuzzDelivery(rng, originals, nowSec, unitKey);
    let status: number;
    try {
      // A fresh gate: the replay cache must not be what refuses.
      status = new WebhookGate(publicKey).check(delivery.signature, delivery.timestamp, delivery.body, NOW_MS).status;
    } catch {
      threw++;
      continue;
    }
    const tally = delivery.signedByKey ? signed : unsigned;
    tally.set(String(status), (tally.get(String(status)) ?? 0) + 1);
    if (status === 200 && !isExactOriginal(delivery, originals)) forgeriesAccepted++;
  }
  probe.note(`unit: ${WEBHOOK_CASES} deliveries; mutants ${JSON.stringify(Object.fromEntries(unsigned))}; re-signed hostile bodies ${JSON.stringify(Object.fromEntries(signed))}`);
  probe.goal(threw > 0, `WebhookGate.check threw on ${threw} inputs`);
  probe.goal(forgeriesAccepted > 0, `${forgeriesAccepted} forged deliveries verified`);
  for (const status of unsigned.keys()) assert.ok(['200', '401'].includes(status), `a mutant refused with ${status}, not at the signature`);
  for (const status of signed.keys()) assert.ok(['200', '400'].includes(status), `a correctly signed body answered ${status}`);
  assert.ok((signed.get('400') ?? 0) > 100 && (signed.get('200') ?? 0) > 100, 'both sides of the JSON and shape checks were reached');

  // Over HTTP, the stack's own key, real time. Each delivery's outcome is predicted by a local
  // gate with the same key; those it would accept are not sent (an original is no attack), and
  // every other one must get exactly its predicted refusal from the running gateway.
  const httpRng = new Rng(FUZZ_SEED + 1);
  const realNowSec = Math.floor(Date.now() / 1000);
  const stackKey = ed25519PrivateKey(s.stack.secretKey.subarray(0, 32));
  const predictor = parseEd25519PublicKey(s.stack.publicKeyBase64);
  const httpOriginals = makeOriginals(httpRng, 8, stackKey, realNowSec);
  const before = s.effects();
  const statuses = new Map<string, number>();
  let mispredicted = 0;
  let sent = 0;
  for (let tries = 0; sent < WEBHOOK_HTTP_CASES && tries < WEBHOOK_HTTP_CASES * 20; tries++) {
    const delivery = fuzzDelivery(httpRng, httpOriginals, realNowSec, stackKey);
    if (!sendableHeader(delivery.signature) || !sendableHeader(delivery.timestamp)) continue;
    const model = new WebhookGate(predictor, s.gateway.webhooks.startedAtMs === undefined ? {} : { startedAtMs: s.gateway.webhooks.startedAtMs });
    const predicted = model.check(delivery.signature, delivery.timestamp, delivery.body, Date.now()).status;
    if (predicted === 200) continue;
    const headers: Array<[string, string]> = [['content-type', 'application/json']];
    if (delivery.signature !== undefined) headers.push(['telnyx-signature-ed25519', delivery.signature]);
    if (delivery.timestamp !== undefined) headers.push(['telnyx-timestamp', delivery.timestamp]);
    const response = await rawHttp(s.tunnelPort, [rawWebhookRequest(headers, delivery.body)]);
    sent++;
    const label = response.timedOut ? 'timeout' : response.status === 0 ? 'closed' : String(response.status);
    statuses.set(label, (statuses.get(label) ?? 0) + 1);
    if (response.status !== predicted) mispredicted++;
  }
  const summary = JSON.stringify(Object.fromEntries(statuses));
  probe.note(`http: ${sent} deliveries, statuses ${summary}`);
  probe.goal([...statuses.keys()].some((k) => k.startsWith('2')), `a fuzzed delivery was acknowledged: ${summary}`);
  probe.goal(statuses.has('timeout') || statuses.has('closed'), `a fuzzed delivery went unanswered: ${summary}`);
  const health = await s.healthz();
  probe.goal(health !== 200, `the gateway stopped answering after the HTTP fuzz (${health})`);
  assert.equal(sent, WEBHOOK_HTTP_CASES);
  assert.equal(mispredicted, 0, `answers differ from WebhookGate's own verdicts: ${summary}`);
  // 503: a genuine signature (an original's) made before the gateway started, refused as a replay
  // across a restart (the originals are signed up to 200 s back); the model above predicted each.
  for (const key of statuses.keys()) assert.match(key, /^(4\d\d|503)$/, summary);
  s.assertNoEffect(before, probe.name);
});

attack(
  'fuzz: media frames',
  async (probe) => {
    const rng = new Rng(FUZZ_SEED + 2);
    const kinds = new Map<FrameKind, number>();
    const closes = new Map<number, number>();
    const callIds: string[] = [];
    let sent = 0;
    while (sent < MEDIA_FRAMES) {
      const callId = s.callId('hd', 'fuzz');
      callIds.push(callId);
      const token = await s.mintToken(callId);
      const ws: WebSocket = await s.openMedia(callId, token);
      const seen: { close: CloseResult | null } = { close: null };
      ws.once('close', (code, reason) => (seen.close = { code, reason: reason.toString('utf8') }));
      ws.on('error', () => {
        // A reset shows up as close 1006.
      });
      ws.send(s.startFrame(callId));
      for (let n = 0; n < FRAMES_PER_SOCKET && sent < MEDIA_FRAMES && ws.readyState === ws.OPEN; n++) {
        const frame = fuzzFrame(rng, s, callId, n);
        kinds.set(frame.kind, (kinds.get(frame.kind) ?? 0) + 1);
        ws.send(frame.data, { binary: frame.binary });
        sent++;
        if (n % FRAMES_PER_SEND_BURST === FRAMES_PER_SEND_BURST - 1) await sleep(2);
      }
      // Let the worker parse what was sent before the call is hung up (control can overtake media).
      const closed = ws.readyState === ws.CLOSED ? seen.close : await closedWithin(ws, 40);
      if (closed) closes.set(closed.code, (closes.get(closed.code) ?? 0) + 1);
      ws.terminate();
      if (s.gateway.control.snapshot().some((c) => c.callId === callId)) await s.hangup(callId);
    }
    await waitFor('every fuzzed call to end with a summary', () => callIds.every((id) => s.gateway.control.summaries.some((x) => x.callId === id)), 5_000).catch(() => {});
    const summaries = s.gateway.control.summaries.filter((x) => callIds.includes(x.callId));
    const malformed = summaries.reduce((sum, x) => sum + x.malformedFrames, 0);
    const parsed = summaries.reduce((sum, x) => sum + x.malformedFrames + x.framesIn, 0);
    const status = s.gateway.status();
    const report = `frames ${JSON.stringify(Object.fromEntries(kinds))}, closes ${JSON.stringify(Object.fromEntries(closes))}, ${callIds.length} calls, ${parsed} parsed, ${malformed} counted malformed`;
    probe.note(report);
    probe.goal(status.workerRestarts !== 0 || status.workers.some((w) => w.exited), `a media worker crashed: ${report}`);
    probe.goal(closes.has(1011), `a call lost its worker: ${report}`);
    const health = await s.healthz();
    probe.goal(health !== 200, `the gateway stopped answering (${health})`);
    probe.goal(summaries.length !== callIds.length, `${callIds.length - summaries.length} fuzzed calls ended without a summary: ${report}`);
    for (const code of closes.keys()) assert.ok(ALLOWED_CLOSES.has(code), `unexpected close code ${code}: ${report}`);
    // Frames in flight when a socket is dropped are lost, and a few kinds are valid: most must still reach the parser.
    assert.ok(parsed > MEDIA_FRAMES / 2 && malformed > MEDIA_FRAMES / 4, `the parser saw the fuzz: ${report}`);
    assert.equal(sent, MEDIA_FRAMES);
    assert.ok(honestStreaming(), 'the honest call is still streaming');
  },
  30_000,
);

function honestStreaming(): boolean {
  return s.gateway.control.snapshot().some((c) => c.callId === honest.call.id && c.state === 'streaming');
}

test('the honest call kept flowing through both fuzz runs', async () => {
  assert.equal(await s.healthz(), 200);
  await honest.finish();
  assert.equal(s.gateway.control.liveCalls, 0, 'every fuzzed call was let go');
});
