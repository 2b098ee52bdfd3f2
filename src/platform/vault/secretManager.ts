/**
 * The provider API key from Google Cloud Secret Manager (FAQ-12), on the
 * documented REST API with no SDK:
 * - an OAuth access token for the VM's service account from the metadata
 *   server, `GET http://<host>/computeMetadata/v1/instance/service-accounts/default/token`
 *   with `Metadata-Flavor: Google` (https://cloud.google.com/compute/docs/metadata/querying-metadata);
 *   <host> is metadata.google.internal unless GCE_METADATA_HOST names another,
 *   as Google's client libraries do (google-auth-library-python commit 8ffb4d3);
 * - `GET https://secretmanager.googleapis.com/v1/{name=projects/{}/secrets/{}/versions/{}}:access`
 *   with that token (https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access),
 *   answered `{"name", "payload": {"data": base64, "dataCrc32c": int64 as a string}}`;
 *   the CRC32C is checked before the key is used.
 * Fails closed: any doubt is a typed error naming the step, never the key.
 */
import { ErrorCodes, TtmaError } from '../../errors.js';
import { crc32c } from './crc32c.js';
import { vaultGet, type VaultAnswer } from './vaultGet.js';

export const DEFAULT_SECRET_MANAGER_URL = 'https://secretmanager.googleapis.com';
export const DEFAULT_METADATA_HOST = 'metadata.google.internal';
export const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';
/** Both requests together; the metadata server answers in milliseconds, Secret Manager in tens. */
export const DEFAULT_VAULT_TIMEOUT_MS = 10_000;

/** projects/<id or number>/secrets/<id>[/versions/<n or latest>] (secret ids: letters, digits, _ and -, at most 255). */
const SECRET_NAME = /^projects\/([a-z0-9][a-z0-9-]{0,62})\/secrets\/([A-Za-z0-9_-]{1,255})(?:\/versions\/(latest|[1-9]\d{0,18}))?$/;
const HOST_PORT = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

export interface SecretManagerTarget {
  /** The full version name, `.../versions/latest` when none was given. */
  versionName: string;
  /** The secret's id, to check the answer names the same secret. */
  secretId: string;
  apiUrl: URL;
  metadataHost: string;
}

export interface VaultKey {
  key: string;
  /** The version the answer names (`projects/<number>/secrets/<id>/versions/<n>`): what the logs show, never the key. */
  version: string;
}

const configError = (message: string) => new TtmaError(ErrorCodes.CONFIG, message);

/** Checks the configuration at start, before any request: a bad name or URL is TTMA_ERR_CONFIG. */
export function secretManagerTarget(secretName: string, apiUrl: string, metadataHost: string): SecretManagerTarget {
  const m = SECRET_NAME.exec(secretName);
  if (!m) throw configError(`providerApiKeySecret: "${secretName.slice(0, 200)}" is not projects/PROJECT/secrets/SECRET[/versions/VERSION|latest]`);
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw configError('secretManagerUrl: not a URL');
  }
  // The access token travels there: only https, or plain http to this machine (a simulator, a local proxy).
  const plainLocal = url.protocol === 'http:' && LOOPBACK.has(url.hostname);
  if ((url.protocol !== 'https:' && !plainLocal) || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw configError('secretManagerUrl: must be https://HOST[:PORT] (plain http only to 127.0.0.1, ::1 or localhost), with no path, credentials, query or fragment');
  }
  if (!HOST_PORT.test(metadataHost)) throw configError(`GCE_METADATA_HOST: "${metadataHost.slice(0, 200)}" is not HOST[:PORT]`);
  return { versionName: m[3] ? secretName : `${secretName}/versions/latest`, secretId: m[2]!, apiUrl: url, metadataHost };
}

/** Fetches the key: a token from the metadata server, then the secret version, all within `timeoutMs`. */
export async function fetchProviderKey(target: SecretManagerTarget, timeoutMs = DEFAULT_VAULT_TIMEOUT_MS): Promise<VaultKey> {
  const deadline = Date.now() + timeoutMs;
  const token = await accessToken(target.metadataHost, deadline);
  const url = new URL(`/v1/${target.versionName}:access`, target.apiUrl);
  const res = await vaultGet(url, { authorization: `Bearer ${token}`, accept: 'application/json' }, deadline, 'Secret Manager');
  if (res.status !== 200) throw refused('Secret Manager', res);
  return keyOf(parseJson(res, 'Secret Manager', ErrorCodes.VAULT_PAYLOAD), target.secretId);
}

async function accessToken(host: string, deadline: number): Promise<string> {
  const url = new URL(`http://${host}${TOKEN_PATH}`);
  const res = await vaultGet(url, { 'metadata-flavor': 'Google' }, deadline, 'metadata server');
  if (res.status !== 200) throw refused('metadata server', res);
  // The real server sets this header on every answer; something else on that address does not.
  if (res.headers['metadata-flavor'] !== 'Google') throw new TtmaError(ErrorCodes.VAULT_REFUSED, 'metadata server: the answer lacks Metadata-Flavor: Google (not a metadata server)', 503);
  const body = parseJson(res, 'metadata server', ErrorCodes.VAULT_REFUSED) as { access_token?: unknown; token_type?: unknown };
  const token = body.access_token;
  if (typeof token !== 'string' || !/^[\x21-\x7e]{1,4096}$/.test(token) || (body.token_type !== undefined && body.token_type !== 'Bearer')) {
    throw new TtmaError(ErrorCodes.VAULT_REFUSED, 'metadata server: the answer holds no Bearer access_token', 503);
  }
  return token;
}

function parseJson(res: VaultAnswer, what: string, code: typeof ErrorCodes.VAULT_PAYLOAD | typeof ErrorCodes.VAULT_REFUSED): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(res.body.toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Named below, without the body (it may hold the secret).
  }
  throw new TtmaError(code, `${what}: the answer is not a JSON object`, 503);
}

/** A non-200 answer: the HTTP status and Google's error status (https://cloud.google.com/apis/design/errors), and its message cut short. */
function refused(what: string, res: VaultAnswer): TtmaError {
  let detail = '';
  try {
    const error = (JSON.parse(res.body.toString('utf8')) as { error?: { status?: unknown; message?: unknown } }).error;
    const status = typeof error?.status === 'string' ? error.status : '';
    const message = typeof error?.message === 'string' ? error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) : '';
    detail = [status, message].filter((s) => s).join(': ');
  } catch {
    // The metadata server answers errors in plain text; its status says enough.
  }
  return new TtmaError(ErrorCodes.VAULT_REFUSED, `${what} refused: HTTP ${res.status}${detail ? ` ${detail}` : ''}`, 503);
}

function keyOf(body: Record<string, unknown>, secretId: string): VaultKey {
  const corrupt = (why: string) => new TtmaError(ErrorCodes.VAULT_PAYLOAD, `Secret Manager: ${why}`, 503);
  const name = body['name'];
  const named = typeof name === 'string' ? SECRET_NAME.exec(name) : null;
  if (!named || named[2] !== secretId || !named[3] || named[3] === 'latest') throw corrupt(`the answer names another or no secret version`);
  const payload = body['payload'] as { data?: unknown; dataCrc32c?: unknown } | undefined;
  const data = payload?.data;
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) throw corrupt(`${name}: payload.data is not base64`);
  const bytes = Buffer.from(data, 'base64');
  // int64 is a JSON string in proto3's mapping; a number is accepted too.
  const expected = payload?.dataCrc32c;
  const claimed = typeof expected === 'string' && /^\d{1,10}$/.test(expected) ? Number(expected) : typeof expected === 'number' ? expected : null;
  if (claimed === null) throw corrupt(`${name}: payload.dataCrc32c is missing (every version has one)`);
  if (crc32c(bytes) !== claimed) throw corrupt(`${name}: payload CRC32C mismatch (corrupted in transit or at rest)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes).trim();
  } catch {
    throw corrupt(`${name}: the payload is not UTF-8 text`);
  }
  if (text.length === 0) throw corrupt(`${name}: the payload is empty`);
  if (/\s/.test(text)) throw corrupt(`${name}: the payload holds whitespace inside the key (one key, one line)`);
  return { key: text, version: name as string };
}
