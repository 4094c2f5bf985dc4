/**
 * `breakwater container create|show|logs|delete` against a live server and a registry whose
 * public access is disabled: a group pulls with its user-assigned identity (`--assign-identity`,
 * `--acr-identity`), runs, and shows its logs; with trusted services off the create fails with
 * one `ERROR:` line in ACI's words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxAvailable } from '../../src/runtime/index.js';
import { loginServerOf, Platform, pushBusyboxImage } from '../services/support.js';
import { startCliSession, type CliSession } from './cli.js';

const REGISTRY = 'cliaci';
const IMAGE = `${loginServerOf(REGISTRY)}/hello:v1`;
const bubblewrap = await sandboxAvailable();
if (!bubblewrap) {
  if (process.env.CI === 'true') throw new Error('bubblewrap is required in CI (.ci/run)');
  console.warn('SKIPPING container CLI: bubblewrap (/usr/bin/bwrap) is not installed');
}

describe.skipIf(!bubblewrap)('container', () => {
  let session: CliSession;
  let platform: Platform;
  let identity: string;
  const run = (...args: string[]) => session.run(...args);

  beforeAll(async () => {
    session = await startCliSession();
    expect(run('login').status).toBe(0);
    platform = new Platform(session.server);
    const registry = await platform.createRegistry(REGISTRY);
    await pushBusyboxImage(platform.data(REGISTRY), 'hello', 'v1', {
      Cmd: ['/bin/sh', '-c', 'echo "hello from $GREETING"'],
      Env: ['PATH=/bin'],
    });
    const created = run('identity', 'create', '-g', 'breakwater', '-n', 'cli-puller');
    expect(created.status, created.stderr).toBe(0);
    const { id, principalId } = created.json<{ id: string; principalId: string }>();
    identity = id;
    await platform.assign(registry, 'AcrPull', principalId);
    await platform.setNetwork(REGISTRY, { publicAccess: false, trustedServices: true });
  });
  afterAll(async () => {
    await session?.close();
  });

  const create = (name: string) =>
    run(
      'container',
      'create',
      '-g',
      'breakwater',
      '-n',
      name,
      '--image',
      IMAGE,
      '--assign-identity',
      identity,
      '--acr-identity',
      identity,
      '--restart-policy',
      'Never',
      '-e',
      'GREETING=the cli',
    );

  it('creates a group that pulls with its identity, runs, and shows its logs', async () => {
    const created = create('cgcli');
    expect(created.status, created.stderr).toBe(0);
    const group = created.json<Record<string, unknown>>();
    expect(group).toMatchObject({
      name: 'cgcli',
      resourceGroup: 'breakwater',
      provisioningState: 'Succeeded',
      restartPolicy: 'Never',
      imageRegistryCredentials: [{ server: loginServerOf(REGISTRY), identity }],
      identity: { type: 'UserAssigned' },
    });
    let state = '';
    for (let i = 0; i < 100 && state !== 'Succeeded' && state !== 'Failed'; i += 1) {
      state = run(
        'container',
        'show',
        '-g',
        'breakwater',
        '-n',
        'cgcli',
        '--query',
        'instanceView.state',
        '-o',
        'tsv',
      ).stdout.trim();
      if (state !== 'Succeeded') await new Promise((r) => setTimeout(r, 100));
    }
    expect(state).toBe('Succeeded');
    const logs = run('container', 'logs', '-g', 'breakwater', '-n', 'cgcli');
    expect(logs.status, logs.stderr).toBe(0);
    expect(logs.stdout).toBe('hello from the cli\n');

    expect(run('container', 'delete', '-g', 'breakwater', '-n', 'cgcli').stderr).toBe(
      'ERROR: Unable to prompt for confirmation as no tty available. Use --yes.\n',
    );
    expect(run('container', 'delete', '-g', 'breakwater', '-n', 'cgcli', '--yes').status).toBe(0);
    const gone = run('container', 'show', '-g', 'breakwater', '-n', 'cgcli');
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(
      /^ERROR: The Resource 'Microsoft.ContainerInstance\/containerGroups\/cgcli'/,
    );
  });

  it("fails with one ERROR line in ACI's words once trusted services are not allowed", async () => {
    await platform.setNetwork(REGISTRY, { trustedServices: false });
    try {
      const refused = create('cgrefused');
      expect(refused.status).toBe(1);
      expect(refused.stderr).toBe(
        `ERROR: The image '${IMAGE}' in container group 'cgrefused' is not accessible. Please check the image and registry credential.\n`,
      );
    } finally {
      await platform.setNetwork(REGISTRY, { trustedServices: true });
    }
  });
});
