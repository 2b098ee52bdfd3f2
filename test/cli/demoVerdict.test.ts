/**
 * The demo's verdict holds the echo to a floor: a call whose caller talked to the end and heard
 * *something* back is not proof that its own audio made the trip (README: the demo exits 0 only when
 * every call completed with its echo).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { echoProblem } from '../../src/cli/demoCommand.js';

const echo = (minCorrelation: number) => ({ echo: { minCorrelation } });

it('an echo under the codec floor fails the demo, naming both figures', () => {
  assert.match(echoProblem(echo(0.03), 'pcmu', undefined) ?? '', /lowest correlation is 0\.03, under 0\.9/);
  assert.match(echoProblem(echo(0.89), 'G722', 'echo') ?? '', /under 0\.9/);
  assert.match(echoProblem(echo(0.5), 'opus', undefined) ?? '', /under 0\.6/);
  assert.match(echoProblem(echo(0), 'l16', undefined) ?? '', /under 0\.9/);
});

it('an echo at or over the floor passes; Opus has its lossy floor', () => {
  assert.equal(echoProblem(echo(1), 'pcmu', undefined), null);
  assert.equal(echoProblem(echo(0.9), 'pcma', 'echo'), null);
  assert.equal(echoProblem(echo(0.65), 'OPUS', undefined), null);
});

it('another agent is not held to an echo: it does not echo', () => {
  assert.equal(echoProblem(echo(0), 'pcmu', 'ws'), null);
});
