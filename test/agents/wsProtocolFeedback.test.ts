/**
 * What a `ws` agent is told about its own requests (found by writing an agent
 * from the docs alone, docs/decisions.md, twenty-fourth session):
 * - an optional `id` on a request comes back in its `result`, refusals by the
 *   bounds included (they overtake earlier requests still in flight);
 * Real simulator, platform and gateway on loopback, a real `ws` agent server.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { WsAgentTestServer, type Json } from './servers.js';

const RATE = 16_000;
let stack: Stack;
let agent: WsAgentTestServer;

before(async () => {
  agent = new WsAgentTestServer(RATE);
  const url = await agent.start();
  stack = await startStack({ workers: 1, agent: { kind: 'ws', url, token: '', bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } } });
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
