/**
 * The gateway's edge (FAQ-03, FAQ-04, FAQ-06, DESIGN 7): diagnostics reached
 * with the headers a Cloudflare tunnel adds, diagnostics asked for through the
 * tunnel listener, diagnostics asked for by a web page (DNS rebinding: a
 * foreign Host; a cross-site Origin), a non-loopback bind address, and a
 * gateway without a webhook key, while an honest simulator call keeps flowing.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { defaultGatewayConfig, validateGatewayConfig, type GatewayConfig } from '../../src/config.js';
import { isTtmaError } from '../../src/errors.js';
import { Gateway } from '../../src/Gateway.js';
import { createLogger } from '../../src/log.js';
import { localAuthorization } from '../helpers/localAuth.js';
import { TUNNEL_HOST } from '../helpers/stack.js';
import { attack, type AttackProbe } from './attacks.js';
import { NUMBER, rawHttp, SecurityStack, type HonestCall } from './harness.js';

/** Long enough to span every attack below (well under a second here), with margin. */
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
  honest = await s.honestCall();
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
    const refused = s.gateway.front.counters.localRefused.tunnel_header;
    await expectNotServed(probe, await get(local('/debug/status'), { [header]: HEADER_VALUES[header]! }), 403);
    assert.equal(s.gateway.front.counters.localRefused.tunnel_header, refused + 1);
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

/** Every local route a web page could want: live calls, figures, the dashboard and its stream, a reset, a nonce. */
const LOCAL_ROUTES: Array<{ method: 'GET' | 'POST'; path: string }> = [
  { method: 'GET', path: '/debug/status' },
  { method: 'GET', path: '/debug/latency' },
  { method: 'POST', path: '/debug/latency/reset' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/dashboard' },
  { method: 'GET', path: '/dashboard/events' },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/readyz' },
  // The operator routes' nonce (a proof over the page's own challenge would be no use to it, but it is not served either).
  { method: 'GET', path: `/v1/local/nonce?challenge=${'A'.repeat(43)}` },
];

/**
 * A request to the local listener with the headers a browser would send, Host included (node:http
 * sends the Host it is given; fetch would put its own). An SSE stream is cut after its head.
 */
function fromBrowser(method: 'GET' | 'POST', path: string, headers: Record<string, string>, port = s.localPort, body = ''): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, connection: 'close' }, agent: false }, (res) => {
      if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, text: 'event stream opened' });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('positive: the loopback names with this port, and the dashboard page\'s own origin, are served', async () => {
  const port = s.localPort;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
    const response = await fromBrowser('GET', '/debug/status', { host });
    assert.equal(response.status, 200, host);
    assert.ok(response.text.includes(honest.call.id), host);
  }
  // What the dashboard's EventSource sends from http://127.0.0.1:<port>/dashboard.
  const own = await fromBrowser('GET', '/dashboard/events', { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' });
  assert.equal(own.status, 200);
  assert.equal((await fromBrowser('GET', '/dashboard', { 'sec-fetch-site': 'none' })).status, 200, 'typed into the address bar');
});

test('positive: the tunnel listener takes webhooks under the public hostname, with the tunnel\'s headers', async () => {
  const body = s.hangupEvent(s.callId('atk', 'publichost'));
  const headers = { ...s.signedHeaders(body), host: TUNNEL_HOST, 'cf-connecting-ip': '203.0.113.7', 'cf-ray': HEADER_VALUES['cf-ray']! };
  const response = await fromBrowser('POST', '/v1/webhooks/provider', headers, s.tunnelPort, body);
  assert.equal(response.status, 200, response.text);
});

// DNS rebinding: evil.example first resolves to the attacker, then to 127.0.0.1; the page's
// requests reach the local port as same-origin requests carrying the page's own Host.
for (const { method, path } of LOCAL_ROUTES) {
  attack(`diagnostics: DNS rebinding, ${method} ${path} with Host evil.example:<port>`, async (probe) => {
    const refused = s.gateway.front.counters.localRefused.foreign_host;
    const response = await fromBrowser(method, path, { host: `evil.example:${s.localPort}`, origin: `http://evil.example:${s.localPort}`, 'sec-fetch-site': 'same-origin' });
    await expectNotServed(probe, response, 403);
    assert.match(response.text, /TTMA_ERR_LOCAL_ONLY/);
    assert.equal(s.gateway.front.counters.localRefused.foreign_host, refused + 1);
  });
}

for (const host of ['evil.example', '127.0.0.1.evil.example:<port>', 'localhost.evil.example:<port>', '0.0.0.0:<port>', '127.0.0.2:<port>', '127.0.0.1:<port>.evil.example', '127.0.0.1:1']) {
  attack(`diagnostics: /debug/status with Host ${host}`, async (probe) => {
    const value = host.replace('<port>', String(s.localPort));
    await expectNotServed(probe, await fromBrowser('GET', '/debug/status', { host: value }), 403);
  });
}

attack('diagnostics: two Host headers, the second one local (raw request)', async (probe) => {
  const response = await rawHttp(s.localPort, [`GET /debug/status HTTP/1.1\r\nHost: evil.example:${s.localPort}\r\nHost: 127.0.0.1:${s.localPort}\r\n\r\n`]);
  probe.goal(response.status === 200, 'served');
  assert.ok(response.status === 403 || response.status === 400, response.head);
});

// Cross-site: a page elsewhere makes the browser ask 127.0.0.1 itself (the Host is right).
const CROSS_SITE: Array<[string, Record<string, string>]> = [
  ['Origin http://evil.example', { origin: 'http://evil.example' }],
  ['Origin null (a sandboxed frame or a no-referrer form)', { origin: 'null' }],
  ['Origin of another local port', { origin: 'http://127.0.0.1:1' }],
  ['Origin https://127.0.0.1:<port>', { origin: 'https://127.0.0.1:<port>' }],
  ['Sec-Fetch-Site cross-site, no Origin', { 'sec-fetch-site': 'cross-site' }],
  ['Sec-Fetch-Site same-site (another port of 127.0.0.1), no Origin', { 'sec-fetch-site': 'same-site' }],
];
for (const [name, headers] of CROSS_SITE) {
  for (const { method, path } of [{ method: 'POST' as const, path: '/debug/latency/reset' }, { method: 'GET' as const, path: '/debug/status' }]) {
    attack(`diagnostics: ${method} ${path} from another site (${name})`, async (probe) => {
      const refused = s.gateway.front.counters.localRefused.cross_site;
      const filled = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace('<port>', String(s.localPort))]));
      const response = await fromBrowser(method, path, filled);
      await expectNotServed(probe, response, 403);
      assert.match(response.text, /TTMA_ERR_CROSS_SITE/);
      assert.equal(s.gateway.front.counters.localRefused.cross_site, refused + 1);
    });
  }
}

attack('operator routes: POST /v1/local/calls, signed with the agent secret, from a rebound page', async (probe) => {
  const before = s.effects();
  // A valid signature (were the page to hold one): the Host alone refuses it.
  const authorization = await localAuthorization(s.localPort, s.stack.agentSecret, 'POST', '/v1/local/calls');
  const response = await fromBrowser('POST', '/v1/local/calls', { host: `evil.example:${s.localPort}`, authorization, 'content-type': 'application/json' });
  probe.goal(response.status >= 200 && response.status < 300, `served with ${response.status}`);
  assert.equal(response.status, 403);
  s.assertNoEffect(before, 'rebound operator request');
});

function validConfig(host: string): GatewayConfig {
  return {
    ...defaultGatewayConfig(),
    host,
    workers: 1,
    publicHost: TUNNEL_HOST,
    webhookPublicKey: s.stack.publicKeyBase64,
    platformUrl: 'http://127.0.0.1:2',
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
