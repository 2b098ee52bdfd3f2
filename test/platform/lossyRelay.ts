/**
 * A relay between the provider simulator and a platform that loses webhooks for good: it forwards
 * every signed webhook byte for byte, except the event types in `drop`, which it refuses with a
 * 400 (the simulator does not retry a 4xx). What it refused is kept, so a test can deliver one late.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import nacl from 'tweetnacl';
import { WebSocketServer } from 'ws';
import { createLogger } from '../../src/log.js';
import { ProviderSimulator, type ProviderSimulatorOptions } from '../../src/sim/ProviderSimulator.js';
import { readAll } from './helpers.js';

export interface DroppedWebhook {
  eventType: string;
  callControlId: string;
  body: Buffer;
  headers: IncomingHttpHeaders;
}

export interface LossyRelay {
  server: Server;
  port: number;
  /** The event types refused, in order. */
  dropped: string[];
  /** What was refused, whole. */
  droppedWebhooks: DroppedWebhook[];
  close(): Promise<void>;
}

export function startLossyRelay(target: () => number, drop: ReadonlySet<string>): Promise<LossyRelay> {
  const dropped: string[] = [];
  const droppedWebhooks: DroppedWebhook[] = [];
  const server = createServer((req, res) => {
    void readAll(req).then((body) => {
      const data = (JSON.parse(body.toString('utf8')) as { data?: { event_type?: unknown; payload?: { call_control_id?: unknown } } }).data;
      const eventType = String(data?.event_type);
      if (drop.has(eventType)) {
        dropped.push(eventType);
        droppedWebhooks.push({ eventType, callControlId: String(data?.payload?.call_control_id), body, headers: req.headers });
        res.writeHead(400).end();
        return;
      }
      const forward = request(
        { host: '127.0.0.1', port: target(), method: 'POST', path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.writeHead(502).end());
      forward.end(body);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        dropped,
        droppedWebhooks,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      }),
    ),
  );
}

/**
 * A simulator whose webhooks go to `relay` (a fresh signing key, a quick ring, a silent log), with
 * `options` on top: what each test of a relayed simulator sets apart from these.
 */
export function relayedSimulator(apiKey: string, relay: LossyRelay, options: Partial<ProviderSimulatorOptions> = {}): ProviderSimulator {
  return new ProviderSimulator({
    apiKey,
    signingSecretKey: nacl.sign.keyPair().secretKey,
    webhookUrls: [`http://127.0.0.1:${relay.port}/v1/provider/webhooks`],
    tunnels: {},
    answerTimeoutMs: 3_000,
    ringMs: 100,
    logger: createLogger('sim', 'silent'),
    ...options,
  });
}

/**
 * The simulator with its webhooks through a relay that drops `drop` (call.hangup by default),
 * and a media endpoint for `tunnelHosts` that takes each stream and holds it (as far as the
 * simulator needs a gateway). The callee never hangs up within a test: only the platform ends a
 * call. `platformPort` says where the relay forwards (the platform starts after the simulator).
 */
export async function simBehindLossyRelay(
  apiKey: string,
  tunnelHosts: string[],
  drop: ReadonlySet<string> = new Set(['call.hangup']),
): Promise<{ sim: ProviderSimulator; simPort: number; relay: LossyRelay; platformPort(port: number): void; stop(): Promise<void> }> {
  let platformPort = 0;
  const relay = await startLossyRelay(() => platformPort, drop);
  const media = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => media.once('listening', resolve));
  const mediaUrl = `ws://127.0.0.1:${(media.address() as AddressInfo).port}`;
  const sim = relayedSimulator(apiKey, relay, {
    tunnels: Object.fromEntries(tunnelHosts.map((host) => [host, mediaUrl])),
    outboundTalkMs: 600_000,
  });
  const { port: simPort } = await sim.start();
  return {
    sim,
    simPort,
    relay,
    platformPort: (port) => {
      platformPort = port;
    },
    async stop() {
      await sim.stop();
      await relay.close();
      for (const ws of media.clients) ws.terminate();
      await new Promise((resolve) => media.close(resolve));
    },
  };
}
