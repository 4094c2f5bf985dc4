/**
 * Container instances: the container groups in the principal's subscriptions with their state;
 * create one from an image, pulled with a managed identity the owner chooses (a trusted service's
 * credential, so a restricted registry lets it in only while it allows trusted services); a
 * group's containers with their events and logs; delete a group (asked twice). The create answers
 * only once the image is pulled, so a refused pull is said in place, and nothing is left behind.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  arm,
  CONTAINER_INSTANCE_API,
  errorText,
  formatTime,
  groupOf,
  listResourcesOfType,
  RESOURCES_API,
  type ListedResource,
} from '../api.js';
import { ErrorAlert } from '../error-alert.js';
import { HeadWithActions, DisclosureButton } from '../table-parts.js';

const GROUP_TYPE = 'Microsoft.ContainerInstance/containerGroups';
const IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';
/** States that change by themselves: the page asks again while a group is in one. */
const MOVING = new Set(['Pending', 'Creating', 'Running', 'Repairing']);

interface ContainerView {
  restartCount: number;
  currentState?: { state: string; detailStatus?: string; exitCode?: number; startTime?: string };
  events: { name: string; message: string; type: string; firstTimestamp?: string }[];
}

interface ContainerGroup {
  id: string;
  name: string;
  location: string;
  identity?: { type: string; userAssignedIdentities?: Record<string, unknown> };
  properties: {
    provisioningState: string;
    restartPolicy: string;
    instanceView?: { state: string };
    containers: {
      name: string;
      properties: { image: string; command?: string[]; instanceView?: ContainerView };
    }[];
    imageRegistryCredentials?: { server: string; identity?: string; username?: string }[];
  };
}

function identityName(id: string): string {
  return id.split('/').pop() ?? id;
}

/** How the group pulls its images, in words. */
function pullCredential(group: ContainerGroup): string {
  const credentials = group.properties.imageRegistryCredentials ?? [];
  if (credentials.length === 0) return 'anonymous';
  return credentials
    .map((c) =>
      c.identity
        ? `identity ${c.identity === '[system]' ? 'system-assigned' : identityName(c.identity)}`
        : `user ${c.username ?? ''}`,
    )
    .join(', ');
}

export function ContainerGroups() {
  const [groups, setGroups] = useState<ContainerGroup[]>();
  const [open, setOpen] = useState<string>();
  const [confirming, setConfirming] = useState<string>();
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<string>();

  async function load() {
    try {
      const listed = await listResourcesOfType(GROUP_TYPE);
      setGroups(
        await Promise.all(
          listed.map((g) => arm<ContainerGroup>('GET', g.id, CONTAINER_INSTANCE_API)),
        ),
      );
      setError(undefined);
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);
  useEffect(() => {
    if (!groups?.some((g) => MOVING.has(g.properties.instanceView?.state ?? 'Pending'))) return;
    const timer = setTimeout(() => void load(), 1000);
    return () => clearTimeout(timer);
  }, [groups]);

  async function remove(group: ContainerGroup) {
    try {
      await arm('DELETE', group.id, CONTAINER_INSTANCE_API);
      setStatus(`Deleted container group ${group.name}.`);
      setConfirming(undefined);
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  }

  const shown = groups?.find((g) => g.id === open);
  return (
    <section aria-labelledby="groups-title">
      <h1 id="groups-title">Container instances</h1>
      <ErrorAlert text={error} />
      <p role="status" class="status">
        {status}
      </p>
      {groups === undefined ? (
        <p>Loading…</p>
      ) : groups.length === 0 ? (
        <p>No container groups yet. Create one below.</p>
      ) : (
        <table>
          <HeadWithActions columns={['Name', 'Resource group', 'Image', 'Pulls with', 'State']} />
          <tbody>
            {groups.map((g) => (
              <tr key={g.id}>
                <td>
                  <DisclosureButton id={g.id} open={open} setOpen={setOpen}>
                    {g.name}
                  </DisclosureButton>
                </td>
                <td>{groupOf(g.id)}</td>
                <td>
                  {g.properties.containers.map((c) => (
                    <code key={c.name}>{c.properties.image}</code>
                  ))}
                </td>
                <td>{pullCredential(g)}</td>
                <td>{g.properties.instanceView?.state ?? g.properties.provisioningState}</td>
                <td>
                  {confirming === g.id ? (
                    <span class="confirm">
                      <button type="button" class="danger" onClick={() => void remove(g)}>
                        Delete {g.name} and stop its containers
                      </button>
                      <button type="button" onClick={() => setConfirming(undefined)}>
                        Cancel
                      </button>
                    </span>
                  ) : (
                    <button
                      type="button"
                      aria-label={`Delete container group ${g.name}`}
                      onClick={() => setConfirming(g.id)}
                    >
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown && <GroupDetails key={shown.id} group={shown} />}
      <CreateGroup
        onCreated={(name) => {
          setStatus(`Created container group ${name}.`);
          void load();
        }}
      />
    </section>
  );
}

/** Each container's state, events (pulls, starts, failures) and log. */
function GroupDetails({ group }: { group: ContainerGroup }) {
  return (
    <section aria-labelledby="group-title">
      <h2 id="group-title">{group.name}</h2>
      <p>
        Restart policy {group.properties.restartPolicy}; location {group.location}.
      </p>
      {group.properties.containers.map((c) => {
        const view = c.properties.instanceView;
        const state = view?.currentState;
        return (
          <div key={c.name}>
            <h3>Container {c.name}</h3>
            <p>
              {state
                ? `${state.state}${state.detailStatus ? ` (${state.detailStatus})` : ''}${
                    state.exitCode !== undefined ? `, exit code ${state.exitCode}` : ''
                  }; restarted ${view.restartCount} times`
                : 'Not started yet'}
            </p>
            <table aria-label={`Events of ${c.name}`}>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Type</th>
                  <th scope="col">Message</th>
                  <th scope="col">Time</th>
                </tr>
              </thead>
              <tbody>
                {(view?.events ?? []).map((e, i) => (
                  <tr key={i}>
                    <td>{e.name}</td>
                    <td>{e.type}</td>
                    <td>{e.message}</td>
                    <td>{e.firstTimestamp ? formatTime(e.firstTimestamp) : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <ContainerLog group={group} container={c.name} state={state?.state} />
          </div>
        );
      })}
    </section>
  );
}

function ContainerLog(props: { group: ContainerGroup; container: string; state?: string }) {
  const [log, setLog] = useState<string>();
  const [error, setError] = useState<string>();
  // Read again whenever the container's state changes (the list refreshes while it moves).
  useEffect(() => {
    arm<{ content: string }>(
      'GET',
      `${props.group.id}/containers/${encodeURIComponent(props.container)}/logs`,
      CONTAINER_INSTANCE_API,
    )
      .then((r) => setLog(r.content))
      .catch((e: unknown) => setError(errorText(e)));
  }, [props.state, props.group]);
  return (
    <>
      <h4>Log</h4>
      <ErrorAlert text={error} />
      <pre class="log" aria-label={`Log of container ${props.container}`} tabIndex={0}>
        {log === undefined ? 'Loading…' : log || '(nothing written yet)'}
      </pre>
    </>
  );
}

/** The login server of an image reference (`host/path:tag`), if it names one. */
function loginServerOf(image: string): string | undefined {
  const first = image.split('/')[0]!;
  return image.includes('/') && /[.:]|^localhost$/.test(first) ? first : undefined;
}

function CreateGroup({ onCreated }: { onCreated: (name: string) => void }) {
  const [groups, setGroups] = useState<{ id: string; name: string; location: string }[]>([]);
  const [identities, setIdentities] = useState<ListedResource[]>([]);
  const [resourceGroup, setResourceGroup] = useState('');
  const [name, setName] = useState('');
  const [image, setImage] = useState('');
  const [identity, setIdentity] = useState('');
  const [command, setCommand] = useState('');
  const [restartPolicy, setRestartPolicy] = useState('Never');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    void (async () => {
      try {
        const subscriptions = await arm<{ value: { subscriptionId: string }[] }>(
          'GET',
          '/subscriptions',
          RESOURCES_API,
        );
        const all: { id: string; name: string; location: string }[] = [];
        for (const { subscriptionId } of subscriptions.value) {
          const { value } = await arm<{ value: { id: string; name: string; location: string }[] }>(
            'GET',
            `/subscriptions/${subscriptionId}/resourceGroups`,
            RESOURCES_API,
          );
          all.push(...value);
        }
        setGroups(all);
        setResourceGroup((current) => current || all[0]?.id || '');
        setIdentities(await listResourcesOfType(IDENTITY_TYPE));
      } catch (e) {
        setError(errorText(e));
      }
    })();
  }, []);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const rg = groups.find((g) => g.id === resourceGroup);
    const server = loginServerOf(image.trim());
    try {
      await arm(
        'PUT',
        `${resourceGroup}/providers/${GROUP_TYPE}/${encodeURIComponent(name)}`,
        CONTAINER_INSTANCE_API,
        {
          location: rg?.location,
          ...(identity
            ? { identity: { type: 'UserAssigned', userAssignedIdentities: { [identity]: {} } } }
            : {}),
          properties: {
            osType: 'Linux',
            restartPolicy,
            containers: [
              {
                name,
                properties: {
                  image: image.trim(),
                  ...(command.trim() ? { command: ['/bin/sh', '-c', command.trim()] } : {}),
                  resources: { requests: { cpu: 1, memoryInGB: 1 } },
                },
              },
            ],
            ...(identity && server ? { imageRegistryCredentials: [{ server, identity }] } : {}),
          },
        },
      );
      setName('');
      onCreated(name);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-group-title">
      <h2 id="create-group-title">Create a container group</h2>
      <div class="grid">
        <label for="cg-group">Resource group</label>
        <select
          id="cg-group"
          value={resourceGroup}
          onChange={(e) => setResourceGroup(e.currentTarget.value)}
        >
          {groups.map((g) => (
            <option key={g.id} value={g.id}>
              {g.name}
            </option>
          ))}
        </select>
        <label for="cg-name">Container group name</label>
        <input
          id="cg-name"
          required
          value={name}
          aria-describedby="cg-name-hint"
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <span id="cg-name-hint" class="hint">
          Lower-case letters, digits and dashes; its one container has the same name.
        </span>
        <label for="cg-image">Image</label>
        <input
          id="cg-image"
          required
          value={image}
          placeholder="myregistry.azurecr.localhost/app:v1"
          onInput={(e) => setImage(e.currentTarget.value)}
        />
        <label for="cg-identity">Pull the image with</label>
        <select
          id="cg-identity"
          value={identity}
          aria-describedby="cg-identity-hint"
          onChange={(e) => setIdentity(e.currentTarget.value)}
        >
          <option value="">No credential (a public image)</option>
          {identities.map((i) => (
            <option key={i.id} value={i.id}>
              Managed identity {i.name}
            </option>
          ))}
        </select>
        <span id="cg-identity-hint" class="hint">
          A managed identity needs AcrPull on the registry. A registry that limits public network
          access lets it in only while it allows trusted services.
        </span>
        <label for="cg-command">Command</label>
        <input
          id="cg-command"
          value={command}
          aria-describedby="cg-command-hint"
          onInput={(e) => setCommand(e.currentTarget.value)}
        />
        <span id="cg-command-hint" class="hint">
          Optional, run with /bin/sh -c; empty runs the image's own command.
        </span>
        <label for="cg-restart">Restart policy</label>
        <select
          id="cg-restart"
          value={restartPolicy}
          onChange={(e) => setRestartPolicy(e.currentTarget.value)}
        >
          <option>Always</option>
          <option>OnFailure</option>
          <option>Never</option>
        </select>
      </div>
      <ErrorAlert text={error} />
      <button type="submit" class="primary" disabled={busy || !resourceGroup}>
        {busy ? 'Pulling the image…' : 'Create'}
      </button>
    </form>
  );
}
