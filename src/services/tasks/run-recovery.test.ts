/**
 * Which runs a replica's sweep fails, and that an ended run stays as it ended, over a real
 * (in-memory SQLite) store. The sweep's whole story across live replicas on PostgreSQL, with a
 * sandboxed run and a killed process, is test/scaleout/task-runs.test.ts.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStores, type MetadataStores } from '../../metadata/index.js';
import type { ServiceEnvironment } from '../environment.js';
import { WorkLeases } from '../work-leases.js';
import { REPLICA_STOPPED, RUN_TYPE, TaskService } from './task-service.js';

const LEASE_MS = 60_000;

describe('the sweep for runs whose replica stopped', () => {
  let stores: MetadataStores;
  const subscriptionId = randomUUID();
  const registryId = `/subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/reg`;

  beforeEach(async () => {
    stores = await openSqliteStores(':memory:');
    await stores.controlPlane.createTenant({ id: 't', displayName: 't' });
    await stores.controlPlane.createSubscription({
      id: subscriptionId,
      tenantId: 't',
      displayName: 's',
      state: 'Enabled',
    });
  });
  afterEach(async () => {
    await stores.metadata.close();
  });

  const replicas: TaskService[] = [];
  afterEach(async () => {
    for (const tasks of replicas.splice(0)) await tasks.close();
  });

  /** A replica's leases and task service; the sweeps and cancel use only the stores. */
  const replica = (instanceName: string) => {
    const leases = new WorkLeases({
      store: stores.leases,
      controlPlane: stores.controlPlane,
      instanceName,
      leaseMs: LEASE_MS,
      logger: pino({ level: 'silent' }),
    });
    const tasks = new TaskService({
      controlPlane: stores.controlPlane,
      runLogs: stores.runLogs,
      leases,
      environment: {} as ServiceEnvironment,
      identityToken: () => Promise.reject(new Error('not used')),
      runToken: () => Promise.reject(new Error('not used')),
      logger: pino({ level: 'silent' }),
      workDirectory: '/nonexistent',
      sources: { store: () => Promise.resolve(), open: () => Promise.resolve(undefined) },
      maxTimeoutSeconds: 60,
    });
    replicas.push(tasks);
    return { leases, tasks };
  };

  async function storeRun(name: string, status: string, updatedAgoMs = 0): Promise<string> {
    const id = `${registryId}/runs/${name}`;
    await stores.controlPlane.createResource({
      id,
      type: RUN_TYPE,
      subscriptionId,
      resourceGroup: 'rg',
      name,
      location: null,
      tags: null,
      sku: null,
      identity: null,
      systemData: null,
      properties: {
        runId: name,
        status,
        lastUpdatedTime: new Date(Date.now() - updatedAgoMs).toISOString(),
      },
    });
    return id;
  }

  const lease = (id: string, owner: string, expiresInMs: number) =>
    stores.leases.claim(id, owner, new Date(Date.now() + expiresInMs), new Date());
  const properties = async (id: string) => (await stores.controlPlane.getResource(id))!.properties;

  it('fails only runs whose holder is gone, or was an earlier incarnation of this replica', async () => {
    const liveElsewhere = await storeRun('ca1', 'Running');
    await lease(liveElsewhere, 'replica-a/1', LEASE_MS);
    const expired = await storeRun('ca2', 'Running');
    await lease(expired, 'replica-a/1', -1);
    const queuedExpired = await storeRun('ca3', 'Queued');
    await lease(queuedExpired, 'replica-a/1', -1);
    const earlierSelf = await storeRun('ca4', 'Running');
    await lease(earlierSelf, 'replica-b/old', LEASE_MS);
    const justRecorded = await storeRun('ca5', 'Queued');
    const neverLeased = await storeRun('ca6', 'Running', 2 * LEASE_MS);
    const ended = await storeRun('ca7', 'Succeeded', 2 * LEASE_MS);

    // What a starting replica does: read every active run.
    await replica('replica-b').tasks.start();

    for (const id of [liveElsewhere, justRecorded])
      expect((await properties(id)).status, id).not.toBe('Failed');
    for (const id of [expired, queuedExpired, earlierSelf, neverLeased]) {
      expect((await properties(id)).status, id).toBe('Failed');
      expect((await properties(id)).runErrorMessage, id).toBe(REPLICA_STOPPED);
      // The sweeper gave up the lease it took to fail the run.
      expect(await stores.leases.find(id), id).toBeUndefined();
    }
    expect((await properties(ended)).status).toBe('Succeeded');
    expect((await stores.leases.find(liveElsewhere))?.owner).toBe('replica-a/1');
  });

  it('sweeps periodically from the leases alone: expired ones fail their run, live ones stay', async () => {
    const b = replica('replica-b');
    await b.tasks.start();
    const live = await storeRun('ca1', 'Running');
    await lease(live, 'replica-a/1', LEASE_MS);
    const dead = await storeRun('ca2', 'Running');
    await lease(dead, 'replica-c/1', -1);
    const deletedRun = `${registryId}/runs/ca3`;
    await lease(deletedRun, 'replica-c/1', -1);

    await b.leases.sweep();
    expect((await properties(live)).status).toBe('Running');
    expect((await properties(dead)).status).toBe('Failed');
    expect((await properties(dead)).runErrorMessage).toBe(REPLICA_STOPPED);
    expect((await stores.leases.list()).map((l) => l.resourceId)).toEqual([live.toLowerCase()]);
  });

  it('keeps an ended run as it ended when a cancel comes late', async () => {
    const finished = await storeRun('ca1', 'Succeeded');
    const running = await storeRun('ca2', 'Running');
    const b = replica('replica-b').tasks;
    await b.cancel(finished);
    expect(await properties(finished)).not.toHaveProperty('cancelRequested');
    expect((await properties(finished)).status).toBe('Succeeded');
    // A run held elsewhere: the cancel is recorded for its holder to act on.
    await b.cancel(running);
    expect(await properties(running)).toMatchObject({ status: 'Running', cancelRequested: true });
  });
});
