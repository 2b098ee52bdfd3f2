/**
 * Allowlist patterns for every value the installer takes from a token, the
 * command line or a bundle (FAQ-16). Each value is checked here, once,
 * before any use; a refusal names the field and never echoes more than a
 * short, escaped excerpt of what was refused.
 *
 * JavaScript's `$` (without the m flag) matches only at the very end, so an
 * anchored pattern cannot be satisfied by a value with a trailing newline.
 */
import { isAbsolute, normalize } from 'node:path';
import { ErrorCodes, TtmaError } from '../errors.js';
import { ed25519PublicKeyProblem } from '../wire/ed25519Point.js';
import { INSTALL_URL_PATTERN, installUrlProblem } from '../wire/installUrl.js';

export const PATTERNS = {
  deploymentId: /^[a-z0-9][a-z0-9-]{2,62}$/,
  /** A lowercase DNS name with at least two labels. */
  hostname: /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/,
  e164: /^\+[1-9]\d{6,14}$/,
  /** Base64 of a raw 32-byte Ed25519 key. */
  ed25519Base64: /^[A-Za-z0-9+/]{43}=$/,
  /** The platform generates 32 random bytes, base64url. */
  agentSecret: /^[A-Za-z0-9_-]{43}$/,
  tunnelRef: /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/,
  sha256Hex: /^[0-9a-f]{64}$/,
  /** Semantic Versioning 2.0.0, without build metadata. */
  semver: /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(-[0-9A-Za-z-]{1,32}(\.[0-9A-Za-z-]{1,32}){0,4})?$/,
  /** An http(s) URL: scheme, lowercase host, optional port, a plain path (src/wire/installUrl.ts, shared with the platform). */
  url: INSTALL_URL_PATTERN,
  /** An absolute local path of plain characters (no spaces, %, quotes, or shell metacharacters). */
  path: /^\/[A-Za-z0-9._@+-]+(\/[A-Za-z0-9._@+-]+)*$/,
  /** A skill name: one directory under skills/. */
  skillName: /^[a-z0-9][a-z0-9-]{0,63}$/,
  /** A program name a skill requires (looked up on PATH by OpenClaw, never run by us). */
  binaryName: /^[a-z0-9][a-z0-9._+-]{0,63}$/,
  /** A POSIX user name for User= (the useradd default pattern). */
  userName: /^[a-z_][a-z0-9_-]{0,31}$/,
} as const;

/** A short, printable, escaped excerpt for messages: control characters are shown as \\xNN. */
export function excerpt(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  const shown = text.slice(0, 40).replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `"${shown}${text.length > 40 ? '…' : ''}"`;
}

export function fieldError(field: string, rule: string, value: unknown): TtmaError {
  return new TtmaError(ErrorCodes.INSTALL_FIELD, `refused field ${field}: ${rule} (got ${excerpt(value)}); nothing was written`, 2);
}

export function checkString(field: string, value: unknown, pattern: RegExp, rule: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw fieldError(field, rule, value);
  return value;
}

/** https anywhere; plain http only to a loopback host (tests, a platform on the same machine). The platform checks --public-url with the same rule. */
export function checkUrl(field: string, value: unknown): string {
  const problem = installUrlProblem(value);
  if (problem) throw fieldError(field, problem, value);
  return (value as string).replace(/\/+$/, '');
}

/** An absolute, already normalized path of plain characters. */
export function checkPath(field: string, value: unknown): string {
  const text = checkString(field, value, PATTERNS.path, 'must be an absolute path of letters, digits and . _ @ + - only');
  if (!isAbsolute(text) || normalize(text) !== text || text.includes('..') || text.split('/').includes('.')) {
    throw fieldError(field, 'must be absolute and normalized (no ".." anywhere, no "." segments, no trailing slash)', value);
  }
  return text;
}

export interface BundleField {
  url: string;
  sha256: string;
}

/** The install payload with every field checked. */
export interface InstallPayload {
  deploymentId: string;
  platformUrl: string;
  publicHost: string;
  numbers: string[];
  webhookPublicKey: string;
  agentSecret: string;
  tunnelCredentialsRef: string;
  gatewayBundle: BundleField;
  skillBundle: BundleField;
  gatewayVersion: string;
  expiresAt: number;
}

const PAYLOAD_KEYS = [
  'v', 'deploymentId', 'platformUrl', 'publicHost', 'numbers', 'webhookPublicKey', 'agentSecret',
  'tunnelCredentialsRef', 'gatewayBundle', 'skillBundle', 'gatewayVersion', 'expiresAt',
];
const MAX_NUMBERS = 100;

function checkBundle(field: string, value: unknown): BundleField {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fieldError(field, 'must be {url, sha256}', value);
  const obj = value as Record<string, unknown>;
  const extra = Object.keys(obj).filter((k) => k !== 'url' && k !== 'sha256');
  if (extra.length > 0) throw fieldError(`${field}.${extra[0]}`, 'is not a known field', obj[extra[0]!]);
  return {
    url: checkUrl(`${field}.url`, obj['url']),
    sha256: checkString(`${field}.sha256`, obj['sha256'], PATTERNS.sha256Hex, 'must be 64 lowercase hex digits'),
  };
}

/** Base64 of 32 bytes that are a usable Ed25519 key: the gateway would refuse to start on any other (FAQ-05, FAQ-06). */
function checkWebhookKey(value: unknown): string {
  const key = checkString('webhookPublicKey', value, PATTERNS.ed25519Base64, 'must be base64 of a 32-byte Ed25519 key');
  const problem = ed25519PublicKeyProblem(Buffer.from(key, 'base64'));
  if (problem) throw fieldError('webhookPublicKey', `is not a usable Ed25519 public key (${problem.replace('_', ' ')})`, value);
  return key;
}

/** Checks every field of a decrypted payload against its pattern; unknown fields are refused too. */
export function checkInstallPayload(raw: Record<string, unknown>): InstallPayload {
  const unknown = Object.keys(raw).filter((k) => !PAYLOAD_KEYS.includes(k));
  if (unknown.length > 0) throw fieldError(unknown[0]!, 'is not a known payload field', raw[unknown[0]!]);
  if (raw['v'] !== 1) throw fieldError('v', 'payload version must be 1', raw['v']);
  const numbers = raw['numbers'];
  if (!Array.isArray(numbers) || numbers.length === 0 || numbers.length > MAX_NUMBERS) {
    throw fieldError('numbers', `must list 1 to ${MAX_NUMBERS} numbers`, numbers);
  }
  const expiresAt = raw['expiresAt'];
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt)) throw fieldError('expiresAt', 'must be a time in ms', expiresAt);
  return {
    deploymentId: checkString('deploymentId', raw['deploymentId'], PATTERNS.deploymentId, 'must be 3 to 63 of a-z, 0-9 and "-"'),
    platformUrl: checkUrl('platformUrl', raw['platformUrl']),
    publicHost: checkString('publicHost', raw['publicHost'], PATTERNS.hostname, 'must be a lowercase DNS hostname'),
    numbers: numbers.map((n, i) => checkString(`numbers[${i}]`, n, PATTERNS.e164, 'must be E.164 ("+" then 7 to 15 digits)')),
    webhookPublicKey: checkWebhookKey(raw['webhookPublicKey']),
    agentSecret: checkString('agentSecret', raw['agentSecret'], PATTERNS.agentSecret, 'must be 43 base64url characters'),
    tunnelCredentialsRef: checkString('tunnelCredentialsRef', raw['tunnelCredentialsRef'], PATTERNS.tunnelRef, 'must be a tunnel name or UUID (A-Z, a-z, 0-9, "-")'),
    gatewayBundle: checkBundle('gatewayBundle', raw['gatewayBundle']),
    skillBundle: checkBundle('skillBundle', raw['skillBundle']),
    gatewayVersion: checkString('gatewayVersion', raw['gatewayVersion'], PATTERNS.semver, 'must be a semantic version (1.2.3 or 1.2.3-rc.1)'),
    expiresAt,
  };
}

/**
 * --tunnel-port and --local-port as the gateway unit will use them: each a
 * port, and different, since the gateway refuses to start with one listener
 * for both (diagnostics never share the tunnel-facing one, FAQ-04). Checked
 * with the other command-line values, before the one-time token is spent.
 */
export function checkListenerPorts(tunnelPort: unknown, localPort: unknown): { tunnelPort: number; localPort: number } {
  for (const [field, value] of [['--tunnel-port', tunnelPort], ['--local-port', localPort]] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65_535) throw fieldError(field, 'must be a port from 1 to 65535', value);
  }
  if (tunnelPort === localPort) {
    throw fieldError('--local-port', `must differ from --tunnel-port (both ${String(tunnelPort)}): the gateway refuses to start with its diagnostics on the tunnel-facing listener (FAQ-04)`, localPort);
  }
  return { tunnelPort: tunnelPort as number, localPort: localPort as number };
}
