/**
 * What travels on the control bus between platform processes: one message for a deployment's
 * gateways (a relayed provider event or a cap notice), tagged with the publishing process's id.
 *
 *   {"v":1,"from":"<process id>","deployment":"<id>","message":{...}}
 *
 * Read from Redis, so checked like anything from the network: at most BUS_MAX_BYTES, JSON, a
 * known version, a well-formed deployment id, and a message of one of the three types the bus
 * carries in the shape the gateway accepts (parsePlatformMessage), rebuilt from its known fields
 * only, so nothing extra rides along to the gateway. Anything else is dropped by the caller.
 */
import { CONTROL_MAX_PAYLOAD_TO_GATEWAY, parsePlatformMessage, type PlatformControlMessage } from '../../wire/controlChannel.js';
import { CALL_ID_PATTERN } from '../allowlists.js';
import { DEPLOYMENT_ID_PATTERN } from '../DeploymentRegistry.js';

/** The messages one process passes on to the gateways connected to another. */
export type BusControlMessage = Extract<PlatformControlMessage, { type: 'provider.event' | 'cap.state' | 'cap.reached' }>;

/** A gateway frame may be 96 KiB (a 64 KiB body as base64 and its envelope); the bus envelope adds ids. */
export const BUS_MAX_BYTES = CONTROL_MAX_PAYLOAD_TO_GATEWAY + 1024;
const BUS_VERSION = 1;
/** Process ids are random UUIDs; anything of a sane length is accepted (only compared for equality). */
const PROCESS_ID_MAX = 64;

export interface BusEnvelope {
  from: string;
  deploymentId: string;
  message: BusControlMessage;
}

export function encodeBusMessage(envelope: BusEnvelope): string {
  return JSON.stringify({ v: BUS_VERSION, from: envelope.from, deployment: envelope.deploymentId, message: envelope.message });
}

/** The envelope, or null when the bytes are not one (oversized, not JSON, wrong shape or type). */
export function decodeBusMessage(raw: Buffer): BusEnvelope | null {
  if (raw.length > BUS_MAX_BYTES) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const fields = value as Record<string, unknown>;
  const { from, deployment } = fields;
  if (fields['v'] !== BUS_VERSION) return null;
  if (typeof from !== 'string' || from.length === 0 || from.length > PROCESS_ID_MAX) return null;
  if (typeof deployment !== 'string' || !DEPLOYMENT_ID_PATTERN.test(deployment)) return null;
  const message = busControlMessage(parsePlatformMessage(fields['message']));
  return message ? { from, deploymentId: deployment, message } : null;
}

/** The message with its known fields only, when it is one the bus carries. */
function busControlMessage(m: PlatformControlMessage | null): BusControlMessage | null {
  switch (m?.type) {
    case 'provider.event':
      return { type: 'provider.event', signature: m.signature, timestamp: m.timestamp, body_base64: m.body_base64 };
    case 'cap.state':
      return {
        type: 'cap.state',
        cap_state: m.cap_state.capped ? { capped: true, cap: m.cap_state.cap, until: m.cap_state.until, message: m.cap_state.message } : { capped: false },
      };
    case 'cap.reached':
      if (!CALL_ID_PATTERN.test(m.call_control_id) || !Number.isFinite(m.ending_in_ms)) return null;
      return { type: 'cap.reached', cap: m.cap, call_control_id: m.call_control_id, ending_in_ms: m.ending_in_ms, message: m.message };
    default:
      return null;
  }
}
