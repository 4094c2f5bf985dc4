/**
 * `acr repository list|show|show-tags|update|delete` and `acr manifest list-metadata` against a
 * live server, through the data plane's `/acr/v1/` API with tokens fetched like `acr login`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server.js';
import { startCliSession, type CliSession } from './cli.js';
import { pushImage } from './push.js';

let session: CliSession;
let server: RunningServer;
let helloDigest: string;
const run = (...args: string[]) => session.run(...args);

beforeAll(async () => {
  session = await startCliSession();
  ({ server } = session);
  expect(run('login').status).toBe(0);
  helloDigest = await pushImage(server, 'hello', 'v1');
  await new Promise((r) => setTimeout(r, 20));
  await pushImage(server, 'hello', 'v2');
  await pushImage(server, 'team/app', '1.0');
});

afterAll(async () => {
  await session?.close();
});

const ATTRIBUTES = {
  deleteEnabled: true,
  listEnabled: true,
  readEnabled: true,
  writeEnabled: true,
};

describe('acr repository list and show-tags', () => {
  it('lists repositories as az does', () => {
    const result = run('acr', 'repository', 'list', '--name', 'myregistry');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.json()).toEqual(['hello', 'team/app']);
    expect(run('acr', 'repository', 'list', '-n', 'myregistry', '--top', '1').json()).toEqual([
      'hello',
    ]);
    expect(run('acr', 'repository', 'list', '-n', 'myregistry', '-o', 'tsv').stdout).toBe(
      'hello\nteam/app\n',
    );
  });

  it('shows tags, ordered and in detail', () => {
    expect(
      run('acr', 'repository', 'show-tags', '-n', 'myregistry', '--repository', 'hello').json(),
    ).toEqual(['v1', 'v2']);
    const desc = run(
      'acr',
      'repository',
      'show-tags',
      '-n',
      'myregistry',
      '--repository',
      'hello',
      '--orderby',
      'time_desc',
      '--top',
      '1',
    );
    expect(desc.json()).toEqual(['v2']);
    const detail = run(
      'acr',
      'repository',
      'show-tags',
      '-n',
      'myregistry',
      '--repository',
      'hello',
      '--detail',
    );
    const tags = detail.json<Record<string, unknown>[]>();
    expect(tags[0]).toEqual({
      changeableAttributes: ATTRIBUTES,
      createdTime: expect.any(String),
      digest: helloDigest,
      lastUpdateTime: expect.any(String),
      name: 'v1',
      signed: false,
    });
  });

  it('rejects a bad --orderby and --top', () => {
    const order = run('acr', 'repository', 'show-tags', '--repository', 'hello', '--orderby', 'x');
    expect(order.status).toBe(1);
    expect(order.stderr).toMatch(/^ERROR: option '--orderby <order>' argument 'x' is invalid/);
    const top = run('acr', 'repository', 'list', '-n', 'myregistry', '--top', 'ten');
    expect(top.status).toBe(1);
    expect(top.stderr).toBe("ERROR: argument --top: invalid int value: 'ten'\n");
  });
});

describe('acr repository show', () => {
  it('shows a repository', () => {
    const result = run('acr', 'repository', 'show', '-n', 'myregistry', '--repository', 'hello');
    expect(result.status).toBe(0);
    expect(result.json()).toEqual({
      changeableAttributes: ATTRIBUTES,
      createdTime: expect.any(String),
      imageName: 'hello',
      lastUpdateTime: expect.any(String),
      manifestCount: 2,
      registry: 'myregistry.azurecr.localhost',
      tagCount: 2,
    });
  });

  it('shows an image by tag and by digest', () => {
    const byTag = run('acr', 'repository', 'show', '-n', 'myregistry', '--image', 'hello:v1');
    expect(byTag.status).toBe(0);
    expect(byTag.json()).toMatchObject({ name: 'v1', digest: helloDigest, signed: false });
    const byDigest = run(
      'acr',
      'repository',
      'show',
      '-n',
      'myregistry',
      '-t',
      `hello@${helloDigest}`,
    );
    expect(byDigest.status).toBe(0);
    expect(byDigest.json()).toMatchObject({
      digest: helloDigest,
      tags: ['v1'],
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      changeableAttributes: ATTRIBUTES,
    });
  });

  it('reports what does not exist as one ERROR line', () => {
    const repo = run('acr', 'repository', 'show', '-n', 'myregistry', '--repository', 'nosuch');
    expect(repo.status).toBe(1);
    expect(repo.stdout).toBe('');
    expect(repo.stderr).toBe("ERROR: Error: repository 'nosuch' not known to registry.\n");
    const tag = run('acr', 'repository', 'show', '-n', 'myregistry', '--image', 'hello:nosuch');
    expect(tag.status).toBe(1);
    expect(tag.stderr).toBe("ERROR: Error: tag 'nosuch' not known.\n");
  });

  it('needs exactly one of --repository and --image', () => {
    const neither = run('acr', 'repository', 'show', '-n', 'myregistry');
    expect(neither.status).toBe(1);
    expect(neither.stderr).toBe('ERROR: Usage error: --image IMAGE | --repository REPOSITORY\n');
    const both = run(
      'acr',
      'repository',
      'show',
      '-n',
      'myregistry',
      '--repository',
      'hello',
      '--image',
      'hello:v1',
    );
    expect(both.status).toBe(1);
  });
});

describe('acr manifest list-metadata', () => {
  it('lists the manifests with their tags', () => {
    const result = run(
      'acr',
      'manifest',
      'list-metadata',
      '--registry',
      'myregistry',
      '--name',
      'hello',
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const manifests = result.json<Record<string, unknown>[]>();
    expect(manifests).toHaveLength(2);
    const v1 = manifests.find((m) => m.digest === helloDigest);
    expect(v1).toMatchObject({
      changeableAttributes: ATTRIBUTES,
      configMediaType: 'application/vnd.oci.image.config.v1+json',
      createdTime: expect.any(String),
      imageSize: expect.any(Number),
      lastUpdateTime: expect.any(String),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      tags: ['v1'],
    });
    const table = run(
      'acr',
      'manifest',
      'list-metadata',
      '-r',
      'myregistry',
      '-n',
      'hello',
      '--query',
      '[].tags[0]',
      '-o',
      'tsv',
    );
    expect(table.stdout.split('\n').sort().join(' ').trim()).toBe('v1 v2');
  });

  it('requires the repository', () => {
    const result = run('acr', 'manifest', 'list-metadata', '--registry', 'myregistry');
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('ERROR: the following arguments are required: --name/-n\n');
  });
});

describe('acr repository update and delete', () => {
  it('locks and unlocks a repository; a locked one cannot be deleted', () => {
    const locked = run(
      'acr',
      'repository',
      'update',
      '-n',
      'myregistry',
      '--repository',
      'team/app',
      '--delete-enabled',
      'false',
      '--write-enabled',
      'false',
    );
    expect(locked.status).toBe(0);
    expect(locked.json()).toMatchObject({
      imageName: 'team/app',
      changeableAttributes: { deleteEnabled: false, writeEnabled: false, readEnabled: true },
    });
    const refused = run(
      'acr',
      'repository',
      'delete',
      '-n',
      'myregistry',
      '--repository',
      'team/app',
      '--yes',
    );
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^ERROR: Error: .+\.\n$/);
    const unlocked = run(
      'acr',
      'repository',
      'update',
      '-n',
      'myregistry',
      '--repository',
      'team/app',
      '--delete-enabled',
      'true',
      '--write-enabled',
      'true',
      '--query',
      'changeableAttributes.deleteEnabled',
      '-o',
      'tsv',
    );
    expect(unlocked.stdout).toBe('True\n');
  });

  it('updates a tag', () => {
    const result = run(
      'acr',
      'repository',
      'update',
      '-n',
      'myregistry',
      '--image',
      'hello:v2',
      '--list-enabled',
      'false',
    );
    expect(result.status).toBe(0);
    expect(result.json()).toMatchObject({
      tag: { name: 'v2', changeableAttributes: { listEnabled: false } },
    });
    expect(
      run('acr', 'repository', 'show-tags', '-n', 'myregistry', '--repository', 'hello').json(),
    ).toEqual(['v1']);
    run(
      'acr',
      'repository',
      'update',
      '-n',
      'myregistry',
      '-t',
      'hello:v2',
      '--list-enabled',
      'true',
    );
  });

  it('requires an attribute to change', () => {
    const result = run('acr', 'repository', 'update', '-n', 'myregistry', '--repository', 'hello');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^ERROR: Usage error: at least one of --delete-enabled/);
  });

  it('deletes an image by tag and a repository, confirming with --yes', () => {
    const unconfirmed = run(
      'acr',
      'repository',
      'delete',
      '-n',
      'myregistry',
      '--image',
      'hello:v1',
    );
    expect(unconfirmed.status).toBe(1);
    expect(unconfirmed.stderr).toBe(
      'ERROR: Unable to prompt for confirmation as no tty available. Use --yes.\n',
    );
    const image = run(
      'acr',
      'repository',
      'delete',
      '-n',
      'myregistry',
      '--image',
      'hello:v1',
      '--yes',
    );
    expect(image.stderr).toBe('');
    expect(image.status).toBe(0);
    expect(
      run('acr', 'repository', 'show-tags', '-n', 'myregistry', '--repository', 'hello').json(),
    ).toEqual(['v2']);

    const repo = run(
      'acr',
      'repository',
      'delete',
      '-n',
      'myregistry',
      '--repository',
      'team/app',
      '-y',
    );
    expect(repo.status).toBe(0);
    expect(repo.stdout).toBe('');
    expect(run('acr', 'repository', 'list', '-n', 'myregistry').json()).toEqual(['hello']);
  });

  it('answers --help', () => {
    for (const sub of ['list', 'show', 'show-tags', 'update', 'delete']) {
      const result = run('acr', 'repository', sub, '--help');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('Usage: breakwater acr repository');
    }
    expect(run('acr', 'manifest', 'list-metadata', '--help').stdout).toContain('--registry');
  });
});
