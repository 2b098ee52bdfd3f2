/**
 * The wait an HTTP 429 (or 503) answer asks for. Read by the platform of its
 * provider's answers (src/platform/providerTransport.ts) and by the gateway of
 * the platform's (src/control/SignallingClient.ts).
 */

/** A wait longer than this is not believed (a bad header must not park a request for long). */
const MAX_ADVISED_WAIT_MS = 60_000;

/**
 * The wait a 429 (or 503) answer asks for, in ms, or null when it names none:
 * `Retry-After` (RFC 9110: seconds, or an HTTP date), else Telnyx's
 * `x-ratelimit-reset` (seconds until the limit resets; developers.telnyx.com,
 * "Rate limiting"). Anything malformed or negative is ignored.
 */
export function retryAfterMsOf(headers: Record<string, string | string[] | undefined>, nowMs: number = Date.now()): number | null {
  const first = (name: string): string | undefined => {
    const value = headers[name];
    return (Array.isArray(value) ? value[0] : value)?.trim();
  };
  const seconds = (text: string | undefined): number | null => (text !== undefined && /^\d{1,9}(\.\d{1,3})?$/.test(text) ? Number(text) * 1000 : null);
  const retryAfter = first('retry-after');
  let ms = seconds(retryAfter);
  if (ms === null && retryAfter) {
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at) && /[a-z]/i.test(retryAfter)) ms = Math.max(0, at - nowMs);
  }
  ms ??= seconds(first('x-ratelimit-reset'));
  return ms === null ? null : Math.min(ms, MAX_ADVISED_WAIT_MS);
}
