/**
 * `ttma`'s client of the gateway's local operator API (127.0.0.1, no
 * keep-alive, bounded in time and size), with the challenge-response of
 * src/wire/localAuth.ts: the agent secret never leaves this process. Each
 * request first asks the listener for a nonce with a challenge of ours, and
 * goes no further unless the answer proves the listener holds the secret;
 * then the request is signed over that nonce, and its answer is trusted only
 * when signed back. So a process squatting the port (the gateway down,
 * restarting, or on another port) gets a random challenge and nothing else,
 * and cannot pass off an answer of its own.
 */
import { randomBytes } from 'node:crypto';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { ErrorCodes, TtmaError } from '../errors.js';
import { readAnswerBody } from '../wire/readAnswerBody.js';
import {
  authorizationHeader,
  helloMac,
  LOCAL_MAC_HEADER,
  LOCAL_NONCE_PATH,
  localAuthKeys,
  macEquals,
  NONCE_PATTERN,
  requestMac,
  responseMac,
  type LocalAuthKeys,
  type StreamedBody,
} from '../wire/localAuth.js';

/** The gateway answers a nonce at once; a listener that does not within this is not one to wait for. */
const NONCE_TIMEOUT_MS = 5_000;
const MAX_NONCE_ANSWER_BYTES = 4 * 1024;
const NO_BODY = Buffer.alloc(0);

/** Where the gateway should be, and the keys of the agent secret (the secret itself is not kept). */
export interface LocalTarget {
  port: number;
  keys: LocalAuthKeys;
}

export function localTarget(port: number, agentSecret: string): LocalTarget {
  return { port, keys: localAuthKeys(agentSecret) };
}

export interface LocalAnswer {
  status: number;
  body: Record<string, unknown>;
  contentType: string;
}

/** What `ttma` says when the listener could not prove it holds the agent secret. */
export function notTheGateway(port: number): TtmaError {
  return new TtmaError(
    ErrorCodes.LOCAL_UNVERIFIED,
    `the listener on 127.0.0.1:${port} is not this deployment's gateway (its answer is not signed with the agent secret): is the gateway running on this port? ` +
      '(If it is, the agent secret file is not this deployment\'s, or the gateway is older than this ttma.)',
    1,
  );
}

export function requestError(port: number, err: NodeJS.ErrnoException): TtmaError {
  return err.code === 'ECONNREFUSED'
    ? new TtmaError(ErrorCodes.CONFIG, `no gateway answering on 127.0.0.1:${port} (is the gateway running? use --local-port)`, 1)
    : new TtmaError(ErrorCodes.PLATFORM, `gateway request failed: ${err.code ?? err.message}`, 1);
}

interface Limits {
  /** The whole exchange, answer read included. */
  totalMs?: number;
  /** No byte for this long (a streamed answer). */
  idleMs?: number;
}

/** One request on 127.0.0.1:port; resolves with the answer's head (its body still to read). */
function open(port: number, method: string, path: string, headers: Record<string, string | number>, body: Buffer | undefined, limits: Limits): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent: false,
        ...(limits.idleMs !== undefined ? { timeout: limits.idleMs } : {}),
        headers: { connection: 'close', ...headers, ...(body !== undefined ? { 'content-length': body.length } : {}) },
      },
      (res) => resolve({ req, res }),
    );
    if (limits.totalMs !== undefined) {
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${limits.totalMs} ms`)), limits.totalMs);
      req.on('close', () => clearTimeout(timer));
    }
    if (limits.idleMs !== undefined) req.on('timeout', () => req.destroy(new Error(`no data for ${limits.idleMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(requestError(port, err)));
    req.end(body);
  });
}

async function readBody(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  try {
    return await readAnswerBody(res, maxBytes);
  } catch (err) {
    throw new TtmaError(ErrorCodes.PLATFORM, `gateway request failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
  }
}

/**
 * A nonce from the listener, with its proof over a fresh challenge of ours
 * checked: the listener holds the agent secret, or this throws before
 * anything about the request is sent.
 */
async function fetchNonce(target: LocalTarget): Promise<string> {
  const challenge = randomBytes(32).toString('base64url');
  const { res } = await open(target.port, 'GET', `${LOCAL_NONCE_PATH}?challenge=${challenge}`, {}, undefined, { totalMs: NONCE_TIMEOUT_MS });
  // The gateway's answer is a few hundred bytes: a longer or broken one is not the gateway's.
  const bytes = await readAnswerBody(res, MAX_NONCE_ANSWER_BYTES).catch(() => {
    throw notTheGateway(target.port);
  });
  let answer: { nonce?: unknown; proof?: unknown } | null = null;
  try {
    answer = JSON.parse(bytes.toString('utf8')) as { nonce?: unknown; proof?: unknown } | null;
  } catch {
    answer = null;
  }
  const nonce = answer?.nonce;
  const proof = answer?.proof;
  if (res.statusCode !== 200 || typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce) || typeof proof !== 'string') throw notTheGateway(target.port);
  if (!macEquals(proof, helloMac(target.keys, challenge, nonce, target.port))) throw notTheGateway(target.port);
  return nonce;
}

/** A signed request's answer head, and the check of its signature (throws notTheGateway when it fails). */
export interface SignedAnswer {
  res: IncomingMessage;
  verify(body: Buffer | StreamedBody): void;
}

/** Sends one request signed over a fresh nonce; the caller reads the answer and verifies it before using any of it. */
export async function signedRequest(target: LocalTarget, method: 'GET' | 'POST' | 'DELETE', path: string, body: Buffer | undefined, limits: Limits): Promise<SignedAnswer> {
  const nonce = await fetchNonce(target);
  const mac = requestMac(target.keys, nonce, target.port, method, path, body ?? NO_BODY);
  const headers = { authorization: authorizationHeader(nonce, mac), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
  const { res } = await open(target.port, method, path, headers, body, limits);
  return {
    res,
    verify: (answerBody) => {
      const presented = res.headers[LOCAL_MAC_HEADER];
      const expected = responseMac(target.keys, nonce, target.port, res.statusCode ?? 0, answerBody);
      if (typeof presented !== 'string' || !macEquals(presented, expected)) {
        res.destroy();
        throw notTheGateway(target.port);
      }
    },
  };
}

/** A (JSON) answer, whole, at most `maxBytes`, its signature checked before it is parsed. */
export async function readSignedAnswer(answer: SignedAnswer, maxBytes: number): Promise<LocalAnswer> {
  const bytes = await readBody(answer.res, maxBytes);
  answer.verify(bytes);
  const contentType = String(answer.res.headers['content-type'] ?? '');
  let parsed: unknown = null;
  try {
    parsed = contentType.startsWith('application/json') ? JSON.parse(bytes.toString('utf8')) : null;
  } catch {
    parsed = null;
  }
  return { status: answer.res.statusCode ?? 0, body: typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {}, contentType };
}

/** One JSON request and its verified answer. */
export async function localJson(target: LocalTarget, method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, timeoutMs: number, maxBytes: number): Promise<LocalAnswer> {
  const text = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  return readSignedAnswer(await signedRequest(target, method, path, text, { totalMs: timeoutMs }), maxBytes);
}
