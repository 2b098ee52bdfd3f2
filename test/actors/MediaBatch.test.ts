import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachInBatch, MediaBatchWriter } from '../../src/actors/MediaBatch.js';

function collect(batch: ArrayBuffer) {
  const out: Array<[number, string]> = [];
  forEachInBatch(batch, (slot, frame) => out.push([slot, Buffer.from(frame).toString('utf8')]));
  return out;
}

test('records round-trip in order, binary and text', () => {
  const writer = new MediaBatchWriter(64);
  writer.append(7, new TextEncoder().encode('hello').buffer as ArrayBuffer);
  writer.appendText(9, '{"event":"media","é":1}');
  writer.append(1, new Uint8Array(0));
  assert.equal(writer.records, 3);
  assert.deepEqual(collect(writer.take()), [[7, 'hello'], [9, '{"event":"media","é":1}'], [1, '']]);
  assert.equal(writer.records, 0);
});

test('grows past its initial size and copies the source', () => {
  const writer = new MediaBatchWriter(16);
  const src = new Uint8Array(1000).fill(42);
  for (let i = 0; i < 100; i++) writer.append(i, src);
  src.fill(0);
  const records = collect(writer.take());
  assert.equal(records.length, 100);
  assert.ok(records.every(([, s], i) => s.length === 1000 && records[i]![0] === i));
  assert.equal(Buffer.from(records[99]![1]).every((b) => b === 42), true);
});

test('a corrupt batch is detected, not over-read', () => {
  const writer = new MediaBatchWriter(64);
  writer.append(1, new Uint8Array(8));
  const batch = writer.take();
  new DataView(batch).setUint32(8, 10_000, true);
  assert.throws(() => forEachInBatch(batch, () => {}), RangeError);
});

test('each record carries the time its audio entered the gateway', () => {
  const writer = new MediaBatchWriter(32);
  const at = 1_795_000_000_123.456;
  writer.append(3, new Uint8Array([1, 2, 3]), at);
  writer.appendText(4, 'x', at + 1.5);
  writer.append(5, new Uint8Array(1));
  const times: Array<[number, number]> = [];
  forEachInBatch(writer.take(), (slot, _frame, atMs) => times.push([slot, atMs]));
  assert.deepEqual(times, [[3, at], [4, at + 1.5], [5, 0]]);
});
