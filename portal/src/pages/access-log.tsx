/**
 * Access log: the registry's access decisions (allowed and refused, with the deciding reason)
 * from `accessDecisions`, filtered by result, principal and time, and a chart of allowed vs
 * refused over time drawn as inline SVG (a stacked bar per time slice; no chart library).
 */
import { useEffect, useState } from 'preact/hooks';
import { arm, errorText, formatTime, type AccessDecision } from '../api.js';
import type { RegistryRef } from './registry-blades.js';
import { ErrorAlert } from '../error-alert.js';

interface Filters {
  result: '' | 'allowed' | 'refused';
  principal: string;
  from: string;
  to: string;
  top: string;
}

/** `datetime-local` values are local time; the API takes ISO 8601. */
function isoOf(local: string): string | undefined {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export function AccessLog({ registryRef }: { registryRef: RegistryRef }) {
  const [filters, setFilters] = useState<Filters>({
    result: '',
    principal: '',
    from: '',
    to: '',
    top: '200',
  });
  const [decisions, setDecisions] = useState<AccessDecision[]>();
  const [error, setError] = useState<string>();

  async function load(current: Filters = filters) {
    const query = new URLSearchParams();
    if (current.result) query.set('result', current.result);
    if (current.principal.trim()) query.set('principal', current.principal.trim());
    const from = isoOf(current.from);
    const to = isoOf(current.to);
    if (from) query.set('from', from);
    if (to) query.set('to', to);
    if (current.top) query.set('top', current.top);
    try {
      const { value } = await arm<{ value: AccessDecision[] }>(
        'GET',
        `${registryRef.path}/accessDecisions?${query.toString()}`,
      );
      setDecisions(value);
      setError(undefined);
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);

  const set = (change: Partial<Filters>) => setFilters({ ...filters, ...change });
  return (
    <>
      <form
        class="filters"
        aria-label="Filter access decisions"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label>
          Result
          <select
            name="result"
            value={filters.result}
            onChange={(e) => set({ result: e.currentTarget.value as Filters['result'] })}
          >
            <option value="">Allowed and refused</option>
            <option value="allowed">Allowed</option>
            <option value="refused">Refused</option>
          </select>
        </label>
        <label>
          Principal (object ID)
          <input
            name="principal"
            value={filters.principal}
            onInput={(e) => set({ principal: e.currentTarget.value })}
          />
        </label>
        <label>
          From
          <input
            type="datetime-local"
            name="from"
            value={filters.from}
            onInput={(e) => set({ from: e.currentTarget.value })}
          />
        </label>
        <label>
          To
          <input
            type="datetime-local"
            name="to"
            value={filters.to}
            onInput={(e) => set({ to: e.currentTarget.value })}
          />
        </label>
        <label>
          Show at most
          <select
            name="top"
            value={filters.top}
            onChange={(e) => set({ top: e.currentTarget.value })}
          >
            <option>50</option>
            <option>200</option>
            <option>1000</option>
          </select>
        </label>
        <button type="submit" class="primary">
          Apply
        </button>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </form>
      <ErrorAlert text={error} />
      {decisions && <Chart decisions={decisions} />}
      {decisions && decisions.length === 0 && <p>No access decisions match.</p>}
      {decisions && decisions.length > 0 && (
        <table class="decisions">
          <caption class="visually-hidden">Access decisions, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Result</th>
              <th scope="col">Source</th>
              <th scope="col">Through</th>
              <th scope="col">Operation</th>
              <th scope="col">Principal</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {decisions.map((d) => (
              <tr key={d.id} class={d.result}>
                <td>{formatTime(d.time)}</td>
                <td>
                  <span class={`badge ${d.result}`}>
                    {d.result === 'allowed'
                      ? 'Allowed'
                      : `Refused${d.status ? ` (${d.status})` : ''}`}
                  </span>
                </td>
                <td>
                  <code>{d.source}</code>
                </td>
                <td>{d.door}</td>
                <td>
                  {d.operation}
                  {d.requirement && d.requirement !== d.operation && (
                    <div class="hint">{d.requirement}</div>
                  )}
                </td>
                <td>
                  {d.principal ? (
                    <code>{d.principal}</code>
                  ) : (
                    <span class="hint">not identified</span>
                  )}
                </td>
                <td class="reason">{d.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

const WIDTH = 720;
const HEIGHT = 160;
const SLICES = 24;

function Chart({ decisions }: { decisions: AccessDecision[] }) {
  if (decisions.length === 0) return null;
  const times = decisions.map((d) => Date.parse(d.time));
  const start = Math.min(...times);
  // At least a minute wide, so a burst still spreads over a readable axis.
  const end = Math.max(Math.max(...times), start + 60_000);
  const step = (end - start) / SLICES;
  const slices = Array.from({ length: SLICES }, () => ({ allowed: 0, refused: 0 }));
  decisions.forEach((d, i) => {
    const index = Math.min(SLICES - 1, Math.floor((times[i]! - start) / step));
    slices[index]![d.result] += 1;
  });
  const max = Math.max(1, ...slices.map((s) => s.allowed + s.refused));
  const allowed = decisions.filter((d) => d.result === 'allowed').length;
  const refused = decisions.length - allowed;
  const bar = (WIDTH - 40) / SLICES;
  const scale = (n: number) => (n / max) * (HEIGHT - 30);
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`${allowed} allowed and ${refused} refused between ${formatTime(new Date(start).toISOString())} and ${formatTime(new Date(end).toISOString())}`}
      >
        <line x1="36" y1={HEIGHT - 20} x2={WIDTH} y2={HEIGHT - 20} class="axis" />
        <text x="32" y="14" class="tick" text-anchor="end">
          {max}
        </text>
        <text x="32" y={HEIGHT - 20} class="tick" text-anchor="end">
          0
        </text>
        {slices.map((s, i) => {
          const x = 40 + i * bar;
          const ha = scale(s.allowed);
          const hr = scale(s.refused);
          return (
            <g key={i}>
              <title>{`${formatTime(new Date(start + i * step).toISOString())}: ${s.allowed} allowed, ${s.refused} refused`}</title>
              <rect x={x} y={HEIGHT - 20 - ha} width={bar - 2} height={ha} class="allowed" />
              <rect x={x} y={HEIGHT - 20 - ha - hr} width={bar - 2} height={hr} class="refused" />
            </g>
          );
        })}
        <text x="40" y={HEIGHT - 4} class="tick">
          {formatTime(new Date(start).toISOString())}
        </text>
        <text x={WIDTH} y={HEIGHT - 4} class="tick" text-anchor="end">
          {formatTime(new Date(end).toISOString())}
        </text>
      </svg>
      <figcaption>
        <span class="key allowed" aria-hidden="true" /> Allowed ({allowed})
        <span class="key refused" aria-hidden="true" /> Refused ({refused})
      </figcaption>
    </figure>
  );
}
