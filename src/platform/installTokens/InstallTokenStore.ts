/**
 * Where sealed install envelopes wait for their one redemption (FAQ-08), and
 * the audit metadata that outlives them. Self-contained so either store can
 * be chosen without the platform's other stores.
 *
 * `take` is the whole security of single use: it returns the record and
 * deletes it in one atomic step, and only when the presented secret's digest
 * matches, so a caller who knows only the (public) id cannot burn a token.
 *
 * Each store also knows a deployment's outstanding tokens, so a reissue, a
 * secret rotation, a disable or the operator can revoke them: a token must
 * never install a secret the platform no longer accepts.
 */
import { timingSafeEqual } from 'node:crypto';
import type { InstallEnvelope } from '../../wire/installToken.js';
import { StateJournal, type JournalTable } from '../store/StateJournal.js';

export interface StoredInstallToken {
  envelope: InstallEnvelope;
  /** SHA-256 of the token secret, hex. The secret itself is never stored. */
  secretSha256: string;
  createdAt: number;
  /**
   * SHA-256 (hex) of the agent secret the sealed payload carries, as the
   * deployment record keeps it: a redemption after the secret changed is
   * refused even if a revocation was missed (a race, another process).
   */
  agentSecretSha256?: string;
}

export type TakeResult =
  | { kind: 'taken'; record: StoredInstallToken }
  | { kind: 'absent' }
  | { kind: 'bad-secret' };

export type InstallAuditOutcome = 'minted' | 'reissued' | 'redeemed' | 'revoked' | 'bad-secret' | 'unknown-used-or-expired';

/** Why a token was revoked. */
export type RevokeReason = 'reissued' | 'secret-rotated' | 'disabled' | 'operator' | 'stale-secret' | 'deployment-disabled' | 'deployment-gone';

/** Metadata only: never the envelope, never a secret. */
export interface InstallAuditEntry {
  tokenId: string;
  deploymentId: string | null;
  outcome: InstallAuditOutcome;
  at: number;
  mintedAt: number | null;
  expiresAt: number | null;
  /** The redeeming client's address (null for mint). */
  address: string | null;
  /** Only on `revoked`. */
  reason?: RevokeReason;
  /**
   * Only on a summary (tokenId `*`): this many refusals of unknown ids were
   * not listed one by one, between `since` and `at`.
   */
  count?: number;
  since?: number;
}

export interface InstallTokenStore {
  /** Stores under envelope.id with a server-side TTL; refuses an id already present. */
  put(record: StoredInstallToken, ttlMs: number): Promise<void>;
  /** Atomic take-and-delete, only when secretSha256 matches; an expired record is absent. */
  take(id: string, secretSha256: string, nowMs: number): Promise<TakeResult>;
  /** Deletes one outstanding token; its record, or null when none is stored under the id. */
  revoke(id: string): Promise<StoredInstallToken | null>;
  /** Deletes every outstanding token of the deployment except `keepId`, in one atomic step; the deleted records. */
  revokeDeployment(deploymentId: string, keepId?: string): Promise<StoredInstallToken[]>;
  appendAudit(entry: InstallAuditEntry): Promise<void>;
  /** Newest first, at most MAX_AUDIT_ENTRIES. */
  audit(): Promise<InstallAuditEntry[]>;
  /** True while a record for the id is stored (tests and doctor use it to prove deletion). */
  has(id: string): Promise<boolean>;
  close(): Promise<void>;
}

export const MAX_AUDIT_ENTRIES = 10_000;

/** One audit entry; `reason` only for `revoked`. */
export function auditEntry(
  at: number,
  tokenId: string,
  deploymentId: string | null,
  outcome: InstallAuditOutcome,
  times: { mintedAt: number | null; expiresAt: number | null },
  address: string | null,
  reason?: RevokeReason,
): InstallAuditEntry {
  return { tokenId, deploymentId, outcome, at, mintedAt: times.mintedAt, expiresAt: times.expiresAt, address, ...(reason ? { reason } : {}) };
}

export function digestsEqual(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, 'hex');
  const b = Buffer.from(bHex, 'hex');
  return a.length === 32 && b.length === 32 && timingSafeEqual(a, b);
}

/**
 * The embedded store: one process, so a synchronous check-and-delete is
 * atomic. The sealed envelopes stay in memory only, never in the state
 * journal: an append-only file would keep a redeemed envelope until its next
 * compaction, and FAQ-08 says it is deleted at redemption. A restart
 * therefore forgets unredeemed tokens (their installer is told to mint a new
 * one); the audit metadata is journaled and outlives it.
 */
export class MemoryInstallTokenStore implements InstallTokenStore {
  readonly #journal: StateJournal;
  readonly #records = new Map<string, { record: StoredInstallToken; deadline: number }>();
  /** Oldest first, keyed by a sequence number that only grows. */
  readonly #audit: JournalTable<InstallAuditEntry>;
  readonly #now: () => number;
  #auditSeq = 0;

  constructor(now: () => number = Date.now, journal: StateJournal = StateJournal.inMemory()) {
    this.#now = now;
    this.#journal = journal;
    this.#audit = journal.table('install.audit');
    for (const key of this.#audit.keys()) this.#auditSeq = Math.max(this.#auditSeq, Number(key));
  }

  async put(record: StoredInstallToken, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) throw new RangeError('install token TTL must be positive');
    const now = this.#now();
    this.#sweep();
    if (this.#records.has(record.envelope.id)) throw new Error('install token id already stored');
    this.#records.set(record.envelope.id, { record: structuredClone(record), deadline: now + ttlMs });
  }

  async take(id: string, secretSha256: string, nowMs: number): Promise<TakeResult> {
    const held = this.#records.get(id);
    if (!held) return { kind: 'absent' };
    if (held.deadline <= this.#now() || held.record.envelope.expiresAt <= nowMs) {
      this.#records.delete(id);
      return { kind: 'absent' };
    }
    if (!digestsEqual(held.record.secretSha256, secretSha256)) return { kind: 'bad-secret' };
    this.#records.delete(id);
    return { kind: 'taken', record: held.record };
  }

  async revoke(id: string): Promise<StoredInstallToken | null> {
    this.#sweep();
    const held = this.#records.get(id);
    if (!held) return null;
    this.#records.delete(id);
    return held.record;
  }

  /** The records map is this store's index: one synchronous pass over it is atomic in one process. */
  async revokeDeployment(deploymentId: string, keepId?: string): Promise<StoredInstallToken[]> {
    this.#sweep();
    const out: StoredInstallToken[] = [];
    for (const [id, held] of this.#records) {
      if (held.record.envelope.deploymentId !== deploymentId || id === keepId) continue;
      this.#records.delete(id);
      out.push(held.record);
    }
    return out;
  }

  /** Forgets records past their deadline. */
  #sweep(): void {
    const now = this.#now();
    for (const [id, held] of this.#records) if (held.deadline <= now) this.#records.delete(id);
  }

  async appendAudit(entry: InstallAuditEntry): Promise<void> {
    this.#audit.set(String(++this.#auditSeq), { ...entry });
    if (this.#audit.size > MAX_AUDIT_ENTRIES) this.#audit.delete(this.#audit.keys().next().value as string);
    await this.#journal.flush();
  }

  async audit(): Promise<InstallAuditEntry[]> {
    return [...this.#audit.values()].reverse().map((e) => ({ ...e }));
  }

  async has(id: string): Promise<boolean> {
    const held = this.#records.get(id);
    return held !== undefined && held.deadline > this.#now();
  }

  async close(): Promise<void> {
    this.#records.clear();
  }
}
