/**
 * Tasks: the registry's tasks (run one now), its runs newest first, and a run's log, followed
 * live while the run is active (the log endpoint answers from an offset and says when the run
 * is complete, so the blade asks for what is new once a second).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { arm, armText, errorText, formatTime, TASKS_API } from '../api.js';
import type { RegistryRef } from './registry-blades.js';
import { ErrorAlert } from '../error-alert.js';
import { HeadWithActions, DisclosureButton } from '../table-parts.js';

interface Task {
  id: string;
  name: string;
  identity?: { type: string; principalId?: string };
  properties: {
    status: string;
    platform?: { os?: string; architecture?: string };
    step?: { type?: string };
  };
}

interface Run {
  id: string;
  name: string;
  properties: {
    runId: string;
    status: string;
    runType: string;
    task?: string;
    createTime: string;
    startTime?: string;
    finishTime?: string;
    runErrorMessage?: string;
  };
}

const ACTIVE = new Set(['Queued', 'Started', 'Running']);

function duration(run: Run): string {
  const { startTime, finishTime } = run.properties;
  if (!startTime) return '';
  const ms = (finishTime ? Date.parse(finishTime) : Date.now()) - Date.parse(startTime);
  return `${Math.max(0, Math.round(ms / 1000))} s`;
}

export function Tasks({ registryRef }: { registryRef: RegistryRef }) {
  const [tasks, setTasks] = useState<Task[]>();
  const [runs, setRuns] = useState<Run[]>();
  const [open, setOpen] = useState<string>();
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<string>();

  async function load() {
    try {
      const [t, r] = await Promise.all([
        arm<{ value: Task[] }>('GET', `${registryRef.path}/tasks`, TASKS_API),
        arm<{ value: Run[] }>('GET', `${registryRef.path}/runs?$top=50`, TASKS_API),
      ]);
      setTasks(t.value);
      setRuns(r.value);
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);
  // While any run is active, its status and duration keep changing: refresh the list.
  useEffect(() => {
    if (!runs?.some((r) => ACTIVE.has(r.properties.status))) return;
    const timer = setTimeout(() => void load(), 1000);
    return () => clearTimeout(timer);
  }, [runs]);

  async function runNow(task: Task) {
    setError(undefined);
    try {
      const run = await arm<Run>('POST', `${registryRef.path}/scheduleRun`, TASKS_API, {
        type: 'TaskRunRequest',
        taskId: task.id,
      });
      setStatus(`Queued run ${run.properties.runId} of ${task.name}.`);
      setOpen(run.properties.runId);
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <>
      <ErrorAlert text={error} />
      <p role="status" class="status">
        {status}
      </p>
      <h3>Defined tasks</h3>
      {tasks && tasks.length === 0 && <p>No tasks.</p>}
      {tasks && tasks.length > 0 && (
        <table>
          <HeadWithActions columns={['Task', 'Status', 'Step', 'Platform', 'Identity']} />
          <tbody>
            {tasks.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>{t.properties.status}</td>
                <td>{t.properties.step?.type}</td>
                <td>
                  {t.properties.platform?.os}/{t.properties.platform?.architecture}
                </td>
                <td>{t.identity?.type ?? 'None'}</td>
                <td>
                  <button
                    type="button"
                    aria-label={`Run ${t.name} now`}
                    disabled={t.properties.status === 'Disabled'}
                    onClick={() => void runNow(t)}
                  >
                    Run now
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Runs</h3>
      {runs && runs.length === 0 && <p>No runs yet.</p>}
      {runs && runs.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Task</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <DisclosureButton
                    id={r.properties.runId}
                    open={open}
                    setOpen={setOpen}
                    label={`Log of run ${r.properties.runId}`}
                  >
                    {r.properties.runId}
                  </DisclosureButton>
                </td>
                <td>{r.properties.task ?? '—'}</td>
                <td>{r.properties.runType}</td>
                <td>
                  {r.properties.status}
                  {r.properties.runErrorMessage && (
                    <div class="hint">{r.properties.runErrorMessage}</div>
                  )}
                </td>
                <td>{formatTime(r.properties.createTime)}</td>
                <td>{duration(r)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open && <RunLog key={open} registryRef={registryRef} runId={open} />}
    </>
  );
}

function RunLog({ registryRef, runId }: { registryRef: RegistryRef; runId: string }) {
  const [log, setLog] = useState('');
  const [complete, setComplete] = useState<string>();
  const [error, setError] = useState<string>();
  const offset = useRef(0);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const { text, headers } = await armText(
          `${registryRef.path}/runs/${encodeURIComponent(runId)}/log?offset=${offset.current}`,
          TASKS_API,
        );
        if (stopped) return;
        offset.current += new TextEncoder().encode(text).length;
        if (text) setLog((current) => current + text);
        const done = headers.get('x-ms-meta-Complete');
        if (done) setComplete(done);
        else timer = setTimeout(() => void poll(), 1000);
      } catch (e) {
        if (!stopped) setError(errorText(e));
      }
    };
    void poll();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, []);

  return (
    <section aria-labelledby="log-title">
      <h3 id="log-title">Log of run {runId}</h3>
      <ErrorAlert text={error} />
      <p role="status" class="status">
        {complete ? `Run complete: ${complete}.` : 'Following the log while the run is active…'}
      </p>
      <pre class="log" tabIndex={0} aria-label={`Log of run ${runId}`}>
        {log || '(no output yet)'}
      </pre>
    </section>
  );
}
