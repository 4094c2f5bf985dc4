/**
 * @module services/tasks/task-file
 * ACR's multi-step task file (`acb.yaml`): `version`, `steps` with `build` (docker build
 * arguments), `push` (image names) and `cmd` (an image and its arguments), each with optional
 * `id`, `env`, `workingDirectory`, `timeout`; and the template values ACR expands before
 * parsing: `{{.Run.ID}}`, `{{.Run.Registry}}`, `{{.Run.RegistryName}}`, `{{.Run.Date}}`,
 * `{{.Values.name}}`, with the `$Registry` and `$ID` aliases.
 */
import type * as YamlPackage from 'yaml';
import { isObject } from '../../core/json.js';
import { lazyPackage } from '../../core/lazy-package.js';
import { splitWords, unquote } from './dockerfile.js';

const yaml = lazyPackage<typeof YamlPackage>('yaml');

export interface RunValues {
  id: string;
  registry: string;
  values: Record<string, string>;
}

export type TaskStep =
  | {
      kind: 'build';
      id: string;
      tags: string[];
      dockerfile: string;
      context: string;
      buildArgs: Record<string, string>;
      target?: string;
      timeout?: number;
    }
  | { kind: 'push'; id: string; images: string[]; timeout?: number }
  | {
      kind: 'cmd';
      id: string;
      image: string;
      args: string[];
      env: string[];
      workingDirectory?: string;
      timeout?: number;
    };

export class TaskFileError extends Error {
  override name = 'TaskFileError';
}

/** Expands ACR's run variables in a task file, an image name or a Dockerfile argument. */
export function expandRunValues(text: string, run: RunValues): string {
  const date = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\..*$/, 'z')
    .replace('T', '-');
  return text
    .replace(/\{\{\s*\.Run\.ID\s*\}\}/g, run.id)
    .replace(/\{\{\s*\.Run\.Registry\s*\}\}/g, run.registry)
    .replace(/\{\{\s*\.Run\.RegistryName\s*\}\}/g, run.registry.split('.')[0]!)
    .replace(/\{\{\s*\.Run\.Date\s*\}\}/g, date)
    .replace(
      /\{\{\s*\.Values\.([A-Za-z0-9_]+)\s*\}\}/g,
      (_match, name: string) => run.values[name] ?? '',
    )
    .replace(/\$Registry\b/g, run.registry)
    .replace(/\$\{?ID\}?(?![A-Za-z0-9_])/g, run.id);
}

export function parseTaskFile(source: string, run: RunValues): TaskStep[] {
  let document: unknown;
  try {
    document = yaml().parse(expandRunValues(source, run));
  } catch (error) {
    throw new TaskFileError(`failed to parse the task file: ${(error as Error).message}`);
  }
  if (!isObject(document) || !Array.isArray(document.steps) || document.steps.length === 0) {
    throw new TaskFileError('the task file must have a non-empty list of steps');
  }
  return document.steps.map((raw, index) => parseStep(raw, index));
}

function parseStep(raw: unknown, index: number): TaskStep {
  if (!isObject(raw)) throw new TaskFileError(`step ${index + 1} must be a mapping`);
  const id = typeof raw.id === 'string' ? raw.id : `acb_step_${index}`;
  const timeout = typeof raw.timeout === 'number' ? raw.timeout : undefined;
  const common = { id, ...(timeout ? { timeout } : {}) };
  if (typeof raw.build === 'string')
    return { kind: 'build', ...common, ...parseBuildArguments(raw.build, index) };
  if (raw.push !== undefined) {
    const images = Array.isArray(raw.push)
      ? raw.push.map(String)
      : typeof raw.push === 'string'
        ? [raw.push]
        : [];
    if (images.length === 0)
      throw new TaskFileError(`step ${index + 1}: push needs at least one image`);
    return { kind: 'push', ...common, images };
  }
  if (typeof raw.cmd === 'string') {
    const [image, ...args] = splitWords(raw.cmd).map(unquote);
    if (!image) throw new TaskFileError(`step ${index + 1}: cmd needs an image`);
    const env = Array.isArray(raw.env) ? raw.env.map(String) : [];
    return {
      kind: 'cmd',
      ...common,
      image,
      args,
      env,
      ...(typeof raw.workingDirectory === 'string'
        ? { workingDirectory: raw.workingDirectory }
        : {}),
    };
  }
  throw new TaskFileError(`step ${index + 1} must be one of build, push or cmd`);
}

/** `docker build` arguments of a build step: -t/--tag, -f/--file, --build-arg, --target, context. */
export function parseBuildArguments(
  text: string,
  index = 0,
): {
  tags: string[];
  dockerfile: string;
  context: string;
  buildArgs: Record<string, string>;
  target?: string;
} {
  const words = splitWords(text).map(unquote);
  const tags: string[] = [];
  const buildArgs: Record<string, string> = {};
  let dockerfile = 'Dockerfile';
  let context: string | undefined;
  let target: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const [flag, inline] =
      word.startsWith('--') && word.includes('=')
        ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]
        : [word, undefined];
    const value = () => {
      const next = inline ?? words[++i];
      if (next === undefined) throw new TaskFileError(`step ${index + 1}: ${flag} needs a value`);
      return next;
    };
    if (flag === '-t' || flag === '--tag') tags.push(value());
    else if (flag === '-f' || flag === '--file') dockerfile = value();
    else if (flag === '--build-arg') {
      const pair = value();
      const equals = pair.indexOf('=');
      buildArgs[equals < 0 ? pair : pair.slice(0, equals)] =
        equals < 0 ? '' : pair.slice(equals + 1);
    } else if (flag === '--target') target = value();
    else if (flag === '--no-cache' || flag === '--pull') continue;
    else if (flag.startsWith('-'))
      throw new TaskFileError(`step ${index + 1}: unknown build flag ${flag}`);
    else context = word;
  }
  if (context === undefined)
    throw new TaskFileError(`step ${index + 1}: build needs a context (e.g. '.')`);
  return { tags, dockerfile, context, buildArgs, ...(target ? { target } : {}) };
}
