/**
 * A text field of a verified webhook payload, as the gateway uses it (end
 * reasons, logs, call records). Verified means the provider sent it, not
 * that it has the documented shape: `String(x)` of a JSON object whose
 * toString is not a function throws, and a throw while handling an event
 * answers the provider 500. So only a string is taken, and cut short.
 */

/** Long enough for any cause or reason the provider documents (the platform keeps 64 too). */
export const PAYLOAD_TEXT_MAX = 64;

export function payloadText(value: unknown, fallback: string): string {
  return typeof value === 'string' && value.length > 0 ? value.slice(0, PAYLOAD_TEXT_MAX) : fallback;
}
