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
 */
import { randomBytes } from 'node:crypto';
import { ErrorCodes, TtmaError } from '../../errors.js';
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
import type { InstallAuditEntry, InstallTokenStore } from './InstallTokenStore.js';

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
}

export interface InstallTokenServiceOptions {
  store: InstallTokenStore;
  deployments: DeploymentRegistry;
  webhookPublicKeyBase64: string | null;
  /** The platform's base URL as gateways reach it (read at mint time). */
  platformUrl: () => string;
  bundles: () => { gateway: BundleRef | null; skill: BundleRef | null };
  gatewayVersion: string;
  ttlMs?: number;
  now?: () => number;
}

export const TUNNEL_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const AGENT_SECRET_BYTES = 32;
const GONE = 'install token unknown, already used, or expired: mint a new one (tokens are single use and live 15 minutes)';

/** A token and its sealed payload, before it is stored. */
interface SealedToken {
  token: ReturnType<typeof newInstallToken>;
  envelope: InstallEnvelope;
  mintedAt: number;
  expiresAt: number;
  secretSha256: string;
}

export class InstallTokenService {
  readonly store: InstallTokenStore;
  readonly #options: InstallTokenServiceOptions;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: InstallTokenServiceOptions) {
    this.store = options.store;
    this.#options = options;
    this.#ttlMs = options.ttlMs ?? INSTALL_TOKEN_TTL_MS;
    if (!Number.isInteger(this.#ttlMs) || this.#ttlMs < 1000 || this.#ttlMs > INSTALL_TOKEN_TTL_MS) {
      throw new TtmaError(ErrorCodes.CONFIG, 'install token TTL must be 1 s to 15 min');
    }
    this.#now = options.now ?? Date.now;
  }

  /** A new deployment and the token that installs its gateway. */
  async mint(input: MintInput): Promise<MintResult> {
    this.#checkReady();
    const agentSecret = randomBytes(AGENT_SECRET_BYTES).toString('base64url');
    const registration = { ...input.deployment, agentSecret };
    const problem = this.#options.deployments.validate(registration);
    if (problem) throw new TtmaError(ErrorCodes.BAD_REQUEST, `deployment: ${problem}`, 400);
    const sealed = this.#seal(input.deployment, agentSecret, input.tunnelCredentialsRef);
    // Register only once sealing worked; a taken id or number refuses here with nothing stored.
    await this.#options.deployments.register(registration);
    await this.store.put({ envelope: sealed.envelope, secretSha256: sealed.secretSha256, createdAt: sealed.mintedAt }, this.#ttlMs);
    return this.#minted(sealed, input.deployment.id, 'minted');
  }

  /**
   * A new token for an existing deployment (a reinstall, a replaced machine):
   * its numbers and tunnel host as registered, and a new agent secret, which
   * takes effect when the token is minted (the old gateway's secret stops
   * working at once, as with a rotation). The token is stored before the
   * secret rotates; if the rotation fails the token is taken back, so no
   * token ever carries a secret the platform does not hold.
   */
  async reissue(deploymentId: string, tunnelCredentialsRef: string): Promise<MintResult> {
    this.#checkReady();
    const deployment = typeof deploymentId === 'string' ? await this.#options.deployments.get(deploymentId) : undefined;
    if (!deployment) throw new TtmaError(ErrorCodes.NOT_FOUND, `no deployment ${String(deploymentId)}`, 404);
    if (deployment.disabled) {
      throw new TtmaError(ErrorCodes.DEPLOYMENT_DISABLED, `deployment ${deployment.id} is disabled: enable it before issuing an install token`, 409);
    }
    const agentSecret = randomBytes(AGENT_SECRET_BYTES).toString('base64url');
    const sealed = this.#seal({ id: deployment.id, numbers: [...deployment.numbers], tunnelHost: deployment.tunnelHost }, agentSecret, tunnelCredentialsRef);
    await this.store.put({ envelope: sealed.envelope, secretSha256: sealed.secretSha256, createdAt: sealed.mintedAt }, this.#ttlMs);
    try {
      await this.#options.deployments.rotateSecret(deployment.id, agentSecret);
    } catch (err) {
      await this.store.take(sealed.token.id, sealed.secretSha256, this.#now()).catch(() => undefined);
      sealed.token.secret.fill(0);
      throw err;
    }
    return this.#minted(sealed, deployment.id, 'reissued');
  }

  /** Minting needs the webhook key (FAQ-06) and both bundles. */
  #checkReady(): void {
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
    return { token, envelope, mintedAt, expiresAt, secretSha256: secretDigestHex(token.secret) };
  }

  async #minted(sealed: SealedToken, deploymentId: string, outcome: 'minted' | 'reissued'): Promise<MintResult> {
    await this.store.appendAudit(this.#entry(sealed.token.id, deploymentId, outcome, sealed.mintedAt, sealed.expiresAt, null));
    const result = { token: formatInstallToken(sealed.token), tokenId: sealed.token.id, deploymentId, expiresAt: sealed.expiresAt };
    sealed.token.secret.fill(0);
    return result;
  }

  /** One redemption per token, ever; the envelope is deleted as it is handed out. */
  async redeem(tokenText: unknown, address: string | null): Promise<InstallEnvelope> {
    const token = parseInstallToken(tokenText);
    const now = this.#now();
    const taken = await this.store.take(token.id, secretDigestHex(token.secret), now);
    token.secret.fill(0);
    if (taken.kind !== 'taken') {
      const outcome = taken.kind === 'bad-secret' ? 'bad-secret' : 'unknown-used-or-expired';
      await this.store.appendAudit(this.#entry(token.id, null, outcome, null, null, address));
      throw new TtmaError(ErrorCodes.INSTALL_TOKEN, GONE, 410);
    }
    const { envelope, createdAt } = taken.record;
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
    return { tokenId, deploymentId, outcome, at: this.#now(), mintedAt, expiresAt, address };
  }
}
