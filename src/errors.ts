/**
 * One error hierarchy with stable codes (undici/fastify habit): a refusal a
 * user sees names its code, so docs and logs can point at it.
 */
export const ErrorCodes = {
  CONFIG: 'TTMA_ERR_CONFIG',
  CLI_USAGE: 'TTMA_ERR_CLI_USAGE',
  WEBHOOK_NO_KEY: 'TTMA_ERR_WEBHOOK_NO_KEY',
  WEBHOOK_SIGNATURE: 'TTMA_ERR_WEBHOOK_SIGNATURE',
  WEBHOOK_STALE: 'TTMA_ERR_WEBHOOK_STALE',
  WEBHOOK_REPLAY: 'TTMA_ERR_WEBHOOK_REPLAY',
  WEBHOOK_MALFORMED: 'TTMA_ERR_WEBHOOK_MALFORMED',
  BODY_TOO_LARGE: 'TTMA_ERR_BODY_TOO_LARGE',
  MEDIA_TOKEN: 'TTMA_ERR_MEDIA_TOKEN',
  MEDIA_PROTOCOL: 'TTMA_ERR_MEDIA_PROTOCOL',
  MEDIA_FLOOD: 'TTMA_ERR_MEDIA_FLOOD',
  CODEC_UNSUPPORTED: 'TTMA_ERR_CODEC_UNSUPPORTED',
  /** A greeting or hold audio file that cannot be read or converted. */
  AUDIO_FILE: 'TTMA_ERR_AUDIO_FILE',
  AUTH: 'TTMA_ERR_AUTH',
  CALL_NOT_OWNED: 'TTMA_ERR_CALL_NOT_OWNED',
  /** The call is up at the provider but its call.initiated has not reached the platform yet (503: ask again shortly). */
  CALL_PENDING: 'TTMA_ERR_CALL_PENDING',
  /** The caller hung up before the command landed (the provider's 422 code 90018 "Call has already ended"): 409, an outcome, not a failure. */
  CALL_ENDED: 'TTMA_ERR_CALL_ENDED',
  STREAM_URL: 'TTMA_ERR_STREAM_URL',
  PROVIDER: 'TTMA_ERR_PROVIDER',
  PLATFORM: 'TTMA_ERR_PLATFORM',
  WORKER: 'TTMA_ERR_WORKER',
  /** A gateway HTTP handler threw or its promise rejected (a bug): answered 500, the process lives (src/front/httpRoutes.ts). */
  INTERNAL: 'TTMA_ERR_INTERNAL',
  OVERLOADED: 'TTMA_ERR_OVERLOADED',
  RATE_LIMITED: 'TTMA_ERR_RATE_LIMITED',
  BAD_REQUEST: 'TTMA_ERR_BAD_REQUEST',
  NOT_FOUND: 'TTMA_ERR_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'TTMA_ERR_METHOD_NOT_ALLOWED',
  CONFLICT: 'TTMA_ERR_CONFLICT',
  /** A tunnel host another deployment holds (src/platform/tunnelHostOwners.ts). */
  TUNNEL_HOST_TAKEN: 'TTMA_ERR_TUNNEL_HOST_TAKEN',
  NUMBER_NOT_OWNED: 'TTMA_ERR_NUMBER_NOT_OWNED',
  REQUEST_TIMEOUT: 'TTMA_ERR_REQUEST_TIMEOUT',
  LOCAL_ONLY: 'TTMA_ERR_LOCAL_ONLY',
  /** The local operator API's nonce is unknown, expired or already used (docs/control.md). */
  LOCAL_NONCE: 'TTMA_ERR_LOCAL_NONCE',
  /** What answered on the local port did not prove it holds the agent secret: not this deployment's gateway. */
  LOCAL_UNVERIFIED: 'TTMA_ERR_LOCAL_UNVERIFIED',
  AGENT_CONNECT: 'TTMA_ERR_AGENT_CONNECT',
  AGENT_PROTOCOL: 'TTMA_ERR_AGENT_PROTOCOL',
  DESTINATION_REFUSED: 'TTMA_ERR_DESTINATION_REFUSED',
  /** A deployment's daily or monthly minute cap is reached (FAQ-14). */
  CAP_REACHED: 'TTMA_ERR_CAP_REACHED',
  /** The platform's store (Redis) is unreachable: new calls are refused. */
  STORE_UNAVAILABLE: 'TTMA_ERR_STORE_UNAVAILABLE',
  /** The platform's store (Redis) lost its data (flushed, restarted empty): new calls are refused until the operator acts. */
  STORE_DATA_LOST: 'TTMA_ERR_STORE_DATA_LOST',
  /** stream_url names a host other than the deployment's registered tunnel host. */
  STREAM_HOST: 'TTMA_ERR_STREAM_HOST',
  /** stream_url does not use wss://. */
  STREAM_SCHEME: 'TTMA_ERR_STREAM_SCHEME',
  /** The destination is outside the deployment's dialling policy. */
  DIAL_POLICY: 'TTMA_ERR_DIAL_POLICY',
  /** The deployment is disabled by the operator. */
  DEPLOYMENT_DISABLED: 'TTMA_ERR_DEPLOYMENT_DISABLED',
  /** A recording download or playback failed its checks (origin, size, SHA-256). */
  RECORDING: 'TTMA_ERR_RECORDING',
  /** A dashboard form post from another site (Origin, Sec-Fetch-Site). */
  CROSS_SITE: 'TTMA_ERR_CROSS_SITE',
  /** Install tokens and the installer (FAQ-06, FAQ-08, FAQ-15, FAQ-16, FAQ-18). */
  INSTALL_NO_SIGNING_KEY: 'TTMA_ERR_INSTALL_NO_SIGNING_KEY',
  INSTALL_TOKEN: 'TTMA_ERR_INSTALL_TOKEN',
  INSTALL_FIELD: 'TTMA_ERR_INSTALL_FIELD',
  INSTALL_DOWNLOAD: 'TTMA_ERR_INSTALL_DOWNLOAD',
  INSTALL_DIGEST: 'TTMA_ERR_INSTALL_DIGEST',
  INSTALL_ARCHIVE: 'TTMA_ERR_INSTALL_ARCHIVE',
  INSTALL_TARGET: 'TTMA_ERR_INSTALL_TARGET',
  /** A gateway bundle built for another platform, CPU, Node ABI or an older glibc than this machine's. */
  INSTALL_PLATFORM: 'TTMA_ERR_INSTALL_PLATFORM',
  /** `ttma deployments`: an export file that cannot be read or is not one, or one that would be overwritten. */
  EXPORT_FILE: 'TTMA_ERR_EXPORT_FILE',
  /** The provider API key's vault (Secret Manager, its metadata server) gave no answer in time or none at all (FAQ-12). */
  VAULT_UNREACHABLE: 'TTMA_ERR_VAULT_UNREACHABLE',
  /** The vault or its metadata server answered with a refusal (403 PERMISSION_DENIED, 404 NOT_FOUND, FAILED_PRECONDITION for a disabled version…). */
  VAULT_REFUSED: 'TTMA_ERR_VAULT_REFUSED',
  /** The vault's answer cannot be used: not JSON, another version, a CRC32C mismatch, an empty key or one with whitespace. */
  VAULT_PAYLOAD: 'TTMA_ERR_VAULT_PAYLOAD',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class TtmaError extends Error {
  readonly code: ErrorCode;
  /** HTTP status to answer with when this error ends a request. */
  readonly status: number;

  constructor(code: ErrorCode, message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TtmaError';
    this.code = code;
    this.status = status;
  }
}

/**
 * A store that cannot answer. `message` keeps the store's own words (a Redis
 * host and port, a script error) for the log and the readiness report; a
 * caller is answered `publicMessage`, which names no part of the store.
 */
export class StoreUnavailableError extends TtmaError {
  readonly publicMessage = "the platform's store cannot answer right now: retry later";
  /**
   * False only when the command certainly never reached the store (no connection to send it on).
   * A command that timed out may still run when a hung server resumes: true.
   */
  readonly mayHaveApplied: boolean;

  constructor(detail: string, options?: { cause?: unknown; mayHaveApplied?: boolean }) {
    super(ErrorCodes.STORE_UNAVAILABLE, detail, 503, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreUnavailableError';
    this.mayHaveApplied = options?.mayHaveApplied ?? true;
  }
}

/**
 * A networked store that lost what it held (Redis flushed, or back empty): its counters no longer
 * hold the minutes used, so nothing may be reserved on them.
 */
export class StoreDataLostError extends TtmaError {
  constructor(detail: string) {
    super(ErrorCodes.STORE_DATA_LOST, detail, 503);
    this.name = 'StoreDataLostError';
  }
}

export function isTtmaError(err: unknown, code?: ErrorCode): err is TtmaError {
  return err instanceof TtmaError && (code === undefined || err.code === code);
}

/**
 * `text` with every occurrence of each secret replaced: for messages that
 * quote a peer (an error body, a server's error event), which may echo a
 * credential back. Empty secrets are ignored.
 */
export function redactSecrets(text: string, secrets: readonly (string | null | undefined)[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  return out;
}
