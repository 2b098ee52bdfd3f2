/**
 * Requests to the gateway's local operator routes as `ttma` signs them
 * (src/wire/localAuth.ts), for tests that call the routes directly, and
 * the pieces an adversarial test varies: a nonce with its proof, a MAC.
 * Declares no test.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { authorizationHeader, helloMac, LOCAL_NONCE_PATH, localAuthKeys, macEquals, requestMac, type LocalAuthKeys } from '../../src/wire/localAuth.js';

export interface LocalRaw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
  /** The body as JSON, or null. */
  json: any;
}

/** One request on 127.0.0.1:port, the answer whole. */
export function localRaw(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<LocalRaw> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: { connection: 'close', ...headers, ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': body.length } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          let json: unknown = null;
          try {
            json = JSON.parse(bytes.toString('utf8'));
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A nonce from the gateway on `port`, its proof checked with `keys`. */
export async function localNonce(port: number, keys: LocalAuthKeys): Promise<string> {
  const challenge = randomBytes(32).toString('base64url');
  const answer = await localRaw(port, 'GET', `${LOCAL_NONCE_PATH}?challenge=${challenge}`);
  if (answer.status !== 200) throw new Error(`nonce refused: ${answer.status} ${answer.bytes.toString()}`);
  const { nonce, proof } = answer.json as { nonce: string; proof: string };
  if (!macEquals(proof, helloMac(keys, challenge, nonce, port))) throw new Error('the nonce proof does not verify');
  return nonce;
}

/** The `authorization` value for one request, over a fresh nonce (as `ttma` sends it). */
export async function localAuthorization(port: number, secret: string, method: string, path: string, body: Buffer = Buffer.alloc(0)): Promise<string> {
  const keys = localAuthKeys(secret);
  const nonce = await localNonce(port, keys);
  return authorizationHeader(nonce, requestMac(keys, nonce, port, method, path, body));
}

/** One signed request, the answer whole (its signature left to the caller). */
export async function signedLocal(port: number, secret: string, method: string, path: string, body?: unknown): Promise<LocalRaw> {
  const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return localRaw(port, method, path, { authorization: await localAuthorization(port, secret, method, path, bytes) }, bytes);
}
