/**
 * The install-token routes of the platform, kept in one module so the
 * server only delegates to it:
 *
 *   POST /v1/admin/install-tokens         admin: register a deployment, mint its token (201)
 *   POST /v1/admin/deployments/{id}/install-token
 *                                         admin: a new token for an existing deployment, rotating its secret (201)
 *   GET  /v1/admin/install-tokens/audit   admin: audit metadata, newest first
 *   DELETE /v1/admin/install-tokens/{id}  admin: revoke one outstanding token (200; 404 when none)
 *   POST /v1/install/redeem               {"token", "target"?}: the envelope, once (410 after); 409 when
 *                                         the gateway bundle is built for another machine than "target" (token unused)
 *   GET  /v1/bundles/gateway.tar.gz       the bundles, digest in x-ttma-sha256
 *   GET  /v1/bundles/skill.tar.gz
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { installUrlProblem } from '../../wire/installUrl.js';
import type { DeploymentRegistry } from '../DeploymentRegistry.js';
import { refuseUnknownFields } from '../knownFields.js';
import { InstallTokenService, type BundleRef } from './InstallTokenService.js';
import { MemoryInstallTokenStore, type InstallTokenStore } from './InstallTokenStore.js';
import { RedeemLimits, type RedeemRate } from './redeemLimits.js';
import { parseInstallerTarget, readServedTarget, refuseMismatch, type ServedTarget } from './bundleTarget.js';
import { describeTarget } from '../../wire/bundleTarget.js';
import { gatewayBundleProblem, refusedBundleMessage, scanGatewayBundle, skillBundleProblem, type ScannedGatewayBundle } from './bundleChecks.js';

export interface InstallRoutesOptions {
  /** Default: the embedded store. */
  store?: InstallTokenStore;
  gatewayBundle?: Buffer | null;
  skillBundle?: Buffer | null;
  /** Base URL put in payloads and bundle URLs; default http://127.0.0.1:<port>. Must pass the installer's URL rule. */
  publicUrl?: string;
  gatewayVersion?: string;
  ttlMs?: number;
  now?: () => number;
  /** Redemption attempts per client address (default a burst of 10, then one every 2 s). */
  redeemRateLimit?: RedeemRate;
  /** Redemption attempts per presented token id (default a burst of 10, then one every 5 s). */
  redeemRateLimitPerToken?: RedeemRate;
  /** The header a proxy on this machine puts the client address in (e.g. cf-connecting-ip); default none: the socket address. */
  clientAddressHeader?: string | null;
  logger?: Logger;
}

/** What the server lends the routes: its admin check, body reader and JSON sender. */
export interface RouteTools {
  allow(method: string, allowed: string): void;
  requireAdmin(req: IncomingMessage): void;
  readJson(req: IncomingMessage): Promise<Record<string, unknown>>;
  send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void;
}

interface ServedBundle {
  bytes: Buffer;
  sha256: string;
}

const BUNDLE_ROUTE = /^\/v1\/bundles\/(gateway|skill)\.tar\.gz$/;
/** Deployment ids as DeploymentRegistry accepts them; anything else is not this route. */
const MINT_FIELDS = ['deployment', 'tunnelCredentialsRef'];
const MINT_DEPLOYMENT_FIELDS = ['id', 'numbers', 'tunnelHost'];
const REISSUE_ROUTE = /^\/v1\/admin\/deployments\/([a-z0-9][a-z0-9-]{2,62})\/install-token$/;
/** Any last segment but `audit`; the service refuses an id of the wrong shape with 404. */
const TOKEN_ROUTE = /^\/v1\/admin\/install-tokens\/(?!audit$)([^/]+)$/;

export class InstallRoutes {
  readonly service: InstallTokenService;
  readonly #bundles = new Map<'gateway' | 'skill', ServedBundle>();
  readonly #limits: RedeemLimits;
  /** What the gateway bundle is built for, read from its manifest as the bundle is set; null without a bundle. */
  readonly #servedTarget: Promise<ServedTarget | null>;
  /** Why every installer would refuse a served bundle (the mint refusal's text), or null; read once, as the bundles are set. */
  readonly #refusal: Promise<string | null>;
  readonly #logger: Logger | undefined;
  #baseUrl: string;

  constructor(deployments: DeploymentRegistry, webhookPublicKeyBase64: string | null, options: InstallRoutesOptions = {}) {
    for (const name of ['gateway', 'skill'] as const) {
      const bytes = options[`${name}Bundle`];
      if (bytes) this.#bundles.set(name, { bytes, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    const gateway = this.#bundles.get('gateway');
    // Scanned once for both uses. Never rejects: an unreadable bundle is a problem to report, not a crash.
    const scanned = gateway ? scanGatewayBundle(gateway.bytes) : null;
    this.#servedTarget = scanned ? scanned.then(readServedTarget) : Promise.resolve(null);
    // Never rejects either: bundleChecks.ts turns the installer's refusal into text; the gateway's is named first.
    this.#refusal = this.#installerRefusal(scanned);
    this.#logger = options.logger;
    this.#limits = new RedeemLimits({
      ...(options.redeemRateLimit ? { perAddress: options.redeemRateLimit } : {}),
      ...(options.redeemRateLimitPerToken ? { perToken: options.redeemRateLimitPerToken } : {}),
      clientAddressHeader: options.clientAddressHeader ?? null,
    });
    if (options.publicUrl !== undefined) {
      const problem = installUrlProblem(options.publicUrl);
      if (problem) throw new TtmaError(ErrorCodes.CONFIG, `--public-url ${JSON.stringify(options.publicUrl.slice(0, 80))}: ${problem} (the installer refuses any other, after spending the token)`);
    }
    this.#baseUrl = options.publicUrl?.replace(/\/+$/, '') ?? '';
    this.service = new InstallTokenService({
      store: options.store ?? new MemoryInstallTokenStore(),
      deployments,
      webhookPublicKeyBase64,
      platformUrl: () => this.#baseUrl,
      bundles: () => ({ gateway: this.#ref('gateway'), skill: this.#ref('skill') }),
      bundleRefusal: () => this.#refusal,
      gatewayVersion: options.gatewayVersion ?? '0.1.0',
      ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** At start: the log says clearly when no token can be minted for the bundles, and what the gateway bundle's target is or why it is unknown. */
  async ready(): Promise<void> {
    const refusal = await this.#refusal;
    if (refusal) this.#logger?.error({ code: ErrorCodes.CONFIG }, refusal);
    const served = await this.#servedTarget;
    if (served === null) return;
    if ('target' in served) {
      this.#logger?.info({ target: describeTarget(served.target) }, 'gateway bundle: installers on another machine are refused before their token is spent');
      return;
    }
    this.#logger?.warn(
      { code: ErrorCodes.INSTALL_ARCHIVE },
      `--gateway-bundle has no readable manifest (${served.problem}): the platform cannot tell which machines it runs on, so it cannot refuse a mismatched installer before spending its token, and every installer refuses such a bundle after the download; build the bundle with npm run pack:gateway`,
    );
  }

  async #installerRefusal(scannedGateway: Promise<ScannedGatewayBundle> | null): Promise<string | null> {
    const skill = this.#bundles.get('skill');
    const gatewayProblem = scannedGateway ? await gatewayBundleProblem(await scannedGateway) : null;
    if (gatewayProblem) return refusedBundleMessage('--gateway-bundle', gatewayProblem, 'npm run pack:gateway');
    const skillProblem = skill ? await skillBundleProblem(skill.bytes) : null;
    return skillProblem ? refusedBundleMessage('--skill-bundle', skillProblem, 'node dist/scripts/packSkill.js') : null;
  }

  /** Called once the port is known, unless a public URL was given. */
  listening(port: number): void {
    if (!this.#baseUrl) this.#baseUrl = `http://127.0.0.1:${port}`;
  }

  #ref(name: 'gateway' | 'skill'): BundleRef | null {
    const bundle = this.#bundles.get(name);
    return bundle ? { url: `${this.#baseUrl}/v1/bundles/${name}.tar.gz`, sha256: bundle.sha256 } : null;
  }

  /** False when the path is not one of ours. */
  async handle(method: string, path: string, req: IncomingMessage, res: ServerResponse, tools: RouteTools): Promise<boolean> {
    const bundle = BUNDLE_ROUTE.exec(path);
    if (bundle) {
      tools.allow(method, 'GET');
      const served = this.#bundles.get(bundle[1] as 'gateway' | 'skill');
      if (!served) throw new TtmaError(ErrorCodes.NOT_FOUND, 'this platform serves no such bundle', 404);
      res.writeHead(200, {
        'content-type': 'application/gzip',
        'content-length': String(served.bytes.length),
        'x-ttma-sha256': served.sha256,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(served.bytes);
      return true;
    }
    const reissue = REISSUE_ROUTE.exec(path);
    if (reissue) {
      tools.allow(method, 'POST');
      tools.requireAdmin(req);
      const body = await tools.readJson(req);
      tools.send(req, res, 201, await this.service.reissue(reissue[1]!, body['tunnelCredentialsRef'] as string));
      return true;
    }
    const revoke = TOKEN_ROUTE.exec(path);
    if (revoke) {
      tools.allow(method, 'DELETE');
      tools.requireAdmin(req);
      // Ids are base64url: nothing to decode, and a malformed escape is just an unknown id.
      tools.send(req, res, 200, { revoked: await this.service.revoke(revoke[1]!) });
      return true;
    }
    switch (path) {
      case '/v1/admin/install-tokens': {
        tools.allow(method, 'POST');
        tools.requireAdmin(req);
        const body = await tools.readJson(req);
        const deployment = (body['deployment'] ?? {}) as Record<string, unknown>;
        // Caps, recording and dial policy are not read here: refused, not dropped (set them with PATCH after).
        refuseUnknownFields(body, MINT_FIELDS);
        if (typeof deployment === 'object' && deployment !== null) {
          refuseUnknownFields(deployment, MINT_DEPLOYMENT_FIELDS, 'deployment.', 'caps, recording, dialPolicy: PATCH /v1/admin/deployments/{id} after minting');
        }
        const minted = await this.service.mint({
          deployment: {
            id: deployment['id'] as string,
            numbers: deployment['numbers'] as string[],
            tunnelHost: deployment['tunnelHost'] as string,
          },
          tunnelCredentialsRef: body['tunnelCredentialsRef'] as string,
        });
        tools.send(req, res, 201, minted);
        return true;
      }
      case '/v1/admin/install-tokens/audit':
        tools.allow(method, 'GET');
        tools.requireAdmin(req);
        tools.send(req, res, 200, { entries: await this.service.audit() });
        return true;
      case '/v1/install/redeem': {
        tools.allow(method, 'POST');
        const address = this.#limits.clientAddress(req);
        this.#limits.admitAddress(address);
        const body = await tools.readJson(req);
        // The installer's machine against the bundle, before the token is looked at or counted
        // (redeemLimits.ts): a refusal neither spends the token nor tells anything about it.
        refuseMismatch(await this.#servedTarget, parseInstallerTarget(body['target']));
        this.#limits.admitToken(body['token']);
        const envelope = await this.service.redeem(body['token'], address);
        tools.send(req, res, 200, { envelope });
        return true;
      }
      default:
        return false;
    }
  }
}
