/**
 * The local operator API's challenge-response (`ttma call`, `calls`,
 * `recording`, `dashboard` to the gateway's local listener): the agent
 * secret never goes on the wire, and the CLI tells the gateway from any
 * other process on the port before it sends anything about the request.
 *
 *   1. CLI -> GET /v1/local/nonce?challenge=<32 random bytes, base64url>
 *      gateway -> {"nonce","proof","expires_in_ms"}; proof = HMAC(hello key,
 *      challenge, nonce, port). A listener without the secret cannot make it.
 *   2. CLI -> the request, `authorization: TTMA-HMAC nonce=<n>,mac=<m>`;
 *      mac = HMAC(request key, nonce, port, METHOD, path?query, SHA-256(body)).
 *      The gateway checks it in constant time and spends the nonce.
 *   3. gateway -> the answer with `x-ttma-local-mac` = HMAC(response key,
 *      nonce, port, status, SHA-256(body)) (a streamed recording: its type and
 *      declared length in place of the hash, which is not known before the
 *      headers go). The CLI trusts no answer without it.
 *
 * Three keys derived from the secret with HKDF-SHA256 (RFC 5869), each MAC
 * over its own label too: a MAC of one kind is never valid as another (a
 * request MAC reflected as the answer's). The port is the one the CLI
 * connected to and the one the gateway listens on: a process on another
 * port relaying to the real gateway gets MACs that do not match.
 * node:crypto only (https://nodejs.org/api/crypto.html#cryptohkdfsyncdigest-ikm-salt-info-keylen).
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export const LOCAL_NONCE_PATH = '/v1/local/nonce';
export const LOCAL_MAC_HEADER = 'x-ttma-local-mac';
export const LOCAL_AUTH_SCHEME = 'TTMA-HMAC';

/** 32 random bytes, base64url. */
export const CHALLENGE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** 32 random bytes, 8 of expiry, 16 of tag: 56 bytes, base64url. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{75}$/;
/** An HMAC-SHA256, base64url. */
export const MAC_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const AUTHORIZATION = /^TTMA-HMAC nonce=([A-Za-z0-9_-]{75}), ?mac=([A-Za-z0-9_-]{43})$/;

export interface LocalAuthKeys {
  hello: Buffer;
  request: Buffer;
  response: Buffer;
}

const SALT = 'ttma-local-auth-v1';

function derive(secret: string, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), SALT, label, 32));
}

/** The three keys of one agent secret. The secret itself is not kept by the callers. */
export function localAuthKeys(secret: string): LocalAuthKeys {
  return { hello: derive(secret, 'hello'), request: derive(secret, 'request'), response: derive(secret, 'response') };
}

function mac(key: Buffer, label: string, fields: readonly (string | number)[]): string {
  // Fields never hold a newline (base64url, digits, a method, an HTTP request target, hex): joined, they parse one way.
  return createHmac('sha256', key).update([label, ...fields].join('\n'), 'utf8').digest('base64url');
}

export function helloMac(keys: LocalAuthKeys, challenge: string, nonce: string, port: number): string {
  return mac(keys.hello, 'ttma-local-hello-v1', [challenge, nonce, port]);
}

export function requestMac(keys: LocalAuthKeys, nonce: string, port: number, method: string, pathWithQuery: string, body: Buffer): string {
  return mac(keys.request, 'ttma-local-request-v1', [nonce, port, method.toUpperCase(), pathWithQuery, sha256Hex(body)]);
}

/** `body`: the answer's bytes, or what stands for a streamed one (streamedBody). */
export function responseMac(keys: LocalAuthKeys, nonce: string, port: number, status: number, body: Buffer | StreamedBody): string {
  const digest = Buffer.isBuffer(body) ? sha256Hex(body) : `stream ${body.contentType} ${body.length ?? 'chunked'}`;
  return mac(keys.response, 'ttma-local-response-v1', [nonce, port, status, digest]);
}

/** A body sent as it arrives (a recording): the MAC covers its type and declared length, not its bytes. */
export interface StreamedBody {
  contentType: string;
  length: number | null;
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Constant-time comparison of two base64url MACs; false for anything malformed. */
export function macEquals(presented: string | undefined, expected: string): boolean {
  if (presented === undefined || !MAC_PATTERN.test(presented)) return false;
  return timingSafeEqual(Buffer.from(presented, 'base64url'), Buffer.from(expected, 'base64url'));
}

export function authorizationHeader(nonce: string, requestMacValue: string): string {
  return `${LOCAL_AUTH_SCHEME} nonce=${nonce},mac=${requestMacValue}`;
}

/** The nonce and MAC of a TTMA-HMAC authorization header, or null. */
export function parseAuthorization(header: string): { nonce: string; mac: string } | null {
  const match = AUTHORIZATION.exec(header);
  return match ? { nonce: match[1]!, mac: match[2]! } : null;
}
