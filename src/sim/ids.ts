/** Identifier shapes modelled on Telnyx: `v3:<base64url>` call control ids, UUIDs elsewhere. */
import { randomBytes, randomUUID } from 'node:crypto';

/** Real ids carry a `v3:` prefix and a long base64url tail; gateways must cope with both. */
export function newCallControlId(): string {
  return `v3:${randomBytes(36).toString('base64url')}`;
}

export function newUuid(): string {
  return randomUUID();
}

/** A Cloudflare-style ray id (16 hex digits and a colo), for simulated tunnel headers. */
export function newRayId(): string {
  return `${randomBytes(8).toString('hex')}-SIM`;
}
