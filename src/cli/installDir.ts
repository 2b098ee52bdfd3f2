/**
 * Where `ttma call`, `calls`, `dashboard` and `recording` find the install
 * (`ttma install --dir`): --install-dir, else $TTMA_INSTALL_DIR, else the
 * installer's default. Its credentials hold the agent secret, and its
 * install.json the gateway's local port: an install with `--local-port 9081`
 * used to be looked for on 8081, by the skill's `ttma call` too.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface InstallDirFlags {
  'install-dir'?: string | undefined;
  'agent-secret-file'?: string | undefined;
}

/** An environment variable, with an empty one counted as unset (docs/configuration.md). */
export function envValue(name: string): string | undefined {
  return process.env[name] || undefined;
}

/** The install dir and what named it (for messages). */
export function installDir(values: InstallDirFlags): { dir: string; from: string } {
  const dirFlag = values['install-dir'];
  const dirEnv = dirFlag === undefined ? envValue('TTMA_INSTALL_DIR') : undefined;
  const dir = dirFlag ?? dirEnv ?? join(homedir(), '.local', 'share', 'ttma');
  const from = dirFlag !== undefined ? '--install-dir' : dirEnv !== undefined ? 'TTMA_INSTALL_DIR' : "the installer's default install dir";
  return { dir, from };
}

/**
 * The local port the install's gateway unit listens on (install.json, written by `ttma install`),
 * or null: none recorded (an install older than the record), or the agent secret comes from its
 * own file with no install dir named, so the gateway is not necessarily the install's.
 */
export function installedLocalPort(values: InstallDirFlags): number | null {
  const dirNamed = values['install-dir'] !== undefined || envValue('TTMA_INSTALL_DIR') !== undefined;
  const ownSecret = values['agent-secret-file'] !== undefined || envValue('TTMA_AGENT_SECRET_FILE') !== undefined;
  if (ownSecret && !dirNamed) return null;
  let record: unknown;
  try {
    record = JSON.parse(readFileSync(join(installDir(values).dir, 'install.json'), 'utf8'));
  } catch {
    return null;
  }
  const port = (record as { localPort?: unknown } | null)?.localPort;
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65_535 ? (port as number) : null;
}
