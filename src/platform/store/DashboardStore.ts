/**
 * Where the dashboards' sign-in state lives: operator sessions, deployment
 * sessions and one-time sign-in links (DashboardSessions, DashboardLinks).
 * Each entry is the SHA-256 of a secret (never the secret) naming a subject
 * (a deployment, or '' for the operator), with a lifetime. In process for
 * the embedded store; in Redis when the platform has one, so that several
 * platform processes behind one address share them: a link issued by one
 * is redeemed at another, and a rotated secret ends the deployment's
 * sessions everywhere. Fails closed: a store that cannot answer signs no one in.
 */
export interface DashboardStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Keeps `digest` -> `subject` for `ttlMs` in `family`. Past `maxPerSubject`
   * live entries of that subject, its oldest go.
   */
  put(family: string, digest: string, subject: string, ttlMs: number, maxPerSubject: number): Promise<void>;
  /** The subject of a live entry, or null. */
  get(family: string, digest: string): Promise<string | null>;
  /** The subject of a live entry, which is removed in the same step (a one-time link): at most one caller gets it. */
  take(family: string, digest: string): Promise<string | null>;
  delete(family: string, digest: string): Promise<void>;
  /** Removes every entry of one subject; how many there were. */
  revoke(family: string, subject: string): Promise<number>;
  close(): Promise<void>;
}
