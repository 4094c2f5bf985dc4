/**
 * @module services/scanner/apk-version
 * Alpine's version order, as apk-tools' `src/version.c` defines it (Gentoo-style:
 * `digit{.digit}...[letter]{_suffix[number]}...[-r#]`). There is no maintained npm package for
 * it; this follows apk's token state machine so that its quirks (leading zeros after a dot weigh
 * less, `_alpha < _beta < _pre < _rc < release < _cvs < _svn < _git < _hg < _p`, the `-rN`
 * package revision) come out the same, including apk 2's quirk that a suffix right after a
 * zero component (`1.0_rc1`) sorts after the bare version. Tested with apk-tools' rules.
 */

// Token kinds, in apk's order: the comparison of two kinds at the end relies on it.
const INVALID = -1;
const DIGIT_OR_ZERO = 0;
const DIGIT = 1;
const LETTER = 2;
const SUFFIX = 3;
const SUFFIX_NO = 4;
const REVISION_NO = 5;
const END = 6;

const PRE_SUFFIXES = ['alpha', 'beta', 'pre', 'rc'];
const POST_SUFFIXES = ['cvs', 'svn', 'git', 'hg', 'p'];

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLower = (c: string | undefined): boolean => c !== undefined && c >= 'a' && c <= 'z';

/** A cursor over one version string: the kind of the next token and where it starts. */
class Tokens {
  kind = DIGIT;
  private at = 0;

  constructor(private readonly text: string) {}

  private get rest(): number {
    return this.text.length - this.at;
  }

  /** Reads the token of the current kind and returns its value (apk's `get_token`). */
  next(): number {
    if (this.rest <= 0) {
      this.kind = END;
      return 0;
    }
    let value: number;
    let length = 0;
    let nextKind = INVALID;
    const text = this.text;
    switch (this.kind) {
      case DIGIT_OR_ZERO:
        if (text[this.at] === '0') {
          // Leading zeros after a dot: a token worth minus their count, then the digits.
          while (length < this.rest && text[this.at + length] === '0') length++;
          nextKind = DIGIT;
          value = -length;
          break;
        }
        value = this.number();
        length = this.numberLength;
        break;
      case DIGIT:
      case SUFFIX_NO:
      case REVISION_NO:
        value = this.number();
        length = this.numberLength;
        break;
      case LETTER:
        value = text.charCodeAt(this.at);
        length = 1;
        break;
      case SUFFIX: {
        const pre = PRE_SUFFIXES.findIndex((s) => text.startsWith(s, this.at));
        if (pre >= 0) {
          value = pre - PRE_SUFFIXES.length;
          length = PRE_SUFFIXES[pre]!.length;
          break;
        }
        const post = POST_SUFFIXES.findIndex((s) => text.startsWith(s, this.at));
        if (post >= 0) {
          value = post;
          length = POST_SUFFIXES[post]!.length;
          break;
        }
        this.kind = INVALID;
        return -1;
      }
      default:
        this.kind = INVALID;
        return -1;
    }
    this.at += length;
    if (this.rest === 0) this.kind = END;
    else if (nextKind !== INVALID) this.kind = nextKind;
    else this.advance();
    return value;
  }

  private numberLength = 0;

  /** The run of digits ahead, as a number (its length in `numberLength`). */
  private number(): number {
    let value = 0;
    let length = 0;
    while (length < this.rest && isDigit(this.text[this.at + length])) {
      value = value * 10 + (this.text.charCodeAt(this.at + length) - 48);
      length++;
    }
    this.numberLength = length;
    return value;
  }

  /** Decides the kind of the next token from the separator ahead (apk's `next_token`). */
  private advance(): void {
    const c = this.text[this.at];
    let kind = INVALID;
    if (this.rest === 0) kind = END;
    else if ((this.kind === DIGIT || this.kind === DIGIT_OR_ZERO) && isLower(c)) kind = LETTER;
    else if (this.kind === LETTER && isDigit(c)) kind = DIGIT;
    else if (this.kind === SUFFIX && isDigit(c)) kind = SUFFIX_NO;
    else {
      if (c === '.') kind = DIGIT_OR_ZERO;
      else if (c === '_') kind = SUFFIX;
      else if (c === '-' && this.text[this.at + 1] === 'r') {
        kind = REVISION_NO;
        this.at++;
      }
      this.at++;
    }
    const allowedBackwards =
      (kind === DIGIT_OR_ZERO && this.kind === DIGIT) ||
      (kind === SUFFIX && this.kind === SUFFIX_NO) ||
      (kind === DIGIT && this.kind === LETTER);
    if (kind < this.kind && !allowedBackwards) kind = INVALID;
    this.kind = kind;
  }

  /** The value of the token ahead without consuming it (for the pre-release check). */
  peekValue(): number {
    const copy = new Tokens(this.text);
    copy.kind = this.kind;
    copy.at = this.at;
    return copy.next();
  }
}

/** Whether apk accepts the string as a version. */
export function isValidApkVersion(version: string): boolean {
  const tokens = new Tokens(version);
  while (tokens.kind !== END && tokens.kind !== INVALID) tokens.next();
  return tokens.kind === END;
}

/** Negative, zero or positive as `a` sorts before, with or after `b` in apk's order. */
export function compareApkVersions(a: string, b: string): number {
  const left = new Tokens(a);
  const right = new Tokens(b);
  let leftValue = 0;
  let rightValue = 0;
  while (
    left.kind === right.kind &&
    left.kind !== END &&
    left.kind !== INVALID &&
    leftValue === rightValue
  ) {
    leftValue = left.next();
    rightValue = right.next();
  }
  if (leftValue !== rightValue) return leftValue < rightValue ? -1 : 1;
  if (left.kind === right.kind) return 0;
  // Equal so far: the longer version is greater, unless what it goes on with is a pre-release.
  if (left.kind === SUFFIX && left.peekValue() < 0) return -1;
  if (right.kind === SUFFIX && right.peekValue() < 0) return 1;
  if (left.kind > right.kind) return -1;
  if (right.kind > left.kind) return 1;
  return 0;
}
