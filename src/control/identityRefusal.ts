/**
 * What the platform refusing the gateway's identity means, in the operator's words. The platform
 * answers an unknown deployment and a wrong secret alike (it is no oracle for deployment ids), so
 * "it does not know this deployment" is said when something else tells: the platform's own code
 * for a store that lost its data (TTMA_ERR_STORE_DATA_LOST, docs/platform-storage.md), its close
 * for a removed deployment, or a refusal of the identity it accepted earlier in this process.
 */
import { ErrorCodes } from '../errors.js';

export type IdentityRefusalKind = 'disabled' | 'unknown' | 'refused';

export interface IdentityRefusal {
  kind: IdentityRefusalKind;
  /** The sentence for the log and `ttma doctor`. */
  message: string;
}

export interface RefusalFacts {
  /** The platform's error code, `HTTP_<status>` when it gave none, or null (a close). */
  code: string | null;
  status: number;
  /** The close reason of a revoked connection (4401), else null. */
  closeReason: string | null;
  /** When the platform last accepted this identity in this process (its hello), else null. */
  acceptedAt: string | null;
}

const ASK = 'ask the platform operator to restore its Redis from a backup, or to re-import or re-create the deployment; the gateway keeps trying and reconnects by itself then (live calls go on meanwhile)';

export function identityRefusal(facts: RefusalFacts): IdentityRefusal {
  if (facts.code === ErrorCodes.DEPLOYMENT_DISABLED || facts.status === 403 || facts.closeReason === 'deployment disabled') {
    return { kind: 'disabled', message: 'the deployment is disabled by the operator: ask the platform operator to enable it' };
  }
  if (facts.code === ErrorCodes.STORE_DATA_LOST) {
    return { kind: 'unknown', message: `the platform does not know this deployment: its store lost its data (Redis flushed or restarted empty); ${ASK}` };
  }
  if (facts.closeReason === 'deployment removed') {
    return { kind: 'unknown', message: `the platform does not know this deployment: it was removed (or the platform's store lost its data); ${ASK}` };
  }
  if (facts.acceptedAt !== null && facts.closeReason === null) {
    return {
      kind: 'unknown',
      message: `the platform does not know this deployment (or no longer accepts its secret): it accepted this deployment id and agent secret before (last at ${facts.acceptedAt}), so it was removed, its secret rotated, or the platform lost its data; ${ASK}, or put the current secret in --agent-secret-file`,
    };
  }
  return { kind: 'refused', message: 'check the deployment id and agent secret (the secret was rotated or the --deployment-id is wrong)' };
}
