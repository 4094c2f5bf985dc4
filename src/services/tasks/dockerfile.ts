/**
 * @module services/tasks/dockerfile
 * Parses a Dockerfile into instructions, following Docker's reference: `#` comments and parser
 * directives, `\` line continuations, exec form (a JSON array) and shell form, flags such as
 * `--chown=` and `--from=`, and variable substitution (`$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR:+alternative}`) applied by the builder with the variables in scope at each step.
 * No maintained npm package parses Dockerfiles with Docker's substitution rules (the few that
 * exist are abandoned or only tokenise), so this is written here, against Docker's reference.
 */

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY... */
  keyword: string;
  /** `--name=value` flags before the arguments. */
  flags: Record<string, string>;
  /** The raw argument text (after flags), for shell form and key=value forms. */
  text: string;
  /** Exec form: the JSON array, when the arguments are one. */
  json?: string[];
  /** 1-based line where the instruction starts, for error messages. */
  line: number;
}

export class DockerfileError extends Error {
  override name = 'DockerfileError';
}

const KNOWN = new Set([
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'MAINTAINER',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
]);

/** Instructions whose arguments may carry `--flag=value` options. */
const FLAGGED = new Set(['FROM', 'COPY', 'ADD', 'RUN']);

export function parseDockerfile(source: string): Instruction[] {
  const instructions: Instruction[] = [];
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  let pending = '';
  let startLine = 0;
  let inBody = false;
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!;
    const trimmed = raw.trim();
    // Comments (and parser directives, which this builder does not need) are whole lines.
    if (trimmed.startsWith('#')) {
      continue;
    }
    if (!inBody) {
      if (trimmed === '') continue;
      startLine = index + 1;
      inBody = true;
      pending = '';
    }
    if (/\\\s*$/.test(raw)) {
      pending += raw.replace(/\\\s*$/, '') + ' ';
      continue;
    }
    pending += raw;
    inBody = false;
    instructions.push(parseInstruction(pending.trim(), startLine));
  }
  if (inBody && pending.trim()) instructions.push(parseInstruction(pending.trim(), startLine));
  if (!instructions.some((i) => i.keyword === 'FROM')) {
    throw new DockerfileError('the Dockerfile has no FROM instruction');
  }
  const first = instructions.find((i) => i.keyword !== 'ARG');
  if (first && first.keyword !== 'FROM') {
    throw new DockerfileError(
      `line ${first.line}: ${first.keyword} before the first FROM (only ARG may come first)`,
    );
  }
  return instructions;
}

function parseInstruction(text: string, line: number): Instruction {
  const match = /^(\S+)\s*(.*)$/s.exec(text);
  const keyword = match?.[1]?.toUpperCase() ?? '';
  if (!KNOWN.has(keyword)) {
    throw new DockerfileError(`line ${line}: unknown instruction: ${match?.[1] ?? text}`);
  }
  let rest = (match?.[2] ?? '').trim();
  const flags: Record<string, string> = {};
  if (FLAGGED.has(keyword)) {
    for (
      let flag = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest);
      flag;
      flag = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest)
    ) {
      flags[flag[1]!] = flag[2] ?? 'true';
      rest = rest.slice(flag[0].length);
    }
  }
  const instruction: Instruction = { keyword, flags, text: rest, line };
  if (rest.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(rest);
      if (Array.isArray(parsed) && parsed.every((item) => typeof item === 'string'))
        instruction.json = parsed;
    } catch {
      // Not valid JSON: Docker treats it as shell form.
    }
  }
  return instruction;
}

/**
 * Substitutes `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}`; `\$` is a
 * literal dollar. Unknown variables become empty, as in Docker.
 */
export function substitute(text: string, variables: Record<string, string>): string {
  let output = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '\\' && text[i + 1] === '$') {
      output += '$';
      i++;
      continue;
    }
    if (char !== '$') {
      output += char;
      continue;
    }
    if (text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2);
      if (end < 0) throw new DockerfileError(`missing '}' in '${text}'`);
      const body = text.slice(i + 2, end);
      const modifier = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?$/s.exec(body);
      if (!modifier) throw new DockerfileError(`bad substitution: \${${body}}`);
      const value = variables[modifier[1]!];
      if (modifier[2] === '-') output += value ? value : substitute(modifier[3] ?? '', variables);
      else if (modifier[2] === '+') output += value ? substitute(modifier[3] ?? '', variables) : '';
      else output += value ?? '';
      i = end;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))?.[0];
    if (!name) {
      output += '$';
      continue;
    }
    output += variables[name] ?? '';
    i += name.length;
  }
  return output;
}

/**
 * Splits `key=value key2="value two"` (ENV, LABEL, ARG) into pairs; the legacy
 * `ENV key value with spaces` form too when `legacy` allows it.
 */
export function parseKeyValues(text: string, legacy: boolean): Array<[string, string]> {
  const words = splitWords(text);
  if (words.length > 0 && !words[0]!.includes('=')) {
    if (!legacy) return words.map((word) => [word, '']);
    const space = text.search(/\s/);
    if (space < 0) throw new DockerfileError(`'${text}' needs a value`);
    return [[unquote(text.slice(0, space)), unquote(text.slice(space).trim())]];
  }
  return words.map((word) => {
    const equals = word.indexOf('=');
    if (equals < 0) throw new DockerfileError(`'${word}' is not key=value`);
    return [unquote(word.slice(0, equals)), unquote(word.slice(equals + 1))];
  });
}

/** Splits on unquoted whitespace, keeping quotes (removed later by `unquote`). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote) {
      if (char === '\\' && quote === '"' && i + 1 < text.length) {
        current += char + text[++i];
        continue;
      }
      if (char === quote) quote = undefined;
      current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      current += char;
    } else if (/\s/.test(char)) {
      if (current) words.push(current);
      current = '';
    } else if (char === '\\' && i + 1 < text.length) {
      current += char + text[++i];
    } else {
      current += char;
    }
  }
  if (quote) throw new DockerfileError(`unmatched quote in '${text}'`);
  if (current) words.push(current);
  return words;
}

/** Removes quotes and backslash escapes from one word. */
export function unquote(word: string): string {
  let output = '';
  let quote: string | undefined;
  for (let i = 0; i < word.length; i++) {
    const char = word[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === '\\' && quote === '"' && i + 1 < word.length) output += word[++i];
      else output += char;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '\\' && i + 1 < word.length) output += word[++i];
    else output += char;
  }
  return output;
}
