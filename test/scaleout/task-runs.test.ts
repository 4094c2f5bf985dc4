/**
 * Task runs across replicas: two `breakwater serve` processes on one PostgreSQL database and one
 * Azurite container (as docs/deployment.md sets them up), with a short run lease
 * (`BREAKWATER_WORK_LEASE_SECONDS`). Replica A runs a task step that sleeps in bubblewrap:
 * replica B starting meanwhile leaves the run alone; a cancel sent through B ends it as
 * Canceled, as does a cancel of an ML job running on A; and once A is killed (SIGKILL), B's
 * sweep fails A's run and ML job, naming the stopped replica, and shows A's container group
 * stopped.
 * Each client talks to one replica's own management listener. Last, the embedded setup: a
 * single server on SQLite, killed mid-run, fails that run as soon as it is back.
 */
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxAvailable } from '../../src/runtime/index.js';
import { REPLICA_STOPPED as JOB_REPLICA_STOPPED } from '../../src/management/routes/ml-workspaces.js';
import { REPLICA_STOPPED } from '../../src/services/tasks/index.js';
import { Platform } from '../services/support.js';
import { ArmClient } from '../support/arm-client.js';
import { startAzurite, type AzuriteServer } from '../support/azurite.js';
import { BUSYBOX_PATH, buildImageLayout, busyboxLayer } from '../support/oci-layout.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { pushLayoutOverHttp } from '../support/push-layout.js';
import {
  freePort,
  removeDataDir,
  requireClient,
  startServer,
  type RunningServer,
} from '../support/server.js';

const enabled =
  requirePostgres() &&
  requireClient('bubblewrap', await sandboxAvailable()) &&
  requireClient('busybox-static', existsSync(BUSYBOX_PATH));

const TASKS_API = 'api-version=2019-06-01-preview';
const ACTIVE = ['Queued', 'Started', 'Running'];
/** Short, so B's sweep finds a killed A's run within seconds (the default is 30). */
const LEASE_SECONDS = 2;
const SLOW = 120_000;
const ML_API = 'api-version=2024-04-01';

interface Run {
  status: string;
  runErrorMessage?: string;
}

describe.skipIf(!enabled)('task runs on two replicas sharing PostgreSQL', () => {
  let postgres: PostgresServer;
  let azurite: AzuriteServer;
  let env: Record<string, string>;
  const managementPorts: number[] = [];
  let replicaA: RunningServer;
  let replicaB: RunningServer | undefined;
  let armA: ArmClient;
  let registry: string;
  let image: string;
  const dataDirs: string[] = [];
  let workspace: string;
  let layout: string;

  /** Submits, through A, an ML job that sleeps, and waits until it runs. */
  async function startSleepingJob(name: string): Promise<string> {
    const job = `${workspace}/jobs/${name}`;
    const submitted = await armA.arm('PUT', `${job}?${ML_API}`, {
      properties: { jobType: 'Command', command: 'sleep 300', environmentId: 'azureml:sleeper:1' },
    });
    expect(submitted.status, submitted.text).toBe(201);
    await expect
      .poll(() => jobOf(armA, job), { timeout: 60_000, interval: 200 })
      .toMatchObject({
        status: 'Running',
      });
    return job;
  }

  async function jobOf(
    client: ArmClient,
    job: string,
  ): Promise<{ status: string; error?: { message: string } }> {
    const response = await client.arm('GET', `${job}?${ML_API}`);
    expect(response.status, response.text).toBe(200);
    return (response.body as { properties: { status: string; error?: { message: string } } })
      .properties;
  }

  const diagnostics = () =>
    [replicaA, replicaB]
      .map((r, i) => `--- replica ${'AB'[i]} ---\n${r?.output().slice(-4000) ?? ''}`)
      .join('\n');

  const arm = (server: RunningServer, port: number) =>
    new ArmClient({ ...server, managementUrl: `https://127.0.0.1:${port}` });

  async function startReplica(index: number, dataDir?: string): Promise<RunningServer> {
    const server = await startServer({
      env,
      ...(dataDir ? { dataDir } : {}),
      extraArgs: ['--management-listen', `127.0.0.1:${managementPorts[index]}`],
    });
    dataDirs.push(server.dataDir);
    return server;
  }

  async function getRun(client: ArmClient, runId: string): Promise<Run> {
    const response = await client.arm('GET', `${registry}/runs/${runId}?${TASKS_API}`);
    expect(response.status, response.text).toBe(200);
    return (response.body as { properties: Run }).properties;
  }

  /** Schedules, through A, a run that sleeps in the sandbox, and waits until it runs. */
  async function startSleepingRun(): Promise<string> {
    const task = `version: v1.1.0\nsteps:\n  - cmd: ${image} /bin/busybox sleep 300\n`;
    const scheduled = await armA.arm('POST', `${registry}/scheduleRun?${TASKS_API}`, {
      type: 'EncodedTaskRunRequest',
      encodedTaskContent: Buffer.from(task).toString('base64'),
      values: [],
      platform: { os: 'linux', architecture: 'amd64' },
    });
    expect(scheduled.status, scheduled.text).toBe(200);
    const runId = (scheduled.body as { name: string }).name;
    await expect
      .poll(async () => (await getRun(armA, runId)).status, { timeout: 60_000, interval: 200 })
      .toBe('Running');
    return runId;
  }

  /** Polls (bounded) through `client` until the run is no longer active. */
  async function ended(client: ArmClient, runId: string): Promise<Run> {
    let run = await getRun(client, runId);
    const deadline = Date.now() + 60_000;
    while (ACTIVE.includes(run.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      run = await getRun(client, runId);
    }
    return run;
  }

  beforeAll(async () => {
    postgres = await startPostgres();
    azurite = await startAzurite();
    for (let i = 0; i < 2; i += 1) managementPorts.push(await freePort());
    env = {
      BREAKWATER_METADATA_URL: await postgres.createDatabase(),
      BREAKWATER_STORAGE: `azure://${azurite.newContainer()}`,
      BREAKWATER_STORAGE_CONNECTION_STRING: azurite.connectionString,
      BREAKWATER_MANAGEMENT_URL: `https://127.0.0.1:${managementPorts[0]}`,
      BREAKWATER_WORK_LEASE_SECONDS: String(LEASE_SECONDS),
      BREAKWATER_LOG_LEVEL: 'info',
    };
    replicaA = await startReplica(0);
    armA = arm(replicaA, managementPorts[0]!);
    registry = armA.registryId();
    const shown = await armA.arm('GET', `${registry}?api-version=2023-07-01`);
    expect(shown.status, shown.text).toBe(200);
    const loginServer = (shown.body as { properties: { loginServer: string } }).properties
      .loginServer;
    layout = mkdtempSync(join(tmpdir(), 'bw-runs-layout-'));
    dataDirs.push(layout);
    await buildImageLayout(layout, { layers: [await busyboxLayer()] }, 'v1');
    await pushLayoutOverHttp(replicaA, loginServer, layout, 'v1', 'sleeper:v1');
    image = `${loginServer}/sleeper:v1`;
  }, SLOW);

  afterAll(async () => {
    await replicaB?.stop();
    await replicaA?.stop();
    for (const dir of dataDirs) removeDataDir(dir);
    await azurite?.stop();
    await postgres?.stop();
  });

  it(
    'leaves a run alone when another replica starts, and cancels it through that replica',
    async () => {
      const runId = await startSleepingRun();
      // B joins with A's keys (docs/deployment.md); its start sweeps for abandoned runs.
      const dataDir = mkdtempSync(join(tmpdir(), 'breakwater-replica-'));
      for (const part of ['keys', 'tls', 'bootstrap.json']) {
        cpSync(join(replicaA.dataDir, part), join(dataDir, part), { recursive: true });
      }
      replicaB = await startReplica(1, dataDir);
      const armB = arm(replicaB, managementPorts[1]!);
      expect((await getRun(armB, runId)).status, diagnostics()).toBe('Running');
      // Several lease periods later A still holds it: B's periodic sweeps leave it running.
      await new Promise((r) => setTimeout(r, LEASE_SECONDS * 2_500));
      expect((await getRun(armB, runId)).status, diagnostics()).toBe('Running');

      const cancel = await armB.arm('POST', `${registry}/runs/${runId}/cancel?${TASKS_API}`);
      expect(cancel.status, cancel.text).toBe(202);
      expect((await ended(armA, runId)).status, diagnostics()).toBe('Canceled');
    },
    SLOW,
  );

  it(
    'cancels an ML job running on one replica through the other',
    async () => {
      const platformA = new Platform({
        ...replicaA,
        managementUrl: `https://127.0.0.1:${managementPorts[0]}`,
      });
      const armB = arm(replicaB!, managementPorts[1]!);
      workspace = `${platformA.group}/providers/Microsoft.MachineLearningServices/workspaces/ws`;
      const created = await armA.arm('PUT', `${workspace}?${ML_API}`, {
        location: 'local',
        identity: { type: 'SystemAssigned' },
        properties: { friendlyName: 'ws' },
      });
      expect(created.status, created.text).toBe(201);
      const principalId = (created.body as { identity: { principalId: string } }).identity
        .principalId;
      await platformA.assign(registry, 'AcrPull', principalId);
      const environment = await armA.arm(
        'PUT',
        `${workspace}/environments/sleeper/versions/1?${ML_API}`,
        { properties: { image } },
      );
      expect(environment.status, environment.text).toBe(201);
      const job = await startSleepingJob('sleepy');
      const status = async () => (await jobOf(armB, job)).status;

      const cancel = await armB.arm('POST', `${job}/cancel?${ML_API}`);
      expect(cancel.status, cancel.text).toBe(202);
      await expect
        .poll(status, { timeout: 30_000, interval: 200 })
        .toSatisfy((s: string) => ['Completed', 'Failed', 'Canceled'].includes(s));
      expect(await status(), diagnostics()).toBe('Canceled');
    },
    SLOW,
  );

  /** Deploys, through A, a container group whose container sleeps, and waits until it runs. */
  async function startSleepingGroup(): Promise<string> {
    const ACI_API = 'api-version=2023-05-01';
    const platformA = new Platform({
      ...replicaA,
      managementUrl: `https://127.0.0.1:${managementPorts[0]}`,
    });
    const identity = `${platformA.group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/puller`;
    const created = await armA.arm('PUT', `${identity}?api-version=2023-01-31`, {
      location: 'local',
    });
    expect(created.status, created.text).toBe(201);
    const principalId = (created.body as { properties: { principalId: string } }).properties
      .principalId;
    await platformA.assign(registry, 'AcrPull', principalId);
    const group = `${platformA.group}/providers/Microsoft.ContainerInstance/containerGroups/sleepers`;
    const deployed = await armA.arm('PUT', `${group}?${ACI_API}`, {
      location: 'local',
      identity: { type: 'UserAssigned', userAssignedIdentities: { [identity]: {} } },
      properties: {
        osType: 'Linux',
        restartPolicy: 'Never',
        containers: [
          {
            name: 'app',
            properties: {
              image,
              command: ['/bin/busybox', 'sleep', '300'],
              resources: { requests: { cpu: 1, memoryInGB: 1 } },
            },
          },
        ],
        imageRegistryCredentials: [{ server: image.split('/')[0], identity }],
      },
    });
    expect(deployed.status, deployed.text).toBe(201);
    const url = `${group}?${ACI_API}`;
    await expect
      .poll(async () => groupState(armA, url), { timeout: 60_000, interval: 200 })
      .toBe('Running');
    return url;
  }

  async function groupState(client: ArmClient, url: string): Promise<string | undefined> {
    const response = await client.arm('GET', url);
    expect(response.status, response.text).toBe(200);
    return (response.body as { properties: { instanceView?: { state: string } } }).properties
      .instanceView?.state;
  }

  it(
    "fails a killed replica's run and ML job, and stops its container group, from the replica left",
    async () => {
      const runId = await startSleepingRun();
      const job = await startSleepingJob('orphan');
      const group = await startSleepingGroup();
      await replicaA.kill();
      const armB = arm(replicaB!, managementPorts[1]!);
      const run = await ended(armB, runId);
      expect(run.status, diagnostics()).toBe('Failed');
      expect(run.runErrorMessage).toBe(REPLICA_STOPPED);
      await expect
        .poll(() => jobOf(armB, job), { timeout: 30_000, interval: 200 })
        .toMatchObject({ status: 'Failed', error: { message: JOB_REPLICA_STOPPED } });
      await expect
        .poll(() => groupState(armB, group), { timeout: 30_000, interval: 200 })
        .toBe('Stopped');
    },
    SLOW,
  );

  it(
    'on SQLite (one process at a time), a restart fails what the killed process left at once',
    async () => {
      // The lease outlasts the test: only the restart can end the run.
      const server = await startServer({ env: { BREAKWATER_WORK_LEASE_SECONDS: '600' } });
      dataDirs.push(server.dataDir);
      let restarted: RunningServer | undefined;
      try {
        const client = new ArmClient(server);
        const embedded = client.registryId();
        const shown = await client.arm('GET', `${embedded}?api-version=2023-07-01`);
        const loginServer = (shown.body as { properties: { loginServer: string } }).properties
          .loginServer;
        await pushLayoutOverHttp(server, loginServer, layout, 'v1', 'sleeper:v1');
        const task = `version: v1.1.0\nsteps:\n  - cmd: ${loginServer}/sleeper:v1 /bin/busybox sleep 300\n`;
        const scheduled = await client.arm('POST', `${embedded}/scheduleRun?${TASKS_API}`, {
          type: 'EncodedTaskRunRequest',
          encodedTaskContent: Buffer.from(task).toString('base64'),
          values: [],
          platform: { os: 'linux', architecture: 'amd64' },
        });
        expect(scheduled.status, scheduled.text).toBe(200);
        const url = `${embedded}/runs/${(scheduled.body as { name: string }).name}?${TASKS_API}`;
        const status = async (c: ArmClient) =>
          ((await c.arm('GET', url)).body as { properties: Run }).properties;
        await expect
          .poll(async () => (await status(client)).status, { timeout: 60_000, interval: 200 })
          .toBe('Running');
        await server.kill();

        restarted = await startServer({
          dataDir: server.dataDir,
          env: { BREAKWATER_WORK_LEASE_SECONDS: '600' },
        });
        // Ready means the start's sweep is done.
        expect(await status(new ArmClient(restarted))).toMatchObject({
          status: 'Failed',
          runErrorMessage: REPLICA_STOPPED,
        });
      } finally {
        await restarted?.stop();
      }
    },
    SLOW,
  );
});
