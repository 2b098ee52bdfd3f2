import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultGatewayConfig, validateGatewayConfig, type GatewayConfig } from '../src/config.js';
import { isTtmaError } from '../src/errors.js';

const good: GatewayConfig = {
  ...defaultGatewayConfig(),
  publicHost: 'gw.trycloudflare.com',
  platformUrl: 'http://127.0.0.1:9000',
  deploymentId: 'demo',
  agentSecret: 'x'.repeat(32),
  numbers: ['+15550100000'],
};

test('a good config validates', () => {
  assert.equal(validateGatewayConfig({ ...good }).host, '127.0.0.1');
});

test('non-loopback bind addresses are a config error (FAQ-03)', () => {
  for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '']) {
    assert.throws(() => validateGatewayConfig({ ...good, host }), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /host/.test(err.message), host);
  }
});

test('each bad key is named', () => {
  const cases: Array<[Partial<GatewayConfig>, RegExp]> = [
    [{ tunnelPort: 8080, localPort: 8080 }, /localPort/],
    [{ tunnelPort: 70000 }, /tunnelPort/],
    [{ publicHost: 'not a host' }, /publicHost/],
    [{ platformUrl: 'http://platform.example.com' }, /platformUrl/],
    [{ platformUrl: 'nope' }, /platformUrl/],
    [{ deploymentId: 'Bad Id' }, /deploymentId/],
    [{ agentSecret: 'short' }, /agentSecret/],
    [{ numbers: [] }, /numbers/],
    [{ numbers: ['5550100000'] }, /numbers/],
    [{ workers: 0 }, /workers/],
    [{ mediaSockets: 'both' as never }, /mediaSockets/],
    [{ codec: 'G729' as never }, /codec/],
  ];
  for (const [patch, pattern] of cases) {
    assert.throws(() => validateGatewayConfig({ ...good, ...patch }), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && pattern.test(err.message), JSON.stringify(patch));
  }
});
