/**
 * FAQ-12: the provider API key from Google Cloud Secret Manager, fetched over
 * real HTTP on loopback from the simulator (src/sim/SecretManagerSimulator.ts):
 * the key and its version on success; every failure (no answer, a slow one,
 * each refusal, a corrupt, empty or foreign payload, something that is not a
 * metadata server) is its typed error, and no error carries the key.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes, isTtmaError, type ErrorCode } from '../../src/errors.js';
import { crc32c } from '../../src/platform/vault/crc32c.js';
import { fetchProviderKey, secretManagerTarget, type SecretManagerTarget } from '../../src/platform/vault/secretManager.js';
import { SecretManagerSimulator, type AccessAnswer } from '../../src/sim/SecretManagerSimulator.js';

const KEY = 'KEYvault-held-provider-key-0123456789abcdef';
const SECRET = 'provider-api-key';

describe('CRC32C', () => {
  it('gives the standard check value, 0xE3069283 for "123456789", and agrees with the simulator\'s bitwise one', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
    // RFC 3720 appendix B.4's vectors: 32 zero bytes, 32 bytes of 0xFF, 0x00..0x1F ascending.
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    for (let n = 0; n < 200; n++) {
      const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + n * 7) & 0xff));
      assert.equal(crc32c(bytes), SecretManagerSimulator.crc32c(bytes), `length ${n}`);
    }
  });
});

describe('the provider key from Secret Manager', () => {
  const sim = new SecretManagerSimulator();
  let target: SecretManagerTarget;
  let url = '';
  let metadataHost = '';
  const seenErrors: unknown[] = [];

  before(async () => {
    ({ url, metadataHost } = await sim.start());
    target = secretManagerTarget(`projects/${sim.projectId}/secrets/${SECRET}`, url, metadataHost);
  });
  after(async () => {
    await sim.stop();
  });

  async function refused(code: ErrorCode, pattern: RegExp, t: SecretManagerTarget = target, timeoutMs?: number): Promise<void> {
    await assert.rejects(fetchProviderKey(t, timeoutMs), (err: unknown) => {
      assert.ok(isTtmaError(err), String(err));
      assert.equal(err.code, code, err.message);
      assert.match(err.message, pattern);
      seenErrors.push(err);
      return true;
    });
  }

  it('fetches the latest version with a metadata token: the key, and the version it came from', async () => {
    sim.addVersion(SECRET, `${KEY}\n`);
    const got = await fetchProviderKey(target);
    assert.deepEqual(got, { key: KEY, version: `projects/${sim.projectNumber}/secrets/${SECRET}/versions/1` });
    const [token, access] = sim.requests.slice(-2);
    assert.equal(token!.headers['metadata-flavor'], 'Google');
    assert.equal(access!.path, `/v1/projects/${sim.projectId}/secrets/${SECRET}/versions/latest:access`);
    assert.match(access!.headers.authorization ?? '', /^Bearer ya29\.sim-/);
    // A pinned version stays pinned; latest follows a new one.
    sim.addVersion(SECRET, `${KEY}-v2`);
    const pinned = secretManagerTarget(`projects/${sim.projectNumber}/secrets/${SECRET}/versions/1`, url, metadataHost);
    assert.equal((await fetchProviderKey(pinned)).key, KEY);
    assert.deepEqual(await fetchProviderKey(target), { key: `${KEY}-v2`, version: `projects/${sim.projectNumber}/secrets/${SECRET}/versions/2` });
  });

  it('fails closed on each refusal: no permission, no such secret or version, a disabled or destroyed version', async () => {
    sim.allowed = false;
    await refused(ErrorCodes.VAULT_REFUSED, /^Secret Manager refused: HTTP 403 PERMISSION_DENIED: Permission 'secretmanager\.versions\.access' denied/);
    sim.allowed = true;
    await refused(ErrorCodes.VAULT_REFUSED, /HTTP 404 NOT_FOUND/, secretManagerTarget(`projects/${sim.projectId}/secrets/other`, url, metadataHost));
    await refused(ErrorCodes.VAULT_REFUSED, /HTTP 404 NOT_FOUND/, secretManagerTarget(`projects/someone-else/secrets/${SECRET}`, url, metadataHost));
    sim.setState(SECRET, 2, 'DISABLED');
    await refused(ErrorCodes.VAULT_REFUSED, /HTTP 400 FAILED_PRECONDITION: .*versions\/2 is in DISABLED state/);
    sim.setState(SECRET, 2, 'DESTROYED');
    await refused(ErrorCodes.VAULT_REFUSED, /DESTROYED state/);
  });

  it('fails closed on a corrupt payload: a flipped byte (CRC32C), no checksum, not base64, not JSON, another version', async () => {
    sim.addVersion(SECRET, KEY);
    const tamper = async (edit: (a: AccessAnswer) => unknown, pattern: RegExp) => {
      sim.tamper = edit;
      try {
        await refused(ErrorCodes.VAULT_PAYLOAD, pattern);
      } finally {
        sim.tamper = null;
      }
    };
    const flipped = (a: AccessAnswer) => {
      const bytes = Buffer.from(a.payload.data, 'base64');
      bytes[5] = bytes[5]! ^ 0x01;
      return { ...a, payload: { ...a.payload, data: bytes.toString('base64') } };
    };
    await tamper(flipped, /versions\/3: payload CRC32C mismatch/);
    await tamper((a) => ({ ...a, payload: { ...a.payload, dataCrc32c: String((Number(a.payload.dataCrc32c) + 1) >>> 0) } }), /CRC32C mismatch/);
    await tamper((a) => ({ ...a, payload: { data: a.payload.data } }), /dataCrc32c is missing/);
    await tamper((a) => ({ ...a, payload: { ...a.payload, data: `${a.payload.data}!` } }), /not base64/);
    await tamper((a) => ({ ...a, name: `projects/${sim.projectNumber}/secrets/other/versions/1` }), /another or no secret version/);
    await tamper(() => [KEY], /not a JSON object/);
    assert.equal((await fetchProviderKey(target)).key, KEY, 'untampered, the same version serves');
  });

  it('fails closed on an empty key, whitespace only, a key with whitespace inside, or bytes that are not UTF-8', async () => {
    for (const [data, pattern] of [
      ['', /the payload is empty/],
      [' \n\t', /the payload is empty/],
      [`${KEY} ${KEY}`, /whitespace inside the key/],
      [Buffer.from([0x4b, 0xff, 0xfe]), /not UTF-8/],
    ] as const) {
      sim.addVersion(SECRET, data);
      await refused(ErrorCodes.VAULT_PAYLOAD, pattern);
    }
    sim.addVersion(SECRET, KEY);
  });

  it('fails closed, in bounded time, when the metadata server or Secret Manager does not answer', async () => {
    for (const stall of ['token', 'access'] as const) {
      sim.stall = stall;
      const started = Date.now();
      await refused(ErrorCodes.VAULT_UNREACHABLE, stall === 'token' ? /^metadata server: no answer within the vault timeout/ : /^Secret Manager: no answer within the vault timeout/, target, 300);
      assert.ok(Date.now() - started < 5_000, `gave up after ${Date.now() - started} ms`);
    }
    sim.stall = null;
    // Nothing listening: refused at once.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await refused(ErrorCodes.VAULT_UNREACHABLE, /^metadata server: .*ECONNREFUSED/, secretManagerTarget(`projects/${sim.projectId}/secrets/${SECRET}`, url, `127.0.0.1:${port}`));
    await refused(ErrorCodes.VAULT_UNREACHABLE, /^Secret Manager: .*ECONNREFUSED/, secretManagerTarget(`projects/${sim.projectId}/secrets/${SECRET}`, `http://127.0.0.1:${port}`, metadataHost));
  });

  it('refuses a token from something that is not a metadata server, and a metadata request without its header', async () => {
    // A server on the metadata address that does not say Metadata-Flavor: Google (a proxy, a captive portal).
    const impostor = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'ya29.impostor', expires_in: 3599, token_type: 'Bearer' }));
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    try {
      const host = `127.0.0.1:${(impostor.address() as AddressInfo).port}`;
      await refused(ErrorCodes.VAULT_REFUSED, /lacks Metadata-Flavor: Google/, secretManagerTarget(`projects/${sim.projectId}/secrets/${SECRET}`, url, host));
    } finally {
      impostor.closeAllConnections();
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
    }
    // The simulator is faithful: the header is required, a forwarded request is refused.
    const tokenUrl = `${url}/computeMetadata/v1/instance/service-accounts/default/token`;
    assert.equal((await fetch(tokenUrl)).status, 403);
    assert.equal((await fetch(tokenUrl, { headers: { 'metadata-flavor': 'Google', 'x-forwarded-for': '10.0.0.1' } })).status, 403);
    // And Secret Manager wants a token the metadata server gave.
    const unauth = await fetch(`${url}/v1/projects/${sim.projectId}/secrets/${SECRET}/versions/latest:access`, { headers: { authorization: 'Bearer ya29.forged' } });
    assert.equal(unauth.status, 401);
    assert.equal(((await unauth.json()) as { error: { status: string } }).error.status, 'UNAUTHENTICATED');
  });

  it('checks the configuration before any request: the secret name, https (plain http only to loopback), the metadata host', () => {
    const config = (fn: () => unknown, pattern: RegExp) =>
      assert.throws(fn, (err: unknown) => isTtmaError(err, ErrorCodes.CONFIG) && pattern.test(err.message));
    for (const name of ['provider-api-key', 'projects/p/secrets/', 'projects/p/secrets/s/versions/0', 'projects/P/secrets/s', 'projects/p/secrets/s/versions/latest/x']) {
      config(() => secretManagerTarget(name, url, metadataHost), /providerApiKeySecret/);
    }
    for (const bad of ['http://secretmanager.googleapis.com', 'https://user:pw@secretmanager.googleapis.com', 'https://secretmanager.googleapis.com/v1', 'https://h?x=1', 'ftp://h', 'nope']) {
      config(() => secretManagerTarget(`projects/p/secrets/${SECRET}`, bad, metadataHost), /secretManagerUrl/);
    }
    for (const bad of ['http://127.0.0.1', 'a/b', 'user@host', '']) config(() => secretManagerTarget(`projects/p/secrets/${SECRET}`, url, bad), /GCE_METADATA_HOST/);
    assert.equal(secretManagerTarget('projects/p/secrets/s', 'https://secretmanager.me-central2.rep.googleapis.com', 'metadata.google.internal').versionName, 'projects/p/secrets/s/versions/latest');
  });

  it('no error names the key, in its message, its cause or its JSON', () => {
    assert.ok(seenErrors.length >= 15, `errors seen: ${seenErrors.length}`);
    const parts = [KEY, Buffer.from(KEY).toString('base64').slice(0, 24), KEY.slice(3, 25)];
    for (const err of seenErrors) {
      const texts: string[] = [];
      for (let e: unknown = err; e instanceof Error; e = e.cause) texts.push(e.message, e.stack ?? '', JSON.stringify(e));
      for (const text of texts) for (const part of parts) assert.equal(text.includes(part), false, `error leaked the key: ${text}`);
    }
  });
});
