/**
 * A raw control-connection client for the platform tests (a real `ws` client
 * on loopback): the open connection with its messages, or the HTTP refusal.
 */
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CONTROL_PATH, type PlatformControlMessage } from '../../src/wire/controlChannel.js';

export interface Opened {
  ws: WebSocket;
  messages: PlatformControlMessage[];
  next(type: string, timeoutMs?: number): Promise<PlatformControlMessage>;
  closed: Promise<{ code: number; reason: string }>;
}

export type Refused = { status: number; body: { error: { code: string; message: string } } };

function controlWsUrl(base: string, suffix = ''): string {
  return `${base.replace(/^http/, 'ws')}${CONTROL_PATH}${suffix}`;
}

/** A raw client: resolves with the open connection or the HTTP refusal. */
export function openControl(base: string, headers: Record<string, string>, suffix = ''): Promise<Opened | Refused> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(controlWsUrl(base, suffix), { headers });
    const messages: PlatformControlMessage[] = [];
    const waiters: Array<{ type: string; resolve: (m: PlatformControlMessage) => void }> = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as PlatformControlMessage;
      messages.push(message);
      for (const w of waiters.splice(0)) {
        if (w.type === message.type) w.resolve(message);
        else waiters.push(w);
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        ws,
        messages,
        closed,
        next(type, timeoutMs = 3_000) {
          const seen = messages.find((m) => m.type === type);
          if (seen) {
            messages.splice(messages.indexOf(seen), 1);
            return Promise.resolve(seen);
          }
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`no ${type} within ${timeoutMs} ms`)), timeoutMs);
            waiters.push({ type, resolve: (m) => (clearTimeout(timer), messages.splice(messages.indexOf(m), 1), res(m)) });
          });
        },
      }),
    );
  });
}

export function opened(result: Opened | Refused): Opened {
  assert.ok('ws' in result, `expected an open connection, got ${JSON.stringify(result)}`);
  return result;
}

export function refused(result: Opened | Refused): Refused {
  if ('ws' in result) {
    result.ws.close();
    assert.fail('expected the upgrade to be refused');
  }
  return result;
}
