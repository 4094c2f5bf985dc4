/**
 * @module services/scanner/package-inventory
 * What is installed in an image, from the files `image-files` collected: dpkg's status
 * database (and distroless `status.d/`), apk's installed database, the RPM SQLite database,
 * npm lockfiles and installed `package.json` files, and Python `*.dist-info/METADATA`. The
 * distribution's release comes from `os-release`, so a package is matched against the
 * advisories for its own release (`Debian:12`, `Alpine:v3.19`).
 */
import { isObject } from '../../core/json.js';
import type { ImageFile } from './image-files.js';
import type { InstalledPackage } from './osv.js';
import { readRpmSqlite, sourceNameOf } from './rpm-database.js';

const DPKG_STATUS = 'var/lib/dpkg/status';
const DPKG_STATUS_D = /^var\/lib\/dpkg\/status\.d\/[^/]+$/;
const APK_INSTALLED = 'lib/apk/db/installed';
const RPM_SQLITE = new Set(['var/lib/rpm/rpmdb.sqlite', 'usr/lib/sysimage/rpm/rpmdb.sqlite']);
const OS_RELEASE = ['etc/os-release', 'usr/lib/os-release'];
const NODE_PACKAGE_JSON = /(^|\/)node_modules\/(@[^/]+\/)?[^/@][^/]*\/package\.json$/;
const PACKAGE_LOCK = /(^|\/)(package-lock\.json|\.package-lock\.json)$/;
const DIST_INFO_METADATA = /(^|\/)[^/]+\.dist-info\/METADATA$/;

/** Whether the inventory reads this path (the filter for `collectImageFiles`). */
export function isInventoryFile(path: string): boolean {
  return (
    path === DPKG_STATUS ||
    DPKG_STATUS_D.test(path) ||
    path === APK_INSTALLED ||
    RPM_SQLITE.has(path) ||
    OS_RELEASE.includes(path) ||
    NODE_PACKAGE_JSON.test(path) ||
    (PACKAGE_LOCK.test(path) && !/(^|\/)node_modules\/[^.]/.test(path)) ||
    DIST_INFO_METADATA.test(path)
  );
}

export interface OperatingSystem {
  id: string;
  versionId?: string;
  prettyName?: string;
}

export interface Inventory {
  os?: OperatingSystem;
  packages: InstalledPackage[];
}

/** Every package found, once per (ecosystem, name, version), in path order. */
export function buildInventory(files: Map<string, ImageFile>): Inventory {
  const os = readOsRelease(files);
  const distro = distroEcosystems(os);
  const packages: InstalledPackage[] = [];
  const paths = [...files.keys()].sort();
  for (const path of paths) {
    const file = files.get(path)!;
    const text = (): string => file.content.toString('utf8');
    const found = (p: Omit<InstalledPackage, 'layer' | 'path'>): void => {
      packages.push({ ...p, layer: file.layer, path });
    };
    if (path === DPKG_STATUS || DPKG_STATUS_D.test(path)) {
      for (const p of parseDpkgStatus(text(), path !== DPKG_STATUS))
        found({ ecosystem: distro.dpkg, ...p });
    } else if (path === APK_INSTALLED) {
      for (const p of parseApkInstalled(text())) found({ ecosystem: distro.apk, ...p });
    } else if (RPM_SQLITE.has(path)) {
      for (const header of safely(() => readRpmSqlite(file.content), [])) {
        const source = header.sourceRpm ? sourceNameOf(header.sourceRpm) : undefined;
        found({
          ecosystem: distro.rpm,
          name: header.name,
          version: `${header.epoch ? `${header.epoch}:` : ''}${header.version}-${header.release}`,
          ...(source && source !== header.name ? { sourceName: source } : {}),
        });
      }
    } else if (NODE_PACKAGE_JSON.test(path)) {
      const json = safely(() => JSON.parse(text()) as unknown, undefined);
      if (isObject(json) && typeof json.name === 'string' && typeof json.version === 'string')
        found({ ecosystem: 'npm', name: json.name, version: json.version });
    } else if (PACKAGE_LOCK.test(path)) {
      for (const p of parsePackageLock(text())) found({ ecosystem: 'npm', ...p });
    } else if (DIST_INFO_METADATA.test(path)) {
      const p = parsePythonMetadata(text());
      if (p) found({ ecosystem: 'PyPI', ...p });
    }
  }
  const seen = new Set<string>();
  return {
    ...(os ? { os } : {}),
    packages: packages.filter((p) => {
      const key = `${p.ecosystem}\u0000${p.name}\u0000${p.version}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }),
  };
}

function safely<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback; // a damaged database lists nothing rather than failing the whole scan
  }
}

function readOsRelease(files: Map<string, ImageFile>): OperatingSystem | undefined {
  const file = OS_RELEASE.map((p) => files.get(p)).find(Boolean);
  if (!file) return undefined;
  const fields = new Map<string, string>();
  for (const line of file.content.toString('utf8').split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) fields.set(match[1]!, match[2]!.replace(/^["']|["']$/g, ''));
  }
  const id = fields.get('ID');
  if (!id) return undefined;
  return {
    id,
    ...(fields.get('VERSION_ID') ? { versionId: fields.get('VERSION_ID')! } : {}),
    ...(fields.get('PRETTY_NAME') ? { prettyName: fields.get('PRETTY_NAME')! } : {}),
  };
}

/** The OSV ecosystems of the image's distribution packages. */
function distroEcosystems(os: OperatingSystem | undefined): {
  dpkg: string;
  apk: string;
  rpm: string;
} {
  const version = os?.versionId;
  const major = version?.split('.')[0];
  const dpkg =
    os?.id === 'ubuntu'
      ? version
        ? `Ubuntu:${version}`
        : 'Ubuntu'
      : major && os?.id === 'debian'
        ? `Debian:${major}`
        : 'Debian';
  const alpineRelease = version?.split('.').slice(0, 2).join('.');
  const apk = os?.id === 'alpine' && alpineRelease ? `Alpine:v${alpineRelease}` : 'Alpine';
  const rpm =
    {
      rhel: 'Red Hat',
      rocky: 'Rocky Linux',
      almalinux: 'AlmaLinux',
      opensuse: 'openSUSE',
      'opensuse-leap': 'openSUSE',
      sles: 'SUSE',
    }[os?.id ?? ''] ?? 'Red Hat';
  return { dpkg, apk, rpm };
}

type Found = { name: string; version: string; sourceName?: string };

/** RFC 822-style paragraphs of `Field: value` lines (continuations start with a space). */
function paragraphs(text: string): Array<Map<string, string>> {
  const result: Array<Map<string, string>> = [];
  let current = new Map<string, string>();
  let last = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current.size > 0) result.push(current);
      current = new Map();
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (last) current.set(last, `${current.get(last)}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim();
    current.set(last, line.slice(colon + 1).trim());
  }
  if (current.size > 0) result.push(current);
  return result;
}

/** dpkg's status file: installed packages only (`Status: install ok installed`). */
export function parseDpkgStatus(text: string, noStatusField = false): Found[] {
  const found: Found[] = [];
  for (const fields of paragraphs(text)) {
    const name = fields.get('Package');
    const version = fields.get('Version');
    const status = fields.get('Status');
    if (!name || !version) continue;
    if (!noStatusField && !(status ?? '').endsWith(' installed')) continue;
    // `Source: openssl (3.0.11-1)`: the source package, with its version when it differs.
    const source = fields.get('Source')?.split(' ')[0];
    found.push({ name, version, ...(source && source !== name ? { sourceName: source } : {}) });
  }
  return found;
}

/** apk's installed database: `P:` name, `V:` version, `o:` origin (source package). */
export function parseApkInstalled(text: string): Found[] {
  const found: Found[] = [];
  let entry: Record<string, string> = {};
  const flush = (): void => {
    if (entry.P && entry.V)
      found.push({
        name: entry.P,
        version: entry.V,
        ...(entry.o && entry.o !== entry.P ? { sourceName: entry.o } : {}),
      });
    entry = {};
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') flush();
    else if (line[1] === ':') entry[line[0]!] = line.slice(2).trim();
  }
  flush();
  return found;
}

/** npm lockfiles: v2/v3 `packages` (keys are install paths), v1 nested `dependencies`. */
export function parsePackageLock(text: string): Found[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  if (!isObject(json)) return [];
  const found: Found[] = [];
  if (isObject(json.packages)) {
    for (const [path, entry] of Object.entries(json.packages)) {
      if (!path || !isObject(entry) || entry.link === true) continue;
      const name =
        typeof entry.name === 'string'
          ? entry.name
          : path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
      if (typeof entry.version === 'string' && name) found.push({ name, version: entry.version });
    }
    return found;
  }
  const walk = (dependencies: unknown): void => {
    if (!isObject(dependencies)) return;
    for (const [name, entry] of Object.entries(dependencies)) {
      if (!isObject(entry)) continue;
      if (typeof entry.version === 'string' && !entry.version.includes(':'))
        found.push({ name, version: entry.version });
      walk(entry.dependencies);
    }
  };
  walk(json.dependencies);
  return found;
}

/** A Python distribution's core metadata (`Name:` and `Version:` headers). */
export function parsePythonMetadata(text: string): Found | undefined {
  const headers = paragraphs(text.split(/\r?\n\r?\n/)[0] ?? '')[0];
  const name = headers?.get('Name');
  const version = headers?.get('Version');
  return name && version ? { name, version } : undefined;
}
