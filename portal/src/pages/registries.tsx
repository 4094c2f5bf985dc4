/**
 * Container registries: every registry the signed-in principal may read, across its
 * subscriptions; create one (name, resource group, SKU); delete one (asked twice).
 */
import { useEffect, useState } from 'preact/hooks';
import { arm, errorText, groupOf, registryPath, RESOURCES_API, type Registry } from '../api.js';
import { ErrorAlert } from '../error-alert.js';
import { HeadWithActions } from '../table-parts.js';

interface Subscription {
  subscriptionId: string;
  displayName: string;
}

interface Listed {
  registry: Registry;
  subscription: string;
  group: string;
}

export function Registries() {
  const [subscriptions, setSubscriptions] = useState<Subscription[]>([]);
  const [registries, setRegistries] = useState<Listed[]>();
  const [error, setError] = useState<string>();
  const [confirming, setConfirming] = useState<string>();
  const [status, setStatus] = useState<string>();

  async function load() {
    try {
      const subs = (await arm<{ value: Subscription[] }>('GET', '/subscriptions', RESOURCES_API))
        .value;
      setSubscriptions(subs);
      const listed: Listed[] = [];
      for (const sub of subs) {
        const { value } = await arm<{ value: Registry[] }>(
          'GET',
          `/subscriptions/${sub.subscriptionId}/providers/Microsoft.ContainerRegistry/registries`,
        );
        for (const registry of value) {
          listed.push({ registry, subscription: sub.subscriptionId, group: groupOf(registry.id) });
        }
      }
      listed.sort((a, b) => a.registry.name.localeCompare(b.registry.name));
      setRegistries(listed);
      setError(undefined);
    } catch (e) {
      setError(errorText(e));
    }
  }

  useEffect(() => {
    void load();
  }, []);

  async function remove(item: Listed) {
    try {
      setStatus(`Deleting ${item.registry.name}…`);
      await arm('DELETE', registryPath(item.subscription, item.group, item.registry.name));
      setStatus(`Deleted registry ${item.registry.name}.`);
      setConfirming(undefined);
      await load();
    } catch (e) {
      setStatus(undefined);
      setError(errorText(e));
    }
  }

  return (
    <section aria-labelledby="registries-title">
      <h1 id="registries-title">Container registries</h1>
      <ErrorAlert text={error} />
      <p role="status" class="status">
        {status}
      </p>
      {registries === undefined ? (
        <p>Loading…</p>
      ) : registries.length === 0 ? (
        <p>No registries yet. Create one below.</p>
      ) : (
        <table>
          <HeadWithActions
            columns={['Name', 'Login server', 'Resource group', 'SKU', 'Public network access']}
          />
          <tbody>
            {registries.map((item) => (
              <tr key={item.registry.id}>
                <td>
                  <a
                    href={`#/registry/${item.subscription}/${item.group}/${item.registry.name}/overview`}
                  >
                    {item.registry.name}
                  </a>
                </td>
                <td>
                  <code>{item.registry.properties.loginServer}</code>
                </td>
                <td>{item.group}</td>
                <td>{item.registry.sku.name}</td>
                <td>{networkSummary(item.registry)}</td>
                <td>
                  {confirming === item.registry.id ? (
                    <span class="confirm">
                      <button type="button" class="danger" onClick={() => void remove(item)}>
                        Delete {item.registry.name} and everything in it
                      </button>
                      <button type="button" onClick={() => setConfirming(undefined)}>
                        Cancel
                      </button>
                    </span>
                  ) : (
                    <button
                      type="button"
                      aria-label={`Delete registry ${item.registry.name}`}
                      onClick={() => setConfirming(item.registry.id)}
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
      <CreateRegistry
        subscriptions={subscriptions}
        onCreated={(name) => {
          setStatus(`Created registry ${name}.`);
          void load();
        }}
      />
    </section>
  );
}

export function networkSummary(registry: Registry): string {
  const p = registry.properties;
  if (p.publicNetworkAccess === 'Disabled') return 'Disabled';
  return p.networkRuleSet?.defaultAction === 'Deny' ? 'Selected networks' : 'All networks';
}

function CreateRegistry({
  subscriptions,
  onCreated,
}: {
  subscriptions: Subscription[];
  onCreated: (name: string) => void;
}) {
  const [subscription, setSubscription] = useState('');
  const [groups, setGroups] = useState<string[]>([]);
  const [group, setGroup] = useState('');
  const [name, setName] = useState('');
  const [sku, setSku] = useState('Premium');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const chosen = subscription || subscriptions[0]?.subscriptionId || '';

  useEffect(() => {
    if (!chosen) return;
    arm<{ value: { name: string }[] }>(
      'GET',
      `/subscriptions/${chosen}/resourceGroups`,
      RESOURCES_API,
    )
      .then(({ value }) => {
        setGroups(value.map((g) => g.name));
        setGroup((current) => current || value[0]?.name || '');
      })
      .catch((e: unknown) => setError(errorText(e)));
  }, [chosen]);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await arm('PUT', registryPath(chosen, group, name), undefined, { sku: { name: sku } });
      setName('');
      onCreated(name);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">Create a registry</h2>
      <div class="grid">
        {subscriptions.length > 1 && (
          <>
            <label for="create-subscription">Subscription</label>
            <select
              id="create-subscription"
              value={chosen}
              onChange={(e) => setSubscription(e.currentTarget.value)}
            >
              {subscriptions.map((s) => (
                <option key={s.subscriptionId} value={s.subscriptionId}>
                  {s.displayName}
                </option>
              ))}
            </select>
          </>
        )}
        <label for="create-group">Resource group</label>
        <select id="create-group" value={group} onChange={(e) => setGroup(e.currentTarget.value)}>
          {groups.map((g) => (
            <option key={g} value={g}>
              {g}
            </option>
          ))}
        </select>
        <label for="create-name">Registry name</label>
        <input
          id="create-name"
          required
          value={name}
          aria-describedby="create-name-hint"
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <span id="create-name-hint" class="hint">
          5 to 50 letters and digits; the login server is derived from it.
        </span>
        <label for="create-sku">SKU</label>
        <select id="create-sku" value={sku} onChange={(e) => setSku(e.currentTarget.value)}>
          <option>Basic</option>
          <option>Standard</option>
          <option>Premium</option>
        </select>
        <span class="hint">Network rules and private endpoints need Premium.</span>
      </div>
      <ErrorAlert text={error} />
      <button type="submit" class="primary" disabled={busy || !group}>
        Create
      </button>
    </form>
  );
}
