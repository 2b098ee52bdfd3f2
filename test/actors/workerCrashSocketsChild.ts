/**
 * Child process of workerCrashSockets.test.ts: one media worker that owns its
 * sockets, with connections that are not calls (one accepted with no request,
 * one with half a request), crashed through an undecodable control message.
 * `crash`: the connections are on its tunnel port; `anchor`: on its cork
 * anchor's private loopback port, found as any process on the box can find
 * it, and fed a byte at a time while the thread exits. Prints one JSON line:
 * how the worker exited, whether those connections were cut, and that this
 * process lived on. With no mode (`node --test` loads every file) it does
 * nothing.
 */
import { once } from 'node:events';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
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

/** This process's loopback listening ports (Linux /proc: readable by any process of the same user). */
function ownLoopbackListeners(): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // The fd closed meanwhile.
    }
  }
  const ports: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address 0100007F:PORT, state 0A = LISTEN, inode in column 10.
    if (f[1]?.startsWith('0100007F:') && f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1].slice(9), 16));
  }
  return ports;
}

async function main(where: 'crash' | 'anchor'): Promise<void> {
  const host = tunnelWorkerHost(128);
  await host.ready();
  let port = host.tunnelPort!;
  if (where === 'anchor') {
    const others = ownLoopbackListeners().filter((p) => p !== port);
    if (others.length !== 1) throw new Error(`expected one other loopback listener (the cork anchor), found ${others.join(', ')}`);
    port = others[0]!;
  }
  // What a tunnel under load holds at any moment: connections whose request has not been read whole.
  const sockets = [await openConnection(port, ''), await openConnection(port, 'POST /webhook HTTP/1.1\r\nHost: gw\r\n')];
  // 'close' (not events.once, which rejects on the reset a cut write can meet).
  const cut = sockets.map((socket) => new Promise<true>((resolve) => socket.once('close', () => resolve(true))));
  // Let the worker's loop accept both before it crashes.
  await new Promise((resolve) => setTimeout(resolve, 200));
  // Bytes keep arriving while the thread exits: a socket left open then is read after uWS.js freed its loop.
  const feed = where === 'anchor' ? setInterval(() => sockets[1]!.writable && sockets[1]!.write('x'), 0) : undefined;
  host.testOnlyPostUndecodable();
  const [code] = (await once(host, 'exit')) as [number];
  clearInterval(feed);
  const cutBy = await Promise.race([Promise.all(cut), new Promise<false>((resolve) => setTimeout(() => resolve(false), 2_000))]);
  // Node tears the thread down after 'exit'; an abort would come by now.
  await new Promise((resolve) => setTimeout(resolve, 300));
  process.stdout.write(`${JSON.stringify({ code, cut: cutBy !== false, alive: true })}\n`);
}

const where = process.argv[2];
if (where === 'crash' || where === 'anchor') await main(where);
