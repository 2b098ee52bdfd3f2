/**
 * Downloads a bundle into memory, bounded in size and time, and verifies its
 * SHA-256 before the caller may look at a byte of it (FAQ-15). No redirects
 * are followed: the URL in the token is the only place a bundle comes from.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';

export const DOWNLOAD_TIMEOUT_MS = 60_000;

/** Why a fetch or a body read failed, in words: undici's "terminated" alone says nothing. */
export function failureReason(cause: unknown, timeoutMs: number): string {
  const err = cause as { name?: unknown; message?: unknown; cause?: { message?: unknown } } | null;
  if (err?.name === 'TimeoutError') return `no complete answer within ${timeoutMs / 1000} s`;
  const message = typeof err?.message === 'string' ? err.message : String(cause);
  return typeof err?.cause?.message === 'string' ? `${message}: ${err.cause.message}` : message;
}

/**
 * The body of `res`, at most `maxBytes` (counted as they arrive, so an
 * endless answer is cut off). A connection reset or a timeout while reading
 * becomes a TtmaError naming `label`, like every other download failure.
 */
export async function readBounded(res: Response, label: string, url: string, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const tooLarge = () => new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `${label}: more than the ${maxBytes} bytes allowed; nothing was written`, 2);
  if (!res.body) return Buffer.alloc(0);
  if (Number(res.headers.get('content-length') ?? '0') > maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    // Throwing inside the loop cancels the stream (and so the connection).
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > maxBytes) throw tooLarge();
      chunks.push(Buffer.from(chunk));
    }
  } catch (cause) {
    if (isTtmaError(cause)) throw cause;
    throw new TtmaError(
      ErrorCodes.INSTALL_DOWNLOAD,
      `${label}: the answer from ${url} broke off after ${total} bytes (${failureReason(cause, timeoutMs)}); nothing was written`,
      2,
      { cause },
    );
  }
  return Buffer.concat(chunks, total);
}

export async function downloadVerified(label: string, url: string, sha256Hex: string, maxBytes: number, timeoutMs = DOWNLOAD_TIMEOUT_MS): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (cause) {
    throw new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `${label}: download from ${url} failed (${failureReason(cause, timeoutMs)}); nothing was written`, 2, { cause });
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `${label}: ${url} answered ${res.status}, expected 200; nothing was written`, 2);
  }
  const bytes = await readBounded(res, label, url, maxBytes, timeoutMs);
  const actual = createHash('sha256').update(bytes).digest();
  const expected = Buffer.from(sha256Hex, 'hex');
  if (expected.length !== 32 || !timingSafeEqual(actual, expected)) {
    throw new TtmaError(
      ErrorCodes.INSTALL_DIGEST,
      `${label}: SHA-256 mismatch (expected ${sha256Hex}, got ${actual.toString('hex')}): the bundle is not the one the token names; nothing was unpacked or written`,
      2,
    );
  }
  return bytes;
}
