/**
 * Run by corkAnchor.test.ts in a process of its own: uWS.js prints its cork
 * warnings from C++ straight to fd 2, so only a child's stderr shows them.
 * `--child anchor`: held upgrades completed inside a CorkAnchor's cork;
 * `--child uncorked`: completed with no cork at all (the warning's control).
 */
import WebSocket from 'ws';
import { CorkAnchor } from '../../src/front/CorkAnchor.js';
import { uws } from '../../src/front/uws.js';

const UPGRADES = 60;

if (process.argv[2] === '--child') await main(process.argv[3] === 'uncorked' ? 'uncorked' : 'anchor');

async function main(mode: 'anchor' | 'uncorked'): Promise<void> {
  const anchor = new CorkAnchor();
  await anchor.open();
  // Anything but the anchor's own random path is refused.
  const strangerStatus = (await fetch(`http://127.0.0.1:${anchor.port}/`)).status;
  let opened = 0;
  let serverCut = 0;
  let ranOutsideAnchor = 0;
  const app = uws.App();
  app.ws('/*', {
    upgrade: (res, req, context) => {
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      let aborted = false;
      res.onAborted(() => (aborted = true));
      // Completed later, from a timer: outside uWS's own callbacks, like a verdict from main.
      setTimeout(() => {
        if (aborted) return;
        const complete = () => res.upgrade({}, key, protocol, extensions, context);
        if (mode === 'uncorked') complete();
        else if (!anchor.run(complete)) ranOutsideAnchor++;
      }, 1);
    },
    open: () => void opened++,
    close: (_ws, code) => {
      if (code === 1006) serverCut++;
    },
  });
  const listen = await new Promise<unknown>((resolve) => app.listen('127.0.0.1', 0, resolve));
  if (!listen) throw new Error('cannot listen');
  const port = uws.us_socket_local_port(listen as never);
  const clientCloses: Record<string, number> = {};
  for (let k = 0; k < UPGRADES; k++) {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/media`);
      ws.on('open', () => {
        ws.send('{"event":"connected"}');
        setTimeout(() => ws.close(1000, 'done'), 5);
      });
      ws.on('error', () => {});
      ws.on('close', (code) => {
        clientCloses[code] = (clientCloses[code] ?? 0) + 1;
        resolve();
      });
    });
  }
  anchor.close();
  uws.us_listen_socket_close(listen as never);
  process.stdout.write(`${JSON.stringify({ opened, serverCut, ranOutsideAnchor, clientCloses, strangerStatus })}\n`);
  // No process.exit(): the process must end by itself once the anchor is released.
}
