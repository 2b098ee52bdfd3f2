/**
 * The gateway's only way to control calls: authenticated requests to the
 * platform's signalling proxy, which holds the provider key (FAQ-12).
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import {
  HEADER_DEPLOYMENT,
  PLATFORM_PATHS,
  type AnswerCallBody,
  type DialCallBody,
  type DialCallResult,
  type HangupCallBody,
  type PlatformErrorBody,
} from '../wire/platformApi.js';

const REQUEST_TIMEOUT_MS = 5_000;

export interface SignallingClientOptions {
  platformUrl: string;
  deploymentId: string;
  agentSecret: string;
}

export class SignallingClient {
  readonly #base: string;
  readonly #headers: Record<string, string>;

  constructor(options: SignallingClientOptions) {
    this.#base = options.platformUrl.replace(/\/+$/, '');
    this.#headers = {
      authorization: `Bearer ${options.agentSecret}`,
      [HEADER_DEPLOYMENT]: options.deploymentId,
      'content-type': 'application/json',
    };
  }

  /**
   * Load node's fetch implementation (undici) now: its first use compiles it
   * synchronously, about 100 ms here, which would stall live calls' media on
   * this thread if it happened during the first answer.
   */
  static async warmUp(): Promise<void> {
    await (await fetch('data:,warm-up')).text();
  }

  answer(callId: string, body: AnswerCallBody): Promise<unknown> {
    return this.#post(PLATFORM_PATHS.answer(callId), body);
  }

  hangup(callId: string, body: HangupCallBody = {}): Promise<unknown> {
    return this.#post(PLATFORM_PATHS.hangup(callId), body);
  }

  dial(body: DialCallBody): Promise<DialCallResult> {
    return this.#post(PLATFORM_PATHS.dial, body) as Promise<DialCallResult>;
  }

  async #post(path: string, body: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(this.#base + path, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (cause) {
      throw new TtmaError(ErrorCodes.PLATFORM, `platform unreachable for ${path}: ${(cause as Error).message}`, 502, { cause });
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const err = (parsed as PlatformErrorBody | null)?.error;
      const code = err?.code ?? `HTTP_${response.status}`;
      throw new TtmaError(ErrorCodes.PLATFORM, `platform refused ${path}: ${code}: ${err?.message ?? text.slice(0, 200)}`, 502);
    }
    return parsed;
  }
}
