/**
 * @module rbac/abac-condition
 * ABAC conditions (version 2.0) on role assignments, the subset ACR uses: boolean expressions of
 * `ActionMatches{'<data action>'}` and `@Request[Microsoft.ContainerRegistry/registries/
 * repositories:name] <StringOperator> '<value>'`. A condition is compiled once when the
 * assignment is written; anything outside the grammar is refused there, and a condition that
 * cannot be compiled at evaluation time grants nothing (fail closed).
 *
 * Written by hand: no maintained npm library parses Azure's condition language.
 */

export type CompiledCondition = (context: { dataAction: string; repository: string }) => boolean;

export class ConditionError extends Error {
  override name = 'ConditionError';
}

const REPOSITORY_ATTRIBUTE = 'microsoft.containerregistry/registries/repositories:name';

type Token =
  | { kind: 'lparen' | 'rparen' | 'and' | 'or' | 'not' }
  | { kind: 'actionMatches'; value: string }
  | { kind: 'attribute'; value: string }
  | { kind: 'operator'; value: string }
  | { kind: 'string'; value: string };

const STRING_OPERATORS: Record<string, (actual: string, expected: string) => boolean> = {
  stringequals: (a, e) => a === e,
  stringequalsignorecase: (a, e) => a.toLowerCase() === e.toLowerCase(),
  stringnotequals: (a, e) => a !== e,
  stringnotequalsignorecase: (a, e) => a.toLowerCase() !== e.toLowerCase(),
  stringstartswith: (a, e) => a.startsWith(e),
  stringstartswithignorecase: (a, e) => a.toLowerCase().startsWith(e.toLowerCase()),
  stringnotstartswith: (a, e) => !a.startsWith(e),
  stringnotstartswithignorecase: (a, e) => !a.toLowerCase().startsWith(e.toLowerCase()),
  stringlike: (a, e) => likeToRegex(e, false).test(a),
  stringlikeignorecase: (a, e) => likeToRegex(e, true).test(a),
};

function likeToRegex(pattern: string, ignoreCase: boolean): RegExp {
  const body = pattern
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&').replace(/\\\?/g, '.'))
    .join('.*');
  return new RegExp(`^${body}$`, ignoreCase ? 'i' : '');
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const space = /^\s+/.exec(rest);
    if (space) {
      i += space[0].length;
      continue;
    }
    let match: RegExpExecArray | null;
    if (rest[0] === '(') tokens.push({ kind: 'lparen' });
    else if (rest[0] === ')') tokens.push({ kind: 'rparen' });
    else if (rest[0] === '!') tokens.push({ kind: 'not' });
    else if ((match = /^(AND|&&)(?![A-Za-z])/i.exec(rest))) {
      tokens.push({ kind: 'and' });
      i += match[0].length;
      continue;
    } else if ((match = /^(OR|\|\|)(?![A-Za-z])/i.exec(rest))) {
      tokens.push({ kind: 'or' });
      i += match[0].length;
      continue;
    } else if ((match = /^NOT(?![A-Za-z])/i.exec(rest))) {
      tokens.push({ kind: 'not' });
      i += match[0].length;
      continue;
    } else if ((match = /^ActionMatches\s*\{\s*'([^']*)'\s*\}/i.exec(rest))) {
      tokens.push({ kind: 'actionMatches', value: match[1]! });
      i += match[0].length;
      continue;
    } else if ((match = /^@Request\[([^\]]+)\]/i.exec(rest))) {
      tokens.push({ kind: 'attribute', value: match[1]!.trim().toLowerCase() });
      i += match[0].length;
      continue;
    } else if ((match = /^'((?:[^']|'')*)'/.exec(rest))) {
      tokens.push({ kind: 'string', value: match[1]!.replace(/''/g, "'") });
      i += match[0].length;
      continue;
    } else if ((match = /^[A-Za-z]+/.exec(rest))) {
      const operator = match[0].toLowerCase();
      if (!(operator in STRING_OPERATORS)) {
        throw new ConditionError(`unsupported operator '${match[0]}' in condition`);
      }
      tokens.push({ kind: 'operator', value: operator });
      i += match[0].length;
      continue;
    } else {
      throw new ConditionError(`unexpected '${rest.slice(0, 20)}' in condition`);
    }
    i += 1;
  }
  return tokens;
}

/** Compiles a condition; throws ConditionError for anything outside the supported grammar. */
export function compileCondition(text: string): CompiledCondition {
  const tokens = tokenize(text);
  let position = 0;
  const peek = () => tokens[position];
  const take = () => tokens[position++];

  // or := and ('OR' and)* ; and := unary ('AND' unary)* ; unary := '!' unary | primary
  function parseOr(): CompiledCondition {
    let left = parseAnd();
    while (peek()?.kind === 'or') {
      take();
      const l = left;
      const r = parseAnd();
      left = (c) => l(c) || r(c);
    }
    return left;
  }
  function parseAnd(): CompiledCondition {
    let left = parseUnary();
    while (peek()?.kind === 'and') {
      take();
      const l = left;
      const r = parseUnary();
      left = (c) => l(c) && r(c);
    }
    return left;
  }
  function parseUnary(): CompiledCondition {
    if (peek()?.kind === 'not') {
      take();
      const inner = parseUnary();
      return (c) => !inner(c);
    }
    return parsePrimary();
  }
  function parsePrimary(): CompiledCondition {
    const token = take();
    if (!token) throw new ConditionError('condition ends too early');
    if (token.kind === 'lparen') {
      const inner = parseOr();
      if (take()?.kind !== 'rparen') throw new ConditionError("missing ')' in condition");
      return inner;
    }
    if (token.kind === 'actionMatches') {
      const pattern = token.value;
      return (c) => c.dataAction.toLowerCase() === pattern.toLowerCase();
    }
    if (token.kind === 'attribute') {
      if (token.value !== REPOSITORY_ATTRIBUTE) {
        throw new ConditionError(`unsupported attribute '${token.value}' in condition`);
      }
      const operator = take();
      const value = take();
      if (operator?.kind !== 'operator' || value?.kind !== 'string') {
        throw new ConditionError('expected an operator and a quoted value after the attribute');
      }
      const test = STRING_OPERATORS[operator.value]!;
      const expected = value.value;
      return (c) => test(c.repository, expected);
    }
    throw new ConditionError(`unexpected ${token.kind} in condition`);
  }

  const condition = parseOr();
  if (position !== tokens.length) throw new ConditionError('unexpected text after the condition');
  return condition;
}
