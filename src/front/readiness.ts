/**
 * GET /readyz on the gateway's local listener: can this gateway take a call
 * now? /healthz stays liveness (the process answers); readiness also needs
 * the control connection to the platform (calls are answered through it),
 * at least one media worker that said it started, a webhook signing key
 * (without one every provider webhook is refused, so no call can start or
 * be answered, though the process runs: fail closed, FAQ-05), and no drain
 * under way.
 * A load balancer or Prometheus blackbox probe alerts on the 503 and its
 * reasons; `ttma_platform_connected` carries the first one as a gauge.
 */

export type NotReadyReason =
  | 'platform unreachable'
  | 'platform is another deployment\'s'
  | 'the platform does not know this deployment'
  | 'no media worker ready'
  | 'no webhook signing key'
  | 'draining';

export interface ReadinessInputs {
  /** The control connection is open and the platform's hello arrived on it (it checked our identity). */
  platformConnected: boolean;
  /** Not connected because the platform refuses an identity it no longer knows (src/control/identityRefusal.ts). */
  deploymentUnknown?: boolean;
  /** The platform's hello named another deployment: the gateway refused the connection (ControlChannel). */
  platformOtherDeployment?: boolean;
  /** Media workers that said ready and have not exited (WorkerHost.up). */
  workersUp: number;
  /** A webhook signing key is configured (WebhookGate.hasKey). */
  webhookKey: boolean;
  /** stop() began: the gateway is hanging up or handing over its calls. */
  draining: boolean;
}

export interface Readiness {
  ready: boolean;
  reasons: NotReadyReason[];
}

export function readiness(inputs: ReadinessInputs): Readiness {
  const reasons: NotReadyReason[] = [];
  // Reachable, but refusing us (or another deployment's): the fix is the platform operator's, not the network's.
  if (!inputs.platformConnected) {
    reasons.push(inputs.platformOtherDeployment === true ? 'platform is another deployment\'s' : inputs.deploymentUnknown ? 'the platform does not know this deployment' : 'platform unreachable');
  }
  if (inputs.workersUp === 0) reasons.push('no media worker ready');
  if (!inputs.webhookKey) reasons.push('no webhook signing key');
  if (inputs.draining) reasons.push('draining');
  return { ready: reasons.length === 0, reasons };
}
