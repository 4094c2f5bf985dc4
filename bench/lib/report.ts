/**
 * @module bench/lib/report
 * Turns per-round samples into medians and Breakwater/Distribution ratios, checks them against the
 * targets of docs/performance.md, and renders the Markdown table and an SVG chart of the ratios.
 */
import type { Limits } from './limits.js';
import type { ServerKind } from './servers.js';
import type { PushCpu } from './workloads.js';

export type FigureId =
  | 'w1-skopeo-push'
  | 'w1-skopeo-pull'
  | 'w1-raw-push'
  | 'w1-raw-pull'
  | 'w1-peak-rss'
  | 'w2-push'
  | 'w2-pull'
  | 'w3-push';

interface FigureSpec {
  id: FigureId;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  target: string;
  /** Whether the target is met; undefined when the figure has none. */
  check?: (
    figure: { breakwater: number; distribution: number; ratio: number },
    limits?: Limits,
  ) => boolean | undefined;
}

export const FIGURES: FigureSpec[] = [
  {
    id: 'w1-skopeo-push',
    label: 'W1 big, skopeo push',
    unit: 'MiB/s',
    higherIsBetter: true,
    target: '',
  },
  {
    id: 'w1-skopeo-pull',
    label: 'W1 big, skopeo pull',
    unit: 'MiB/s',
    higherIsBetter: true,
    target: '',
  },
  {
    id: 'w1-raw-push',
    label: 'W1 big, raw HTTP push',
    unit: 'MiB/s',
    higherIsBetter: true,
    target: '>= 2x, digest verified before publish',
    check: (f) => f.ratio >= 2,
  },
  {
    id: 'w1-raw-pull',
    label: 'W1 big, raw HTTP pull',
    unit: 'MiB/s',
    higherIsBetter: true,
    target: '>= 1x and >= 80% of loopback TCP',
    check: (f, limits) => f.ratio >= 1 && (limits ? f.breakwater >= 0.8 * limits.tcp : true),
  },
  {
    id: 'w1-peak-rss',
    label: 'W1 peak RSS (lower is better)',
    unit: 'MiB',
    higherIsBetter: false,
    target: 'Breakwater < 150 MiB',
    check: (f) => f.breakwater < 150,
  },
  {
    id: 'w2-push',
    label: 'W2 many, skopeo push x8',
    unit: 'images/s',
    higherIsBetter: true,
    target: '>= 2x',
    check: (f) => f.ratio >= 2,
  },
  {
    id: 'w2-pull',
    label: 'W2 many, skopeo pull x8',
    unit: 'images/s',
    higherIsBetter: true,
    target: '>= 1.5x',
    check: (f) => f.ratio >= 1.5,
  },
  {
    id: 'w3-push',
    label: 'W3 dedupe, skopeo push',
    unit: 'tags/s',
    higherIsBetter: true,
    target: '>= 1.5x',
    check: (f) => f.ratio >= 1.5,
  },
];

export type Samples = Record<FigureId, Record<ServerKind, number[]>>;

export function emptySamples(): Samples {
  const samples = {} as Samples;
  for (const figure of FIGURES) samples[figure.id] = { breakwater: [], distribution: [] };
  return samples;
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface FigureResult {
  id: FigureId;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  target: string;
  breakwater: { median: number; rounds: number[] };
  distribution: { median: number; rounds: number[] };
  /** Breakwater / Distribution of the medians. */
  ratio: number;
  /** Target met; null when there is no target or no data. */
  met: boolean | null;
}

/** One side of the Restricted comparison: per-round rates and their median. */
export interface RestrictedSide {
  median: number;
  rounds: number[];
}

export interface RestrictedResult {
  available: boolean;
  /** Why not, when unavailable. */
  reason?: string;
  target: string;
  /** IP rules of the restricted registry. */
  ipRules?: number;
  /** W2 push (images/s) on Breakwater open and restricted. */
  open?: RestrictedSide;
  restricted?: RestrictedSide;
  /** restricted / open of the push medians: the figure with the target. */
  ratio?: number;
  met?: boolean | null;
  /** W2 pull (images/s), open and restricted, and restricted / open (no target). */
  pull?: { open: RestrictedSide; restricted: RestrictedSide; ratio: number };
}

export interface LimitsResult {
  rounds: Limits[];
  median: Limits;
}

export interface Report {
  version: 1;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: Record<string, unknown>;
  options: Record<string, unknown>;
  loadAverage: { start: number[]; perRound: number[]; end: number[] };
  limits?: LimitsResult;
  figures: FigureResult[];
  restricted?: RestrictedResult;
  /** Share of W1 raw push time between the last body byte sent and the 201, per round. */
  pushCommitShare?: Record<ServerKind, number[]>;
  /** CPU milliseconds per W2 image pushed, server and skopeo processes, per round. */
  w2PushCpu?: Record<ServerKind, PushCpu[]>;
  /** The same per W3 tag pushed (one skopeo at a time). */
  w3PushCpu?: Record<ServerKind, PushCpu[]>;
  notes: string[];
}

export function summariseLimits(rounds: Limits[]): LimitsResult | undefined {
  if (rounds.length === 0) return undefined;
  return {
    rounds,
    median: {
      sha256: median(rounds.map((l) => l.sha256)),
      tcp: median(rounds.map((l) => l.tcp)),
      disk: median(rounds.map((l) => l.disk)),
    },
  };
}

export const RESTRICTED_TARGET = 'within 10% of open (>= 0.9x)';

/** Restricted / open W2 on Breakwater, from the per-round rates of each side. */
export function summariseRestricted(
  rates: Record<'open' | 'restricted', Array<{ push: number; pull: number }>>,
  ipRules: number,
): RestrictedResult {
  if (rates.open.length === 0 || rates.restricted.length === 0) {
    return { available: false, reason: 'no completed round', target: RESTRICTED_TARGET };
  }
  const side = (values: number[]): RestrictedSide => ({ median: median(values), rounds: values });
  const open = side(rates.open.map((r) => r.push));
  const restricted = side(rates.restricted.map((r) => r.push));
  const pullOpen = side(rates.open.map((r) => r.pull));
  const pullRestricted = side(rates.restricted.map((r) => r.pull));
  const ratio = restricted.median / open.median;
  return {
    available: true,
    target: RESTRICTED_TARGET,
    ipRules,
    open,
    restricted,
    ratio,
    met: ratio >= 0.9,
    pull: {
      open: pullOpen,
      restricted: pullRestricted,
      ratio: pullRestricted.median / pullOpen.median,
    },
  };
}

export function summariseFigures(samples: Samples, limits?: Limits): FigureResult[] {
  const results: FigureResult[] = [];
  for (const spec of FIGURES) {
    const rounds = samples[spec.id];
    if (rounds.breakwater.length === 0 && rounds.distribution.length === 0) continue;
    const breakwater = median(rounds.breakwater);
    const distribution = median(rounds.distribution);
    const ratio = breakwater / distribution;
    const checked = Number.isFinite(breakwater)
      ? spec.check?.({ breakwater, distribution, ratio }, limits)
      : undefined;
    results.push({
      id: spec.id,
      label: spec.label,
      unit: spec.unit,
      higherIsBetter: spec.higherIsBetter,
      target: spec.target,
      breakwater: { median: breakwater, rounds: rounds.breakwater },
      distribution: { median: distribution, rounds: rounds.distribution },
      ratio,
      met: checked === undefined ? null : checked,
    });
  }
  return results;
}

function fmt(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function metText(met: boolean | null | undefined): string {
  if (met === true) return 'yes';
  if (met === false) return 'no';
  return '';
}

export function renderMarkdown(report: Report, chartFile: string): string {
  const lines: string[] = [];
  const m = report.machine;
  const o = report.options;
  lines.push(
    `# Breakwater vs CNCF Distribution: ${report.startedAt.slice(0, 10)}`,
    '',
    `Run ${report.startedAt} to ${report.finishedAt} (${(report.durationSeconds / 60).toFixed(1)} min). ` +
      `Machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryGiB} GiB; Node ${m.node}; ${m.skopeo}; ` +
      `Distribution ${m.distribution}; Breakwater ${m.breakwaterCommit}.`,
    '',
    `Scale ${o.scale}, ${o.rounds} rounds; ${o.sizesText}. Each round runs every workload on ` +
      'Breakwater then Distribution, each on a freshly started server with a fresh data directory; ' +
      'figures are medians over rounds, ratios are Breakwater / Distribution of the medians.',
    '',
    `Load average (1 min) at start ${report.loadAverage.start.map(fmt).join(' / ')}, per round ` +
      `${report.loadAverage.perRound.map(fmt).join(', ')}, at end ${report.loadAverage.end.map(fmt).join(' / ')}` +
      ` on ${m.cpus} cores: anything else running on the machine slows both servers.`,
    '',
    `![Breakwater / Distribution per figure](${chartFile})`,
    '',
    '| Figure | Unit | Breakwater | Distribution | Breakwater / Distribution | Target | Met |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
  );
  for (const f of report.figures) {
    lines.push(
      `| ${f.label} | ${f.unit} | ${fmt(f.breakwater.median)} | ${fmt(f.distribution.median)} | ` +
        `${fmt(f.ratio)}x | ${f.target} | ${metText(f.met)} |`,
    );
  }
  const r = report.restricted;
  if (r) {
    if (r.available) {
      lines.push(
        `| Restricted W2 push (Breakwater, ${r.ipRules} IP rules / open) | images/s | ` +
          `${fmt(r.restricted?.median)} | ${fmt(r.open?.median)} (open) | ${fmt(r.ratio)}x | ` +
          `${r.target} | ${metText(r.met)} |`,
      );
      if (r.pull) {
        lines.push(
          `| Restricted W2 pull (Breakwater, ${r.ipRules} IP rules / open) | images/s | ` +
            `${fmt(r.pull.restricted.median)} | ${fmt(r.pull.open.median)} (open) | ` +
            `${fmt(r.pull.ratio)}x |  |  |`,
        );
      }
    } else {
      lines.push(
        `| Restricted W2 push (Breakwater, restricted / open) | images/s | n/a | n/a | n/a | ` +
          `${r.target} | ${r.reason ?? 'not available'} |`,
      );
    }
  }
  const limits = report.limits;
  if (limits) {
    lines.push(
      '',
      '## Machine limits in the same run (median of rounds)',
      '',
      '| Limit | MiB/s | Rounds |',
      '| --- | ---: | --- |',
      `| sha256 stream, one core (64 KiB chunks) | ${fmt(limits.median.sha256)} | ${limits.rounds.map((l) => fmt(l.sha256)).join(', ')} |`,
      `| loopback TCP, Node process to Node process | ${fmt(limits.median.tcp)} | ${limits.rounds.map((l) => fmt(l.tcp)).join(', ')} |`,
      `| disk write + fsync, data directory's filesystem | ${fmt(limits.median.disk)} | ${limits.rounds.map((l) => fmt(l.disk)).join(', ')} |`,
    );
    const pull = report.figures.find((f) => f.id === 'w1-raw-pull');
    const push = report.figures.find((f) => f.id === 'w1-raw-push');
    const against: string[] = [];
    if (pull) {
      against.push(
        `W1 raw pull: Breakwater ${fmt((100 * pull.breakwater.median) / limits.median.tcp)}% and ` +
          `Distribution ${fmt((100 * pull.distribution.median) / limits.median.tcp)}% of loopback TCP.`,
      );
    }
    if (push) {
      const bound = Math.min(limits.median.sha256, limits.median.tcp, limits.median.disk);
      against.push(
        `W1 raw push: Breakwater ${fmt((100 * push.breakwater.median) / bound)}% and ` +
          `Distribution ${fmt((100 * push.distribution.median) / bound)}% of the slowest of ` +
          'sha256, TCP and disk (each push must receive, hash and fsync every byte).',
      );
    }
    if (against.length > 0) lines.push('', ...against);
  }
  const share = report.pushCommitShare;
  if (share && share.breakwater.length > 0) {
    lines.push(
      '',
      'W1 raw push, share of the time spent after the last body byte left the client until the ' +
        `201 (fsync, digest check, rename, metadata): Breakwater ${fmt(100 * median(share.breakwater))}%, ` +
        `Distribution ${fmt(100 * median(share.distribution))}% (medians).`,
    );
  }
  lines.push(...pushCpuSection(report.w2PushCpu, 'W2 image', Number(report.machine.cpus ?? 1), 2));
  // W3 runs one skopeo at a time: its bound is latency more than CPU, but the CPU bound holds.
  lines.push(...pushCpuSection(report.w3PushCpu, 'W3 tag', Number(report.machine.cpus ?? 1), 1.5));
  lines.push(
    '',
    '## Every round',
    '',
    '| Figure | Breakwater | Distribution |',
    '| --- | --- | --- |',
  );
  for (const f of report.figures) {
    lines.push(
      `| ${f.label} (${f.unit}) | ${f.breakwater.rounds.map(fmt).join(', ')} | ${f.distribution.rounds.map(fmt).join(', ')} |`,
    );
  }
  if (r?.available && r.open && r.restricted) {
    lines.push(
      `| Restricted W2 push (images/s; restricted, open) | ${r.restricted.rounds.map(fmt).join(', ')} | ${r.open.rounds.map(fmt).join(', ')} (open) |`,
    );
    if (r.pull) {
      lines.push(
        `| Restricted W2 pull (images/s; restricted, open) | ${r.pull.restricted.rounds.map(fmt).join(', ')} | ${r.pull.open.rounds.map(fmt).join(', ')} (open) |`,
      );
    }
  }
  if (report.notes.length > 0) lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const TARGET_RATIO: Partial<Record<FigureId, number>> = {
  'w1-raw-push': 2,
  'w1-raw-pull': 1,
  'w2-push': 2,
  'w2-pull': 1.5,
  'w3-push': 1.5,
};

/** Horizontal bars of Breakwater / Distribution per figure, with 1x and each target marked. */
export function renderSvg(report: Report): string {
  const rows: Array<{
    label: string;
    ratio: number;
    met: boolean | null;
    target?: number;
    text?: string;
  }> = report.figures.map((f) => ({
    label: f.label,
    ratio: f.ratio,
    met: f.met,
    ...(TARGET_RATIO[f.id] !== undefined ? { target: TARGET_RATIO[f.id] } : {}),
  }));
  if (report.restricted) {
    rows.push(
      report.restricted.available
        ? {
            label: 'Restricted W2 push (restricted / open)',
            ratio: report.restricted.ratio ?? Number.NaN,
            met: report.restricted.met ?? null,
            target: 0.9,
          }
        : {
            label: 'Restricted W2 push (restricted / open)',
            ratio: Number.NaN,
            met: null,
            text: report.restricted.reason ?? 'not available',
          },
    );
  }
  const left = 290;
  const plot = 420;
  const right = 70;
  const rowHeight = 30;
  const top = 56;
  const height = top + rows.length * rowHeight + 40;
  const width = left + plot + right;
  const finite = rows.map((r) => r.ratio).filter((v) => Number.isFinite(v));
  const max = Math.max(2.5, Math.ceil(Math.max(0, ...finite) * 2) / 2);
  const x = (value: number) => left + (Math.min(value, max) / max) * plot;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">Breakwater / Distribution (median of ${report.options.rounds} rounds, ${escapeXml(report.startedAt.slice(0, 10))})</text>`,
    `<text x="${width / 2}" y="38" text-anchor="middle" fill="#555">bar: ratio (right of 1x = Breakwater better, except peak RSS); tick: target; green met, red missed, grey no target</text>`,
  ];
  for (let tick = 0; tick <= max + 1e-9; tick += 0.5) {
    const tx = x(tick);
    out.push(
      `<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${top + rows.length * rowHeight}" stroke="${tick === 1 ? '#000' : '#ddd'}" stroke-width="${tick === 1 ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${top + rows.length * rowHeight + 16}" text-anchor="middle" fill="#555">${tick}x</text>`,
    );
  }
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    out.push(
      `<text x="${left - 8}" y="${y + rowHeight / 2 + 4}" text-anchor="end">${escapeXml(row.label)}</text>`,
    );
    if (!Number.isFinite(row.ratio)) {
      out.push(
        `<text x="${left + 6}" y="${y + rowHeight / 2 + 4}" fill="#777" font-style="italic" stroke="#fff" stroke-width="3" paint-order="stroke">${escapeXml(row.text ?? 'no data')}</text>`,
      );
      return;
    }
    const color = row.met === true ? '#2e7d32' : row.met === false ? '#c62828' : '#78909c';
    out.push(
      `<rect x="${left}" y="${y + 6}" width="${Math.max(1, x(row.ratio) - left)}" height="${rowHeight - 12}" fill="${color}"/>`,
      `<text x="${x(row.ratio) + 4}" y="${y + rowHeight / 2 + 4}" stroke="#fff" stroke-width="3" paint-order="stroke">${row.ratio.toFixed(2)}x</text>`,
    );
    if (row.target !== undefined) {
      const tx = x(row.target);
      out.push(
        `<line x1="${tx}" y1="${y + 2}" x2="${tx}" y2="${y + rowHeight - 2}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`,
      );
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * Where a push's CPU goes, and what that allows: with `cores` busy, a rate can be no more than
 * cores x 1000 / (server + skopeo milliseconds per item), whatever the server does.
 */
function pushCpuSection(
  cpu: Record<ServerKind, PushCpu[]> | undefined,
  item: string,
  cores: number,
  target: number,
): string[] {
  if (!cpu || cpu.breakwater.length === 0 || cpu.distribution.length === 0) return [];
  const of = (kind: ServerKind) => ({
    server: median(cpu[kind].map((c) => c.server)),
    clients: median(cpu[kind].map((c) => c.clients)),
  });
  const ours = of('breakwater');
  const theirs = of('distribution');
  const ceiling = (c: { server: number; clients: number }) =>
    (cores * 1000) / (c.server + c.clients);
  // For `target` times Distribution's rate, at best: server + skopeo <= theirs / target.
  const budget = (theirs.server + theirs.clients) / target - ours.clients;
  return [
    '',
    `## CPU per ${item} pushed (medians)`,
    '',
    `| Server | server ms | skopeo ms | total ms | ceiling on ${cores} busy core(s) (per s) |`,
    '| --- | ---: | ---: | ---: | ---: |',
    `| Breakwater | ${fmt(ours.server)} | ${fmt(ours.clients)} | ${fmt(ours.server + ours.clients)} | ${fmt(ceiling(ours))} |`,
    `| Distribution | ${fmt(theirs.server)} | ${fmt(theirs.clients)} | ${fmt(theirs.server + theirs.clients)} | ${fmt(ceiling(theirs))} |`,
    '',
    `For ${target}x Distribution's rate the server could use at most ` +
      `${fmt(Math.max(budget, 0))} ms of CPU per ${item.split(' ')[1]} (Distribution's total ` +
      `divided by ${target}, less skopeo's own ${fmt(ours.clients)} ms), if nothing else ` +
      `limited it; it used ${fmt(ours.server)} ms.`,
  ];
}
