/**
 * The bench's side of `bench/platformHost.ts`: forks it, starts the platforms
 * there, and asks for its CPU time; every wait is bounded.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HostReply, HostRequest } from './platformHost.js';
import type { PlatformTarget, PlatformTargetsSpec } from './platformTargets.js';

const REPLY_TIMEOUT_MS = 15_000;

export class PlatformHost {
  readonly #child: ChildProcess;
  current!: PlatformTarget;
  previous!: PlatformTarget;
  skeleton!: PlatformTarget;

  private constructor(child: ChildProcess) {
    this.#child = child;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  static async start(spec: PlatformTargetsSpec): Promise<PlatformHost> {
    const child = fork(fileURLToPath(new URL('./platformHost.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const host = new PlatformHost(child);
    const started = await host.#ask({ kind: 'start', spec }, 'started');
    host.current = started.current;
    host.previous = started.previous;
    host.skeleton = started.skeleton;
    return host;
  }

  /** The child's CPU time so far, microseconds (user + system). */
  async cpuUs(): Promise<number> {
    return (await this.#ask({ kind: 'cpu' }, 'cpu')).us;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || !this.#child.connected) return;
    await this.#ask({ kind: 'stop' }, 'stopped').catch(() => this.#child.kill());
  }

  #ask<K extends HostReply['kind']>(request: HostRequest, want: K): Promise<Extract<HostReply, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, reply?: HostReply): void => {
        clearTimeout(timer);
        this.#child.off('message', onMessage);
        this.#child.off('exit', onExit);
        if (err) reject(err);
        else resolve(reply as Extract<HostReply, { kind: K }>);
      };
      const onMessage = (reply: HostReply): void => {
        if (reply.kind === want) done(null, reply);
        else if (reply.kind === 'failed') done(new Error(`platform host: ${reply.message}`));
      };
      const onExit = (code: number | null): void => done(new Error(`platform host exited (${code}) before answering ${request.kind}`));
      const timer = setTimeout(() => done(new Error(`platform host did not answer ${request.kind} within ${REPLY_TIMEOUT_MS} ms`)), REPLY_TIMEOUT_MS);
      this.#child.on('message', onMessage);
      this.#child.on('exit', onExit);
      this.#child.send(request);
    });
  }
}
