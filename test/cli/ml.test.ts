/**
 * `breakwater ml workspace create` and `ml job create|show|stream` against a live server and a
 * registry whose public access is disabled: a job from an Azure ML command-job YAML (inline
 * custom image) runs with the workspace identity and streams its log; with trusted services off
 * it ends in one `ERROR:` line with the pull error.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxAvailable } from '../../src/runtime/index.js';
import { loginServerOf, Platform, pushBusyboxImage } from '../services/support.js';
import { startCliSession, type CliSession } from './cli.js';

const REGISTRY = 'climl';
const bubblewrap = await sandboxAvailable();
if (!bubblewrap) {
  if (process.env.CI === 'true') throw new Error('bubblewrap is required in CI (.ci/run)');
  console.warn('SKIPPING ml CLI: bubblewrap (/usr/bin/bwrap) is not installed');
}

describe.skipIf(!bubblewrap)('ml', () => {
  let session: CliSession;
  let platform: Platform;
  let dir: string;
  let jobFile: string;
  const run = (...args: string[]) => session.run(...args);
  const scope = ['-g', 'breakwater', '-w', 'wscli'];

  beforeAll(async () => {
    session = await startCliSession();
    expect(run('login').status).toBe(0);
    platform = new Platform(session.server);
    await platform.createRegistry(REGISTRY);
    await pushBusyboxImage(platform.data(REGISTRY), 'trainer', 'v1', { Env: ['PATH=/bin'] });
    await platform.setNetwork(REGISTRY, { publicAccess: false, trustedServices: true });
    dir = mkdtempSync(join(tmpdir(), 'breakwater-ml-'));
    jobFile = join(dir, 'job.yml');
    writeFileSync(
      jobFile,
      [
        '$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json',
        'command: echo "training at ${{inputs.lr}}" && echo done > ${{outputs.model}}/model.txt',
        'environment:',
        `  image: ${loginServerOf(REGISTRY)}/trainer:v1`,
        'inputs:',
        '  lr: 0.01',
        'outputs:',
        '  model:',
        '    type: uri_folder',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await session?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates a workspace whose identity pulls the job image; the job streams and shows', () => {
    const created = run('ml', 'workspace', 'create', '-n', 'wscli', '-g', 'breakwater');
    expect(created.status, created.stderr).toBe(0);
    const principal = created.json<{ identity: { principalId: string; type: string } }>().identity;
    expect(principal.type).toBe('SystemAssigned');
    const assigned = run(
      'role',
      'assignment',
      'create',
      '--assignee',
      principal.principalId,
      '--role',
      'AcrPull',
      '--scope',
      platform.registryId(REGISTRY),
    );
    expect(assigned.status, assigned.stderr).toBe(0);

    const streamed = run(
      'ml',
      'job',
      'create',
      '-f',
      jobFile,
      ...scope,
      '-n',
      'train1',
      '--stream',
    );
    expect(streamed.status, streamed.stderr).toBe(0);
    expect(streamed.stdout).toMatch(/^RunId: train1\n/);
    expect(streamed.stdout).toContain('training at 0.01\n');
    expect(streamed.stdout).toContain(
      'Execution Summary\n=================\nRunId: train1\nStatus: Completed\n',
    );
    const shown = run('ml', 'job', 'show', ...scope, '-n', 'train1');
    expect(shown.json()).toMatchObject({
      name: 'train1',
      status: 'Completed',
      type: 'command',
      inputs: { lr: '0.01' },
      outputs: { model: { type: 'uri_folder' } },
    });
    expect(run('ml', 'job', 'stream', ...scope, '-n', 'train1').stdout).toContain(
      'training at 0.01\n',
    );
  });

  it('ends in one ERROR line once trusted services are not allowed', async () => {
    await platform.setNetwork(REGISTRY, { trustedServices: false });
    try {
      const refused = run(
        'ml',
        'job',
        'create',
        '-f',
        jobFile,
        ...scope,
        '-n',
        'train2',
        '--stream',
      );
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(
        /^ERROR: Failed to pull Docker image climl\.azurecr\.localhost\/trainer:v1\. .*403 DENIED/,
      );
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stdout).toContain('Status: Failed');
    } finally {
      await platform.setNetwork(REGISTRY, { trustedServices: true });
    }
  });
});
