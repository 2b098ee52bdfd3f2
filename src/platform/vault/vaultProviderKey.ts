/**
 * What `ttma platform` does with providerApiKeySecret: fetch the key once at
 * start (any failure stops the start: fail closed, nothing to undo), then
 * keep it fresh with a ProviderKeyRefresher once the server runs. The key
 * lives only in this process's memory: never a file, a log line or an error.
 */
import type { Logger } from '../../log.js';
import { ProviderKeyRefresher } from './ProviderKeyRefresher.js';
import { fetchProviderKey, type SecretManagerTarget } from './secretManager.js';

/** A failed refresh is tried again this soon (at most the refresh interval). */
const RETRY_MS = 60_000;

export interface VaultSettings {
  target: SecretManagerTarget;
  refreshSec: number;
}

export async function vaultProviderKey(vault: VaultSettings, log: Logger): Promise<{ key: string; refresher(apply: (key: string) => void): ProviderKeyRefresher }> {
  const first = await fetchProviderKey(vault.target);
  log.info({ version: first.version, refreshSec: vault.refreshSec }, 'provider API key fetched from Secret Manager (kept in memory only)');
  return {
    key: first.key,
    refresher: (apply) =>
      new ProviderKeyRefresher({
        fetch: () => fetchProviderKey(vault.target),
        apply,
        current: first,
        intervalMs: vault.refreshSec * 1000,
        retryMs: RETRY_MS,
        log,
      }),
  };
}
