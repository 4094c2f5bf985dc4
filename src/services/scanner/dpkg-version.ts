/**
 * @module services/scanner/dpkg-version
 * Debian's version order (Debian Policy 5.6.12, dpkg's `verrevcmp`). No maintained npm package
 * implements it exactly (the ones published are unmaintained or drop the `~` rule), and the
 * algorithm is short and fully specified, so it lives here, tested against Policy's examples.
 *
 *   [epoch:]upstream[-revision]; epochs compare as numbers, then upstream, then revision, each
 *   by alternating non-digit runs (letters < other characters, `~` before everything, even the
 *   end of the string) and digit runs compared as numbers.
 */

interface DpkgVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

function parseDpkgVersion(version: string): DpkgVersion {
  const text = version.trim();
  const colon = text.indexOf(':');
  const epoch = colon > 0 ? Number.parseInt(text.slice(0, colon), 10) : 0;
  const rest = colon > 0 ? text.slice(colon + 1) : text;
  const dash = rest.lastIndexOf('-');
  return dash >= 0
    ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
    : { epoch, upstream: rest, revision: '' };
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isLetter = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

/** The weight of one character in a non-digit run; '' is the end of the string. */
function order(c: string): number {
  if (c === '' || isDigit(c)) return 0;
  if (isLetter(c)) return c.charCodeAt(0);
  if (c === '~') return -1;
  return c.charCodeAt(0) + 256;
}

function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const difference = order(a[i] ?? '') - order(b[j] ?? '');
      if (difference !== 0) return difference;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    let firstDifference = 0;
    while (i < a.length && j < b.length && isDigit(a[i]!) && isDigit(b[j]!)) {
      if (firstDifference === 0) firstDifference = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a[i]!)) return 1;
    if (j < b.length && isDigit(b[j]!)) return -1;
    if (firstDifference !== 0) return firstDifference;
  }
  return 0;
}

/** Negative, zero or positive as `a` sorts before, with or after `b` in dpkg's order. */
export function compareDpkgVersions(a: string, b: string): number {
  const left = parseDpkgVersion(a);
  const right = parseDpkgVersion(b);
  if (left.epoch !== right.epoch) return left.epoch - right.epoch;
  return (
    compareFragment(left.upstream, right.upstream) || compareFragment(left.revision, right.revision)
  );
}
