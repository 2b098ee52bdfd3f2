/**
 * Child process of heapGuard.test.ts: one media worker that owns its sockets
 * (listening on a free loopback port), a 48 MB heap limit, and a leak sent in
 * through the inspector. Prints one JSON line: how the worker exited and what
 * it logged. With no argument (`node --test` loads every file) it does nothing.
 */
import { once } from 'node:events';
import { evaluateInWorker } from '../../src/actors/releaseStuckWorker.js';
import type { FromWorker } from '../../src/actors/messages.js';
import { tunnelWorkerHost } from '../helpers/tunnelWorker.js';

async function main(): Promise<void> {
  const logs: string[] = [];
  const host = tunnelWorkerHost(48, (message: FromWorker) => {
    if (message.type === 'log') logs.push(message.msg);
  });
  await host.ready();
  // About 20 MB a second: past 85 % of 48 MB in about two seconds, many guard checks before the limit.
  const leak = 'globalThis.leak = []; setInterval(() => globalThis.leak.push(new Array(25000).fill(0).map(Math.random)), 10), "leaking"';
  const started = await evaluateInWorker(host.threadId, leak, 5_000);
  const [code] = (await once(host, 'exit')) as [number];
  process.stdout.write(`${JSON.stringify({ started, code, logs, alive: true })}\n`);
}

if (process.argv[2] === 'leak') await main();
