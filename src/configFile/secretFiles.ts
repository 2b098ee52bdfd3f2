/**
 * Where a secret's file is: the `*File` key's path, `credential:NAME` for a
 * systemd credential, or, with the key unset, the credential of the usual
 * name when systemd passed one ($CREDENTIALS_DIRECTORY, LoadCredential=).
 * Secrets are read only from there: never the config file, argv or the
 * environment.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { configError } from './readConfigFile.js';
import type { SecretSpec } from './layers.js';

const CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const CREDENTIAL_PREFIX = 'credential:';
/** Secret files are one line; a large one is a wrong path. */
const MAX_SECRET_BYTES = 64 * 1024;

export interface ResolvedSecret {
  /** The file read (absolute for credentials), or null: not configured. */
  path: string | null;
  /** Where that path came from (a flag, env, the file, a systemd credential). */
  origin: string;
}

/** The path a secret is read from; throws when `credential:` is used without systemd's directory. */
export function resolveSecretPath(key: string, spec: SecretSpec, configured: string | undefined, origin: string, env: NodeJS.ProcessEnv): ResolvedSecret {
  const dir = env['CREDENTIALS_DIRECTORY'];
  if (configured !== undefined && configured.startsWith(CREDENTIAL_PREFIX)) {
    const name = configured.slice(CREDENTIAL_PREFIX.length);
    if (!CREDENTIAL_NAME.test(name)) throw configError(`${key}: "${configured.slice(0, 80)}" is not a credential name (letters, digits, _ . -)`);
    if (!dir) throw configError(`${key}: ${configured} needs systemd's $CREDENTIALS_DIRECTORY (LoadCredential=${name}:...), which is not set`);
    return { path: join(dir, name), origin: `${origin}, systemd credential ${name}` };
  }
  if (configured !== undefined && configured !== '') return { path: configured, origin };
  if (dir) {
    const candidate = join(dir, spec.credential);
    if (existsSync(candidate)) return { path: candidate, origin: `systemd credential ${spec.credential}` };
  }
  return { path: null, origin: 'not configured' };
}

/** The secret, trimmed; a missing, empty, oversized or unreadable file is a config error naming the key (never the content). */
export function readSecret(key: string, resolved: ResolvedSecret): string {
  const path = resolved.path;
  if (!path) throw configError(`${key}: not configured`);
  try {
    const info = statSync(path);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_SECRET_BYTES) throw new Error(`larger than ${MAX_SECRET_BYTES} bytes`);
    const value = readFileSync(path, 'utf8').trim();
    if (!value) throw new Error('file is empty');
    return value;
  } catch (err) {
    const why = (err as Error).message.replace(/^[A-Z]+: /, '');
    throw configError(`${key} ${path} (${resolved.origin}): cannot read secret: ${why}`);
  }
}
