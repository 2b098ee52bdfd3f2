/** The gateway's log level: from config (or --log-level, or TTMA_LOG_LEVEL), validated, and obeyed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadGatewaySettings } from '../src/configFile/gatewaySettings.js';
import { defaultGatewayConfig, validateGatewayConfig } from '../src/config.js';
import { isTtmaError } from '../src/errors.js';
import { createLogger, defaultLogLevel } from '../src/log.js';

const good = {
  ...defaultGatewayConfig(),
  publicHost: 'gw.trycloudflare.com',
  platformUrl: 'http://127.0.0.1:9000',
  deploymentId: 'demo',
  agentSecret: 'x'.repeat(32),
  numbers: ['+15550100000'],
};

test('an unknown log level is a config error naming logLevel', () => {
  assert.throws(() => validateGatewayConfig({ ...good, logLevel: 'loud' as never }), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /logLevel/.test(err.message));
  assert.equal(validateGatewayConfig({ ...good, logLevel: 'debug' }).logLevel, 'debug');
});

test('--log-level sets it; TTMA_LOG_LEVEL is the default', () => {
  assert.equal(loadGatewaySettings({ 'log-level': 'warn' }, {}).settings.logLevel, 'warn');
  assert.equal(loadGatewaySettings({ 'log-level': 'warn' }, { TTMA_LOG_LEVEL: 'error' }).settings.logLevel, 'warn', 'the flag wins');
  assert.throws(() => loadGatewaySettings({ 'log-level': 'loud' }, {}), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /logLevel/.test(err.message));
  const saved = process.env.TTMA_LOG_LEVEL;
  try {
    process.env.TTMA_LOG_LEVEL = 'error';
    assert.equal(defaultLogLevel(), 'error');
    assert.equal(loadGatewaySettings({}, process.env).settings.logLevel, 'error');
    process.env.TTMA_LOG_LEVEL = 'nonsense';
    assert.equal(defaultLogLevel(), 'info');
  } finally {
    if (saved === undefined) delete process.env.TTMA_LOG_LEVEL;
    else process.env.TTMA_LOG_LEVEL = saved;
  }
});

test('a logger at warn drops info and keeps warn, as JSON lines', () => {
  const lines: string[] = [];
  const log = createLogger('gateway', 'warn', { write: (line: string) => void lines.push(line) });
  log.child({ callId: 'c1', deployment: 'demo', worker: 0 }).info('dropped');
  log.child({ callId: 'c1', deployment: 'demo', worker: 0 }).warn('kept');
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(record['msg'], 'kept');
  assert.equal(record['component'], 'gateway');
  assert.equal(record['callId'], 'c1');
  assert.equal(record['deployment'], 'demo');
  assert.equal(record['worker'], 0);
});
