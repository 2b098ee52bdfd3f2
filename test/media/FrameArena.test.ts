import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameArena, SLAB_BYTES, frameArena } from '../../src/media/FrameArena.js';

test('views never overlap and stay valid after their slab is replaced', () => {
  const arena = new FrameArena(1024);
  const frames: Int16Array[] = [];
  // 40 frames of 160 samples (320 bytes) span 13 slabs of 1 KiB.
  for (let i = 0; i < 40; i++) {
    const f = arena.int16(160);
    assert.equal(f.length, 160);
    assert.equal(f.byteOffset % 8, 0, 'aligned for any typed array');
    f.fill(i);
    frames.push(f);
  }
  frames.forEach((f, i) => assert.ok(f.every((v) => v === i), `frame ${i} was overwritten`));
  const slabs = new Set(frames.map((f) => f.buffer));
  assert.equal(slabs.size, Math.ceil(40 / Math.floor(1024 / 320)));
});

test('odd sizes are padded to 8 bytes; copyOf copies; a request bigger than a slab gets its own array', () => {
  const arena = new FrameArena(64);
  const a = arena.uint8(3);
  const b = arena.uint8(5);
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.byteOffset - a.byteOffset, 8);
  const src = new Uint8Array([1, 2, 3, 4, 5]);
  const copy = arena.copyOf(src);
  src[0] = 99;
  assert.deepEqual([...copy], [1, 2, 3, 4, 5]);
  const big = arena.int16(100);
  assert.equal(big.length, 100);
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, 200, 'its own buffer, not a slab');
  assert.throws(() => new FrameArena(4), RangeError);
});

test('the shared arena hands out frames from SLAB_BYTES slabs', () => {
  const f = frameArena.int16(320);
  assert.equal(f.buffer.byteLength, SLAB_BYTES);
});
