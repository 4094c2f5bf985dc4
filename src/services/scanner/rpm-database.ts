/**
 * @module services/scanner/rpm-database
 * Installed packages from an RPM database in SQLite form (`rpmdb.sqlite`, rpm >= 4.16: Fedora,
 * RHEL 9, Rocky/Alma 9, openSUSE). Each row of `Packages` is an rpm header blob; there is no
 * maintained npm reader for it, and the part needed is small: the header's index entries
 * (tag, type, offset, count) over its data store, for NAME, VERSION, RELEASE, EPOCH and
 * SOURCERPM. The older BerkeleyDB and NDB formats are not read.
 */
import SqliteDatabase from 'better-sqlite3';

const TAG_NAME = 1000;
const TAG_VERSION = 1001;
const TAG_RELEASE = 1002;
const TAG_EPOCH = 1003;
const TAG_SOURCERPM = 1044;
const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_I18NSTRING = 9;

export interface RpmHeader {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  sourceRpm?: string;
}

/** Reads the tags the scanner needs from one header blob (as stored in the database). */
export function parseRpmHeader(blob: Buffer): RpmHeader | undefined {
  if (blob.length < 8) return undefined;
  const indexCount = blob.readUInt32BE(0);
  const dataLength = blob.readUInt32BE(4);
  const dataStart = 8 + indexCount * 16;
  if (indexCount > 100_000 || dataStart + dataLength > blob.length) return undefined;
  const values = new Map<number, string | number>();
  for (let i = 0; i < indexCount; i++) {
    const at = 8 + i * 16;
    const tag = blob.readUInt32BE(at);
    const type = blob.readUInt32BE(at + 4);
    const offset = blob.readUInt32BE(at + 8);
    if (offset >= dataLength) continue;
    const position = dataStart + offset;
    if (type === TYPE_STRING || type === TYPE_I18NSTRING) {
      const end = blob.indexOf(0, position);
      if (end < 0 || end > dataStart + dataLength) continue;
      values.set(tag, blob.toString('utf8', position, end));
    } else if (type === TYPE_INT32 && position + 4 <= dataStart + dataLength) {
      values.set(tag, blob.readInt32BE(position));
    }
  }
  const name = values.get(TAG_NAME);
  const version = values.get(TAG_VERSION);
  const release = values.get(TAG_RELEASE);
  if (typeof name !== 'string' || typeof version !== 'string' || typeof release !== 'string')
    return undefined;
  const epoch = values.get(TAG_EPOCH);
  const sourceRpm = values.get(TAG_SOURCERPM);
  return {
    name,
    version,
    release,
    ...(typeof epoch === 'number' ? { epoch } : {}),
    ...(typeof sourceRpm === 'string' ? { sourceRpm } : {}),
  };
}

/** Every installed package in an `rpmdb.sqlite` file's bytes. */
export function readRpmSqlite(database: Buffer): RpmHeader[] {
  const db = new SqliteDatabase(database, { readonly: true });
  try {
    const rows = db.prepare('SELECT blob FROM Packages').all() as Array<{ blob: Buffer }>;
    return rows
      .map((row) => parseRpmHeader(Buffer.from(row.blob)))
      .filter((header): header is RpmHeader => header !== undefined)
      .filter((header) => header.name !== 'gpg-pubkey'); // imported signing keys, not software
  } finally {
    db.close();
  }
}

/** `zlib-1.2.11-40.el9.src.rpm` -> `zlib`. */
export function sourceNameOf(sourceRpm: string): string | undefined {
  const match = /^(.+)-[^-]+-[^-]+\.(?:no)?src\.rpm$/.exec(sourceRpm);
  return match?.[1];
}
