/**
 * Read a uWS request body with a size limit and a read timeout, and, given a
 * budget, within what all bodies being read at once may hold (refused
 * `busy` past it). uWS hands out chunks that are valid only during the
 * callback, so each is copied.
 */
import type { BodyBudget } from './BodyBudget.js';
import type { HttpResponse } from './uws.js';

export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'timeout' | 'aborted' | 'busy' };

export function readBody(res: HttpResponse, limitBytes: number, timeoutMs: number, state: { aborted: boolean }, budget?: BodyBudget): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: BodyResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // Held while it arrived; once read, the body is handled at once and dropped.
      budget?.give(size);
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: 'timeout' }), timeoutMs);
    res.onAborted(() => {
      state.aborted = true;
      finish({ ok: false, reason: 'aborted' });
    });
    res.onData((chunk, isLast) => {
      if (done) return;
      if (size + chunk.byteLength > limitBytes) {
        finish({ ok: false, reason: 'too_large' });
        return;
      }
      if (budget && !budget.take(chunk.byteLength)) {
        finish({ ok: false, reason: 'busy' });
        return;
      }
      size += chunk.byteLength;
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) finish({ ok: true, body: Buffer.concat(chunks, size) });
    });
  });
}
