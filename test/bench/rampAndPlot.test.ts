/**
 * The bench's pure parts: the ramp's pass rule and capacity, the ratio, and
 * the SVG plot (well-formed, both series drawn).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admissionFull, allDisturbed, capacityOf, disturbedNote, generatorBehind, ratio, stepFailures, wantsAnotherWindow, type StepMeasure } from '../../bench/ramp.js';
import { rampSvg } from '../../bench/svg.js';

const ok = (calls: number): StepMeasure => ({ calls, lossRate: 0, addedP99Ms: 1, loopDelayP99Ms: 2, failedCalls: 0 });

test('a step fails on each limit of DESIGN.md 9, and only past it', () => {
  assert.deepEqual(stepFailures(ok(100)), []);
  assert.deepEqual(stepFailures({ ...ok(100), lossRate: 0.001, addedP99Ms: 5, loopDelayP99Ms: 10 }), [], 'the limits themselves pass');
  assert.match(stepFailures({ ...ok(100), lossRate: 0.0011 }).join(), /loss/);
  assert.match(stepFailures({ ...ok(100), addedP99Ms: 5.01 }).join(), /added p99/);
  assert.match(stepFailures({ ...ok(100), loopDelayP99Ms: 10.5 }).join(), /event-loop/);
  assert.match(stepFailures({ ...ok(100), failedCalls: 1 }).join(), /calls failed/);
  assert.equal(stepFailures({ ...ok(100), lossRate: Number.NaN }).length, 1, 'an unmeasured figure fails, never passes');
});

test('capacity is the last passing step before the first failure', () => {
  assert.equal(capacityOf([ok(100), ok(200), { ...ok(300), addedP99Ms: 9 }, ok(400)]), 200);
  assert.equal(capacityOf([{ ...ok(100), lossRate: 0.5 }]), 0);
});

test('calls refused by admission are not failures: the ramp ends at the calls carried', () => {
  const full = { ...ok(400), failedCalls: 30, refusedBusy: 30, callsCarried: 370 };
  assert.deepEqual(stepFailures(full), [], 'the 370 carried pass');
  assert.equal(admissionFull(full), true);
  assert.equal(admissionFull(ok(300)), false);
  assert.match(stepFailures({ ...full, failedCalls: 31 }).join(), /^1 calls failed$/, 'a call that failed otherwise still fails the step');
  assert.equal(capacityOf([ok(100), ok(200), ok(300), full, ok(500)]), 370, 'capacity is what it carried, and nothing after counts');
  assert.equal(capacityOf([ok(100), ok(200), { ...full, callsCarried: 150 }]), 200, 'never below a step already passed');
  assert.equal(capacityOf([ok(100), ok(200), { ...full, addedP99Ms: 9 }]), 200, 'refusing does not excuse the carried calls\' latency');
  assert.equal(capacityOf([ok(100), ok(300)]), 300);
  assert.equal(ratio(600, 100), 6);
  assert.equal(ratio(600, 0), null);
});

test('a step where the load generator fell behind ends the ramp and does not count, pass or fail', () => {
  assert.equal(generatorBehind({ ...ok(800), sendLagP99Ms: 5 }), false, 'the limit itself is kept up');
  assert.equal(generatorBehind({ ...ok(800), sendLagP99Ms: 13.5 }), true);
  assert.equal(generatorBehind(ok(800)), false, 'not measured (older runs): not judged');
  assert.equal(capacityOf([ok(600), ok(700), { ...ok(800), sendLagP99Ms: 13.5 }, ok(900)]), 700, 'a passing step with a lagging generator is not capacity');
  assert.equal(capacityOf([ok(600), { ...ok(700), addedP99Ms: 9, sendLagP99Ms: 13.5 }]), 600, 'nor is a failing one the target\'s failure: the capacity stays the step before');
});

test('a failing step is measured twice, three times only while every window lost 5 % or more to steal', () => {
  assert.equal(wantsAnotherWindow([0.01]), true, 'one failing window never decides');
  assert.equal(wantsAnotherWindow([0.01, 0.3]), false, 'a quiet window failed too: overload');
  assert.equal(wantsAnotherWindow([0.3, 0.01]), false);
  assert.equal(wantsAnotherWindow([null, 0.3]), false, 'unknown steal is not blamed on the machine');
  assert.equal(wantsAnotherWindow([0.3, 0.05]), true);
  assert.equal(wantsAnotherWindow([0.3, 0.2, 0.4]), false, 'three windows at most');
  assert.equal(allDisturbed([0.3, 0.2, 0.4]), true);
  assert.equal(allDisturbed([0.3, 0.049]), false);
  assert.equal(allDisturbed([]), false);
  assert.match(disturbedNote([0.312, 0.28]), /steal 31\.2 %, 28 % on the target's core in the 2 windows/);
});

test('the SVG plot is well-formed XML with one polyline per series and the 5 ms bound', () => {
  const svg = rampSvg('ramps <PCMU & Opus>', [
    { name: 'ours pcmu', color: '#1f77b4', points: [{ calls: 100, addedP99Ms: 0.8 }, { calls: 200, addedP99Ms: 1.2 }, { calls: 400, addedP99Ms: 7 }] },
    { name: 'baseline pcmu', color: '#ff7f0e', points: [{ calls: 100, addedP99Ms: 3 }, { calls: 200, addedP99Ms: 40 }] },
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
  assert.equal((svg.match(/<circle /g) ?? []).length, 5);
  assert.match(svg, /data-name="ours pcmu"/);
  assert.match(svg, /data-name="baseline pcmu"/);
  assert.match(svg, /5 ms bound/);
  assert.match(svg, /ramps &lt;PCMU &amp; Opus&gt;/, 'text is escaped');
  assert.doesNotMatch(svg, /NaN|undefined/);
  // Every opened element is closed: a crude well-formedness check without an XML parser.
  const opened = (svg.match(/<(svg|g|text|title)[\s>]/g) ?? []).length;
  const closed = (svg.match(/<\/(svg|g|text|title)>/g) ?? []).length;
  assert.equal(opened, closed);
  // Points are inside the plot area.
  for (const m of svg.matchAll(/cx="([\d.]+)" cy="([\d.]+)"/g)) {
    assert.ok(Number(m[1]) >= 60 && Number(m[1]) <= 620 && Number(m[2]) >= 30 && Number(m[2]) <= 350, `point ${m[0]}`);
  }
});
