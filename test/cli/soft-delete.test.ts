/**
 * ACR's soft delete against a live server collecting garbage every 0.6 s: with
 * `policies.softDeletePolicy` enabled a deleted image leaves the API, is listed by `acr manifest
 * list-deleted(-tags)`, keeps its blobs through collection passes, and `acr manifest restore`
 * brings it back for skopeo to pull; with the policy off a deleted image is gone for good.
 * (Expiry after retentionDays is driven with a moved clock in garbage-collector.test.ts.)
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import { ClientSandbox, commandAvailable, describeRun } from '../support/clients.js';
import { requireClient, type RunningServer } from '../support/server.js';
import { dataRequest, startCliSession, type CliSession } from './cli.js';
import { pushImage } from './push.js';

const enabled = requireClient('skopeo', await commandAvailable('skopeo'));
const API = 'api-version=2023-07-01';
/** Collection every 0.6 s; nothing younger than 1.2 s is collected. */
const GC_ENV = { BREAKWATER_GC_INTERVAL_MINUTES: '0.01', BREAKWATER_GC_GRACE_MINUTES: '0.02' };

const layerOf = (seed: string) =>
  `sha256:${createHash('sha256').update(`layer of ${seed}`).digest('hex')}`;

describe.runIf(enabled)('soft delete (softDeletePolicy)', () => {
  let session: CliSession;
  let server: RunningServer;
  let arm: ArmClient;
  let clients: ClientSandbox;
  const run = (...args: string[]) => session.run(...args);

  beforeAll(async () => {
    session = await startCliSession({ env: GC_ENV });
    ({ server } = session);
    arm = new ArmClient(server);
    clients = await ClientSandbox.create();
    await clients.login(server.host, server.owner.clientId, server.owner.clientSecret);
    expect(run('login').status).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await clients?.cleanup();
    await session?.close();
  });

  const setPolicy = async (status: 'enabled' | 'disabled') => {
    const response = await arm.arm('PATCH', `${arm.registryId()}?${API}`, {
      properties: { policies: { softDeletePolicy: { retentionDays: 2, status } } },
    });
    expect(response.status, response.text).toBe(200);
  };
  const blobStatus = async (repository: string, digest: string) =>
    (
      await dataRequest(`${server.url}/v2/${repository}/blobs/${digest}`, {
        method: 'HEAD',
        headers: { authorization: server.authHeader },
      })
    ).status;
  const manifestStatus = async (repository: string, reference: string) =>
    (
      await dataRequest(`${server.url}/v2/${repository}/manifests/${reference}`, {
        method: 'HEAD',
        headers: {
          authorization: server.authHeader,
          accept: 'application/vnd.oci.image.manifest.v1+json',
        },
      })
    ).status;

  it('keeps a deleted image restorable, its blobs through collection, until restored', async () => {
    const kept = await pushImage(server, 'app', 'v1');
    const gone = await pushImage(server, 'scratch', 'v1');

    await setPolicy('enabled');
    const remove = run('acr', 'repository', 'delete', '-n', 'myregistry', '-t', 'app:v1', '--yes');
    expect(remove.stderr).toBe('');
    expect(remove.status).toBe(0);
    expect(await manifestStatus('app', 'v1')).toBe(404);
    expect(await manifestStatus('app', kept)).toBe(404);

    // With the policy off, a delete is final.
    await setPolicy('disabled');
    expect(
      run('acr', 'repository', 'delete', '-n', 'myregistry', '-t', 'scratch:v1', '--yes').status,
    ).toBe(0);

    const deleted = run('acr', 'manifest', 'list-deleted', '-r', 'myregistry', '-n', 'app');
    expect(deleted.stderr).toBe('');
    const [manifest] = deleted.json<Array<Record<string, string>>>();
    expect(manifest).toMatchObject({ digest: kept, deletedAt: expect.any(String) });
    // az's expiresAfter: the deletion plus the policy's retention days.
    expect(Date.parse(manifest!.expiresAfter!) - Date.parse(manifest!.deletedAt!)).toBe(
      2 * 24 * 3600_000,
    );
    expect(
      run('acr', 'manifest', 'list-deleted-tags', '-r', 'myregistry', '-n', 'app:v1').json(),
    ).toEqual([
      { tag: 'v1', digest: kept, deletedAt: expect.any(String), expiresAfter: expect.any(String) },
    ]);
    expect(
      run('acr', 'manifest', 'list-deleted-tags', '-r', 'myregistry', '-n', 'scratch').json(),
    ).toEqual([]);

    // Collection takes the hard-deleted image's layer (deleted last)...
    const deadline = Date.now() + 30_000;
    while ((await blobStatus('scratch', layerOf('scratch:v1'))) !== 404) {
      expect(Date.now(), 'the hard-deleted layer was never collected').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 200));
    }
    // ... and leaves the soft-deleted one's.
    expect(await blobStatus('app', layerOf('app:v1'))).toBe(200);

    const restored = run('acr', 'manifest', 'restore', '-r', 'myregistry', '-n', 'app:v1');
    expect(restored.stderr).toBe('');
    expect(restored.status).toBe(0);
    expect(run('acr', 'manifest', 'list-deleted', '-r', 'myregistry', '-n', 'app').json()).toEqual(
      [],
    );
    const out = mkdtempSync(join(tmpdir(), 'breakwater-soft-delete-'));
    try {
      const pulled = await clients.skopeo([
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        `docker://${server.host}/app:v1`,
        `oci:${out}:v1`,
      ]);
      expect(pulled.code, describeRun(pulled)).toBe(0);
      const inspected = await clients.skopeo(['inspect', '--raw', `oci:${out}:v1`]);
      const layers = (JSON.parse(inspected.stdout) as { layers: Array<{ digest: string }> }).layers;
      expect(layers.map((l) => l.digest)).toEqual([layerOf('app:v1')]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }

    // The hard-deleted image has nothing to restore.
    const nothing = run('acr', 'manifest', 'restore', '-r', 'myregistry', '-n', 'scratch:v1');
    expect(nothing.status).toBe(1);
    expect(nothing.stderr).toBe('ERROR: No deleted manifests found for tag: v1\n');
    const byDigest = run(
      'acr',
      'manifest',
      'restore',
      '-r',
      'myregistry',
      '-n',
      'scratch:v1',
      '-d',
      gone,
    );
    expect(byDigest.status).toBe(1);
    expect(byDigest.stderr).toMatch(/^ERROR: Error: no soft-deleted manifest with that digest/);
  }, 90_000);

  it('restores over a moved tag only with --force, and lists deleted repositories', async () => {
    await setPolicy('enabled');
    const first = await pushImage(server, 'moving', 'v1', 'first');
    expect(
      run('acr', 'repository', 'delete', '-n', 'myregistry', '-t', 'moving:v1', '--yes').status,
    ).toBe(0);
    const second = await pushImage(server, 'moving', 'v1', 'second');

    const refused = run('acr', 'manifest', 'restore', '-r', 'myregistry', '-n', 'moving:v1');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^ERROR: Error: the tag names another manifest/);
    const forced = run('acr', 'manifest', 'restore', '-r', 'myregistry', '-n', 'moving:v1', '-f');
    expect(forced.status, forced.stderr).toBe(0);
    expect(await manifestStatus('moving', 'v1')).toBe(200);
    // The tag it moved is soft-deleted in turn (the policy is on).
    expect(
      run('acr', 'manifest', 'list-deleted-tags', '-r', 'myregistry', '-n', 'moving').json(),
    ).toMatchObject([{ tag: 'v1', digest: second }]);
    expect(first).not.toBe(second);

    expect(
      run('acr', 'repository', 'delete', '-n', 'myregistry', '--repository', 'moving', '--yes')
        .status,
    ).toBe(0);
    expect(run('acr', 'repository', 'list-deleted', '-n', 'myregistry').json()).toEqual(['moving']);
    expect(run('acr', 'repository', 'list', '-n', 'myregistry').json()).not.toContain('moving');
  }, 60_000);
});
