/**
 * Child process of workerCrashSockets.test.ts: one media worker that owns its
 * sockets, with connections on its tunnel port that are not calls yet (one
 * accepted with no request, one with half a request), crashed through an
 * undecodable control message. Prints one JSON line: how the worker exited,
 * whether those connections were cut, and that this process lived on. With no
 * mode (`node --test` loads every file) it does nothing.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { tunnelWorkerHost } from '../helpers/tunnelWorker.js';

function openConnection(port: number, firstBytes: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.on('data', () => {});
  return new Promise((resolve) =>
    socket.once('connect', () => {
      if (firstBytes) socket.write(firstBytes);
      resolve(socket);
    }),
  );
}

async function main(): Promise<void> {
  const host = tunnelWorkerHost(128);
  await host.ready();
  const port = host.tunnelPort!;
  // What a tunnel under load holds at any moment: connections whose request has not been read whole.
  const sockets = [await openConnection(port, ''), await openConnection(port, 'POST /webhook HTTP/1.1\r\nHost: gw\r\n')];
  const cut = sockets.map((socket) => once(socket, 'close').then(() => true));
  // Let the worker's loop accept both before it crashes.
  await new Promise((resolve) => setTimeout(resolve, 200));
  host.testOnlyPostUndecodable();
  const [code] = (await once(host, 'exit')) as [number];
  const cutBy = await Promise.race([Promise.all(cut), new Promise<false>((resolve) => setTimeout(() => resolve(false), 2_000))]);
  // Node tears the thread down after 'exit'; an abort would come by now.
  await new Promise((resolve) => setTimeout(resolve, 300));
  process.stdout.write(`${JSON.stringify({ code, cut: cutBy !== false, alive: true })}\n`);
}

if (process.argv[2] === 'crash') await main();
