/**
 * A relay between the provider simulator and a platform that loses webhooks for good: it forwards
 * every signed webhook byte for byte, except the event types in `drop`, which it refuses with a
 * 400 (the simulator does not retry a 4xx). What it refused is kept, so a test can deliver one late.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
