/**
 * @module test/interop/harness
 * The registry side of interop tests: starts the real `breakwater serve` (test/support/server.ts)
 * behind a recording proxy (test/support/recording-proxy.ts), and writes the server log and the
 * recorded HTTP exchange to test-artifacts/interop/ when the suite ends.
 *
 * INTEROP_REGISTRY=host:port runs the suites against an already-running registry instead (for
 * example Debian's docker-registry with deletes enabled), to check the tests themselves against
 * a reference implementation. Repository names always carry a per-run prefix so reruns against
 * a long-lived registry do not collide.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  startRecordingProxy,
  type RecordedRequest,
  type RecordingProxy,
} from '../support/recording-proxy.js';
import { REPO_ROOT, removeDataDir, startServer, type RunningServer } from '../support/server.js';

export interface InteropRegistry {
  /** `127.0.0.1:PORT` clients must use (the recording proxy in front of the registry). */
  host: string;
  proxy: RecordingProxy;
  /** Per-run repository prefix, e.g. `it-lq3x9a`. */
  prefix: string;
  /** `${prefix}/${name}`. */
  repo(name: string): string;
  /** Credentials for the registry (the bootstrap owner; INTEROP_USERNAME/PASSWORD externally). */
  credentials?: { username: string; password: string };
  /** Everything the server logged so far (empty against an external registry). */
  serverOutput(): string;
  /** Tail of the server log and of the HTTP exchange, to append to failure messages. */
  diagnostics(): string;
  stop(): Promise<void>;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

export async function startInteropRegistry(suite: string): Promise<InteropRegistry> {
  const external = process.env.INTEROP_REGISTRY;
  let server: RunningServer | undefined;
  let target: string;
  if (external) {
    target = external;
  } else {
    server = await startServer();
    target = server.host;
  }
  const proxy = await startRecordingProxy(target);
  const prefix = `it-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  const serverOutput = () => server?.output() ?? '';

  const credentials = server
    ? { username: server.owner.clientId, password: server.owner.clientSecret }
    : process.env.INTEROP_USERNAME
      ? { username: process.env.INTEROP_USERNAME, password: process.env.INTEROP_PASSWORD ?? '' }
      : undefined;
  return {
    host: proxy.host,
    proxy,
    ...(credentials ? { credentials } : {}),
    prefix,
    repo: (name) => `${prefix}/${name}`,
    serverOutput,
    diagnostics: () =>
      [
        `--- registry: ${external ? `external ${external}` : `breakwater at ${target}`} via proxy ${proxy.host} ---`,
        `--- last HTTP requests ---\n${tail(proxy.log(), 40)}`,
        `--- server output (tail) ---\n${tail(serverOutput(), 40)}`,
      ].join('\n'),
    async stop() {
      await proxy.close();
      const code = server ? await server.stop() : null;
      const artifacts = join(REPO_ROOT, 'test-artifacts', 'interop');
      await mkdir(artifacts, { recursive: true });
      await writeFile(join(artifacts, `${suite}-server.log`), serverOutput());
      await writeFile(
        join(artifacts, `${suite}-http.log`),
        `${proxy.log()}\n(server exit code: ${code})\n`,
      );
      if (server) removeDataDir(server.dataDir);
    },
  };
}

/** The `mount` and `from` query parameters of a blob-upload POST, if it is a mount request. */
export function mountParameters(url: string): { mount: string; from: string } | undefined {
  const query = new URL(url, 'http://registry.invalid').searchParams;
  const mount = query.get('mount');
  const from = query.get('from');
  return mount && from ? { mount, from } : undefined;
}

/**
 * Digests that were mounted (201 Created) into `destination` from another repository of this
 * run, among `requests`. Which source repository a client picks is up to its blob-location cache
 * (a shared base layer lives in many), so any other repository of the run counts.
 */
export function mountedDigests(
  registry: InteropRegistry,
  requests: RecordedRequest[],
  destination: string,
): string[] {
  const mounted = new Set<string>();
  for (const entry of requests) {
    if (entry.method !== 'POST' || entry.status !== 201) continue;
    if (!entry.url.startsWith(`/v2/${destination}/blobs/uploads/`)) continue;
    const parameters = mountParameters(entry.url);
    if (!parameters) continue;
    if (parameters.from === destination || !parameters.from.startsWith(`${registry.prefix}/`)) {
      continue;
    }
    mounted.add(parameters.mount);
  }
  return [...mounted].sort();
}

/** The recorded requests as `METHOD URL -> STATUS` lines. */
export function formatRequests(requests: RecordedRequest[]): string {
  return requests.map((entry) => `${entry.method} ${entry.url} -> ${entry.status}`).join('\n');
}
