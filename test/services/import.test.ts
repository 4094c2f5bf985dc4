/**
 * Import (`POST .../importImage`) on the real server, between two registries whose public
 * access is disabled: the first-party import identity gets in through the trusted-services
 * bypass, and only then; the caller needs importImage on the target and read on the source; the
 * source may be named by resource id, name or login server; indexes arrive with every child,
 * blobs and referrers; what the target has is not sent again. And an import from a local CNCF
 * Distribution (Debian's docker-registry), anonymously and with htpasswd credentials.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArmClient } from '../support/arm-client.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import {
  ACR_API,
  dataRequest,
  DISTRIBUTION,
  startDistribution,
  type Distribution,
  digestOf,
  loginServerOf,
  OCI_INDEX,
  Platform,
  pushIndexImage,
  runOperation,
  type PushedImage,
} from './support.js';

const SOURCE = 'impsource';
const TARGET = 'imptarget';

describe('import between network-restricted registries', () => {
  let server: RunningServer;
  let platform: Platform;
  let importer: { id: string; appId: string; arm: ArmClient };
  let image: PushedImage;
  let other: PushedImage;

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    platform = new Platform(server);
    await platform.createRegistry(SOURCE);
    await platform.createRegistry(TARGET);
    image = await pushIndexImage(platform.data(SOURCE), 'app', 'v1', 'one');
    other = await pushIndexImage(platform.data(SOURCE), 'app', 'v2', 'two');
    importer = await platform.createPrincipal('importer');
    await platform.assign(platform.registryId(TARGET), 'Importer', importer.id);
    await platform.assign(platform.registryId(SOURCE), 'AcrPull', importer.id);
    for (const name of [SOURCE, TARGET]) {
      await platform.setNetwork(name, { publicAccess: false, trustedServices: true });
    }
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  const importInto = (arm: ArmClient, body: unknown) =>
    runOperation(arm, `${platform.registryId(TARGET)}/importImage?${ACR_API}`, body);

  /** Opens the target's public access for the owner to look, then closes it again. */
  async function inTarget<T>(
    look: (
      get: (
        path: string,
      ) => Promise<{ status: number; body: string; headers: Record<string, unknown> }>,
    ) => Promise<T>,
  ): Promise<T> {
    await platform.setNetwork(TARGET, { publicAccess: true });
    try {
      return await look((path) =>
        platform.data(TARGET)('GET', path, undefined, {
          accept: `${OCI_INDEX}, application/vnd.oci.image.manifest.v1+json`,
        }),
      );
    } finally {
      await platform.setNetwork(TARGET, { publicAccess: false });
    }
  }

  it('copies the index, every child, the blobs and the referrers, by resource id, name and login server', async () => {
    const sources = {
      byid: { resourceId: platform.registryId(SOURCE) },
      byname: { registryUri: SOURCE },
      byloginserver: { registryUri: loginServerOf(SOURCE) },
    };
    for (const [repository, source] of Object.entries(sources)) {
      const outcome = await importInto(importer.arm, {
        source: { ...source, sourceImage: 'app:v1' },
        targetTags: [`${repository}:v1`],
        mode: 'NoForce',
      });
      expect(outcome.accepted.status, outcome.accepted.text).toBe(202);
      expect(outcome.accepted.headers.location).toMatch(
        /\/providers\/Microsoft\.ContainerRegistry\/locations\/local\/operationResults\/registries-/,
      );
      expect(outcome.status?.status, JSON.stringify(outcome.status)).toBe('Succeeded');
      expect(outcome.status?.properties).toMatchObject({ digest: image.digest, referrers: 1 });
    }
    await inTarget(async (get) => {
      for (const repository of Object.keys(sources)) {
        const index = await get(`/v2/${repository}/manifests/v1`);
        expect(index.status, index.body).toBe(200);
        expect(digestOf(index.body)).toBe(image.digest);
        for (const child of image.children) {
          expect((await get(`/v2/${repository}/manifests/${child}`)).status).toBe(200);
        }
        for (const blob of image.blobs) {
          const fetched = await get(`/v2/${repository}/blobs/${blob}`);
          expect(fetched.status, blob).toBe(200);
          expect(digestOf(fetched.body)).toBe(blob);
        }
        const referrers = await get(`/v2/${repository}/referrers/${image.children[0]}`);
        expect(
          JSON.parse(referrers.body).manifests.map((m: { digest: string }) => m.digest),
        ).toEqual([image.referrer]);
      }
    });
  });

  it('sends no blob the target repository already has, and Force moves an existing tag', async () => {
    const outcome = await importInto(importer.arm, {
      source: { resourceId: platform.registryId(SOURCE), sourceImage: 'app:v1' },
      targetTags: ['byid:v1'],
      mode: 'Force',
    });
    expect(outcome.status?.status, JSON.stringify(outcome.status)).toBe('Succeeded');
    expect(outcome.status?.properties).toMatchObject({ blobsCopied: 0 });
    expect(Number(outcome.status?.properties?.blobsSkipped)).toBeGreaterThanOrEqual(
      image.blobs.length,
    );

    const noForce = await importInto(importer.arm, {
      source: { resourceId: platform.registryId(SOURCE), sourceImage: 'app:v2' },
      targetTags: ['byid:v1'],
    });
    expect(noForce.status?.status, JSON.stringify(noForce.status)).toBe('Failed');
    expect(noForce.status?.error?.message).toMatch(
      /^Operation registries-[\w-]+ failed\. Resource \/subscriptions\/.*\/registries\/imptarget Tag byid:v1 already exists/,
    );
    const forced = await importInto(importer.arm, {
      source: { resourceId: platform.registryId(SOURCE), sourceImage: `app@${other.digest}` },
      targetTags: ['byid:v1'],
      untaggedTargetRepositories: ['untagged'],
      mode: 'Force',
    });
    expect(forced.status?.status, JSON.stringify(forced.status)).toBe('Succeeded');
    await inTarget(async (get) => {
      expect(digestOf((await get('/v2/byid/manifests/v1')).body)).toBe(other.digest);
      expect((await get(`/v2/untagged/manifests/${other.digest}`)).status).toBe(200);
      expect((await get('/v2/untagged/tags/list')).body).not.toContain('v1');
    });
  });

  it("fails with ACR's words once the source or the target no longer allows trusted services", async () => {
    for (const [name, loginServer] of [
      [SOURCE, loginServerOf(SOURCE)],
      [TARGET, loginServerOf(TARGET)],
    ] as const) {
      await platform.setNetwork(name, { trustedServices: false });
      try {
        const outcome = await importInto(importer.arm, {
          source: { resourceId: platform.registryId(SOURCE), sourceImage: 'app:v1' },
          targetTags: [`refused${name}:v1`],
        });
        expect(outcome.accepted.status).toBe(202);
        expect(outcome.status?.status).toBe('Failed');
        expect(outcome.status?.error?.code).toBe('InvalidParameters');
        expect(outcome.status?.error?.message).toContain(`Access to ${loginServer} denied.`);
        expect(outcome.status?.error?.message).toContain('403 DENIED');
      } finally {
        await platform.setNetwork(name, { trustedServices: true });
      }
    }
    await inTarget(async (get) => {
      expect((await get(`/v2/refused${SOURCE}/tags/list`)).status).toBe(404);
      expect((await get(`/v2/refused${TARGET}/tags/list`)).status).toBe(404);
    });
  });

  it('needs importImage on the target and read on the source', async () => {
    const stranger = await platform.createPrincipal('stranger');
    const body = {
      source: { resourceId: platform.registryId(SOURCE), sourceImage: 'app:v1' },
      targetTags: ['stranger:v1'],
    };
    const refused = await importInto(stranger.arm, body);
    expect(refused.accepted.status).toBe(403);
    expect((refused.accepted.body as { error: { code: string } }).error.code).toBe(
      'AuthorizationFailed',
    );
    expect(refused.accepted.text).toContain(
      'Microsoft.ContainerRegistry/registries/importImage/action',
    );

    await platform.assign(platform.registryId(TARGET), 'Importer', stranger.id);
    for (const source of [
      { resourceId: platform.registryId(SOURCE) },
      { registryUri: loginServerOf(SOURCE) },
    ]) {
      const linked = await importInto(stranger.arm, {
        ...body,
        source: { ...source, sourceImage: 'app:v1' },
      });
      expect(linked.accepted.status).toBe(403);
      const error = (linked.accepted.body as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('LinkedAuthorizationFailed');
      expect(error.message).toContain(
        `does not have permission to perform action(s) 'Microsoft.ContainerRegistry/registries/pull/read' on the linked scope(s) '${platform.registryId(SOURCE)}'`,
      );
    }
  });

  it("answers a malformed request at once, in ARM's words", async () => {
    const missing = await importInto(importer.arm, {
      source: { sourceImage: 'app:v1' },
      targetTags: ['x:v1'],
    });
    expect(missing.accepted.status).toBe(400);
    expect(missing.accepted.text).toContain("either 'resourceId' or 'registryUri'");
    const badMode = await importInto(importer.arm, {
      source: { registryUri: SOURCE, sourceImage: 'app:v1' },
      targetTags: ['x:v1'],
      mode: 'Sometimes',
    });
    expect(badMode.accepted.status).toBe(400);
  });
});

const haveDistribution = existsSync(DISTRIBUTION);
if (!haveDistribution) {
  if (process.env.CI === 'true')
    throw new Error(`${DISTRIBUTION} is missing in CI (apt docker-registry)`);
  console.warn(`SKIPPING import from CNCF Distribution: ${DISTRIBUTION} is not installed`);
}

describe.skipIf(!haveDistribution)('import from a local CNCF Distribution', () => {
  let server: RunningServer;
  let platform: Platform;
  const distributions: Distribution[] = [];

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    platform = new Platform(server);
    await platform.createRegistry(TARGET);
    await platform.setNetwork(TARGET, { publicAccess: false, trustedServices: true });
  });
  afterAll(async () => {
    for (const d of distributions) d.stop();
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  for (const auth of [false, true]) {
    it(auth ? 'with htpasswd credentials' : 'anonymously', async () => {
      const distribution = await startDistribution(auth);
      distributions.push(distribution);
      const basic = auth
        ? `Basic ${Buffer.from('distuser:distpass').toString('base64')}`
        : undefined;
      const host = `127.0.0.1:${distribution.port}`;
      const pushed = await pushIndexImage(
        (method, path, body, headers) =>
          dataRequest(
            { host: '127.0.0.1', port: distribution.port },
            host,
            method,
            path,
            basic,
            body,
            headers,
          ),
        'library/app',
        'v1',
        auth ? 'auth' : 'anon',
      );
      const outcome = await runOperation(
        platform.arm,
        `${platform.registryId(TARGET)}/importImage?${ACR_API}`,
        {
          source: {
            registryUri: host,
            sourceImage: 'library/app:v1',
            ...(auth ? { credentials: { username: 'distuser', password: 'distpass' } } : {}),
          },
          targetTags: [`fromdist${auth ? 'auth' : 'anon'}:v1`],
        },
      );
      expect(outcome.status?.status, JSON.stringify(outcome.status)).toBe('Succeeded');
      // Distribution 2.8 has no referrers API: the image arrives without them, and no error.
      expect(outcome.status?.properties).toMatchObject({ digest: pushed.digest, referrers: 0 });
      if (auth) {
        const wrong = await runOperation(
          platform.arm,
          `${platform.registryId(TARGET)}/importImage?${ACR_API}`,
          {
            source: {
              registryUri: host,
              sourceImage: 'library/app:v1',
              credentials: { username: 'distuser', password: 'wrong' },
            },
            targetTags: ['fromdistwrong:v1'],
          },
        );
        expect(wrong.status?.status).toBe('Failed');
        expect(wrong.status?.error?.message).toContain(`Access to ${host} denied.`);
      }
    });
  }
});
