/**
 * FAQ-12 with providerApiKeySecret: what an attacker on the path to the
 * vault, or a look-alike of it, could try. Each attack is accepted if the
 * platform would take a key (or send its token) it should not, or wait on
 * the vault without bound. Real HTTP on loopback against the simulator.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { fetchProviderKey, secretManagerTarget } from '../../src/platform/vault/secretManager.js';
import { SecretManagerSimulator } from '../../src/sim/SecretManagerSimulator.js';
import { attack } from './attacks.js';

const SECRET = 'provider-api-key';
const sim = new SecretManagerSimulator();
let url = '';
let metadataHost = '';
const name = () => `projects/${sim.projectId}/secrets/${SECRET}`;

before(async () => {
  ({ url, metadataHost } = await sim.start());
  sim.addVersion(SECRET, 'KEYreal-provider-key-0123456789');
});
after(() => sim.stop());

/** The key the platform would take, or the code it refused with. */
async function outcome(target = secretManagerTarget(name(), url, metadataHost), timeoutMs?: number): Promise<{ key?: string; code?: string }> {
  try {
    return { key: (await fetchProviderKey(target, timeoutMs)).key };
  } catch (err) {
    if (isTtmaError(err)) return { code: err.code };
    throw err;
  }
}

attack('vault: a look-alike metadata server (no Metadata-Flavor answer) issues the token', async (probe) => {
  // A relay in front of the real metadata server (an open proxy, a mis-set GCE_METADATA_HOST): the token is genuine, the answer is not the server's.
  const impostor = http.createServer((_req, res) => {
    void fetch(`${url}/computeMetadata/v1/instance/service-accounts/default/token`, { headers: { 'metadata-flavor': 'Google' } })
      .then((r) => r.text())
      .then((text) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(text);
      });
  });
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  try {
    const got = await outcome(secretManagerTarget(name(), url, `127.0.0.1:${(impostor.address() as AddressInfo).port}`));
    probe.goal(got.key !== undefined, 'the platform used a token from a server that is not a metadata server');
  } finally {
    impostor.closeAllConnections();
    await new Promise<void>((resolve) => impostor.close(() => resolve()));
  }
});

attack('vault: a payload altered in transit (its CRC32C left as it was) becomes the provider key', async (probe) => {
  sim.tamper = (a) => ({ ...a, payload: { ...a.payload, data: Buffer.from('KEYattacker-chosen-key-01234567').toString('base64') } });
  try {
    const got = await outcome();
    probe.goal(got.key !== undefined, 'the altered payload was taken as the key');
    if (got.code !== ErrorCodes.VAULT_PAYLOAD) throw new Error(`refused with ${got.code}, not TTMA_ERR_VAULT_PAYLOAD`);
  } finally {
    sim.tamper = null;
  }
});

attack('vault: an answer for another secret\'s version is taken as this one', async (probe) => {
  sim.tamper = (a) => ({ ...a, name: `projects/${sim.projectNumber}/secrets/attacker-secret/versions/1` });
  try {
    probe.goal((await outcome()).key !== undefined, 'a version of another secret was taken');
  } finally {
    sim.tamper = null;
  }
});

attack('vault: a vault that never answers holds the platform\'s start without bound', async (probe) => {
  sim.stall = 'access';
  try {
    const started = Date.now();
    const got = await Promise.race([outcome(undefined, 300), new Promise<{ key?: string; code?: string }>((resolve) => setTimeout(() => resolve({ code: 'still waiting' }), 10_000).unref())]);
    probe.goal(got.code !== ErrorCodes.VAULT_UNREACHABLE, `still waiting after ${Date.now() - started} ms`);
  } finally {
    sim.stall = null;
  }
});

attack('vault: the metadata token is sent over plain http to a Secret Manager elsewhere', (probe) => {
  let accepted = true;
  try {
    secretManagerTarget(name(), 'http://secretmanager.attacker.example', metadataHost);
  } catch (err) {
    accepted = !isTtmaError(err, ErrorCodes.CONFIG);
  }
  probe.goal(accepted, 'a plain-http endpoint off this machine was accepted for the Bearer token');
});
