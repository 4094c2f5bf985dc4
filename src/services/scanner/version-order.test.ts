import { describe, expect, it } from 'vitest';
import { compareApkVersions, isValidApkVersion } from './apk-version.js';
import { compareDpkgVersions } from './dpkg-version.js';
import { compareRpmVersions } from './rpm-version.js';
import { versionOrderOf } from './version-order.js';

type Row = [string, '<' | '=' | '>', string];

const sign = (n: number): '<' | '=' | '>' => (n < 0 ? '<' : n > 0 ? '>' : '=');

function table(name: string, compare: (a: string, b: string) => number, rows: Row[]): void {
  describe(name, () => {
    it.each(rows)('%s %s %s', (a, op, b) => {
      expect(sign(compare(a, b))).toBe(op);
      // Antisymmetric: the reverse comparison says the opposite.
      const reverse = op === '<' ? '>' : op === '>' ? '<' : '=';
      expect(sign(compare(b, a))).toBe(reverse);
    });
  });
}

// Debian Policy 5.6.12: "~~ < ~~a < ~ < (nothing) < a", epochs first, revisions last.
table('dpkg order (Debian Policy 5.6.12)', compareDpkgVersions, [
  ['1.0~~', '<', '1.0~~a'],
  ['1.0~~a', '<', '1.0~'],
  ['1.0~', '<', '1.0'],
  ['1.0', '<', '1.0a'],
  ['1.0~rc1-1', '<', '1.0-1'],
  ['1:0.1', '>', '2.0'],
  ['0:1.0-1', '=', '1.0-1'],
  ['1.0', '=', '1.0-0'],
  ['1.0-1', '<', '1.0-2'],
  ['1.0-1', '<', '1.0-1ubuntu1'],
  ['1.0+dfsg-1', '>', '1.0-1'],
  ['1.0.0', '>', '1.0'],
  ['1.10', '>', '1.9'],
  ['1.01', '=', '1.1'],
  ['2.30-1', '>', '2.4-1'],
  // zlib in Debian 11 and 12 (the fix for CVE-2022-37434).
  ['1:1.2.11.dfsg-2+deb11u1', '<', '1:1.2.11.dfsg-2+deb11u2'],
  ['1:1.2.11.dfsg-2+deb11u2', '<', '1:1.2.13.dfsg-1'],
  ['3.0.11-1~deb12u2', '<', '3.0.11-1'],
  ['3.0.11-1~deb12u2', '>', '3.0.9-1'],
]);

// Alpine's rules (apk-tools src/version.c): suffixes, letters, -rN, leading zeros.
table('apk order (apk-tools)', compareApkVersions, [
  ['1.0', '<', '1.0-r1'],
  ['1.0.4-r3', '<', '1.0.4-r4'],
  ['1.1_alpha1', '<', '1.1'],
  ['1.3_alpha', '<', '1.3_alpha2'],
  ['0.8_beta1', '<', '0.8_beta2'],
  ['1.0_alpha', '<', '1.0_beta'],
  ['1.0_beta', '<', '1.0_pre'],
  ['1.0_pre', '<', '1.0_rc'],
  ['1.1_rc1', '<', '1.1'],
  ['1.2.5_rc2', '<', '1.2.5'],
  // apk 2's quirk, kept on purpose: after a zero component the suffix reads as more digits.
  ['1.0_rc1', '>', '1.0'],
  ['1.0', '<', '1.0_cvs'],
  ['1.0_cvs', '<', '1.0_svn'],
  ['1.0_git', '<', '1.0_hg'],
  ['1.0_hg', '<', '1.0_p1'],
  ['3.1_p16', '<', '3.1_p17'],
  ['1.0_p10-r0', '>', '1.0_p9-r0'],
  ['0.1.0_alpha_pre2', '<', '0.1.0_alpha'],
  ['2.3.0b-r1', '<', '2.3.0b-r2'],
  ['1.7', '<', '1.7b'],
  ['0.9.28', '<', '0.9.28.1'],
  ['1.2.12.04', '<', '1.2.12.05'],
  ['1.02', '<', '1.03-r1'],
  ['1.0.0_pre20191002222144-r0', '<', '1.0.0_pre20210530193627-r0'],
  ['2.16.1-r3', '=', '2.16.1-r3'],
  ['1.3-r0', '<', '1.3.1-r0'],
  ['1.36.1-r5', '<', '1.36.1-r7'],
  ['3.1.4-r0', '<', '3.1.4-r1'],
]);

describe('apk validity', () => {
  it.each([
    ['1.2.3-r4', true],
    ['1.0_rc1', true],
    ['1.0_foo', false],
    ['1.0-x', false],
  ] as const)('%s valid: %s', (version, valid) => {
    expect(isValidApkVersion(version)).toBe(valid);
  });
});

// rpm's rpmvercmp rules: ~ sorts first, ^ after the end, numbers over letters.
table('rpm order (rpmvercmp)', compareRpmVersions, [
  ['1.0', '=', '1.0'],
  ['1.0', '<', '2.0'],
  ['2.0.1', '>', '2.0'],
  ['2.0.1a', '>', '2.0.1'],
  ['5.5p1', '<', '5.5p2'],
  ['5.5p10', '>', '5.5p1'],
  ['10xyz', '<', '10.1xyz'],
  ['xyz10', '<', 'xyz10.1'],
  ['1.0~rc1', '<', '1.0'],
  ['1.0~rc1', '<', '1.0~rc2'],
  ['1.0^', '>', '1.0'],
  ['1.0^git1', '<', '1.0.1'],
  ['1.0-1', '<', '1.0-2'],
  ['1:1.0-1', '>', '2.0-1'],
  ['1.0a', '<', '1.0.1'],
]);

describe('ecosystem orders', () => {
  it('semver for npm, including pre-releases', () => {
    const npm = versionOrderOf('npm')!;
    expect(npm.compare('4.17.20', '4.17.21')).toBeLessThan(0);
    expect(npm.compare('1.0.0-rc.1', '1.0.0')).toBeLessThan(0);
    expect(npm.isValid('not-a-version')).toBe(false);
  });

  it('PEP 440 for PyPI (pre, post, dev releases, epochs)', () => {
    const pypi = versionOrderOf('PyPI')!;
    const ordered = ['1.0.dev1', '1.0a1', '1.0b2', '1.0rc1', '1.0', '1.0.post1', '1.1', '1!0.1'];
    for (let i = 1; i < ordered.length; i++) {
      expect(pypi.compare(ordered[i - 1]!, ordered[i]!)).toBeLessThan(0);
    }
    expect(pypi.compare('2.31.0', '2.31')).toBe(0);
  });

  it('picks the order by the ecosystem name before the release', () => {
    expect(versionOrderOf('Debian:12')!.compare('1.0~rc1', '1.0')).toBeLessThan(0);
    expect(versionOrderOf('Alpine:v3.19')!.compare('1.1_rc1', '1.1')).toBeLessThan(0);
    expect(versionOrderOf('crates.io')).toBeUndefined();
  });
});
