/**
 * @module bench/lib/profile
 * Summarises a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per function, inclusive
 * time of Breakwater's own functions, and time per package. Frames in `dist/` are mapped back to
 * `src/` through the compiler's source maps, so findings point at files a person edits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  name: string;
  /** `src/...:line` for Breakwater code, `node:...` / `node_modules/...` otherwise. */
  location: string;
  category: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  /** Sampled time not idle: what percentages are of. */
  busyMs: number;
  idleMs: number;
  functions: FunctionTime[];
  categories: Array<{ category: string; selfMs: number }>;
}

const sourceMaps = new Map<string, SourceMap | undefined>();

function sourceMapFor(path: string): SourceMap | undefined {
  if (!sourceMaps.has(path)) {
    const mapPath = `${path}.map`;
    sourceMaps.set(
      path,
      existsSync(mapPath)
        ? new SourceMap(JSON.parse(readFileSync(mapPath, 'utf8')) as never)
        : undefined,
    );
  }
  return sourceMaps.get(path);
}

function categorise(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName.startsWith('(')) return functionName;
    return 'native (C++ bindings)';
  }
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (packageMatch) return packageMatch[1]!;
  if (url.startsWith('node:')) {
    const internal = /^node:(?:internal\/)?([a-z_]+)/.exec(url);
    return `node:${internal?.[1] ?? url.slice(5)}`;
  }
  if (url.includes('/dist/')) return 'breakwater';
  return 'other';
}

function locate(frame: CallFrame, repoRoot: string): string {
  const { url, lineNumber, columnNumber } = frame;
  if (url === '') return '';
  if (url.startsWith('file://')) {
    const path = fileURLToPath(url);
    if (path.includes('/dist/') && !path.includes('/node_modules/')) {
      const entry = sourceMapFor(path)?.findEntry(lineNumber, columnNumber) as
        { originalSource?: string; originalLine?: number } | undefined;
      if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
        const source = entry.originalSource.startsWith('file://')
          ? fileURLToPath(entry.originalSource)
          : entry.originalSource;
        const shown = source.startsWith('/') ? relative(repoRoot, source) : source;
        return `${shown.replace(/^(\.\.\/)+/, '')}:${entry.originalLine + 1}`;
      }
    }
    const shown = relative(repoRoot, path);
    return `${shown}:${lineNumber + 1}`;
  }
  return `${url}:${lineNumber + 1}`;
}

export function summariseProfile(file: string, repoRoot: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) byId.set(node.id, node);
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (frame: CallFrame) =>
    `${frame.functionName}\u0000${frame.url}\u0000${frame.lineNumber}\u0000${frame.columnNumber}`;

  const times = new Map<string, FunctionTime>();
  const entry = (frame: CallFrame): FunctionTime => {
    const key = keyOf(frame);
    let found = times.get(key);
    if (!found) {
      found = {
        name: frame.functionName || '(anonymous)',
        location: locate(frame, repoRoot),
        category: categorise(frame),
        selfMs: 0,
        totalMs: 0,
      };
      times.set(key, found);
    }
    return found;
  };

  let idleUs = 0;
  let sampledUs = 0;
  for (let i = 0; i < profile.samples.length; i += 1) {
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    sampledUs += us;
    const leaf = byId.get(profile.samples[i]!);
    if (!leaf) continue;
    if (leaf.callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    entry(leaf.callFrame).selfMs += us / 1000;
    // Inclusive time: once per distinct function on the stack, so recursion is not double-counted.
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      const key = keyOf(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      entry(frame).totalMs += us / 1000;
    }
  }

  const functions = [...times.values()].filter((f) => f.name !== '(root)');
  const categories = new Map<string, number>();
  for (const f of functions)
    categories.set(f.category, (categories.get(f.category) ?? 0) + f.selfMs);
  return {
    file,
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: (sampledUs - idleUs) / 1000,
    idleMs: idleUs / 1000,
    functions,
    categories: [...categories.entries()]
      .map(([category, selfMs]) => ({ category, selfMs }))
      .sort((a, b) => b.selfMs - a.selfMs),
  };
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** A Markdown section: top self time, Breakwater's inclusive time, and time per package. */
export function profileMarkdown(title: string, summary: ProfileSummary, top = 25): string {
  const pct = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1)}%`;
  const lines = [
    `### ${title}`,
    '',
    `Profile \`${summary.file}\`: ${(summary.wallMs / 1000).toFixed(1)} s wall, ` +
      `${(summary.busyMs / 1000).toFixed(1)} s busy, ${(summary.idleMs / 1000).toFixed(1)} s idle. ` +
      'Percentages are of busy time.',
    '',
    '| self ms | self % | function | where | package |',
    '| ---: | ---: | --- | --- | --- |',
  ];
  const bySelf = [...summary.functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, top);
  for (const f of bySelf) {
    lines.push(
      `| ${f.selfMs.toFixed(0)} | ${pct(f.selfMs)} | ${escapeCell(f.name)} | ${escapeCell(f.location)} | ${f.category} |`,
    );
  }
  lines.push('', '| package | self ms | self % |', '| --- | ---: | ---: |');
  for (const c of summary.categories.slice(0, 15)) {
    lines.push(`| ${c.category} | ${c.selfMs.toFixed(0)} | ${pct(c.selfMs)} |`);
  }
  const own = summary.functions
    .filter((f) => f.category === 'breakwater')
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, 15);
  if (own.length > 0) {
    lines.push(
      '',
      'Breakwater functions by inclusive time (self plus everything they call synchronously):',
      '',
      '| total ms | total % | function | where |',
      '| ---: | ---: | --- | --- |',
    );
    for (const f of own) {
      lines.push(
        `| ${f.totalMs.toFixed(0)} | ${pct(f.totalMs)} | ${escapeCell(f.name)} | ${escapeCell(f.location)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
