/**
 * FAQ-12 rotation: a platform that took its provider key from Secret Manager
 * puts a new `latest` version in use at the next refresh; a failed refresh
 * keeps the key in use and says why with its code. Real PlatformServer, the
 * fake provider recording each request's Authorization, the vault simulator;
 * neither key appears in a response to the gateway or a log line, even from
 * a provider that echoes the old one after the rotation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { ProviderKeyRefresher } from '../../src/platform/vault/ProviderKeyRefresher.js';
import { fetchProviderKey, secretManagerTarget } from '../../src/platform/vault/secretManager.js';
import { SecretManagerSimulator } from '../../src/sim/SecretManagerSimulator.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, capturingLogger, startHarness, type Harness, type JsonResponse } from './helpers.js';

const KEY_1 = 'KEYvault-first-0123456789abcdefghijklmnop';
const KEY_2 = 'KEYvault-second-0123456789abcdefghijklmno';
const SECRET = 'provider-api-key';
const DEP = { id: 'vault-dep', numbers: ['+15558880002'], tunnelHost: 'vault.trycloudflare.com' };

describe('the provider key rotated through Secret Manager', () => {
  const sim = new SecretManagerSimulator();
  let h: Harness;
  let refresher: ProviderKeyRefresher;
  let headers: Record<string, string>;
  const seen: JsonResponse[] = [];
  const { logger, lines } = capturingLogger();

  before(async () => {
    const { url, metadataHost } = await sim.start();
    sim.addVersion(SECRET, KEY_1);
    const target = secretManagerTarget(`projects/${sim.projectId}/secrets/${SECRET}`, url, metadataHost);
    const first = await fetchProviderKey(target);
    // One logger for the platform and the refresher, as `ttma platform` has.
    h = await startHarness({ providerApiKey: first.key, logger, provider: { backoffMs: 1, timeoutMs: 1_000, maxAttempts: 1 } });
    refresher = new ProviderKeyRefresher({
      fetch: () => fetchProviderKey(target),
      apply: (key) => h.platform.rotateProviderApiKey(key),
      current: first,
      intervalMs: 3_600_000,
      retryMs: 60_000,
      log: logger,
    });
    h.provider.acceptedKeys.clear();
    h.provider.acceptedKeys.add(KEY_1);
    headers = agentHeaders(DEP.id, (await h.platform.deployments.register(DEP)).agentSecret);
  });
  after(async () => {
    refresher.stop();
    await h.close();
    await sim.stop();
  });

  let n = 0;
  /** Dials once; the key the provider saw, and whether the dial went through. */
  async function dial(): Promise<{ key: string | undefined; status: number }> {
    const before = h.provider.requests.length;
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers, body: { to: '+15551234567', stream_url: `wss://${DEP.tunnelHost}/v1/media/vault-${n++}-abcdefgh`, stream_auth_token: STREAM_TOKEN } });
    seen.push(res);
    const key = h.provider.requests.slice(before).find((r) => r.method === 'POST')?.authorization?.replace(/^Bearer /, '');
    return { key, status: res.status };
  }
  const ok = (key: string) => ({ key, status: 200 });

  it('uses the fetched key, keeps it while nothing changed, and the new version after a refresh', async () => {
    assert.deepEqual(await dial(), ok(KEY_1));
    assert.equal(await refresher.refreshNow(), 'unchanged');
    assert.deepEqual(await dial(), ok(KEY_1));
    // The operator's rotation: a new key at the provider, a new version in the vault, then the old key revoked.
    h.provider.acceptedKeys.add(KEY_2);
    sim.addVersion(SECRET, KEY_2);
    assert.equal(await refresher.refreshNow(), 'rotated');
    h.provider.acceptedKeys.delete(KEY_1);
    assert.equal(refresher.version, `projects/${sim.projectNumber}/secrets/${SECRET}/versions/2`);
    assert.deepEqual(await dial(), ok(KEY_2));
    assert.ok(lines.some((l) => l.includes('provider API key rotated') && l.includes('versions/1') && l.includes('versions/2')));
  });

  it('a failed refresh (refused, corrupt, empty) keeps the key in use and logs its code', async () => {
    sim.allowed = false;
    assert.equal(await refresher.refreshNow(), 'failed');
    sim.allowed = true;
    sim.tamper = (a) => ({ ...a, payload: { ...a.payload, dataCrc32c: '1' } });
    assert.equal(await refresher.refreshNow(), 'failed');
    sim.tamper = null;
    sim.addVersion(SECRET, '\n');
    assert.equal(await refresher.refreshNow(), 'failed');
    assert.deepEqual(await dial(), ok(KEY_2));
    for (const code of [ErrorCodes.VAULT_REFUSED, ErrorCodes.VAULT_PAYLOAD]) {
      assert.ok(lines.some((l) => l.includes('provider API key refresh failed') && l.includes(code)), `${code} logged`);
    }
    h.provider.acceptedKeys.add(KEY_1);
    sim.addVersion(SECRET, KEY_1);
    assert.equal(await refresher.refreshNow(), 'rotated');
    assert.deepEqual(await dial(), ok(KEY_1));
  });

  it('neither key reaches the gateway or the log, even from a provider echoing the previous key', async () => {
    for (const echoed of [KEY_1, KEY_2]) {
      h.provider.override = () => ({ status: 401, body: { errors: [{ code: echoed, title: `Authentication failed for ${echoed}`, detail: echoed }] } });
      await dial();
    }
    h.provider.override = null;
    assert.ok(seen.some((r) => r.status === 502) && seen.some((r) => r.status === 200));
    const parts = [KEY_1, KEY_2, KEY_1.slice(3, 25), KEY_2.slice(3, 25)];
    for (const res of seen) {
      const text = JSON.stringify(res.body) + JSON.stringify([...res.headers.entries()]);
      for (const part of parts) assert.equal(text.includes(part), false, `response leaked a key: ${text}`);
    }
    for (const line of lines) for (const part of parts) assert.equal(line.includes(part), false, `log leaked a key: ${line}`);
  });
});
