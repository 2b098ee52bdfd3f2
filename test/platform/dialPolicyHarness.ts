/**
 * A platform with the dialling-policy tests' deployments registered, and their dials: allowed
 * (200), or refused (403 with the code and the reason, nothing reaching the provider).
 */
import assert from 'node:assert/strict';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, startHarness, type Harness } from './helpers.js';

export interface DialTarget {
  id: string;
  tunnelHost: string;
}

export interface DialPolicyHarness {
  h: Harness;
  secret(id: string): string;
  allowed(d: DialTarget, to: string): Promise<void>;
  refused(d: DialTarget, to: string, reason: string | RegExp, code?: string): Promise<void>;
}

/** Registers `deployments` (the admin API's body) on a new harness; `tag` names the media ids. */
export async function startDialPolicyHarness(deployments: readonly DialTarget[], tag: string): Promise<DialPolicyHarness> {
  const h = await startHarness({ rateLimit: { ratePerSec: 10_000, burst: 10_000 } });
  const secrets = new Map<string, string>();
  for (const d of deployments) {
    const created = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: d });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    secrets.set(d.id, created.body.agentSecret as string);
  }
  let seq = 0;
  const dial = (d: DialTarget, to: string) =>
    call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(d.id, secrets.get(d.id)!),
      body: { to, stream_url: `wss://${d.tunnelHost}/v1/media/${tag}-${Date.now()}-${++seq}`, stream_auth_token: STREAM_TOKEN },
    });
  const posts = () => h.provider.requests.filter((r) => r.method === 'POST').length;
  return {
    h,
    secret: (id) => secrets.get(id)!,
    async allowed(d, to) {
      const res = await dial(d, to);
      assert.equal(res.status, 200, `${d.id} -> ${to}: ${JSON.stringify(res.body)}`);
    },
    async refused(d, to, reason, code = 'TTMA_ERR_DIAL_POLICY') {
      const before = posts();
      const res = await dial(d, to);
      assert.equal(res.status, 403, `${d.id} -> ${to}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, `${d.id} -> ${to}`);
      if (typeof reason === 'string') assert.equal(res.body.error.message, reason, `${d.id} -> ${to}`);
      else assert.match(res.body.error.message, reason, `${d.id} -> ${to}`);
      assert.equal(posts(), before, `${d.id} -> ${to}: nothing reached the provider`);
    },
  };
}
