/**
 * Whether a Redis keeps its data across a restart. With `appendonly no` and an empty `save` (no RDB
 * snapshots) a restarted Redis comes back empty: every deployment, minute counter and call record
 * is gone (https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/). Read with
 * `CONFIG GET`, which managed Redis often renames or forbids
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/RestrictedCommands.html): then the
 * platform says it could not check rather than guessing.
 */

export type PersistenceState =
  | { kind: 'persistent'; appendonly: string; save: string }
  | { kind: 'none'; appendonly: string; save: string }
  /** CONFIG refused (renamed, disabled, or not allowed to this user): `why` is Redis's answer. */
  | { kind: 'unknown'; why: string };

/** The state from the values of `CONFIG GET appendonly` and `CONFIG GET save` (null: not answered). */
export function persistenceOf(appendonly: string | null, save: string | null): PersistenceState {
  if (appendonly === null || save === null) return { kind: 'unknown', why: 'CONFIG GET answered nothing' };
  const kind = appendonly.trim().toLowerCase() === 'no' && save.trim() === '' ? 'none' : 'persistent';
  return { kind, appendonly, save };
}

/** The value of a `CONFIG GET <name>` reply (`[name, value]`), null when absent. */
export function configValue(reply: unknown): string | null {
  return Array.isArray(reply) && reply.length >= 2 ? String(reply[1]) : null;
}
