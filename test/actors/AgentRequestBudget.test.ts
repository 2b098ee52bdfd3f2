/**
 * The bounds on agents' platform requests (src/actors/AgentRequestBudget.ts),
 * on an injected clock: per call and kind one in flight with a few waiting,
 * in order; a per-call bucket; a per-gateway bucket across calls.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentRequestBudget, AgentRequestRefused } from '../../src/actors/AgentRequestBudget.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('AgentRequestBudget', () => {
  it('sends one request of a kind at a time, in order, and refuses past the waiting bound', async () => {
    let now = 0;
    const budget = new AgentRequestBudget({ perCall: { ratePerSec: 100, burst: 100 }, gateway: { ratePerSec: 100, burst: 100 }, waiting: 2 }, () => now);
    const call = {};
    const order: string[] = [];
    const first = deferred();
    const runs = [
      budget.run(call, 'dtmf', async () => {
        order.push('1 start');
        await first.promise;
        order.push('1 end');
      }),
      budget.run(call, 'dtmf', async () => void order.push('2')),
      budget.run(call, 'dtmf', async () => void order.push('3')),
    ];
    // One in flight and two waiting: the fourth is refused, never run.
    await assert.rejects(budget.run(call, 'dtmf', async () => void order.push('4')), (err) => err instanceof AgentRequestRefused && err.by === 'call' && /one dtmf request of this call in flight and 2 waiting/.test(err.message));
    // Another kind has its own queue.
    await budget.run(call, 'transfer', async () => void order.push('transfer'));
    first.resolve();
    await Promise.all(runs);
    assert.deepEqual(order, ['1 start', 'transfer', '1 end', '2', '3']);
    // The queue drained: room again.
    await budget.run(call, 'dtmf', async () => void order.push('5'));
    assert.equal(budget.refused.call, 1);
  });

  it('a failed request frees its place; the next one still runs', async () => {
    const budget = new AgentRequestBudget(undefined, () => 0);
    const call = {};
    const failed = budget.run(call, 'dtmf', async () => {
      throw new Error('platform said no');
    });
    const next = budget.run(call, 'dtmf', async () => 'sent');
    await assert.rejects(failed, /platform said no/);
    assert.equal(await next, 'sent');
  });

  it('per call: burst 5, then 2 a second', async () => {
    let now = 0;
    const budget = new AgentRequestBudget(undefined, () => now);
    const call = {};
    const outcome = async () => budget.run(call, 'dtmf', async () => true).catch((err: unknown) => (err as AgentRequestRefused).by);
    const burst = [];
    for (let i = 0; i < 8; i++) burst.push(await outcome());
    assert.deepEqual(burst, [true, true, true, true, true, 'call', 'call', 'call']);
    now += 500; // one token back
    assert.deepEqual([await outcome(), await outcome()], [true, 'call']);
    // Another call has its own bucket.
    assert.equal(await budget.run({}, 'dtmf', async () => true), true);
  });

  it('per gateway: 20 at once and 10 a second across every call', async () => {
    let now = 0;
    const budget = new AgentRequestBudget(undefined, () => now);
    const calls = Array.from({ length: 6 }, () => ({}));
    const outcomes: Array<true | string> = [];
    for (const call of calls) for (let i = 0; i < 4; i++) outcomes.push(await budget.run(call, 'dtmf', async () => true as const).catch((err: unknown) => (err as AgentRequestRefused).by));
    assert.equal(outcomes.filter((o) => o === true).length, 20);
    assert.deepEqual(outcomes.slice(20), ['gateway', 'gateway', 'gateway', 'gateway']);
    now += 1_000;
    const more: Array<true | string> = [];
    for (let i = 0; i < 12; i++) more.push(await budget.run(calls[i % 6]!, 'dtmf', async () => true as const).catch((err: unknown) => (err as AgentRequestRefused).by));
    assert.equal(more.filter((o) => o === true).length, 10);
    assert.deepEqual(budget.refused, { call: 0, gateway: 6 });
  });
});
