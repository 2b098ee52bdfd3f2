/**
 * Greeting and hold audio from a file, decoded once at start (off the hot
 * path): WAV always (our own parser, src/media/wav.ts); MP3, Ogg, WebM, FLAC
 * and MP4/M4A through prism-media's FFmpeg stream when an `ffmpeg` binary is
 * installed, with a clear message naming the fix when it is not.
 *
 * prism-media looks for FFmpeg in `ffmpeg-static`, then `ffmpeg` on PATH,
 * then `./ffmpeg` in the working directory. A binary in the working
 * directory is not one we want to run, so we hand files to prism-media only
 * after finding `ffmpeg` ourselves in an absolute PATH directory, which its
 * search then finds first.
 */
import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import prism from 'prism-media';
import { ErrorCodes, TtmaError } from '../errors.js';
import type { PromptPcm } from '../media/PromptAudio.js';
import { decodeWav, isWav, WavError } from '../media/wav.js';
import { resampleOffline } from '../media/resampleOffline.js';

/** A prompt longer than this is a mistake (a whole album as a greeting). */
export const MAX_PROMPT_SECONDS = 600;
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** FFmpeg decodes to this rate; PromptAudio resamples to each call's rate. */
const DECODE_RATE = 48_000;
const FFMPEG_TIMEOUT_MS = 30_000;
/** Rates calls run at (the polyphase resampler's): prompts at other rates are converted at load. */
const CALL_RATES: readonly number[] = [8000, 16000, 24000, 48000];

export interface LoadedAudio extends PromptPcm {
  /** What the file was: "WAV (PCM 16-bit, 2 channels)", "MP3 via FFmpeg"... */
  description: string;
}

type Container = 'MP3' | 'Ogg' | 'WebM/Matroska' | 'FLAC' | 'MP4/M4A';

/** The container by its first bytes (never by the file name). */
export function sniffContainer(b: Uint8Array): Container | null {
  const tag = (at: number, s: string) => s.split('').every((c, i) => b[at + i] === c.charCodeAt(0));
  if (tag(0, 'ID3') || (b.length > 1 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0)) return 'MP3';
  if (tag(0, 'OggS')) return 'Ogg';
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'WebM/Matroska';
  if (tag(0, 'fLaC')) return 'FLAC';
  if (tag(4, 'ftyp')) return 'MP4/M4A';
  return null;
}

/** `ffmpeg` in an absolute PATH directory, or null. */
export async function findFfmpeg(pathVariable = process.env['PATH'] ?? ''): Promise<string | null> {
  for (const dir of pathVariable.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, 'ffmpeg');
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function audioError(path: string, message: string, cause?: unknown): TtmaError {
  return new TtmaError(ErrorCodes.AUDIO_FILE, `${path}: ${message}`, 500, cause === undefined ? undefined : { cause });
}

export async function loadAudioFile(path: string, options: { pathVariable?: string } = {}): Promise<LoadedAudio> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw audioError(path, 'not a regular file');
    size = info.size;
  } catch (err) {
    if (err instanceof TtmaError) throw err;
    throw audioError(path, `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
  }
  if (size > MAX_FILE_BYTES) throw audioError(path, `${size} bytes is over the ${MAX_FILE_BYTES}-byte limit for prompt audio`);
  const bytes = new Uint8Array(await readFile(path));
  let loaded: LoadedAudio;
  if (isWav(bytes)) {
    try {
      const wav = decodeWav(bytes);
      loaded = { sampleRate: wav.sampleRate, pcm: wav.pcm, description: `WAV (${wav.format}, ${wav.channels} channel${wav.channels === 1 ? '' : 's'})` };
    } catch (err) {
      if (err instanceof WavError) throw audioError(path, `bad WAV: ${err.message}`, err);
      throw err;
    }
  } else {
    const container = sniffContainer(bytes);
    if (container === null) throw audioError(path, 'not a recognised audio file (WAV, or MP3, Ogg, WebM, FLAC, M4A with FFmpeg)');
    const ffmpeg = await findFfmpeg(options.pathVariable);
    if (ffmpeg === null) {
      throw audioError(path, `is ${container}; converting it needs FFmpeg, which is not installed (Debian: apt-get install ffmpeg), or give a WAV file instead`);
    }
    loaded = { sampleRate: DECODE_RATE, pcm: await decodeWithFfmpeg(path, bytes), description: `${container} via FFmpeg (${ffmpeg})` };
  }
  if (loaded.pcm.length === 0) throw audioError(path, 'holds no audio');
  const seconds = loaded.pcm.length / loaded.sampleRate;
  if (seconds > MAX_PROMPT_SECONDS) throw audioError(path, `${seconds.toFixed(0)} s is over the ${MAX_PROMPT_SECONDS} s limit for prompt audio`);
  if (!CALL_RATES.includes(loaded.sampleRate)) {
    // 44.1 kHz and friends: once, here, to 48 kHz, from which every call rate is a fast polyphase step.
    return { sampleRate: DECODE_RATE, pcm: resampleOffline(loaded.pcm, loaded.sampleRate, DECODE_RATE), description: `${loaded.description}, ${loaded.sampleRate} Hz resampled to ${DECODE_RATE} Hz` };
  }
  return loaded;
}

/** Piped through FFmpeg's stdin (the path never reaches its command line): mono PCM16 at DECODE_RATE out. */
function decodeWithFfmpeg(path: string, bytes: Uint8Array): Promise<Int16Array> {
  return new Promise((resolve, reject) => {
    const maxBytes = MAX_PROMPT_SECONDS * DECODE_RATE * 2;
    let transcoder: prism.FFmpeg;
    try {
      transcoder = new prism.FFmpeg({ args: ['-analyzeduration', '0', '-loglevel', 'error', '-f', 's16le', '-acodec', 'pcm_s16le', '-ac', '1', '-ar', String(DECODE_RATE)] });
    } catch (err) {
      reject(audioError(path, 'FFmpeg could not be started', err));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (err: TtmaError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      transcoder.destroy();
      if (err) return reject(err);
      const all = Buffer.concat(chunks, received);
      const pcm = new Int16Array(all.length >> 1);
      for (let i = 0; i < pcm.length; i++) pcm[i] = all.readInt16LE(2 * i);
      resolve(pcm);
    };
    const timer = setTimeout(() => finish(audioError(path, `FFmpeg took over ${FFMPEG_TIMEOUT_MS / 1000} s`)), FFMPEG_TIMEOUT_MS);
    transcoder.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) return finish(audioError(path, `decodes to over ${MAX_PROMPT_SECONDS} s of audio`));
      chunks.push(chunk);
    });
    transcoder.on('end', () => finish(received === 0 ? audioError(path, 'FFmpeg could not decode it') : null));
    transcoder.on('error', (err: unknown) => finish(audioError(path, 'FFmpeg failed to decode it', err)));
    transcoder.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
}
