/**
 * Machine-learning command jobs on the real server, against a registry whose public access is
 * disabled: a workspace's system-assigned identity (AcrPull) pulls the job's custom image through
 * the trusted-services bypass; the command runs with its literal input substituted and writes an
 * output folder kept with the job; logs are readable. Once the registry stops allowing trusted
 * services, or for a workspace without the role, the job fails with the pull error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxAvailable } from '../../src/runtime/index.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';
import { loginServerOf, Platform, pushBusyboxImage } from './support.js';

const ML_API = 'api-version=2024-04-01';
const REGISTRY = 'mlsource';
const IMAGE = `${loginServerOf(REGISTRY)}/trainer:v1`;

const bubblewrap = await sandboxAvailable();
if (!bubblewrap) {
  if (process.env.CI === 'true') throw new Error('bubblewrap is required in CI (.ci/run)');
  console.warn('SKIPPING ML jobs: bubblewrap (/usr/bin/bwrap) is not installed');
}

interface JobBody {
  properties: { status: string; error?: { code: string; message: string }; exitCode?: number };
}

describe.skipIf(!bubblewrap)('ML workspaces and command jobs', () => {
  let server: RunningServer;
  let platform: Platform;
  let workspaces: string;

  async function workspace(name: string, role: boolean): Promise<string> {
    const id = `${workspaces}/${name}`;
    const created = await platform.arm.arm('PUT', `${id}?${ML_API}`, {
      location: 'local',
      identity: { type: 'SystemAssigned' },
      properties: { friendlyName: name },
    });
    expect(created.status, created.text).toBe(201);
    const principalId = (created.body as { identity: { principalId: string } }).identity
      .principalId;
    if (role) await platform.assign(platform.registryId(REGISTRY), 'AcrPull', principalId);
    const env = await platform.arm.arm('PUT', `${id}/environments/trainer/versions/1?${ML_API}`, {
      properties: { image: IMAGE },
    });
    expect(env.status, env.text).toBe(201);
    return id;
  }

  async function submit(workspaceId: string, name: string, command: string): Promise<JobBody> {
    const created = await platform.arm.arm('PUT', `${workspaceId}/jobs/${name}?${ML_API}`, {
      properties: {
        jobType: 'Command',
        command,
        environmentId: 'azureml:trainer:1',
        environmentVariables: { EPOCHS: '3' },
        inputs: { lr: { jobInputType: 'literal', value: '0.1' } },
        outputs: { model: { jobOutputType: 'uri_folder' } },
      },
    });
    expect(created.status, created.text).toBe(201);
    expect((created.body as JobBody).properties.status).toBe('NotStarted');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = await platform.arm.arm('GET', `${workspaceId}/jobs/${name}?${ML_API}`);
      const body = got.body as JobBody;
      if (['Completed', 'Failed', 'Canceled'].includes(body.properties.status)) return body;
      if (Date.now() > deadline) throw new Error(`job ${name} did not end: ${got.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const TRAIN =
    'echo "training $EPOCHS epochs at ${{inputs.lr}}"; echo "lr=${{inputs.lr}}" > ${{outputs.model}}/model.txt';

  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
    platform = new Platform(server);
    workspaces = `${platform.group}/providers/Microsoft.MachineLearningServices/workspaces`;
    await platform.createRegistry(REGISTRY);
    await pushBusyboxImage(platform.data(REGISTRY), 'trainer', 'v1', { Env: ['PATH=/bin'] });
    await platform.setNetwork(REGISTRY, { publicAccess: false, trustedServices: true });
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it('pulls with the workspace identity, runs the command, keeps the outputs and the logs', async () => {
    const ws = await workspace('ws-trusted', true);
    const job = await submit(ws, 'train-1', TRAIN);
    expect(job.properties.status, JSON.stringify(job)).toBe('Completed');
    const logs = await platform.arm.arm('GET', `${ws}/jobs/train-1/logs?${ML_API}`);
    expect((logs.body as { content: string }).content).toContain('training 3 epochs at 0.1\n');
    const files = await platform.arm.arm('GET', `${ws}/jobs/train-1/outputs/model?${ML_API}`);
    expect(files.body).toEqual({ value: [{ path: 'model.txt', size: 7 }] });
    const file = await platform.arm.arm(
      'GET',
      `${ws}/jobs/train-1/outputs/model?${ML_API}&path=model.txt`,
    );
    expect(file.body).toEqual({ path: 'model.txt', content: 'lr=0.1\n' });

    const failing = await submit(ws, 'train-exit', 'echo failing; exit 3');
    expect(failing.properties.status).toBe('Failed');
    expect(failing.properties.error?.message).toContain('exited with status code 3');
  });

  it('fails to pull once the registry no longer allows trusted services', async () => {
    const ws = `${workspaces}/ws-trusted`;
    await platform.setNetwork(REGISTRY, { trustedServices: false });
    try {
      const job = await submit(ws, 'train-refused', TRAIN);
      expect(job.properties.status).toBe('Failed');
      expect(job.properties.error?.code).toBe('UserError');
      expect(job.properties.error?.message).toMatch(
        /^Failed to pull Docker image mlsource\.azurecr\.localhost\/trainer:v1\./,
      );
      expect(job.properties.error?.message).toContain('403 DENIED');
    } finally {
      await platform.setNetwork(REGISTRY, { trustedServices: true });
    }
  });

  it('fails to pull for a workspace whose identity holds no role', async () => {
    const ws = await workspace('ws-norole', false);
    const job = await submit(ws, 'train-norole', TRAIN);
    expect(job.properties.status).toBe('Failed');
    expect(job.properties.error?.message).toMatch(/^Failed to pull Docker image/);
    // An identity with no role on the registry is no trusted service there: the network stage
    // of the restricted registry refuses it before any role is looked at.
    expect(job.properties.error?.message).toContain('403 DENIED');
    expect(job.properties.error?.message).toContain(
      "client with IP '127.0.0.1' is not allowed access",
    );
  });
});
