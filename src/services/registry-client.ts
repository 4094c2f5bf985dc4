/**
 * @module services/registry-client
 * How every trusted service reaches a registry: as an ordinary client of the data plane, over
 * HTTP(S), from the platform's own source address, with a credential of its own. It speaks
 * ACR's token flow (identity token -> `/oauth2/exchange` -> refresh token -> `/oauth2/token`
 * with the scopes a 401 challenge names) and the plain Docker flows (Basic, or Bearer from a
 * realm with Basic credentials) so it can also pull from any OCI registry such as CNCF
 * Distribution. Because it goes through the public endpoint, the registry's access decision
 * (network, identity, role, and the trusted-services bypass) judges it like anyone else.
 *
 * Written on `node:http` rather than `fetch` because Node 20's fetch cannot choose the source
 * address (`localAddress`) without a separate undici dependency, and because bodies must
 * stream both ways.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDigester, digestOf, parseDigest } from '../core/digest.js';
import { isObject } from '../core/json.js';
import type { Descriptor } from '../core/manifest.js';
import { INDEX_TYPES, MediaType } from '../core/media-types.js';

/** What a service presents to a registry. */
export type RegistryCredential =
  /** An identity-service token (managed identity or first-party), exchanged for registry tokens. */
  | { kind: 'identity'; token: () => Promise<string> }
  /** A registry refresh token handed out by the platform (a run's implicit credential). */
  | { kind: 'refresh'; token: () => Promise<string> }
  /** Username and password (admin user, repository token, or another registry's users). */
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'anonymous' };

export interface RegistryClientOptions {
  /** The data endpoint to connect to, e.g. `http://127.0.0.1:5000` or `https://host:443`. */
  endpoint: string;
  /** The registry's login server, sent as Host (the data endpoint serves many registries). */
  loginServer: string;
  credential: RegistryCredential;
  /** The platform's own source address (`serviceSourceAddress`). */
  localAddress?: string;
  /** Extra CA certificates (PEM) for HTTPS endpoints. */
  ca?: string;
}

/** A registry said no (or failed): its status, OCI code and message, as it said them. */
export class RegistryClientError extends Error {
  override name = 'RegistryClientError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly loginServer: string,
  ) {
    super(message);
  }

  /** One log line in the registry's words, e.g. `403 DENIED: client with IP ... is not allowed`. */
  describe(): string {
    return `${this.loginServer}: ${this.status} ${this.code}: ${this.message}`;
  }
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: Record<string, unknown>;
}

export interface ResolvedImage {
  /** The index the reference named, when it named one. */
  index?: FetchedManifest;
  manifest: FetchedManifest;
  configDigest: string;
  config: Record<string, unknown>;
  layers: Descriptor[];
}

const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
].join(', ');

/** The platform services run images for linux/amd64. */
export const DEFAULT_PLATFORM = { os: 'linux', architecture: 'amd64' };

interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
}

export class RegistryClient {
  /** Access tokens by scope string, reused until they expire. */
  private readonly accessTokens = new Map<string, { token: string; expires: number }>();
  private refreshToken?: { token: string; expires: number };

  constructor(private readonly options: RegistryClientOptions) {}

  get loginServer(): string {
    return this.options.loginServer;
  }

  /** Fetches a manifest by tag or digest, checking the bytes against a digest reference. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const response = await this.send(
      'GET',
      `/v2/${repository}/manifests/${reference}`,
      { accept: MANIFEST_ACCEPT },
      [repository, 'pull'],
    );
    const bytes = await readAll(response.body, 4 * 1024 * 1024);
    const digest = reference.includes(':') ? reference : digestOf(bytes);
    if (
      reference.includes(':') &&
      digestOf(bytes, parseDigest(reference).algorithm) !== reference
    ) {
      throw new RegistryClientError(
        502,
        'DIGEST_INVALID',
        `manifest ${reference} does not match its digest`,
        this.loginServer,
      );
    }
    const json: unknown = JSON.parse(bytes.toString('utf8'));
    if (!isObject(json)) {
      throw new RegistryClientError(
        502,
        'MANIFEST_INVALID',
        'manifest is not a JSON object',
        this.loginServer,
      );
    }
    const mediaType =
      (typeof json.mediaType === 'string' ? json.mediaType : undefined) ??
      String(response.headers['content-type'] ?? MediaType.OciManifest).split(';')[0]!;
    return { digest, mediaType, bytes, json };
  }

  /** Resolves a reference to one image manifest (an index resolves to `platform`). */
  async resolveImage(
    repository: string,
    reference: string,
    platform = DEFAULT_PLATFORM,
  ): Promise<ResolvedImage> {
    let manifest = await this.getManifest(repository, reference);
    let index: FetchedManifest | undefined;
    if (INDEX_TYPES.has(manifest.mediaType)) {
      index = manifest;
      const entries = Array.isArray(index.json.manifests) ? index.json.manifests : [];
      const match = entries.find((entry): entry is Descriptor & Record<string, unknown> => {
        if (!isObject(entry) || !isObject(entry.platform)) return false;
        return (
          entry.platform.os === platform.os && entry.platform.architecture === platform.architecture
        );
      });
      if (!match) {
        throw new RegistryClientError(
          404,
          'MANIFEST_UNKNOWN',
          `no ${platform.os}/${platform.architecture} image in ${repository}:${reference}`,
          this.loginServer,
        );
      }
      manifest = await this.getManifest(repository, match.digest);
    }
    const configDescriptor = manifest.json.config;
    if (!isObject(configDescriptor) || typeof configDescriptor.digest !== 'string') {
      throw new RegistryClientError(
        502,
        'MANIFEST_INVALID',
        `${repository}@${manifest.digest} is not an image manifest`,
        this.loginServer,
      );
    }
    const configBytes = await readAll(
      await this.openBlob(repository, configDescriptor.digest),
      16 * 1024 * 1024,
    );
    const config: unknown = JSON.parse(configBytes.toString('utf8'));
    const layers = (
      Array.isArray(manifest.json.layers) ? manifest.json.layers : []
    ) as Descriptor[];
    return {
      ...(index ? { index } : {}),
      manifest,
      configDigest: configDescriptor.digest,
      config: isObject(config) ? config : {},
      layers,
    };
  }

  /**
   * A blob's bytes as a stream that fails (instead of ending) if they do not match `digest`,
   * so nothing downstream can take unverified content for complete.
   */
  async openBlob(repository: string, digest: string): Promise<Readable> {
    const response = await this.send('GET', `/v2/${repository}/blobs/${digest}`, {}, [
      repository,
      'pull',
    ]);
    return response.body.pipe(new VerifyingStream(digest, this.loginServer));
  }

  /** The digest a tag or digest reference points at, or undefined when there is none. */
  async headManifest(repository: string, reference: string): Promise<string | undefined> {
    const response = await this.send(
      'HEAD',
      `/v2/${repository}/manifests/${reference}`,
      { accept: MANIFEST_ACCEPT },
      [repository, 'pull'],
      [200, 404],
    );
    response.body.resume();
    if (response.status === 404) return undefined;
    return String(response.headers['docker-content-digest'] ?? reference);
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.send(
      'HEAD',
      `/v2/${repository}/blobs/${digest}`,
      {},
      [repository, 'pull'],
      [200, 404],
    );
    response.body.resume();
    return response.status === 200;
  }

  /**
   * Uploads a blob unless the repository has it: POST then one PUT with the digest (the
   * registry verifies it before publishing). `open` is called only when bytes must be sent; it
   * may open another registry's blob, so an import streams from source to target.
   */
  async pushBlob(
    repository: string,
    descriptor: { digest: string; size: number },
    open: () => Readable | Buffer | Promise<Readable | Buffer>,
  ): Promise<'exists' | 'uploaded'> {
    if (await this.hasBlob(repository, descriptor.digest)) return 'exists';
    const started = await this.send(
      'POST',
      `/v2/${repository}/blobs/uploads/`,
      { 'content-length': '0' },
      [repository, 'pull,push'],
      [202],
    );
    started.body.resume();
    const location = String(started.headers.location ?? '');
    const target = new URL(location, 'http://placeholder');
    target.searchParams.set('digest', descriptor.digest);
    const body = await open();
    const finished = await this.send(
      'PUT',
      `${target.pathname}${target.search}`,
      {
        'content-type': 'application/octet-stream',
        'content-length': String(descriptor.size),
      },
      [repository, 'pull,push'],
      [201],
      body,
    );
    finished.body.resume();
    return 'uploaded';
  }

  /** Pushes a manifest under a tag or its digest; returns the digest the registry reports. */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<string> {
    const response = await this.send(
      'PUT',
      `/v2/${repository}/manifests/${reference}`,
      { 'content-type': mediaType, 'content-length': String(bytes.length) },
      [repository, 'pull,push'],
      [201],
      bytes,
    );
    response.body.resume();
    return String(response.headers['docker-content-digest'] ?? digestOf(bytes));
  }

  /** The referrers index of a manifest (OCI 1.1 referrers API). */
  async listReferrers(repository: string, digest: string): Promise<Descriptor[]> {
    const response = await this.send(
      'GET',
      `/v2/${repository}/referrers/${digest}`,
      { accept: MediaType.OciIndex },
      [repository, 'pull'],
    );
    const json: unknown = JSON.parse((await readAll(response.body, 4 * 1024 * 1024)).toString());
    return isObject(json) && Array.isArray(json.manifests) ? (json.manifests as Descriptor[]) : [];
  }

  /** `GET /v2/` with the credential: proves the registry lets this client in at all. */
  async login(): Promise<void> {
    const response = await this.send('GET', '/v2/', {}, undefined);
    response.body.resume();
  }

  /**
   * One request with authentication: tries with a cached token for the scope, and on a 401
   * answers the challenge once. Statuses outside `expect` become RegistryClientError.
   */
  private async send(
    method: string,
    path: string,
    headers: Record<string, string>,
    scope: [repository: string, actions: string] | undefined,
    expect: number[] = [200],
    body?: Readable | Buffer,
  ): Promise<Response> {
    const scopeString = scope ? `repository:${scope[0]}:${scope[1]}` : '';
    const kind = this.options.credential.kind;
    if ((kind === 'identity' || kind === 'refresh') && !this.authorizationFor(scopeString)) {
      // ACR's flow, proactively: a network-restricted registry refuses a request without a
      // credential before it would challenge, so the token comes first (ACR's realm and service).
      await this.answerChallenge(
        `Bearer realm="${this.options.endpoint}/oauth2/token",service="${this.loginServer}"`,
        scopeString,
      );
    }
    const cached = this.accessTokens.get(scopeString);
    const authorization =
      cached && cached.expires > Date.now()
        ? `Bearer ${cached.token}`
        : this.options.credential.kind === 'basic'
          ? basicHeader(this.options.credential.username, this.options.credential.password)
          : undefined;
    // A streamed body can be sent once only: make sure we hold a token before sending it.
    if (body instanceof Readable && !authorization?.startsWith('Bearer')) {
      const probe = await this.raw(
        'HEAD',
        scope ? `/v2/${scope[0]}/blobs/sha256:${'0'.repeat(64)}` : '/v2/',
        headers,
        authorization,
      );
      probe.body.resume();
      if (probe.status === 401)
        await this.answerChallenge(probe.headers['www-authenticate'], scopeString);
    }
    let response = await this.raw(
      method,
      path,
      headers,
      this.authorizationFor(scopeString) ?? authorization,
      body,
    );
    if (response.status === 401 && !(body instanceof Readable)) {
      response.body.resume();
      await this.answerChallenge(response.headers['www-authenticate'], scopeString);
      response = await this.raw(method, path, headers, this.authorizationFor(scopeString), body);
    }
    if (!expect.includes(response.status)) throw await this.errorFrom(response);
    return response;
  }

  private authorizationFor(scope: string): string | undefined {
    const cached = this.accessTokens.get(scope);
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.token}`;
    const credential = this.options.credential;
    return credential.kind === 'basic'
      ? basicHeader(credential.username, credential.password)
      : undefined;
  }

  /** Gets an access token for `scope` from the challenge's realm, as Docker clients do. */
  private async answerChallenge(challenge: string | string[] | undefined, scope: string) {
    const header = Array.isArray(challenge) ? challenge[0] : challenge;
    if (!header || !/^bearer\s/i.test(header)) return; // Basic: the credential is already sent
    const params = parseChallenge(header);
    const realm = params.realm;
    if (!realm) return;
    const service = params.service ?? this.loginServer;
    const wanted = params.scope ?? scope;
    const credential = this.options.credential;
    const form = new URLSearchParams({ service });
    if (wanted) for (const s of wanted.split(' ')) form.append('scope', s);
    let response: Response;
    if (credential.kind === 'identity' || credential.kind === 'refresh') {
      const refresh = await this.registryRefreshToken(realm, service);
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', refresh);
      response = await this.raw(
        'POST',
        pathOf(realm, '/oauth2/token'),
        { 'content-type': 'application/x-www-form-urlencoded' },
        undefined,
        Buffer.from(form.toString()),
      );
    } else {
      response = await this.raw(
        'GET',
        `${pathOf(realm, '/oauth2/token')}?${form.toString()}`,
        {},
        credential.kind === 'basic'
          ? basicHeader(credential.username, credential.password)
          : undefined,
      );
    }
    if (response.status !== 200) throw await this.errorFrom(response);
    const json: unknown = JSON.parse((await readAll(response.body, 1024 * 1024)).toString());
    const token = isObject(json) ? (json.access_token ?? json.token) : undefined;
    if (typeof token !== 'string') {
      throw new RegistryClientError(
        502,
        'UNAUTHORIZED',
        'the token endpoint returned no token',
        this.loginServer,
      );
    }
    const expiresIn = isObject(json) && typeof json.expires_in === 'number' ? json.expires_in : 60;
    this.accessTokens.set(scope, { token, expires: Date.now() + (expiresIn - 30) * 1000 });
  }

  /** ACR's exchange: identity token -> registry refresh token (cached for its lifetime). */
  private async registryRefreshToken(realm: string, service: string): Promise<string> {
    if (this.refreshToken && this.refreshToken.expires > Date.now()) return this.refreshToken.token;
    const credential = this.options.credential;
    if (credential.kind === 'refresh') {
      const token = await credential.token();
      this.refreshToken = { token, expires: Date.now() + 10 * 60 * 1000 };
      return token;
    }
    if (credential.kind !== 'identity') throw new Error('no identity credential');
    const form = new URLSearchParams({
      grant_type: 'access_token',
      service,
      access_token: await credential.token(),
    });
    const response = await this.raw(
      'POST',
      // ACR's exchange endpoint sits beside the realm (the token endpoint).
      pathOf(realm, '/oauth2/token').replace(/\/token$/, '/exchange'),
      { 'content-type': 'application/x-www-form-urlencoded' },
      undefined,
      Buffer.from(form.toString()),
    );
    if (response.status !== 200) throw await this.errorFrom(response);
    const json: unknown = JSON.parse((await readAll(response.body, 1024 * 1024)).toString());
    const token = isObject(json) ? json.refresh_token : undefined;
    if (typeof token !== 'string') {
      throw new RegistryClientError(
        502,
        'UNAUTHORIZED',
        'the exchange returned no refresh token',
        this.loginServer,
      );
    }
    this.refreshToken = { token, expires: Date.now() + 10 * 60 * 1000 };
    return token;
  }

  private async errorFrom(response: Response): Promise<RegistryClientError> {
    const text = (await readAll(response.body, 64 * 1024).catch(() => Buffer.alloc(0))).toString();
    let code = response.status === 401 ? 'UNAUTHORIZED' : `HTTP_${response.status}`;
    let message = text.trim() || `HTTP ${response.status}`;
    try {
      const json: unknown = JSON.parse(text);
      const first = isObject(json) && Array.isArray(json.errors) ? json.errors[0] : undefined;
      if (isObject(first)) {
        code = String(first.code ?? code);
        message = String(first.message ?? message);
      } else if (isObject(json) && typeof json.details === 'string') {
        message = json.details;
      }
    } catch {
      // not JSON: keep the text
    }
    return new RegistryClientError(response.status, code, message, this.loginServer);
  }

  private raw(
    method: string,
    path: string,
    headers: Record<string, string>,
    authorization: string | undefined,
    body?: Readable | Buffer,
  ): Promise<Response> {
    const endpoint = new URL(this.options.endpoint);
    const request = endpoint.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          method,
          host: endpoint.hostname.replace(/^\[|\]$/g, ''),
          port: endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80),
          path,
          headers: {
            ...headers,
            host: this.options.loginServer,
            'user-agent': 'breakwater-services/1',
            ...(authorization ? { authorization } : {}),
            ...(body instanceof Buffer ? { 'content-length': String(body.length) } : {}),
          },
          ...(this.options.localAddress ? { localAddress: this.options.localAddress } : {}),
          ...(this.options.ca ? { ca: this.options.ca } : {}),
          servername: this.options.loginServer.split(':')[0],
        },
        (incoming) =>
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: incoming }),
      );
      outgoing.on('error', (error) =>
        reject(
          new RegistryClientError(
            0,
            'UNREACHABLE',
            `could not reach ${this.options.endpoint}: ${error.message}`,
            this.loginServer,
          ),
        ),
      );
      if (body instanceof Readable) {
        pipeline(body, outgoing).catch(reject);
      } else {
        outgoing.end(body);
      }
    });
  }
}

/** Hashes what passes through and fails at the end when it does not match the digest. */
class VerifyingStream extends Transform {
  private readonly hash;
  private readonly expected: string;
  constructor(
    digest: string,
    private readonly loginServer: string,
  ) {
    super();
    const parsed = parseDigest(digest);
    this.hash = createDigester(parsed.algorithm);
    this.expected = digest;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.hash.update(chunk);
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback) {
    const algorithm = this.expected.split(':')[0];
    const actual = `${algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.expected) {
      callback(
        new RegistryClientError(
          502,
          'DIGEST_INVALID',
          `blob ${this.expected} arrived with digest ${actual}`,
          this.loginServer,
        ),
      );
    } else {
      callback();
    }
  }
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** `Bearer realm="...",service="...",scope="..."` -> its parameters. */
export function parseChallenge(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of header.replace(/^\w+\s+/, '').matchAll(/(\w+)="([^"]*)"/g)) {
    params[match[1]!.toLowerCase()] = match[2]!;
  }
  return params;
}

/** The path of the realm URL: the client always connects to its own endpoint (Host decides). */
function pathOf(realm: string, fallback: string): string {
  try {
    return new URL(realm).pathname || fallback;
  } catch {
    return fallback;
  }
}

export async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > limit) throw new Error(`response larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
