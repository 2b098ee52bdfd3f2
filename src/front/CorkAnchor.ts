/**
 * A long-lived HTTP response on this thread's uWS loop, whose cork wraps
 * upgrades completed later than their request (held for the main thread's
 * verdict, worker-owned media sockets).
 *
 * Why: in this uWS build, `res.cork(() => res.upgrade(...))` run outside
 * uWS's own callbacks can shut the new WebSocket down right after its 101.
 * The upgrade moves the socket into the WebSocket context with a realloc;
 * when that shrinks the block in place the address does not change, cork()
 * does not notice the upgrade, reads the HTTP response state from what is
 * now WebSocket memory, and closes the socket when those bytes say
 * "connection: close" (uNetworking/uWebSockets#1928, fixed upstream by #1929).
 * We saw it as 1 to 15 of several hundred media sockets cut with 1006 at
 * set-up; a syscall trace showed the 101 sent, then shutdown and close.
 *
 * Uncorked, the upgrade is safe but uWS.js prints a warning per call. Inside
 * this anchor's cork it is both: the anchor is the corked socket, so cork()'s
 * after-check reads the anchor's own (valid, pending) state; the 101 goes out
 * as a few direct writes, once a call.
 *
 * The anchor is a request this thread makes to itself, on a private loopback
 * listener with a random path, and never answers. Its port is still open to
 * any process on the box, so close() cuts every connection of its app, not
 * only its own: one left open when the thread exits is read after uWS.js has
 * freed the thread's loop, and the process aborts ("Cork buffer must not be
 * acquired without checking canCork!", a SIGSEGV, or uv_loop_close).
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { guardedRoutes } from './httpRoutes.js';
import { closeAppConnections, uws, type HttpResponse, type TemplatedApp, type us_listen_socket } from './uws.js';

export class CorkAnchor {
  #res: HttpResponse | null = null;
  #client: Socket | null = null;
  #listen: us_listen_socket | null = null;
  #app: TemplatedApp | null = null;
  #closed = false;

  /** Opens the anchor; resolves once it is held (rejects if it cannot be made). */
  open(): Promise<void> {
    const path = `/${randomBytes(16).toString('hex')}`;
    const app = uws.App();
    this.#app = app;
    return new Promise((resolve, reject) => {
      let held = false;
      // A failed open releases what it made: the thread may exit next. Once held, a later error
      // leaves the anchor to its onAborted, as before.
      const fail = (message: string): void => {
        if (held) return;
        this.close();
        reject(new Error(`cork anchor: ${message}`));
      };
      // Nothing here is expected to throw; should it, the request is answered 500 and open() fails.
      const routes = guardedRoutes(app, (err) => fail(err instanceof Error ? err.message : String(err)));
      routes.get(path, (res) => {
        if (this.#res || this.#closed) {
          res.writeStatus('409 Conflict').end(undefined, true);
          return;
        }
        res.onAborted(() => {
          this.#res = null;
        });
        this.#res = res;
        held = true;
        resolve();
      });
      routes.any('/*', (res) => void res.writeStatus('404 Not Found').end(undefined, true));
      app.listen('127.0.0.1', 0, (listen) => {
        if (!listen) return fail('cannot listen on loopback');
        this.#listen = listen;
        const client = connect(uws.us_socket_local_port(listen as never), '127.0.0.1');
        this.#client = client;
        client.setNoDelay(true);
        client.on('error', (err) => fail(err.message));
        client.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      });
    });
  }

  /** The private listener's port (tests), null before open or after close. */
  get port(): number | null {
    return this.#listen ? uws.us_socket_local_port(this.#listen as never) : null;
  }

  /** Runs `fn` inside the anchor's cork; false (and `fn` not run) when there is no anchor. */
  run(fn: () => void): boolean {
    const res = this.#res;
    if (!res) return false;
    res.cork(fn);
    return true;
  }

  /** Releases the anchor, its listener and any other connection to it: a thread must not exit with a uWS socket open. */
  close(): void {
    this.#closed = true;
    const res = this.#res;
    this.#res = null;
    if (res) res.close();
    this.#client?.destroy();
    this.#client = null;
    if (this.#listen) uws.us_listen_socket_close(this.#listen);
    this.#listen = null;
    if (this.#app) closeAppConnections(this.#app);
    this.#app = null;
  }
}
