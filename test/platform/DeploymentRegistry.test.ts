import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { DeploymentRegistry } from '../../src/platform/DeploymentRegistry.js';
import { isTtmaError } from '../../src/errors.js';

const good = { id: 'acme-1', numbers: ['+15551230001'], tunnelHost: 'acme.trycloudflare.com' };

async function refusal(promise: Promise<unknown>): Promise<{ code: string; status: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isTtmaError(err), `expected a TtmaError, got ${String(err)}`);
    return { code: err.code, status: err.status, message: err.message };
  }
  assert.fail('expected a refusal');
}

describe('DeploymentRegistry', () => {
  it('registers, returns a generated secret once and stores only its SHA-256', async () => {
    const registry = new DeploymentRegistry();
    const { agentSecret } = await registry.register(good);
    assert.match(agentSecret, /^[A-Za-z0-9_-]{43}$/);
    const stored = await registry.get('acme-1');
    assert.ok(stored);
    assert.deepEqual(stored.agentSecretSha256, createHash('sha256').update(agentSecret).digest());
    assert.ok(!JSON.stringify(stored).includes(agentSecret));
    assert.equal(Object.values(stored).includes(agentSecret), false);
  });

  it('keeps a supplied secret and refuses weak ones', async () => {
    const registry = new DeploymentRegistry();
    const secret = 's'.repeat(40);
    assert.equal((await registry.register({ ...good, agentSecret: secret })).agentSecret, secret);
    const weak = await refusal(registry.register({ ...good, id: 'acme-2', numbers: ['+15551230002'], agentSecret: 'short' }));
    assert.equal(weak.code, 'TTMA_ERR_BAD_REQUEST');
  });

  it('validates ids', async () => {
    const registry = new DeploymentRegistry();
    for (const id of ['ab', 'Acme', '-acme', 'acme_1', 'acme.1', 'a'.repeat(64), 'acme/../x', ' acme', 'acme\n', '']) {
      const r = await refusal(registry.register({ ...good, id }));
      assert.equal(r.status, 400, `id ${JSON.stringify(id)}`);
    }
    for (const id of ['abc', '0ab', 'a'.repeat(63), 'a-b-c']) {
      const n = `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
      await registry.register({ ...good, id, numbers: [n], tunnelHost: `${id}.trycloudflare.com` });
    }
  });

  it('validates numbers as E.164', async () => {
    const registry = new DeploymentRegistry();
    const bad = ['+0123456789', '15551230001', '+1', '+123456', '+1234567890123456', '+1 5551230001', ' +15551230001', '+15551230001\n', '+1555123000a', '++15551230001'];
    for (const number of bad) {
      const r = await refusal(registry.register({ ...good, numbers: [number] }));
      assert.equal(r.status, 400, `number ${JSON.stringify(number)}`);
    }
    assert.equal((await refusal(registry.register({ ...good, numbers: [] }))).status, 400);
    assert.equal((await refusal(registry.register({ ...good, numbers: ['+15551230001', '+15551230001'] }))).status, 400);
    await registry.register({ ...good, numbers: ['+1234567', '+123456789012345'] });
  });

  it('accepts tunnel hosts only under an approved domain, by whole labels', async () => {
    const registry = new DeploymentRegistry();
    const attacks = [
      'eviltrycloudflare.com',
      'trycloudflare.com',
      'trycloudflare.com.evil.com',
      'x.trycloudflare.com.',
      'X.trycloudflare.com',
      'x.trycloudflare.co',
      'x..trycloudflare.com',
      '.trycloudflare.com',
      'x_y.trycloudflare.com',
      '-x.trycloudflare.com',
      'x-.trycloudflare.com',
      'x.trycloudflare.com:443',
      'user@x.trycloudflare.com',
      'x.trycloudflare.com/path',
      'x.evil.com#.trycloudflare.com',
      'evil.com\u0000.trycloudflare.com',
      'x.trycloudflare.com ',
      'xn--e1afmkfd.evilcfargotunnel.com',
      `${'a'.repeat(64)}.trycloudflare.com`,
      'evil.com',
    ];
    for (const tunnelHost of attacks) {
      const r = await refusal(registry.register({ ...good, tunnelHost }));
      assert.equal(r.status, 400, `tunnel host ${JSON.stringify(tunnelHost)}`);
      assert.equal(registry.isApprovedTunnelHost(tunnelHost), false, tunnelHost);
    }
    for (const host of ['a.trycloudflare.com', 'a-b.c.cfargotunnel.com', 'abc123.cfargotunnel.com']) {
      assert.equal(registry.isApprovedTunnelHost(host), true, host);
    }
    const custom = new DeploymentRegistry({ approvedTunnelDomains: ['tunnels.example.net'] });
    assert.equal(custom.isApprovedTunnelHost('a.tunnels.example.net'), true);
    assert.equal(custom.isApprovedTunnelHost('a.trycloudflare.com'), false);
    assert.equal(custom.isApprovedTunnelHost('a.eviltunnels.example.net'), false);
    assert.throws(() => new DeploymentRegistry({ approvedTunnelDomains: [] }), /at least one/);
    assert.throws(() => new DeploymentRegistry({ approvedTunnelDomains: ['com'] }), /two labels/);
    for (const bad of ['co.uk', 'com.au', '*.example.com', 'https://example.com', 'example.com.', 'example.com:443', 'Example.com', '']) {
      assert.throws(() => new DeploymentRegistry({ approvedTunnelDomains: [bad] }), /refused/, bad);
    }
    const zone = new DeploymentRegistry({ approvedTunnelDomains: ['tunnels.example.co.uk'] });
    assert.equal(zone.isApprovedTunnelHost('gw.tunnels.example.co.uk'), true);
    assert.equal(zone.isApprovedTunnelHost('gw.evil-tunnels.example.co.uk'), false);
  });

  it('refuses a second deployment with the same id or a number already owned', async () => {
    const registry = new DeploymentRegistry();
    await registry.register(good);
    assert.equal((await refusal(registry.register({ ...good, numbers: ['+15551230009'] }))).status, 409);
    assert.equal((await refusal(registry.register({ ...good, id: 'other-1' }))).status, 409);
    assert.equal(await registry.get('other-1'), undefined);
  });

  it('authenticates in one way and refuses every failure identically', async () => {
    const registry = new DeploymentRegistry();
    const { agentSecret } = await registry.register(good);
    assert.equal((await registry.authenticate('acme-1', agentSecret)).id, 'acme-1');
    const failures = await Promise.all([
      refusal(registry.authenticate('acme-1', `${agentSecret}x`)),
      refusal(registry.authenticate('acme-1', agentSecret.slice(1))),
      refusal(registry.authenticate('nobody-here', agentSecret)),
      refusal(registry.authenticate('acme-1', undefined)),
      refusal(registry.authenticate('acme-1', '')),
      refusal(registry.authenticate(undefined, agentSecret)),
      refusal(registry.authenticate('ACME-1', agentSecret)),
    ]);
    for (const f of failures) assert.deepEqual(f, failures[0]);
    assert.equal(failures[0]?.status, 401);
    assert.equal(failures[0]?.code, 'TTMA_ERR_AUTH');
    await registry.setDisabled('acme-1', true);
    assert.equal((await refusal(registry.authenticate('acme-1', agentSecret))).status, 403);
  });

  it('finds deployments by exact number only', async () => {
    const registry = new DeploymentRegistry();
    await registry.register({ ...good, numbers: ['+15551230001', '+442071234567'] });
    assert.equal((await registry.findByNumber('+15551230001'))?.id, 'acme-1');
    assert.equal((await registry.findByNumber('+442071234567'))?.id, 'acme-1');
    for (const near of ['15551230001', '+5551230001', '+1230001', '+115551230001', '+155512300011', '+15551230001 ', '']) {
      assert.equal(await registry.findByNumber(near), undefined, JSON.stringify(near));
    }
  });
});
