/**
 * Rotation: the platform asks the vault again every `intervalMs` and, when
 * the version it names changed (a new `latest`), hands the new key to the
 * provider client. A failed refresh keeps the key in use (it worked a moment
 * ago; refusing every call for a vault blip would fail the calls, not the
 * key) and tries again after `retryMs`; each failure is logged with its code,
 * never the key. Rotating at the provider: add the new version, wait for the
 * "provider API key rotated" log line on every platform, then revoke the old
 * key (docs/operations.md).
 */
import { isTtmaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { VaultKey } from './secretManager.js';

export interface ProviderKeyRefresherOptions {
  fetch: () => Promise<VaultKey>;
  /** Puts the new key in use; throws when the provider client refuses it. */
  apply: (key: string) => void;
  current: VaultKey;
  intervalMs: number;
  /** After a failure; at most intervalMs. */
  retryMs: number;
  log: Logger;
}

export type RefreshOutcome = 'unchanged' | 'rotated' | 'failed';

export class ProviderKeyRefresher {
  readonly #o: ProviderKeyRefresherOptions;
  #version: string;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(options: ProviderKeyRefresherOptions) {
    this.#o = options;
    this.#version = options.current.version;
  }

  get version(): string {
    return this.#version;
  }

  start(): void {
    this.#schedule(this.#o.intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  async refreshNow(): Promise<RefreshOutcome> {
    let next: VaultKey;
    try {
      next = await this.#o.fetch();
      if (next.version !== this.#version) this.#o.apply(next.key);
    } catch (err) {
      const code = isTtmaError(err) ? err.code : 'unexpected';
      const why = err instanceof Error ? err.message : String(err);
      this.#o.log.warn({ code, version: this.#version }, `provider API key refresh failed, the key in use is kept: ${why}`);
      return 'failed';
    }
    if (next.version === this.#version) return 'unchanged';
    this.#o.log.info({ from: this.#version, to: next.version }, 'provider API key rotated');
    this.#version = next.version;
    return 'rotated';
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.refreshNow().then((outcome) => this.#schedule(outcome === 'failed' ? Math.min(this.#o.retryMs, this.#o.intervalMs) : this.#o.intervalMs));
    }, ms);
    // The refresh never keeps the process alive on its own.
    this.#timer.unref();
  }
}
