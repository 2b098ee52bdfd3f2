/** The shared media clock: grid start times, frames on their planned time, catch-up, self-stopping. */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { MediaClock, type ClockSubscriber } from '../../src/sim/MediaClock.js';

/** Sends "frames" every 20 ms from t0, like a call does, and records planned vs actual. */
class FrameSender implements ClockSubscriber {
  readonly t0: number;
  readonly lags: number[] = [];
  #k = 0;
  readonly #frames: number;
  readonly #clock: MediaClock;
  readonly finished: Promise<void>;
  #finish!: () => void;

  constructor(clock: MediaClock, frames: number) {
    this.#clock = clock;
    this.#frames = frames;
    this.finished = new Promise((resolve) => (this.#finish = resolve));
    this.t0 = clock.add(this);
  }

  onTick(now: number): void {
    for (let planned = this.t0 + 20 * this.#k; planned <= now && this.#k < this.#frames; planned = this.t0 + 20 * this.#k) {
      this.lags.push(now - planned);
      this.#k++;
    }
    if (this.#k >= this.#frames) {
      this.#clock.remove(this);
      this.#finish();
    }
  }
}

describe('MediaClock', () => {
  it('starts subscribers on its 5 ms grid and sends each frame at (never before) its planned time', async () => {
    const clock = new MediaClock({ slotsPerFrame: 4 });
    const senders: FrameSender[] = [];
    for (let i = 0; i < 200; i++) {
      senders.push(new FrameSender(clock, 15));
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await Promise.all(senders.map((s) => s.finished));
    const grid = clock.nextGridTime(senders[0]!.t0);
    assert.equal(grid, senders[0]!.t0, 't0 is a grid time');
    const phases = new Set(senders.map((s) => Math.round((s.t0 - senders[0]!.t0) / clock.tickMs) % 4));
    assert.ok(phases.size >= 2, 'calls started at different moments land on different slots');
    const lags = senders.flatMap((s) => s.lags).sort((a, b) => a - b);
    assert.equal(lags.length, 200 * 15);
    assert.ok((lags[0] ?? -1) >= 0, 'no frame before its planned time');
    const p50 = lags[Math.floor(lags.length / 2)] ?? Infinity;
    assert.ok(p50 < 10, `median send lag ${p50.toFixed(2)} ms`);
    assert.equal(clock.stats.subscribers, 0);
    assert.ok(clock.stats.ticks >= 20 && clock.stats.ticks < 130, `${clock.stats.ticks} ticks for ~300 ms`);
    clock.close();
  });

  it('when the loop falls behind, the next tick sends everything due and counts the missed ticks', async () => {
    const clock = new MediaClock();
    const sender = new FrameSender(clock, 10);
    await new Promise((resolve) => setTimeout(resolve, 25));
    const until = performance.now() + 70;
    while (performance.now() < until) {
      // Block the event loop for 70 ms, as a GC pause or a CPU hog would.
    }
    await sender.finished;
    assert.ok(clock.stats.missedTicks >= 10, `missed ${clock.stats.missedTicks} ticks`);
    assert.ok(clock.stats.maxTickLagMs >= 50);
    const late = sender.lags.filter((lag) => lag >= 10);
    assert.ok(late.length >= 3, `${late.length} frames went late, in one catch-up`);
    assert.equal(sender.lags.length, 10, 'none skipped');
    clock.close();
  });

  it('does not keep a timer without subscribers, and refuses new ones once closed', () => {
    const clock = new MediaClock();
    const idle: ClockSubscriber = { onTick: () => undefined };
    clock.add(idle);
    clock.remove(idle);
    clock.close();
    assert.throws(() => clock.add(idle), /closed/);
  });
});
