/**
 * The operator's deployments export, shared by the platform's routes (src/platform/deploymentTransfer.ts)
 * and `ttma deployments` (src/cli/deploymentsCommand.ts). Data only.
 *
 *   GET  DEPLOYMENTS_EXPORT_PATH -> { version: DEPLOYMENTS_EXPORT_VERSION, exportedAt, deployments: [record] }
 *   POST DEPLOYMENTS_IMPORT_PATH  (one record, as exported)
 */
export const DEPLOYMENTS_EXPORT_PATH = '/v1/admin/deployments-export';
export const DEPLOYMENTS_IMPORT_PATH = '/v1/admin/deployments-import';
/** The format an import reads: a file of another version is refused whole, never guessed at. */
export const DEPLOYMENTS_EXPORT_VERSION = 1;
