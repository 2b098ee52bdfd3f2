/**
 * How the platform's ProviderClient puts a request on the wire: node:http(s)
 * with a keep-alive agent. Measured on loopback with the proxy bench
 * (bench/platformProxy.ts, which runs the previous fetch/undici path beside
 * this one), fetch cost the platform several milliseconds per provider
 * request at p99; the gateway's SignallingClient moved off fetch for the
 * same reason. No redirects are followed (a 3xx is just a failed status).
 */
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { retryAfterMsOf } from '../wire/retryAfter.js';

/** Shared with the gateway's platform client, in src/wire/retryAfter.ts. */
export { retryAfterMsOf };

export interface TransportResponse {
  status: number;
  /** The body as text; '' when it was larger than maxResponseBytes. */
  text: string;
  /** On a 429 or 503: how long the provider asked us to wait (retryAfterMsOf), else absent. */
  retryAfterMs?: number | null;
}

export interface ProviderTransport {
  request(method: 'GET' | 'POST' | 'DELETE', url: URL, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<TransportResponse>;
  close(): void;
}

/** Provider commands in flight at once, per platform process. */
const MAX_SOCKETS = 64;

export function nodeHttpTransport(baseUrl: URL, maxResponseBytes: number): ProviderTransport {
  const https = baseUrl.protocol === 'https:';
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, scheduling: 'lifo' })
    : new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, scheduling: 'lifo' });
  const send = https ? httpsRequest : httpRequest;
  return {
    request(method, url, headers, body, timeoutMs) {
      return new Promise((resolve, reject) => {
        const all: Record<string, string | number> = { ...headers };
        if (body !== undefined) all['content-length'] = Buffer.byteLength(body);
        const req = send(url, { method, headers: all, agent, timeout: timeoutMs }, (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size <= maxResponseBytes) chunks.push(chunk);
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const text = size > maxResponseBytes ? '' : Buffer.concat(chunks, size).toString('utf8');
            resolve(status === 429 || status === 503 ? { status, text, retryAfterMs: retryAfterMsOf(res.headers) } : { status, text });
          });
          res.on('error', reject);
        });
        // The whole exchange, not only idle time, must fit in timeoutMs.
        const deadline = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), timeoutMs);
        req.on('close', () => clearTimeout(deadline));
        req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
        req.on('error', reject);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
