/**
 * @module cli/output
 * az's output: `--query` (JMESPath) first, then `-o json` (indent 2, keys sorted), `-o table`
 * (column headers over dashes; a command may give a table transformer, used only without
 * `--query`, as az does), or `-o tsv` (scalar values, tab-separated, one line per item).
 * Warnings go to stderr unless `--only-show-errors`.
 */
import { search } from '@jmespath-community/jmespath';
import type { JSONValue } from '@jmespath-community/jmespath';
import { CliError } from './errors.js';

export type OutputFormat = 'json' | 'table' | 'tsv';

export interface GlobalOptions {
  output?: string;
  query?: string;
  onlyShowErrors?: boolean;
}

/** A table transformer: the rows (ordered columns) az shows for a command's result. */
export type TableTransform = (result: unknown) => Record<string, unknown>[];

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return sorted;
  }
  return value;
}

export function applyQuery(result: unknown, query: string): unknown {
  try {
    return search(result as JSONValue, query);
  } catch (error) {
    throw new CliError(
      `argument --query: invalid jmespath_type value: '${query}' (${(error as Error).message})`,
    );
  }
}

function scalarText(value: unknown): string {
  if (value === null || value === undefined) return '';
  // az is Python: booleans print as True/False in table and tsv.
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'object') return '';
  return String(value);
}

function isScalar(value: unknown): boolean {
  return value === null || value === undefined || typeof value !== 'object';
}

export function formatTsv(result: unknown): string {
  if (result === null || result === undefined) return '';
  const rows = Array.isArray(result) ? result : [result];
  const lines = rows.map((row) => {
    if (isScalar(row)) return scalarText(row);
    if (Array.isArray(row)) return row.filter(isScalar).map(scalarText).join('\t');
    const record = row as Record<string, unknown>;
    return Object.keys(record)
      .sort()
      .filter((key) => isScalar(record[key]))
      .map((key) => scalarText(record[key]))
      .join('\t');
  });
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** az's auto-table header: first letter capitalised (loginServer -> LoginServer). */
function header(key: string): string {
  return key.charAt(0).toUpperCase() + key.slice(1);
}

export function formatTable(rows: Record<string, unknown>[], keepHeaders = false): string {
  if (rows.length === 0) return '';
  const columns: string[] = [];
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      if (!columns.includes(key) && isScalar(row[key])) columns.push(key);
    }
  }
  if (columns.length === 0) return '';
  const titles = columns.map((c) => (keepHeaders ? c : header(c)));
  const cells = rows.map((row) => columns.map((c) => scalarText(row[c])));
  const widths = titles.map((t, i) => Math.max(t.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(titles), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')}\n`;
}

function autoRows(result: unknown): Record<string, unknown>[] {
  const items = Array.isArray(result) ? result : [result];
  return items.map((item) =>
    isScalar(item) ? { Result: item } : (sortKeys(item) as Record<string, unknown>),
  );
}

export function parseFormat(value: string | undefined): OutputFormat {
  const format = value ?? 'json';
  if (format !== 'json' && format !== 'table' && format !== 'tsv') {
    throw new CliError(
      `argument --output/-o: invalid choice: '${format}' (choose from 'json', 'table', 'tsv')`,
    );
  }
  return format;
}

export function render(result: unknown, options: GlobalOptions, table?: TableTransform): string {
  const format = parseFormat(options.output);
  const queried = options.query !== undefined ? applyQuery(result, options.query) : result;
  if (format === 'json') {
    if (queried === undefined) return '';
    return `${JSON.stringify(sortKeys(queried), null, 2)}\n`;
  }
  if (format === 'tsv') return formatTsv(queried);
  if (queried === null || queried === undefined) return '';
  if (table && options.query === undefined) return formatTable(table(queried), true);
  return formatTable(autoRows(queried));
}

export function print(result: unknown, options: GlobalOptions, table?: TableTransform): void {
  process.stdout.write(render(result, options, table));
}

export function warn(options: GlobalOptions, message: string): void {
  if (!options.onlyShowErrors) process.stderr.write(`WARNING: ${message}\n`);
}
