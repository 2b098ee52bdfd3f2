/**
 * A whole system on loopback, in this process: the provider simulator, the
 * platform and a gateway with real worker threads. Every part is the real one.
 */
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { freePorts } from '../../src/cli/processes.js';
import { defaultGatewayConfig, type GatewayConfig } from '../../src/config.js';
import { Gateway } from '../../src/Gateway.js';
import { createLogger, type Logger } from '../../src/log.js';
import { PlatformServer, type PlatformServerOptions } from '../../src/platform/PlatformServer.js';
import { ProviderSimulator, type ProviderSimulatorOptions } from '../../src/sim/ProviderSimulator.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { byteForms, credentialStrings, suiteLog } from './suiteLogs.js';

export const NUMBER = '+15550100000';
export const TUNNEL_HOST = 'test-gateway.trycloudflare.com';

export interface Stack {
  sim: ProviderSimulator;
  /** The platform the simulator sends its webhooks to (and the gateway's, unless `gatewayOnSecondPlatform`). */
  platform: PlatformServer;
  /** The platform the gateway talks to: `platform`, or the second process. */
  gatewayPlatform: PlatformServer;
  gateway: Gateway;
  ports: { sim: number; platform: number; tunnel: number; local: number };
  publicKeyBase64: string;
  secretKey: Uint8Array;
  /** The provider API key (sim and platform) and the deployment's agent secret (gateway and platform). */
  apiKey: string;
  agentSecret: string;
  /** Where the stack's parts log (silent unless TTMA_TEST_LOG_DIR is set): for a second gateway started by a test. */
  logger: Logger;
  /** What the platform was built with: a test restarts it with these (on the same port and store). */
  platformOptions: PlatformServerOptions;
  stop(): Promise<void>;
}

export async function startStack(
  overrides: Partial<GatewayConfig> = {},
  options: {
    webhookKey?: boolean;
    signWith?: 'tweetnacl' | 'node';
    platform?: Partial<PlatformServerOptions>;
    logger?: Logger;
    /**
     * Where the simulator sends its webhooks: the platform and the gateway's tunnel (default, as
     * when each has its own URL), or the platform alone, which relays them to the gateway over
     * its control connection (a real provider connection has one webhook URL).
     */
    webhooksTo?: 'both' | 'platform';
    /** Simulator behaviour to vary (what a failed stream does to its call). */
    sim?: Pick<ProviderSimulatorOptions, 'onStreamFailure' | 'ringMs' | 'apiRateLimit' | 'answerTimeoutMs' | 'webhookAttempts' | 'webhookBackoffMs' | 'recordingUrlTtlMs' | 'detailRecordDelayMs' | 'outboundTalkMs'>;
    /** Each webhook reaches the platform this much later than the gateway (the simulator's webhookDelayMs). */
    platformWebhookDelayMs?: number;
    /**
     * A second platform process with the same options (give `platform.redisUrl`: they share one store),
     * which the gateway talks to (signalling and control connection); the simulator still sends its
     * webhooks to the first only.
     */
    gatewayOnSecondPlatform?: boolean;
  } = {},
): Promise<Stack> {
  const [simPort, platformPort, tunnelPort, localPort, secondPort] = (await freePorts(5)) as [number, number, number, number, number];
  const keys = nacl.sign.keyPair();
  const publicKeyBase64 = Buffer.from(keys.publicKey).toString('base64');
  const apiKey = randomBytes(24).toString('base64url');
  const agentSecret = randomBytes(32).toString('base64url');
  // Under `npm run test:logscan` every stack logs at trace for the secret scan; otherwise silent.
  const captured = options.logger ? undefined : suiteLog('stack');
  const logger = options.logger ?? captured?.logger ?? createLogger('test', 'silent');
  const sim = new ProviderSimulator({
    apiKey,
    signingSecretKey: keys.secretKey,
    port: simPort,
    webhookUrls: [
      `http://127.0.0.1:${platformPort}/v1/provider/webhooks`,
      ...(options.webhooksTo === 'platform' ? [] : [`http://127.0.0.1:${tunnelPort}/v1/webhooks/provider`]),
    ],
    ...(options.platformWebhookDelayMs ? { webhookDelayMs: { [`http://127.0.0.1:${platformPort}/v1/provider/webhooks`]: options.platformWebhookDelayMs } } : {}),
    tunnels: { [TUNNEL_HOST]: `ws://127.0.0.1:${tunnelPort}` },
    answerTimeoutMs: 2_000,
    signWith: options.signWith ?? 'tweetnacl',
    logger,
    ...options.sim,
  });
  await sim.start();
  const placed: SimCall[] = [];
  if (captured) {
    const place = sim.placeInboundCall.bind(sim);
    sim.placeInboundCall = (callOptions) => {
      const call = place(callOptions);
      placed.push(call);
      return call;
    };
  }
  const platformOptions: PlatformServerOptions = {
    providerBaseUrl: `http://127.0.0.1:${simPort}`,
    providerApiKey: apiKey,
    connectionId: 'test-connection',
    webhookPublicKeyBase64: publicKeyBase64,
    adminToken: null,
    port: platformPort,
    logger,
    // The simulator's second URL stands in for the relay unless it sends to the platform alone.
    relayWebhooks: options.webhooksTo === 'platform',
    ...options.platform,
  };
  const platform = new PlatformServer(platformOptions);
  await platform.start();
  await platform.deployments.register({ id: 'test', numbers: [NUMBER], tunnelHost: TUNNEL_HOST, agentSecret });
  let gatewayPlatform = platform;
  if (options.gatewayOnSecondPlatform) {
    gatewayPlatform = new PlatformServer({ ...platformOptions, port: secondPort });
    await gatewayPlatform.start();
  }
  const gatewayPlatformPort = options.gatewayOnSecondPlatform ? secondPort : platformPort;
  const gateway = new Gateway(
    {
      ...defaultGatewayConfig(),
      ...layoutFromEnvironment(),
      tunnelPort,
      localPort,
      workers: 2,
      publicHost: TUNNEL_HOST,
      webhookPublicKey: options.webhookKey === false ? null : publicKeyBase64,
      platformUrl: `http://127.0.0.1:${gatewayPlatformPort}`,
      deploymentId: 'test',
      agentSecret,
      numbers: [NUMBER],
      ...overrides,
    },
    logger,
  );
  await gateway.start();
  return {
    sim,
    platform,
    gatewayPlatform,
    gateway,
    ports: { sim: simPort, platform: platformPort, tunnel: tunnelPort, local: localPort },
    publicKeyBase64,
    secretKey: keys.secretKey,
    apiKey,
    agentSecret,
    logger,
    platformOptions,
    async stop() {
      await gateway.stop();
      if (gatewayPlatform !== platform) await gatewayPlatform.stop();
      await platform.stop();
      await sim.stop();
      captured?.saveSecrets({
        // The seed in every form; the 64-byte key whole (its hex would contain the public key, which is not secret).
        'webhook signing private key': [...byteForms(keys.secretKey.subarray(0, 32)), ...byteForms(keys.secretKey).slice(0, 2)],
        'provider API key': [apiKey],
        'agent secret': [agentSecret],
        'agent credentials': credentialStrings(overrides.agent),
        'media tokens': placed.map((c) => c.testOnlyStreamToken).filter((t): t is string => t !== undefined),
      });
    },
  };
}

/** A stack for one test: started, handed to `run`, stopped whatever `run` does. */
export async function withStack(
  overrides: Partial<GatewayConfig>,
  options: Parameters<typeof startStack>[1],
  run: (stack: Stack) => Promise<void>,
): Promise<void> {
  const stack = await startStack(overrides, options);
  try {
    await run(stack);
  } finally {
    await stack.stop();
  }
}

/** Wait until `check` is true, polling; fails after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `TTMA_TEST_MEDIA_SOCKETS=front` runs every stack-based suite with front-owned media sockets
 * (CI runs the adversarial suite once per layout); an explicit override still wins.
 */
function layoutFromEnvironment(): Partial<GatewayConfig> {
  const value = process.env.TTMA_TEST_MEDIA_SOCKETS;
  if (value === undefined || value === '') return {};
  if (value !== 'front' && value !== 'worker') throw new Error(`TTMA_TEST_MEDIA_SOCKETS must be front or worker, got "${value}"`);
  return { mediaSockets: value };
}

/** Places an inbound call and waits until its stream carries frames both ways. */
export async function streamingCall(stack: Stack, from: string, durationMs: number): Promise<SimCall> {
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs });
  await waitFor('the call to stream', () => stack.gateway.control.snapshot().some((c) => c.callId === call.id && c.state === 'streaming'), 5_000);
  await waitFor('echoed frames', () => call.summary().framesReturned > 10, 5_000);
  return call;
}
