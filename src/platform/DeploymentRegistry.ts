/**
 * Deployments: who may ask the platform to control calls, for which numbers,
 * and where their media may go (FAQ-09, FAQ-13).
 *
 * The raw agent secret is returned once by register() and never kept: only
 * its SHA-256 is stored, and authentication compares digests in constant
 * time. Unknown deployment, wrong secret and a missing secret all give the
 * same refusal, so the platform is no oracle for deployment ids.
 *
 * Storage sits behind DeploymentStore (async, so a Redis store can replace
 * the in-memory one without touching callers).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, TtmaError } from '../errors.js';

export interface Deployment {
  id: string;
  /** E.164, matched exactly (never by suffix). */
  numbers: string[];
  /** Lowercase DNS name under an approved tunnel domain. */
  tunnelHost: string;
  agentSecretSha256: Buffer;
  disabled: boolean;
}

export interface RegisterDeploymentInput {
  id: string;
  numbers: string[];
  tunnelHost: string;
  /** When absent, 32 random bytes base64url are generated. */
  agentSecret?: string;
}

/** What a store must do. A number belongs to at most one deployment. */
export interface DeploymentStore {
  get(id: string): Promise<Deployment | undefined>;
  findByNumber(e164: string): Promise<Deployment | undefined>;
  /** Atomic: refuses (TTMA_ERR_CONFLICT) when the id or any number is taken. */
  insert(deployment: Deployment): Promise<void>;
  setDisabled(id: string, disabled: boolean): Promise<boolean>;
  list(): Promise<Deployment[]>;
}

export class MemoryDeploymentStore implements DeploymentStore {
  readonly #byId = new Map<string, Deployment>();
  readonly #byNumber = new Map<string, string>();

  async get(id: string): Promise<Deployment | undefined> {
    const found = this.#byId.get(id);
    return found ? cloneDeployment(found) : undefined;
  }

  async findByNumber(e164: string): Promise<Deployment | undefined> {
    const id = this.#byNumber.get(e164);
    return id === undefined ? undefined : this.get(id);
  }

  async insert(deployment: Deployment): Promise<void> {
    if (this.#byId.has(deployment.id)) {
      throw new TtmaError(ErrorCodes.CONFLICT, `deployment ${deployment.id} already exists`, 409);
    }
    for (const number of deployment.numbers) {
      if (this.#byNumber.has(number)) {
        throw new TtmaError(ErrorCodes.CONFLICT, `number ${number} already belongs to a deployment`, 409);
      }
    }
    this.#byId.set(deployment.id, cloneDeployment(deployment));
    for (const number of deployment.numbers) this.#byNumber.set(number, deployment.id);
  }

  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    const found = this.#byId.get(id);
    if (!found) return false;
    found.disabled = disabled;
    return true;
  }

  async list(): Promise<Deployment[]> {
    return [...this.#byId.values()].map(cloneDeployment);
  }
}

export const DEFAULT_APPROVED_TUNNEL_DOMAINS: readonly string[] = ['trycloudflare.com', 'cfargotunnel.com'];

export const DEPLOYMENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,62}$/;
/** ITU-T E.164: a country code that does not start with 0, at most 15 digits. */
export const E164_PATTERN = /^\+[1-9]\d{6,14}$/;
/** One DNS label (RFC 1035 as relaxed by RFC 1123), lowercase only. */
const DNS_LABEL_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_NAME_MAX = 253;
/** A supplied agent secret: printable ASCII, long enough to be a secret. */
const AGENT_SECRET_PATTERN = /^[\x21-\x7e]{32,512}$/;
const AGENT_SECRET_BYTES = 32;
const MAX_NUMBERS_PER_DEPLOYMENT = 100;

const AUTH_FAILED = 'authentication failed: check the x-ttma-deployment header and the agent secret';

export interface DeploymentRegistryOptions {
  approvedTunnelDomains?: readonly string[];
  store?: DeploymentStore;
}

export class DeploymentRegistry {
  readonly #store: DeploymentStore;
  readonly #approvedDomains: readonly string[];
  // Compared against when the id is unknown, so both refusals cost the same.
  readonly #dummyDigest = sha256(randomBytes(AGENT_SECRET_BYTES));

  constructor(options: DeploymentRegistryOptions = {}) {
    this.#store = options.store ?? new MemoryDeploymentStore();
    const domains = options.approvedTunnelDomains ?? DEFAULT_APPROVED_TUNNEL_DOMAINS;
    if (domains.length === 0) {
      throw new TtmaError(ErrorCodes.CONFIG, 'approvedTunnelDomains must list at least one domain');
    }
    for (const domain of domains) {
      if (!isDnsName(domain) || !domain.includes('.')) {
        throw new TtmaError(
          ErrorCodes.CONFIG,
          `approved tunnel domain "${domain}" is not a lowercase DNS name with at least two labels`,
        );
      }
    }
    this.#approvedDomains = [...domains];
  }

  get approvedTunnelDomains(): readonly string[] {
    return this.#approvedDomains;
  }

  /** Validates and stores a deployment; the raw secret is returned this once. */
  async register(input: RegisterDeploymentInput): Promise<{ agentSecret: string }> {
    const problem = this.validate(input);
    if (problem) throw new TtmaError(ErrorCodes.BAD_REQUEST, problem, 400);
    const agentSecret = input.agentSecret ?? randomBytes(AGENT_SECRET_BYTES).toString('base64url');
    await this.#store.insert({
      id: input.id,
      numbers: [...input.numbers],
      tunnelHost: input.tunnelHost,
      agentSecretSha256: sha256(Buffer.from(agentSecret, 'utf8')),
      disabled: false,
    });
    return { agentSecret };
  }

  /** Returns a reason when the input is not acceptable, or null. */
  validate(input: RegisterDeploymentInput): string | null {
    if (typeof input.id !== 'string' || !DEPLOYMENT_ID_PATTERN.test(input.id)) {
      return 'id must be 3 to 63 characters of a-z, 0-9 and "-", starting with a letter or digit';
    }
    if (!Array.isArray(input.numbers) || input.numbers.length === 0) {
      return 'numbers must list at least one E.164 number';
    }
    if (input.numbers.length > MAX_NUMBERS_PER_DEPLOYMENT) {
      return `numbers may list at most ${MAX_NUMBERS_PER_DEPLOYMENT} numbers`;
    }
    for (const number of input.numbers) {
      if (typeof number !== 'string' || !E164_PATTERN.test(number)) {
        return 'every number must be E.164: "+" then 7 to 15 digits, not starting with 0';
      }
    }
    if (new Set(input.numbers).size !== input.numbers.length) return 'numbers must not repeat';
    if (typeof input.tunnelHost !== 'string' || !this.isApprovedTunnelHost(input.tunnelHost)) {
      return `tunnelHost must be a lowercase DNS name under one of: ${this.#approvedDomains.join(', ')}`;
    }
    if (input.agentSecret !== undefined) {
      if (typeof input.agentSecret !== 'string' || !AGENT_SECRET_PATTERN.test(input.agentSecret)) {
        return 'agentSecret must be 32 to 512 printable ASCII characters without spaces';
      }
    }
    return null;
  }

  /**
   * True when host is a lowercase DNS name strictly below an approved domain,
   * matched by whole labels: `x.trycloudflare.com` yes, `eviltrycloudflare.com`
   * and `trycloudflare.com` itself no.
   */
  isApprovedTunnelHost(host: string): boolean {
    if (!isDnsName(host)) return false;
    return this.#approvedDomains.some((domain) => host.endsWith(`.${domain}`));
  }

  /** Constant-time check of the presented secret; one refusal for every failure. */
  async authenticate(deploymentId: string | undefined, presentedSecret: string | undefined): Promise<Deployment> {
    const presentedDigest = sha256(Buffer.from(presentedSecret ?? '', 'utf8'));
    const deployment =
      typeof deploymentId === 'string' && DEPLOYMENT_ID_PATTERN.test(deploymentId)
        ? await this.#store.get(deploymentId)
        : undefined;
    const expected = deployment?.agentSecretSha256 ?? this.#dummyDigest;
    const match = timingSafeEqual(presentedDigest, expected);
    if (!deployment || !match || !presentedSecret) {
      throw new TtmaError(ErrorCodes.AUTH, AUTH_FAILED, 401);
    }
    if (deployment.disabled) {
      throw new TtmaError(ErrorCodes.AUTH, `deployment ${deployment.id} is disabled`, 403);
    }
    return deployment;
  }

  /** Exact E.164 match only. */
  async findByNumber(e164: string): Promise<Deployment | undefined> {
    if (!E164_PATTERN.test(e164)) return undefined;
    return this.#store.findByNumber(e164);
  }

  async get(id: string): Promise<Deployment | undefined> {
    return this.#store.get(id);
  }

  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    return this.#store.setDisabled(id, disabled);
  }

  async list(): Promise<Deployment[]> {
    return this.#store.list();
  }
}

function isDnsName(host: string): boolean {
  if (host.length === 0 || host.length > DNS_NAME_MAX) return false;
  return host.split('.').every((label) => DNS_LABEL_PATTERN.test(label));
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function cloneDeployment(d: Deployment): Deployment {
  return { ...d, numbers: [...d.numbers], agentSecretSha256: Buffer.from(d.agentSecretSha256) };
}
