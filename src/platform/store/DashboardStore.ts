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
export interface TaggedEntry {
  subject: string;
  tag: string;
}

/** How an entry is written where only a string fits (Redis): a subject never holds a newline. */
export function encodeEntry(subject: string, tag: string): string {
  return tag === '' ? subject : `${subject}\n${tag}`;
}

export function decodeEntry(value: string): TaggedEntry {
  const cut = value.indexOf('\n');
  return cut < 0 ? { subject: value, tag: '' } : { subject: value.slice(0, cut), tag: value.slice(cut + 1) };
}

export interface DashboardStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Keeps `digest` -> `subject` for `ttlMs` in `family`. Past `maxPerSubject`
   * live entries of that subject, its oldest go. `tag` (no newline) is kept
   * beside the subject: what the entry was opened under (a session checks it
   * on every request: DashboardSessions).
   */
  put(family: string, digest: string, subject: string, ttlMs: number, maxPerSubject: number, tag?: string): Promise<void>;
  /** The subject of a live entry, or null. */
  get(family: string, digest: string): Promise<string | null>;
  /** The subject and tag ('' when none was given) of a live entry, or null. */
  getTagged(family: string, digest: string): Promise<TaggedEntry | null>;
  /** The subject of a live entry, which is removed in the same step (a one-time link): at most one caller gets it. */
  take(family: string, digest: string): Promise<string | null>;
  /** take(), with the entry's tag. */
  takeTagged(family: string, digest: string): Promise<TaggedEntry | null>;
  delete(family: string, digest: string): Promise<void>;
  /** Removes every entry of one subject; how many there were. */
  revoke(family: string, subject: string): Promise<number>;
  close(): Promise<void>;
}
