/**
 * The demo's three processes on loopback, with throwaway keys and embedded
 * defaults: the provider simulator, the platform and the gateway (echo agent
 * unless told otherwise). `ttma demo` runs calls through them; the soak bench
 * (bench/soak.ts) runs calls through them for minutes and watches memory.
 * Secrets go to files readable by this user only, in `dir`.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { freePorts, startTtma, stopChild, type Child } from './processes.js';

export const DEMO_NUMBER = '+15550100000';
export const DEMO_DEPLOYMENT = 'demo';
export const DEMO_TUNNEL_HOST = 'demo-gateway.trycloudflare.com';

/** The simulator's REST API (call control and its own `/sim/*` routes), with its API key. */
export class SimApi {
  constructor(readonly base: string, readonly apiKey: string) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(this.base + path, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`simulator ${method} ${path}: HTTP ${response.status} ${text.slice(0, 200)}`);
    return JSON.parse(text) as T;
  }
}

export interface DemoStackOptions {
  /** Where the secrets and the logs go. */
  dir: string;
  workers: number;
  /** The gateway's phone-side codec (PCMU, OPUS...). */
  codec: string;
  /** `--media-sockets` for the gateway; its default when absent. */
  mediaSockets?: string | undefined;
  /** Agent flags for the gateway, as given (`--agent realtime ...`). */
  agentArgs?: string[];
  /** The platform's per-deployment signalling rate (requests a second). */
  rateLimit: number;
  /** More simulator flags (`--on-stream-failure continue`). */
  simArgs?: string[];
  /** Node options for the gateway's and the platform's processes (the soak bench opens their inspectors on loopback). */
  gatewayNodeArgs?: string[];
  platformNodeArgs?: string[];
  /** The deployment's minute caps; the platform's defaults (600 a day) when absent. A soak carries more. */
  caps?: { dayMinutes: number; monthMinutes: number };
}

export interface DemoStack {
  sim: SimApi;
  ports: { sim: number; platform: number; tunnel: number; local: number };
  /** Started so far, simulator first: stop them gateway first (stopDemoStack). */
  children: Child[];
  /** The gateway's command line, to start another process like it (`--kill-gateway`). */
  gatewayArgs: string[];
}

/** Starts simulator, platform and gateway, each after the one before is ready; stops what started if one fails. */
export async function startDemoStack(options: DemoStackOptions): Promise<DemoStack> {
  const { dir } = options;
  const secret = (name: string, value: string) => {
    const path = join(dir, name);
    writeFileSync(path, `${value}\n`, { mode: 0o600 });
    return path;
  };
  const keys = nacl.sign.keyPair();
  const apiKey = randomBytes(24).toString('base64url');
  const agentSecret = randomBytes(32).toString('base64url');
  const files = {
    apiKey: secret('provider-api-key', apiKey),
    signingKey: secret('sim-signing-key', Buffer.from(keys.secretKey).toString('base64')),
    publicKey: secret('webhook-public-key', Buffer.from(keys.publicKey).toString('base64')),
    agentSecret: secret('agent-secret', agentSecret),
    adminToken: secret('admin-token', randomBytes(24).toString('base64url')),
    deployment: secret('deployment.json', JSON.stringify({ id: DEMO_DEPLOYMENT, numbers: [DEMO_NUMBER], tunnelHost: DEMO_TUNNEL_HOST, agentSecret, ...(options.caps ? { caps: options.caps } : {}) })),
  };
  const [simPort, platformPort, tunnelPort, localPort] = (await freePorts(4)) as [number, number, number, number];
  const children: Child[] = [];
  const gatewayArgs = [
    'gateway', '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--workers', String(options.workers),
    ...(options.mediaSockets === undefined ? [] : ['--media-sockets', options.mediaSockets]),
    '--public-host', DEMO_TUNNEL_HOST, '--webhook-public-key-file', files.publicKey,
    '--platform-url', `http://127.0.0.1:${platformPort}`, '--deployment-id', DEMO_DEPLOYMENT,
    '--agent-secret-file', files.agentSecret, '--number', DEMO_NUMBER, '--codec', options.codec, ...(options.agentArgs ?? []),
  ];
  try {
    children.push(
      await startTtma('sim', [
        'sim', '--port', String(simPort), '--api-key-file', files.apiKey, '--signing-key-file', files.signingKey,
        '--webhook-url', `http://127.0.0.1:${platformPort}/v1/provider/webhooks`,
        '--webhook-url', `http://127.0.0.1:${tunnelPort}/v1/webhooks/provider`,
        '--tunnel', `${DEMO_TUNNEL_HOST}=ws://127.0.0.1:${tunnelPort}`,
        // Keep the simulator's own CPU out of the measurement: node's Ed25519
        // (about 50 us a signature; tweetnacl takes about 9 ms) and speech
        // synthesised once at start. The tests sign with tweetnacl, so signer
        // and verifier stay independent implementations there.
        '--sign-with', 'node', '--audio-source', 'bank',
        ...(options.simArgs ?? []),
      ], join(dir, 'sim.log')),
    );
    children.push(
      await startTtma('platform', [
        'platform', '--port', String(platformPort), '--provider-url', `http://127.0.0.1:${simPort}`,
        '--provider-api-key-file', files.apiKey, '--webhook-public-key-file', files.publicKey,
        '--admin-token-file', files.adminToken, '--deployment-file', files.deployment,
        '--rate-limit', String(options.rateLimit),
      ], join(dir, 'platform.log'), undefined, options.platformNodeArgs ?? []),
    );
    children.push(await startTtma('gateway', gatewayArgs, join(dir, 'gateway.log'), undefined, options.gatewayNodeArgs ?? []));
  } catch (err) {
    await stopDemoStack(children);
    throw err;
  }
  return {
    sim: new SimApi(`http://127.0.0.1:${simPort}`, apiKey),
    ports: { sim: simPort, platform: platformPort, tunnel: tunnelPort, local: localPort },
    children,
    gatewayArgs,
  };
}

/** Stops them gateway first, so it can hang up its calls through a live platform; each one's exit code by name. */
export async function stopDemoStack(children: Child[]): Promise<Record<string, number | string>> {
  const codes: Record<string, number | string> = {};
  for (const child of [...children].reverse()) codes[child.name] = await stopChild(child);
  children.length = 0;
  return codes;
}
