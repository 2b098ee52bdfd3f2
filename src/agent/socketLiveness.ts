/**
 * Notices an agent WebSocket whose far end stopped answering (a hung agent
 * server, a path that went half-open). Without this, such a call sat in
 * silence until the caller gave up: the socket never closes by itself.
 *
 * Every `everyMs` the socket is pinged; a socket that neither ponged nor sent
 * anything since the previous ping is terminated, which closes it the usual
 * way (the adapter then asks for the hang-up once queued audio has played).
 * So a dead agent is noticed `everyMs` to twice that after it went quiet.
 * The pattern is the `ws` README's "How to detect and close broken
 * connections"; one timer per socket, unref'd.
 */
import type WebSocket from 'ws';

/** 5 s: a caller hears 5 to 10 s of silence at most; a live server answers a ping within ms. */
export const AGENT_PING_EVERY_MS = 5_000;

/** Starts watching an open socket; returns the function that stops it. `onDead` runs once, just before the socket is terminated. */
export function watchLiveness(socket: WebSocket, onDead: () => void, everyMs = AGENT_PING_EVERY_MS): () => void {
  let heard = true;
  const alive = (): void => {
    heard = true;
  };
  socket.on('pong', alive);
  socket.on('message', alive);
  const timer = setInterval(() => {
    if (!heard) {
      stop();
      onDead();
      socket.terminate();
      return;
    }
    heard = false;
    try {
      socket.ping();
    } catch {
      // Not open any more: its close handler reports it.
    }
  }, everyMs);
  timer.unref();
  function stop(): void {
    clearInterval(timer);
    socket.off('pong', alive);
    socket.off('message', alive);
  }
  socket.once('close', stop);
  return stop;
}
