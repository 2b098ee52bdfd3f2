/**
 * Says, at start and then every `intervalMs`, whether the platform's Redis keeps its data across a
 * restart: once per change of state, not per check (a Redis reconfigured live, or a failover to a
 * replica configured otherwise, is a change). A Redis that does not answer changes nothing: the
 * store's own outage is on /readyz.
 */
import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import type { PersistenceState } from './store/redisPersistence.js';

export interface PersistenceWatchOptions {
  check(): Promise<PersistenceState>;
  logger: Logger;
  /** Between checks (default 60 s). */
  intervalMs?: number;
}

const DEFAULT_INTERVAL_MS = 60_000;

export class PersistenceWatch {
  readonly #check: PersistenceWatchOptions['check'];
  readonly #log: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #last: PersistenceState['kind'] | null = null;
  #checking = false;

  constructor(options: PersistenceWatchOptions) {
    this.#check = options.check;
    this.#log = options.logger;
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  /** The last state seen (null before the first answer). */
  get state(): PersistenceState['kind'] | null {
    return this.#last;
  }

  start(): void {
    if (this.#timer) return;
    void this.checkNow();
    this.#timer = setInterval(() => void this.checkNow(), this.#intervalMs);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async checkNow(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      this.#saw(await this.#check());
    } catch {
      // Unreachable: nothing learnt about persistence.
    } finally {
      this.#checking = false;
    }
  }

  #saw(state: PersistenceState): void {
    const before = this.#last;
    if (state.kind === before) return;
    this.#last = state.kind;
    if (state.kind === 'none') {
      this.#log.warn(
        { code: ErrorCodes.CONFIG, appendonly: state.appendonly, save: state.save },
        'Redis keeps no data across a restart (appendonly no, save ""): a Redis restart or a failover to an empty replica loses every deployment, minute counter and call record, and every gateway is refused until the deployments are re-created; set appendonly yes (docs/platform-storage.md, "Redis hung, slow, or back without its data")',
      );
    } else if (state.kind === 'unknown') {
      this.#log.warn(
        { code: ErrorCodes.CONFIG, why: state.why },
        'could not check whether Redis keeps its data across a restart (CONFIG GET refused, as managed Redis often does): make sure it has persistence or backups (docs/platform-storage.md)',
      );
    } else if (before !== null) {
      this.#log.info({ appendonly: state.appendonly, save: state.save }, 'Redis keeps its data across a restart now');
    }
  }
}
