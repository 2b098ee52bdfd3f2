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

  async mint(input: MintInput): Promise<MintResult> {
    const webhookPublicKey = this.#options.webhookPublicKeyBase64;
    if (!webhookPublicKey) {
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
    const agentSecret = randomBytes(AGENT_SECRET_BYTES).toString('base64url');
    const registration = { ...input.deployment, agentSecret };
    const problem = this.#options.deployments.validate(registration);
    if (problem) throw new TtmaError(ErrorCodes.BAD_REQUEST, `deployment: ${problem}`, 400);
    if (typeof input.tunnelCredentialsRef !== 'string' || !TUNNEL_REF_PATTERN.test(input.tunnelCredentialsRef)) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, 'tunnelCredentialsRef must be a tunnel name or UUID: 1 to 64 of A-Z, a-z, 0-9 and "-"', 400);
    }
    const token = newInstallToken();
    const mintedAt = this.#now();
    const expiresAt = mintedAt + this.#ttlMs;
    const payload = {
      v: 1,
      deploymentId: input.deployment.id,
      platformUrl: this.#options.platformUrl(),
      publicHost: input.deployment.tunnelHost,
      numbers: [...input.deployment.numbers],
      webhookPublicKey,
      agentSecret,
      tunnelCredentialsRef: input.tunnelCredentialsRef,
      gatewayBundle: gateway,
      skillBundle: skill,
      gatewayVersion: this.#options.gatewayVersion,
      expiresAt,
    };
    const envelope = sealInstallPayload(token, input.deployment.id, expiresAt, payload);
    // Register only once sealing worked; a taken id or number refuses here with nothing stored.
    await this.#options.deployments.register(registration);
    await this.store.put({ envelope, secretSha256: secretDigestHex(token.secret), createdAt: mintedAt }, this.#ttlMs);
    await this.store.appendAudit(this.#entry(token.id, input.deployment.id, 'minted', mintedAt, expiresAt, null));
    const result = { token: formatInstallToken(token), tokenId: token.id, deploymentId: input.deployment.id, expiresAt };
    token.secret.fill(0);
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
