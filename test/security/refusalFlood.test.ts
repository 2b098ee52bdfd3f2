/**
 * Anyone who reaches a public port can be refused as often as they like: the
 * log lines it costs are bounded per kind of refusal, on the gateway's tunnel
 * listener and on the platform, so a flood can neither fill the disk nor
 * push the service past journald's rate limit (which would drop its audit and
 * crash lines). Real stack, real requests on loopback.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { startStack, type Stack } from '../helpers/stack.js';

const FLOOD = 200;

function request(port: number, method: string, path: string, headers: Record<string, string>, body: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? -1));
    });
    r.on('error', () => resolve(-1));
    r.end(body);
  });
}

async function flood(send: () => Promise<number>): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  for (let i = 0; i < FLOOD; i += 10) {
    for (const status of await Promise.all(Array.from({ length: 10 }, send))) statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return statuses;
}

describe('a flood of refused requests costs a bounded number of log lines', () => {
  let stack: Stack;
  const lines: { msg: string; path?: string; suppressed?: number }[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  before(async () => {
    const logger = createLogger('flood', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    stack = await startStack({}, { logger });
  });
  after(async () => {
    agent.destroy();
    await stack?.stop();
  });

  const count = (msg: string): number => lines.filter((l) => l.msg === msg).length;

  it('forged webhooks and guessed media tokens at the gateway', async () => {
    const port = stack.ports.tunnel;
    const forged = await flood(() => request(port, 'POST', '/v1/webhooks/provider', {
      'telnyx-signature-ed25519': Buffer.alloc(64, 1).toString('base64'), 'telnyx-timestamp': String(Math.floor(Date.now() / 1000)),
    }, '{}', agent));
    assert.deepEqual(forged, { 401: FLOOD });
    const guessed = await flood(() => request(port, 'GET', `/v1/media/v3:${'A'.repeat(40)}?token=${randomBytes(32).toString('base64url')}`, {
      connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'),
    }, '', agent));
    assert.deepEqual(guessed, { 401: FLOOD });
    assert.ok(count('webhook refused') <= 10, `${count('webhook refused')} webhook lines for ${FLOOD} refusals`);
    assert.ok(count('webhook refused') >= 1, 'the first refusals are still written');
    // Each thread that owns sockets bounds its own lines: here the stack's two media workers.
    assert.ok(count('media upgrade refused') <= 2 * 10, `${count('media upgrade refused')} media lines for ${FLOOD} refusals`);
  });

  it('long unknown paths and wrong secrets at the platform, each line cut to a bounded path', async () => {
    const port = stack.ports.platform;
    const before = lines.length;
    assert.deepEqual(await flood(() => request(port, 'GET', `/${'a'.repeat(15_000)}`, {}, '', agent)), { 404: FLOOD });
    assert.deepEqual(await flood(() => request(port, 'POST', '/v1/signal/calls', { authorization: `Bearer ${'x'.repeat(43)}`, 'x-ttma-deployment': 'demo' }, '{}', agent)), { 401: FLOOD });
    const written = lines.slice(before).filter((l) => l.msg.startsWith('refused'));
    assert.ok(written.length <= 20, `${written.length} platform lines for ${2 * FLOOD} refusals`);
    assert.ok(written.length >= 2, 'the first refusal of each kind is written');
    for (const line of written) assert.ok((line.path ?? '').length <= 200, `a logged path of ${line.path?.length} characters`);
  });
});
