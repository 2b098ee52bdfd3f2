/**
 * The gateway's outbound control connection: a WebSocket the gateway opens to
 * the platform (the gateway never accepts inbound control traffic, DESIGN 7).
 *
 * Authentication at the upgrade, with the same identity as the signalling
 * requests (headers only, never the URL):
 *   authorization: Bearer <agent secret>
 *   x-ttma-deployment: <deployment id>
 * A refused upgrade is an HTTP answer `{"error":{"code","message"}}` (401/403/429).
 *
 * Messages are JSON text, one object each.
 */
export const CONTROL_PATH = '/v1/control';
/** Larger frames close the connection (1009). */
export const CONTROL_MAX_PAYLOAD = 16 * 1024;
/**
 * What a gateway reads from the platform: a relayed webhook (a body of at most
 * WEBHOOK_BODY_LIMIT, 64 KiB, as base64) with room for its envelope.
 */
export const CONTROL_MAX_PAYLOAD_TO_GATEWAY = 96 * 1024;
/** Longest signature and timestamp header values relayed (base64 of 64 bytes is 88; Unix seconds are 10). */
const RELAYED_HEADER_MAX = 256;
const RELAYED_BODY_B64_MAX = Math.ceil((64 * 1024) / 3) * 4;
/** Close codes in the private range: the platform revoked the identity (secret rotated, deployment disabled). */
export const CLOSE_REVOKED = 4401;

export type CapKind = 'day' | 'month';

/** Whether new calls are refused for a cap, and until when (ISO time, UTC). */
export type CapState = { capped: false } | { capped: true; cap: CapKind; until: string; message: string };

/** Platform -> gateway. */
export type PlatformControlMessage =
  /** First message after the upgrade: who we are talking to, the cap state now, the ping interval. */
  | { type: 'hello'; deployment: string; cap_state: CapState; heartbeat_ms: number }
  /** The cap state changed (a cap reached, raised by the operator...). */
  | { type: 'cap.state'; cap_state: CapState }
  /** A live call is being ended by the platform because a cap is reached; the provider hang-up follows in ending_in_ms. */
  | { type: 'cap.reached'; cap: CapKind; call_control_id: string; ending_in_ms: number; message: string }
  /** Answer to a usage report. */
  | { type: 'usage.ack'; call_control_id: string; ok: true; flags: string[] }
  | { type: 'usage.ack'; call_control_id: string; ok: false; code: string; message: string }
  /**
   * A message the platform could not take (malformed, rate limited). `call_control_id`: the usage
   * report it refuses for the rate limit, to be sent again later (a field older gateways ignore).
   */
  | { type: 'error'; code: string; message: string; call_control_id?: string }
  /**
   * A provider webhook the platform received and verified, relayed byte for byte with the
   * provider's own signature headers: the gateway verifies it again, against the provider's key,
   * exactly as one sent to its tunnel (the provider sends each event to one URL per connection,
   * the platform's). The platform cannot make one up: it does not hold the provider's signing key.
   */
  | { type: 'provider.event'; signature: string; timestamp: string; body_base64: string };

/** Gateway -> platform. */
export type GatewayControlMessage =
  /** The gateway's duration of a call at hang-up (answer to end); cross-checked, never billed from (FAQ-14). */
  { type: 'usage'; call_control_id: string; duration_ms: number };

/** ws://... or wss://... for the platform's base URL (http -> ws, https -> wss). */
export function controlUrl(platformUrl: string): URL {
  const base = new URL(platformUrl.replace(/\/+$/, ''));
  const url = new URL(base.pathname.replace(/\/$/, '') + CONTROL_PATH, base);
  url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

/** Shape check of a message from the platform (JSON from the network): null when it is not one we know. */
export function parsePlatformMessage(value: unknown): PlatformControlMessage | null {
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  const str = (k: string) => typeof m[k] === 'string';
  switch (m['type']) {
    case 'hello':
      return str('deployment') && isCapState(m['cap_state']) && typeof m['heartbeat_ms'] === 'number' ? (m as PlatformControlMessage) : null;
    case 'cap.state':
      return isCapState(m['cap_state']) ? (m as PlatformControlMessage) : null;
    case 'cap.reached':
      return isCapKind(m['cap']) && str('call_control_id') && typeof m['ending_in_ms'] === 'number' && str('message') ? (m as PlatformControlMessage) : null;
    case 'usage.ack':
      if (!str('call_control_id')) return null;
      if (m['ok'] === true) return Array.isArray(m['flags']) && m['flags'].every((f) => typeof f === 'string') ? (m as PlatformControlMessage) : null;
      return m['ok'] === false && str('code') && str('message') ? (m as PlatformControlMessage) : null;
    case 'error':
      return str('code') && str('message') && (m['call_control_id'] === undefined || str('call_control_id')) ? (m as PlatformControlMessage) : null;
    case 'provider.event':
      return boundedString(m['signature'], RELAYED_HEADER_MAX) && boundedString(m['timestamp'], RELAYED_HEADER_MAX) && boundedString(m['body_base64'], RELAYED_BODY_B64_MAX)
        ? (m as PlatformControlMessage)
        : null;
    default:
      return null;
  }
}

function boundedString(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

function isCapKind(value: unknown): value is CapKind {
  return value === 'day' || value === 'month';
}

function isCapState(value: unknown): value is CapState {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  if (s['capped'] === false) return true;
  return s['capped'] === true && isCapKind(s['cap']) && typeof s['until'] === 'string' && typeof s['message'] === 'string';
}
