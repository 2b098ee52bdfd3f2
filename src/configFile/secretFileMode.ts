/**
 * Who may read a secret's file: the one rule the gateway (which refuses to
 * start), the platform (which warns) and `ttma doctor` (which fails) share.
 * Owner-only: no read or write for group or others (0600 or 0400).
 *
 * Files in systemd's credentials directory ($CREDENTIALS_DIRECTORY) are
 * exempt: systemd makes them readable by the service alone (0400, or 0440
 * with an ACL for the service user on a user manager), in a directory no one
 * else can enter.
 */
import { statSync } from 'node:fs';
import { normalize } from 'node:path';
import { configError } from './readConfigFile.js';

/** Group or others may read or write. */
export const GROUP_OTHER_ANY = 0o077;

export const octalMode = (mode: number): string => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

/** "readable or writable by group or others (mode 0644)", or null when `mode` is owner-only. */
export function sharedModeProblem(mode: number): string | null {
  return (mode & GROUP_OTHER_ANY) !== 0 ? `readable or writable by group or others (mode ${octalMode(mode)})` : null;
}

/** `path` is a file systemd put in this process's credentials directory. */
export function inCredentialsDirectory(path: string, env: NodeJS.ProcessEnv): boolean {
  const dir = env['CREDENTIALS_DIRECTORY'];
  return !!dir && normalize(path).startsWith(`${normalize(dir).replace(/\/+$/, '')}/`);
}

/** What is wrong with the mode of the file at `path` (followed if a link), or null; errors reading it are the reader's to report. */
export function secretFileModeProblem(path: string, env: NodeJS.ProcessEnv): string | null {
  if (inCredentialsDirectory(path, env)) return null;
  try {
    return sharedModeProblem(statSync(path).mode);
  } catch {
    return null;
  }
}

/**
 * Throws TTMA_ERR_CONFIG when a secret's file is not owner-only: the gateway
 * will not start with a secret other users of the machine can read.
 */
export function refuseSharedSecretFile(key: string, path: string, origin: string, env: NodeJS.ProcessEnv): void {
  // A directory (say) has a mode too: name what is really wrong before advising chmod.
  if (isNotRegularFile(path)) throw configError(`${key} ${path} (${origin}) is not a regular file: point it at the file holding the secret`);
  const problem = secretFileModeProblem(path, env);
  if (problem) {
    throw configError(`${key} ${path} (${origin}) is ${problem}: other users on this machine can read the secret; run chmod 600 ${path} (and chown it to the gateway's user), and replace the secret if others may have read it`);
  }
}

function isNotRegularFile(path: string): boolean {
  try {
    return !statSync(path).isFile();
  } catch {
    return false;
  }
}
