/**
 * Crash safety: concurrent pushes (monolithic and chunked) while the server is SIGKILLed at
 * random moments, round after round. After each restart:
 *
 *   - every manifest acknowledged in the round is served byte for byte, and every blob it
 *     references verifies against its digest (a sample of older rounds is re-checked, all of
 *     them at the end): data lost must be zero;
 *   - every blob a pusher attempted is either absent or whole: nothing half-written is served;
 *   - every chunked upload the kill interrupted either resumes (its status is a prefix of what
 *     was sent; sending the rest completes a blob that verifies) or is cleanly unknown (404).
 *
 * The same harness runs on both metadata backends: the embedded SQLite file, and PostgreSQL
 * (a throwaway cluster, test/support/postgres.ts; the registry server is what gets killed, with
 * its transactions and pooled connections cut mid-flight, while the database keeps running).
 *
 * CI runs 50 cheap rounds on SQLite and 10 on PostgreSQL (a restart costs more there); BREAKWATER_CRASH_ROUNDS and
 * BREAKWATER_CRASH_PG_ROUNDS set more for the long form (e.g. 1000 and 200).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

const ROUNDS = Number(process.env.BREAKWATER_CRASH_ROUNDS ?? 50);
const PG_ROUNDS = Number(process.env.BREAKWATER_CRASH_PG_ROUNDS ?? 10);
const PUSHERS = 4;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The bootstrap owner's Basic credentials (the same across restarts of one data directory). */
let authorization = '';

function authed(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization },
  });
}

interface Acknowledged {
  repository: string;
  tag: string;
  manifest: Buffer;
  blobs: string[];
}

/** A chunked upload in progress: where it is and all the bytes it is meant to hold. */
interface InFlight {
  repository: string;
  location: string;
  bytes: Buffer;
}

async function pushBlob(
  base: string,
  repository: string,
  bytes: Buffer,
  chunked: boolean,
  inflight: Map<number, InFlight>,
  id: number,
): Promise<string> {
  const digest = sha256(bytes);
  if (!chunked) {
    const response = await authed(`${base}/v2/${repository}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (response.status !== 201) throw new Error(`monolithic push: ${response.status}`);
    return digest;
  }
  const start = await authed(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`start upload: ${start.status}`);
  let location = start.headers.get('location')!;
  inflight.set(id, { repository, location, bytes });
  const third = Math.floor(bytes.length / 3);
  for (const [from, to] of [
    [0, third],
    [third, 2 * third],
    [2 * third, bytes.length],
  ] as const) {
    const patch = await authed(`${base}${location}`, {
      method: 'PATCH',
      body: bytes.subarray(from, to),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` },
    });
    if (patch.status !== 202) throw new Error(`chunk: ${patch.status}`);
    location = patch.headers.get('location')!;
    inflight.set(id, { repository, location, bytes });
  }
  const put = await authed(
    `${base}${location}${location.includes('?') ? '&' : '?'}digest=${digest}`,
    {
      method: 'PUT',
    },
  );
  if (put.status !== 201) throw new Error(`close upload: ${put.status}`);
  inflight.delete(id);
  return digest;
}

/** Pushes images until the server dies; records what the server acknowledged. */
async function pusher(
  base: string,
  id: number,
  round: number,
  acked: Acknowledged[],
  attempted: Map<string, string>,
  inflight: Map<number, InFlight>,
): Promise<void> {
  for (let n = 0; ; n += 1) {
    const repository = `crash/p${id}`;
    const layers = [randomBytes(20_000 + n), randomBytes(400_000)];
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n, round }));
    try {
      const blobs: string[] = [];
      for (const [index, bytes] of [config, ...layers].entries()) {
        attempted.set(sha256(bytes), repository);
        blobs.push(await pushBlob(base, repository, bytes, index === 2, inflight, id));
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: blobs[0],
            size: config.length,
          },
          layers: layers.map((l, i) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: blobs[i + 1],
            size: l.length,
          })),
        }),
      );
      const tag = `r${round}-n${n}`;
      const response = await authed(`${base}/v2/${repository}/manifests/${tag}`, {
        method: 'PUT',
        body: manifest,
        headers: { 'content-type': OCI_MANIFEST },
      });
      if (response.status !== 201) throw new Error(`manifest: ${response.status}`);
      acked.push({ repository, tag, manifest, blobs });
    } catch {
      return; // the server went away mid-push: expected
    }
  }
}

/** The acknowledged image is served whole: manifest byte for byte, every blob by its digest. */
async function verifyImage(base: string, image: Acknowledged): Promise<void> {
  const manifest = await authed(`${base}/v2/${image.repository}/manifests/${image.tag}`);
  expect(manifest.status, `${image.repository}:${image.tag}`).toBe(200);
  expect(Buffer.from(await manifest.arrayBuffer())).toEqual(image.manifest);
  for (const digest of image.blobs) {
    const blob = await authed(`${base}/v2/${image.repository}/blobs/${digest}`);
    expect(blob.status, digest).toBe(200);
    expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(digest);
  }
}

/** An interrupted upload resumes from what the server holds, or is cleanly unknown. */
async function resumeOrGone(base: string, upload: InFlight): Promise<'resumed' | 'gone'> {
  const status = await authed(`${base}${upload.location}`);
  if (status.status === 404) return 'gone';
  expect(status.status).toBe(204);
  const range = /^(?:bytes=)?0-(\d+)$/.exec(status.headers.get('range') ?? '');
  expect(range, `range ${status.headers.get('range')}`).not.toBeNull();
  // "0-0" is both "nothing" and "one byte"; resend from 0 then (a 416 would say otherwise).
  const offset = Number(range![1]) === 0 ? 0 : Number(range![1]) + 1;
  expect(offset).toBeLessThanOrEqual(upload.bytes.length);
  let location = status.headers.get('location') ?? upload.location;
  if (offset < upload.bytes.length) location = await sendRest(base, location, upload, offset);
  const digest = sha256(upload.bytes);
  const put = await authed(
    `${base}${location}${location.includes('?') ? '&' : '?'}digest=${digest}`,
    {
      method: 'PUT',
    },
  );
  expect(put.status, await put.clone().text()).toBe(201);
  const blob = await authed(`${base}/v2/${upload.repository}/blobs/${digest}`);
  expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(digest);
  return 'resumed';
}

async function sendRest(
  base: string,
  location: string,
  upload: InFlight,
  from: number,
): Promise<string> {
  let offset = from;
  let patch = await authed(`${base}${location}`, {
    method: 'PATCH',
    body: upload.bytes.subarray(offset),
    headers: {
      'content-type': 'application/octet-stream',
      'content-range': `${offset}-${upload.bytes.length - 1}`,
    },
  });
  if (patch.status === 416 && offset === 0) {
    // It held one byte.
    offset = 1;
    patch = await authed(`${base}${location}`, {
      method: 'PATCH',
      body: upload.bytes.subarray(offset),
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${offset}-${upload.bytes.length - 1}`,
      },
    });
  }
  expect(patch.status, await patch.clone().text()).toBe(202);
  return patch.headers.get('location')!;
}

/**
 * Rounds of pushes and SIGKILLs against one data directory (and `env`'s metadata backend);
 * returns the figures for the report line.
 */
async function crashRounds(
  rounds: number,
  env: Record<string, string>,
  servers: { current?: RunningServer },
): Promise<string> {
  const start = (dataDir?: string, port?: number) =>
    startServer({
      ...(dataDir ? { dataDir } : {}),
      ...(port ? { port } : {}),
      env,
      extraArgs: ['--log-level', 'warn'],
    });
  let server = await start();
  servers.current = server;
  authorization = server.authHeader;
  const acked: Acknowledged[] = [];
  const uploads = { resumed: 0, gone: 0 };
  let halfWrittenChecked = 0;
  for (let round = 0; round < rounds; round += 1) {
    const attempted = new Map<string, string>();
    const inflight = new Map<number, InFlight>();
    const before = acked.length;
    const pushers = Array.from({ length: PUSHERS }, (_, id) =>
      pusher(server.url, id, round, acked, attempted, inflight),
    );
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 400));
    // On a loaded machine a push can outlast that delay: wait (30 s at most) until this round
    // has acknowledged an image, so every kill lands mid-push with something to verify.
    const until = Date.now() + 30_000;
    while (acked.length === before && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await server.kill();
    await Promise.all(pushers);
    server = await start(server.dataDir, server.port);
    servers.current = server;

    // This round's acknowledged images, and a few of the older ones.
    for (const image of acked.slice(before)) await verifyImage(server.url, image);
    for (let i = 0; i < Math.min(3, before); i += 1) {
      await verifyImage(server.url, acked[Math.floor(Math.random() * before)]!);
    }
    // Whatever was attempted but not acknowledged is either absent or whole.
    for (const [digest, repository] of attempted) {
      const blob = await authed(`${server.url}/v2/${repository}/blobs/${digest}`);
      if (blob.status === 200) expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(digest);
      else expect(blob.status).toBe(404);
      halfWrittenChecked += 1;
    }
    for (const upload of inflight.values()) uploads[await resumeOrGone(server.url, upload)] += 1;
  }
  for (const image of acked) await verifyImage(server.url, image);
  expect(acked.length).toBeGreaterThan(0);
  return (
    `${rounds} kills (SIGKILL), ${acked.length} acknowledged images verified, data lost: 0; ` +
    `${halfWrittenChecked} attempted blobs absent or whole; interrupted uploads resumed: ${uploads.resumed}, cleanly gone: ${uploads.gone}`
  );
}

describe('crash safety under SIGKILL', () => {
  const servers: { current?: RunningServer } = {};
  afterAll(async () => {
    if (servers.current) {
      await servers.current.stop();
      removeDataDir(servers.current.dataDir);
    }
  });

  it(`keeps every acknowledged image intact across ${ROUNDS} kills (SQLite)`, async () => {
    console.log(`crash safety (SQLite): ${await crashRounds(ROUNDS, {}, servers)}`);
  }, 600_000);
});

describe.skipIf(!requirePostgres())('crash safety under SIGKILL on PostgreSQL', () => {
  const servers: { current?: RunningServer } = {};
  let postgres: PostgresServer | undefined;
  afterAll(async () => {
    if (servers.current) {
      await servers.current.stop();
      removeDataDir(servers.current.dataDir);
    }
    await postgres?.stop();
  });

  it(`keeps every acknowledged image intact across ${PG_ROUNDS} kills (PostgreSQL)`, async () => {
    postgres = await startPostgres();
    const env = { BREAKWATER_METADATA_URL: await postgres.createDatabase() };
    console.log(`crash safety (PostgreSQL): ${await crashRounds(PG_ROUNDS, env, servers)}`);
  }, 600_000);
});
