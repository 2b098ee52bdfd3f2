/**
 * The null sink for the load generator's self-test: a uWebSockets.js server
 * (run as its own process, pinned where the gateway would be) that accepts
 * any media socket and sends each `media` frame straight back, doing no other
 * work. Driving it shows what the load generator can carry on its own.
 *
 *   node dist/bench/load/nullSink.js   -> prints {"event":"ready","port":N}
 */
import { uws } from '../../src/front/uws.js';

const MEDIA_PREFIX = Buffer.from('{"event":"media"');

const app = uws.App();
app.ws('/*', {
  maxPayloadLength: 16 * 1024,
  idleTimeout: 60,
  compression: uws.DISABLED,
  message: (ws, message, isBinary) => {
    if (isBinary || message.byteLength < MEDIA_PREFIX.length) return;
    if (Buffer.from(message, 0, MEDIA_PREFIX.length).equals(MEDIA_PREFIX)) ws.send(message, false);
  },
});
app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    process.stderr.write('null sink: cannot listen\n');
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: uws.us_socket_local_port(socket) })}\n`);
  process.once('SIGTERM', () => {
    uws.us_listen_socket_close(socket);
    process.exit(0);
  });
});
