/**
 * Where `ttma install` takes its one-time token from. `--token T` puts it on
 * the command line, where other local users can read it from
 * /proc/<pid>/cmdline while the install runs and the shell keeps it in its
 * history; `--token-file F` (an owner-only file, like every secret file)
 * and `--token -` (one line from standard input) do not.
 */
import { statSync, readFileSync } from 'node:fs';
import { secretFileModeProblem } from '../configFile/secretFileMode.js';
import { ErrorCodes, TtmaError } from '../errors.js';

/** A token is about 60 characters; anything much longer is not one. */
const MAX_TOKEN_BYTES = 4096;

const usage = (message: string) => new TtmaError(ErrorCodes.CLI_USAGE, `ttma install: ${message}`, 2);
const refused = (message: string) => new TtmaError(ErrorCodes.INSTALL_TOKEN, `${message}; nothing was written; the install token was not used`, 2);

/** The first line of `input` (up to a newline or the end), bounded; the rest is not read. */
export function readOneLine(input: NodeJS.ReadableStream, max = MAX_TOKEN_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err: Error | null, line = '') => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.removeListener('error', onError);
      input.pause();
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) done(null, text.slice(0, nl));
      else if (text.length > max) done(usage(`--token -: no end of line within ${max} bytes of standard input: pipe in the token alone`));
    };
    const onEnd = () => done(null, text);
    const onError = (err: Error) => done(usage(`--token -: cannot read standard input (${err.message})`));
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
    input.resume();
  });
}

/** The token file: a regular, owner-only file of one line. */
export function readTokenFile(path: string, env: NodeJS.ProcessEnv = process.env): string {
  let text: string;
  try {
    const info = statSync(path);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_TOKEN_BYTES) throw new Error(`larger than ${MAX_TOKEN_BYTES} bytes`);
    const problem = secretFileModeProblem(path, env);
    if (problem) {
      throw refused(`--token-file ${path} is ${problem}: anyone who can read it can redeem the token before you; run chmod 600 ${path} and run the same command again, or ask the platform operator for a new token if others may have read it`);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof TtmaError) throw err;
    throw refused(`--token-file ${path}: cannot read it (${(err as Error).message.replace(/^[A-Z]+: /, '')})`);
  }
  const lines = text.trim().split('\n');
  if (lines.length !== 1 || lines[0] === '') throw refused(`--token-file ${path} must hold the token alone, on one line`);
  return lines[0]!.trim();
}

/** Exactly one of --token T, --token - and --token-file F. */
export async function tokenFrom(flags: { token?: string | undefined; 'token-file'?: string | undefined }, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const { token, 'token-file': file } = flags;
  if (token !== undefined && file !== undefined) throw usage('pass the token one way: --token-file <file>, --token - (standard input) or --token <token>');
  if (file !== undefined) return readTokenFile(file);
  if (token === '-') {
    const line = (await readOneLine(stdin)).trim();
    if (!line) throw usage('--token -: standard input held no token');
    return line;
  }
  if (token) return token;
  throw usage('a token is required: --token-file <file> (owner-only), --token - (read from standard input), or --token <token> (visible to other local users while it runs, and kept in your shell history); mint one on the platform: it is valid for 15 minutes, once');
}
