/**
 * The common start-up path (CA and server certificate on disk, names covered, not expiring) must
 * not load `@peculiar/x509`: the library and `reflect-metadata` cost ~17 MiB of resident memory
 * per server process. Only making a certificate may load them (see `x509.ts`).
 *
 * How it is observed: ESM has no public list of loaded modules, but both packages are CommonJS
 * (`@peculiar/x509` resolves to `build/x509.cjs.js`), and Node loads a CommonJS module that ESM
 * imports through the CommonJS loader, which records it in `require.cache` under its real path.
 * So a child process can list what it loaded, without loader hooks. Each run is a FRESH process
 * (a module, once loaded, stays loaded): the first creates the files and must show the library
 * (which also proves the probe can see it at all), the second, on the same directory, must not.
 *
 * The child runs the current sources, not `dist/`: they are transpiled (types stripped, no type
 * check) into a temporary directory beside a symlink to the repository's node_modules, so the
 * test never passes or fails on a stale build.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const FILES = ['ca.crt', 'ca.key', 'server.crt', 'server.key'];

/** Calls ensureTlsMaterial, then prints the library files this process loaded (JSON). */
const CHILD = `
const { createRequire } = await import('node:module');
const { pathToFileURL } = await import('node:url');
const [entry, dir, ...dns] = process.argv.slice(1);
const { ensureTlsMaterial } = await import(pathToFileURL(entry).href);
await ensureTlsMaterial(dir, { dns, ips: ['127.0.0.1'] });
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) =>
  /[\\\\/]node_modules[\\\\/](@peculiar[\\\\/]x509|reflect-metadata|tsyringe)[\\\\/]/.test(path),
);
console.log(JSON.stringify(loaded));
`;

let work: string;
let entry: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'breakwater-tls-lazy-'));
  const out = join(work, 'tls');
  await mkdir(out);
  await writeFile(join(work, 'package.json'), '{ "type": "module" }\n');
  await symlink(join(REPO_ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
  const sources = (await readdir(import.meta.dirname)).filter(
    (name) => name.endsWith('.ts') && !name.endsWith('.test.ts'),
  );
  for (const name of sources) {
    const { outputText } = ts.transpileModule(
      await readFile(join(import.meta.dirname, name), 'utf8'),
      {
        fileName: name,
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2023,
          verbatimModuleSyntax: true,
        },
      },
    );
    await writeFile(join(out, name.replace(/\.ts$/, '.js')), outputText);
  }
  entry = join(out, 'index.js');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function ensureInFreshProcess(dir: string, dns: string[]): Promise<string[]> {
  const { stdout } = await run(
    process.execPath,
    ['--input-type=module', '-e', CHILD, entry, dir, ...dns],
    { cwd: REPO_ROOT },
  );
  return JSON.parse(stdout) as string[];
}

async function snapshot(dir: string): Promise<string[]> {
  return Promise.all(FILES.map((name) => readFile(join(dir, name), 'utf8')));
}

describe('@peculiar/x509 is loaded lazily', () => {
  it('only when a certificate is made, never when the existing ones fit', async () => {
    const dir = join(work, 'data');

    // First start: CA and server certificate are made, so the library is loaded.
    const first = await ensureInFreshProcess(dir, ['localhost']);
    expect(first.some((path) => path.includes('@peculiar/x509'))).toBe(true);
    expect(first.some((path) => path.includes('reflect-metadata'))).toBe(true);
    const made = await snapshot(dir);

    // Next start, same names: everything is read and checked with node:crypto only.
    expect(await ensureInFreshProcess(dir, ['localhost'])).toEqual([]);
    expect(await snapshot(dir)).toEqual(made);

    // A new name needs a new server certificate: the library comes back, the CA stays.
    const reissue = await ensureInFreshProcess(dir, ['localhost', 'registry.example.test']);
    expect(reissue.some((path) => path.includes('@peculiar/x509'))).toBe(true);
    const after = await snapshot(dir);
    expect(after[0]).toBe(made[0]);
    expect(after[2]).not.toBe(made[2]);

    // ...and is not needed again once the new certificate covers the names.
    expect(await ensureInFreshProcess(dir, ['registry.example.test'])).toEqual([]);
  });
});
