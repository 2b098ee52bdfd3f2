/**
 * Read a uWS request body with a size limit and a read timeout. uWS hands
 * out chunks that are valid only during the callback, so each is copied.
 */
import type { HttpResponse } from './uws.js';

export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'timeout' | 'aborted' };

export function readBody(res: HttpResponse, limitBytes: number, timeoutMs: number, state: { aborted: boolean }): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: BodyResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: 'timeout' }), timeoutMs);
    res.onAborted(() => {
      state.aborted = true;
      finish({ ok: false, reason: 'aborted' });
    });
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limitBytes) {
        finish({ ok: false, reason: 'too_large' });
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) finish({ ok: true, body: Buffer.concat(chunks, size) });
    });
  });
}
