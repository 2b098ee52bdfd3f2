/**
 * The premium-rate floor under every dialling policy (allowlists.ts): the
 * +1 900 area code, the 976 exchange after any NANP area code, UK +44 9.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDestination } from '../../src/platform/allowlists.js';
import { isTtmaError } from '../../src/errors.js';

function refusal(to: string): string | null {
  try {
    checkDestination(to);
    return null;
  } catch (err) {
    return isTtmaError(err) ? err.code : 'not a TtmaError';
  }
}

test('premium-rate destinations are refused whatever the policy; their neighbours are not', () => {
  for (const to of ['+19005550100', '+19765550100', '+12129765555', '+14169760000', '+449098790000']) {
    assert.equal(refusal(to), 'TTMA_ERR_DESTINATION_REFUSED', to);
  }
  // 976 elsewhere in the number, or a number too long to be NANP, is not the exchange.
  for (const to of ['+12125559761', '+12129775555', '+1976', '+442079460000', '+33976123456']) {
    const code = refusal(to);
    assert.notEqual(code, 'TTMA_ERR_DESTINATION_REFUSED', to);
  }
});
