/**
 * Closing a node:http server in bounded time. `server.close(cb)` calls back
 * only once every socket is gone, and `closeAllConnections()` destroys only
 * the sockets still speaking HTTP: one handed to the 'upgrade' event, or left
 * half open by a peer that never closes its side (the server is allowHalfOpen),
 * holds the close, and whatever awaits it, forever. Every socket is tracked
 * from 'connection'; those left after the grace are destroyed.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** The server's open sockets, kept up to date from now on. */
export function trackSockets(server: Server): ReadonlySet<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * Stops listening and ends the HTTP connections at once; resolves when every
 * socket is gone, after `graceMs` at most (the rest destroyed, `onForced`
 * told how many).
 */
export function closeWithin(server: Server, sockets: ReadonlySet<Socket>, graceMs: number, onForced: (open: number) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      if (sockets.size === 0) return;
      onForced(sockets.size);
      for (const socket of [...sockets]) socket.destroy();
    }, graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeAllConnections();
  });
}
