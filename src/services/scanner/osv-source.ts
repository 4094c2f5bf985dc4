/**
 * @module services/scanner/osv-source
 * Reads OSV records from a folder (recursively), a `.zip` (the form OSV publishes per
 * ecosystem, e.g. `Debian/all.zip`) or a `.tar.gz`/`.tgz`/`.tar`: every `*.json` file is one
 * record. Local files only: importing never touches the network.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import type yauzl from 'yauzl';
import { lazyPackage } from '../../core/lazy-package.js';
import { OsvFormatError, parseAdvisory, type OsvAdvisory } from './osv.js';

const zipReader = lazyPackage<typeof yauzl>('yauzl');

/** Every OSV record under `path`, with the file it came from. */
export async function readOsvRecords(path: string): Promise<OsvAdvisory[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new OsvFormatError(`${path}: no such file or folder`);
  const files = info.isDirectory()
    ? await readFolder(path)
    : /\.zip$/i.test(path)
      ? await readZip(path)
      : /\.(tar\.gz|tgz|tar)$/i.test(path)
        ? await readTar(path, /\.(tar\.gz|tgz)$/i.test(path))
        : undefined;
  if (!files)
    throw new OsvFormatError(`${path}: expected a folder, a .zip, or a .tar.gz of OSV JSON files`);
  return files.map(({ name, text }) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new OsvFormatError(`${name}: not valid JSON`);
    }
    return parseAdvisory(value, name);
  });
}

interface JsonFile {
  name: string;
  text: string;
}

const isRecordName = (name: string): boolean =>
  /\.json$/i.test(name) && !name.split('/').some((part) => part.startsWith('.'));

async function readFolder(root: string): Promise<JsonFile[]> {
  const files: JsonFile[] = [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    const full = join(entry.parentPath, entry.name);
    if (!entry.isFile() || !isRecordName(full.slice(root.length))) continue;
    files.push({ name: full, text: await readFile(full, 'utf8') });
  }
  return files;
}

async function readTar(path: string, gzipped: boolean): Promise<JsonFile[]> {
  const files: JsonFile[] = [];
  const untar = extract();
  untar.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => {
      if (Buffer.isBuffer(chunk) && header.type === 'file' && isRecordName(header.name))
        chunks.push(chunk);
    });
    stream.on('end', () => {
      if (chunks.length > 0)
        files.push({ name: `${path}:${header.name}`, text: Buffer.concat(chunks).toString() });
      next();
    });
    stream.resume();
  });
  const source = createReadStream(path);
  await (gzipped ? pipeline(source, createGunzip(), untar) : pipeline(source, untar));
  return files;
}

async function readZip(path: string): Promise<JsonFile[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    zipReader().open(path, { lazyEntries: true, autoClose: true }, (error, file) =>
      error ? reject(new OsvFormatError(`${path}: ${error.message}`)) : resolve(file),
    ),
  );
  const files: JsonFile[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', () => resolve());
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entry.fileName.endsWith('/') || !isRecordName(entry.fileName)) {
        zip.readEntry();
        return;
      }
      zip.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', reject);
        stream.on('end', () => {
          files.push({ name: `${path}:${entry.fileName}`, text: Buffer.concat(chunks).toString() });
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
  return files;
}
