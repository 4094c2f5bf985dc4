/**
 * @module services/scanner/version-order
 * Each OSV ecosystem's own version order. A version that its ecosystem cannot parse never
 * matches a range (rather than being compared as a string and matching by accident).
 */
import type * as Pep440Package from '@renovatebot/pep440';
import type * as SemverPackage from 'semver';
import { lazyPackage } from '../../core/lazy-package.js';
import { compareApkVersions, isValidApkVersion } from './apk-version.js';
import { compareDpkgVersions } from './dpkg-version.js';
import { compareRpmVersions } from './rpm-version.js';

const semver = lazyPackage<typeof SemverPackage>('semver');
const pep440 = lazyPackage<typeof Pep440Package>('@renovatebot/pep440');

export interface VersionOrder {
  /** Negative, zero or positive as `a` sorts before, with or after `b`. */
  compare(a: string, b: string): number;
  isValid(version: string): boolean;
}

const DPKG: VersionOrder = {
  compare: compareDpkgVersions,
  isValid: (v) => /^(\d+:)?[0-9][A-Za-z0-9.+~:-]*$/.test(v),
};
const APK: VersionOrder = { compare: compareApkVersions, isValid: isValidApkVersion };
const RPM: VersionOrder = { compare: compareRpmVersions, isValid: (v) => v.length > 0 };
const SEMVER: VersionOrder = {
  compare: (a, b) => semver().compare(a, b),
  isValid: (v) => semver().valid(v) !== null,
};
const PEP440: VersionOrder = {
  compare: (a, b) => pep440().compare(a, b),
  isValid: (v) => pep440().valid(v) !== null,
};

/** OSV ecosystem names (the part before `:`) and the order their versions follow. */
const ORDERS: Record<string, VersionOrder> = {
  Debian: DPKG,
  Ubuntu: DPKG,
  Alpine: APK,
  'Red Hat': RPM,
  AlmaLinux: RPM,
  'Rocky Linux': RPM,
  openSUSE: RPM,
  SUSE: RPM,
  Mageia: RPM,
  npm: SEMVER,
  PyPI: PEP440,
};

/** The order of an OSV ecosystem (`Debian:12` -> Debian's), or undefined when unsupported. */
export function versionOrderOf(ecosystem: string): VersionOrder | undefined {
  return ORDERS[ecosystemBase(ecosystem)];
}

/** `Debian:12` -> `Debian`; `Alpine:v3.19` -> `Alpine`. */
export function ecosystemBase(ecosystem: string): string {
  const colon = ecosystem.indexOf(':');
  return colon < 0 ? ecosystem : ecosystem.slice(0, colon);
}

/** The semver order, for OSV ranges of type SEMVER whatever the ecosystem. */
export const SEMVER_ORDER = SEMVER;
