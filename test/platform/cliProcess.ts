/**
 * `ttma platform` in a process of its own, for the CLI tests: resolves once it
 * printed its ready line (stdout lines and stderr kept), rejects with its
 * stderr when it exits first.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI_MODULE = fileURLToPath(new URL('../../src/platform/cli.js', import.meta.url));

export interface Running {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stdoutLines: string[];
  stderr: () => string;
  exit: Promise<number | null>;
}

export async function startCli(args: string[], env: Record<string, string> = {}): Promise<Running> {
  const script = `import { runPlatformCommand } from ${JSON.stringify(CLI_MODULE)};\nawait runPlatformCommand(JSON.parse(process.env.TTMA_TEST_ARGS));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TTMA_TEST_ARGS: JSON.stringify(args), TTMA_LOG_LEVEL: 'info', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const stdoutLines: string[] = [];
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    // Generous: a loaded machine takes seconds to load the modules. A process that never gets ready is killed, not left behind.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ready line; stderr: ${stderr}`));
    }, 30_000);
    lines.on('line', (line) => {
      stdoutLines.push(line);
      const parsed = JSON.parse(line) as { event: string; component: string; port: number };
      if (parsed.event === 'ready') {
        clearTimeout(timer);
        resolve(parsed.port);
      }
    });
    void exit.then((code) => reject(new Error(`exited ${code} before ready; stderr: ${stderr}`)));
  });
  return { child, port, stdoutLines, stderr: () => stderr, exit };
}

