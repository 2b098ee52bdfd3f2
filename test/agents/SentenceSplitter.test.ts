import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SentenceSplitter } from '../../src/agent/SentenceSplitter.js';
import { cueTone, CUE_MS } from '../../src/media/cueTone.js';

test('SentenceSplitter: sentences come out as soon as they are complete, across deltas', () => {
  const s = new SentenceSplitter();
  assert.deepEqual(s.push('Hello the'), []);
  assert.deepEqual(s.push('re. How are'), ['Hello there.']);
  assert.deepEqual(s.push(' you? I am '), ['How are you?']);
  assert.deepEqual(s.push('fine'), []);
  assert.equal(s.flush(), 'I am fine');
  assert.equal(s.flush(), null);
});

test('SentenceSplitter: a decimal point does not end a sentence; a very long run is cut at a space', () => {
  const s = new SentenceSplitter();
  assert.deepEqual(s.push('It costs 3.50 dollars. '), ['It costs 3.50 dollars.']);
  const long = 'word '.repeat(50);
  const out = s.push(long);
  assert.ok(out.length >= 1 && out.every((x) => x.length <= 160), 'cut into pieces of at most 160 characters');
});

test('cueTone: the advertised length at any rate, with sound in it', () => {
  for (const rate of [8000, 16000, 24000]) {
    const pcm = cueTone(rate);
    assert.equal(pcm.length, Math.round((rate * CUE_MS) / 1000));
    assert.ok(Math.max(...pcm) > 3000);
  }
});
