/**
 * Minting and redeeming install tokens (FAQ-06, FAQ-08, FAQ-09).
 *
 * Mint registers the deployment with a fresh agent secret (the platform keeps
 * only its SHA-256, FAQ-09), seals the install payload under the token
 * secret, stores the envelope with a 15-minute TTL and forgets the secret:
 * after mint the platform cannot read the payload itself. Nothing is minted
 * while the webhook signing key is missing (FAQ-06): a gateway installed
 * without one would refuse every webhook.
 *
 * Redeem is one atomic take-and-delete; afterwards only audit metadata
 * remains (token id, deployment, times, address, outcome).
 *
 * No token may install a secret the platform no longer accepts: a reissue,
 * a secret rotation and a disable revoke the deployment's outstanding tokens
 * (the store's per-deployment index), and a redemption is refused anyway
 * when the deployment's secret is no longer the one sealed in the token, or
 * the deployment is disabled (a revocation lost in a race or to an outage):
 * revocation.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ErrorCodes, TtmaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isLoopbackUrl } from '../../wire/installUrl.js';
import {
  INSTALL_TOKEN_TTL_MS,
  formatInstallToken,
  newInstallToken,
  parseInstallToken,
  sealInstallPayload,
  secretDigestHex,
  type InstallEnvelope,
} from '../../wire/installToken.js';
import type { DeploymentRegistry } from '../DeploymentRegistry.js';
import { auditEntry, type InstallAuditEntry, type InstallTokenStore, type RevokeReason, type StoredInstallToken } from './InstallTokenStore.js';
import { RefusalAudit } from './refusalAudit.js';
import { TokenRevocation, type RevokeResult } from './revocation.js';

/** A bundle the platform serves: where the installer fetches it and the digest it must have. */
export interface BundleRef {
  url: string;
  sha256: string;
}

export interface MintInput {
  deployment: { id: string; numbers: string[]; tunnelHost: string };
  /** The cloudflared tunnel (name or UUID) whose credentials the operator places; never the credentials themselves. */
  tunnelCredentialsRef: string;
}

export interface MintResult {
  /** `<id>.<secret>`: shown once, never stored. */
  token: string;
  tokenId: string;
  deploymentId: string;
  expiresAt: number;
  /** Set when the token names a platform URL only this machine can reach. */
  warning?: string;
}

export interface InstallTokenServiceOptions {
  store: InstallTokenStore;
  deployments: DeploymentRegistry;
  webhookPublicKeyBase64: string | null;
  /** The platform's base URL as gateways reach it (read at mint time). */
  platformUrl: () => string;
  bundles: () => { gateway: BundleRef | null; skill: BundleRef | null };
  /** Why a served bundle would be refused by every installer (bundleChecks.ts), or null; checked before each mint. */
  bundleRefusal?: () => Promise<string | null>;
  gatewayVersion: string;
  ttlMs?: number;
  now?: () => number;
  logger?: Logger;
  /** Unknown-id refusals audited one by one per minute (default 20; the rest are summarised). */
  unknownRefusalsListed?: number;
}

export const TUNNEL_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const AGENT_SECRET_BYTES = 32;
const GONE = 'install token unknown, already used, or expired: mint a new one (tokens are single use and live 15 minutes)';
const loopbackWarning = (url: string): string =>
  `this token names the platform at ${url}, on this machine (the default without --public-url): an installer on another machine cannot reach it; for one, start the platform with --public-url https://<its public name>`;

/** A token and its sealed payload, before it is stored. */
interface SealedToken {
  token: ReturnType<typeof newInstallToken>;
  envelope: InstallEnvelope;
  mintedAt: number;
  expiresAt: number;
  secretSha256: string;
  agentSecretSha256: string;
}

export class InstallTokenService {
  readonly store: InstallTokenStore;
  readonly #options: InstallTokenServiceOptions;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #refusals: RefusalAudit;
  readonly #revocation: TokenRevocation;

  constructor(options: InstallTokenServiceOptions) {
    this.store = options.store;
    this.#options = options;
    this.#ttlMs = options.ttlMs ?? INSTALL_TOKEN_TTL_MS;
    if (!Number.isInteger(this.#ttlMs) || this.#ttlMs < 1000 || this.#ttlMs > INSTALL_TOKEN_TTL_MS) {
      throw new TtmaError(ErrorCodes.CONFIG, 'install token TTL must be 1 s to 15 min');
    }
    this.#now = options.now ?? Date.now;
    this.#refusals = new RefusalAudit({
      append: (entry) => this.store.appendAudit(entry),
      now: this.#now,
      ...(options.unknownRefusalsListed !== undefined ? { perWindow: options.unknownRefusalsListed } : {}),
    });
    this.#revocation = new TokenRevocation({
      store: this.store,
      deployments: options.deployments,
      now: this.#now,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** A new deployment and the token that installs its gateway. */
  async mint(input: MintInput): Promise<MintResult> {
    await this.#checkReady();
    const agentSecret = randomBytes(AGENT_SECRET_BYTES).toString('base64url');
    const registration = { ...input.deployment, agentSecret };
    const problem = this.#options.deployments.validate(registration);
    if (problem) throw new TtmaError(ErrorCodes.BAD_REQUEST, `deployment: ${problem}`, 400);
    const sealed = this.#seal(input.deployment, agentSecret, input.tunnelCredentialsRef);
    // Register only once sealing worked; a taken id or number refuses here with nothing stored.
    await this.#options.deployments.register(registration);
    await this.store.put(this.#record(sealed), this.#ttlMs);
    return this.#minted(sealed, input.deployment.id, 'minted');
  }

  /**
   * A new token for an existing deployment (a reinstall, a replaced machine):
   * its numbers and tunnel host as registered, and a new agent secret, which
   * takes effect when the token is minted (the old gateway's secret stops
   * working at once, as with a rotation). The token is stored before the
   * secret rotates; if the rotation fails the token is taken back, so no
   * token ever carries a secret the platform does not hold. Once the secret
   * has rotated, the deployment's earlier tokens are revoked (they carry the
   * old secret).
   */
  async reissue(deploymentId: string, tunnelCredentialsRef: string): Promise<MintResult> {
    await this.#checkReady();
    const deployment = typeof deploymentId === 'string' ? await this.#options.deployments.get(deploymentId) : undefined;
    if (!deployment) throw new TtmaError(ErrorCodes.NOT_FOUND, `no deployment ${String(deploymentId)}`, 404);
    if (deployment.disabled) {
      throw new TtmaError(ErrorCodes.DEPLOYMENT_DISABLED, `deployment ${deployment.id} is disabled: enable it before issuing an install token`, 409);
    }
    const agentSecret = randomBytes(AGENT_SECRET_BYTES).toString('base64url');
    const sealed = this.#seal({ id: deployment.id, numbers: [...deployment.numbers], tunnelHost: deployment.tunnelHost }, agentSecret, tunnelCredentialsRef);
    await this.store.put(this.#record(sealed), this.#ttlMs);
    try {
      await this.#options.deployments.rotateSecret(deployment.id, agentSecret);
    } catch (err) {
      await this.store.revoke(sealed.token.id).catch(() => undefined);
      sealed.token.secret.fill(0);
      throw err;
    }
    const result = await this.#minted(sealed, deployment.id, 'reissued');
    await this.revokeOutstanding(deployment.id, 'reissued', sealed.token.id);
    return result;
  }

  /** Revokes every outstanding token of the deployment but `keepId` (never throws: revocation.ts). */
  revokeOutstanding(deploymentId: string, reason: RevokeReason, keepId?: string): Promise<string[]> {
    return this.#revocation.revokeOutstanding(deploymentId, reason, keepId);
  }

  /** The operator revokes one outstanding token (404 when none is stored under the id). */
  revoke(tokenId: string): Promise<RevokeResult> {
    return this.#revocation.revoke(tokenId);
  }

  /** The audit, newest first, with any pending summary of unknown-id refusals written first. */
  async audit(): Promise<InstallAuditEntry[]> {
    await this.#refusals.flush();
    return this.store.audit();
  }

  /** Minting needs the webhook key (FAQ-06) and both bundles, each one an installer would accept. */
  async #checkReady(): Promise<void> {
    if (!this.#options.webhookPublicKeyBase64) {
      throw new TtmaError(
        ErrorCodes.INSTALL_NO_SIGNING_KEY,
        'refusing to mint an install token: no webhook signing key is configured, so the gateway would refuse every webhook (FAQ-06); start the platform with --webhook-public-key-file',
        503,
      );
    }
    const { gateway, skill } = this.#options.bundles();
    if (!gateway || !skill) {
      throw new TtmaError(ErrorCodes.CONFIG, 'refusing to mint an install token: no bundles to install; start the platform with --gateway-bundle and --skill-bundle', 503);
    }
    const refusal = await this.#options.bundleRefusal?.();
    if (refusal) throw new TtmaError(ErrorCodes.CONFIG, refusal, 503);
  }

  #seal(deployment: MintInput['deployment'], agentSecret: string, tunnelCredentialsRef: unknown): SealedToken {
    if (typeof tunnelCredentialsRef !== 'string' || !TUNNEL_REF_PATTERN.test(tunnelCredentialsRef)) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, 'tunnelCredentialsRef must be a tunnel name or UUID: 1 to 64 of A-Z, a-z, 0-9 and "-"', 400);
    }
    const { gateway, skill } = this.#options.bundles();
    const token = newInstallToken();
    const mintedAt = this.#now();
    const expiresAt = mintedAt + this.#ttlMs;
    const payload = {
      v: 1,
      deploymentId: deployment.id,
      platformUrl: this.#options.platformUrl(),
      publicHost: deployment.tunnelHost,
      numbers: [...deployment.numbers],
      webhookPublicKey: this.#options.webhookPublicKeyBase64!,
      agentSecret,
      tunnelCredentialsRef,
      gatewayBundle: gateway!,
      skillBundle: skill!,
      gatewayVersion: this.#options.gatewayVersion,
      expiresAt,
    };
    const envelope = sealInstallPayload(token, deployment.id, expiresAt, payload);
    // Hashed as the deployment record hashes it (DeploymentRegistry), so redemption can compare.
    const agentSecretSha256 = createHash('sha256').update(agentSecret, 'utf8').digest('hex');
    return { token, envelope, mintedAt, expiresAt, secretSha256: secretDigestHex(token.secret), agentSecretSha256 };
  }

  #record(sealed: SealedToken): StoredInstallToken {
    return { envelope: sealed.envelope, secretSha256: sealed.secretSha256, createdAt: sealed.mintedAt, agentSecretSha256: sealed.agentSecretSha256 };
  }

  async #minted(sealed: SealedToken, deploymentId: string, outcome: 'minted' | 'reissued'): Promise<MintResult> {
    await this.store.appendAudit(this.#entry(sealed.token.id, deploymentId, outcome, sealed.mintedAt, sealed.expiresAt, null));
    const result: MintResult = { token: formatInstallToken(sealed.token), tokenId: sealed.token.id, deploymentId, expiresAt: sealed.expiresAt };
    sealed.token.secret.fill(0);
    const platformUrl = this.#options.platformUrl();
    if (isLoopbackUrl(platformUrl)) {
      result.warning = loopbackWarning(platformUrl);
      this.#options.logger?.warn({ deployment: deploymentId }, result.warning);
    }
    return result;
  }

  /** One redemption per token, ever; the envelope is deleted as it is handed out. */
  async redeem(tokenText: unknown, address: string | null): Promise<InstallEnvelope> {
    const token = parseInstallToken(tokenText);
    const now = this.#now();
    const taken = await this.store.take(token.id, secretDigestHex(token.secret), now);
    token.secret.fill(0);
    if (taken.kind === 'bad-secret') {
      // A known id: bounded by the per-token rate limit (installRoutes.ts), so listed one by one.
      await this.store.appendAudit(this.#entry(token.id, null, 'bad-secret', null, null, address));
      throw new TtmaError(ErrorCodes.INSTALL_TOKEN, GONE, 410);
    }
    if (taken.kind !== 'taken') {
      await this.#refusals.unknown(this.#entry(token.id, null, 'unknown-used-or-expired', null, null, address));
      throw new TtmaError(ErrorCodes.INSTALL_TOKEN, GONE, 410);
    }
    const { envelope, createdAt } = taken.record;
    await this.#revocation.refuseStale(taken.record, address);
    await this.store.appendAudit(this.#entry(token.id, envelope.deploymentId, 'redeemed', createdAt, envelope.expiresAt, address));
    return envelope;
  }

  #entry(
    tokenId: string,
    deploymentId: string | null,
    outcome: InstallAuditEntry['outcome'],
    mintedAt: number | null,
    expiresAt: number | null,
    address: string | null,
  ): InstallAuditEntry {
    return auditEntry(this.#now(), tokenId, deploymentId, outcome, { mintedAt, expiresAt }, address);
  }
}
