/**
 * @module bench/lib/limits
 * The machine's own ceilings, measured in the same run as the registries, so every figure can be
 * read against what the hardware allowed at that moment:
 *
 * - sha256: Node's hash as a stream (64 KiB chunks, as a socket delivers them) on one core.
 * - loopback TCP: one connection between two Node processes, 1 MiB writes, bytes dropped.
 * - disk: sequential 1 MiB writes into the data directory's filesystem, then fsync.
 */
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;

export interface Limits {
  sha256: number;
  tcp: number;
  disk: number;
}

function rate(bytes: number, started: number): number {
  return bytes / MiB / ((performance.now() - started) / 1000);
}

function randomBuffer(size: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(size));
}

/** MiB/s of sha256 over a stream of 64 KiB chunks. */
export async function sha256Rate(bytes: number): Promise<number> {
  const source = randomBuffer(MiB);
  const chunk = 64 * 1024;
  function* chunks() {
    for (let done = 0; done < bytes; done += chunk) {
      const offset = done % MiB;
      yield source.subarray(offset, offset + chunk);
    }
  }
  const hash = createHash('sha256');
  const started = performance.now();
  await pipeline(Readable.from(chunks(), { objectMode: false }), hash);
  hash.digest();
  return rate(bytes, started);
}

/** MiB/s through one loopback TCP connection to a sink in another Node process. */
export async function tcpRate(bytes: number): Promise<number> {
  const sinkScript = fileURLToPath(new URL('./tcp-sink.js', import.meta.url));
  const sink = spawn(process.execPath, [sinkScript, String(bytes)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      sink.once('error', reject);
      sink.once('exit', (code) => reject(new Error(`tcp sink exited with ${code}`)));
      sink.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    });
    const buffer = randomBuffer(MiB);
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const started = performance.now();
    const acknowledged = new Promise<void>((resolve, reject) => {
      socket.once('data', () => resolve());
      socket.once('error', reject);
    });
    let sent = 0;
    while (sent < bytes) {
      const n = Math.min(MiB, bytes - sent);
      sent += n;
      if (!socket.write(n === MiB ? buffer : buffer.subarray(0, n))) {
        await new Promise((resolve) => socket.once('drain', resolve));
      }
    }
    await acknowledged;
    const result = rate(bytes, started);
    socket.destroy();
    return result;
  } finally {
    sink.kill();
  }
}

/** MiB/s of writing `bytes` into a file under `dir` and fsyncing it. */
export async function diskRate(dir: string, bytes: number): Promise<number> {
  const buffer = randomBuffer(MiB);
  const path = join(dir, 'disk-probe.bin');
  const handle = await open(path, 'w');
  try {
    const started = performance.now();
    for (let done = 0; done < bytes; done += MiB) {
      await handle.write(buffer, 0, Math.min(MiB, bytes - done));
    }
    await handle.sync();
    return rate(bytes, started);
  } finally {
    await handle.close();
    await rm(path, { force: true });
  }
}

export async function measureLimits(dir: string, scale: number): Promise<Limits> {
  const size = (full: number) => Math.max(128 * MiB, Math.round(full * scale));
  return {
    sha256: await sha256Rate(size(1024 * MiB)),
    tcp: await tcpRate(size(2048 * MiB)),
    disk: await diskRate(dir, size(1024 * MiB)),
  };
}
