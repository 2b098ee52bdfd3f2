/**
 * Child process of `bench/platformProxy.ts`: runs the platforms it times in a
 * process of their own, as `ttma platform` runs, so the load generator's and
 * the fake provider's work and garbage stay out of the platform's event loop.
 * Spoken to over the fork IPC channel: `start` (answers the ports), `cpu`
 * (answers this process's CPU time, for the per-request cost), `stop`.
 */
import { startPlatformTargets, type PlatformTargets, type PlatformTargetsSpec } from './platformTargets.js';

export type HostRequest = { kind: 'start'; spec: PlatformTargetsSpec } | { kind: 'cpu' } | { kind: 'stop' };
export type HostReply =
  | { kind: 'started'; current: PlatformTargets['current']; previous: PlatformTargets['previous']; skeleton: PlatformTargets['skeleton'] }
  | { kind: 'cpu'; us: number }
  | { kind: 'stopped' }
  | { kind: 'failed'; message: string };

if (!process.send) {
  process.stderr.write('bench/platformHost is started by bench/platformProxy (node:child_process fork)\n');
  process.exit(2);
}

let targets: PlatformTargets | undefined;
let stopping: Promise<void> | undefined;
const stopOnce = (): Promise<void> => (stopping ??= targets?.stop() ?? Promise.resolve());
const reply = (message: HostReply): void => {
  process.send?.(message);
};

process.on('message', (message: HostRequest) => {
  void (async () => {
    try {
      if (message.kind === 'start') {
        targets = await startPlatformTargets(message.spec);
        reply({ kind: 'started', current: targets.current, previous: targets.previous, skeleton: targets.skeleton });
      } else if (message.kind === 'cpu') {
        const used = process.cpuUsage();
        reply({ kind: 'cpu', us: used.user + used.system });
      } else if (message.kind === 'stop') {
        await stopOnce();
        reply({ kind: 'stopped' });
        process.disconnect();
      }
    } catch (err) {
      reply({ kind: 'failed', message: (err as Error).message });
    }
  })();
});
// The parent gone (crashed or killed): nothing left to serve.
process.on('disconnect', () => {
  void stopOnce().finally(() => process.exit(0));
});
