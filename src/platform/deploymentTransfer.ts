/**
 * Operator export and import of deployments (admin token), for a Redis that lost its data with no
 * backup of its own: what the platform cannot rebuild from anywhere else is each deployment's
 * secret digest, numbers, tunnel host, caps, recording flag and dial policy; with them imported,
 * every gateway authenticates again with the secret it holds, and no customer reinstalls. Secrets
 * stay hashed (SHA-256, FAQ-09): the export holds no credential. Minutes used, call records and
 * recordings are not in it (docs/platform-storage.md, "Back without its data").
 *
 *   GET  /v1/admin/deployments-export -> { version: 1, exportedAt, deployments: [record] }
 *   POST /v1/admin/deployments-import  (one record, as exported) -> 201 its view; 409 when the id
 *        or a number is taken (an import never overwrites), 409 TTMA_ERR_TUNNEL_HOST_TAKEN when
 *        another deployment holds its tunnel host (refused, not skipped: it is not this record)
 *
 * Paths of their own, not under /v1/admin/deployments/{id}: "export" is a valid deployment id.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError } from '../errors.js';
import type { Deployment } from './DeploymentRegistry.js';
import { deploymentView, policyWarnings, type OperatorContext } from './operatorApi.js';
import { fromStored, toStored } from './store/deploymentRecord.js';
import type { Json } from './httpExchange.js';
import { DEPLOYMENTS_EXPORT_PATH as EXPORT_PATH, DEPLOYMENTS_EXPORT_VERSION as EXPORT_VERSION, DEPLOYMENTS_IMPORT_PATH as IMPORT_PATH } from '../wire/deploymentsExport.js';

export { DEPLOYMENTS_EXPORT_PATH as EXPORT_PATH, DEPLOYMENTS_IMPORT_PATH as IMPORT_PATH } from '../wire/deploymentsExport.js';

/** True when the path is one of these routes (handled or refused). */
export async function handleDeploymentTransfer(ctx: OperatorContext, req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<boolean> {
  if (path === EXPORT_PATH) {
    ctx.allow(method, 'GET');
    ctx.requireAdmin(req);
    const deployments = (await ctx.deployments.list()).map(exported);
    ctx.log.info({ audit: true, deployments: deployments.length }, 'deployments exported');
    ctx.send(req, res, 200, { version: EXPORT_VERSION, exportedAt: new Date().toISOString(), deployments });
    return true;
  }
  if (path === IMPORT_PATH) {
    ctx.allow(method, 'POST');
    ctx.requireAdmin(req);
    const deployment = imported(await ctx.readJson(req));
    await ctx.deployments.restore(deployment);
    ctx.log.info({ audit: true, deployment: deployment.id, numbers: deployment.numbers.length, disabled: deployment.disabled }, 'deployment imported (its secret digest as exported)');
    ctx.send(req, res, 201, { ...(deploymentView(deployment) as object), ...policyWarnings(ctx, deployment) });
    return true;
  }
  return false;
}

/** The stored record (the secret's digest in hex, never the secret) plus the disabled flag. */
function exported(d: Deployment): Json {
  return { ...(JSON.parse(toStored(d)) as Json), disabled: d.disabled };
}

function imported(body: Json): Deployment {
  const { disabled, ...record } = body;
  if (disabled !== undefined && typeof disabled !== 'boolean') throw new TtmaError(ErrorCodes.BAD_REQUEST, 'disabled must be true or false', 400);
  try {
    // The store's own reader: the same shape checks as a record read back from Redis.
    return fromStored(JSON.stringify(record), disabled === true);
  } catch {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'not a deployment as exported: {"id","numbers","tunnelHost","agentSecretSha256","caps","recording","dialPolicy","disabled"}', 400);
  }
}
