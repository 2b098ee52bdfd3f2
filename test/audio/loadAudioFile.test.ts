/**
 * Prompt audio files: WAV through our parser; MP3 and Ogg through the real
 * FFmpeg (Debian's `ffmpeg`, installed by .ci/run) via prism-media; a clear
 * error for each thing that can be wrong, including FFmpeg missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFfmpeg, loadAudioFile, sniffContainer } from '../../src/audio/loadAudioFile.js';
import { encodeWav } from '../../src/media/wav.js';
import { PromptAudio } from '../../src/media/PromptAudio.js';
import { bestLagCorrelation } from '../../src/media/correlation.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { isTtmaError } from '../../src/errors.js';

function ffmpegUnavailable(): string | undefined {
  if (spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0) return undefined;
  if (process.env['CI']) throw new Error('ffmpeg is not installed; CI must install it (apt-get install ffmpeg)');
  return 'ffmpeg is not installed (apt-get install ffmpeg)';
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-audio-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const speech = new SpeechLikeSignal(16000, 21).next(16000);

const refusal = (pattern: RegExp) => (e: unknown) => isTtmaError(e) && e.code === 'TTMA_ERR_AUDIO_FILE' && pattern.test(e.message);

test('a WAV file loads as it was written', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'greeting.wav');
    await writeFile(path, encodeWav(speech, 16000));
    const loaded = await loadAudioFile(path);
    assert.equal(loaded.sampleRate, 16000);
    assert.equal(loaded.description, 'WAV (PCM 16-bit, 1 channel)');
    assert.deepEqual([...loaded.pcm], [...speech]);
  });
});

test('refusals name the file and the reason: missing, a directory, empty, not audio, a broken WAV, too long', async () => {
  await withDir(async (dir) => {
    await assert.rejects(loadAudioFile(join(dir, 'nope.wav')), refusal(/nope\.wav: cannot read it \(ENOENT\)/));
    await assert.rejects(loadAudioFile(dir), refusal(/not a regular file/));
    await writeFile(join(dir, 'text.wav'), 'hello, this is not audio');
    await assert.rejects(loadAudioFile(join(dir, 'text.wav')), refusal(/not a recognised audio file/));
    const truncated = encodeWav(speech, 16000).subarray(0, 30);
    await writeFile(join(dir, 'cut.wav'), truncated);
    await assert.rejects(loadAudioFile(join(dir, 'cut.wav')), refusal(/bad WAV/));
    await writeFile(join(dir, 'empty.wav'), encodeWav(new Int16Array(0), 8000));
    await assert.rejects(loadAudioFile(join(dir, 'empty.wav')), refusal(/holds no audio/));
    await writeFile(join(dir, 'long.wav'), encodeWav(new Int16Array(4000 * 601), 4000));
    await assert.rejects(loadAudioFile(join(dir, 'long.wav')), refusal(/over the 600 s limit/));
  });
});

test('MP3 without FFmpeg: a clear message with the fix; a relative PATH entry or ./ffmpeg is never used', async () => {
  await withDir(async (dir) => {
    const mp3 = join(dir, 'hold.mp3');
    await writeFile(mp3, Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00'), Buffer.alloc(64)]));
    // A planted ./ffmpeg in a relative PATH entry must not be found.
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin', 'ffmpeg'), '#!/bin/sh\necho planted\n');
    await chmod(join(dir, 'bin', 'ffmpeg'), 0o755);
    assert.equal(await findFfmpeg('bin:.:'), null);
    assert.equal(await findFfmpeg(join(dir, 'bin')), join(dir, 'bin', 'ffmpeg'), 'an absolute PATH entry is searched');
    await assert.rejects(loadAudioFile(mp3, { pathVariable: join(dir, 'nothing-here') }), refusal(/hold\.mp3: is MP3; converting it needs FFmpeg, which is not installed \(Debian: apt-get install ffmpeg\), or give a WAV file instead/));
  });
});

test('containers are recognised by their bytes, not their names', () => {
  const b = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
  assert.equal(sniffContainer(b('ID3\x03')), 'MP3');
  assert.equal(sniffContainer(new Uint8Array([0xff, 0xfb, 0x90, 0x00])), 'MP3');
  assert.equal(sniffContainer(b('OggS\x00')), 'Ogg');
  assert.equal(sniffContainer(new Uint8Array([0x1a, 0x45, 0xdf, 0xa3])), 'WebM/Matroska');
  assert.equal(sniffContainer(b('fLaC')), 'FLAC');
  assert.equal(sniffContainer(b('\x00\x00\x00\x20ftypM4A ')), 'MP4/M4A');
  assert.equal(sniffContainer(b('RIFF')), null);
});

test('MP3 and Ogg/Opus through the real FFmpeg come back as the same speech, ready for every call rate', { skip: ffmpegUnavailable() }, async () => {
  await withDir(async (dir) => {
    const wav = join(dir, 'source.wav');
    await writeFile(wav, encodeWav(speech, 16000));
    for (const [name, args] of [['prompt.mp3', ['-c:a', 'libmp3lame', '-b:a', '64k']], ['prompt.ogg', ['-c:a', 'libopus', '-b:a', '32k']]] as const) {
      const out = join(dir, name);
      const made = spawnSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', wav, ...args, out]);
      assert.equal(made.status, 0, made.stderr.toString());
      const loaded = await loadAudioFile(out);
      assert.match(loaded.description, /via FFmpeg/);
      assert.equal(loaded.sampleRate, 48000);
      assert.ok(Math.abs(loaded.pcm.length / 48000 - 1) < 0.1, `${name}: ${loaded.pcm.length / 48000} s`);
      const at16k = new PromptAudio(loaded).framesAt(16000);
      const flat = new Int16Array(at16k.length * 320);
      at16k.forEach((f, i) => flat.set(f, i * 320));
      // Perceptual codecs keep the speech, not every sample: correlate allowing the encoder's delay.
      const found = bestLagCorrelation(speech.subarray(1600, 12800), flat.subarray(1600, 12800), 1600);
      assert.ok(found.correlation > 0.8, `${name}: correlation ${found.correlation.toFixed(3)} at lag ${found.lagSamples}`);
    }
  });
});
