/**
 * An HTTP answer's body, whole, read by a client of ours (the gateway's
 * SignallingClient, the `ttma` CLI) with a bound on its size: past
 * `maxBytes` the answer is destroyed ("response too large"); a body cut
 * short by a reset or a timeout rejects ("answer cut short").
 */
import type { IncomingMessage } from 'node:http';

export function readAnswerBody(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) res.destroy(new Error('response too large'));
      else chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks, size)));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(new Error('answer cut short'));
    });
  });
}
