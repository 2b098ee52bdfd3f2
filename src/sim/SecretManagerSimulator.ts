/**
 * A faithful local stand-in for Google Cloud Secret Manager's REST API and the
 * Compute Engine metadata server's token endpoint, on 127.0.0.1 (there is no
 * internet here; the platform reaches it through secretManagerUrl and
 * GCE_METADATA_HOST). Shapes and refusals follow the public documentation:
 * - metadata: `GET /computeMetadata/v1/instance/service-accounts/default/token`
 *   needs `Metadata-Flavor: Google` and no `X-Forwarded-For` (else 403), answers
 *   `{"access_token","expires_in","token_type":"Bearer"}` with `Metadata-Flavor: Google`
 *   (https://cloud.google.com/compute/docs/metadata/querying-metadata);
 * - `GET /v1/projects/*\/secrets/*\/versions/*:access` with a Bearer token from
 *   there answers `{"name","payload":{"data","dataCrc32c"}}`, the name with the
 *   project number, `latest` the most recently created version, and errors as
 *   `{"error":{"code","message","status"}}`: 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
 *   404 NOT_FOUND, 400 FAILED_PRECONDITION for a disabled or destroyed version
 *   (https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access,
 *   https://cloud.google.com/apis/design/errors).
 * Tests reach in with `tamper` (edit an answer on its way out) and `stall`.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';
interface Version {
  data: Buffer;
  state: VersionState;
}

export interface AccessAnswer {
  name: string;
  payload: { data: string; dataCrc32c: string };
}

/** Metadata tokens last an hour; the server hands out one with a little less left. */
const TOKEN_TTL_SEC = 3599;
const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';
const ACCESS_PATH = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/:]+):access$/;

export class SecretManagerSimulator {
  readonly projectId: string;
  readonly projectNumber: string;
  /** Whether the VM's service account holds roles/secretmanager.secretAccessor. */
  allowed = true;
  /** Edits a successful access answer before it is sent (corruption in transit). */
  tamper: ((answer: AccessAnswer) => unknown) | null = null;
  /** The endpoint that never answers (a hung server, a dropped route). */
  stall: 'token' | 'access' | null = null;
  /** Every request seen, for the tests' checks on what the client sent. */
  readonly requests: Array<{ path: string; headers: http.IncomingHttpHeaders }> = [];
  readonly #secrets = new Map<string, Version[]>();
  readonly #tokens = new Map<string, number>();
  readonly #server: http.Server;
  readonly #stalled = new Set<http.ServerResponse>();

  constructor(options: { projectId?: string; projectNumber?: string } = {}) {
    this.projectId = options.projectId ?? 'ttma-sim';
    this.projectNumber = options.projectNumber ?? '123456789012';
    this.#server = http.createServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<{ port: number; url: string; metadataHost: string }> {
    await new Promise<void>((resolve) => this.#server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const { port } = this.#server.address() as AddressInfo;
    return { port, url: `http://127.0.0.1:${port}`, metadataHost: `127.0.0.1:${port}` };
  }

  async stop(): Promise<void> {
    for (const res of this.#stalled) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Adds a version (AddSecretVersion) and returns its number; versions count from 1. */
  addVersion(secretId: string, data: string | Buffer): number {
    const versions = this.#secrets.get(secretId) ?? [];
    versions.push({ data: Buffer.from(data), state: 'ENABLED' });
    this.#secrets.set(secretId, versions);
    return versions.length;
  }

  setState(secretId: string, version: number, state: VersionState): void {
    const v = this.#secrets.get(secretId)?.[version - 1];
    if (!v) throw new Error(`no version ${version} of ${secretId}`);
    v.state = state;
    if (state === 'DESTROYED') v.data = Buffer.alloc(0);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    this.requests.push({ path, headers: req.headers });
    if (path === TOKEN_PATH) return this.#token(req, res);
    const m = ACCESS_PATH.exec(path);
    if (m && req.method === 'GET') return this.#access(req, res, m[1]!, decodeURIComponent(m[2]!), m[3]!);
    this.#error(res, 404, 'NOT_FOUND', `The requested URL ${path} was not found on this server.`);
  }

  #token(req: http.IncomingMessage, res: http.ServerResponse): void {
    const refuse = (why: string) => {
      res.writeHead(403, { 'content-type': 'text/html; charset=UTF-8', 'metadata-flavor': 'Google' });
      res.end(why);
    };
    if (req.headers['x-forwarded-for'] !== undefined) return refuse('Request denied: X-Forwarded-For header is not allowed.');
    if (req.headers['metadata-flavor'] !== 'Google') return refuse('Missing required header: "Metadata-Flavor"');
    if (this.stall === 'token') return void this.#stalled.add(res);
    const token = `ya29.sim-${randomBytes(24).toString('base64url')}`;
    this.#tokens.set(token, Date.now() + TOKEN_TTL_SEC * 1000);
    res.writeHead(200, { 'content-type': 'application/json', 'metadata-flavor': 'Google' });
    res.end(JSON.stringify({ access_token: token, expires_in: TOKEN_TTL_SEC, token_type: 'Bearer' }));
  }

  #access(req: http.IncomingMessage, res: http.ServerResponse, project: string, secretId: string, version: string): void {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expires = token ? this.#tokens.get(token) : undefined;
    if (expires === undefined || expires < Date.now()) {
      return this.#error(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
    const secretName = `projects/${this.projectNumber}/secrets/${secretId}`;
    if (!this.allowed) {
      return this.#error(res, 403, 'PERMISSION_DENIED', `Permission 'secretmanager.versions.access' denied for resource '${secretName}/versions/${version}' (or it may not exist).`);
    }
    const versions = project === this.projectId || project === this.projectNumber ? this.#secrets.get(secretId) : undefined;
    const n = version === 'latest' ? (versions?.length ?? 0) : Number(version);
    const found = versions?.[n - 1];
    if (!found) return this.#error(res, 404, 'NOT_FOUND', `Secret Version [${secretName}/versions/${version}] not found.`);
    if (found.state !== 'ENABLED') return this.#error(res, 400, 'FAILED_PRECONDITION', `${secretName}/versions/${n} is in ${found.state} state.`);
    if (this.stall === 'access') return void this.#stalled.add(res);
    const answer: AccessAnswer = {
      name: `${secretName}/versions/${n}`,
      payload: { data: found.data.toString('base64'), dataCrc32c: String(SecretManagerSimulator.crc32c(found.data)) },
    };
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(this.tamper ? this.tamper(answer) : answer));
  }

  /**
   * The server's own CRC32C, bit by bit (Castagnoli, reversed 0x82F63B78): not the platform's
   * table-driven one, so a wrong table there fails the tests instead of agreeing with itself.
   */
  static crc32c(bytes: Uint8Array): number {
    let crc = ~0;
    for (const byte of bytes) {
      crc ^= byte;
      for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
    return ~crc >>> 0;
  }

  #error(res: http.ServerResponse, code: number, status: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify({ error: { code, message, status } }));
  }
}
