/**
 * A deployment as stores keep it: JSON with the secret's SHA-256 in hex, the
 * disabled flag apart (Redis keeps it in its own field so a disable is one
 * write). Shared by RedisDeploymentStore and the embedded store's journal.
 */
import { ErrorCodes, TtmaError } from '../../errors.js';
import type { Deployment } from '../DeploymentRegistry.js';

interface StoredDoc {
  id: string;
  numbers: string[];
  tunnelHost: string;
  agentSecretSha256: string;
  caps: Deployment['caps'];
  recording: boolean;
  dialPolicy: Deployment['dialPolicy'];
}

export function toStored(d: Deployment): string {
  const doc: StoredDoc = {
    id: d.id,
    numbers: d.numbers,
    tunnelHost: d.tunnelHost,
    agentSecretSha256: d.agentSecretSha256.toString('hex'),
    caps: d.caps,
    recording: d.recording,
    dialPolicy: d.dialPolicy,
  };
  return JSON.stringify(doc);
}

/** A record that does not parse is refused (fail closed): nobody authenticates against it. */
export function fromStored(raw: string, disabled: boolean): Deployment {
  let doc: StoredDoc;
  try {
    doc = JSON.parse(raw) as StoredDoc;
  } catch {
    throw malformed();
  }
  const digest = typeof doc.agentSecretSha256 === 'string' ? Buffer.from(doc.agentSecretSha256, 'hex') : Buffer.alloc(0);
  if (typeof doc.id !== 'string' || !Array.isArray(doc.numbers) || typeof doc.tunnelHost !== 'string' || digest.length !== 32 ||
      typeof doc.caps !== 'object' || doc.caps === null || typeof doc.recording !== 'boolean' || !Array.isArray(doc.dialPolicy?.allowPrefixes)) {
    throw malformed();
  }
  return {
    id: doc.id,
    numbers: [...doc.numbers],
    tunnelHost: doc.tunnelHost,
    agentSecretSha256: digest,
    disabled,
    caps: { dayMinutes: doc.caps.dayMinutes, monthMinutes: doc.caps.monthMinutes },
    recording: doc.recording,
    dialPolicy: { allowPrefixes: [...doc.dialPolicy.allowPrefixes] },
  };
}

function malformed(): TtmaError {
  return new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'a deployment record in the store is malformed: refused', 503);
}
