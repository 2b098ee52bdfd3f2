/**
 * The install token and its encrypted envelope (FAQ-08, DESIGN 7), shared by
 * the platform (which seals) and the installer (which opens).
 *
 * Token: `<id>.<secret>`. The id (96 random bits, base64url) is public: it
 * names the stored envelope and the audit entries. The secret (256 random
 * bits, base64url) is shown once; the platform keeps only its SHA-256.
 *
 * Envelope: AES-256-GCM under HKDF-SHA256(secret, random 16-byte salt,
 * info "ttma install-token v1 payload-key"), a fresh 96-bit nonce, and the
 * AAD binding version, token id, deployment and expiry, so none of the
 * clear-text envelope fields can be swapped without the tag failing. The tag
 * must be exactly 16 bytes (a truncated tag is refused before deciphering,
 * and `authTagLength: 16` makes node refuse it too).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { ErrorCodes, TtmaError } from '../errors.js';

export const INSTALL_TOKEN_VERSION = 1;
/** FAQ-08: 15 minutes. */
export const INSTALL_TOKEN_TTL_MS = 15 * 60 * 1000;

const ID_BYTES = 12;
const SECRET_BYTES = 32;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Purpose and version in HKDF info: a key derived here is good for nothing else. */
const HKDF_INFO = Buffer.from(`ttma install-token v${INSTALL_TOKEN_VERSION} payload-key`, 'utf8');
/** A payload is a few hundred bytes; anything near this is not ours. */
export const MAX_CIPHERTEXT_BYTES = 16 * 1024;

export const INSTALL_TOKEN_ID_PATTERN = /^[A-Za-z0-9_-]{16}$/;
const INSTALL_TOKEN_PATTERN = /^([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/;
const DEPLOYMENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,62}$/;
const B64URL_PATTERN = /^[A-Za-z0-9_-]*$/;

export interface InstallToken {
  id: string;
  secret: Buffer;
}

/** What the platform stores and the redeem route returns: nothing in it is secret without the token's secret. */
export interface InstallEnvelope {
  v: number;
  id: string;
  deploymentId: string;
  /** Unix ms; also inside the payload. */
  expiresAt: number;
  salt: string;
  nonce: string;
  ciphertext: string;
  tag: string;
}

const tokenError = (message: string): TtmaError => new TtmaError(ErrorCodes.INSTALL_TOKEN, message, 400);

/**
 * A token is pasted after `--token`: one that began with `-` would read as an
 * option (node's parseArgs refuses `--token -x...` as ambiguous), so ids are
 * drawn again until they do not (1 in 64 is; the id is public, its entropy
 * barely changes). The secret follows the `.`, so its first character is free.
 */
export function newInstallToken(): InstallToken {
  let id = randomBytes(ID_BYTES).toString('base64url');
  while (id.startsWith('-')) id = randomBytes(ID_BYTES).toString('base64url');
  return { id, secret: randomBytes(SECRET_BYTES) };
}

export function formatInstallToken(token: InstallToken): string {
  return `${token.id}.${token.secret.toString('base64url')}`;
}

/** Checks the shape before anything else touches it; refuses non-canonical base64url. */
export function parseInstallToken(text: unknown): InstallToken {
  const match = typeof text === 'string' ? INSTALL_TOKEN_PATTERN.exec(text) : null;
  if (!match) {
    throw tokenError('install token: not a ttma install token (expected <16 characters>.<43 characters>, base64url); copy it again from the platform');
  }
  const id = match[1]!;
  const secret = Buffer.from(match[2]!, 'base64url');
  if (secret.length !== SECRET_BYTES || secret.toString('base64url') !== match[2]) {
    throw tokenError('install token: the secret part is not canonical base64url of 32 bytes');
  }
  return { id, secret };
}

export function secretDigestHex(secret: Buffer): string {
  return createHash('sha256').update(secret).digest('hex');
}

function deriveKey(secret: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, HKDF_INFO, KEY_BYTES));
}

/** The AAD: one canonical JSON array of the clear-text fields the envelope carries. */
export function envelopeAad(v: number, id: string, deploymentId: string, expiresAt: number): Buffer {
  return Buffer.from(JSON.stringify(['ttma-install-token', v, id, deploymentId, expiresAt]), 'utf8');
}

export function sealInstallPayload(
  token: InstallToken,
  deploymentId: string,
  expiresAt: number,
  payload: unknown,
): InstallEnvelope {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const key = deriveKey(token.secret, salt);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(envelopeAad(INSTALL_TOKEN_VERSION, token.id, deploymentId, expiresAt));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
  key.fill(0);
  return {
    v: INSTALL_TOKEN_VERSION,
    id: token.id,
    deploymentId,
    expiresAt,
    salt: salt.toString('base64url'),
    nonce: nonce.toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
  };
}

function b64Field(envelope: Record<string, unknown>, name: string, bytes: number | null): Buffer {
  const text = envelope[name];
  if (typeof text !== 'string' || !B64URL_PATTERN.test(text) || text.length > (MAX_CIPHERTEXT_BYTES * 4) / 3 + 4) {
    throw tokenError(`install envelope: ${name} is not base64url`);
  }
  const value = Buffer.from(text, 'base64url');
  if (bytes !== null && value.length !== bytes) {
    throw tokenError(`install envelope: ${name} must be ${bytes} bytes, got ${value.length}`);
  }
  return value;
}

/**
 * Opens an envelope with the token's secret. Refuses (TTMA_ERR_INSTALL_TOKEN)
 * a malformed envelope, another token's envelope, a wrong secret, any changed
 * byte or clear-text field, a short tag, and (when `nowMs` is given) an
 * expired payload. The installer passes null: the platform's redemption is
 * the expiry check that counts, and refusing afterwards by this machine's
 * clock would only burn the token. Returns the parsed payload; its fields
 * are the caller's to validate.
 */
export function openInstallEnvelope(raw: unknown, token: InstallToken, nowMs: number | null): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw tokenError('install envelope: not an object');
  const envelope = raw as Record<string, unknown>;
  const { v, id, deploymentId, expiresAt } = envelope;
  if (v !== INSTALL_TOKEN_VERSION) throw tokenError(`install envelope: version ${String(v)} is not supported (expected ${INSTALL_TOKEN_VERSION})`);
  if (id !== token.id) throw tokenError('install envelope: it belongs to another token id');
  if (typeof deploymentId !== 'string' || !DEPLOYMENT_ID_PATTERN.test(deploymentId)) {
    throw tokenError('install envelope: deploymentId is malformed');
  }
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt)) throw tokenError('install envelope: expiresAt is malformed');
  const salt = b64Field(envelope, 'salt', SALT_BYTES);
  const nonce = b64Field(envelope, 'nonce', NONCE_BYTES);
  const tag = b64Field(envelope, 'tag', TAG_BYTES);
  const ciphertext = b64Field(envelope, 'ciphertext', null);
  if (ciphertext.length === 0 || ciphertext.length > MAX_CIPHERTEXT_BYTES) throw tokenError('install envelope: ciphertext size out of range');
  const key = deriveKey(token.secret, salt);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(envelopeAad(v, id, deploymentId, expiresAt));
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (cause) {
    throw new TtmaError(
      ErrorCodes.INSTALL_TOKEN,
      'install envelope: authentication failed (wrong secret, or the envelope was changed in transit); ask the platform for a new token',
      400,
      { cause },
    );
  } finally {
    key.fill(0);
  }
  let payload: unknown;
  try {
    payload = JSON.parse(plain.toString('utf8'));
  } catch {
    throw tokenError('install envelope: the payload is not JSON');
  } finally {
    plain.fill(0);
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw tokenError('install envelope: the payload is not an object');
  const inner = payload as Record<string, unknown>;
  // Authenticated already; the inner copies must agree with the AAD too.
  if (inner['deploymentId'] !== deploymentId || inner['expiresAt'] !== expiresAt) {
    throw tokenError('install envelope: the payload disagrees with its envelope (deployment or expiry)');
  }
  if (nowMs !== null && nowMs >= expiresAt) {
    throw tokenError(`install token expired at ${new Date(expiresAt).toISOString()}: install tokens live 15 minutes; mint a new one`);
  }
  return inner;
}
