/**
 * No secret in the logs (FAQ, STYLE): every component logs at trace level
 * into one capture while a full call runs (webhooks verified, a media token
 * minted and used, an agent reached with its token, the platform called with
 * the agent secret, the provider with its API key), and while each of those
 * secrets is attacked (forged and stale webhooks, reused and guessed media
 * tokens in header and query, wrong agent secrets) and an install token is
 * minted and redeemed twice. Then every 16-character piece of every secret,
 * in every encoding it travels in, is looked for in every line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { createLogger } from '../../src/log.js';
import { HEADER_DEPLOYMENT } from '../../src/wire/platformApi.js';
import { WsAgentTestServer } from '../agents/servers.js';
import { createSigner, webhookBody } from '../helpers/signing.js';
import { installBundles, mint, redeem, startInstallPlatform } from '../install/helpers.js';
import { ADMIN_TOKEN } from '../platform/helpers.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import nacl from 'tweetnacl';

/** A piece this long of a secret is a leak (shorter pieces collide with ordinary text). */
const WINDOW = 16;
const CANARY = `canary-${randomBytes(16).toString('hex')}`;
const AGENT_TOKEN = `ws-agent-token-${randomBytes(24).toString('base64url')}`;

const lines: string[] = [];
const logger = createLogger('test', 'trace', { write: (line: string) => void lines.push(line) });
let agent: WsAgentTestServer;
let stack: Stack;
/** Every secret used in the run, by name, in the forms it travels in. */
const secrets = new Map<string, string[]>();

function addSecret(name: string, ...forms: string[]): void {
  secrets.set(name, [...(secrets.get(name) ?? []), ...forms.filter((f) => f.length >= WINDOW)]);
}

function bytesForms(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes);
  return [b.toString('base64'), b.toString('base64url'), b.toString('hex')];
}

/** Names of the secrets any of whose WINDOW-long pieces appears in `text`. */
function leaks(text: string): string[] {
  const found: string[] = [];
  for (const [name, forms] of secrets) {
    outer: for (const form of forms) {
      for (let i = 0; i + WINDOW <= form.length; i++) {
        if (text.includes(form.slice(i, i + WINDOW))) {
          found.push(name);
          break outer;
        }
      }
    }
  }
  return found;
}

before(async () => {
  agent = new WsAgentTestServer(16_000);
  const url = await agent.start();
  stack = await startStack({ agent: { kind: 'ws', url, token: AGENT_TOKEN, bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } }, logLevel: 'trace' }, { logger });
  // The seed in every form; the 64-byte key whole (its hex would contain the public key, which is not secret).
  addSecret('webhook signing private key', ...bytesForms(stack.secretKey.subarray(0, 32)), ...bytesForms(stack.secretKey).slice(0, 2));
  addSecret('provider API key', stack.apiKey);
  addSecret('agent secret', stack.agentSecret, Buffer.from(stack.agentSecret).toString('base64'));
  addSecret('ws agent token', AGENT_TOKEN);
});

after(async () => {
  await stack.stop();
  await agent.stop();
});

test('the scan sees what the components log (a planted canary is found)', () => {
  addSecret('canary', CANARY);
  logger.child({ callId: 'x' }).trace({ detail: CANARY }, 'planted');
  assert.deepEqual(leaks(lines.join('')), ['canary']);
  secrets.delete('canary');
  lines.length = 0;
});

test('a full call and attacks on every secret leave none in the logs', async () => {
  const tunnel = `127.0.0.1:${stack.ports.tunnel}`;
  const call = stack.sim.placeInboundCall({ from: '+15550200301', to: NUMBER, durationMs: 2_000 });
  await waitFor('the media stream', () => stack.gateway.control.snapshot().some((c) => c.callId === call.id && c.state === 'streaming'));
  const token = call.testOnlyStreamToken;
  assert.ok(token, 'the provider got a media token');
  addSecret('media token', token);
  // The agent was reached with its token.
  await waitFor('the agent connection', () => agent.connections.length === 1);
  assert.equal(agent.connections[0]!.authorization, `Bearer ${AGENT_TOKEN}`);

  // Media: the consumed token again, a guessed one, in the header and in the query string.
  const guessed = randomBytes(32).toString('base64url');
  addSecret('guessed media token', guessed);
  for (const [path, headers] of [
    [`/v1/media/${call.id}`, { 'x-telnyx-stream-token': token }],
    [`/v1/media/${call.id}?token=${token}`, {}],
    [`/v1/media/${call.id}`, { 'x-telnyx-stream-token': guessed }],
    [`/v1/media/other-call?token=${guessed}`, {}],
  ] as const) {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://${tunnel}${path}`, { headers });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('error', () => resolve(-1));
    });
    assert.equal(status, 401, path);
  }

  // Webhooks: forged, stale, and a valid one for a number we do not serve.
  const webhookUrl = `http://${tunnel}/v1/webhooks/provider`;
  const body = webhookBody('call.initiated', { call_control_id: 'log-scan-1', from: '+15550200302', to: NUMBER, direction: 'incoming' });
  const forger = createSigner();
  assert.equal((await fetch(webhookUrl, { method: 'POST', headers: forger.headers(body), body })).status, 401);
  const stale = String(Math.floor(Date.now() / 1000) - 3600);
  const staleSig = Buffer.from(nacl.sign.detached(Buffer.from(`${stale}|${body}`), stack.secretKey)).toString('base64');
  const staleHeaders = { 'telnyx-signature-ed25519': staleSig, 'telnyx-timestamp': stale, 'content-type': 'application/json' };
  assert.equal((await fetch(webhookUrl, { method: 'POST', headers: staleHeaders, body })).status, 401);

  // The platform's signalling API with wrong agent secrets, and with the right one for a call not ours.
  const wrongSecret = randomBytes(32).toString('base64url');
  addSecret('wrong agent secret', wrongSecret);
  const signal = `http://127.0.0.1:${stack.ports.platform}/v1/signal/calls/${encodeURIComponent(call.id)}/hangup`;
  for (const [secret, deployment] of [
    [wrongSecret, 'test'],
    [wrongSecret, 'no-such-deployment'],
    [stack.agentSecret, 'no-such-deployment'],
  ] as const) {
    const response = await fetch(signal, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, [HEADER_DEPLOYMENT]: deployment, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(response.status, 401, `${deployment}`);
  }

  const report = await call.done;
  assert.equal(report.endedBy, 'caller', report.endReason);
  await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
  await waitFor('the call summary', () => stack.gateway.control.summaries.some((s) => s.callId === call.id));

  // The capture holds the call's own lines, with the per-call fields (call id, deployment, worker).
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  // (The simulator logs its own 'call ended'; the gateway's carries the worker.)
  const ended = records.find((r) => r['msg'] === 'call ended' && r['callId'] === call.id && r['worker'] !== undefined);
  assert.ok(ended, 'the call logged its end');
  assert.equal(ended['deployment'], 'test');
  assert.equal(typeof ended['worker'], 'number');
  assert.ok(records.some((r) => r['msg'] === 'media upgrade refused'), 'the refusals were logged');
  assert.ok(records.some((r) => r['msg'] === 'webhook refused'));
  assert.ok(lines.length > 20, `${lines.length} lines`);

  const leaked = lines.filter((l) => leaks(l).length > 0);
  assert.deepEqual(leaked, [], `secrets in the logs: ${leaked.map((l) => leaks(l).join(', ')).join('; ')}`);
});

test('install tokens: minted, redeemed, replayed; neither the token nor the admin token is logged', async () => {
  const h = await startInstallPlatform(await installBundles());
  try {
    const minted = await mint(h);
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    const token = (minted.body as { token: string }).token;
    addSecret('install token', token);
    addSecret('admin token', ADMIN_TOKEN);
    assert.equal((await redeem(h, token)).status, 200);
    assert.notEqual((await redeem(h, token)).status, 200, 'single use');
    assert.notEqual((await redeem(h, `${token.slice(0, -4)}AAAA`)).status, 200, 'tampered');
    assert.ok(h.lines.length > 0, 'the platform logged the install');
    const leaked = h.lines.filter((l) => leaks(l).length > 0);
    assert.deepEqual(leaked, [], `secrets in the logs: ${leaked.map((l) => leaks(l).join(', ')).join('; ')}`);
  } finally {
    await h.close();
  }
});
