/**
 * Real protocol servers on 127.0.0.1 for the agent tests, each answering
 * with scripted audio and events: an OpenAI-Realtime-compatible WebSocket
 * server, an OpenClaw gateway (SSE chat completions) with STT and TTS
 * endpoints, and a `ws` protocol agent. Scripts run per connection.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AgentConfig } from '../../src/agent/agentConfig.js';

export type Json = Record<string, any>;

/** A sine tone, PCM16 at `rate`, -12 dBFS. */
export function tone(rate: number, ms: number, hz = 440): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / rate));
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A realtime agent's config for tests that build the adapter themselves: no consult, no tools. */
export function realtimeTestConfig(url: string): Extract<AgentConfig, { kind: 'realtime' }> {
  return { kind: 'realtime', url, model: 'm', voice: 'v', apiKey: '', format: 'pcm16', instructions: '', consult: null, cueAfterMs: 1500, transferTargets: [], dtmf: false, transcriptionModel: '' };
}

function pcmB64(pcm: Int16Array): string {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).toString('base64');
}

/** One connection's inbox: every JSON message with its arrival time, and a bounded wait. */
export class Inbox {
  readonly messages: Array<{ at: number; msg: Json }> = [];
  #waiters: Array<() => void> = [];

  push(msg: Json): void {
    this.messages.push({ at: performance.now(), msg });
    for (const w of this.#waiters.splice(0)) w();
  }

  async waitFor(pred: (msg: Json) => boolean, what: string, timeoutMs = 5_000): Promise<{ at: number; msg: Json }> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.messages.find((m) => pred(m.msg));
      if (hit) return hit;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  count(type: string): number {
    return this.messages.filter((m) => m.msg['type'] === type).length;
  }
}

abstract class WsTestServer<C> {
  readonly #wss: WebSocketServer;
  readonly connections: C[] = [];
  port = 0;

  constructor() {
    this.#wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    this.#wss.on('connection', (socket, req) => this.connections.push(this.accept(socket, req)));
  }

  protected abstract accept(socket: WebSocket, req: IncomingMessage): C;

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#wss.once('listening', () => resolve()));
    this.port = (this.#wss.address() as AddressInfo).port;
    return `ws://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

// ---- OpenAI-Realtime-compatible ----

export class RealtimeConn {
  readonly inbox = new Inbox();
  readonly url: string;
  readonly authorization: string | undefined;
  readonly #socket: WebSocket;

  constructor(socket: WebSocket, req: IncomingMessage) {
    this.#socket = socket;
    this.url = req.url ?? '';
    this.authorization = req.headers.authorization;
    socket.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as Json;
      if (msg['type'] !== 'input_audio_buffer.append') this.inbox.push(msg);
      else this.appends++;
      if (msg['type'] === 'session.update') this.send({ type: 'session.updated', session: msg['session'] });
    });
  }

  appends = 0;

  /** The server ends the session (a hosted session's length limit, a restart). */
  close(code = 1000, reason = 'session ended'): void {
    this.#socket.close(code, reason);
  }

  send(msg: Json): number {
    const at = performance.now();
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(JSON.stringify(msg));
    return at;
  }

  /** Audio deltas of `ms` in `chunkMs` pieces, paced in real time or all at once; returns the first send time. */
  async audio(responseId: string, itemId: string, pcm: Int16Array, chunkMs: number, paced: boolean, stop?: () => boolean): Promise<number> {
    const chunk = (24_000 * chunkMs) / 1000;
    let first = 0;
    for (let at = 0; at < pcm.length; at += chunk) {
      if (stop?.()) break;
      const t = this.send({ type: 'response.output_audio.delta', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: pcmB64(pcm.subarray(at, at + chunk)) });
      if (at === 0) first = t;
      if (paced) await sleep(chunkMs);
    }
    return first;
  }
}

export class RealtimeTestServer extends WsTestServer<RealtimeConn> {
  protected accept(socket: WebSocket, req: IncomingMessage): RealtimeConn {
    return new RealtimeConn(socket, req);
  }

  async connection(index: number, timeoutMs = 5_000): Promise<RealtimeConn> {
    const deadline = performance.now() + timeoutMs;
    while (!this.connections[index]) {
      if (performance.now() > deadline) throw new Error(`no realtime connection #${index}`);
      await sleep(10);
    }
    return this.connections[index]!;
  }
}

// ---- generic ws protocol agent ----

export class WsAgentConn {
  readonly inbox = new Inbox();
  readonly authorization: string | undefined;
  callerBytes = 0;
  readonly #socket: WebSocket;

  constructor(socket: WebSocket, req: IncomingMessage, rate: number) {
    this.#socket = socket;
    this.authorization = req.headers.authorization;
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        this.callerBytes += (data as Buffer).length;
        return;
      }
      const msg = JSON.parse(data.toString()) as Json;
      this.inbox.push(msg);
      if (msg['type'] === 'hello') this.send({ type: 'ready', sample_rate: rate });
    });
  }

  send(msg: Json): number {
    const at = performance.now();
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(JSON.stringify(msg));
    return at;
  }

  async audio(rate: number, pcm: Int16Array, chunkMs: number, paced: boolean): Promise<number> {
    const chunk = (rate * chunkMs) / 1000;
    let first = 0;
    for (let at = 0; at < pcm.length; at += chunk) {
      const part = pcm.subarray(at, at + chunk);
      const t = performance.now();
      if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(Buffer.from(part.buffer, part.byteOffset, part.byteLength), { binary: true });
      if (at === 0) first = t;
      if (paced) await sleep(chunkMs);
    }
    return first;
  }
}

export class WsAgentTestServer extends WsTestServer<WsAgentConn> {
  constructor(readonly rate = 16_000) {
    super();
  }

  protected accept(socket: WebSocket, req: IncomingMessage): WsAgentConn {
    return new WsAgentConn(socket, req, this.rate);
  }

  /** The connection whose hello names this caller (from) or callee (to). */
  async connectionFor(party: string, timeoutMs = 5_000): Promise<WsAgentConn> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.connections.find((c) => c.inbox.messages.some((m) => m.msg['type'] === 'hello' && (m.msg['call']?.from === party || m.msg['call']?.to === party)));
      if (hit) return hit;
      if (performance.now() > deadline) throw new Error(`no ws agent connection for ${party}`);
      await sleep(10);
    }
  }
}

// ---- OpenClaw gateway + STT + TTS (OpenAI-compatible HTTP) ----

export interface OpenClawScript {
  /** Chat reply deltas and the pause before each. */
  reply: Array<{ afterMs: number; text: string }>;
  transcript: string;
  /** Audio per synthesised sentence. */
  speechMs: number;
}

export interface Recorded {
  at: number;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** When the response finished (chat: after [DONE]). */
  doneAt?: number;
  /** TTS: when the first audio bytes were written. */
  firstAudioAt?: number;
}

export class OpenClawTestServer {
  readonly requests: Recorded[] = [];
  script: OpenClawScript = { reply: [{ afterMs: 0, text: 'Hello.' }], transcript: 'hi', speechMs: 400 };
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: Recorded = { at: performance.now(), path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
        this.requests.push(rec);
        void this.#answer(rec, res);
      });
    });
  }

  async #answer(rec: Recorded, res: import('node:http').ServerResponse): Promise<void> {
    switch (rec.path) {
      case '/v1/models':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
        return;
      case '/v1/chat/completions': {
        if (rec.headers.authorization !== 'Bearer oc-gateway-token') {
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const part of this.script.reply) {
          await sleep(part.afterMs);
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: part.text } }] })}\n\n`);
        }
        res.end('data: [DONE]\n\n');
        rec.doneAt = performance.now();
        return;
      }
      case '/v1/audio/transcriptions':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ text: this.script.transcript }));
        return;
      case '/v1/audio/speech': {
        const pcm = tone(24_000, this.script.speechMs, 330);
        const bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
        res.writeHead(200, { 'content-type': 'audio/pcm' });
        rec.firstAudioAt = performance.now();
        // Odd-sized pieces: the adapter must carry half samples across chunks.
        res.write(bytes.subarray(0, 4801));
        await sleep(20);
        res.end(bytes.subarray(4801));
        return;
      }
      default:
        res.writeHead(404).end();
    }
  }

  chats(): Recorded[] {
    return this.requests.filter((r) => r.path === '/v1/chat/completions');
  }

  speeches(): Recorded[] {
    return this.requests.filter((r) => r.path === '/v1/audio/speech');
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
