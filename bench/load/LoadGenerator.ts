/**
 * The bench's load generator: many simulated calls' media from one process,
 * speaking the provider's media protocol through the simulator's own
 * MediaStreamClient, every call on one shared MediaClock (a timer per call
 * does not scale).
 *
 * Frame k of a call is planned at t0 + 20 ms * k and sent on the first tick
 * at or after it; the round trip of returned frame k is counted from that
 * planned time, so a stalled sender cannot hide delay (no coordinated
 * omission). The echo agent returns one frame per frame sent, in order, so
 * returned frame k is matched to sent frame k. Payloads are encoded once
 * (PayloadBank): the generator does no codec work per frame, and does not
 * decode what comes back (it only times it).
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram, type LatencyPercentiles } from '../../src/actors/LatencyHistogram.js';
import type { Logger } from '../../src/log.js';
import type { SimCodec } from '../../src/sim/codecs.js';
import { FRAME_MS } from '../../src/sim/constants.js';
import type { ClockSubscriber, MediaClock } from '../../src/sim/MediaClock.js';
import { MediaStreamClient, type StreamStartInfo } from '../../src/sim/MediaStreamClient.js';
import type { PayloadBank } from './PayloadBank.js';

/** Planned send times remembered per call (frames in flight are far fewer). */
const RING = 1024;

export interface WindowStats {
  calls: number;
  seconds: number;
  framesSent: number;
  framesReturned: number;
  /** 1 - returned / sent over the window, as a fraction (0 when nothing was sent). */
  lossRate: number;
  /** Round trip from each frame's planned send time to its echo's arrival (ms). */
  roundTripMs: LatencyPercentiles;
  /** How late the generator sent frames against their planned time (its own health). */
  sendLagMs: LatencyPercentiles;
  /** Spacing of frames arriving from the gateway: mean, and |spacing - 20 ms| percentiles. */
  egressSpacing: { meanMs: number; p99DeviationMs: number; p999DeviationMs: number };
  /** Calls whose media socket failed or was closed by the far end. */
  failedCalls: number;
}

export interface StreamTarget {
  url: URL;
  /** Public tunnel host the stream URL named (adds the tunnel edge's headers), or null. */
  tunnelHost: string | null;
  token: string | undefined;
}

export class LoadCall implements ClockSubscriber {
  readonly info: StreamStartInfo;
  readonly #gen: LoadGenerator;
  readonly #payloads: readonly string[];
  readonly #planned = new Float64Array(RING);
  #offset: number;
  #stream: MediaStreamClient | null = null;
  #t0 = 0;
  #sent = 0;
  #returned = 0;
  #lastArrival = Number.NaN;
  #paused = false;
  #failed = false;
  /** Frames [windowStart, windowEnd) were sent in the measurement window. */
  windowStart = 0;
  windowEnd = 0;
  #opened: ((ok: boolean) => void) | null = null;

  constructor(gen: LoadGenerator, info: StreamStartInfo, payloads: readonly string[], offset: number) {
    this.#gen = gen;
    this.info = info;
    this.#payloads = payloads;
    this.#offset = offset;
  }

  get framesSent(): number {
    return this.#sent;
  }

  get framesReturned(): number {
    return this.#returned;
  }

  get failed(): boolean {
    return this.#failed;
  }

  /** Connects, sends `connected` and `start`, then streams on the clock. Resolves false if the socket failed. */
  open(target: StreamTarget): Promise<boolean> {
    const gen = this.#gen;
    const stream = new MediaStreamClient({
      target: target.url,
      tunnelHost: target.tunnelHost,
      tunnelHeaders: target.tunnelHost !== null,
      token: target.token,
      codec: gen.codec,
      returnCodec: gen.codec,
      logger: gen.logger,
      decodeReturned: false,
      // The lean client: the generator must outrun the gateway it measures (src/sim/rawMediaSocket.ts).
      socket: 'raw',
      handlers: {
        onOpen: () => {
          stream.sendStart(this.info);
          this.#t0 = gen.clock.add(this);
          this.#opened?.(true);
        },
        onConnectFailed: (reason) => {
          this.#failed = true;
          gen.logger.warn({ reason }, 'load call: media socket failed');
          this.#opened?.(false);
        },
        onPeerClosed: (code, reason) => {
          this.#failed = true;
          gen.clock.remove(this);
          const key = `${code}${reason ? ` ${reason}` : ''}`;
          gen.peerCloses[key] = (gen.peerCloses[key] ?? 0) + 1;
        },
        onMedia: (_pcm, arrivalMs) => this.#onReturned(arrivalMs),
        onMark: () => {},
        onClear: () => {},
        onMalformed: () => gen.malformed++,
      },
    });
    this.#stream = stream;
    const opened = new Promise<boolean>((resolve) => (this.#opened = resolve));
    stream.connect();
    return opened;
  }

  /** Stop sending (frames already planned are not sent); echoes still count. */
  pause(): void {
    this.#paused = true;
    this.#gen.clock.remove(this);
  }

  close(): void {
    this.#gen.clock.remove(this);
    this.#stream?.stopAndClose(this.info.callControlId);
  }

  onTick(now: number): void {
    const stream = this.#stream;
    if (this.#paused || !stream || !stream.isOpen) return;
    const gen = this.#gen;
    for (;;) {
      const planned = this.#t0 + FRAME_MS * this.#sent;
      if (planned > now) break;
      this.#planned[this.#sent % RING] = planned;
      const payload = this.#payloads[this.#offset++ % this.#payloads.length]!;
      stream.sendMedia(payload, FRAME_MS * this.#sent);
      this.#sent++;
      gen.framesSent++;
      // The time of this very send, not the tick's: frames sent late in a long tick are late too.
      gen.sendLag.record(performance.now() - planned);
    }
  }

  #onReturned(arrivalMs: number): void {
    const gen = this.#gen;
    gen.framesReturned++;
    if (this.#returned < this.#sent && this.#sent - this.#returned <= RING) {
      gen.roundTrip.record(arrivalMs - this.#planned[this.#returned % RING]!);
    }
    this.#returned++;
    if (!Number.isNaN(this.#lastArrival)) {
      const spacing = arrivalMs - this.#lastArrival;
      gen.spacingSum += spacing;
      gen.spacingCount++;
      gen.spacingDeviation.record(Math.abs(spacing - FRAME_MS));
    }
    this.#lastArrival = arrivalMs;
  }
}

export interface LoadGeneratorOptions {
  codec: SimCodec;
  clock: MediaClock;
  bank: PayloadBank;
  logger: Logger;
}

export class LoadGenerator {
  readonly codec: SimCodec;
  readonly clock: MediaClock;
  readonly logger: Logger;
  readonly #bank: PayloadBank;
  readonly calls: LoadCall[] = [];
  readonly roundTrip = new LatencyHistogram();
  readonly sendLag = new LatencyHistogram();
  readonly spacingDeviation = new LatencyHistogram();
  spacingSum = 0;
  spacingCount = 0;
  framesSent = 0;
  framesReturned = 0;
  malformed = 0;
  #windowStart = 0;

  constructor(options: LoadGeneratorOptions) {
    this.codec = options.codec;
    this.clock = options.clock;
    this.logger = options.logger;
    this.#bank = options.bank;
  }

  /** A new call (not yet connected): its payloads come from the bank, each call at its own offset. */
  createCall(info: StreamStartInfo): LoadCall {
    const index = this.calls.length;
    const voice = this.#bank.voice(this.codec, index);
    const call = new LoadCall(this, info, voice.payloads, voice.offset);
    this.calls.push(call);
    return call;
  }

  get liveCalls(): number {
    return this.calls.filter((c) => !c.failed).length;
  }

  /** Start a measurement window: counters and histograms from now on. */
  resetWindow(nowMs: number): void {
    for (const call of this.calls) call.windowStart = call.windowEnd = call.framesSent;
    this.roundTrip.reset();
    this.sendLag.reset();
    this.spacingDeviation.reset();
    this.spacingSum = 0;
    this.spacingCount = 0;
    this.framesSent = 0;
    this.framesReturned = 0;
    this.#windowStart = nowMs;
  }

  /** Close the window; its loss is provisional (frames in flight) until settledLoss(). */
  window(nowMs: number): WindowStats {
    for (const call of this.calls) call.windowEnd = call.framesSent;
    const sent = this.framesSent;
    const returned = this.framesReturned;
    const r3 = (v: number) => Math.round(v * 1000) / 1000;
    return {
      calls: this.liveCalls,
      seconds: r3((nowMs - this.#windowStart) / 1000),
      framesSent: sent,
      framesReturned: returned,
      lossRate: sent === 0 ? 0 : Math.max(0, 1 - returned / sent),
      roundTripMs: this.roundTrip.summary(),
      sendLagMs: this.sendLag.summary(),
      egressSpacing: {
        meanMs: r3(this.spacingCount === 0 ? 0 : this.spacingSum / this.spacingCount),
        p99DeviationMs: r3(this.spacingDeviation.percentile(0.99)),
        p999DeviationMs: r3(this.spacingDeviation.percentile(0.999)),
      },
      failedCalls: this.calls.filter((c) => c.failed).length,
    };
  }

  /**
   * Loss over the frames sent in the last window, counting the echoes that
   * came back since (call it a while after window()): a frame that comes
   * back late is late, not lost; one that never comes back is lost.
   */
  settledLoss(): { framesSent: number; framesReturned: number; lossRate: number } {
    let sent = 0;
    let returned = 0;
    for (const call of this.calls) {
      sent += call.windowEnd - call.windowStart;
      returned += Math.min(Math.max(call.framesReturned, call.windowStart), call.windowEnd) - call.windowStart;
    }
    return { framesSent: sent, framesReturned: returned, lossRate: sent === 0 ? 0 : 1 - returned / sent };
  }

  /** Media sockets the target closed while the call was live, by close code and reason. */
  readonly peerCloses: Record<string, number> = {};

  closeAll(): void {
    for (const call of this.calls.splice(0)) call.close();
  }
}
