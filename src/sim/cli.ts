/**
 * `ttma sim [--port N] [--api-key-file F] [--signing-key-file F]
 *           [--webhook-url URL ...] [--tunnel host=ws://127.0.0.1:PORT ...]
 *           [--sign-with tweetnacl|node] [--audio-source live|bank]
 *           [--on-stream-failure hangup|continue] [--recording-url-ttl SECONDS]`
 * `ttma sim --write-signing-key FILE`
 *
 * --sign-with node signs webhooks with node's crypto (about 50 us a signature
 * instead of tweetnacl's 9 ms) and --audio-source bank plays pre-synthesised
 * speech: both keep the simulator's own CPU out of load measurements.
 * --recording-url-ttl sets how long a recording's pre-signed download URL
 * works (default 600 s, as Telnyx's): short, to see a platform renew one.
 *
 * Prints one ready line to stdout, logs to stderr, stops cleanly on
 * SIGINT/SIGTERM. The API key comes from --api-key-file or TTMA_SIM_API_KEY;
 * without --signing-key-file a fresh key pair is generated (its public key is
 * in the ready line). `--write-signing-key FILE` writes a new key pair for
 * --signing-key-file (FILE, 0600) and the platform's and gateway's
 * --webhook-public-key-file (FILE.pub), refusing to overwrite, and exits.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import nacl from 'tweetnacl';
import { SIM_FLAGS, SIM_WRITE_KEY_FLAGS } from '../cli/commandFlags.js';
import { ErrorCodes, TtmaError } from '../errors.js';
import { createLogger } from '../log.js';
import { ProviderSimulator } from './ProviderSimulator.js';
import { parseSigningKey, writeSigningKeyFiles } from './signingKeyFile.js';

export const SIM_USAGE =
  'usage: ttma sim [--port N] [--api-key-file FILE] [--signing-key-file FILE] ' +
  '[--webhook-url URL ...] [--tunnel HOST=ws://127.0.0.1:PORT ...] [--sign-with tweetnacl|node] [--audio-source live|bank] ' +
  '[--on-stream-failure hangup|continue] [--recording-url-ttl SECONDS]\n' +
  '       ttma sim --write-signing-key FILE   (writes a new key pair: FILE, 0600, and FILE.pub; never overwrites)';

/** The longest --recording-url-ttl: a week (pre-signed storage URLs go no further). */
const MAX_RECORDING_URL_TTL_S = 604_800;

export interface SimCliConfig {
  port: number;
  apiKey: string;
  signingSecretKey: Uint8Array;
  generatedKey: boolean;
  webhookUrls: string[];
  tunnels: Record<string, string>;
  signWith: 'tweetnacl' | 'node';
  audioSource: 'live' | 'bank';
  /** What a media stream that cannot connect does to its call (ProviderSimulatorOptions.onStreamFailure). */
  onStreamFailure: 'hangup' | 'continue';
  /** How long a recording's download URL works (ProviderSimulatorOptions.recordingUrlTtlMs); undefined: the simulator's default. */
  recordingUrlTtlMs: number | undefined;
}

/** Parses argv (after `sim`) and reads the key files. Throws TTMA_ERR_CLI_USAGE / TTMA_ERR_CONFIG. */
export async function parseSimArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<SimCliConfig> {
  let values: {
    port?: string | undefined;
    'api-key-file'?: string | undefined;
    'signing-key-file'?: string | undefined;
    'webhook-url'?: string[] | undefined;
    tunnel?: string[] | undefined;
    'sign-with'?: string | undefined;
    'audio-source'?: string | undefined;
    'on-stream-failure'?: string | undefined;
    'recording-url-ttl'?: string | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: SIM_FLAGS,
    }));
  } catch (err) {
    // node's message names the offending flag ("Unknown option '--foo'").
    throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: ${(err as Error).message}\n${SIM_USAGE}`, 2, { cause: err });
  }

  let port = 0;
  if (values.port !== undefined) {
    if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) {
      throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: --port must be a number from 0 to 65535, got "${values.port}"`, 2);
    }
    port = Number(values.port);
  }

  let apiKey: string;
  const keyFile = values['api-key-file'];
  if (keyFile !== undefined) {
    apiKey = (await readTextFile(keyFile, '--api-key-file')).trim();
    if (apiKey.length === 0) throw new TtmaError(ErrorCodes.CONFIG, `ttma sim: the API key file ${keyFile} is empty`);
  } else if (env.TTMA_SIM_API_KEY && env.TTMA_SIM_API_KEY.trim().length > 0) {
    apiKey = env.TTMA_SIM_API_KEY.trim();
  } else {
    throw new TtmaError(
      ErrorCodes.CLI_USAGE,
      'ttma sim: no API key: pass --api-key-file FILE (a file holding the key) or set TTMA_SIM_API_KEY',
      2,
    );
  }

  let signingSecretKey: Uint8Array;
  let generatedKey = false;
  const signingFile = values['signing-key-file'];
  if (signingFile !== undefined) {
    signingSecretKey = parseSigningKey(await readTextFile(signingFile, '--signing-key-file'), signingFile);
  } else {
    signingSecretKey = nacl.sign.keyPair().secretKey;
    generatedKey = true;
  }

  const tunnels: Record<string, string> = {};
  for (const spec of values.tunnel ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) {
      throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: --tunnel wants HOST=ws://127.0.0.1:PORT, got "${spec}"`, 2);
    }
    tunnels[spec.slice(0, eq)] = spec.slice(eq + 1);
  }

  const signWith = values['sign-with'] ?? 'tweetnacl';
  if (signWith !== 'tweetnacl' && signWith !== 'node') {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: --sign-with must be tweetnacl or node, got "${signWith}"`, 2);
  }
  const audioSource = values['audio-source'] ?? 'live';
  if (audioSource !== 'live' && audioSource !== 'bank') {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: --audio-source must be live or bank, got "${audioSource}"`, 2);
  }

  const onStreamFailure = values['on-stream-failure'] ?? 'hangup';
  if (onStreamFailure !== 'hangup' && onStreamFailure !== 'continue') {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: --on-stream-failure must be hangup or continue, got "${onStreamFailure}"`, 2);
  }

  let recordingUrlTtlMs: number | undefined;
  const ttl = values['recording-url-ttl'];
  if (ttl !== undefined) {
    if (!/^\d{1,6}$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > MAX_RECORDING_URL_TTL_S) {
      throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: --recording-url-ttl must be a whole number of seconds from 1 to ${MAX_RECORDING_URL_TTL_S}, got "${ttl}"`, 2);
    }
    recordingUrlTtlMs = Number(ttl) * 1000;
  }

  return { port, apiKey, signingSecretKey, generatedKey, webhookUrls: values['webhook-url'] ?? [], tunnels, signWith, audioSource, onStreamFailure, recordingUrlTtlMs };
}

/** Runs the simulator until SIGINT/SIGTERM; resolves once it has stopped cleanly. With --write-signing-key, writes the key files and returns. */
export async function runSimCommand(argv: string[]): Promise<void> {
  if (argv.some((a) => a === '--write-signing-key' || a.startsWith('--write-signing-key='))) {
    await writeSigningKeyCommand(argv);
    return;
  }
  const config = await parseSimArgs(argv);
  const logger = createLogger('sim');
  const sim = new ProviderSimulator({
    apiKey: config.apiKey,
    signingSecretKey: config.signingSecretKey,
    webhookUrls: config.webhookUrls,
    tunnels: config.tunnels,
    port: config.port,
    signWith: config.signWith,
    audioSource: config.audioSource,
    onStreamFailure: config.onStreamFailure,
    ...(config.recordingUrlTtlMs !== undefined ? { recordingUrlTtlMs: config.recordingUrlTtlMs } : {}),
    logger,
  });
  const { port } = await sim.start();
  if (config.generatedKey) logger.info('no --signing-key-file: generated a fresh Ed25519 key pair for this run');
  process.stdout.write(`${JSON.stringify({ event: 'ready', component: 'sim', port, publicKey: sim.publicKeyBase64 })}\n`);

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      logger.info({ signal }, 'stopping');
      sim.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'simulator did not stop cleanly');
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  process.exitCode = 0;
}

/** `ttma sim --write-signing-key FILE`: alone, since it starts no simulator. Prints one JSON line. */
async function writeSigningKeyCommand(argv: string[]): Promise<void> {
  let file: string | undefined;
  try {
    ({ values: { 'write-signing-key': file } } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: SIM_WRITE_KEY_FLAGS }));
  } catch (err) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: --write-signing-key FILE takes no other flag (${(err as Error).message})\n${SIM_USAGE}`, 2, { cause: err });
  }
  if (!file) throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma sim: --write-signing-key needs a file name\n${SIM_USAGE}`, 2);
  const written = await writeSigningKeyFiles(file);
  process.stdout.write(`${JSON.stringify({ event: 'signing-key-written', file: written.file, publicKeyFile: written.publicKeyFile, publicKey: written.publicKeyBase64 })}\n`);
}

async function readTextFile(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new TtmaError(ErrorCodes.CONFIG, `ttma sim: cannot read ${flag} ${path} (${code})`, 500, { cause: err });
  }
}
