/**
 * Memory stays flat: a 1 GiB blob pushed (monolithic PUT and chunked PATCH) and pulled through
 * the real server leaves its peak resident set under 150 MiB. Sizes and time are printed for the
 * record; only memory and correctness are asserted (timing belongs in `npm run bench`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

const MiB = 1024 * 1024;
const TOTAL = 1024 * MiB;
const LIMIT_BYTES = 150 * MiB;

/** 1 GiB of deterministic, non-repeating-per-MiB bytes, generated on the fly (never held whole). */
function bigStream(size = TOTAL): Readable {
  let sent = 0;
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const chunk = Buffer.from(block.subarray(0, Math.min(MiB, size - sent)));
      chunk.writeUInt32LE(sent / MiB, 0);
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

async function digestOfStream(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

function send(
  server: RunningServer,
  method: string,
  path: string,
  body?: Readable,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  digest: string;
  bytes: number;
}> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      { method, headers: { authorization: server.authHeader, ...headers } },
      (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            digest: `sha256:${hash.digest('hex')}`,
            bytes,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return kib * 1024;
}

describe('memory stays flat with 1 GiB blobs', () => {
  let server: RunningServer;
  let digest: string;
  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    digest = await digestOfStream(bigStream());
  });
  afterAll(async () => {
    await server.stop();
    removeDataDir(server.dataDir);
  });

  it('pushes monolithically, pulls, and stays under 150 MiB', async () => {
    const started = Date.now();
    const start = await send(server, 'POST', '/v2/big/blobs/uploads/');
    expect(start.status).toBe(202);
    const location = start.headers.location as string;
    const put = await send(server, 'PUT', `${location}?digest=${digest}`, bigStream(), {
      'content-type': 'application/octet-stream',
      'content-length': String(TOTAL),
    });
    expect(put.status).toBe(201);
    const pushed = Date.now();
    const pull = await send(server, 'GET', `/v2/big/blobs/${digest}`);
    expect(pull.status).toBe(200);
    expect(pull.bytes).toBe(TOTAL);
    expect(pull.digest).toBe(digest);
    const pulled = Date.now();
    const peak = peakRss(server.process.pid!);
    console.log(
      `1 GiB push ${(pushed - started) / 1000}s, pull ${(pulled - pushed) / 1000}s, ` +
        `server peak RSS ${(peak / MiB).toFixed(1)} MiB`,
    );
    expect(peak).toBeLessThan(LIMIT_BYTES);
  });

  it('takes the same blob in 64 MiB chunks without growing', async () => {
    const start = await send(server, 'POST', '/v2/big/chunked/blobs/uploads/');
    let location = start.headers.location as string;
    const chunk = 64 * MiB;
    const source = bigStream();
    const reader = source[Symbol.asyncIterator]();
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let offset = 0;
    const flush = async () => {
      const body = Readable.from(pending);
      const patch = await send(server, 'PATCH', location, body, {
        'content-type': 'application/octet-stream',
        'content-range': `${offset}-${offset + pendingBytes - 1}`,
        'content-length': String(pendingBytes),
      });
      expect(patch.status).toBe(202);
      location = patch.headers.location as string;
      offset += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    for (;;) {
      const next = await reader.next();
      if (next.done) break;
      pending.push(next.value as Buffer);
      pendingBytes += (next.value as Buffer).length;
      if (pendingBytes >= chunk) await flush();
    }
    if (pendingBytes > 0) await flush();
    const put = await send(server, 'PUT', `${location}?digest=${digest}`);
    expect(put.status).toBe(201);
    expect(peakRss(server.process.pid!)).toBeLessThan(LIMIT_BYTES);
  });
});
