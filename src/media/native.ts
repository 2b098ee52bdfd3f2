/**
 * The optional N-API addon in native/ (C, DESIGN.md section 2): G.711 both ways
 * and the resampler's polyphase inner loop. The TypeScript in g711.ts and
 * Resampler.ts stays the reference and the fallback: when the addon is not
 * built, fails to load, or is disabled with TTMA_NATIVE=0, `nativeMedia` is
 * null and `nativeLoadError` says why.
 *
 * Output is bit-identical to the TypeScript (test/media/native.test.ts): the
 * G.711 tables are built by the same formulas, and the FIR sums in double in
 * the TypeScript's order (see native/src/polyphase.h).
 *
 * It also carries Opus (native/src/opus_napi.c) on the libopus that
 * @discordjs/opus ships, for the two things @discordjs/opus's own decode()
 * cannot do: a 20 ms packet-loss concealment and in-band FEC recovery.
 *
 * Build: `npm run build:native` (node-gyp in native/), docs/media.md.
 * This is the one module of src/media that touches the file system (once, at load).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FRAME_MS } from './constants.js';
import { frameArena } from './FrameArena.js';
import { checkRate, polyphaseDesign, type PolyphaseDesign } from './polyphaseDesign.js';

/** TTMA_ABI_VERSION in native/src/addon.c: a build of another interface version is refused, not half used. */
export const NATIVE_ABI_VERSION = 2;
/** Where node-gyp leaves the addon, relative to the repository root. */
const ADDON_PATH = ['native', 'build', 'Release', 'ttma_media.node'] as const;
/** Marks the repository root on the walk up from this file (src/media or dist/src/media). */
const ROOT_MARKER = ['native', 'binding.gyp'] as const;
/** Values of TTMA_NATIVE that turn the addon off (an A/B switch for the whole process). */
const DISABLED_VALUES: ReadonlySet<string> = new Set(['0', 'off', 'false', 'no']);
/** Length of the resampler state array: newest, branch, fraction. */
export const POLYPHASE_STATE_LENGTH = 3;
const MS_PER_SECOND = 1000;

/** Dot-product kernel of a filter: AVX2 with FMA on x86-64 CPUs that have it, else portable C. */
export type NativeKernel = 'avx2-fma' | 'scalar';

declare const filterBrand: unique symbol;

/**
 * Opaque handle (an external) to a filter copied into C memory by
 * polyphaseFilter(); freed by the garbage collector. Only handles from this
 * addon that are still alive are accepted back.
 */
export interface NativePolyphaseFilter {
  readonly [filterBrand]: true;
}

declare const opusDecoderBrand: unique symbol;
declare const opusEncoderBrand: unique symbol;
/** Opaque libopus decoder (mono); freed by the garbage collector. */
export interface NativeOpusDecoder {
  readonly [opusDecoderBrand]: true;
}
/** Opaque libopus encoder (mono, VoIP application); freed by the garbage collector. */
export interface NativeOpusEncoder {
  readonly [opusEncoderBrand]: true;
}

/**
 * The addon's functions. None allocates per call. Misuse throws a TypeError
 * (wrong type, including a wrong TypedArray kind) or a RangeError (too short,
 * out of range, inconsistent), both with code TTMA_ERR_NATIVE_ARGUMENT.
 */
export interface NativeMedia {
  /** Interface version of the build (NATIVE_ABI_VERSION). */
  readonly abiVersion: number;
  /** The kernel polyphaseFilter() picks on this machine by default. */
  readonly kernel: NativeKernel;
  /** The G.711 loops used here: AVX2 (16 samples a step) on x86-64 CPUs that have it, else the 256/64K tables. */
  readonly g711Kernel: 'avx2' | 'scalar';
  /** mu-law bytes to PCM16; dst.length >= src.length. Returns src.length. Buffers are Uint8Arrays and work. */
  pcmuDecode(src: Uint8Array, dst: Int16Array): number;
  /** PCM16 to mu-law bytes; dst.length >= src.length. Returns src.length. */
  pcmuEncode(src: Int16Array, dst: Uint8Array): number;
  /** A-law bytes to PCM16; dst.length >= src.length. Returns src.length. */
  pcmaDecode(src: Uint8Array, dst: Int16Array): number;
  /** PCM16 to A-law bytes; dst.length >= src.length. Returns src.length. */
  pcmaEncode(src: Int16Array, dst: Uint8Array): number;
  /**
   * Copy and check a polyphaseDesign() filter once (every branch inside coefs,
   * taps - 1 <= reach < history, tables of `up` entries). `kernel: 'scalar'`
   * forces the portable loop (for tests; both give the same samples).
   */
  polyphaseFilter(
    coefs: Float32Array,
    branchStart: Int32Array,
    branchLength: Int32Array,
    branchReach: Int32Array,
    branchSymmetric: Uint8Array,
    up: number,
    down: number,
    history: number,
    kernel?: 'auto' | 'scalar',
  ): NativePolyphaseFilter;
  /**
   * Resampler.processInto's body. `work` is the resampler's Float32 history
   * (length >= history + input.length; the first `history` floats are the
   * history); `state` is Int32Array [newest, branch, fraction] (see
   * native/src/polyphase.h; all zero for a fresh stream). Writes the input into
   * work, floor((fraction + up * input.length) / down) samples into output,
   * advances state and shifts the history, and returns the count. A state that
   * does not fit the filter, too short a work or output, or arrays sharing
   * memory throw a RangeError before anything is written.
   */
  polyphaseProcess(
    filter: NativePolyphaseFilter,
    work: Float32Array,
    state: Int32Array,
    input: Int16Array,
    output: Int16Array,
  ): number;
  /** pcmuDecode's argument checks without the loop: the fixed cost of one call (for the benchmark). */
  overheadProbe(src: Uint8Array, dst: Int16Array): number;
  /** libopus version string. */
  readonly opusVersion: string;
  /** A mono decoder at 8, 12, 16, 24 or 48 kHz. */
  opusDecoder(sampleRate: number): NativeOpusDecoder;
  /**
   * Samples written into pcm, or a negative libopus error code for a packet it
   * refuses (never thrown: the bytes come from a peer). packet null: conceal
   * exactly pcm.length samples; fec 1: recover the frame before `packet` from
   * its in-band FEC (pcm.length samples, a multiple of 2.5 ms).
   */
  opusDecode(decoder: NativeOpusDecoder, packet: Uint8Array | null, fec: 0 | 1, pcm: Int16Array): number;
  opusEncoder(sampleRate: number, bitrate: number, fec: 0 | 1, expectedLossPercent: number, complexity: number): NativeOpusEncoder;
  /** Bytes written into packet for one frame of pcm (2.5 to 60 ms). */
  opusEncode(encoder: NativeOpusEncoder, pcm: Int16Array, packet: Uint8Array): number;
}

const FUNCTIONS = [
  'pcmuDecode',
  'pcmuEncode',
  'pcmaDecode',
  'pcmaEncode',
  'polyphaseFilter',
  'polyphaseProcess',
  'overheadProbe',
  'opusDecoder',
  'opusDecode',
  'opusEncoder',
  'opusEncode',
] as const;

/** The nearest directory above this module holding native/binding.gyp, or null. */
function findRepoRoot(from: string): string | null {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, ...ROOT_MARKER))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function load(): { media: NativeMedia | null; error: string | null } {
  const setting = process.env['TTMA_NATIVE'];
  if (setting !== undefined && DISABLED_VALUES.has(setting.trim().toLowerCase())) {
    return { media: null, error: `native media addon disabled by TTMA_NATIVE=${setting}` };
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const root = findRepoRoot(here);
  if (root === null) {
    return { media: null, error: `native media addon: no native/binding.gyp in any directory above ${here}` };
  }
  const path = join(root, ...ADDON_PATH);
  if (!existsSync(path)) {
    return { media: null, error: `native media addon not built: ${path} is missing (run npm run build:native)` };
  }
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(path);
  } catch (err) {
    return { media: null, error: `native media addon ${path} failed to load: ${(err as Error).message}` };
  }
  const candidate = loaded as Partial<Record<string, unknown>>;
  if (candidate['abiVersion'] !== NATIVE_ABI_VERSION) {
    return {
      media: null,
      error: `native media addon ${path} has interface version ${String(candidate['abiVersion'])}, this code needs ${NATIVE_ABI_VERSION} (run npm run build:native)`,
    };
  }
  const missing = FUNCTIONS.filter((name) => typeof candidate[name] !== 'function');
  if (missing.length > 0) {
    return { media: null, error: `native media addon ${path} lacks ${missing.join(', ')} (run npm run build:native)` };
  }
  return { media: loaded as NativeMedia, error: null };
}

const loadResult = load();

/** The addon, or null when it is not built, did not load, or is disabled. */
export const nativeMedia: NativeMedia | null = loadResult.media;
/** Why nativeMedia is null (a sentence to log once), or null when it loaded. */
export const nativeLoadError: string | null = loadResult.error;

/** One C copy of each design per thread (handles belong to the thread's environment). */
const filters = new Map<string, NativePolyphaseFilter>();

/** The native filter for a polyphaseDesign(), made once per rate pair and kernel. */
export function nativePolyphaseFilter(
  native: NativeMedia,
  design: PolyphaseDesign,
  kernel: 'auto' | 'scalar' = 'auto',
): NativePolyphaseFilter {
  const key = `${design.info.fromRate}>${design.info.toRate}:${kernel}`;
  let filter = filters.get(key);
  if (filter === undefined) {
    filter = native.polyphaseFilter(
      design.coefs,
      design.branchStart,
      design.branchLength,
      design.branchReach,
      design.branchSymmetric,
      design.info.up,
      design.info.down,
      design.history,
      kernel,
    );
    filters.set(key, filter);
  }
  return filter;
}

/**
 * Resampler with the native inner loop: the same interface and the same
 * samples as Resampler. It is also the template for wiring the addon into
 * Resampler.ts: keep #work, replace #newest/#branch/#fraction by the state
 * array, and call polyphaseProcess where processInto's loop is.
 */
export class NativeResampler {
  readonly fromRate: number;
  readonly toRate: number;
  /** Group delay in output samples (a whole number). */
  readonly delayOutputSamples: number;
  readonly kernel: NativeKernel | null;
  readonly #native: NativeMedia;
  readonly #filter: NativePolyphaseFilter | null;
  readonly #history: number;
  readonly #up: number;
  readonly #down: number;
  #work: Float32Array;
  readonly #state = new Int32Array(POLYPHASE_STATE_LENGTH);

  constructor(fromRate: number, toRate: number, native: NativeMedia, kernel: 'auto' | 'scalar' = 'auto') {
    checkRate(fromRate, 'input');
    checkRate(toRate, 'output');
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.#native = native;
    if (fromRate === toRate) {
      this.#filter = null;
      this.kernel = null;
      this.#history = 0;
      this.#up = 1;
      this.#down = 1;
      this.delayOutputSamples = 0;
      this.#work = new Float32Array(0);
    } else {
      const d = polyphaseDesign(fromRate, toRate);
      this.#filter = nativePolyphaseFilter(native, d, kernel);
      this.kernel = kernel === 'scalar' ? 'scalar' : native.kernel;
      this.#history = d.history;
      this.#up = d.info.up;
      this.#down = d.info.down;
      this.delayOutputSamples = d.info.delayOutputSamples;
      this.#work = new Float32Array(d.history + Math.ceil((fromRate * FRAME_MS) / MS_PER_SECOND));
    }
  }

  /** Output samples the next process() call will return for `inputLength` input samples. */
  outputLength(inputLength: number): number {
    return Math.floor((this.#state[2]! + this.#up * inputLength) / this.#down);
  }

  /** As Resampler.process: a new array, or with `out` a view of its first samples. */
  process(input: Int16Array, out?: Int16Array): Int16Array {
    const count = this.outputLength(input.length);
    if (out === undefined) {
      const dst = frameArena.int16(count);
      this.processInto(input, dst);
      return dst;
    }
    this.processInto(input, out);
    return out.length === count ? out : out.subarray(0, count);
  }

  /** Convert the next chunk into `out`; returns the number of samples written. */
  processInto(input: Int16Array, out: Int16Array): number {
    if (this.#filter === null) {
      if (out.length < input.length) throw new RangeError(`NativeResampler.process: out holds ${out.length} samples, needs ${input.length}`);
      out.set(input);
      return input.length;
    }
    const history = this.#history;
    if (this.#work.length < history + input.length) {
      const grown = new Float32Array(history + input.length);
      grown.set(this.#work.subarray(0, history));
      this.#work = grown;
    }
    return this.#native.polyphaseProcess(this.#filter, this.#work, this.#state, input, out);
  }

  /** Forget all history, as if newly constructed. */
  reset(): void {
    this.#work.fill(0);
    this.#state.fill(0);
  }
}
