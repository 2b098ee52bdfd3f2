/**
 * Relaying a stream into a uWebSockets.js response (src/front/streamToResponse.ts),
 * on a real uWS server on the loopback with node:http clients: a slow reader
 * pauses the source (the relay holds a bounded amount, not the body), the
 * body arrives byte for byte with or without a declared length, and a source
 * that fails, ends short or runs long cuts the connection instead of
 * completing a wrong answer; a client that goes away stops the source.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { streamToResponse, type RelayOutcome } from '../../src/front/streamToResponse.js';
import { uws, type us_listen_socket } from '../../src/front/uws.js';

const CHUNK = 64 * 1024;

/** Byte i of every test body: not a repeating chunk, so a dropped or doubled chunk changes the hash. */
function fill(chunk: Buffer, start: number): Buffer {
  for (let k = 0; k < chunk.length; k++) {
    const i = start + k;
    chunk[k] = (i * 7 + (i >>> 16)) & 0xff;
  }
  return chunk;
}

function expectedSha(length: number): string {
  const hash = createHash('sha256');
  for (let start = 0; start < length; start += CHUNK) hash.update(fill(Buffer.alloc(Math.min(CHUNK, length - start)), start));
  return hash.digest('hex');
}

interface Source {
  stream: Readable;
  produced: () => number;
}

/** `length` bytes in 64 KiB chunks made on demand (so what was made is what the relay asked for); then ends, or fails. */
function source(length: number, ending: 'end' | 'error' = 'end'): Source {
  let produced = 0;
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      if (produced >= length) {
        if (ending === 'error') this.destroy(new Error('platform connection reset'));
        else this.push(null);
        return;
      }
      const size = Math.min(CHUNK, length - produced);
      this.push(fill(Buffer.alloc(size), produced));
      produced += size;
    },
  });
  return { stream, produced: () => produced };
}

interface Case {
  make: () => Source;
  totalBytes: number | null;
}

describe('streamToResponse: a stream into a uWS response with backpressure', { timeout: 60_000 }, () => {
  let listen: us_listen_socket;
  let port: number;
  const cases = new Map<string, Case>();
  const outcomes = new Map<string, { outcome: RelayOutcome; bytes: number; reason?: string | undefined }>();
  const sources = new Map<string, Source>();

  before(async () => {
    const app = uws.App();
    app.get('/relay/:name', (res, req) => {
      const name = req.getParameter(0) ?? '';
      const spec = cases.get(name)!;
      const src = spec.make();
      sources.set(name, src);
      const state = { aborted: false };
      let abort: (() => void) | null = null;
      res.onAborted(() => {
        state.aborted = true;
        abort?.();
      });
      // Started from a timer, as the gateway starts it from the platform's answer: outside uWS's callback.
      setImmediate(() => {
        if (state.aborted) return;
        abort = streamToResponse(res, src.stream, {
          status: '200 OK',
          headers: { 'content-type': 'audio/mpeg' },
          totalBytes: spec.totalBytes,
          state,
          done: (outcome, bytes, reason) => outcomes.set(name, { outcome, bytes, reason }),
        });
      });
    });
    listen = await new Promise<us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('cannot listen')))));
    port = uws.us_socket_local_port(listen);
  });
  after(() => {
    uws.us_listen_socket_close(listen);
  });

  function get(name: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/relay/${name}`, agent: false }, resolve);
      req.on('error', reject);
    });
  }

  /** Reads the whole answer, pausing `pauseMs` after the first chunk; reports how far the source ran ahead during the pause. */
  async function readSlowly(name: string, pauseMs: number): Promise<{ res: IncomingMessage; bytes: number; sha256: string; aheadWhilePaused: number }> {
    const res = await get(name);
    const hash = createHash('sha256');
    let bytes = 0;
    let aheadWhilePaused = -1;
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (aheadWhilePaused === -1) {
          aheadWhilePaused = 0;
          res.pause();
          setTimeout(() => {
            aheadWhilePaused = sources.get(name)!.produced() - bytes;
            res.resume();
          }, pauseMs);
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    return { res, bytes, sha256: hash.digest('hex'), aheadWhilePaused };
  }

  /** An answer that must not complete: resolves with what came before the cut. */
  async function readCut(name: string): Promise<{ status: number; bytes: number; complete: boolean }> {
    const res = await get(name);
    let bytes = 0;
    await new Promise<void>((resolve) => {
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('error', () => resolve());
      res.on('close', () => resolve());
    });
    return { status: res.statusCode ?? 0, bytes, complete: res.complete };
  }

  async function outcomeOf(name: string): Promise<{ outcome: RelayOutcome; bytes: number; reason?: string | undefined }> {
    for (let k = 0; k < 200 && !outcomes.has(name); k++) await new Promise((r) => setTimeout(r, 10));
    const outcome = outcomes.get(name);
    assert.ok(outcome, `${name}: the relay reported its end`);
    return outcome;
  }

  for (const declared of [true, false]) {
    it(`${declared ? 'a declared length' : 'no declared length (chunked)'}: 48 MiB to a reader that stops for 600 ms, byte for byte, the source paused meanwhile`, { timeout: 20_000 }, async () => {
      const length = 48 * 1024 * 1024;
      const name = declared ? 'big-declared' : 'big-chunked';
      cases.set(name, { make: () => source(length), totalBytes: declared ? length : null });
      const read = await readSlowly(name, 600);
      assert.equal(read.res.statusCode, 200);
      assert.equal(read.res.headers['content-type'], 'audio/mpeg');
      if (declared) assert.equal(read.res.headers['content-length'], String(length));
      else assert.equal(read.res.headers['transfer-encoding'], 'chunked');
      assert.equal(read.bytes, length);
      assert.equal(read.sha256, expectedSha(length));
      // Socket buffers on both ends and one chunk in uWS: a few MiB, never the body.
      assert.ok(read.aheadWhilePaused >= 0 && read.aheadWhilePaused < 16 * 1024 * 1024, `the source ran ${read.aheadWhilePaused} bytes ahead of a paused reader`);
      assert.deepEqual(await outcomeOf(name), { outcome: 'sent', bytes: length, reason: undefined });
    });
  }

  it('an empty body with a declared length of 0 is a complete, empty answer', { timeout: 20_000 }, async () => {
    cases.set('empty', { make: () => source(0), totalBytes: 0 });
    const read = await readSlowly('empty', 0);
    assert.equal(read.res.statusCode, 200);
    assert.equal(read.bytes, 0);
    assert.equal((await outcomeOf('empty')).outcome, 'sent');
  });

  it('a source that ends short of its declared length cuts the connection: the client never sees a complete answer', { timeout: 20_000 }, async () => {
    cases.set('short', { make: () => source(512 * 1024), totalBytes: 1024 * 1024 });
    const read = await readCut('short');
    assert.equal(read.status, 200);
    assert.equal(read.complete, false);
    assert.ok(read.bytes <= 512 * 1024);
    const outcome = await outcomeOf('short');
    assert.equal(outcome.outcome, 'source_failed');
    assert.match(outcome.reason ?? '', /ended after 524288 of its declared 1048576 bytes/);
  });

  it('a source that sends more than it declared is cut before the excess goes out', { timeout: 20_000 }, async () => {
    cases.set('long', { make: () => source(300 * 1024), totalBytes: 100 * 1024 });
    const read = await readCut('long');
    assert.equal(read.complete, false);
    assert.ok(read.bytes < 100 * 1024, `${read.bytes} bytes reached the client`);
    const outcome = await outcomeOf('long');
    assert.equal(outcome.outcome, 'source_failed');
    assert.match(outcome.reason ?? '', /more than its declared 102400 bytes/);
  });

  for (const declared of [true, false]) {
    it(`a source that fails part way cuts the connection (${declared ? 'declared length' : 'chunked'})`, { timeout: 20_000 }, async () => {
      const name = declared ? 'fails-declared' : 'fails-chunked';
      cases.set(name, { make: () => source(256 * 1024, 'error'), totalBytes: declared ? 1024 * 1024 : null });
      const read = await readCut(name);
      assert.equal(read.complete, false, 'a chunked answer without its last chunk is not complete either');
      const outcome = await outcomeOf(name);
      assert.equal(outcome.outcome, 'source_failed');
      assert.match(outcome.reason ?? '', /platform connection reset/);
    });
  }

  it('a client that goes away stops the source', { timeout: 20_000 }, async () => {
    const length = 64 * 1024 * 1024;
    cases.set('gone', { make: () => source(length), totalBytes: length });
    const res = await get('gone');
    await new Promise<void>((resolve) => res.once('data', () => resolve()));
    res.destroy();
    const outcome = await outcomeOf('gone');
    assert.equal(outcome.outcome, 'aborted');
    const src = sources.get('gone')!;
    assert.equal(src.stream.destroyed, true, 'the source (the platform request) is destroyed');
    assert.ok(src.produced() < 32 * 1024 * 1024, `the source stopped early: ${src.produced()} of ${length} bytes made`);
  });
});
