/**
 * Downloads a bundle into memory, bounded in size and time, and verifies its
 * SHA-256 before the caller may look at a byte of it (FAQ-15). No redirects
 * are followed: the URL in the token is the only place a bundle comes from.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, TtmaError } from '../errors.js';

export const DOWNLOAD_TIMEOUT_MS = 60_000;

export async function downloadVerified(label: string, url: string, sha256Hex: string, maxBytes: number, timeoutMs = DOWNLOAD_TIMEOUT_MS): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (cause) {
    throw new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `${label}: download from ${url} failed (${(cause as Error).message}); nothing was written`, 2, { cause });
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `${label}: ${url} answered ${res.status}, expected 200; nothing was written`, 2);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body.cancel();
    throw new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `${label}: ${declared} bytes is more than the ${maxBytes} allowed; nothing was written`, 2);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const hash = createHash('sha256');
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) {
      throw new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `${label}: more than the ${maxBytes} bytes allowed; nothing was written`, 2);
    }
    hash.update(chunk);
    chunks.push(Buffer.from(chunk));
  }
  const actual = hash.digest();
  const expected = Buffer.from(sha256Hex, 'hex');
  if (expected.length !== 32 || !timingSafeEqual(actual, expected)) {
    throw new TtmaError(
      ErrorCodes.INSTALL_DIGEST,
      `${label}: SHA-256 mismatch (expected ${sha256Hex}, got ${actual.toString('hex')}): the bundle is not the one the token names; nothing was unpacked or written`,
      2,
    );
  }
  return Buffer.concat(chunks, total);
}
