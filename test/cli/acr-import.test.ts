/**
 * `breakwater acr import` against a live server: az's ways of naming the source (`--registry`
 * by name, login server or resource id; `--source loginserver/repo:tag`), a progress line on
 * stderr, nothing on stdout, `--force`, and one `ERROR:` line with ACR's words when the import
 * fails (here: the source stops allowing trusted services while its public access is disabled).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Platform, pushIndexImage, type PushedImage } from '../services/support.js';
import { startCliSession, type CliSession } from './cli.js';

const SOURCE = 'clisource';
const TARGET = 'clitarget';

let session: CliSession;
let platform: Platform;
let image: PushedImage;
const run = (...args: string[]) => session.run(...args);

beforeAll(async () => {
  session = await startCliSession();
  expect(run('login').status).toBe(0);
  platform = new Platform(session.server);
  await platform.createRegistry(SOURCE);
  await platform.createRegistry(TARGET);
  image = await pushIndexImage(platform.data(SOURCE), 'app', 'v1', 'cli');
  await pushIndexImage(platform.data(SOURCE), 'app', 'v2', 'cli2');
  for (const name of [SOURCE, TARGET]) {
    await platform.setNetwork(name, { publicAccess: false, trustedServices: true });
  }
});

afterAll(async () => {
  await session?.close();
});

describe('acr import', () => {
  it('imports from a registry named by name, login server or resource id, showing progress', () => {
    const ways: [string, string[]][] = [
      ['byname', ['--registry', SOURCE, '--source', 'app:v1']],
      ['byloginserver', ['--registry', `${SOURCE}.azurecr.localhost`, '--source', 'app:v1']],
      ['byid', ['--registry', platform.registryId(SOURCE), '--source', 'app:v1']],
      ['inline', ['--source', `${SOURCE}.azurecr.localhost/app:v1`]],
    ];
    for (const [repository, args] of ways) {
      const result = run('acr', 'import', '-n', TARGET, ...args, '--image', `${repository}:v1`);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^Importing app:v1: 3 manifest\(s\), \d+ blob\(s\) copied/m);
    }
    const show = run('acr', 'repository', 'show-tags', '-n', TARGET, '--repository', 'byname');
    // The target's public access is disabled: the owner's own CLI is refused there.
    expect(show.status).toBe(1);
    expect(show.stderr).toMatch(/^ERROR: .*denied|not allowed/m);
  });

  it('keeps an existing tag unless --force', () => {
    const refused = run(
      'acr',
      'import',
      '-n',
      TARGET,
      '--registry',
      SOURCE,
      '--source',
      'app:v2',
      '-t',
      'byname:v1',
    );
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim().split('\n').at(-1)).toMatch(
      /^ERROR: \(InvalidParameters\) Operation registries-[\w-]+ failed\. Resource \S+\/registries\/clitarget Tag byname:v1 already exists in the target registry/,
    );
    const forced = run(
      'acr',
      'import',
      '-n',
      TARGET,
      '--registry',
      SOURCE,
      '--source',
      'app:v2',
      '-t',
      'byname:v1',
      '--force',
      '--only-show-errors',
    );
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toBe('');
  });

  it('fails with one ERROR line once the source no longer allows trusted services', async () => {
    await platform.setNetwork(SOURCE, { trustedServices: false });
    try {
      const result = run(
        'acr',
        'import',
        '-n',
        TARGET,
        '--registry',
        SOURCE,
        '--source',
        `app@${image.digest}`,
        '--only-show-errors',
      );
      expect(result.status).toBe(1);
      expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `^ERROR: \\(InvalidParameters\\) Operation registries-.* Access to ${SOURCE}\\.azurecr\\.localhost denied\\. 403 DENIED`,
        ),
      );
    } finally {
      await platform.setNetwork(SOURCE, { trustedServices: true });
    }
  });

  it('checks its arguments as az does', () => {
    const noRegistry = run('acr', 'import', '-n', TARGET, '--source', 'app:v1');
    expect(noRegistry.status).toBe(1);
    expect(noRegistry.stderr).toMatch(/^ERROR: Please specify the source image as/);
    const halfCredentials = run(
      'acr',
      'import',
      '-n',
      TARGET,
      '--source',
      'x.io/app:v1',
      '-u',
      'me',
    );
    expect(halfCredentials.stderr).toBe(
      'ERROR: Please provide both --username and --password for the source registry.\n',
    );
    const unknown = run(
      'acr',
      'import',
      '-n',
      TARGET,
      '--registry',
      'nosuchreg',
      '--source',
      'a:b',
    );
    expect(unknown.stderr).toMatch(/^ERROR: Registry 'nosuchreg' not found/);
  });
});
