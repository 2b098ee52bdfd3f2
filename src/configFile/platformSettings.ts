/**
 * The settings of `ttma platform`: the config file's schema, every key with
 * its default, meaning, environment variable and flag. Same rules as the
 * gateway's (src/configFile/gatewaySettings.ts): flags > environment > file
 * > defaults, secrets only from files or systemd credentials.
 */
import { z } from 'zod';
import { envLayer, inlineSecretEnv, parseSettings, refuseInlineSecrets, sourceOf, type KeySpec, type Layers } from './layers.js';
import { readConfigFile } from './readConfigFile.js';
import { resolveSecretPath, type ResolvedSecret } from './secretFiles.js';
import { installUrlProblem } from '../wire/installUrl.js';
import { fetchBlockedPortProblem, fetchBlockedUrlProblem } from '../wire/fetchBlockedPorts.js';
import { DEFAULT_APPROVED_TUNNEL_DOMAINS, tunnelDomainProblem } from '../platform/tunnelDomains.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const platformSettingsSchema = z.strictObject({
  // Installers, gateways and doctor reach the platform with fetch, which never connects to these ports.
  port: z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .superRefine((value, ctx) => {
      const problem = fetchBlockedPortProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: `${problem}: gateways, doctor and installers could not reach the platform; choose another`, input: value });
    })
    .default(0),
  providerUrl: z.string().optional(),
  providerApiKeyFile: z.string().optional(),
  providerApiKeySecret: z.string().min(1).optional(),
  secretManagerUrl: z.string().default('https://secretmanager.googleapis.com'),
  providerApiKeyRefreshSec: z.number().int().min(60).max(86_400).default(3_600),
  webhookPublicKeyFile: z.string().optional(),
  adminTokenFile: z.string().optional(),
  connectionId: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'printable ASCII, 1 to 128 characters').default('ttma-connection'),
  deploymentFile: z.string().optional(),
  rateLimit: z.number().int().min(1).max(999_999).optional(),
  redisUrl: z.string().optional(),
  redisCluster: z.string().optional(),
  stateDir: z.string().min(1).optional(),
  recordingsDir: z.string().optional(),
  recordingOrigins: z.string().min(1).optional(),
  callRetentionDays: z.number().int().min(1).max(3_650).default(90),
  callRetentionMax: z.number().int().min(1).max(10_000_000).default(50_000),
  streamlessGraceSec: z.number().int().min(15).max(3_600).default(30),
  gatewayBundle: z.string().optional(),
  skillBundle: z.string().optional(),
  // The installer's own rule (src/wire/installUrl.ts): a URL it would refuse is refused here, before any token carries it.
  publicUrl: z
    .string()
    .superRefine((value, ctx) => {
      const problem = installUrlProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (installers refuse any other after spending the token)`, input: value });
      const blocked = problem ? null : fetchBlockedUrlProblem(value);
      if (blocked) ctx.addIssue({ code: 'custom', message: `${blocked}: installers could not reach it`, input: value });
    })
    .optional(),
  installRedisUrl: z.string().optional(),
  approvedTunnelDomains: z
    .array(
      z.string().superRefine((value, ctx) => {
        const problem = tunnelDomainProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
      }),
    )
    .min(1)
    .max(64)
    .default([...DEFAULT_APPROVED_TUNNEL_DOMAINS]),
  clientAddressHeader: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an HTTP header name (letters, digits, "-")').optional(),
  logLevel: z.enum(LOG_LEVELS).default('info'),
});

export type PlatformSettings = z.output<typeof platformSettingsSchema>;

const secret = (name: string, credential: string, inline: string[], inlineEnv: string[]) => ({ name, credential, inline, inlineEnv });

export const PLATFORM_KEYS: readonly KeySpec[] = [
  { key: 'port', type: 'int', default: '0 (a free port)', env: 'TTMA_PORT', flag: '--port', meaning: 'the platform\'s port on 127.0.0.1 (signalling, provider webhooks behind the tunnel, operator API)' },
  { key: 'providerUrl', type: 'string', default: '(required)', env: 'TTMA_PROVIDER_URL', flag: '--provider-url', meaning: 'the provider\'s Call Control API base URL, e.g. https://api.telnyx.com/v2' },
  { key: 'providerApiKeyFile', type: 'string', default: 'systemd credential provider-api-key (required unless providerApiKeySecret)', env: 'TTMA_PROVIDER_API_KEY_FILE', flag: '--provider-api-key-file', meaning: 'file holding the provider API key; only the platform holds it (FAQ-12)', secret: secret('providerApiKey', 'provider-api-key', ['providerApiKey'], ['TTMA_PROVIDER_API_KEY']) },
  { key: 'providerApiKeySecret', type: 'string', default: 'none (use providerApiKeyFile)', env: 'TTMA_PROVIDER_API_KEY_SECRET', flag: '--provider-api-key-secret', meaning: 'instead of providerApiKeyFile: the Google Cloud Secret Manager version holding the provider API key, projects/PROJECT/secrets/SECRET[/versions/N|latest] (latest when none); fetched at start with the VM service account\'s token from the metadata server (GCE_METADATA_HOST, else metadata.google.internal), CRC32C-checked, kept only in memory (FAQ-12, docs/platform.md)' },
  { key: 'secretManagerUrl', type: 'string', default: 'https://secretmanager.googleapis.com', env: 'TTMA_SECRET_MANAGER_URL', flag: '--secret-manager-url', meaning: 'with providerApiKeySecret: the Secret Manager API endpoint (a regional or private one); https only, plain http only to a loopback host' },
  { key: 'providerApiKeyRefreshSec', type: 'int', default: '3600', env: 'TTMA_PROVIDER_API_KEY_REFRESH_SEC', flag: '--provider-api-key-refresh-sec', meaning: 'with providerApiKeySecret: seconds (60 to 86400) between fetches of the secret; a new version is put in use at once (rotation), a failed fetch keeps the key in use and is retried after a minute' },
  { key: 'webhookPublicKeyFile', type: 'string', default: 'systemd credential webhook-public-key, else none', env: 'TTMA_WEBHOOK_PUBLIC_KEY_FILE', flag: '--webhook-public-key-file', meaning: 'file holding the provider\'s Ed25519 webhook public key (base64); without it webhooks are refused with 503 and install tokens cannot be minted', secret: secret('webhookPublicKey', 'webhook-public-key', ['webhookPublicKey'], ['TTMA_WEBHOOK_PUBLIC_KEY']) },
  { key: 'adminTokenFile', type: 'string', default: 'systemd credential admin-token, else none (operator API disabled, 503)', env: 'TTMA_ADMIN_TOKEN_FILE', flag: '--admin-token-file', meaning: 'file holding the operator API\'s bearer token (at least 16 characters)', secret: secret('adminToken', 'admin-token', ['adminToken'], ['TTMA_ADMIN_TOKEN']) },
  { key: 'connectionId', type: 'string', default: 'ttma-connection', env: 'TTMA_CONNECTION_ID', flag: '--connection-id', meaning: 'the provider connection (Call Control application) id used to dial' },
  { key: 'deploymentFile', type: 'string', default: 'systemd credential deployment, else none', flag: '--deployment-file', meaning: 'JSON {"id","numbers","tunnelHost","agentSecret"} registered at start (single-box setups); it holds a secret', secret: secret('deployment', 'deployment', [], []) },
  { key: 'rateLimit', type: 'int', default: '20 (burst 40)', env: 'TTMA_RATE_LIMIT', flag: '--rate-limit', meaning: 'signalling requests per second per deployment; the burst is twice this' },
  { key: 'redisUrl', type: 'string', default: 'none (embedded store)', env: 'REDIS_URL', flag: '--redis-url', meaning: 'redis://host:port for minute caps, deployments, call records and install tokens, shared by every platform process on it; without it, the embedded store (one box only, kept across restarts with stateDir)' },
  { key: 'redisCluster', type: 'string', default: 'none', env: 'TTMA_REDIS_CLUSTER', flag: '--redis-cluster', meaning: 'instead of redisUrl: a Redis Cluster\'s seed nodes, host:port,host:port (any of its masters; the client learns the rest), for the same data as redisUrl; not with redisUrl. No password or TLS on this path yet (docs/platform-storage.md)' },
  { key: 'stateDir', type: 'string', default: 'systemd\'s $STATE_DIRECTORY, else none (in memory)', env: 'TTMA_STATE_DIR', flag: '--state-dir', meaning: 'without redisUrl: the directory where the embedded store journals deployments, minutes used against the caps, live reservations, usage, call records and the install audit, so they survive a restart (one process per directory; sealed install tokens stay in memory); without it they are forgotten when the process stops' },
  { key: 'recordingsDir', type: 'string', default: 'none (URL kept, MP3 not downloaded)', env: 'TTMA_RECORDINGS_DIR', flag: '--recordings-dir', meaning: 'where recordings are stored, <dir>/<deployment>/<call>.mp3' },
  { key: 'recordingOrigins', type: 'string', default: 'the provider URL\'s origin; for api.telnyx.com also https://s3.amazonaws.com', env: 'TTMA_RECORDING_ORIGINS', flag: '--recording-origins', meaning: 'comma-separated origins (https://host[:port]) recordings may be downloaded and played from; the provider\'s recording URLs point at its storage' },
  { key: 'callRetentionDays', type: 'int', default: '90', env: 'TTMA_CALL_RETENTION_DAYS', flag: '--call-retention-days', meaning: 'with Redis: a call record expires this many days after its last change (docs/platform-storage.md)' },
  { key: 'callRetentionMax', type: 'int', default: '50000', env: 'TTMA_CALL_RETENTION_MAX', flag: '--call-retention-max', meaning: 'call records kept, newest first; older ones are deleted (in process: ended calls first)' },
  { key: 'streamlessGraceSec', type: 'int', default: '30', env: 'TTMA_STREAMLESS_GRACE_SEC', flag: '--streamless-grace-sec', meaning: 'an answered call whose media stream stopped and did not start again within this many seconds (15 to 3600) is ended by the platform: no gateway carries it (a gateway that crashed for good); longer than a gateway restart, docs/platform.md' },
  { key: 'gatewayBundle', type: 'string', default: 'none', flag: '--gateway-bundle', meaning: 'gateway .tar.gz served to installers (with skillBundle)' },
  { key: 'skillBundle', type: 'string', default: 'none', flag: '--skill-bundle', meaning: 'skill .tar.gz served to installers (with gatewayBundle)' },
  { key: 'publicUrl', type: 'string', default: 'http://127.0.0.1:<port>', env: 'TTMA_PUBLIC_URL', flag: '--public-url', meaning: 'the URL installers reach this platform at (written into install tokens); checked at start with the installer\'s rule: https with a lowercase host and a plain path (plain http only to a loopback host), no query, fragment or percent escapes. With the loopback default, minting warns: an installer on another machine cannot reach it' },
  { key: 'installRedisUrl', type: 'string', default: 'redisUrl', flag: '--install-redis-url', meaning: 'a separate Redis for install tokens' },
  { key: 'approvedTunnelDomains', type: 'list', default: DEFAULT_APPROVED_TUNNEL_DOMAINS.join(', '), env: 'TTMA_APPROVED_TUNNEL_DOMAINS', flag: '--approved-tunnel-domains', meaning: 'the domains a deployment\'s tunnel host must lie strictly below, by whole labels (a named tunnel on your own zone: add that zone); comma-separated in the flag and the variable. Each a lowercase DNS name of at least two labels, no wildcard or scheme, not a public suffix such as co.uk. Registration and the stream_url allowlist use this one list' },
  { key: 'clientAddressHeader', type: 'string', default: 'none (the socket address)', env: 'TTMA_CLIENT_ADDRESS_HEADER', flag: '--client-address-header', meaning: 'the request header in which the tunnel or reverse proxy on this machine passes the client address (cf-connecting-ip for cloudflared; x-forwarded-for for nginx, right-most entry), trusted only from a loopback peer; install-token redemption keys its rate limit and audit address on it. Without it every installer behind the proxy shares one rate-limit bucket' },
  { key: 'logLevel', type: 'string', default: 'info', env: 'TTMA_LOG_LEVEL', meaning: 'log level: fatal, error, warn, info, debug, trace or silent' },
];

export type PlatformFlagInput = Record<string, string | boolean | undefined>;

export interface LoadedPlatformSettings {
  settings: PlatformSettings;
  layers: Layers;
  secrets: Record<'providerApiKey' | 'webhookPublicKey' | 'adminToken' | 'deployment', ResolvedSecret & { key: string }>;
  ignoredSecretEnv: string[];
  sourceOf(key: string): string;
}

/** Flags (already checked by the CLI) > environment > `--config` / TTMA_CONFIG > defaults. Reads no secret. */
export function loadPlatformSettings(flags: Map<string, { value: unknown; name: string }>, configPath: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedPlatformSettings {
  const filePath = configPath ?? (env['TTMA_CONFIG'] || null);
  const file = filePath ? readConfigFile(filePath) : null;
  if (file && filePath) refuseInlineSecrets(file, PLATFORM_KEYS, filePath);
  const layers: Layers = { file, filePath, env: envLayer(PLATFORM_KEYS, env), flags };
  const settings = parseSettings(platformSettingsSchema, layers, PLATFORM_KEYS);
  const resolve = (key: keyof PlatformSettings) => {
    const spec = PLATFORM_KEYS.find((s) => s.key === key)!;
    return { key, ...resolveSecretPath(key, spec.secret!, settings[key] as string | undefined, sourceOf(layers, key), env) };
  };
  return {
    settings,
    layers,
    secrets: {
      providerApiKey: resolve('providerApiKeyFile'),
      webhookPublicKey: resolve('webhookPublicKeyFile'),
      adminToken: resolve('adminTokenFile'),
      deployment: resolve('deploymentFile'),
    },
    ignoredSecretEnv: inlineSecretEnv(PLATFORM_KEYS, env),
    sourceOf: (key) => sourceOf(layers, key),
  };
}

/** A flag layer from parseArgs values, by the keys' flag names. */
export function platformFlagLayer(values: PlatformFlagInput, converted: Partial<Record<string, unknown>>): Map<string, { value: unknown; name: string }> {
  const out = new Map<string, { value: unknown; name: string }>();
  for (const spec of PLATFORM_KEYS) {
    if (!spec.flag) continue;
    const raw = values[spec.flag.slice(2)];
    if (raw === undefined) continue;
    out.set(spec.key, { value: spec.key in converted ? converted[spec.key] : raw, name: spec.flag });
  }
  return out;
}
