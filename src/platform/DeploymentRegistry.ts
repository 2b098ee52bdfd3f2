/**
 * Deployments: who may ask the platform to control calls, for which numbers,
 * and where their media may go (FAQ-09, FAQ-13).
 *
 * The raw agent secret is returned once by register() and never kept: only
 * its SHA-256 is stored, and authentication compares digests in constant
 * time. Unknown deployment, wrong secret and a missing secret all give the
 * same refusal, so the platform is no oracle for deployment ids.
 *
 * Storage sits behind DeploymentStore: MemoryDeploymentStore here (the
 * default) or RedisDeploymentStore (src/platform/store) when Redis is
 * configured; test/platform/deploymentStore.test.ts runs one suite on both.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, TtmaError } from '../errors.js';
import { unknownFieldProblem } from './knownFields.js';
import { fromStored, toStored } from './store/deploymentRecord.js';
import { StateJournal, type JournalTable } from './store/StateJournal.js';
import { DEFAULT_APPROVED_TUNNEL_DOMAINS, isBelowDomains, tunnelDomainProblem } from './tunnelDomains.js';
import { tunnelHostKey, tunnelHostTaken } from './tunnelHostOwners.js';
import { dialPrefixRefusal, ownCountryPrefixes } from '../wire/dialPrefixes.js';

export { DEFAULT_APPROVED_TUNNEL_DOMAINS } from './tunnelDomains.js';

export interface Deployment {
  id: string;
  /** E.164, matched exactly (never by suffix). */
  numbers: string[];
  /** Lowercase DNS name under an approved tunnel domain. */
  tunnelHost: string;
  agentSecretSha256: Buffer;
  disabled: boolean;
  /** Minute caps per UTC day and calendar month (FAQ-14). */
  caps: DeploymentCaps;
  /** Record calls (default on, FAQ-02, FAQ-17); off: record_start is never sent. */
  recording: boolean;
  /** Which destinations the deployment may dial. */
  dialPolicy: DialPolicy;
}

export interface DeploymentCaps {
  dayMinutes: number;
  monthMinutes: number;
}

export interface DialPolicy {
  /** E.164 prefixes a destination must start with (`+` alone: anywhere). */
  allowPrefixes: string[];
}

/** What the operator may change after creation (the id never changes). */
export interface DeploymentPatch {
  numbers?: string[];
  tunnelHost?: string;
  caps?: Partial<DeploymentCaps>;
  recording?: boolean;
  dialPolicy?: DialPolicy;
}

export interface RegisterDeploymentInput {
  id: string;
  numbers: string[];
  tunnelHost: string;
  /** When absent, 32 random bytes base64url are generated. */
  agentSecret?: string;
  caps?: Partial<DeploymentCaps>;
  recording?: boolean;
  dialPolicy?: DialPolicy;
}

/**
 * What a store must do. A number belongs to at most one deployment, and so does a tunnel host
 * (tunnelHostOwners.ts: compared by tunnelHostKey; pairs stored before that rule are kept).
 */
export interface DeploymentStore {
  get(id: string): Promise<Deployment | undefined>;
  findByNumber(e164: string): Promise<Deployment | undefined>;
  /** Atomic: refuses (TTMA_ERR_CONFLICT) when the id or any number is taken, (TTMA_ERR_TUNNEL_HOST_TAKEN) when the tunnel host is. */
  insert(deployment: Deployment): Promise<void>;
  setDisabled(id: string, disabled: boolean): Promise<boolean>;
  /**
   * Atomic replace of an existing deployment; refuses (TTMA_ERR_CONFLICT) a number another one owns,
   * (TTMA_ERR_TUNNEL_HOST_TAKEN) a move to a tunnel host another one holds (keeping its own host is never refused).
   * `disabled` is kept as stored: only setDisabled changes it, so a concurrent update cannot undo a disable.
   */
  replace(deployment: Deployment): Promise<boolean>;
  list(): Promise<Deployment[]>;
  /** Shared stores: called with the id of a deployment some process changed (this one included). */
  onStoredChange?(listener: (id: string) => void): void;
  /**
   * Shared stores: called each time change messages flow again (the subscription made or made
   * again). Pub/sub is at most once: what was published while it was down never comes, so any
   * deployment may have changed meanwhile.
   */
  onChangesMayBeMissed?(listener: () => void): void;
  /** Networked stores: drops every copy kept in process (read cache, last known), once the store lost its data. */
  forgetCopies?(): void;
  /** Networked stores: waits (bounded) for the first connection; true when up. */
  ready?(timeoutMs?: number): Promise<boolean>;
  /** Rejects (TTMA_ERR_STORE_UNAVAILABLE) when the store does not answer. */
  ping?(): Promise<void>;
  close?(): Promise<void>;
}

/** In process; with a persistent state journal (StateJournal.ts) it outlives the process. */
export class MemoryDeploymentStore implements DeploymentStore {
  readonly #journal: StateJournal;
  readonly #byId: JournalTable<Deployment>;
  readonly #byNumber = new Map<string, string>();

  constructor(journal: StateJournal = StateJournal.inMemory()) {
    this.#journal = journal;
    this.#byId = journal.table<Deployment>('deployments', {
      encode: (d) => ({ doc: toStored(d), disabled: d.disabled }),
      decode: (json) => {
        const stored = json as { doc?: unknown; disabled?: unknown };
        if (typeof stored?.doc !== 'string' || typeof stored.disabled !== 'boolean') throw new Error('not a stored deployment');
        return fromStored(stored.doc, stored.disabled);
      },
    });
    for (const deployment of this.#byId.values()) for (const number of deployment.numbers) this.#byNumber.set(number, deployment.id);
  }

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
    this.#refuseTakenHost(deployment);
    this.#byId.set(deployment.id, cloneDeployment(deployment));
    for (const number of deployment.numbers) this.#byNumber.set(number, deployment.id);
    await this.#journal.flush();
  }

  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    const found = this.#byId.get(id);
    if (!found) return false;
    found.disabled = disabled;
    this.#byId.set(id, found);
    await this.#journal.flush();
    return true;
  }

  async replace(deployment: Deployment): Promise<boolean> {
    const current = this.#byId.get(deployment.id);
    if (!current) return false;
    for (const number of deployment.numbers) {
      const owner = this.#byNumber.get(number);
      if (owner !== undefined && owner !== deployment.id) {
        throw new TtmaError(ErrorCodes.CONFLICT, `number ${number} already belongs to a deployment`, 409);
      }
    }
    if (tunnelHostKey(deployment.tunnelHost) !== tunnelHostKey(current.tunnelHost)) this.#refuseTakenHost(deployment);
    for (const number of current.numbers) this.#byNumber.delete(number);
    for (const number of deployment.numbers) this.#byNumber.set(number, deployment.id);
    this.#byId.set(deployment.id, { ...cloneDeployment(deployment), disabled: current.disabled });
    await this.#journal.flush();
    return true;
  }

  async list(): Promise<Deployment[]> {
    return [...this.#byId.values()].map(cloneDeployment);
  }

  /** Deployments are few: a scan, so pairs stored before the rule need no index kept in step. */
  #refuseTakenHost(deployment: Deployment): void {
    const key = tunnelHostKey(deployment.tunnelHost);
    for (const other of this.#byId.values()) {
      if (other.id !== deployment.id && tunnelHostKey(other.tunnelHost) === key) throw tunnelHostTaken(deployment.tunnelHost, other.id);
    }
  }

  async ping(): Promise<void> {
    this.#journal.check();
  }
}

export const DEPLOYMENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,62}$/;
/** ITU-T E.164: a country code that does not start with 0, at most 15 digits. */
export const E164_PATTERN = /^\+[1-9]\d{6,14}$/;
/** A supplied agent secret: printable ASCII, long enough to be a secret. */
const AGENT_SECRET_PATTERN = /^[\x21-\x7e]{32,512}$/;
const AGENT_SECRET_BYTES = 32;
const MAX_NUMBERS_PER_DEPLOYMENT = 100;
export const DEFAULT_CAPS: Readonly<DeploymentCaps> = { dayMinutes: 600, monthMinutes: 6_000 };
/** A month has at most 44 640 minutes; anything above is a typo. */
export const MAX_CAP_MINUTES = 44_640;
const DIAL_PREFIX_PATTERN = /^\+\d{0,14}$/;
const MAX_DIAL_PREFIXES = 64;

const AUTH_FAILED = 'authentication failed: check the x-ttma-deployment header and the agent secret';
/** Said to every refused caller alike once the store lost its data: a fact /readyz tells anyone, so no oracle for ids. */
const AUTH_FAILED_DATA_LOST =
  'authentication failed: the platform\'s store lost its data (Redis flushed or restarted empty), so it may no longer know this deployment: ask the platform operator to restore it or re-create the deployment';

export interface DeploymentRegistryOptions {
  approvedTunnelDomains?: readonly string[];
  store?: DeploymentStore;
}

/** What changed about a deployment (the control connections act on it). */
export type DeploymentChange = 'updated' | 'secret' | 'disabled' | 'enabled';

export class DeploymentRegistry {
  readonly #store: DeploymentStore;
  readonly #listeners = new Set<(id: string, change: DeploymentChange) => void>();
  readonly #approvedDomains: readonly string[];
  // Compared against when the id is unknown, so both refusals cost the same.
  readonly #dummyDigest = sha256(randomBytes(AGENT_SECRET_BYTES));
  #storeLost = false;

  constructor(options: DeploymentRegistryOptions = {}) {
    this.#store = options.store ?? new MemoryDeploymentStore();
    const domains = options.approvedTunnelDomains ?? DEFAULT_APPROVED_TUNNEL_DOMAINS;
    if (domains.length === 0) {
      throw new TtmaError(ErrorCodes.CONFIG, 'approvedTunnelDomains must list at least one domain');
    }
    for (const domain of domains) {
      const problem = tunnelDomainProblem(domain);
      if (problem) throw new TtmaError(ErrorCodes.CONFIG, `approved tunnel domain ${JSON.stringify(domain.slice(0, 80))} refused: ${problem}`);
    }
    this.#approvedDomains = [...new Set(domains)];
  }

  /**
   * The store lost its data (the cap store's marker said so): copies kept in process are dropped,
   * so gateways whose deployment is gone are refused now, not once a cached copy is 5 s old, and
   * refusals say why.
   */
  storeLost(): void {
    this.#storeLost = true;
    this.#store.forgetCopies?.();
  }

  /** Observe updates, secret rotations and disable/enable. */
  onChange(listener: (id: string, change: DeploymentChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(id: string, change: DeploymentChange): void {
    for (const listener of this.#listeners) listener(id, change);
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
      caps: { ...DEFAULT_CAPS, ...input.caps },
      recording: input.recording ?? true,
      dialPolicy: { allowPrefixes: [...(input.dialPolicy?.allowPrefixes ?? defaultDialPrefixes(input.numbers))] },
    });
    return { agentSecret };
  }

  /**
   * Stores a deployment as exported (operator import after a data loss): its secret's digest as it
   * was, so its gateway authenticates with the secret it holds. Validated like a registration;
   * refused (TTMA_ERR_CONFLICT) when the id or a number is taken: an import never overwrites.
   */
  async restore(deployment: Deployment): Promise<void> {
    const problem = this.validate({ ...deployment, agentSecret: undefined } as RegisterDeploymentInput);
    if (problem) throw new TtmaError(ErrorCodes.BAD_REQUEST, problem, 400);
    if (deployment.agentSecretSha256.length !== 32) throw new TtmaError(ErrorCodes.BAD_REQUEST, 'agentSecretSha256 must be 64 hex digits', 400);
    await this.#store.insert({ ...deployment, numbers: [...deployment.numbers], dialPolicy: { allowPrefixes: [...deployment.dialPolicy.allowPrefixes] } });
  }

  /**
   * Makes the stored deployment match `input` (a `--deployment-file`): registers
   * it, or, when the id exists already (a restart on a persistent store),
   * updates its settings and sets the file's secret when it differs.
   */
  async ensure(input: RegisterDeploymentInput & { agentSecret: string }): Promise<'created' | 'updated'> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const current = await this.#store.get(input.id);
      if (!current) {
        try {
          await this.register(input);
          return 'created';
        } catch (err) {
          // Another platform process registered it meanwhile: update it instead (once).
          if (attempt === 0 && err instanceof TtmaError && err.code === ErrorCodes.CONFLICT && (await this.#store.get(input.id))) continue;
          throw err;
        }
      }
      await this.update(input.id, {
        numbers: input.numbers,
        tunnelHost: input.tunnelHost,
        ...(input.caps !== undefined ? { caps: input.caps } : {}),
        ...(input.recording !== undefined ? { recording: input.recording } : {}),
        ...(input.dialPolicy !== undefined ? { dialPolicy: input.dialPolicy } : {}),
      });
      if (!timingSafeEqual(sha256(Buffer.from(input.agentSecret, 'utf8')), current.agentSecretSha256)) {
        await this.rotateSecret(input.id, input.agentSecret);
      }
      return 'updated';
    }
    throw new TtmaError(ErrorCodes.CONFLICT, `deployment ${input.id} changed while being applied`, 409);
  }

  /** Operator update: validated like a registration; the secret is untouched. */
  async update(id: string, patch: DeploymentPatch): Promise<Deployment> {
    const current = await this.#store.get(id);
    if (!current) throw new TtmaError(ErrorCodes.NOT_FOUND, `no deployment ${id}`, 404);
    const next: Deployment = {
      ...current,
      numbers: patch.numbers !== undefined ? patch.numbers : current.numbers,
      tunnelHost: patch.tunnelHost !== undefined ? patch.tunnelHost : current.tunnelHost,
      caps: pickCaps({ ...current.caps, ...patch.caps }),
      recording: patch.recording !== undefined ? patch.recording : current.recording,
      dialPolicy: patch.dialPolicy !== undefined ? patch.dialPolicy : current.dialPolicy,
    };
    // The patch's own caps are checked for unknown keys: the merge keeps only the two it applies.
    const problem = capsProblem(patch.caps) ?? this.validate({ ...next, agentSecret: undefined } as RegisterDeploymentInput);
    if (problem) throw new TtmaError(ErrorCodes.BAD_REQUEST, problem, 400);
    next.dialPolicy = { allowPrefixes: [...next.dialPolicy.allowPrefixes] };
    await this.#store.replace(next);
    this.#changed(id, 'updated');
    return next;
  }

  /** A new secret (generated unless supplied); the old one stops working at once. */
  async rotateSecret(id: string, supplied?: string): Promise<{ agentSecret: string }> {
    const current = await this.#store.get(id);
    if (!current) throw new TtmaError(ErrorCodes.NOT_FOUND, `no deployment ${id}`, 404);
    if (supplied !== undefined && (typeof supplied !== 'string' || !AGENT_SECRET_PATTERN.test(supplied))) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, 'agentSecret must be 32 to 512 printable ASCII characters without spaces', 400);
    }
    const agentSecret = supplied ?? randomBytes(AGENT_SECRET_BYTES).toString('base64url');
    await this.#store.replace({ ...current, agentSecretSha256: sha256(Buffer.from(agentSecret, 'utf8')) });
    this.#changed(id, 'secret');
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
    const caps = capsProblem(input.caps);
    if (caps) return caps;
    if (input.recording !== undefined && typeof input.recording !== 'boolean') return 'recording must be true or false';
    if (input.dialPolicy !== undefined) {
      const policy = input.dialPolicy as object | null;
      if (typeof policy === 'object' && policy !== null) {
        const extra = unknownFieldProblem(policy, ['allowPrefixes'], 'dialPolicy.');
        if (extra) return extra;
      }
      const prefixes = (input.dialPolicy as { allowPrefixes?: unknown } | null)?.allowPrefixes;
      if (
        !Array.isArray(prefixes) ||
        prefixes.length > MAX_DIAL_PREFIXES ||
        !prefixes.every((p) => typeof p === 'string' && DIAL_PREFIX_PATTERN.test(p))
      ) {
        return `dialPolicy.allowPrefixes must list at most ${MAX_DIAL_PREFIXES} E.164 prefixes ("+" then up to 14 digits; "+" alone allows any)`;
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
    return isBelowDomains(host, this.#approvedDomains);
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
      throw this.#storeLost ? new TtmaError(ErrorCodes.STORE_DATA_LOST, AUTH_FAILED_DATA_LOST, 401) : new TtmaError(ErrorCodes.AUTH, AUTH_FAILED, 401);
    }
    if (deployment.disabled) {
      throw new TtmaError(ErrorCodes.DEPLOYMENT_DISABLED, `deployment ${deployment.id} is disabled by the operator`, 403);
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
    const found = await this.#store.setDisabled(id, disabled);
    if (found) this.#changed(id, disabled ? 'disabled' : 'enabled');
    return found;
  }

  async list(): Promise<Deployment[]> {
    return this.#store.list();
  }

  /** The store, for the platform's start (wait for it) and stop (close it). */
  get store(): DeploymentStore {
    return this.#store;
  }
}

const CAP_KEYS = ['dayMinutes', 'monthMinutes'] as const;

/** Why `caps` (absent, or a patch or a registration's) is refused, or null: only the two known keys, whole minutes. */
function capsProblem(caps: Partial<DeploymentCaps> | undefined): string | null {
  if (caps === undefined) return null;
  if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) return 'caps must be {"dayMinutes","monthMinutes"}';
  const extra = unknownFieldProblem(caps, CAP_KEYS, 'caps.');
  if (extra) return extra;
  for (const key of CAP_KEYS) {
    const value = caps[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > MAX_CAP_MINUTES)) {
      return `caps.${key} must be a whole number of minutes from 0 to ${MAX_CAP_MINUTES}`;
    }
  }
  return null;
}

/** The two caps the platform applies, whatever else an older record held. */
function pickCaps(caps: DeploymentCaps): DeploymentCaps {
  return { dayMinutes: caps.dayMinutes, monthMinutes: caps.monthMinutes };
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function cloneDeployment(d: Deployment): Deployment {
  return {
    ...d,
    numbers: [...d.numbers],
    agentSecretSha256: Buffer.from(d.agentSecretSha256),
    caps: { ...d.caps },
    dialPolicy: { allowPrefixes: [...d.dialPolicy.allowPrefixes] },
  };
}

/**
 * A new deployment's dialling policy when none is given: the country calling codes of its own
 * numbers (+1 555 ... and +44 20 ... give ["+1", "+44"]), not the whole world: toll fraud is
 * the classic telephony loss. A number in a place sharing a code stands for that place's own
 * prefixes (+1 876 ... gives ["+1658", "+1876"], Jamaica; src/wire/sharedCodeAreas.ts), a
 * number under no assigned code (a spare one) for its first three digits. Set at registration
 * only: a stored policy is never recomputed.
 */
export function defaultDialPrefixes(numbers: readonly string[]): string[] {
  return [...new Set(numbers.flatMap((n) => ownCountryPrefixes(n)))];
}

/**
 * The dialling policy: a destination must be allowed by a prefix (a shared code's "+1" reaches
 * the US and Canada only, src/wire/dialPrefixes.ts) and not be the deployment's own number.
 */
export function checkDialPolicy(deployment: Deployment, to: string): void {
  if (deployment.numbers.includes(to)) {
    throw new TtmaError(ErrorCodes.DIAL_POLICY, "destination refused by the dialling policy: a deployment may not dial its own number", 403);
  }
  const refusal = dialPrefixRefusal(deployment.dialPolicy.allowPrefixes, to);
  if (refusal !== null) {
    throw new TtmaError(ErrorCodes.DIAL_POLICY, `destination refused by the dialling policy: ${refusal}`, 403);
  }
}
