/**
 * Properties of the gateway's two locks, checked with fast-check (bounded,
 * fixed seeds, so a failure replays):
 *  - any single-byte change to a signed webhook's body, timestamp or signature
 *    is refused by WebhookGate.check (unit level, no network);
 *  - the media token store is one-time, bound to its call, revocable and
 *    expiring, under arbitrary sequences of operations (model-based);
 *  - a media token redeems at most once under many concurrent upgrades
 *    (network level, real gateway), while an honest call keeps flowing.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { MAX_TOKENS_PER_CALL, MediaTokenStore } from '../../src/control/MediaTokenStore.js';
import { WebhookGate } from '../../src/control/WebhookGate.js';
import { parseEd25519PublicKey } from '../../src/wire/webhookSignature.js';
import { attack, type AttackProbe } from './attacks.js';
import { SecurityStack, type HonestCall } from './harness.js';

const SEED = 0x5ec0_2026;
const NUM_RUNS = 200;
/** Long enough to span the network property below (about 1 s here), with margin. */

// A fixed test key, so a counterexample replays exactly with its seed.
const KEY_SEED = Buffer.alloc(32, 0x42);
const keys = nacl.sign.keyPair.fromSeed(KEY_SEED);
const publicKey = parseEd25519PublicKey(Buffer.from(keys.publicKey).toString('base64'));
const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), KEY_SEED]), format: 'der', type: 'pkcs8' });
const NOW_MS = 1_760_000_000_000;
const NOW_SEC = NOW_MS / 1000;

interface Signed {
  body: Buffer;
  timestamp: string;
  signature: Buffer;
}

function signEvent(body: Buffer, timestamp: string): Signed {
  const signature = cryptoSign(null, Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), body]), privateKey);
  return { body, timestamp, signature };
}

/** Plausible provider events: varied ids, types, payloads and timestamps inside the window. */
const signedEvent = fc
  .record({
    id: fc.uuid(),
    type: fc.constantFrom('call.initiated', 'call.answered', 'call.hangup', 'call.dtmf.received', 'streaming.started'),
    callId: fc.stringMatching(/^v3:[A-Za-z0-9_-]{8,40}$/),
    from: fc.stringMatching(/^\+1555\d{7}$/),
    extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    skewSec: fc.integer({ min: -290, max: 290 }),
  })
  .map(({ id, type, callId, from, extra, skewSec }) => {
    const body = Buffer.from(
      JSON.stringify({
        data: { record_type: 'event', event_type: type, id, occurred_at: new Date(NOW_MS).toISOString(), payload: { ...extra, call_control_id: callId, from, to: '+15550100000', direction: 'incoming' } },
        meta: { attempt: 1, delivered_to: 'property' },
      }),
    );
    return signEvent(body, String(NOW_SEC + skewSec));
  });

function check(event: { body: Buffer; timestamp: string; signatureHeader: string }): ReturnType<WebhookGate['check']> {
  // A fresh gate each time: its replay cache must not be what refuses.
  return new WebhookGate(publicKey).check(event.signatureHeader, event.timestamp, event.body, NOW_MS);
}

/** Replace the byte at `position` (modulo length) with a different value. */
function changeByte(bytes: Buffer, position: number, delta: number): Buffer {
  const copy = Buffer.from(bytes);
  const at = position % copy.length;
  copy[at] = (copy[at]! + delta) & 0xff;
  return copy;
}

function changeChar(text: string, position: number, delta: number): string {
  const at = position % text.length;
  return text.slice(0, at) + String.fromCharCode((text.charCodeAt(at) + delta) & 0xff) + text.slice(at + 1);
}

/** Run a fast-check property; a counterexample or a throw means the attacker won. */
function holds<T>(probe: AttackProbe, details: fc.RunDetails<T>): void {
  const what = details.failed
    ? `counterexample after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath}): ${String(details.errorInstance ?? '')}`.slice(0, 600)
    : '';
  probe.goal(details.failed, what);
  assert.equal(details.numRuns, NUM_RUNS);
}

test('positive: unmodified signed events verify (the property below is not vacuous)', () => {
  fc.assert(
    fc.property(signedEvent, (event) => {
      const outcome = check({ body: event.body, timestamp: event.timestamp, signatureHeader: event.signature.toString('base64') });
      return outcome.status === 200 && !outcome.duplicate;
    }),
    { seed: SEED, numRuns: 50 },
  );
});

attack('property: any single-byte change to a signed webhook body, timestamp or signature is refused', (probe) => {
  const statuses = new Set<number>();
  const details = fc.check(
    fc.property(signedEvent, fc.constantFrom('body', 'timestamp', 'signature'), fc.nat(), fc.integer({ min: 1, max: 255 }), (event, target, position, delta) => {
      const mutated = {
        body: target === 'body' ? changeByte(event.body, position, delta) : event.body,
        timestamp: target === 'timestamp' ? changeChar(event.timestamp, position, delta) : event.timestamp,
        signatureHeader: (target === 'signature' ? changeByte(event.signature, position, delta) : event.signature).toString('base64'),
      };
      const outcome = check(mutated);
      statuses.add(outcome.status);
      assert.notEqual(outcome.status, 200, `${target} changed at ${position} by ${delta} was accepted`);
    }),
    { seed: SEED, numRuns: NUM_RUNS },
  );
  holds(probe, details);
  // Refused at the signature check (401), never later: a tampered event is never even parsed.
  assert.deepEqual([...statuses], [401]);
});

attack('property: any single-character change to the signature header is refused unless it decodes to the same 64 bytes', (probe) => {
  // Base64 text has slack: the last character of a 64-byte signature carries 4 unused bits.
  // A change there decodes to the very same signature, which the replay cache keys on
  // (see "replay with the signature re-encoded" in webhooks.test.ts); any other change must refuse.
  const details = fc.check(
    fc.property(signedEvent, fc.nat(), fc.integer({ min: 1, max: 255 }), (event, position, delta) => {
      const header = changeChar(event.signature.toString('base64'), position, delta);
      const outcome = check({ body: event.body, timestamp: event.timestamp, signatureHeader: header });
      if (outcome.status === 200) {
        assert.deepEqual(Buffer.from(header, 'base64'), event.signature, `header changed at ${position} accepted with other signature bytes`);
        assert.match(header, /^[A-Za-z0-9+/]{86}==$/, 'accepted only in canonical shape');
      }
    }),
    { seed: SEED + 1, numRuns: NUM_RUNS },
  );
  holds(probe, details);
});

type TokenOp =
  | { op: 'issue'; call: number }
  /** A new stream asked for again: the earlier request's token stays valid beside it. */
  | { op: 'another'; call: number }
  | { op: 'present'; token: number; own: boolean; call: number }
  | { op: 'revoke'; call: number }
  | { op: 'advance'; ms: number };

attack('property: media tokens are one-time, bound to their call, revocable and expiring (model-based)', (probe) => {
  const TTL = 1_000;
  const CALLS = ['call-0', 'call-1', 'call-2'];
  // Weighted so that tokens exist and are often presented on their own call, repeatedly:
  // the interesting cases (a second redemption, a redemption after expiry) must be common.
  const op: fc.Arbitrary<TokenOp> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('issue' as const), call: fc.nat({ max: 2 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('another' as const), call: fc.nat({ max: 2 }) }) },
    {
      weight: 6,
      arbitrary: fc.record({ op: fc.constant('present' as const), token: fc.nat({ max: 5 }), own: fc.nat({ max: 3 }).map((n) => n > 0), call: fc.nat({ max: 2 }) }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('revoke' as const), call: fc.nat({ max: 2 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 600 }) }) },
  );
  let redeemed = 0;
  let refusedValidLooking = 0;
  const details = fc.check(
    fc.property(fc.array(op, { minLength: 10, maxLength: 40 }), (ops) => {
      const store = new MediaTokenStore(TTL);
      const tokens: Array<{ value: string; call: number; issuedAt: number; live: boolean; redeemed: number }> = [];
      let now = 0;
      for (const step of ops) {
        if (step.op === 'advance') {
          now += step.ms;
        } else if (step.op === 'issue') {
          for (const t of tokens) if (t.call === step.call) t.live = false; // re-issue replaces
          tokens.push({ value: store.issue(CALLS[step.call]!, now), call: step.call, issuedAt: now, live: true, redeemed: 0 });
        } else if (step.op === 'another') {
          const held = tokens.filter((t) => t.call === step.call && t.live);
          if (held.length >= MAX_TOKENS_PER_CALL) held[0]!.live = false; // the oldest goes
          tokens.push({ value: store.issueAnother(CALLS[step.call]!, now), call: step.call, issuedAt: now, live: true, redeemed: 0 });
        } else if (step.op === 'revoke') {
          store.revokeCall(CALLS[step.call]!);
          for (const t of tokens) if (t.call === step.call) t.live = false;
        } else {
          const t = tokens[step.token];
          const call = step.own && t ? t.call : step.call;
          const verdict = store.consume(CALLS[call]!, t?.value ?? `never-issued-${step.token}`, now);
          const expected = t !== undefined && t.live && now < t.issuedAt + TTL && t.call === call;
          assert.equal(verdict.ok, expected, `token ${step.token} on ${CALLS[call]} at ${now} ms`);
          if (t) {
            if (!verdict.ok && t.call === call) refusedValidLooking++;
            t.live = false; // presented once, valid or not: gone
            if (verdict.ok) {
              t.redeemed++;
              redeemed++;
              for (const other of tokens) if (other.call === call) other.live = false; // one stream landed: the rest go
            }
            assert.ok(t.redeemed <= 1, 'redeemed twice');
          }
        }
      }
    }),
    { seed: SEED + 2, numRuns: NUM_RUNS },
  );
  holds(probe, details);
  probe.note(`${redeemed} redemptions, ${refusedValidLooking} refusals of a token on its own call (reused, expired, revoked)`);
  assert.ok(redeemed > NUM_RUNS / 2 && refusedValidLooking > NUM_RUNS / 2, 'the model exercised redemptions and refusals');
});

// Network level: a real gateway, real sockets.
let s: SecurityStack;
let honest: HonestCall;

before(async () => {
  s = await SecurityStack.start();
  honest = await s.honestCall();
});

after(async () => {
  await s?.stop();
});

attack('property: a media token redeems at most once under concurrent upgrades (network, N up to 20)', async (probe) => {
  const runs: Array<{ n: number; form: string; opened: number; statuses: number[] }> = [];
  const details = await fc.check(
    fc.asyncProperty(fc.integer({ min: 2, max: 20 }), fc.constantFrom('header', 'query', 'mixed'), async (n, form) => {
      const callId = s.callId('hd', `race${n}`);
      const token = await s.mintToken(callId);
      const attempts = Array.from({ length: n }, (_, i) => {
        const useQuery = form === 'query' || (form === 'mixed' && i % 2 === 1);
        return useQuery ? s.upgrade(callId, {}, `?token=${encodeURIComponent(token)}`) : s.upgrade(callId, { 'x-telnyx-streaming-auth-token': token });
      });
      const results = await Promise.all(attempts);
      const opened = results.filter((r) => r.status === 101);
      runs.push({ n, form, opened: opened.length, statuses: results.map((r) => r.status) });
      for (const r of results) r.ws?.terminate();
      if (s.gateway.control.snapshot().some((c) => c.callId === callId)) await s.hangup(callId);
      assert.equal(opened.length, 1, `${opened.length} of ${n} concurrent upgrades opened`);
      assert.ok(results.every((r) => r.status === 101 || r.status === 401), `statuses ${results.map((r) => r.status).join(',')}`);
    }),
    { seed: SEED + 3, numRuns: 8, examples: [[20, 'header'], [20, 'mixed']] },
  );
  const what = details.failed ? `counterexample ${JSON.stringify(details.counterexample)}: ${String(details.errorInstance ?? '')}`.slice(0, 600) : '';
  probe.goal(details.failed && runs.some((r) => r.opened > 1), what);
  assert.equal(details.failed, false, what);
  assert.ok(runs.some((r) => r.n === 20), 'the N = 20 case ran');
  assert.ok(honestStreaming(), 'the honest call is still streaming');
});

function honestStreaming(): boolean {
  return s.gateway.control.snapshot().some((c) => c.callId === honest.call.id && c.state === 'streaming');
}

test('the honest call kept flowing through the concurrent upgrades', async () => {
  assert.equal(await s.healthz(), 200);
  await honest.finish();
});
