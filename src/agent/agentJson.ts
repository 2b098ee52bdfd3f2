/**
 * Agent input is JSON from a server we do not control: `null`, a number, a
 * string or an array parse fine, and indexing `null` throws inside a socket
 * listener, which ends the whole media worker with every call on it. Only a
 * plain object is a message; anything else is the caller's protocol error.
 */
export type JsonObject = Record<string, unknown>;

/** The parsed object, or null for text that is not JSON or not a JSON object. */
export function parseJsonObject(text: string): JsonObject | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return isJsonObject(value) ? value : null;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
