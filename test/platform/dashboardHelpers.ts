/**
 * Helpers for the dashboard's tests: raw HTTP on the loopback (every header
 * ours, none added), sign-in, and a recorded call. Declares no test.
 */
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import { NUMBER, waitFor, type Stack } from '../helpers/stack.js';

export const ADMIN_TOKEN = 'dashboard-admin-token-0123456789abcdef';

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/** One request with exactly these headers (node:http adds only host and, with a body, content-length). */
export function httpRequest(port: number, method: string, path: string, headers: Record<string, string | string[]> = {}, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text: all.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Signs in as a browser would (a same-origin form post); the Cookie header to send back. */
export async function signIn(port: number, token = ADMIN_TOKEN): Promise<string> {
  const answer = await httpRequest(
    port,
    'POST',
    '/v1/admin/login',
    { 'content-type': 'application/x-www-form-urlencoded', origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' },
    new URLSearchParams({ token }).toString(),
  );
  assert.equal(answer.status, 303, answer.text);
  assert.equal(answer.headers.location, '/v1/admin/history');
  const setCookie = answer.headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, /^ttma_dashboard=[A-Za-z0-9_-]{43}; Path=\/v1\/admin\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
  return setCookie.split(';')[0]!;
}

/** A recorded call, ended, its recording saved by the provider (and stored, when asked). */
export async function recordedCall(stack: Stack, from: string, options: { stored: boolean }): Promise<string> {
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 1_500 });
  await call.done;
  await waitFor(
    options.stored ? 'recording stored' : 'recording saved',
    async () => {
      const recording = (await stack.platform.calls.get(call.id))?.recording;
      return Boolean(options.stored ? recording?.file : recording?.url);
    },
    8_000,
  );
  return call.id;
}

/** A one-time dashboard link for the stack's deployment, asked for with its agent secret: the link's code. */
export async function dashboardLinkCode(stack: Stack, deploymentId = 'test', secret = stack.agentSecret): Promise<string> {
  const answer = await httpRequest(stack.ports.platform, 'POST', '/v1/signal/dashboard-link', {
    authorization: `Bearer ${secret}`,
    'x-ttma-deployment': deploymentId,
    'content-type': 'application/json',
  }, '{}');
  assert.equal(answer.status, 200, answer.text);
  const body = JSON.parse(answer.text) as { path: string; expires_at: string };
  const code = /^\/v1\/dashboard\/login\?code=([A-Za-z0-9_-]{43})$/.exec(body.path)?.[1];
  assert.ok(code, body.path);
  return code;
}

/** Redeems a link's code as a browser would (a same-origin form post): the raw answer. */
export function postCustomerSignIn(port: number, code: string, headers: Record<string, string> = { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' }): Promise<RawAnswer> {
  return httpRequest(port, 'POST', '/v1/dashboard/login', { 'content-type': 'application/x-www-form-urlencoded', ...headers }, new URLSearchParams({ code }).toString());
}

/** A deployment's dashboard session from a fresh link: the Cookie header to send back. */
export async function customerSignIn(stack: Stack, deploymentId = 'test', secret = stack.agentSecret): Promise<string> {
  const answer = await postCustomerSignIn(stack.ports.platform, await dashboardLinkCode(stack, deploymentId, secret));
  assert.equal(answer.status, 303, answer.text);
  assert.equal(answer.headers.location, '/v1/dashboard/');
  const setCookie = answer.headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, /^ttma_customer=[A-Za-z0-9_-]{43}; Path=\/v1\/dashboard\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
  return setCookie.split(';')[0]!;
}
