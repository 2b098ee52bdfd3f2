/**
 * Degenerate webhook signing keys (FAQ-05, FAQ-06: "if the signing key is
 * missing or invalid, the gateway rejects all webhooks"). OpenSSL takes a
 * small-order point as an Ed25519 key, and under the identity point one fixed
 * signature verifies every body (probe7 of the edge review). Configured with
 * any of the 14 small-order encodings, the gateway and the platform must
 * refuse to start (TTMA_ERR_CONFIG): no process runs that an attacker could
 * sign for without the provider's private key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultGatewayConfig, type GatewayConfig } from '../../src/config.js';
import { isTtmaError } from '../../src/errors.js';
import { Gateway } from '../../src/Gateway.js';
import { createLogger } from '../../src/log.js';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { FORGED_SIGNATURE, SMALL_ORDER_KEYS } from '../helpers/smallOrderKeys.js';
import { NUMBER, TUNNEL_HOST } from '../helpers/stack.js';
import { attack } from './attacks.js';

function gatewayConfig(webhookPublicKey: string): GatewayConfig {
  return {
    ...defaultGatewayConfig(),
    workers: 1,
    publicHost: TUNNEL_HOST,
    webhookPublicKey,
    platformUrl: 'http://127.0.0.1:2',
    deploymentId: 'test',
    agentSecret: 'x'.repeat(32),
    numbers: [NUMBER],
  };
}

/** The forged call.initiated of probe7, as the gateway's gate would see it. */
function forgedInitiated(): { timestamp: string; body: Buffer } {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const body = JSON.stringify({ data: { record_type: 'event', event_type: 'call.initiated', id: `forged-${Date.now()}`, payload: { call_control_id: 'forged', direction: 'incoming', from: '+15550209999', to: NUMBER } } });
  return { timestamp, body: Buffer.from(body) };
}

test('the 14 small-order encodings are distinct keys', () => {
  assert.equal(new Set(SMALL_ORDER_KEYS.map((k) => k.base64)).size, 14);
});

for (const key of SMALL_ORDER_KEYS) {
  attack(`config: gateway started with a small-order webhook key (${key.name})`, async (probe) => {
    let gateway: Gateway | null = null;
    let error: unknown = null;
    try {
      gateway = new Gateway(gatewayConfig(key.base64), createLogger('test', 'silent'));
    } catch (err) {
      error = err;
    }
    if (gateway) {
      // Never started: only its gate is asked, with the signature no private key made.
      const { timestamp, body } = forgedInitiated();
      const outcome = gateway.webhooks.check(FORGED_SIGNATURE.toString('base64'), timestamp, body, Date.now());
      probe.note(`gate answered ${outcome.status} to the forged call.initiated`);
      await gateway.stop();
    }
    probe.goal(gateway !== null, `a gateway was built with ${key.base64}`);
    assert.ok(isTtmaError(error, 'TTMA_ERR_CONFIG'), String(error));
    assert.match((error as Error).message, /webhook public key .*Ed25519/);
  });

  attack(`config: platform started with a small-order webhook key (${key.name})`, async (probe) => {
    let platform: PlatformServer | null = null;
    let error: unknown = null;
    try {
      platform = new PlatformServer({
        providerBaseUrl: 'http://127.0.0.1:9',
        providerApiKey: 'KEYnot-used',
        connectionId: 'conn-test',
        webhookPublicKeyBase64: key.base64,
        adminToken: null,
        logger: createLogger('test', 'silent'),
      });
    } catch (err) {
      error = err;
    }
    if (platform) await platform.stop();
    probe.goal(platform !== null, `a platform was built with ${key.base64}`);
    assert.ok(isTtmaError(error, 'TTMA_ERR_CONFIG'), String(error));
    assert.match((error as Error).message, /webhook public key .*Ed25519/);
  });
}
