/**
 * A `ws` server on a free loopback port, for tests that stand in for an agent
 * or a peer: its URL once it listens, and a stop that cuts every client first
 * (a close handshake with a misbehaving test peer could wait for ever).
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface LoopbackWss {
  readonly wss: WebSocketServer;
  /** `ws://127.0.0.1:<port>` once listening. */
  start(): Promise<string>;
  stop(): Promise<void>;
}

export function loopbackWss(): LoopbackWss {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  const listening = new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  return {
    wss,
    async start() {
      await listening;
      return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    },
    async stop() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
