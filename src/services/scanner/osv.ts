/**
 * @module services/scanner/osv
 * OSV advisories (https://ossf.github.io/osv-schema/): the subset the scanner reads, how an
 * advisory is checked on load, and whether it affects one installed package. Ranges of type
 * ECOSYSTEM (and SEMVER) are evaluated in the package ecosystem's own version order; GIT
 * ranges name commits, which an image does not carry, so they never match.
 */
import type * as CvssPackage from 'ae-cvss-calculator';
import { isObject } from '../../core/json.js';
import { lazyPackage } from '../../core/lazy-package.js';
import { ecosystemBase, SEMVER_ORDER, versionOrderOf, type VersionOrder } from './version-order.js';

const cvss = lazyPackage<typeof CvssPackage>('ae-cvss-calculator');

export type RangeEvent =
  { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

export interface OsvRange {
  type: string;
  events: RangeEvent[];
}

export interface OsvAffected {
  package?: { ecosystem: string; name: string; purl?: string };
  ranges?: OsvRange[];
  versions?: string[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

export interface OsvAdvisory {
  id: string;
  modified: string;
  published?: string;
  withdrawn?: string;
  aliases?: string[];
  related?: string[];
  upstream?: string[];
  summary?: string;
  details?: string;
  severity?: Array<{ type: string; score: string }>;
  affected?: OsvAffected[];
  database_specific?: Record<string, unknown>;
}

export type Severity = 'Critical' | 'High' | 'Medium' | 'Low' | 'Unknown';
export const SEVERITIES: readonly Severity[] = ['Critical', 'High', 'Medium', 'Low', 'Unknown'];

export class OsvFormatError extends Error {
  override name = 'OsvFormatError';
}

/** Checks the fields the scanner relies on; anything else in the record is kept as it is. */
export function parseAdvisory(value: unknown, source: string): OsvAdvisory {
  if (!isObject(value)) throw new OsvFormatError(`${source}: an OSV record must be a JSON object`);
  if (typeof value.id !== 'string' || value.id === '')
    throw new OsvFormatError(`${source}: 'id' must be a non-empty string`);
  if (typeof value.modified !== 'string')
    throw new OsvFormatError(`${source}: 'modified' must be a timestamp string`);
  if (value.affected !== undefined && !Array.isArray(value.affected))
    throw new OsvFormatError(`${source}: 'affected' must be a list`);
  for (const affected of (value.affected ?? []) as unknown[]) {
    if (!isObject(affected)) throw new OsvFormatError(`${source}: 'affected' entries are objects`);
    for (const range of (affected.ranges ?? []) as unknown[]) {
      if (!isObject(range) || typeof range.type !== 'string' || !Array.isArray(range.events))
        throw new OsvFormatError(`${source}: a range needs 'type' and 'events'`);
    }
    if (affected.versions !== undefined && !Array.isArray(affected.versions))
      throw new OsvFormatError(`${source}: 'versions' must be a list`);
  }
  return value as unknown as OsvAdvisory;
}

/** One installed package, as the inventory found it. */
export interface InstalledPackage {
  /** OSV ecosystem, with the release when the image says it (`Debian:12`, `Alpine:v3.19`). */
  ecosystem: string;
  name: string;
  version: string;
  /** The source package (dpkg `Source:`, apk origin), which distribution advisories name. */
  sourceName?: string;
  /** The digest of the layer the package's record came from. */
  layer: string;
  /** The file that listed it (`var/lib/dpkg/status`). */
  path: string;
}

export interface Match {
  /** The first fixed version above the installed one, when the advisory names one. */
  fixedVersion?: string;
  /** The `affected` entry that matched (its ecosystem-specific severity, for one). */
  affected: OsvAffected;
}

/** Names the way each ecosystem compares them (PyPI normalises, PEP 503). */
export function normalizeName(ecosystem: string, name: string): string {
  return ecosystemBase(ecosystem) === 'PyPI' ? name.toLowerCase().replace(/[-_.]+/g, '-') : name;
}

/** Whether an advisory's `affected` entry is about this package (name and ecosystem). */
export function sameEcosystem(advisoryEcosystem: string, packageEcosystem: string): boolean {
  if (ecosystemBase(advisoryEcosystem) !== ecosystemBase(packageEcosystem)) return false;
  // A release on both sides must agree (Debian:11's fix is not Debian:12's); an image whose
  // release is unknown is checked against every release.
  // Only the release itself counts: OSV writes Ubuntu's as `Ubuntu:22.04:LTS`.
  const releaseOf = (ecosystem: string): string =>
    ecosystem.slice(ecosystemBase(ecosystem).length + 1).split(':')[0]!;
  const advisoryRelease = releaseOf(advisoryEcosystem);
  const packageRelease = releaseOf(packageEcosystem);
  return !advisoryRelease || !packageRelease || advisoryRelease === packageRelease;
}

/** Whether `advisory` affects `pkg`; undefined when it does not. */
export function matchAdvisory(advisory: OsvAdvisory, pkg: InstalledPackage): Match | undefined {
  if (advisory.withdrawn) return undefined;
  const names = new Set(
    [pkg.name, pkg.sourceName].filter(Boolean).map((n) => normalizeName(pkg.ecosystem, n!)),
  );
  for (const affected of advisory.affected ?? []) {
    const target = affected.package;
    if (!target || !sameEcosystem(target.ecosystem, pkg.ecosystem)) continue;
    if (!names.has(normalizeName(target.ecosystem, target.name))) continue;
    const fixed = matchAffected(affected, target.ecosystem, pkg.version);
    if (fixed) return { ...fixed, affected };
  }
  return undefined;
}

type Fix = { fixedVersion?: string };

function matchAffected(affected: OsvAffected, ecosystem: string, version: string): Fix | undefined {
  const order = versionOrderOf(ecosystem);
  if (!order || !order.isValid(version)) return undefined;
  if (affected.versions?.some((v) => order.isValid(v) && order.compare(v, version) === 0)) {
    return { ...firstFixedAbove(affected, order, version) };
  }
  for (const range of affected.ranges ?? []) {
    const rangeOrder =
      range.type === 'ECOSYSTEM' ? order : range.type === 'SEMVER' ? SEMVER_ORDER : undefined;
    if (!rangeOrder || !rangeOrder.isValid(version)) continue;
    if (inRange(range.events, rangeOrder, version)) {
      return firstFixedAbove({ ranges: [range] }, rangeOrder, version);
    }
  }
  return undefined;
}

type Event = { kind: 'introduced' | 'fixed' | 'last_affected'; version: string };

function eventsOf(events: RangeEvent[], order: VersionOrder): Event[] {
  const list: Event[] = [];
  for (const event of events) {
    if ('introduced' in event) list.push({ kind: 'introduced', version: event.introduced });
    else if ('fixed' in event) list.push({ kind: 'fixed', version: event.fixed });
    else if ('last_affected' in event)
      list.push({ kind: 'last_affected', version: event.last_affected });
    // `limit` bounds GIT ranges only.
  }
  // introduced "0" means "since the first version" and sorts first; an unparsable event
  // version is dropped rather than guessed at.
  return list
    .filter((e) => (e.kind === 'introduced' && e.version === '0') || order.isValid(e.version))
    .sort((a, b) => {
      if (a.version === '0' && a.kind === 'introduced') return -1;
      if (b.version === '0' && b.kind === 'introduced') return 1;
      return order.compare(a.version, b.version);
    });
}

/**
 * The OSV evaluation: walk the events in version order; an `introduced` at or below the
 * version opens the range, a `fixed` at or below it (or a `last_affected` below it) closes it.
 */
function inRange(events: RangeEvent[], order: VersionOrder, version: string): boolean {
  let affected = false;
  for (const event of eventsOf(events, order)) {
    const zero = event.kind === 'introduced' && event.version === '0';
    const cmp = zero ? 1 : order.compare(version, event.version);
    if (event.kind === 'introduced' && cmp >= 0) affected = true;
    else if (event.kind === 'fixed' && cmp >= 0) affected = false;
    else if (event.kind === 'last_affected' && cmp > 0) affected = false;
  }
  return affected;
}

function firstFixedAbove(
  affected: Pick<OsvAffected, 'ranges'>,
  order: VersionOrder,
  version: string,
): Fix {
  const fixes = (affected.ranges ?? [])
    .flatMap((r) => r.events)
    .flatMap((e) => ('fixed' in e && order.isValid(e.fixed) ? [e.fixed] : []))
    .filter((fixed) => order.compare(fixed, version) > 0)
    .sort((a, b) => order.compare(a, b));
  return fixes.length > 0 ? { fixedVersion: fixes[0] } : {};
}

/** The advisory's severity: a CVSS vector's score, else the database's own rating. */
export function severityOf(
  advisory: OsvAdvisory,
  affected?: OsvAffected,
): { severity: Severity; cvssScore?: number; cvssVector?: string } {
  const ranked = [...(advisory.severity ?? [])].sort((a, b) => cvssRank(b.type) - cvssRank(a.type));
  for (const entry of ranked) {
    if (!entry.type.startsWith('CVSS_')) continue;
    try {
      const score = cvss().fromVector(entry.score)?.calculateScores().overall;
      if (typeof score === 'number' && Number.isFinite(score))
        return { severity: ratingOf(score), cvssScore: score, cvssVector: entry.score };
    } catch {
      // An unreadable vector: fall back to the database's rating below.
    }
  }
  const named = [
    advisory.database_specific?.severity,
    affected?.ecosystem_specific?.severity,
    affected?.database_specific?.severity,
  ].find((s): s is string => typeof s === 'string');
  return { severity: named ? namedSeverity(named) : 'Unknown' };
}

function cvssRank(type: string): number {
  return type === 'CVSS_V3' ? 3 : type === 'CVSS_V4' ? 2 : type === 'CVSS_V2' ? 1 : 0;
}

/** CVSS v3/v4 qualitative ratings (FIRST): 9.0+ Critical, 7.0+ High, 4.0+ Medium, else Low. */
function ratingOf(score: number): Severity {
  if (score >= 9) return 'Critical';
  if (score >= 7) return 'High';
  if (score >= 4) return 'Medium';
  if (score > 0) return 'Low';
  return 'Unknown';
}

function namedSeverity(name: string): Severity {
  switch (name.toLowerCase()) {
    case 'critical':
      return 'Critical';
    case 'high':
    case 'important':
      return 'High';
    case 'moderate':
    case 'medium':
      return 'Medium';
    case 'low':
    case 'negligible':
      return 'Low';
    default:
      return 'Unknown';
  }
}
