/**
 * Revoking install tokens: no token may install a secret the platform no
 * longer accepts (docs/install.md). A reissue, a secret rotation and a
 * disable revoke the deployment's outstanding tokens through the store's
 * per-deployment index; the operator revokes one by id. And because a
 * revocation can be lost (a redemption racing the rotation, another process
 * changing the deployment, a store outage), a token just taken for
 * redemption is refused when the deployment's secret is no longer the one
 * sealed in it, or the deployment is disabled or gone.
 */
import { timingSafeEqual } from 'node:crypto';
import { ErrorCodes, TtmaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { INSTALL_TOKEN_ID_PATTERN } from '../../wire/installToken.js';
import type { DeploymentRegistry } from '../DeploymentRegistry.js';
import { auditEntry, type InstallTokenStore, type RevokeReason, type StoredInstallToken } from './InstallTokenStore.js';

export interface RevokeResult {
  tokenId: string;
  deploymentId: string;
}

type StaleReason = Extract<RevokeReason, 'stale-secret' | 'deployment-disabled' | 'deployment-gone'>;

const REFUSED: Record<StaleReason, string> = {
  'stale-secret': "install token revoked: the deployment's agent secret changed after it was minted (a reissue or rotation); ask the platform operator for a new one",
  'deployment-disabled': 'install token revoked: its deployment is disabled; ask the platform operator to enable it and issue a new one',
  'deployment-gone': 'install token revoked: its deployment no longer exists; ask the platform operator for a new one',
};

export interface TokenRevocationOptions {
  store: InstallTokenStore;
  deployments: DeploymentRegistry;
  now: () => number;
  logger?: Logger;
}

export class TokenRevocation {
  readonly #o: TokenRevocationOptions;

  constructor(options: TokenRevocationOptions) {
    this.#o = options;
  }

  /**
   * Revokes every outstanding token of the deployment but `keepId`, each
   * audited `revoked`. Called after its secret changed or it was disabled, so
   * it never throws: that change is done and its answer (a new secret, a new
   * token) must not be lost; a token missed here is refused at redemption.
   */
  async revokeOutstanding(deploymentId: string, reason: RevokeReason, keepId?: string): Promise<string[]> {
    let revoked: StoredInstallToken[] = [];
    try {
      revoked = await this.#o.store.revokeDeployment(deploymentId, keepId);
      for (const record of revoked) await this.#o.store.appendAudit(this.#revoked(record, null, reason));
    } catch (err) {
      this.#o.logger?.warn({ deployment: deploymentId, reason, revoked: revoked.length, err: String(err) }, 'install tokens not (all) revoked or audited: the store failed; a stale token is refused at redemption');
      return revoked.map((r) => r.envelope.id);
    }
    if (revoked.length > 0) this.#o.logger?.info({ audit: true, deployment: deploymentId, reason, tokens: revoked.length }, 'outstanding install tokens revoked');
    return revoked.map((r) => r.envelope.id);
  }

  /** The operator revokes one outstanding token (404 when none is stored under the id). */
  async revoke(tokenId: string): Promise<RevokeResult> {
    const record = INSTALL_TOKEN_ID_PATTERN.test(tokenId) ? await this.#o.store.revoke(tokenId) : null;
    if (!record) throw new TtmaError(ErrorCodes.NOT_FOUND, 'no outstanding install token with this id (unknown, used, revoked or expired)', 404);
    await this.#o.store.appendAudit(this.#revoked(record, null, 'operator'));
    this.#o.logger?.info({ audit: true, deployment: record.envelope.deploymentId, tokenId }, 'install token revoked by the operator');
    return { tokenId, deploymentId: record.envelope.deploymentId };
  }

  /** A token just taken for redemption: throws 410 (audited `revoked`) when it must not be handed out. */
  async refuseStale(record: StoredInstallToken, address: string | null): Promise<void> {
    const stale = await this.#staleReason(record);
    if (!stale) return;
    await this.#o.store.appendAudit(this.#revoked(record, address, stale));
    throw new TtmaError(ErrorCodes.INSTALL_TOKEN, REFUSED[stale], 410);
  }

  /** Read after the take, so nothing can change the token between this check and its handing out. */
  async #staleReason(record: StoredInstallToken): Promise<StaleReason | null> {
    // Records stored before this check existed carry no digest; they expire within 15 minutes.
    if (record.agentSecretSha256 === undefined) return null;
    const deployment = await this.#o.deployments.get(record.envelope.deploymentId);
    if (!deployment) return 'deployment-gone';
    if (deployment.disabled) return 'deployment-disabled';
    const sealed = Buffer.from(record.agentSecretSha256, 'hex');
    const current = deployment.agentSecretSha256;
    return sealed.length === current.length && timingSafeEqual(sealed, current) ? null : 'stale-secret';
  }

  #revoked(record: StoredInstallToken, address: string | null, reason: RevokeReason) {
    const { id, deploymentId, expiresAt } = record.envelope;
    return auditEntry(this.#o.now(), id, deploymentId, 'revoked', { mintedAt: record.createdAt, expiresAt }, address, reason);
  }
}
