import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import SqliteDatabase from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tarLayer, type LayerEntry } from '../../../test/support/oci-layout.js';
import { collectImageFiles, type LayerSource } from './image-files.js';
import { buildInventory, isInventoryFile, parsePackageLock } from './package-inventory.js';
import { parseRpmHeader } from './rpm-database.js';

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

async function layers(...specs: LayerEntry[][]): Promise<LayerSource[]> {
  return Promise.all(
    specs.map(async (entries, i) => {
      const bytes = gzipSync(await tarLayer(entries));
      return {
        digest: `sha256:layer${i}`,
        mediaType: GZIP,
        open: async () => Readable.from([bytes]),
      };
    }),
  );
}

const DEBIAN_11 = { path: 'etc/os-release', content: 'ID=debian\nVERSION_ID="11"\n' };

function dpkgStatus(...packages: Array<[string, string, string?]>): LayerEntry {
  return {
    path: 'var/lib/dpkg/status',
    content: packages
      .map(
        ([name, version, source]) =>
          `Package: ${name}\nStatus: install ok installed\n${source ? `Source: ${source}\n` : ''}Version: ${version}\nDescription: test\n multi-line\n`,
      )
      .join('\n'),
  };
}

async function inventoryOf(...specs: LayerEntry[][]) {
  return buildInventory(await collectImageFiles(await layers(...specs), isInventoryFile));
}

describe('inventory from layers', () => {
  it('reads dpkg status with the release from os-release and the layer it came from', async () => {
    const inventory = await inventoryOf(
      [DEBIAN_11],
      [dpkgStatus(['zlib1g', '1:1.2.11.dfsg-2+deb11u1', 'zlib'], ['libc6', '2.31-13+deb11u5'])],
    );
    expect(inventory.os).toMatchObject({ id: 'debian', versionId: '11' });
    expect(inventory.packages).toEqual([
      {
        ecosystem: 'Debian:11',
        name: 'zlib1g',
        version: '1:1.2.11.dfsg-2+deb11u1',
        sourceName: 'zlib',
        layer: 'sha256:layer1',
        path: 'var/lib/dpkg/status',
      },
      {
        ecosystem: 'Debian:11',
        name: 'libc6',
        version: '2.31-13+deb11u5',
        layer: 'sha256:layer1',
        path: 'var/lib/dpkg/status',
      },
    ]);
  });

  it('skips dpkg packages that are not installed (removed, config-files)', async () => {
    const status = {
      path: 'var/lib/dpkg/status',
      content: 'Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n',
    };
    expect((await inventoryOf([status])).packages).toEqual([]);
  });

  it('a later layer replaces a file; a whiteout deletes it; an opaque directory hides lower files', async () => {
    const replaced = await inventoryOf(
      [dpkgStatus(['zlib1g', '1:1.2.11.dfsg-2+deb11u1', 'zlib'])],
      [dpkgStatus(['zlib1g', '1:1.2.11.dfsg-2+deb11u2', 'zlib'])],
    );
    expect(replaced.packages.map((p) => [p.version, p.layer])).toEqual([
      ['1:1.2.11.dfsg-2+deb11u2', 'sha256:layer1'],
    ]);
    const whitedOut = await inventoryOf(
      [dpkgStatus(['zlib1g', '1:1.2.11.dfsg-2+deb11u1', 'zlib'])],
      [{ path: 'var/lib/dpkg/.wh.status', content: '' }],
    );
    expect(whitedOut.packages).toEqual([]);
    const parentWhitedOut = await inventoryOf(
      [
        {
          path: 'app/node_modules/lodash/package.json',
          content: '{"name":"lodash","version":"4.17.20"}',
        },
      ],
      [{ path: 'app/.wh.node_modules', content: '' }],
    );
    expect(parentWhitedOut.packages).toEqual([]);
    const opaque = await inventoryOf(
      [
        {
          path: 'app/node_modules/lodash/package.json',
          content: '{"name":"lodash","version":"4.17.20"}',
        },
      ],
      [
        { path: 'app/node_modules/.wh..wh..opq', content: '' },
        {
          path: 'app/node_modules/minimist/package.json',
          content: '{"name":"minimist","version":"1.2.5"}',
        },
      ],
    );
    expect(opaque.packages.map((p) => `${p.name}@${p.version}`)).toEqual(['minimist@1.2.5']);
  });

  it('reads apk, npm (lockfile and node_modules) and Python packages', async () => {
    const inventory = await inventoryOf([
      { path: 'etc/os-release', content: 'ID=alpine\nVERSION_ID=3.16.2\n' },
      {
        path: 'lib/apk/db/installed',
        content:
          'C:Q1abc=\nP:busybox\nV:1.35.0-r6\no:busybox\n\nP:zlib\nV:1.2.12-r1\no:zlib\n\nP:libssl1.1\nV:1.1.1q-r0\no:openssl\n',
      },
      {
        path: 'srv/package-lock.json',
        content: JSON.stringify({
          lockfileVersion: 3,
          packages: {
            '': { name: 'app', version: '1.0.0' },
            'node_modules/minimist': { version: '1.2.5' },
            'node_modules/a/node_modules/@scope/b': { version: '2.0.0' },
          },
        }),
      },
      {
        path: 'usr/lib/python3/site-packages/requests-2.28.1.dist-info/METADATA',
        content: 'Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n\nbody text\n',
      },
    ]);
    expect(inventory.packages.map((p) => [p.ecosystem, p.name, p.version, p.sourceName])).toEqual([
      ['Alpine:v3.16', 'busybox', '1.35.0-r6', undefined],
      ['Alpine:v3.16', 'zlib', '1.2.12-r1', undefined],
      ['Alpine:v3.16', 'libssl1.1', '1.1.1q-r0', 'openssl'],
      ['npm', 'minimist', '1.2.5', undefined],
      ['npm', '@scope/b', '2.0.0', undefined],
      ['PyPI', 'requests', '2.28.1', undefined],
    ]);
  });

  it('reads npm v1 lockfiles', () => {
    const lock = JSON.stringify({
      lockfileVersion: 1,
      dependencies: { lodash: { version: '4.17.15', dependencies: { x: { version: '1.0.0' } } } },
    });
    expect(parsePackageLock(lock)).toEqual([
      { name: 'lodash', version: '4.17.15' },
      { name: 'x', version: '1.0.0' },
    ]);
  });

  it('reads an RPM SQLite database (header blobs)', async () => {
    const db = new SqliteDatabase(':memory:');
    db.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO Packages (blob) VALUES (?)');
    insert.run(
      rpmHeader({
        name: 'zlib',
        version: '1.2.11',
        release: '40.el9',
        sourceRpm: 'zlib-1.2.11-40.el9.src.rpm',
      }),
    );
    insert.run(
      rpmHeader({
        name: 'openssl-libs',
        version: '3.0.7',
        release: '24.el9',
        epoch: 1,
        sourceRpm: 'openssl-3.0.7-24.el9.src.rpm',
      }),
    );
    insert.run(rpmHeader({ name: 'gpg-pubkey', version: 'fd431d51', release: '4ae0493b' }));
    const inventory = await inventoryOf([
      { path: 'etc/os-release', content: 'ID="rocky"\nVERSION_ID="9.3"\n' },
      { path: 'var/lib/rpm/rpmdb.sqlite', content: db.serialize() },
    ]);
    expect(inventory.packages.map((p) => [p.ecosystem, p.name, p.version, p.sourceName])).toEqual([
      ['Rocky Linux', 'zlib', '1.2.11-40.el9', undefined],
      ['Rocky Linux', 'openssl-libs', '1:3.0.7-24.el9', 'openssl'],
    ]);
    expect(parseRpmHeader(Buffer.from([0, 0]))).toBeUndefined();
  });
});

/** An rpm header blob as rpmdb.sqlite stores it: index count, data length, entries, data. */
function rpmHeader(tags: {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  sourceRpm?: string;
}): Buffer {
  const entries: Array<[number, number, Buffer]> = [
    [1000, 6, Buffer.from(`${tags.name}\0`)],
    [1001, 6, Buffer.from(`${tags.version}\0`)],
    [1002, 6, Buffer.from(`${tags.release}\0`)],
  ];
  if (tags.sourceRpm) entries.push([1044, 6, Buffer.from(`${tags.sourceRpm}\0`)]);
  if (tags.epoch !== undefined) {
    const epoch = Buffer.alloc(4);
    epoch.writeInt32BE(tags.epoch);
    entries.unshift([1003, 4, epoch]); // int32 data comes first: it must stay 4-byte aligned
  }
  const index = Buffer.alloc(entries.length * 16);
  const data: Buffer[] = [];
  let offset = 0;
  entries.forEach(([tag, type, value], i) => {
    index.writeUInt32BE(tag, i * 16);
    index.writeUInt32BE(type, i * 16 + 4);
    index.writeUInt32BE(offset, i * 16 + 8);
    index.writeUInt32BE(1, i * 16 + 12);
    data.push(value);
    offset += value.length;
  });
  const head = Buffer.alloc(8);
  head.writeUInt32BE(entries.length, 0);
  head.writeUInt32BE(offset, 4);
  return Buffer.concat([head, index, ...data]);
}
