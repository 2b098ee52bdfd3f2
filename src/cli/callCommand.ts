/**
 * `ttma call` and `ttma calls`: an operator (or the OpenClaw agent through
 * its skill) places an outbound call or lists recent calls through the
 * running gateway's local listener. The gateway places the call through the
 * platform's signalling proxy, so the platform's allowlists, dialling policy
 * and minute caps decide, as for any call.
 *
 * Credentials: the deployment's agent secret, read from a file (never a flag
 * value or the environment): --agent-secret-file, else
 * $TTMA_AGENT_SECRET_FILE, else <install dir>/credentials/agent-secret
 * (install dir: --install-dir, $TTMA_INSTALL_DIR, ~/.local/share/ttma).
 * The gateway's local port: --local-port, $TTMA_LOCAL_PORT, the one the
 * install's unit uses (its install.json), else 8081 (installDir.ts).
 * The secret itself never goes to the listener: requests and answers are
 * signed over a nonce with keys derived from it (localClient.ts), and an
 * answer that is not is refused (TTMA_ERR_LOCAL_UNVERIFIED).
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';
import { CALL_ID_PATTERN } from '../wire/telnyx.js';
import { intFlag, readSecretFile } from './args.js';
import { CALL_FLAGS, CALLS_FLAGS, DASHBOARD_FLAGS, RECORDING_FLAGS } from './commandFlags.js';
import { envValue, installDir, installedLocalPort } from './installDir.js';
import { localJson, localTarget, readSignedAnswer, signedRequest, type LocalAnswer, type LocalTarget } from './localClient.js';

const E164 = /^\+[1-9]\d{6,14}$/;
const DEFAULT_LOCAL_PORT = 8081;
/** Dialling waits for the platform and the provider; a few seconds at most. */
const CALL_TIMEOUT_MS = 15_000;
const LIST_TIMEOUT_MS = 5_000;
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** A recording streams through the gateway; it fails when no byte comes for this long. */
const RECORDING_IDLE_MS = 30_000;

interface Common {
  'local-port'?: string | undefined;
  'agent-secret-file'?: string | undefined;
  'install-dir'?: string | undefined;
}

function usage(command: string, message: string): TtmaError {
  return new TtmaError(ErrorCodes.CLI_USAGE, `ttma ${command}: ${message}. Run \`ttma help\` for usage.`, 2);
}

function parse<T extends Record<string, { type: 'string' | 'boolean' }>>(command: string, argv: string[], options: T, positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: positionals > 0 });
  } catch (err) {
    throw usage(command, (err as Error).message);
  }
  if (parsed.positionals.length > positionals) throw usage(command, `unexpected argument "${parsed.positionals[positionals] ?? ''}"`);
  return parsed;
}

/** The gateway's local port: --local-port, else $TTMA_LOCAL_PORT, else the install's, else 8081. */
function target(values: Common): LocalTarget {
  const fromEnv = values['local-port'] === undefined ? envValue('TTMA_LOCAL_PORT') : undefined;
  const given = values['local-port'] ?? fromEnv;
  const port = given === undefined
    ? (installedLocalPort(values) ?? DEFAULT_LOCAL_PORT)
    : intFlag(fromEnv === undefined ? '--local-port' : 'TTMA_LOCAL_PORT', given, DEFAULT_LOCAL_PORT, 1, 65_535);
  return localTarget(port, readAgentSecret(values));
}

/**
 * The agent secret, from the first of --agent-secret-file, $TTMA_AGENT_SECRET_FILE and the install
 * dir's credentials. A failure names where the path came from: a user who gave no flag was told
 * "--agent-secret-file ~/.local/share/ttma/...: ENOENT" and not how to point at their install.
 */
function readAgentSecret(values: Common): string {
  const flagFile = values['agent-secret-file'];
  if (flagFile !== undefined) return readSecretFile('--agent-secret-file', flagFile);
  const envFile = envValue('TTMA_AGENT_SECRET_FILE');
  if (envFile !== undefined) return readSecretFile('TTMA_AGENT_SECRET_FILE', envFile);
  const { dir, from } = installDir(values);
  const file = join(dir, 'credentials', 'agent-secret');
  if (!existsSync(file)) {
    throw new TtmaError(
      ErrorCodes.CONFIG,
      `no agent secret at ${file} (${from} ${dir}): pass --install-dir D, the --dir that ttma install used, ` +
        'or --agent-secret-file F, the file the gateway reads its agent secret from',
      2,
    );
  }
  return readSecretFile(`agent secret file (${from} ${dir})`, file);
}

/** One JSON request to the gateway's local listener, its answer verified (localClient.ts). */
function local(t: LocalTarget, method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, timeoutMs: number): Promise<LocalAnswer> {
  return localJson(t, method, path, body, timeoutMs, MAX_RESPONSE_BYTES);
}

/**
 * Runs a command whose stdout is one JSON line (always, or with --json): an
 * error thrown once the arguments are good (no gateway answering, a secret
 * file that cannot be read, a timeout) is that line too, `{"ok":false,
 * "error"}`, before ttma reports it on stderr. Usage errors (exit 2) are for
 * the person typing and stay on stderr.
 */
async function answeringJson(json: boolean, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (err) {
    if (json && isTtmaError(err) && err.status !== 2) process.stdout.write(`${JSON.stringify({ ok: false, error: { code: err.code, message: err.message } })}\n`);
    throw err;
  }
}

/** Whether argv names one of these flags (`--name` or `--name=value`); parseArgs checks the rest. */
function hasFlag(argv: string[], ...names: string[]): boolean {
  return argv.some((arg) => names.some((name) => arg === `--${name}` || arg.startsWith(`--${name}=`)));
}

function refusal(answer: LocalAnswer): { code: string; message: string } {
  const error = answer.body['error'] as { code?: unknown; message?: unknown } | undefined;
  return {
    code: typeof error?.code === 'string' ? error.code : `HTTP_${answer.status}`,
    message: typeof error?.message === 'string' ? error.message : 'the gateway refused the request',
  };
}

/** `ttma call <number> | --to <number> [--from <number>]`: prints one JSON line; exit 0 placed, 1 refused, 2 usage. */
export function runCallCommand(argv: string[]): Promise<number> {
  return answeringJson(true, () => callCommand(argv));
}

async function callCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('call', argv, CALL_FLAGS, 1);
  const to = values.to ?? positionals[0];
  if (values.to !== undefined && positionals[0] !== undefined) throw usage('call', 'give the number once: either as an argument or with --to');
  if (to === undefined) throw usage('call', 'which number? ttma call +15551234567');
  if (!E164.test(to)) throw usage('call', `${JSON.stringify(to.slice(0, 40))} is not one E.164 number ("+" then 7 to 15 digits, nothing else)`);
  if (values.from !== undefined && !E164.test(values.from)) throw usage('call', '--from must be one E.164 number');
  const t = target(values);
  const answer = await local(t, 'POST', '/v1/local/calls', { to, ...(values.from !== undefined ? { from: values.from } : {}) }, CALL_TIMEOUT_MS);
  if (answer.status === 200) {
    process.stdout.write(`${JSON.stringify({ ok: true, call_control_id: answer.body['call_control_id'], from: answer.body['from'], to: answer.body['to'] })}\n`);
    return 0;
  }
  const error = refusal(answer);
  process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
  process.stderr.write(`ttma call: refused: ${error.code}: ${error.message}\n`);
  return 1;
}

/** Fields reach the terminal: no control characters (escape sequences), bounded. */
function clean(value: unknown, max = 120): string {
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, max);
}

interface CallRow {
  call_control_id: string;
  direction: string;
  from: string;
  to: string;
  state: string;
  started_at: string;
  duration_ms: number | null;
  /** Gateway records. */
  end_reason?: string | null;
  stream_restarts?: number;
  taken_over?: boolean;
  /** Platform records. */
  hangup_cause?: string | null;
}

/** `ttma calls [--recent N] [--source gateway|platform] [--json]`: recent calls, newest first. */
export function runCallsCommand(argv: string[]): Promise<number> {
  // Saving or deleting a recording prints one JSON line whatever the flags.
  return answeringJson(hasFlag(argv, 'json', 'recording', 'out', 'delete-recording'), () => callsCommand(argv));
}

async function callsCommand(argv: string[]): Promise<number> {
  const { values } = parse('calls', argv, CALLS_FLAGS, 0);
  if (values['delete-recording'] !== undefined) {
    if (values.recording !== undefined || values.out !== undefined) throw usage('calls', '--delete-recording goes alone, without --recording or --out');
    return deleteRecording(values, values['delete-recording']);
  }
  if (values.recording !== undefined || values.out !== undefined) return saveRecording(values);
  const recent = intFlag('--recent', values.recent, 10, 1, 100);
  const source = values.source ?? 'gateway';
  if (source !== 'gateway' && source !== 'platform') throw usage('calls', '--source must be gateway or platform');
  const t = target(values);
  const answer = await local(t, 'GET', `/v1/local/calls?recent=${recent}&source=${source}`, undefined, LIST_TIMEOUT_MS);
  if (answer.status !== 200 || !Array.isArray(answer.body['calls'])) {
    const error = refusal(answer);
    if (values.json) process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
    process.stderr.write(`ttma calls: refused: ${error.code}: ${error.message}\n`);
    return 1;
  }
  const calls = answer.body['calls'] as CallRow[];
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ source, calls })}\n`);
    return 0;
  }
  if (calls.length === 0) {
    process.stdout.write('no calls yet\n');
    return 0;
  }
  for (const c of calls) {
    const duration = c.duration_ms === null || c.duration_ms === undefined ? '-' : `${(c.duration_ms / 1000).toFixed(1)} s`;
    const arrow = c.direction === 'incoming' ? 'in ' : 'out';
    const restarts = c.taken_over
      ? '  (taken over from an earlier gateway process)'
      : c.stream_restarts
        ? `  (media stream restarted ${c.stream_restarts}x)`
        : '';
    process.stdout.write(`${clean(c.started_at)}  ${arrow}  ${clean(c.from)} -> ${clean(c.to)}  ${clean(c.state).padEnd(7)}  ${duration.padStart(8)}  ${clean(c.end_reason ?? c.hangup_cause ?? '')}${restarts}\n`);
  }
  return 0;
}

/**
 * `ttma calls --recording <call id> --out <file.mp3>`: one of this
 * deployment's recordings, through the gateway and the platform (which plays
 * a deployment only its own calls). The file is created new (never
 * overwritten) and readable by this user only; prints one JSON line.
 */
async function saveRecording(values: Common & { recording?: string | undefined; out?: string | undefined; json?: boolean | undefined }): Promise<number> {
  const callId = values.recording;
  if (callId === undefined || values.out === undefined) throw usage('calls', '--recording <call id> and --out <file> go together');
  if (!CALL_ID_PATTERN.test(callId)) throw usage('calls', '--recording takes a call id (letters, digits, ":_-.", at most 128)');
  const t = target(values);
  const saved = await downloadRecording(t, callId, values.out);
  if ('refused' in saved) {
    const error = refusal(saved.refused);
    process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
    process.stderr.write(`ttma calls: recording refused: ${error.code}: ${error.message}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify({ ok: true, call_control_id: callId, file: values.out, bytes: saved.bytes, sha256: saved.sha256 })}\n`);
  return 0;
}

/**
 * Streams a recording from the gateway into `out`, created new (never
 * overwritten) and readable by this user only, hashing as it goes. A
 * download that fails part way (the gateway or platform gone, fewer bytes
 * than declared, no data for RECORDING_IDLE_MS) leaves no file behind.
 */
async function downloadRecording(t: LocalTarget, callId: string, out: string): Promise<{ bytes: number; sha256: string } | { refused: LocalAnswer }> {
  const path = `/v1/local/calls/${encodeURIComponent(callId)}/recording.mp3`;
  const answer = await signedRequest(t, 'GET', path, undefined, { idleMs: RECORDING_IDLE_MS });
  const { res } = answer;
  const contentType = String(res.headers['content-type'] ?? '');
  if (res.statusCode !== 200 || !contentType.startsWith('audio/mpeg')) return { refused: await readSignedAnswer(answer, MAX_RESPONSE_BYTES) };
  const declared = /^\d{1,15}$/.test(res.headers['content-length'] ?? '') ? Number(res.headers['content-length']) : null;
  // Its signature covers the type and declared length (the bytes follow the headers): checked before any file exists.
  answer.verify({ contentType, length: declared });
  return new Promise((resolve, reject) => {
    let created = false;
    const fail = (err: TtmaError): void => {
      if (created) rmSync(out, { force: true });
      reject(err);
    };
    let file;
    try {
      file = createWriteStream(out, { flags: 'wx', mode: 0o600 });
    } catch (err) {
      res.destroy();
      return fail(outError(out, err));
    }
    file.once('open', () => {
      created = true;
    });
    const hash = createHash('sha256');
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    pipeline(res, file).then(
      () => {
        if (declared !== null && bytes !== declared) return fail(new TtmaError(ErrorCodes.PLATFORM, `recording cut short: ${bytes} of ${declared} bytes; nothing saved`, 1));
        resolve({ bytes, sha256: hash.digest('hex') });
      },
      (err: NodeJS.ErrnoException) => {
        // createWriteStream opens lazily: an existing file (EEXIST) shows up here, and is not removed (`created` is unset).
        fail(err.syscall !== undefined && err.path === out ? outError(out, err) : new TtmaError(ErrorCodes.PLATFORM, `recording cut short after ${bytes} bytes (${err.code ?? err.message}); nothing saved`, 1));
      },
    );
  });
}

function outError(out: string, err: unknown): TtmaError {
  const code = (err as NodeJS.ErrnoException).code;
  return new TtmaError(ErrorCodes.CONFIG, `--out ${out}: ${code === 'EEXIST' ? 'already exists (not overwritten)' : (code ?? 'cannot be written')}`, 1);
}

/**
 * `ttma calls --delete-recording <call id>`: deletes one of this
 * deployment's recordings for good, at the platform (its stored copy) and
 * at the provider; prints one JSON line saying what was deleted.
 */
async function deleteRecording(values: Common, callId: string): Promise<number> {
  if (!CALL_ID_PATTERN.test(callId)) throw usage('calls', '--delete-recording takes a call id (letters, digits, ":_-.", at most 128)');
  const t = target(values);
  const answer = await local(t, 'DELETE', `/v1/local/calls/${encodeURIComponent(callId)}/recording.mp3`, undefined, CALL_TIMEOUT_MS);
  if (answer.status !== 200) {
    const error = refusal(answer);
    process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
    process.stderr.write(`ttma calls: recording not deleted: ${error.code}: ${error.message}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify({ ok: true, ...answer.body })}\n`);
  return 0;
}

/**
 * `ttma recording [on|off] [--delete-existing] [--json]`: whether the
 * platform records this deployment's calls, or turn it on or off (FAQ-02,
 * FAQ-17: "you can turn recording off at any time"). Off also stops the
 * recording of calls in progress, and the platform deletes what the provider
 * saved of them. `--delete-existing` then deletes every recording kept so
 * far, at the platform and the provider, a pass at a time with progress on
 * stderr (with off: "no audio is kept on our servers" from then on).
 */
export function runRecordingCommand(argv: string[]): Promise<number> {
  return answeringJson(hasFlag(argv, 'json'), () => recordingCommand(argv));
}

async function recordingCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('recording', argv, RECORDING_FLAGS, 1);
  const wanted = positionals[0];
  if (wanted !== undefined && wanted !== 'on' && wanted !== 'off') throw usage('recording', `"${clean(wanted)}" is not on or off`);
  const t = target(values);
  const answer =
    wanted === undefined
      ? await local(t, 'GET', '/v1/local/recording', undefined, CALL_TIMEOUT_MS)
      : await local(t, 'POST', '/v1/local/recording', { recording: wanted === 'on' }, CALL_TIMEOUT_MS);
  const on = answer.body['recording'];
  if (answer.status !== 200 || typeof on !== 'boolean') {
    const error = refusal(answer);
    if (values.json) process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
    process.stderr.write(`ttma recording: refused: ${error.code}: ${error.message}\n`);
    return 1;
  }
  const stopped = typeof answer.body['stopped'] === 'number' ? answer.body['stopped'] : null;
  const removed = values['delete-existing'] ? await deleteKeptRecordings(t) : null;
  const ok = removed === null || (removed.error === undefined && removed.failed === 0);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ok, recording: on, ...(stopped !== null ? { stopped } : {}), ...(removed !== null ? { recordings_deleted: removed } : {}) })}\n`);
    return ok ? 0 : 1;
  }
  const live = stopped ? `; stopped on ${stopped} call${stopped === 1 ? '' : 's'} in progress` : '';
  process.stdout.write(`recording is ${on ? 'on: new calls are recorded' : 'off: calls are not recorded, and nothing the provider saves is kept'}${live}\n`);
  if (removed !== null) {
    const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
    process.stdout.write(`${plural(removed.deleted, 'recording')} deleted, here and at the phone provider\n`);
    if (removed.failed > 0) process.stdout.write(`${plural(removed.failed, 'recording')} could not be deleted (the platform logged why); run this again to retry\n`);
    if (removed.recording_now > 0 && on) process.stdout.write(`${plural(removed.recording_now, 'call')} being recorded now: their recordings are kept unless recording is turned off\n`);
    if (removed.error !== undefined) process.stderr.write(`ttma recording: deleting stopped: ${removed.error.code}: ${removed.error.message}\n`);
  }
  return ok ? 0 : 1;
}

interface KeptRecordingsDeleted {
  deleted: number;
  failed: number;
  recording_now: number;
  /** Why the passes stopped before the platform had nothing left (a refusal, the gateway gone). */
  error?: { code: string; message: string };
}

/** Bounds the passes: the platform keeps at most 50,000 calls, 50 deleted a pass. */
const MAX_DELETE_PASSES = 2_000;

/**
 * Passes of DELETE /v1/local/recordings, each from where the last stopped,
 * until the platform has no more: each recording is tried once, so a run of
 * failures cannot hide the recordings after them, and `failed` is the total.
 */
async function deleteKeptRecordings(t: LocalTarget): Promise<KeptRecordingsDeleted> {
  const total: KeptRecordingsDeleted = { deleted: 0, failed: 0, recording_now: 0 };
  let from = 0;
  for (let pass = 1; pass <= MAX_DELETE_PASSES; pass++) {
    let answer: LocalAnswer;
    try {
      answer = await local(t, 'DELETE', from === 0 ? '/v1/local/recordings' : `/v1/local/recordings?from=${from}`, undefined, CALL_TIMEOUT_MS * 4);
    } catch (err) {
      return { ...total, error: { code: (err as TtmaError).code ?? ErrorCodes.PLATFORM, message: (err as Error).message } };
    }
    const { deleted, failed, more, recording_now: recordingNow, next_from: next } = answer.body;
    if (answer.status !== 200 || typeof deleted !== 'number' || typeof failed !== 'number' || typeof more !== 'boolean' || typeof recordingNow !== 'number') {
      return { ...total, error: refusal(answer) };
    }
    total.deleted += deleted;
    // From 0 again (a platform without next_from), a pass retries the earlier failures: its count replaces theirs.
    total.failed = from === 0 ? failed : total.failed + failed;
    total.recording_now = recordingNow;
    const failing = total.failed > 0 ? `, ${total.failed} failed` : '';
    process.stderr.write(`ttma recording: ${total.deleted} recording${total.deleted === 1 ? '' : 's'} deleted${failing}${more ? ', more to go' : ''}\n`);
    if (!more) return total;
    // A gateway or platform from before next_from: passes from 0 again, which only move on while they delete.
    if (typeof next === 'number' && Number.isInteger(next) && next > from) from = next;
    else if (deleted === 0) return { ...total, error: { code: ErrorCodes.PLATFORM, message: 'a pass deleted none and the platform did not say where to go on: more are kept' } };
  }
  return { ...total, error: { code: ErrorCodes.PLATFORM, message: `still more after ${MAX_DELETE_PASSES} passes` } };
}

/**
 * `ttma dashboard [--json]`: a one-time sign-in link to this deployment's
 * dashboard on the platform (its calls, recordings, minutes against its
 * caps, and its recording switch). The link works once, for a minute; the
 * agent secret itself never goes into a browser.
 */
export function runDashboardCommand(argv: string[]): Promise<number> {
  return answeringJson(hasFlag(argv, 'json'), () => dashboardCommand(argv));
}

async function dashboardCommand(argv: string[]): Promise<number> {
  const { values } = parse('dashboard', argv, DASHBOARD_FLAGS, 0);
  const t = target(values);
  const answer = await local(t, 'POST', '/v1/local/dashboard-link', {}, CALL_TIMEOUT_MS);
  const url = answer.body['url'];
  const expires = answer.body['expires_at'];
  if (answer.status !== 200 || typeof url !== 'string' || typeof expires !== 'string') {
    const error = refusal(answer);
    if (values.json) process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
    process.stderr.write(`ttma dashboard: refused: ${error.code}: ${error.message}\n`);
    return 1;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, url, expires_at: expires })}\n`);
    return 0;
  }
  process.stdout.write(`Open this link in a browser before ${clean(expires)} (it works once):\n${clean(url, 2048)}\n`);
  return 0;
}
