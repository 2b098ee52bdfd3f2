import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapGate } from '../../src/control/CapGate.js';
import { ErrorCodes } from '../../src/errors.js';
import { capturingLogger } from '../platform/helpers.js';

const T0 = Date.parse('2026-11-27T10:00:00.000Z');

function gate() {
  let now = T0;
  const { logger, lines } = capturingLogger();
  return { gate: new CapGate(logger, () => now), lines, advance: (ms: number) => (now += ms) };
}

describe('CapGate (the gateway side of the platform cap notices)', () => {
  it('refuses with the platform message until the time it gave, then lifts by itself', () => {
    const g = gate();
    assert.equal(g.gate.refusal(), null);
    g.gate.set({ capped: true, cap: 'day', until: '2026-11-28T00:00:00.000Z', message: 'daily minute cap reached (10 of 10 minutes used)' });
    const refusal = g.gate.refusal();
    assert.equal(refusal?.code, ErrorCodes.CAP_REACHED);
    assert.equal(refusal?.status, 403);
    assert.equal(refusal?.message, 'daily minute cap reached (10 of 10 minutes used)');
    assert.deepEqual(g.gate.state(), { capped: true, cap: 'day', until: '2026-11-28T00:00:00.000Z', message: 'daily minute cap reached (10 of 10 minutes used)' });
    g.advance(14 * 3_600_000 - 1);
    assert.ok(g.gate.refusal());
    g.advance(1);
    assert.equal(g.gate.refusal(), null);
    assert.ok(g.lines.some((l) => l.includes('minute cap period over')));
  });

  it('lifts at once when the platform says so, and logs each change once', () => {
    const g = gate();
    const capped = { capped: true as const, cap: 'month' as const, until: '2026-12-01T00:00:00.000Z', message: 'monthly cap' };
    g.gate.set(capped);
    g.gate.set(capped);
    assert.equal(g.lines.filter((l) => l.includes('new calls refused')).length, 1);
    g.gate.set({ capped: false });
    assert.equal(g.gate.refusal(), null);
    assert.equal(g.lines.filter((l) => l.includes('lifted the minute cap')).length, 1);
  });

  it('a bare cap.reached, or an unreadable end time, caps for a minute', () => {
    const g = gate();
    g.gate.reached('day', 'daily cap reached');
    assert.equal(g.gate.state().capped, true);
    g.advance(59_999);
    assert.ok(g.gate.refusal());
    g.advance(1);
    assert.equal(g.gate.refusal(), null);
    g.gate.set({ capped: true, cap: 'day', until: 'not a time', message: 'daily cap reached' });
    assert.deepEqual(g.gate.state(), { capped: true, cap: 'day', until: new Date(T0 + 60_000 + 60_000).toISOString(), message: 'daily cap reached' });
  });

  it('a cap.reached does not shorten a cap the platform already gave an end for', () => {
    const g = gate();
    g.gate.set({ capped: true, cap: 'month', until: '2026-12-01T00:00:00.000Z', message: 'monthly cap' });
    g.gate.reached('day', 'daily cap');
    assert.deepEqual(g.gate.state(), { capped: true, cap: 'month', until: '2026-12-01T00:00:00.000Z', message: 'monthly cap' });
  });
});
