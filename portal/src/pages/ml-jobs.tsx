/**
 * Machine learning: the workspaces in the principal's subscriptions (with the identity their jobs
 * pull images with); a workspace's command jobs with their status, newest first; submit a job
 * (command and environment); a job's log, followed while it runs, its error in words, and Cancel.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  arm,
  errorText,
  formatTime,
  groupOf,
  listResourcesOfType,
  ML_API,
  type ListedResource,
} from '../api.js';
import { ErrorAlert } from '../error-alert.js';
import { HeadWithActions, DisclosureButton } from '../table-parts.js';

const WORKSPACE_TYPE = 'Microsoft.MachineLearningServices/workspaces';
const TERMINAL = new Set(['Completed', 'Failed', 'Canceled']);

interface Job {
  id: string;
  name: string;
  properties: {
    status: string;
    startTime?: string;
    endTime?: string;
    command: string;
    environmentId: string;
    exitCode?: number;
    error?: { code: string; message: string };
  };
}

/** Which identity a workspace's jobs pull with, in words. */
function pullsWith(workspace: ListedResource): string {
  const type = workspace.identity?.type ?? 'None';
  if (type.includes('UserAssigned'))
    return `user-assigned ${Object.keys(workspace.identity?.userAssignedIdentities ?? {})
      .map((id) => id.split('/').pop())
      .join(', ')}`;
  return type.includes('SystemAssigned') ? 'system-assigned identity' : 'no identity';
}

export function MlJobs() {
  const [workspaces, setWorkspaces] = useState<ListedResource[]>();
  const [open, setOpen] = useState<string>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    listResourcesOfType(WORKSPACE_TYPE)
      .then(setWorkspaces)
      .catch((e: unknown) => setError(errorText(e)));
  }, []);

  const shown = workspaces?.find((w) => w.id === open);
  return (
    <section aria-labelledby="ml-title">
      <h1 id="ml-title">Machine learning</h1>
      <ErrorAlert text={error} />
      {workspaces === undefined ? (
        <p>Loading…</p>
      ) : workspaces.length === 0 ? (
        <p>No workspaces. Create one through the management API (az ml workspace create).</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Workspace</th>
              <th scope="col">Resource group</th>
              <th scope="col">Jobs pull images with</th>
            </tr>
          </thead>
          <tbody>
            {workspaces.map((w) => (
              <tr key={w.id}>
                <td>
                  <DisclosureButton id={w.id} open={open} setOpen={setOpen}>
                    {w.name}
                  </DisclosureButton>
                </td>
                <td>{groupOf(w.id)}</td>
                <td>{pullsWith(w)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown && <Jobs key={shown.id} workspace={shown} />}
    </section>
  );
}

function Jobs({ workspace }: { workspace: ListedResource }) {
  const [jobs, setJobs] = useState<Job[]>();
  const [open, setOpen] = useState<string>();
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<string>();

  async function load() {
    try {
      const { value } = await arm<{ value: Job[] }>('GET', `${workspace.id}/jobs`, ML_API);
      // Not started yet first, then the latest started.
      setJobs(
        value.sort((a, b) =>
          (b.properties.startTime ?? '~').localeCompare(a.properties.startTime ?? '~'),
        ),
      );
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);
  useEffect(() => {
    if (!jobs?.some((j) => !TERMINAL.has(j.properties.status))) return;
    const timer = setTimeout(() => void load(), 1000);
    return () => clearTimeout(timer);
  }, [jobs]);

  async function cancel(job: Job) {
    try {
      await arm('POST', `${job.id}/cancel`, ML_API);
      setStatus(`Asked job ${job.name} to stop.`);
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  }

  const shown = jobs?.find((j) => j.id === open);
  return (
    <section aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs in {workspace.name}</h2>
      <ErrorAlert text={error} />
      <p role="status" class="status">
        {status}
      </p>
      {jobs && jobs.length === 0 && <p>No jobs yet.</p>}
      {jobs && jobs.length > 0 && (
        <table>
          <HeadWithActions columns={['Job', 'Status', 'Environment', 'Started', 'Ended']} />
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id}>
                <td>
                  <DisclosureButton id={j.id} open={open} setOpen={setOpen}>
                    {j.name}
                  </DisclosureButton>
                </td>
                <td>{j.properties.status}</td>
                <td>
                  <code>{j.properties.environmentId}</code>
                </td>
                <td>{j.properties.startTime ? formatTime(j.properties.startTime) : ''}</td>
                <td>{j.properties.endTime ? formatTime(j.properties.endTime) : ''}</td>
                <td>
                  {!TERMINAL.has(j.properties.status) && (
                    <button
                      type="button"
                      aria-label={`Cancel job ${j.name}`}
                      onClick={() => void cancel(j)}
                    >
                      Cancel
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown && <JobLog key={shown.id} job={shown} />}
      <SubmitJob
        workspace={workspace}
        onSubmitted={(name) => {
          setStatus(`Submitted job ${name}.`);
          setOpen(`${workspace.id}/jobs/${name}`);
          void load();
        }}
      />
    </section>
  );
}

/** The job's log, read again each time the job list refreshes while the job runs. */
function JobLog({ job }: { job: Job }) {
  const [log, setLog] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    arm<{ content: string }>('GET', `${job.id}/logs`, ML_API)
      .then((r) => setLog(r.content))
      .catch((e: unknown) => setError(errorText(e)));
  }, [job]);
  const p = job.properties;
  return (
    <section aria-labelledby="job-title">
      <h3 id="job-title">
        Job {job.name}: {p.status}
        {p.exitCode !== undefined ? `, exit code ${p.exitCode}` : ''}
      </h3>
      <p>
        Command: <code>{p.command}</code>
      </p>
      {p.error && (
        <p class="error" role="alert">
          {p.error.message}
        </p>
      )}
      <ErrorAlert text={error} />
      <pre class="log" aria-label={`Log of job ${job.name}`} tabIndex={0}>
        {log === undefined ? 'Loading…' : log || '(nothing written yet)'}
      </pre>
    </section>
  );
}

function SubmitJob(props: { workspace: ListedResource; onSubmitted: (name: string) => void }) {
  const [name, setName] = useState('');
  const [environment, setEnvironment] = useState('');
  const [command, setCommand] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await arm('PUT', `${props.workspace.id}/jobs/${encodeURIComponent(name)}`, ML_API, {
        properties: { jobType: 'Command', command, environmentId: environment.trim() },
      });
      setName('');
      props.onSubmitted(name);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby="submit-job-title">
      <h3 id="submit-job-title">Submit a command job</h3>
      <div class="grid">
        <label for="job-name">Job name</label>
        <input
          id="job-name"
          required
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <label for="job-environment">Environment</label>
        <input
          id="job-environment"
          required
          value={environment}
          placeholder="azureml:trainer:1"
          aria-describedby="job-environment-hint"
          onInput={(e) => setEnvironment(e.currentTarget.value)}
        />
        <span id="job-environment-hint" class="hint">
          An environment version of this workspace (azureml:name:version); its image is pulled with
          the workspace's identity.
        </span>
        <label for="job-command">Command</label>
        <input
          id="job-command"
          required
          value={command}
          onInput={(e) => setCommand(e.currentTarget.value)}
        />
      </div>
      <ErrorAlert text={error} />
      <button type="submit" class="primary" disabled={busy}>
        Submit
      </button>
    </form>
  );
}
