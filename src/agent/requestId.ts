/**
 * The optional `id` a `ws` agent puts on a request, echoed in that request's
 * `result` (and in an `error` about it): results come as answers arrive, and a
 * request refused by the bounds is answered ahead of earlier ones in flight,
 * so without an id an agent cannot tell which request an answer is for.
 * Bounded so an id cannot carry a transcript's worth of text around the gateway.
 */
export type RequestId = string | number;

export const MAX_REQUEST_ID_CHARS = 64;

/** `undefined`: no id (fine); `null`: an id that breaks the rules (the request is refused). */
export function readRequestId(value: unknown): RequestId | undefined | null {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  if (typeof value === 'string' && value.length >= 1 && value.length <= MAX_REQUEST_ID_CHARS && /^[\x20-\x7e]+$/.test(value)) return value;
  return null;
}

export const REQUEST_ID_RULE = `an id is a string of 1 to ${MAX_REQUEST_ID_CHARS} printable ASCII characters or a safe integer`;
