/**
 * @module bench/lib/workloads
 * What one measured run does against one registry. Every function gets a freshly started server
 * and returns rates; the caller owns the server's lifetime.
 *
 * - skopeo is run as a real user runs it: one process per image copy, plain HTTP via
 *   `--dest-tls-verify=false` / `--src-tls-verify=false`, pulls into an `oci:` layout.
 * - The raw HTTP client is the cheapest client node:http allows: one keep-alive connection,
 *   POST + monolithic PUT per blob with the body streamed from the layout file, GETs whose bodies
 *   are counted and dropped. It never hashes, so the server is what is measured. Big layers are
 *   pulled by curl into /dev/null: node:http's client tops out near half of loopback TCP and would
 *   measure itself (measured on this machine: ~1.8 GiB/s against curl's ~2.4 from either server).
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OCI_CONFIG, OCI_MANIFEST, type BlobRef, type ImageInput, type Layout } from './inputs.js';
import { readCpuSeconds, type Credentials, type RunningServer } from './servers.js';

const MiB = 1024 * 1024;

function seconds(started: number): number {
  return (performance.now() - started) / 1000;
}

// skopeo

export async function skopeo(args: string[]): Promise<void> {
  await capture('skopeo', ['--insecure-policy', ...args]);
}

/** Runs a client tool to its end; its standard output, or an error with the end of its stderr. */
async function capture(command: string, args: string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString('utf8')).slice(-4096);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4096);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  if (code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${stderr.trim()}`);
  }
  return stdout;
}

function creds(server: RunningServer, flag: '--dest-creds' | '--src-creds'): string[] {
  const c = server.credentials;
  return c ? [flag, `${c.username}:${c.password}`] : [];
}

function skopeoPush(
  server: RunningServer,
  layout: Layout,
  image: ImageInput,
  reference: string,
  extra: string[] = [],
) {
  return skopeo([
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    ...creds(server, '--dest-creds'),
    ...extra,
    `oci:${layout.dir}:${image.tag}`,
    `docker://${reference}`,
  ]);
}

function skopeoPull(
  server: RunningServer,
  reference: string,
  destination: string,
  tag: string,
  extra: string[] = [],
) {
  return skopeo([
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    ...creds(server, '--src-creds'),
    ...extra,
    `docker://${reference}`,
    `oci:${destination}:${tag}`,
  ]);
}

/** Runs `task` over `items` with at most `concurrency` in flight; the first failure stops it. */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next;
      next += 1;
      try {
        await task(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, worker);
  const results = await Promise.allSettled(workers);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

// Raw HTTP

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One keep-alive connection to one registry; bodies streamed, nothing hashed on this side. */
export class RawClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  /**
   * Seconds between the last byte of a streamed blob PUT leaving this client and the answer:
   * the server's commit (fsync, digest check, rename, metadata) plus draining what was in flight.
   */
  commitWaitSeconds = 0;

  /** `Authorization` for every request, once `login` has found what the registry wants. */
  private authorization: string | undefined;

  constructor(
    private readonly base: string,
    private readonly credentials?: Credentials,
  ) {}

  /**
   * Does what a registry client does before pushing or pulling `repository`: `GET /v2/`, and on a
   * 401 answers the challenge (a Bearer token from the realm, obtained with Basic credentials,
   * or Basic itself). Done before timing starts; registries without auth need nothing.
   */
  async login(repository: string): Promise<void> {
    const probe = await this.exchange('GET', '/v2/', {}, undefined, () => undefined);
    if (probe.status === 200) return;
    const challenge = String(probe.headers['www-authenticate'] ?? '');
    if (probe.status !== 401 || !this.credentials) {
      throw new Error(`GET /v2/: ${probe.status} (${challenge}) and no credentials to offer`);
    }
    const basic = `Basic ${Buffer.from(
      `${this.credentials.username}:${this.credentials.password}`,
    ).toString('base64')}`;
    if (!/^bearer /i.test(challenge)) {
      this.authorization = basic;
      return;
    }
    const params = Object.fromEntries(
      [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]),
    );
    if (!params.realm) throw new Error(`bearer challenge without a realm: ${challenge}`);
    const realm = new URL(params.realm, this.base);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', `repository:${repository}:pull,push`);
    const answer = await fetch(realm, { headers: { authorization: basic } });
    const body = (await answer.json()) as { access_token?: string; token?: string };
    const token = body.access_token ?? body.token;
    if (answer.status !== 200 || !token) {
      throw new Error(`token from ${realm.origin}${realm.pathname}: ${answer.status}`);
    }
    this.authorization = `Bearer ${token}`;
  }

  close(): void {
    this.agent.destroy();
  }

  private exchange(
    method: string,
    target: string | URL,
    headers: Record<string, string>,
    body: Buffer | Readable | undefined,
    onBody: (chunk: Buffer) => void,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; sentAt: number }> {
    const url = new URL(target, this.base);
    let sentAt = Number.NaN;
    const allHeaders = this.authorization
      ? { ...headers, authorization: this.authorization }
      : headers;
    return new Promise((resolve, reject) => {
      const options = { method, headers: allHeaders, agent: this.agent };
      const request = httpRequest(url, options, (response) => {
        response.on('data', onBody);
        response.once('error', reject);
        response.once('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, sentAt }),
        );
      });
      request.once('error', reject);
      request.once('finish', () => (sentAt = performance.now()));
      if (body === undefined) request.end();
      else if (Buffer.isBuffer(body)) request.end(body);
      else pipeline(body, request).catch(reject);
    });
  }

  async call(
    method: string,
    target: string | URL,
    expect: number,
    headers: Record<string, string> = {},
    body?: Buffer | Readable,
  ): Promise<Answer> {
    const parts: Buffer[] = [];
    const answer = await this.exchange(method, target, headers, body, (c) => parts.push(c));
    if (method === 'PUT' && body !== undefined && !Buffer.isBuffer(body)) {
      this.commitWaitSeconds += (performance.now() - answer.sentAt) / 1000;
    }
    const result = { ...answer, body: Buffer.concat(parts) };
    if (result.status !== expect) {
      throw new Error(
        `${method} ${String(target)}: expected ${expect}, got ${result.status}: ` +
          result.body.toString('utf8').slice(0, 500),
      );
    }
    return result;
  }

  /** GETs `target`, counting and dropping the body. */
  async discard(target: string, headers: Record<string, string> = {}): Promise<number> {
    let bytes = 0;
    const answer = await this.exchange('GET', target, headers, undefined, (chunk) => {
      bytes += chunk.length;
    });
    if (answer.status !== 200) throw new Error(`GET ${target}: ${answer.status}`);
    return bytes;
  }

  /** GETs `target` with curl into /dev/null (following a redirect); the bytes it received. */
  async discardWithCurl(target: string): Promise<number> {
    const args = ['-sS', '--fail', '-L', '-o', '/dev/null', '-w', '%{size_download}'];
    if (this.authorization) args.push('-H', `Authorization: ${this.authorization}`);
    const output = await capture('curl', [...args, new URL(target, this.base).toString()]);
    return Number(output.trim());
  }

  async pushBlob(repository: string, blob: BlobRef): Promise<void> {
    const started = await this.call('POST', `/v2/${repository}/blobs/uploads/`, 202, {
      'content-length': '0',
    });
    const location = started.headers.location;
    if (!location) throw new Error('upload started without a Location');
    const upload = new URL(location, this.base);
    upload.searchParams.set('digest', blob.digest);
    await this.call(
      'PUT',
      upload,
      201,
      { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      createReadStream(blob.path, { highWaterMark: MiB }),
    );
  }

  async pushImage(repository: string, tag: string, image: ImageInput): Promise<void> {
    for (const layer of image.layers) await this.pushBlob(repository, layer);
    await this.pushBlob(repository, image.config);
    await this.call(
      'PUT',
      `/v2/${repository}/manifests/${tag}`,
      201,
      { 'content-type': OCI_MANIFEST },
      Buffer.from(image.manifestBytes),
    );
  }

  /** Pulls manifest, config and layers; returns the layer bytes received. */
  async pullImage(repository: string, tag: string): Promise<number> {
    const manifest = await this.call('GET', `/v2/${repository}/manifests/${tag}`, 200, {
      accept: OCI_MANIFEST,
    });
    const parsed = JSON.parse(manifest.body.toString('utf8')) as {
      config: { digest: string; mediaType: string };
      layers: Array<{ digest: string; size: number }>;
    };
    if (parsed.config.mediaType !== OCI_CONFIG) throw new Error('unexpected config media type');
    await this.discard(`/v2/${repository}/blobs/${parsed.config.digest}`);
    let bytes = 0;
    for (const layer of parsed.layers) {
      const received = await this.discardWithCurl(`/v2/${repository}/blobs/${layer.digest}`);
      if (received !== layer.size) {
        throw new Error(`layer ${layer.digest}: got ${received} of ${layer.size} bytes`);
      }
      bytes += received;
    }
    return bytes;
  }
}

// Workloads

export interface RatePair {
  push: number;
  pull: number;
}

/** CPU milliseconds per image of a W2 push: the server's, and every skopeo process's together. */
export interface PushCpu {
  server: number;
  clients: number;
}

export interface ManyRates extends RatePair {
  pushCpu: PushCpu;
}

export interface RawRates extends RatePair {
  /** Share of the push's time spent waiting for blob commits (see `commitWaitSeconds`). */
  pushCommitShare: number;
}

/** W1 with skopeo: MiB/s of layer bytes for one push and one pull of the big image. */
export async function w1Skopeo(
  server: RunningServer,
  layout: Layout,
  scratch: string,
): Promise<RatePair> {
  const image = layout.images[0]!;
  const reference = `${server.host}/bench/w1-skopeo:big`;
  let started = performance.now();
  await skopeoPush(server, layout, image, reference);
  const push = image.layerBytes / MiB / seconds(started);
  const destination = join(scratch, `w1-pull-${server.kind}`);
  started = performance.now();
  await skopeoPull(server, reference, destination, 'big');
  const pull = image.layerBytes / MiB / seconds(started);
  await rm(destination, { recursive: true, force: true });
  return { push, pull };
}

/** W1 over raw HTTP: MiB/s of layer bytes, one blob after another on one connection. */
export async function w1Raw(server: RunningServer, layout: Layout): Promise<RawRates> {
  const image = layout.images[0]!;
  const client = new RawClient(server.url, server.credentials);
  try {
    await client.login('bench/w1-raw');
    let started = performance.now();
    await client.pushImage('bench/w1-raw', 'big', image);
    const pushSeconds = seconds(started);
    const push = image.layerBytes / MiB / pushSeconds;
    started = performance.now();
    const bytes = await client.pullImage('bench/w1-raw', 'big');
    const pull = bytes / MiB / seconds(started);
    return { push, pull, pushCommitShare: client.commitWaitSeconds / pushSeconds };
  } finally {
    client.close();
  }
}

/** Only the push half of W1 raw, or only the pull half (profiling splits them). */
export async function w1RawPush(server: RunningServer, layout: Layout): Promise<number> {
  const image = layout.images[0]!;
  const client = new RawClient(server.url, server.credentials);
  try {
    await client.login('bench/w1-raw');
    const started = performance.now();
    await client.pushImage('bench/w1-raw', 'big', image);
    return image.layerBytes / MiB / seconds(started);
  } finally {
    client.close();
  }
}

export async function w1RawPull(server: RunningServer): Promise<number> {
  const client = new RawClient(server.url, server.credentials);
  try {
    await client.login('bench/w1-raw');
    const started = performance.now();
    const bytes = await client.pullImage('bench/w1-raw', 'big');
    return bytes / MiB / seconds(started);
  } finally {
    client.close();
  }
}

export interface ManyOptions {
  concurrency: number;
  /** Extra skopeo flags for pushes and for pulls. */
  pushArgs?: string[];
  pullArgs?: string[];
  /** Skip the pull half. */
  pushOnly?: boolean;
}

function w2Reference(server: RunningServer, image: ImageInput): string {
  return `${server.host}/bench/w2-${image.tag}:v1`;
}

/** W2: images per second, `concurrency` skopeo processes at a time, push then pull. */
export async function w2Many(
  server: RunningServer,
  layout: Layout,
  scratch: string,
  options: ManyOptions,
): Promise<ManyRates> {
  const cpuBefore = await cpuNow(server);
  let started = performance.now();
  await runPool(layout.images, options.concurrency, (image) =>
    skopeoPush(server, layout, image, w2Reference(server, image), options.pushArgs),
  );
  const push = layout.images.length / seconds(started);
  const pushCpu = cpuPerImage(cpuBefore, await cpuNow(server), layout.images.length);
  if (options.pushOnly) return { push, pull: Number.NaN, pushCpu };
  const destination = join(scratch, `w2-pull-${server.kind}`);
  await mkdir(destination, { recursive: true });
  started = performance.now();
  await runPool(layout.images, options.concurrency, (image) =>
    skopeoPull(
      server,
      w2Reference(server, image),
      join(destination, image.tag),
      'v1',
      options.pullArgs,
    ),
  );
  const pull = layout.images.length / seconds(started);
  await rm(destination, { recursive: true, force: true });
  return { push, pull, pushCpu };
}

function cpuPerImage(before: CpuSeconds, after: CpuSeconds, images: number): PushCpu {
  return {
    server: (1000 * (after.server - before.server)) / images,
    clients: (1000 * (after.clients - before.clients)) / images,
  };
}

interface CpuSeconds {
  server: number;
  clients: number;
}

async function cpuNow(server: RunningServer): Promise<CpuSeconds> {
  return { server: await readCpuSeconds(server.pid), clients: await readCpuSeconds('self', true) };
}

/** W3: tags per second, pushed one after another, every tag sharing the same layers. */
export async function w3Dedupe(
  server: RunningServer,
  layout: Layout,
): Promise<{ rate: number; pushCpu: PushCpu }> {
  const cpuBefore = await cpuNow(server);
  const started = performance.now();
  for (const image of layout.images) {
    await skopeoPush(server, layout, image, `${server.host}/bench/w3:${image.tag}`);
  }
  const rate = layout.images.length / seconds(started);
  return { rate, pushCpu: cpuPerImage(cpuBefore, await cpuNow(server), layout.images.length) };
}
