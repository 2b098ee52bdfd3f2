/**
 * The gateway's configuration file: every kind of bad key named with its
 * origin, unknown keys and inline secrets refused, secrets from files and
 * systemd credentials, environment overrides and the precedence
 * flags > environment > file > defaults. Real files in a temp directory.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateGatewayConfig } from '../../src/config.js';
import { gatewayConfigFromSettings, loadGatewaySettings } from '../../src/configFile/gatewaySettings.js';
import { readSecret } from '../../src/configFile/secretFiles.js';
import { isTtmaError } from '../../src/errors.js';

const AGENT_SECRET = 'agent-secret-from-a-file-0123456789abcdef';
const CRED_SECRET = 'agent-secret-from-systemd-credential-9876543210';
const INLINE_SECRET = 'inline-secret-must-never-be-echoed-5555';

describe('gateway config file', () => {
  let dir = '';
  const good = () => ({
    publicHost: 'gw.trycloudflare.com',
    platformUrl: 'https://platform.example.com',
    deploymentId: 'demo-1',
    numbers: ['+15550100000'],
    agentSecretFile: join(dir, 'agent.secret'),
  });
  const write = (name: string, value: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value), { mode: 0o600 });
    return path;
  };
  /** Runs the loader and returns the TTMA_ERR_CONFIG message (the test fails if it does not throw one). */
  const problemsOf = (flags: Record<string, string | string[]>, env: NodeJS.ProcessEnv = {}): string => {
    try {
      loadGatewaySettings(flags, env);
    } catch (err) {
      assert.ok(isTtmaError(err, 'TTMA_ERR_CONFIG'), String(err));
      return err.message;
    }
    assert.fail('expected a configuration error');
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-config-'));
    write('agent.secret', `${AGENT_SECRET}\n`);
    writeFileSync(join(dir, 'agent-secret'), CRED_SECRET, { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a good file loads, with the schema defaults for every key it leaves out', () => {
    const loaded = loadGatewaySettings({ config: write('good.json', good()) }, {});
    assert.equal(loaded.settings.publicHost, 'gw.trycloudflare.com');
    assert.equal(loaded.settings.tunnelPort, 8080);
    assert.equal(loaded.settings.localPort, 8081);
    assert.equal(loaded.settings.codec, 'PCMU');
    assert.deepEqual(loaded.settings.bargeIn, { thresholdDbfs: -35, minSpeechMs: 200 });
    assert.equal(loaded.settings.agent.kind, 'echo');
    assert.equal(loaded.sourceOf('publicHost'), `file ${join(dir, 'good.json')}`);
    assert.equal(loaded.sourceOf('maxCalls'), 'default');
  });

  it('each kind of bad key is reported at once, one line each: path, what is wrong, what is expected, where it came from', () => {
    const path = write('bad.json', {
      ...good(),
      tunnelPort: 'eighty', // wrong type
      workers: 65, // above the range
      jitterMinDelayMs: -1, // below the range
      maxCalls: 2.5, // not an integer
      codec: 'G729', // not one of the values
      numbers: '+15550100000', // a string where a list belongs
      bargeIn: { thresholdDbfs: 3 }, // nested, out of range
      agent: { kind: 'ws', format: 'mp3' },
    });
    const message = problemsOf({ config: path });
    const lines = message.split('\n').slice(1);
    assert.match(message, /^8 configuration problems \(config file .*bad\.json\):/);
    assert.equal(lines.length, 8, message);
    const expectLine = (pattern: RegExp) => assert.ok(lines.some((l) => pattern.test(l)), `${pattern} in\n${message}`);
    expectLine(/^ {2}- tunnelPort: wrong type: expected number, got "eighty"; from file .*bad\.json\. Meaning: tunnel-facing listener/);
    expectLine(/^ {2}- workers: too big: expected <= 64, got 65; from file/);
    expectLine(/^ {2}- jitterMinDelayMs: too small: expected >= 0, got -1; from file/);
    expectLine(/^ {2}- maxCalls: .*integer.*got 2\.5; from file/);
    expectLine(/^ {2}- codec: expected one of "PCMU", "PCMA", "G722", "L16", "OPUS", got "G729"/);
    expectLine(/^ {2}- numbers: wrong type: expected array, got "\+15550100000"/);
    expectLine(/^ {2}- bargeIn\.thresholdDbfs: too big: expected < 0, got 3/);
    expectLine(/^ {2}- agent\.format: expected one of "pcm16", "g711_ulaw", got "mp3"/);
  });

  it('semantic checks (loopback, hostname, URL, E.164) also list every bad key at once', () => {
    const loaded = loadGatewaySettings({ config: write('semantic.json', { ...good(), host: '0.0.0.0', publicHost: 'not a host', numbers: ['5550100'] }) }, {});
    const config = gatewayConfigFromSettings(loaded, { agentSecret: AGENT_SECRET, webhookPublicKey: null, agentKey: '', openclawToken: '' });
    assert.throws(
      () => validateGatewayConfig(config),
      (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /config host: "0\.0\.0\.0" is not a loopback/.test(err.message) && /config publicHost:/.test(err.message) && /config numbers: "5550100" is not E\.164/.test(err.message),
    );
  });

  it('realtime transfer targets must be E.164 (at most 20); they and the DTMF tool reach the agent config', () => {
    const secrets = { agentSecret: AGENT_SECRET, webhookPublicKey: null, agentKey: 'k', openclawToken: '' };
    const ok = gatewayConfigFromSettings(loadGatewaySettings({ config: write('rt-ok.json', { ...good(), agent: { kind: 'realtime', transferTargets: ['+15550300002'], dtmf: true } }) }, {}), secrets);
    validateGatewayConfig(ok);
    assert.deepEqual(ok.agent.kind === 'realtime' && [ok.agent.transferTargets, ok.agent.dtmf], [['+15550300002'], true]);
    const off = gatewayConfigFromSettings(loadGatewaySettings({ config: write('rt-off.json', { ...good(), agent: { kind: 'realtime' } }) }, {}), secrets);
    assert.deepEqual(off.agent.kind === 'realtime' && [off.agent.transferTargets, off.agent.dtmf], [[], false], 'no tools unless asked for');
    const many = Array.from({ length: 21 }, (_, i) => `+1555030${String(i).padStart(4, '0')}`);
    for (const [targets, pattern] of [
      [['5550300002'], /agent\.transferTargets: "5550300002" is not E\.164/],
      [['+1555 030 0002'], /agent\.transferTargets: "\+1555 030 0002" is not E\.164/],
      [many, /agent\.transferTargets: at most 20 numbers/],
    ] as const) {
      const bad = gatewayConfigFromSettings(loadGatewaySettings({ config: write('rt-bad.json', { ...good(), agent: { kind: 'realtime', transferTargets: targets } }) }, {}), secrets);
      assert.throws(() => validateGatewayConfig(bad), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && pattern.test(err.message));
    }
  });

  it('the hosted realtime API without a key is refused at start (every call would fail); a local server may go without', () => {
    const keyless = { agentSecret: AGENT_SECRET, webhookPublicKey: null, agentKey: '', openclawToken: '' };
    assert.throws(
      () => gatewayConfigFromSettings(loadGatewaySettings({ config: write('rt-nokey.json', { ...good(), agent: { kind: 'realtime' } }) }, {}), keyless),
      (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /agent\.keyFile: is required for wss:\/\/api\.openai\.com\/v1\/realtime/.test(err.message),
    );
    const local = gatewayConfigFromSettings(loadGatewaySettings({ config: write('rt-local.json', { ...good(), agent: { kind: 'realtime', url: 'ws://127.0.0.1:9400/v1/realtime' } }) }, {}), keyless);
    validateGatewayConfig(local);
  });

  it('the realtime caller transcription model is off by default, passed through when named, refused when odd', () => {
    const secrets = { agentSecret: AGENT_SECRET, webhookPublicKey: null, agentKey: 'k', openclawToken: '' };
    const off = gatewayConfigFromSettings(loadGatewaySettings({ config: write('tr-off.json', { ...good(), agent: { kind: 'realtime' } }) }, {}), secrets);
    assert.equal(off.agent.kind === 'realtime' && off.agent.transcriptionModel, '');
    const on = gatewayConfigFromSettings(loadGatewaySettings({ config: write('tr-on.json', { ...good(), agent: { kind: 'realtime', transcriptionModel: 'gpt-4o-mini-transcribe' } }) }, {}), secrets);
    assert.equal(on.agent.kind === 'realtime' && on.agent.transcriptionModel, 'gpt-4o-mini-transcribe');
    assert.match(problemsOf({ config: write('tr-bad.json', { ...good(), agent: { kind: 'realtime', transcriptionModel: 'x"; drop' } }) }), /agent\.transcriptionModel: expected regex, got "x\\"; drop"; from file/);
  });

  it('unknown keys are refused, at the top level and nested, with the keys that exist', () => {
    const message = problemsOf({ config: write('unknown.json', { ...good(), tunelPort: 8080, agent: { kind: 'echo', modle: 'x' } }) });
    assert.match(message, /tunelPort: unknown key \(file .*\); expected one of: host, tunnelPort, localPort/);
    assert.match(message, /agent\.modle: unknown key \(file .*\); expected one of: kind, url, model/);
  });

  it('a secret written inline is a config error pointing at the *File key, and its value is never repeated', () => {
    for (const [patch, pattern] of [
      [{ agentSecret: INLINE_SECRET }, /agentSecret: a secret may not be written in the config file.*set agentSecretFile to its path.*systemd credential "agent-secret"/],
      [{ webhookPublicKey: INLINE_SECRET }, /webhookPublicKey: .*set webhookPublicKeyFile/],
      [{ agent: { kind: 'realtime', apiKey: INLINE_SECRET } }, /agent\.apiKey: .*set agent\.keyFile/],
      [{ agent: { kind: 'openclaw', openclawToken: INLINE_SECRET } }, /agent\.openclawToken: .*set agent\.openclawTokenFile/],
      [{ platformToken: INLINE_SECRET }, /platformToken: looks like a secret written in the config file/],
    ] as const) {
      const message = problemsOf({ config: write('inline.json', { ...good(), ...patch }) });
      assert.match(message, pattern);
      assert.ok(!message.includes(INLINE_SECRET), message);
    }
  });

  it('a config file that is not JSON is refused without quoting it', () => {
    const message = problemsOf({ config: write('broken.json', `{"agentSecretFile": "${INLINE_SECRET}",`) });
    assert.match(message, /broken\.json: not valid JSON/);
    assert.ok(!message.includes(INLINE_SECRET));
    assert.match(problemsOf({ config: join(dir, 'missing.json') }), /missing\.json: cannot read/);
    assert.match(problemsOf({ config: write('list.json', '[1,2]') }), /must hold one JSON object/);
  });

  it('YAML works the same (.yaml), with the same refusals', () => {
    const path = write('gw.yaml', `publicHost: gw.trycloudflare.com\nplatformUrl: https://platform.example.com\ndeploymentId: demo-1\nnumbers:\n  - "+15550100000"\nagentSecretFile: ${join(dir, 'agent.secret')}\ntunnelPort: 9100\n`);
    const loaded = loadGatewaySettings({ config: path }, {});
    assert.equal(loaded.settings.tunnelPort, 9100);
    assert.deepEqual(loaded.settings.numbers, ['+15550100000']);
    assert.match(problemsOf({ config: write('bad.yaml', 'tunnelPort: [1\n') }), /bad\.yaml: not valid YAML \(line/);
    assert.match(problemsOf({ config: write('secret.yml', `agentSecret: ${INLINE_SECRET}\n`) }), /agentSecret: a secret may not be written/);
  });

  it('a secret is read from the file its *File key names', () => {
    const loaded = loadGatewaySettings({ config: write('good.json', good()) }, {});
    assert.equal(loaded.secrets.agentSecret.path, join(dir, 'agent.secret'));
    assert.equal(readSecret('agentSecretFile', loaded.secrets.agentSecret), AGENT_SECRET);
    const empty = write('empty.secret', '\n');
    const emptyLoaded = loadGatewaySettings({ config: write('empty.json', { ...good(), agentSecretFile: empty }) }, {});
    assert.throws(() => readSecret('agentSecretFile', emptyLoaded.secrets.agentSecret), /agentSecretFile .*empty\.secret .*cannot read secret: file is empty/);
  });

  it('systemd credentials: the usual name in $CREDENTIALS_DIRECTORY when the key is unset, and credential:NAME', () => {
    const { agentSecretFile: _unset, ...withoutSecret } = good();
    const env = { CREDENTIALS_DIRECTORY: dir };
    const implicit = loadGatewaySettings({ config: write('nosecret.json', withoutSecret) }, env);
    assert.equal(implicit.secrets.agentSecret.path, join(dir, 'agent-secret'));
    assert.equal(implicit.secrets.agentSecret.origin, 'systemd credential agent-secret');
    assert.equal(readSecret('agentSecretFile', implicit.secrets.agentSecret), CRED_SECRET);
    // Not passed by systemd: not configured (the webhook key fails closed at run time).
    assert.equal(implicit.secrets.webhookPublicKey.path, null);

    const named = loadGatewaySettings({ config: write('named.json', { ...withoutSecret, agentSecretFile: 'credential:agent-secret' }) }, env);
    assert.equal(named.secrets.agentSecret.path, join(dir, 'agent-secret'));
    assert.match(named.secrets.agentSecret.origin, /systemd credential agent-secret/);

    assert.throws(() => loadGatewaySettings({ config: write('nodir.json', { ...withoutSecret, agentSecretFile: 'credential:agent-secret' }) }, {}), /needs systemd's \$CREDENTIALS_DIRECTORY/);
    assert.throws(() => loadGatewaySettings({ config: write('escape.json', { ...withoutSecret, agentSecretFile: 'credential:../etc/shadow' }) }, env), /is not a credential name/);
  });

  it('environment overrides the file for the usual keys; secret values in the environment are ignored and named', () => {
    const loaded = loadGatewaySettings(
      { config: write('good.json', { ...good(), tunnelPort: 9000 }) },
      { TTMA_TUNNEL_PORT: '9200', TTMA_NUMBERS: '+15550100001, +15550100002', TTMA_CODEC: 'pcma', TTMA_AGENT_SECRET: INLINE_SECRET, TTMA_LOG_LEVEL: 'warn' },
    );
    assert.equal(loaded.settings.tunnelPort, 9200);
    assert.equal(loaded.sourceOf('tunnelPort'), 'env TTMA_TUNNEL_PORT');
    assert.deepEqual(loaded.settings.numbers, ['+15550100001', '+15550100002']);
    assert.equal(loaded.settings.codec, 'PCMA');
    assert.equal(loaded.settings.logLevel, 'warn');
    assert.deepEqual(loaded.ignoredSecretEnv, ['TTMA_AGENT_SECRET']);
    assert.equal(readSecret('agentSecretFile', loaded.secrets.agentSecret), AGENT_SECRET);
    assert.match(problemsOf({ config: write('good.json', good()) }, { TTMA_WORKERS: 'many' }), /workers: wrong type: expected number, got "many"; from env TTMA_WORKERS/);
    // TTMA_CONFIG names the file when --config is not given.
    assert.equal(loadGatewaySettings({}, { TTMA_CONFIG: write('good.json', good()) }).settings.deploymentId, 'demo-1');
  });

  it('precedence: flags > environment > file > defaults, key by key', () => {
    const path = write('prec.json', { ...good(), tunnelPort: 9001, localPort: 9101, maxCalls: 10 });
    const env = { TTMA_TUNNEL_PORT: '9002', TTMA_LOCAL_PORT: '9102' };
    const flags = { config: path, 'tunnel-port': '9003' };
    const loaded = loadGatewaySettings(flags, env);
    assert.equal(loaded.settings.tunnelPort, 9003);
    assert.equal(loaded.sourceOf('tunnelPort'), 'flag --tunnel-port');
    assert.equal(loaded.settings.localPort, 9102);
    assert.equal(loaded.sourceOf('localPort'), 'env TTMA_LOCAL_PORT');
    assert.equal(loaded.settings.maxCalls, 10);
    assert.equal(loaded.sourceOf('maxCalls'), `file ${path}`);
    assert.equal(loaded.settings.mailboxFrames, 50);
    assert.equal(loaded.sourceOf('mailboxFrames'), 'default');
    // A flag naming a secret file wins over the file's and over the systemd credential.
    const other = write('other.secret', 'another-agent-secret-0123456789');
    const fromFlag = loadGatewaySettings({ ...flags, 'agent-secret-file': other }, { ...env, CREDENTIALS_DIRECTORY: dir });
    assert.equal(fromFlag.secrets.agentSecret.path, other);
    assert.equal(fromFlag.secrets.agentSecret.origin, 'flag --agent-secret-file');
  });

  it('flags alone still make a whole config, as before the file existed (the demo, the systemd units)', () => {
    const loaded = loadGatewaySettings({
      'tunnel-port': '8080', 'local-port': '8081', 'public-host': 'gw.trycloudflare.com', 'platform-url': 'https://platform.example.com',
      'deployment-id': 'example', number: ['+15550100000', '+15550100001'], 'agent-secret-file': join(dir, 'agent.secret'),
      agent: 'ws', 'agent-url': 'ws://127.0.0.1:9999/agent', codec: 'OPUS', 'jitter-max-ms': '120',
    }, {});
    const config = gatewayConfigFromSettings(loaded, { agentSecret: AGENT_SECRET, webhookPublicKey: null, agentKey: '', openclawToken: '' });
    validateGatewayConfig(config);
    assert.deepEqual(config.numbers, ['+15550100000', '+15550100001']);
    assert.deepEqual(config.agent, { kind: 'ws', url: 'ws://127.0.0.1:9999/agent', token: '', bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } });
    assert.equal(config.jitterMaxDelayMs, 120);
    assert.throws(() => loadGatewaySettings({ 'tunnel-port': '70000' }, {}), (err) => isTtmaError(err, 'TTMA_ERR_CLI_USAGE') && /--tunnel-port must be an integer from 0 to 65535/.test(err.message));
  });
});
