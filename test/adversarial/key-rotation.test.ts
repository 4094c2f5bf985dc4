/**
 * Signing-key rotation without downtime, on a real server: `breakwater keys rotate` writes new
 * keys and signals the server; new tokens carry the new key id at once, tokens signed before
 * keep working (identity tokens on the management API, registry tokens on the data plane), and
 * only once a later rotation retires the old keys (after every token they signed has expired,
 * simulated by rotating "four hours later") do the old tokens stop verifying.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETIRE_AFTER_MS, rotateSigningKeys } from '../../src/identity/index.js';
import { ArmClient } from '../support/arm-client.js';
import { BIN, removeDataDir, startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
let arm: ArmClient;

beforeAll(async () => {
  server = await startServer({ extraArgs: ['--log-level', 'warn'] });
  arm = new ArmClient(server);
});
afterAll(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
});

const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

async function registryToken(): Promise<string> {
  const response = await fetch(
    `${server.url}/oauth2/token?service=${server.host}&scope=repository:rotation/app:pull`,
    { headers: { authorization: server.authHeader } },
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function pingData(token: string): Promise<number> {
  return (await fetch(`${server.url}/v2/`, { headers: { authorization: `Bearer ${token}` } }))
    .status;
}

async function pingArm(token: string): Promise<number> {
  const response = await arm.send('GET', '/subscriptions?api-version=2022-12-01', undefined, {
    authorization: `Bearer ${token}`,
  });
  return response.status;
}

/** Waits until the server signs with `kid` (it reloads on SIGHUP, asynchronously). */
async function signsWith(kid: string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const token = await registryToken();
    if (kidOf(token) === kid) return token;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the server never signed with ${kid}`);
}

describe('signing key rotation', () => {
  it('signs with the new key at once, keeps old tokens valid, and retires old keys only later', async () => {
    const oldRegistry = await registryToken();
    const oldIdentity = await arm.accessToken();
    expect(await pingData(oldRegistry)).toBe(200);
    expect(await pingArm(oldIdentity)).toBe(200);

    const rotated = spawnSync(
      process.execPath,
      [BIN, 'keys', 'rotate', '--data', server.dataDir, '-o', 'json'],
      { encoding: 'utf8' },
    );
    expect(rotated.status, rotated.stderr).toBe(0);
    const result = JSON.parse(rotated.stdout) as {
      rotations: { purpose: string; signingKeyId: string; retiredKeyIds: string[] }[];
      serverSignalled: boolean;
    };
    expect(result.serverSignalled).toBe(true);
    const registryKid = result.rotations.find((r) => r.purpose === 'registry')!.signingKeyId;
    expect(registryKid).not.toBe(kidOf(oldRegistry));
    expect(result.rotations.every((r) => r.retiredKeyIds.length === 0)).toBe(true);

    const newRegistry = await signsWith(registryKid);
    expect(await pingData(newRegistry)).toBe(200);
    // Tokens signed before the rotation still work: no client notices.
    expect(await pingData(oldRegistry)).toBe(200);
    expect(await pingArm(oldIdentity)).toBe(200);
    const newIdentity = await arm.accessToken();
    expect(kidOf(newIdentity)).toBe(
      result.rotations.find((r) => r.purpose === 'identity')!.signingKeyId,
    );

    // Four hours on, a rotation retires the keys replaced by the first one; the old tokens
    // (long expired by then in real life) stop verifying, the newer ones keep working.
    const later = Date.now() + RETIRE_AFTER_MS + 60_000;
    for (const purpose of ['registry', 'identity'] as const) {
      const { retired } = await rotateSigningKeys(join(server.dataDir, 'keys'), purpose, later);
      expect(retired).toContain(purpose === 'registry' ? kidOf(oldRegistry) : kidOf(oldIdentity));
    }
    process.kill(server.process.pid!, 'SIGHUP');
    for (let attempt = 0; attempt < 100 && (await pingData(oldRegistry)) !== 401; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await pingData(oldRegistry)).toBe(401);
    expect(await pingArm(oldIdentity)).toBe(401);
    expect(await pingData(newRegistry)).toBe(200);
    expect(await pingArm(newIdentity)).toBe(200);
  });
});
