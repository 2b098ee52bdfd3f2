/**
 * What a `ws` agent is told about its own requests (found by writing an agent
 * from the docs alone, docs/decisions.md, twenty-fourth session):
 * - an optional `id` on a request comes back in its `result`, refusals by the
 *   bounds included (they overtake earlier requests still in flight);
 * - what it sent that was refused or ignored (a bad mark, an unknown type, a
 *   transcript role that does not exist, a hangup reason that is not a string)
 *   comes back as an `error` message, at most 10 a second and then a count,
 *   and the gateway's warn lines about them are bounded the same way;
 * Real simulator, platform and gateway on loopback, a real `ws` agent server.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { sleep, tone, WsAgentTestServer, type Json } from './servers.js';

const RATE = 16_000;
let stack: Stack;
let agent: WsAgentTestServer;
const lines: Array<{ msg?: string }> = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { msg?: string });
    done();
  },
});

before(async () => {
  agent = new WsAgentTestServer(RATE);
  const url = await agent.start();
  stack = await startStack({ workers: 1, agent: { kind: 'ws', url, token: '', bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } } }, { logger: createLogger('test', 'info', sink) });
});

after(async () => {
  await stack.stop();
  await agent.stop();
});

const results = (messages: Array<{ msg: Json }>) => messages.filter((m) => m.msg['type'] === 'result').map((m) => m.msg);

test('13 dtmf at once with ids: every result carries its request id, the 8 refused ones (answered first) included', async () => {
  const from = '+15550208001';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 6_000, talk: [] });
  const conn = await agent.connectionFor(from);
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  const ids: Array<string | number> = [];
  for (let i = 0; i < 13; i++) {
    const id = i % 2 === 0 ? `d-${i}` : i;
    ids.push(id);
    conn.send({ type: 'dtmf', digits: String(i % 10), id });
  }
  await waitFor('13 results', () => results(conn.inbox.messages).length === 13, 5_000);
  const got = results(conn.inbox.messages);
  assert.deepEqual(got.map((r) => r['id']).sort(), [...ids].sort(), JSON.stringify(got));
  const byId = new Map(got.map((r) => [r['id'], r]));
  // One in flight and 4 waiting per call and type: the first 5 are sent, the rest refused.
  for (const [i, id] of ids.entries()) assert.equal(byId.get(id)?.['ok'], i < 5, `request ${i}: ${JSON.stringify(byId.get(id))}`);
  assert.match(String(byId.get(ids[12]!)?.['detail']), /^TTMA_ERR_RATE_LIMITED/);
  // A request without an id gets a result without one, as before; a bad id is refused.
  conn.send({ type: 'dtmf', digits: '9' });
  conn.send({ type: 'dtmf', digits: '9', id: 'x'.repeat(65) });
  await waitFor('15 results', () => results(conn.inbox.messages).length === 15, 5_000);
  const late = results(conn.inbox.messages).slice(13);
  assert.ok(late.every((r) => !('id' in r)), JSON.stringify(late));
  assert.deepEqual(late.find((r) => String(r['detail']).startsWith('TTMA_ERR_BAD_REQUEST')), { type: 'result', request: 'dtmf', ok: false, detail: 'TTMA_ERR_BAD_REQUEST: an id is a string of 1 to 64 printable ASCII characters or a safe integer' });
  conn.send({ type: 'hangup', reason: 'done' });
  await call.done;
});

const errors = (messages: Array<{ msg: Json }>) => messages.filter((m) => m.msg['type'] === 'error').map((m) => m.msg);

test('refused and ignored messages come back as `error` (with the id), 10 a second then a count; the log is bounded alike', async () => {
  const from = '+15550208002';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 8_000, talk: [] });
  const conn = await agent.connectionFor(from);
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  conn.send({ type: 'mark', name: '', id: 'm0' });
  conn.send({ type: 'nope', id: 7 });
  conn.send({ type: 'transcript', role: 'bot', text: 'hello', final: true });
  await waitFor('3 errors', () => errors(conn.inbox.messages).length === 3, 3_000);
  assert.deepEqual(errors(conn.inbox.messages), [
    { type: 'error', code: 'TTMA_ERR_BAD_REQUEST', message: 'mark refused: a name is 1 to 64 printable ASCII characters', id: 'm0' },
    { type: 'error', code: 'TTMA_ERR_AGENT_PROTOCOL', message: 'an unknown event type "nope": ignored', id: 7 },
    { type: 'error', code: 'TTMA_ERR_BAD_REQUEST', message: 'a transcript whose role is not "caller" or "agent": ignored' },
  ]);
  await sleep(1_100); // a new second
  const logged = () => lines.filter((l) => l.msg?.includes('ws agent sent an unknown event type')).length;
  const loggedBefore = logged();
  for (let i = 0; i < 300; i++) conn.send({ type: 'nope' });
  await waitFor('the summary', () => errors(conn.inbox.messages).some((e) => e['suppressed'] !== undefined), 3_000);
  const flood = errors(conn.inbox.messages).slice(3);
  assert.equal(flood.length, 11, JSON.stringify(flood));
  assert.deepEqual(flood[10], { type: 'error', code: 'TTMA_ERR_RATE_LIMITED', message: '290 more errors in the last second were not sent one by one', suppressed: 290 });
  await waitFor('the log summary', () => lines.some((l) => /more like this/.test(l.msg ?? '')), 3_000);
  assert.ok(logged() - loggedBefore <= 11, `${logged() - loggedBefore} log lines for 300 ignored messages`);
  await sleep(1_100);
  conn.send({ type: 'hangup', reason: 123 });
  await waitFor('the hangup error', () => errors(conn.inbox.messages).length === 15, 3_000);
  assert.deepEqual(errors(conn.inbox.messages)[14], {
    type: 'error',
    code: 'TTMA_ERR_BAD_REQUEST',
    message: 'a hangup whose reason is not a string of at most 256 characters: hanging up without it',
  });
  const report = await call.done;
  assert.equal(report.endedBy, 'gateway', report.endReason);
});

test("a refused transfer's detail is the code and the platform's message: no request path, no call id", async () => {
  const from = '+15550208003';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 5_000, talk: [] });
  const conn = await agent.connectionFor(from);
  const hello = (await conn.inbox.waitFor((m) => m['type'] === 'hello', 'hello')).msg;
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  conn.send({ type: 'transfer', to: '+19005550100', id: 't1' });
  const refused = (await conn.inbox.waitFor((m) => m['type'] === 'result' && m['id'] === 't1', 'the refusal')).msg;
  assert.equal(refused['ok'], false);
  const detail = String(refused['detail']);
  assert.match(detail, /^TTMA_ERR_DESTINATION_REFUSED: \S/);
  const callId = String(hello['call'].id);
  for (const leak of ['/v1/', 'platform refused', callId, encodeURIComponent(callId)]) assert.ok(!detail.includes(leak), `detail names ${leak}: ${detail}`);
  conn.send({ type: 'hangup', reason: 'done' });
  await call.done;
});

test('hangup plays what was sent before it; audio sent after it is dropped, and the agent is told once', async () => {
  const from = '+15550208004';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 8_000, talk: [] });
  const conn = await agent.connectionFor(from);
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  await conn.audio(RATE, tone(RATE, 500), 100, false);
  conn.send({ type: 'hangup', reason: 'bye' });
  await conn.audio(RATE, tone(RATE, 500), 100, false);
  const report = await call.done;
  assert.equal(report.endedBy, 'gateway', report.endReason);
  // Before: 500 + 500 ms were heard.
  assert.ok(report.heard.soundMs >= 480 && report.heard.soundMs <= 620, `heard ${report.heard.soundMs} ms`);
  const told = errors(conn.inbox.messages).filter((e) => /audio after hangup/.test(String(e['message'])));
  assert.equal(told.length, 1, JSON.stringify(told));
  await waitFor('the drop logged', () => lines.some((l) => /agent audio sent after its hangup was dropped: 500 ms/.test(l.msg ?? '')), 3_000);
});
