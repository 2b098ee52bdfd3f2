/**
 * What the dial does between the provider naming the call and the call's
 * lock landing in the store (FAQ-13, FAQ-14). A gate holds the lock back or
 * fails it: a lock that fails, or lands on an id someone else owns, ends the
 * call and frees its reservation (nothing would ever settle it: it would
 * top up a minute at a time for ever); an event that raced ahead of the lock
 * still sets in motion what it would have.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ErrorCodes, TtmaError } from '../../src/errors.js';
import { MemoryDeploymentStore } from '../../src/platform/DeploymentRegistry.js';
import type { CallFacts, CallStore, LockOutcome } from '../../src/platform/store/CallStore.js';
import { MemoryCallStore } from '../../src/platform/store/MemoryCallStore.js';
import { MemoryCapStore } from '../../src/platform/store/MemoryCapStore.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import {
  STREAM_TOKEN,
  agentHeaders,
  call,
  envelope,
  postWebhook,
  startHarness,
  type Harness,
  waitFor,
} from './helpers.js';

const A = { id: 'dep-a', numbers: ['+15551230001'], tunnelHost: 'aaa.trycloudflare.com' };
const B = { id: 'dep-b', numbers: ['+15551239999'], tunnelHost: 'bbb.trycloudflare.com' };
const TO = '+15557654321';

/** A memory store whose `lock` waits at a gate the test opens, or fails. */
class GatedCallStore extends MemoryCallStore implements CallStore {
  #gate: Promise<void> | null = null;
  #open: (() => void) | null = null;
  failLocks = false;
  locksStarted = 0;

  close_gate(): void {
    this.#gate = new Promise<void>((resolve) => (this.#open = resolve));
  }

  open_gate(): void {
    this.#open?.();
    this.#gate = null;
  }

  override async lock(callControlId: string, deploymentId: string | null, facts: CallFacts, nowIso: string, reservationId?: string): Promise<LockOutcome> {
    this.locksStarted += 1;
    if (this.#gate) await this.#gate;
    if (this.failLocks) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'store unreachable (test)', 503);
    return super.lock(callControlId, deploymentId, facts, nowIso, reservationId);
  }
}

describe('dial: between the provider naming the call and its lock', () => {
  const store = new GatedCallStore();
  const deployments = new MemoryDeploymentStore();
  const caps = new MemoryCapStore();
  let h: Harness;
  let secretA = '';

  before(async () => {
    h = await startHarness({
      rateLimit: { ratePerSec: 1_000, burst: 1_000 },
      callStore: store,
      deploymentStore: deployments,
      capStore: caps,
    });
    secretA = (await h.platform.deployments.register(A)).agentSecret;
    await h.platform.deployments.register(B);
  });
  after(() => h.close());
  beforeEach(() => {
    store.open_gate();
    store.failLocks = false;
    h.provider.requests.length = 0;
    h.provider.override = null;
  });

  function dial(streamId: string) {
    return call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders('dep-a', secretA),
      body: { to: TO, stream_url: `wss://${A.tunnelHost}/v1/media/${streamId}`, stream_auth_token: STREAM_TOKEN },
    });
  }

  /** The live reservation of the dial just made (`dial-` + its command id). */
  function dialReservation(): string {
    return `dial-${String(h.provider.requests.find((r) => r.path === '/v2/calls')?.body?.['command_id'])}`;
  }

  function sentFor(action: string, id: string): number {
    return h.provider.commands(action).filter((r) => r.path.includes(encodeURIComponent(id))).length;
  }

  it('a lock the store cannot write fails the dial, ends the call and frees its reservation', async () => {
    store.failLocks = true;
    const res = await dial('fails-0001');
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, ErrorCodes.STORE_UNAVAILABLE);
    const dialled = [...h.provider.calls.entries()].at(-1)!;
    assert.equal(dialled[1].alive, false, 'the platform hung the call up');
    assert.equal(sentFor('hangup', dialled[0]), 1);
    assert.ok(!(await caps.live('dep-a')).includes(dialReservation()));
    assert.ok(h.lines.some((l) => l.includes('dialled call not locked') && l.includes(dialled[0])));
    // Nobody owns it: the dialler cannot control it either.
    store.failLocks = false;
    const mine = await call(h.base, 'POST', PLATFORM_PATHS.hangup(dialled[0]), { headers: agentHeaders('dep-a', secretA) });
    assert.equal(mine.status, 403);
  });

  it("a call id the provider hands out twice stays its first owner's; the new call ends and its reservation is freed", async () => {
    const reused = 'v3:reused-id';
    await store.lock(reused, 'dep-b', { direction: 'outgoing', from: B.numbers[0]!, to: TO }, new Date().toISOString());
    h.provider.calls.set(reused, { direction: 'outgoing', from: A.numbers[0]!, to: TO, alive: true });
    h.provider.override = (r) =>
      r.path === '/v2/calls' ? { status: 200, body: { data: { call_control_id: reused, call_session_id: 's-reused' } } } : undefined;
    const res = await dial('reused-0001');
    assert.equal(res.status, 502);
    assert.equal(res.body.error.code, ErrorCodes.PROVIDER);
    assert.equal(sentFor('hangup', reused), 1);
    assert.ok(!(await caps.live('dep-a')).includes(dialReservation()));
    assert.deepEqual(await h.platform.calls.ownerOf(reused), { locked: true, deploymentId: 'dep-b' });
    assert.ok(h.lines.some((l) => l.includes('already locked to another owner')));
  });

  it('a locked dial keeps its reservation live (the control for the two above)', async () => {
    const res = await dial('kept-00001');
    assert.equal(res.status, 200);
    assert.ok((await caps.live('dep-a')).includes(dialReservation()));
    assert.equal(sentFor('hangup', res.body.call_control_id as string), 0);
  });

  it('a call.answered that raced ahead of the lock still starts the recording, once', async () => {
    h.provider.override = (r) => {
      // Hold the lock back until the provider's answered event has been recorded.
      if (r.path === '/v2/calls') store.close_gate();
      return undefined;
    };
    const locksBefore = store.locksStarted;
    const dialling = dial('raced-0001');
    await waitFor('the lock to start', () => store.locksStarted === locksBefore + 1);
    const id = [...h.provider.calls.keys()].at(-1)!;
    const answered = await postWebhook(h, envelope('call.answered', { call_control_id: id, from: A.numbers[0]!, to: TO, direction: 'outgoing' }));
    assert.equal(answered.status, 200);
    assert.equal((await store.ownerOf(id))?.locked, false, 'the event landed first and found the call unlocked');
    store.open_gate();
    assert.equal((await dialling).status, 200);
    await waitFor('record_start', () => sentFor('record_start', id) === 1);
    // A second answered event (a retry) does not start it again.
    await postWebhook(h, envelope('call.answered', { call_control_id: id, from: A.numbers[0]!, to: TO, direction: 'outgoing' }, { id: 'retry-answered' }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(sentFor('record_start', id), 1);
  });
});
