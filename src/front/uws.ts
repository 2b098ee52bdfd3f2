/**
 * The one place uWebSockets.js is loaded (DESIGN.md section 8): try the
 * @btc-vision build first (Node 20 to 25, glibc 2.38+), fall back to the
 * trufflesuite build installed under the name `uWebSockets.js` (Node 20,
 * glibc 2.36). Callers ask `uwsBuild` which one loaded.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

const CANDIDATES = ['@btc-vision/uwebsockets.js', 'uWebSockets.js'] as const;

function load(): { uws: typeof UWS; build: string } {
  const failures: string[] = [];
  for (const name of CANDIDATES) {
    try {
      return { uws: require(name) as typeof UWS, build: name };
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no uWebSockets.js build loads on this Node/glibc:\n  ${failures.join('\n  ')}`);
}

const loaded = load();
export const uws: typeof UWS = loaded.uws;
export const uwsBuild: string = loaded.build;
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, WebSocketBehavior, us_listen_socket } from 'uWebSockets.js';

/**
 * Cut every connection of `app` at once: its listen sockets, WebSockets, held
 * responses (their onAborted runs) and accepted connections that have not sent
 * a whole request yet, which no handle of ours reaches. `App.close()` is in
 * both builds but not in their typings.
 */
export function closeAppConnections(app: UWS.TemplatedApp): void {
  (app as UWS.TemplatedApp & { close?: () => void }).close?.();
}
