/**
 * Child process of releaseStuckWorker.test.ts. A worker thread listens with
 * uWS, accepts one WebSocket, and loops forever inside that socket's message
 * handler. Mode `release`: the main thread releases the worker's sockets
 * through the inspector, then terminates it; `plain`: terminates it straight
 * away (this uWS build then aborts the process). Prints one JSON line.
 * With no mode (`node --test` loads every file under dist/test/) it does nothing.
 */
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { releaseStuckWorkerSockets, RELEASE_HOOK, RELEASED } from '../../src/actors/releaseStuckWorker.js';

const UWS_MODULE = new URL('../../src/front/uws.js', import.meta.url).href;

async function main(mode: 'release' | 'plain'): Promise<void> {
  const source = `
  import { parentPort } from 'node:worker_threads';
  const { uws } = await import(${JSON.stringify(UWS_MODULE)});
  const sockets = new Set();
  let listen = null;
  Object.defineProperty(globalThis, ${JSON.stringify(RELEASE_HOOK)}, {
    value: () => {
      for (const ws of sockets) ws.close();
      sockets.clear();
      if (listen) uws.us_listen_socket_close(listen);
      return ${JSON.stringify(RELEASED)};
    },
  });
  uws.App()
    .ws('/*', {
      open: (ws) => sockets.add(ws),
      close: (ws) => sockets.delete(ws),
      message: () => {
        parentPort.postMessage({ stuck: true });
        for (;;) {}
      },
    })
    .listen('127.0.0.1', 0, (socket) => {
      listen = socket;
      parentPort.postMessage({ port: uws.us_socket_local_port(socket) });
    });
  `;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`));
  const port = await new Promise<number>((resolve) => worker.on('message', (m: { port?: number }) => m.port && resolve(m.port)));
  const client = new WebSocket(`ws://127.0.0.1:${port}/call`);
  client.on('error', () => {});
  await new Promise((resolve) => client.once('open', resolve));
  const stuck = new Promise((resolve) => worker.on('message', (m: { stuck?: boolean }) => m.stuck && resolve(true)));
  client.send('hello');
  await stuck;
  const clientClosed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
  const started = performance.now();
  const released = mode === 'release' ? await releaseStuckWorkerSockets(worker.threadId, 2_000) : false;
  const releaseMs = performance.now() - started;
  await worker.terminate();
  const closeCode = await clientClosed;
  process.stdout.write(`${JSON.stringify({ released, releaseMs, closeCode, alive: true })}\n`);
}

const mode = process.argv[2];
if (mode === 'release' || mode === 'plain') await main(mode);
