/**
 * The gateway's edge (FAQ-03, FAQ-04, FAQ-06, DESIGN 7): diagnostics reached
 * with the headers a Cloudflare tunnel adds, diagnostics asked for through the
 * tunnel listener, a non-loopback bind address, and a gateway without a
 * webhook key, while an honest simulator call keeps flowing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defaultGatewayConfig, validateGatewayConfig, type GatewayConfig } from '../../src/config.js';
import { isTtmaError } from '../../src/errors.js';
import { Gateway } from '../../src/Gateway.js';
import { createLogger } from '../../src/log.js';
import { TUNNEL_HOST } from '../helpers/stack.js';
import { attack, type AttackProbe } from './attacks.js';
import { NUMBER, rawHttp, SecurityStack, type HonestCall } from './harness.js';

/** Long enough to span every attack below (well under a second here), with margin. */
const HONEST_CALL_MS = 3_500;
const TUNNEL_HEADERS = ['cf-connecting-ip', 'cf-ray', 'cf-visitor', 'cf-warp-tag-id', 'cdn-loop', 'x-forwarded-for', 'forwarded'];
const HEADER_VALUES: Record<string, string> = {
  'cf-connecting-ip': '203.0.113.7',
  'cf-ray': '8a1b2c3d4e5f6a7b-AMS',
  'cf-visitor': '{"scheme":"https"}',
  'cf-warp-tag-id': '2f0c1b7e-4a5d-4e8f-9a0b-1c2d3e4f5a6b',
  'cdn-loop': 'cloudflare',
  'x-forwarded-for': '203.0.113.7',
  forwarded: 'for=203.0.113.7;proto=https',
};

let s: SecurityStack;
let honest: HonestCall;

before(async () => {
  s = await SecurityStack.start();
  honest = await s.honestCall(HONEST_CALL_MS);
});

after(async () => {
  await s?.stop();
});

function local(path: string): string {
  return `http://127.0.0.1:${s.localPort}${path}`;
}

function tunnel(path: string): string {
  return `http://127.0.0.1:${s.tunnelPort}${path}`;
}

/** Diagnostics must not be served: the exact refusal status, and no status JSON in the body. */
async function expectNotServed(probe: AttackProbe, response: { status: number; text: string }, status: number): Promise<void> {
  probe.goal(response.status >= 200 && response.status < 300, `served with ${response.status}`);
  probe.goal(response.text.includes('liveCalls') || response.text.includes(honest.call.id), 'status JSON in the response');
  assert.equal(response.status, status, response.text);
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { headers });
  return { status: response.status, text: await response.text() };
}

test('positive: diagnostics are served on the local listener to a local request', async () => {
  const response = await get(local('/debug/status'));
  assert.equal(response.status, 200);
  assert.ok(response.text.includes(honest.call.id), 'the status lists the honest call');
});

for (const header of TUNNEL_HEADERS) {
  attack(`diagnostics: /debug/status with tunnel header ${header}`, async (probe) => {
    const refused = s.gateway.front.counters.localRefused;
    await expectNotServed(probe, await get(local('/debug/status'), { [header]: HEADER_VALUES[header]! }), 403);
    assert.equal(s.gateway.front.counters.localRefused, refused + 1);
  });
}

attack('diagnostics: tunnel header in odd case (CF-Connecting-IP, raw request)', async (probe) => {
  const response = await rawHttp(s.localPort, [`GET /debug/status HTTP/1.1\r\nHost: 127.0.0.1\r\nCF-Connecting-IP: 203.0.113.7\r\n\r\n`]);
  await expectNotServed(probe, { status: response.status, text: response.head }, 403);
});

attack('diagnostics: tunnel header present with an empty value (raw request)', async (probe) => {
  const response = await rawHttp(s.localPort, [`GET /debug/status HTTP/1.1\r\nHost: 127.0.0.1\r\ncf-connecting-ip:\r\n\r\n`]);
  await expectNotServed(probe, { status: response.status, text: response.head }, 403);
});

attack('diagnostics: /debug/status through the tunnel listener', async (probe) => {
  await expectNotServed(probe, await get(tunnel('/debug/status')), 404);
});

attack('diagnostics: /healthz through the tunnel listener', async (probe) => {
  const response = await get(tunnel('/healthz'));
  probe.goal(response.status === 200, 'health served through the tunnel');
  assert.equal(response.status, 404);
});

attack('diagnostics: /debug/status through the tunnel via the webhook path prefix', async (probe) => {
  await expectNotServed(probe, await get(tunnel('/v1/webhooks/provider/../../debug/status')), 404);
  await expectNotServed(probe, await get(tunnel('/v1/webhooks/..%2F..%2Fdebug%2Fstatus')), 404);
});

function validConfig(host: string): GatewayConfig {
  return {
    ...defaultGatewayConfig(),
    host,
    workers: 1,
    publicHost: TUNNEL_HOST,
    webhookPublicKey: s.stack.publicKeyBase64,
    platformUrl: 'http://127.0.0.1:9',
    deploymentId: 'test',
    agentSecret: 'x'.repeat(32),
    numbers: [NUMBER],
  };
}

test('positive: the loopback configuration validates', () => {
  assert.doesNotThrow(() => validateGatewayConfig(validConfig('127.0.0.1')));
});

for (const host of ['0.0.0.0', '::', '192.168.1.10', '']) {
  attack(`config: non-loopback bind address ${JSON.stringify(host)}`, (probe) => {
    let error: unknown = null;
    try {
      validateGatewayConfig(validConfig(host));
    } catch (err) {
      error = err;
    }
    probe.goal(error === null, `a gateway would listen on ${JSON.stringify(host)}`);
    assert.ok(isTtmaError(error, 'TTMA_ERR_CONFIG'), String(error));
    assert.match((error as Error).message, /host/);
  });
}

attack('webhook: correctly signed event to a gateway without a signing key (fail closed)', async (probe) => {
  const gateway = new Gateway({ ...validConfig('127.0.0.1'), webhookPublicKey: null, platformUrl: `http://127.0.0.1:${s.stack.ports.platform}` }, createLogger('test', 'silent'));
  const ports = await gateway.start();
  try {
    const body = s.initiated(s.callId('atk', 'nokey'));
    const response = await fetch(`http://127.0.0.1:${ports.tunnelPort}/v1/webhooks/provider`, { method: 'POST', headers: s.signedHeaders(body), body });
    const text = await response.text();
    probe.goal(response.status >= 200 && response.status < 300, `accepted with ${response.status}`);
    probe.goal(gateway.control.counters.callsStarted !== 0, 'a call was started');
    assert.equal(response.status, 503);
    assert.match(text, /TTMA_ERR_WEBHOOK_NO_KEY/);
    assert.equal(gateway.status().webhookKey, 'missing');
  } finally {
    await gateway.stop();
  }
});

test('the honest call kept flowing through every edge attack', async () => {
  assert.equal(await s.healthz(), 200);
  await honest.finish();
});
