/**
 * The control connection against a gateway that misbehaves with its own valid
 * secret, and against revocations racing the upgrade (real `ws` clients on
 * loopback against a real platform):
 * - a peer that floods tiny frames and never reads is answered once per
 *   window, not once per frame; one that lets more than 1 MiB wait is cut;
 *   frames alone do not keep a connection alive, only pongs do;
 * - a revoked connection is forgotten at once: what a peer that never reads
 *   the close frame sends afterwards is not taken as the deployment's;
 * - a rotation or disable landing while an authenticated upgrade waits on its
 *   store round trips refuses or closes it (in process, and through another
 *   platform process on the same Redis).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryDeploymentStore } from '../../src/platform/DeploymentRegistry.js';
import type { CapStore } from '../../src/platform/store/CapStore.js';
import { createCapStore } from '../../src/platform/store/createCapStore.js';
import { MemoryCapStore } from '../../src/platform/store/MemoryCapStore.js';
import { CLOSE_REVOKED, type PlatformControlMessage } from '../../src/wire/controlChannel.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { openControl, opened, type Opened, type Refused } from './controlClient.js';
import { adminHeaders, agentHeaders, call, dialledAndEnded, startHarness, type Harness, waitFor } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store call held, once, until the test releases it. */
class Gate {
  armed = false;
  readonly entered: Promise<void>;
  readonly released: Promise<void>;
  #enter!: () => void;
  #release!: () => void;
  constructor() {
    this.entered = new Promise((r) => (this.#enter = r));
    this.released = new Promise((r) => (this.#release = r));
  }
  async pass(): Promise<void> {
    if (!this.armed) return;
    this.armed = false;
    this.#enter();
    await this.released;
  }
  release(): void {
    this.#release();
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`timed out: ${what}`)))]);
}

/** The upgrade's outcome: refused over HTTP, or opened and then closed (with its code), or still open. */
async function outcome(pending: Promise<Opened | Refused>): Promise<{ refused: number } | { closed: number } | 'open'> {
  const result = await within(pending, 5_000, 'the upgrade answered');
  if (!('ws' in result)) return { refused: result.status };
  const closed = await Promise.race([result.closed, sleep(1_000).then(() => null)]);
  if (closed) return { closed: closed.code };
  result.ws.terminate();
  return 'open';
}

const BIG_NOTICE: PlatformControlMessage = { type: 'cap.state', cap_state: { capped: true, cap: 'day', until: new Date(0).toISOString(), message: 'x'.repeat(8_000) } };

describe('control connection: a flooding gateway', () => {
  let h: Harness;
  let headers: Record<string, string>;
  let otherHeaders: Record<string, string>;
  before(async () => {
    h = await startHarness({ controlHeartbeatMs: 60_000, rateLimit: { ratePerSec: 5, burst: 5 } });
    headers = agentHeaders('flood-dep', (await h.platform.deployments.register({ id: 'flood-dep', numbers: ['+15557770201'], tunnelHost: 'flood.trycloudflare.com' })).agentSecret);
    otherHeaders = agentHeaders('calm-dep', (await h.platform.deployments.register({ id: 'calm-dep', numbers: ['+15557770202'], tunnelHost: 'calm.trycloudflare.com' })).agentSecret);
  });
  after(() => h.close());

  it('tiny refused frames from a peer that does not read are answered once per window, not once per frame', async () => {
    const c = opened(await openControl(h.base, headers));
    try {
      await c.next('hello');
      c.ws.pause(); // never reads what the platform answers
      const frames = 20_000;
      const started = Date.now();
      for (let sent = 0; sent < frames; ) {
        for (let i = 0; i < 5_000; i++, sent++) c.ws.send('{}');
        await sleep(5);
      }
      // A marker sent after them: its answer (a usage.ack, or a rate-limit error naming it: never rationed) comes after every answer to the flood.
      await sleep(1_200);
      const marker = 'v3:flood-marker';
      c.ws.send(JSON.stringify({ type: 'usage', call_control_id: marker, duration_ms: 1 }));
      c.ws.resume();
      await waitFor('the answer to the marker', () => c.messages.some((m) => 'call_control_id' in m && m.call_control_id === marker), 20_000);
      const answers = c.messages.filter((m) => m.type === 'error' && m.call_control_id === undefined).length;
      // One per kind (unknown type, rate limited) per 1 s window, over the few windows the flood lasted.
      const windows = Math.ceil((Date.now() - started) / 1_000);
      assert.ok(answers <= 2 * windows, `${answers} answers to ${frames} frames in ${windows} s`);
      const { counters } = h.platform.control;
      assert.equal(answers + counters.unansweredRefusals, frames, 'each frame answered or counted as unanswered');
      assert.equal(counters.queueOverflows, 0);
      assert.equal(h.platform.control.connections('flood-dep'), 1, 'rationed, not cut');
    } finally {
      c.ws.terminate();
      await c.closed;
    }
  });

  it('a peer that lets more than 1 MiB wait is cut (counted, logged once); other deployments keep their connection', async () => {
    const calm = opened(await openControl(h.base, otherHeaders));
    const c = opened(await openControl(h.base, headers));
    try {
      await calm.next('hello');
      await c.next('hello');
      c.ws.pause();
      // 8 KB notices; the kernel's loopback buffers take several MB before anything waits in the process.
      let pushed = 0;
      while (pushed < 8_000 && h.platform.control.notify('flood-dep', BIG_NOTICE) === 1) {
        if (++pushed % 16 === 0) await new Promise((r) => setImmediate(r));
      }
      assert.equal(h.platform.control.connections('flood-dep'), 0, `still open after ${pushed} notices (${pushed * 8} KB)`);
      assert.equal(h.platform.control.counters.queueOverflows, 1);
      assert.equal(h.lines.filter((l) => l.includes('control connection cut')).length, 1);
      assert.equal(h.platform.control.notify('flood-dep', BIG_NOTICE), 0, 'nothing more queued for it');
      assert.equal(h.platform.control.notify('calm-dep', { type: 'cap.state', cap_state: { capped: false } }), 1);
      assert.deepEqual(await calm.next('cap.state'), { type: 'cap.state', cap_state: { capped: false } });
    } finally {
      c.ws.terminate();
      calm.ws.terminate();
    }
  });
});

describe('control connection: heartbeat', () => {
  let h: Harness;
  let headers: Record<string, string>;
  before(async () => {
    h = await startHarness({ controlHeartbeatMs: 100, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    headers = agentHeaders('beat-dep', (await h.platform.deployments.register({ id: 'beat-dep', numbers: ['+15557770203'], tunnelHost: 'beat.trycloudflare.com' })).agentSecret);
  });
  after(() => h.close());

  it('frames alone do not keep a connection alive: one that never answers pings is dropped, a reading one stays', async () => {
    const honest = opened(await openControl(h.base, headers));
    await honest.next('hello');
    const deaf = opened(await openControl(h.base, headers));
    await deaf.next('hello');
    deaf.ws.pause(); // reads nothing, so answers no ping, but keeps sending
    const chatter = setInterval(() => deaf.ws.send(JSON.stringify({ type: 'usage', call_control_id: 'v3:chatter', duration_ms: 1 })), 20);
    try {
      await waitFor('the deaf connection dropped', () => h.platform.control.connections('beat-dep') === 1, 2_000);
      await sleep(500);
      assert.equal(h.platform.control.connections('beat-dep'), 1, 'the reading one stays across five heartbeats');
      assert.equal(honest.ws.readyState, honest.ws.OPEN);
    } finally {
      clearInterval(chatter);
      deaf.ws.terminate();
      honest.ws.close();
    }
  });
});

describe('control connection: revocation', () => {
  const capStore = new MemoryCapStore();
  const deploymentStore = new MemoryDeploymentStore();
  /** Holds the cap-state read of the upgrade (the window between the secret check and the socket). */
  let capGate: Gate | null = null;
  /** Set: the deployment read that follows the cap-state read (the upgrade's re-read) is held after reading. */
  let reReadGate: Gate | null = null;
  let reReadArmed = false;
  const usage = capStore.usage.bind(capStore);
  capStore.usage = async (...args: Parameters<CapStore['usage']>) => {
    await capGate?.pass();
    const found = await usage(...args);
    if (reReadGate && !reReadArmed) reReadArmed = reReadGate.armed = true;
    return found;
  };
  const get = deploymentStore.get.bind(deploymentStore);
  deploymentStore.get = async (id: string) => {
    const found = await get(id);
    await reReadGate?.pass();
    return found;
  };

  let h: Harness;
  before(async () => {
    h = await startHarness({ capStore, deploymentStore, controlHeartbeatMs: 60_000, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
  });
  after(() => h.close());

  const register = async (id: string, n: number) => (await h.platform.deployments.register({ id, numbers: [`+155577703${String(n).padStart(2, '0')}`], tunnelHost: `${id}.trycloudflare.com` })).agentSecret;

  it('a revoked peer that never reads the close frame: forgotten at once, its usage reports after that not taken', async () => {
    const secret = await register('deaf-rev', 1);
    const headers = agentHeaders('deaf-rev', secret);
    const ended = await dialledAndEnded(h, headers, 'deaf-rev.trycloudflare.com', 12_000);
    await waitFor('settled', async () => Boolean((await h.platform.calls.get(ended))?.billing));
    const c = opened(await openControl(h.base, headers));
    await c.next('hello');
    c.ws.pause();
    assert.equal((await call(h.base, 'POST', '/v1/admin/deployments/deaf-rev/rotate-secret', { headers: adminHeaders(), body: {} })).status, 200);
    assert.equal(h.platform.control.connections('deaf-rev'), 0, 'forgotten at the revocation, not after the close handshake');
    c.ws.send(JSON.stringify({ type: 'usage', call_control_id: ended, duration_ms: 1_000 }));
    await sleep(300);
    assert.equal((await h.platform.ledger.get('deaf-rev', ended))?.gatewayMs ?? null, null, 'not recorded from a revoked connection');
    c.ws.terminate();
  });

  for (const action of ['rotate-secret', 'disable'] as const) {
    it(`${action} while an authenticated upgrade waits for its cap state: refused, never registered with the old identity`, async () => {
      const id = `race-${action === 'disable' ? 'dis' : 'rot'}`;
      const secret = await register(id, action === 'disable' ? 2 : 3);
      const gate = (capGate = new Gate());
      gate.armed = true;
      const upgrade = openControl(h.base, agentHeaders(id, secret));
      try {
        await within(gate.entered, 3_000, 'the upgrade reached its cap-state read');
        assert.equal((await call(h.base, 'POST', `/v1/admin/deployments/${id}/${action}`, { headers: adminHeaders(), body: {} })).status, 200);
      } finally {
        gate.release();
        capGate = null;
      }
      assert.deepEqual(await outcome(upgrade), { refused: action === 'disable' ? 403 : 401 });
      assert.equal(h.platform.control.connections(id), 0);
    });
  }

  it('a rotation landing while the upgrade re-reads the deployment (the read saw the old secret) still refuses it', async () => {
    const secret = await register('race-reread', 4);
    const gate = (reReadGate = new Gate());
    reReadArmed = false;
    const upgrade = openControl(h.base, agentHeaders('race-reread', secret));
    try {
      await within(gate.entered, 3_000, 'the upgrade re-read the deployment after its cap state');
      assert.equal((await call(h.base, 'POST', '/v1/admin/deployments/race-reread/rotate-secret', { headers: adminHeaders(), body: {} })).status, 200);
    } finally {
      gate.release();
      reReadGate = null;
    }
    assert.deepEqual(await outcome(upgrade), { refused: 401 });
    assert.equal(h.platform.control.connections('race-reread'), 0);
  });
});

const skip = redisUnavailable();

describe('control connection: revocation through another platform process (Redis)', { skip }, () => {
  let redis: RedisServer;
  const harnesses: Harness[] = [];
  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    for (const h of harnesses) await h.close();
    await redis?.stop();
  });

  it('a rotation through one process while the other holds an authenticated upgrade: that upgrade ends refused or closed 4401', async () => {
    const capStore = createCapStore(redis.url);
    let gate: Gate | null = null;
    const usage = capStore.usage.bind(capStore);
    capStore.usage = async (...args: Parameters<CapStore['usage']>) => {
      await gate?.pass();
      return usage(...args);
    };
    const writer = await startHarness({ redisUrl: redis.url });
    harnesses.push(writer);
    const holder = await startHarness({ redisUrl: redis.url, capStore, controlHeartbeatMs: 60_000 });
    harnesses.push(holder);
    const D = { id: 'race-redis', numbers: ['+15557770401'], tunnelHost: 'race-redis.trycloudflare.com' };
    const created = await call(writer.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: D });
    assert.equal(created.status, 201);
    gate = new Gate();
    gate.armed = true;
    const upgrade = openControl(holder.base, agentHeaders(D.id, created.body.agentSecret as string));
    try {
      await within(gate.entered, 3_000, 'the upgrade reached its cap-state read');
      assert.equal((await call(writer.base, 'POST', `/v1/admin/deployments/${D.id}/rotate-secret`, { headers: adminHeaders(), body: {} })).status, 200);
      await sleep(150); // the change message reaches the holder while the upgrade still waits
    } finally {
      gate.release();
    }
    const result = await outcome(upgrade);
    assert.ok(JSON.stringify(result) === JSON.stringify({ refused: 401 }) || JSON.stringify(result) === JSON.stringify({ closed: CLOSE_REVOKED }), JSON.stringify(result));
    await waitFor('no connection held', () => holder.platform.control.connections(D.id) === 0, 2_000);
  });
});
