/**
 * An outbound call from a gateway whose deployment has the default dialling policy of a US
 * number ("+1"), through the real platform and simulator: Jamaica (+1 876) is refused by the
 * platform with the reason, and nothing reaches the provider; a US number is placed; once the
 * operator adds "+1876", Jamaica is placed too. Before, "+1" reached every NANP country.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isTtmaError } from '../../src/errors.js';
import { startStack, type Stack } from '../helpers/stack.js';

const JAMAICA = '+18765550123';

describe('the dialling policy end to end: "+1" does not reach Jamaica', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 1 }, { sim: { ringMs: 20 } });
  });
  after(() => stack.stop());

  async function placedAndHungUp(to: string): Promise<void> {
    const placed = await stack.gateway.control.dial(to);
    const dialled = stack.sim.liveCall(placed.callId);
    assert.ok(dialled, `the simulator has the call to ${to}`);
    assert.equal(dialled.to, to);
    dialled.hangup(undefined);
    await dialled.done;
  }

  it('the default policy is ["+1"]: Jamaica is refused with the reason, nothing reaches the simulator', async () => {
    assert.deepEqual((await stack.platform.deployments.get('test'))?.dialPolicy, { allowPrefixes: ['+1'] });
    const callsBefore = stack.sim.callSummaries().length;
    await assert.rejects(stack.gateway.control.dial(JAMAICA), (err: unknown) => {
      assert.ok(isTtmaError(err, 'TTMA_ERR_DIAL_POLICY'), String(err));
      assert.match((err as Error).message, /\+1876 is Jamaica, a separate country in the \+1 plan: add \+1876 to the dial policy to allow it/);
      return true;
    });
    assert.equal(stack.sim.callSummaries().length, callsBefore, 'no call was placed');
  });

  it('a US number is placed', async () => {
    await placedAndHungUp('+12125550123');
  });

  it('with "+1876" added by the operator, Jamaica is placed', async () => {
    await stack.platform.deployments.update('test', { dialPolicy: { allowPrefixes: ['+1', '+1876'] } });
    await placedAndHungUp(JAMAICA);
  });
});
