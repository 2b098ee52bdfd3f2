/**
 * Relays a Node stream (an answer from the platform) into a uWebSockets.js
 * response with backpressure, so a large body (a call recording) passes
 * through the gateway a chunk at a time instead of whole in its memory: the
 * source is paused while the client is slower than the platform and resumed
 * from `onWritable`.
 *
 * With a declared length the body goes out with `tryEnd` (uWS writes the
 * Content-Length and tells when it is all sent); a source that ends short
 * or runs long closes the connection, so the client sees a cut answer,
 * never a complete-looking wrong one. Without one it goes out chunked.
 * This is the pattern of uWS's own streaming example (examples/VideoStreamer.js:
 * keep the chunk that did not fit and the write offset it started at, and
 * retry its rest in onWritable).
 */
import type { Readable } from 'node:stream';
import type { HttpResponse } from './uws.js';

export type RelayOutcome = 'sent' | 'aborted' | 'source_failed';

export interface RelayOptions {
  status: string;
  headers: Record<string, string>;
  /** The body's length, when the source declared it (Content-Length). */
  totalBytes: number | null;
  /** Set by the caller's `onAborted`: the client went away. */
  state: { aborted: boolean };
  /** Called once, with the bytes taken from the source. */
  done(outcome: RelayOutcome, bytes: number, reason?: string): void;
}

/** How often a chunk uWS could not take is offered again, should its onWritable not come. */
const WATCH_MS = 50;

/** Starts the relay; the caller's onAborted must set `state.aborted` and call the returned `abort`. */
export function streamToResponse(res: HttpResponse, source: Readable, options: RelayOptions): () => void {
  const { state, totalBytes } = options;
  let taken = 0;
  let finished = false;
  /** The chunk that did not fit, and the response's write offset when it was first tried. */
  let pending: { chunk: Buffer; offset: number } | null = null;
  let watch: NodeJS.Timeout | null = null;

  const finish = (outcome: RelayOutcome, reason?: string): void => {
    if (finished) return;
    finished = true;
    if (watch) clearInterval(watch);
    watch = null;
    source.removeListener('data', onData);
    if (outcome !== 'sent') source.destroy();
    options.done(outcome, taken, reason);
  };
  const cut = (reason: string): void => {
    if (state.aborted) return finish('aborted', reason);
    finish('source_failed', reason);
    // The status line may already be out: closing is the only honest answer left (it runs onAborted, now a no-op).
    res.close();
  };

  res.cork(() => {
    res.writeStatus(options.status);
    for (const [name, value] of Object.entries(options.headers)) res.writeHeader(name, value);
  });
  if (totalBytes !== null) {
    res.onWritable((offset) => {
      if (finished || pending === null) return true;
      const [ok, sent] = res.tryEnd(pending.chunk.subarray(offset - pending.offset), totalBytes);
      if (sent) finish('sent');
      else if (ok) {
        pending = null;
        source.resume();
      }
      return ok;
    });
  }

  const onData = (chunk: Buffer): void => {
    if (finished) return;
    if (state.aborted) return finish('aborted');
    taken += chunk.length;
    if (totalBytes !== null && taken > totalBytes) return cut(`the source sent more than its declared ${totalBytes} bytes`);
    let ok = true;
    let sent = false;
    res.cork(() => {
      if (totalBytes === null) {
        ok = res.write(chunk);
        return;
      }
      const offset = res.getWriteOffset();
      [ok, sent] = res.tryEnd(chunk, totalBytes);
      if (!ok && !sent) pending = { chunk, offset };
    });
    if (sent) return finish('sent');
    if (ok) return;
    source.pause();
    if (totalBytes !== null) watchPending();
    // Chunked: uWS keeps what did not fit; carry on once it has drained.
    if (totalBytes === null) {
      res.onWritable(() => {
        source.resume();
        return true;
      });
    }
  };
  // uWS can let a drain pass without calling onWritable (seen here about once in three runs of the
  // 48 MiB relay test: the relay then waited for ever). The cause is not found (what was ruled
  // out: docs/decisions.md, twenty-fourth session), so this stays as a safety net: while a chunk
  // waits, it is offered again every WATCH_MS from the write offset uWS reports, as onWritable would.
  const watchPending = (): void => {
    if (watch) return;
    watch = setInterval(() => {
      if (finished || state.aborted || pending === null) {
        if (watch) clearInterval(watch);
        watch = null;
        return;
      }
      const waiting = pending;
      let ok = false;
      let sent = false;
      res.cork(() => {
        [ok, sent] = res.tryEnd(waiting.chunk.subarray(res.getWriteOffset() - waiting.offset), totalBytes ?? 0);
      });
      if (sent) return finish('sent');
      if (ok) {
        pending = null;
        source.resume();
      }
    }, WATCH_MS);
  };
  source.on('data', onData);
  source.once('end', () => {
    if (finished) return;
    if (state.aborted) return finish('aborted');
    if (totalBytes !== null && taken < totalBytes) return cut(`the source ended after ${taken} of its declared ${totalBytes} bytes`);
    // Chunked, or an empty body (tryEnd is never reached without a chunk).
    res.cork(() => res.end());
    finish('sent');
  });
  source.once('error', (err: Error) => cut(err.message));
  source.once('close', () => {
    if (!finished) cut('the source closed early');
  });
  return () => finish('aborted');
}
