/**
 * Redeems an install token at the platform: POST the token, get the sealed
 * envelope or a refusal that says why (FAQ-08). The answer is read as it
 * arrives and cut off at 64 KiB, so a hostile or broken platform can make
 * the installer neither hold an endless answer nor wait past the timeout.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import { failureReason, readBounded } from './download.js';

const REDEEM_TIMEOUT_MS = 30_000;
const MAX_REDEEM_BYTES = 64 * 1024;

/**
 * The envelope, or a TtmaError. `onSpent` is called as soon as the platform
 * answers 200: it has taken the token then, even if the answer breaks off.
 */
export async function redeem(platformUrl: string, token: string, onSpent: () => void): Promise<unknown> {
  const url = `${platformUrl}/v1/install/redeem`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
      redirect: 'error',
      signal: AbortSignal.timeout(REDEEM_TIMEOUT_MS),
    });
  } catch (cause) {
    throw new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `cannot reach the platform at ${platformUrl} (${failureReason(cause, REDEEM_TIMEOUT_MS)}); nothing was written`, 2, { cause });
  }
  if (res.status === 200) onSpent();
  const text = (await readBounded(res, "the platform's answer to the token", url, MAX_REDEEM_BYTES, REDEEM_TIMEOUT_MS)).toString('utf8');
  let body: { envelope?: unknown; error?: { code?: unknown; message?: unknown } } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // handled below
  }
  if (res.status !== 200 || !body?.envelope) {
    const said = typeof body?.error?.message === 'string' ? body.error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 300) : `status ${res.status}`;
    throw new TtmaError(ErrorCodes.INSTALL_TOKEN, `the platform refused the token: ${said}; nothing was written`, 2);
  }
  return body.envelope;
}
