/**
 * `ttma platform`: starts the control plane on 127.0.0.1.
 *
 *   ttma platform [--port N] --provider-url URL (--provider-api-key-file F | --provider-api-key-secret NAME)
 *                 [--webhook-public-key-file F] [--admin-token-file F]
 *                 [--connection-id ID] [--deployment-file F] [--rate-limit N]
 *                 [--redis-url redis://HOST:PORT | --redis-cluster HOST:PORT,... | --state-dir DIR] [--recordings-dir DIR]
 *                 [--gateway-bundle F --skill-bundle F] [--public-url URL] [--install-redis-url URL]
 *                 [--client-address-header NAME] [--approved-tunnel-domains DOMAIN,DOMAIN]
 *                 [--config FILE] [--print-config]
 *
 * Every flag overrides a key of the config file (src/configFile/platformSettings.ts,
 * docs/configuration.md): flags > environment > config file > defaults.
 *
 * Minute caps, deployments and call records live in Redis when --redis-url (or REDIS_URL) is given, else in
 * the embedded in-process store (single box, `ttma demo`), journaled to --state-dir (or systemd's
 * $STATE_DIRECTORY) so they outlive the process.
 *
 * The provider API key comes from a file or, with --provider-api-key-secret, from
 * Google Cloud Secret Manager (src/platform/vault/, FAQ-12): exactly one of them.
 * Secrets come only from files or the vault (never argv, which other users can read in
 * the process list). Prints one JSON ready line to stdout; logs go to stderr.
 * SIGINT/SIGTERM stop the server and the returned promise resolves.
 */
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadPlatformSettings, platformFlagLayer, PLATFORM_KEYS, type LoadedPlatformSettings } from '../configFile/platformSettings.js';
import { printableConfig } from '../configFile/printConfig.js';
import { PLATFORM_FLAGS } from '../cli/commandFlags.js';
import { secretFileModeProblem } from '../configFile/secretFileMode.js';
import { readSecret } from '../configFile/secretFiles.js';
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { RedisInstallTokenStore } from './installTokens/RedisInstallTokenStore.js';
import { PlatformServer } from './PlatformServer.js';
import { StateJournal } from './store/StateJournal.js';
import { DEFAULT_METADATA_HOST, secretManagerTarget } from './vault/secretManager.js';
import { vaultProviderKey, type VaultSettings } from './vault/vaultProviderKey.js';
import { clusterAddress } from './store/redisClient.js';
import type { RegisterDeploymentInput } from './DeploymentRegistry.js';

const USAGE =
  'usage: ttma platform [--port N] --provider-url URL (--provider-api-key-file FILE | --provider-api-key-secret projects/P/secrets/S[/versions/V]) ' +
  '[--secret-manager-url URL] [--provider-api-key-refresh-sec N] ' +
  '[--webhook-public-key-file FILE] [--admin-token-file FILE] [--connection-id ID] [--deployment-file FILE] [--rate-limit N] ' +
  '[--redis-url redis://HOST:PORT | --redis-cluster HOST:PORT,HOST:PORT | --state-dir DIR] [--call-retention-days N] [--call-retention-max N] [--streamless-grace-sec N] [--recordings-dir DIR] [--recording-origins URL,URL] ' +
  '[--gateway-bundle FILE --skill-bundle FILE] [--public-url URL] [--install-redis-url URL] [--client-address-header NAME] [--approved-tunnel-domains DOMAIN,DOMAIN] [--config FILE] [--print-config]';
/** Bundles are read whole into memory and served from there. */
const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;
/** Secret and config files are small; a huge one is a mistake. */
const MAX_FILE_BYTES = 64 * 1024;

export async function runPlatformCommand(argv: string[]): Promise<void> {
  const { args, loaded, printConfig } = parseCommandLine(argv);
  if (printConfig) {
    process.stdout.write(printableConfig('platform', redactUrls(loaded.settings), PLATFORM_KEYS, loaded.sourceOf, readAllSecrets(loaded)));
    return;
  }
  // The log level of the file reaches every logger through the one variable they read.
  if (loaded.sourceOf('logLevel').startsWith('file')) process.env['TTMA_LOG_LEVEL'] = loaded.settings.logLevel;
  const log = createLogger('platform');
  if (loaded.ignoredSecretEnv.length > 0) {
    log.warn({ ignored: loaded.ignoredSecretEnv }, 'secret values in the environment are ignored: secrets are read only from files (the *File keys) or systemd credentials');
  }

  const vault = args.vault ? await vaultProviderKey(args.vault, log) : null;
  const providerApiKey = vault ? vault.key : await readSecretFile(args.providerApiKeyFile!, '--provider-api-key-file', log);
  const webhookPublicKey = args.webhookPublicKeyFile
    ? await readSecretFile(args.webhookPublicKeyFile, '--webhook-public-key-file', log, false)
    : null;
  const adminToken = args.adminTokenFile ? await readSecretFile(args.adminTokenFile, '--admin-token-file', log) : null;
  const deployment = args.deploymentFile ? await readDeploymentFile(args.deploymentFile, log) : null;
  const readBundle = async (path: string | undefined, flag: string) => {
    if (!path) return null;
    const info = await stat(path).catch(() => null);
    if (!info?.isFile() || info.size > MAX_BUNDLE_BYTES) throw new TtmaError(ErrorCodes.CONFIG, `${flag}: ${path} is not a regular file of at most ${MAX_BUNDLE_BYTES} bytes`);
    return readFile(path);
  };
  const install = {
    gatewayBundle: await readBundle(args.gatewayBundle, '--gateway-bundle'),
    skillBundle: await readBundle(args.skillBundle, '--skill-bundle'),
    ...(args.publicUrl ? { publicUrl: args.publicUrl } : {}),
    ...(args.clientAddressHeader ? { clientAddressHeader: args.clientAddressHeader } : {}),
    // Install tokens live in the same Redis as the caps unless told otherwise.
    ...((args.installRedisUrl ?? args.redisUrl) ? { store: new RedisInstallTokenStore({ url: (args.installRedisUrl ?? args.redisUrl)! }) } : {}),
  };

  const journal = await openStateJournal(args, log);
  const server = new PlatformServer({
    providerBaseUrl: args.providerUrl,
    providerApiKey,
    connectionId: args.connectionId,
    webhookPublicKeyBase64: webhookPublicKey,
    adminToken,
    port: args.port,
    logger: log,
    install,
    ...(args.rateLimit ? { rateLimit: { ratePerSec: args.rateLimit, burst: 2 * args.rateLimit } } : {}),
    redisUrl: args.redisUrl ?? null,
    ...(journal ? { stateJournal: journal } : {}),
    recordingsDir: args.recordingsDir ?? null,
    approvedTunnelDomains: args.approvedTunnelDomains,
    ...(args.recordingOrigins ? { recordingOrigins: args.recordingOrigins } : {}),
    callRetention: { days: args.callRetentionDays, maxCalls: args.callRetentionMax },
    streamlessGraceMs: args.streamlessGraceSec * 1000,
  });
  const store = args.redisUrl ? 'redis' : journal ? 'embedded, journaled' : 'embedded, in memory';
  log.info({ store, ...(journal ? { stateFile: journal.path } : {}), recordings: args.recordingsDir ? 'stored' : 'url only' }, 'stores (caps, deployments, call records) and recordings');
  if (deployment) {
    // With Redis the deployment may be there from the last run: the file's settings and secret are applied to it.
    try {
      const outcome = await server.deployments.ensure(deployment);
      log.info({ deployment: deployment.id, numbers: deployment.numbers.length, outcome }, 'deployment from --deployment-file applied');
    } catch (cause) {
      if (!isTtmaError(cause, ErrorCodes.STORE_UNAVAILABLE)) {
        const why = cause instanceof Error ? cause.message : String(cause);
        throw new TtmaError(ErrorCodes.CONFIG, `--deployment-file: ${why}`, 500, { cause });
      }
      // Starts degraded like the cap store does; the deployment kept in Redis from the last run still serves.
      log.warn({ deployment: deployment.id, code: ErrorCodes.STORE_UNAVAILABLE }, '--deployment-file not applied: the store is unreachable');
    }
  }

  const { port } = await server.start();
  const refresher = vault?.refresher((key) => server.rotateProviderApiKey(key));
  refresher?.start();
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      log.info({ signal }, 'stopping');
      refresher?.stop();
      void server.stop().then(resolve, resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.stdout.write(`${JSON.stringify({ event: 'ready', component: 'platform', port })}\n`);
  });
  await install.store?.close();
  await journal?.close();
  log.info('stopped');
}

/**
 * The embedded store's journal when there is no Redis: --state-dir, else the
 * directory systemd made for the unit (StateDirectory= sets $STATE_DIRECTORY).
 */
async function openStateJournal(args: PlatformArgs, log: Logger): Promise<StateJournal | undefined> {
  if (args.redisUrl) {
    if (args.stateDir) log.warn({ stateDir: args.stateDir }, '--state-dir ignored: with --redis-url every store is in Redis');
    return undefined;
  }
  const dir = args.stateDir ?? process.env['STATE_DIRECTORY']?.split(':')[0];
  if (!dir) {
    log.warn('embedded store in memory only: deployments, minutes used against the caps, call records and the install audit are forgotten when this process stops (give --state-dir or --redis-url)');
    return undefined;
  }
  return StateJournal.open(dir);
}

interface PlatformArgs {
  port: number;
  providerUrl: string;
  /** Exactly one of these two. */
  providerApiKeyFile: string | undefined;
  vault: VaultSettings | undefined;
  webhookPublicKeyFile: string | undefined;
  adminTokenFile: string | undefined;
  connectionId: string;
  deploymentFile: string | undefined;
  /** Signalling requests per second per deployment (burst: twice that). */
  rateLimit: number | undefined;
  redisUrl: string | undefined;
  stateDir: string | undefined;
  recordingsDir: string | undefined;
  /** Checked by PlatformServer (checkRecordingOrigins). */
  recordingOrigins: string[] | undefined;
  callRetentionDays: number;
  callRetentionMax: number;
  streamlessGraceSec: number;
  gatewayBundle: string | undefined;
  skillBundle: string | undefined;
  publicUrl: string | undefined;
  installRedisUrl: string | undefined;
  clientAddressHeader: string | undefined;
  approvedTunnelDomains: string[];
}

/** Usage errors carry status 2: src/cli/ttma.ts exits with 2 for them. */
function parseCommandLine(argv: string[]): { args: PlatformArgs; loaded: LoadedPlatformSettings; printConfig: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: PLATFORM_FLAGS,
    }));
  } catch (cause) {
    // A stray positional may be a secret pasted on the command line: do not echo it.
    const positional = (cause as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL';
    const why = positional
      ? 'positional arguments are not accepted (secrets go in files: --provider-api-key-file)'
      : cause instanceof Error
        ? cause.message
        : String(cause);
    throw new TtmaError(ErrorCodes.CLI_USAGE, `${why}\n${USAGE}`, 2);
  }
  const portText = values.port;
  if (portText !== undefined && (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535)) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `--port must be a number from 0 to 65535\n${USAGE}`, 2);
  }
  const rateText = values['rate-limit'];
  if (rateText !== undefined && (!/^\d{1,6}$/.test(rateText) || Number(rateText) < 1)) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `--rate-limit must be a whole number of requests per second, at least 1\n${USAGE}`, 2);
  }
  const converted = {
    ...(portText !== undefined ? { port: Number(portText) } : {}),
    ...(rateText !== undefined ? { rateLimit: Number(rateText) } : {}),
    // Whole numbers become numbers; anything else goes to the schema as text and is refused there, named.
    ...wholeNumber('callRetentionDays', values['call-retention-days']),
    ...wholeNumber('callRetentionMax', values['call-retention-max']),
    ...wholeNumber('streamlessGraceSec', values['streamless-grace-sec']),
    ...wholeNumber('providerApiKeyRefreshSec', values['provider-api-key-refresh-sec']),
    ...commaList('approvedTunnelDomains', values['approved-tunnel-domains']),
  };
  // Flags > environment (REDIS_URL, TTMA_*) > config file > defaults; every bad key reported at once.
  const loaded = loadPlatformSettings(platformFlagLayer(values, converted), values.config);
  const s = loaded.settings;
  if (!s.providerUrl) throw new TtmaError(ErrorCodes.CLI_USAGE, `--provider-url is required (or providerUrl in the config file, TTMA_PROVIDER_URL)\n${USAGE}`, 2);
  const keyFile = loaded.secrets.providerApiKey.path;
  const secretName = s.providerApiKeySecret;
  if (keyFile && secretName) {
    // Two sources for one key: which one is meant is a guess we do not make.
    throw new TtmaError(
      ErrorCodes.CLI_USAGE,
      `the provider API key has two sources: a file (${loaded.secrets.providerApiKey.origin}) and Secret Manager (providerApiKeySecret, ${loaded.sourceOf('providerApiKeySecret')}); give exactly one\n${USAGE}`,
      2,
    );
  }
  if (!keyFile && !secretName) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `--provider-api-key-file is required (or providerApiKeyFile in the config file, TTMA_PROVIDER_API_KEY_FILE, the systemd credential provider-api-key), or instead --provider-api-key-secret for Secret Manager (providerApiKeySecret, TTMA_PROVIDER_API_KEY_SECRET)\n${USAGE}`, 2);
  }
  // GCE_METADATA_HOST: the name Google's client libraries read for another metadata server (docs/platform.md).
  const vault = secretName
    ? { target: secretManagerTarget(secretName, s.secretManagerUrl, process.env['GCE_METADATA_HOST'] || DEFAULT_METADATA_HOST), refreshSec: s.providerApiKeyRefreshSec }
    : undefined;
  const args: PlatformArgs = {
    port: s.port,
    rateLimit: s.rateLimit,
    providerUrl: s.providerUrl,
    providerApiKeyFile: keyFile ?? undefined,
    vault,
    webhookPublicKeyFile: loaded.secrets.webhookPublicKey.path ?? undefined,
    adminTokenFile: loaded.secrets.adminToken.path ?? undefined,
    connectionId: s.connectionId,
    deploymentFile: loaded.secrets.deployment.path ?? undefined,
    redisUrl: redisAddress(s.redisUrl, s.redisCluster),
    stateDir: s.stateDir,
    recordingsDir: s.recordingsDir,
    recordingOrigins: s.recordingOrigins?.split(',').map((o) => o.trim()).filter((o) => o.length > 0),
    callRetentionDays: s.callRetentionDays,
    callRetentionMax: s.callRetentionMax,
    streamlessGraceSec: s.streamlessGraceSec,
    gatewayBundle: s.gatewayBundle,
    skillBundle: s.skillBundle,
    publicUrl: s.publicUrl,
    installRedisUrl: s.installRedisUrl,
    clientAddressHeader: s.clientAddressHeader,
    approvedTunnelDomains: s.approvedTunnelDomains,
  };
  return { args, loaded, printConfig: values['print-config'] === true };
}

/** The one Redis the stores use: a URL, or a cluster's seeds as the address the stores take; never both. */
function redisAddress(url: string | undefined, cluster: string | undefined): string | undefined {
  if (url && cluster) throw new TtmaError(ErrorCodes.CONFIG, 'give redisUrl (--redis-url, REDIS_URL) or redisCluster (--redis-cluster, TTMA_REDIS_CLUSTER), not both');
  return cluster ? clusterAddress(cluster) : url;
}

function wholeNumber(key: string, text: string | undefined): Record<string, number> {
  return text !== undefined && /^\d{1,9}$/.test(text) ? { [key]: Number(text) } : {};
}

/** A comma-separated flag as the list the schema checks entry by entry. */
function commaList(key: string, text: string | undefined): Record<string, string[]> {
  return text !== undefined ? { [key]: text.split(',').map((s) => s.trim()).filter((s) => s.length > 0) } : {};
}

/** --print-config reads every configured secret (so a missing file fails here too) and prints none. */
function readAllSecrets(loaded: LoadedPlatformSettings) {
  return Object.fromEntries(
    Object.entries(loaded.secrets).map(([name, r]) => [name, { ...r, value: r.path ? readSecret(r.key, r) : null }]),
  );
}

/** A Redis URL may carry a password (redis://:pw@host): printed without it. */
function redactUrls(settings: LoadedPlatformSettings['settings']): Record<string, unknown> {
  const out: Record<string, unknown> = { ...settings };
  for (const key of ['redisUrl', 'installRedisUrl'] as const) {
    const raw = settings[key];
    if (!raw) continue;
    try {
      const url = new URL(raw);
      if (url.password) url.password = 'redacted';
      out[key] = url.toString();
    } catch {
      out[key] = '[not a URL]';
    }
  }
  return out;
}

async function readSmallFile(path: string, flag: string): Promise<string> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
    return await readFile(path, 'utf8');
  } catch (cause) {
    const why = cause instanceof Error ? cause.message.replace(/^[A-Z]+: /, '') : String(cause);
    throw new TtmaError(ErrorCodes.CONFIG, `${flag}: cannot read ${path}: ${why}`, 500, { cause });
  }
}

/** Reads a secret (trimmed); warns when others may read the file. */
async function readSecretFile(
  path: string,
  flag: string,
  log: ReturnType<typeof createLogger>,
  secret = true,
): Promise<string> {
  const text = (await readSmallFile(path, flag)).trim();
  if (text.length === 0) throw new TtmaError(ErrorCodes.CONFIG, `${flag}: ${path} is empty`);
  // The rule the gateway refuses to start on (secretFileMode.ts); the platform only warns.
  const problem = secret ? secretFileModeProblem(path, process.env) : null;
  if (problem) log.warn({ file: path, flag }, `secret file is ${problem}: chmod 600 it`);
  return text;
}

async function readDeploymentFile(
  path: string,
  log: ReturnType<typeof createLogger>,
): Promise<RegisterDeploymentInput & { agentSecret: string }> {
  const text = await readSecretFile(path, '--deployment-file', log);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TtmaError(ErrorCodes.CONFIG, `--deployment-file: ${path} is not valid JSON`);
  }
  const obj = parsed as Record<string, unknown> | null;
  if (
    !obj ||
    typeof obj !== 'object' ||
    typeof obj['id'] !== 'string' ||
    !Array.isArray(obj['numbers']) ||
    typeof obj['tunnelHost'] !== 'string' ||
    typeof obj['agentSecret'] !== 'string'
  ) {
    throw new TtmaError(
      ErrorCodes.CONFIG,
      `--deployment-file: ${path} must be JSON {"id","numbers":[...],"tunnelHost","agentSecret"} (optional "caps","recording","dialPolicy")`,
    );
  }
  // Optional settings pass through; register() validates them like the operator API does.
  const optional = Object.fromEntries(['caps', 'recording', 'dialPolicy'].filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
  return {
    id: obj['id'],
    numbers: obj['numbers'] as string[],
    tunnelHost: obj['tunnelHost'],
    agentSecret: obj['agentSecret'],
    ...(optional as Pick<RegisterDeploymentInput, 'caps' | 'recording' | 'dialPolicy'>),
  };
}
