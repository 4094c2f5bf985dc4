/**
 * Identity: the registry's own system-assigned identity (on / off, Save), the user-assigned
 * identities attached to it, and the managed identities in the subscription with the roles they
 * hold on this registry, marking the resource types the trusted-services exception admits
 * (container groups, machine learning workspaces; never web apps).
 */
import { useEffect, useState } from 'preact/hooks';
import {
  arm,
  AUTHORIZATION_API,
  errorText,
  RESOURCES_API,
  type ArmIdentity,
  type Registry,
} from '../api.js';
import { ErrorAlert } from '../error-alert.js';

interface Resource {
  id: string;
  name: string;
  type: string;
  identity?: ArmIdentity;
  properties?: { principalId?: string };
}

interface RoleAssignment {
  properties: { roleDefinitionId: string; principalId: string; scope: string };
}

const TRUSTED_TYPES = [
  'microsoft.containerinstance/containergroups',
  'microsoft.machinelearningservices/workspaces',
];
const USER_ASSIGNED = 'Microsoft.ManagedIdentity/userAssignedIdentities';
const MANAGED_IDENTITY_API = '2023-01-31';

const TYPE_LABELS: Record<string, string> = {
  'microsoft.containerinstance/containergroups': 'Container group',
  'microsoft.machinelearningservices/workspaces': 'Machine learning workspace',
  'microsoft.web/sites': 'Web app',
  'microsoft.managedidentity/userassignedidentities': 'User-assigned identity',
  'microsoft.containerregistry/registries': 'Container registry',
};

export function Identity({
  registry,
  reload,
}: {
  registry: Registry;
  reload: () => Promise<Registry | undefined>;
}) {
  const systemOn = registry.identity?.type.includes('SystemAssigned') ?? false;
  const [wanted, setWanted] = useState(systemOn);
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<string>();
  const [resources, setResources] = useState<Resource[]>();
  const [roles, setRoles] = useState<Map<string, string[]>>(new Map());
  const subscription = registry.id.split('/')[2]!;
  const attached = Object.entries(registry.identity?.userAssignedIdentities ?? {});

  useEffect(() => {
    void (async () => {
      try {
        const [listed, assignments, definitions] = await Promise.all([
          arm<{ value: Resource[] }>(
            'GET',
            `/subscriptions/${subscription}/resources`,
            RESOURCES_API,
          ),
          arm<{ value: RoleAssignment[] }>(
            'GET',
            `${registry.id}/providers/Microsoft.Authorization/roleAssignments`,
            AUTHORIZATION_API,
          ),
          arm<{ value: { name: string; properties: { roleName: string } }[] }>(
            'GET',
            `${registry.id}/providers/Microsoft.Authorization/roleDefinitions`,
            AUTHORIZATION_API,
          ),
        ]);
        const names = new Map(
          definitions.value.map((d) => [d.name.toLowerCase(), d.properties.roleName]),
        );
        const byPrincipal = new Map<string, string[]>();
        for (const a of assignments.value) {
          const role = names.get(a.properties.roleDefinitionId.split('/').at(-1)!.toLowerCase());
          const list = byPrincipal.get(a.properties.principalId) ?? [];
          list.push(role ?? 'a custom role');
          byPrincipal.set(a.properties.principalId, list);
        }
        setRoles(byPrincipal);
        // The generic list carries no properties: a user-assigned identity's principal is in its own.
        setResources(
          await Promise.all(
            listed.value
              .filter((r) => r.identity || r.type === USER_ASSIGNED)
              .map((r) =>
                r.type === USER_ASSIGNED && !r.properties?.principalId
                  ? arm<Resource>('GET', r.id, MANAGED_IDENTITY_API)
                  : r,
              ),
          ),
        );
      } catch (e) {
        setError(errorText(e));
      }
    })();
  }, []);

  async function save(event: Event) {
    event.preventDefault();
    setError(undefined);
    try {
      const type = wanted
        ? attached.length
          ? 'SystemAssigned, UserAssigned'
          : 'SystemAssigned'
        : attached.length
          ? 'UserAssigned'
          : 'None';
      await arm('PATCH', registry.id, undefined, { identity: { type } });
      await reload();
      setStatus('Saved.');
    } catch (e) {
      setError(errorText(e));
    }
  }

  const principalOf = (r: Resource) => r.identity?.principalId ?? r.properties?.principalId;
  return (
    <>
      <ErrorAlert text={error} />
      <form onSubmit={save}>
        <fieldset>
          <legend>System assigned identity of this registry</legend>
          <label class="choice">
            <input
              type="checkbox"
              checked={wanted}
              onChange={(e) => {
                setWanted(e.currentTarget.checked);
                setStatus(undefined);
              }}
            />
            Enabled
          </label>
          <p class="hint">
            {systemOn
              ? `Principal ID: ${registry.identity?.principalId}`
              : 'Off: the registry has no identity of its own.'}
            {systemOn &&
              !wanted &&
              ' Turning it off deletes this principal and its role assignments stop applying.'}
          </p>
          <div class="actions">
            <button type="submit" class="primary" disabled={wanted === systemOn}>
              Save
            </button>
            <span role="status" class="status">
              {status}
            </span>
          </div>
        </fieldset>
      </form>
      <h3>User assigned identities attached</h3>
      {attached.length === 0 ? (
        <p>None.</p>
      ) : (
        <ul>
          {attached.map(([id, value]) => (
            <li key={id}>
              {id.split('/').at(-1)} <code>{value.principalId}</code>
            </li>
          ))}
        </ul>
      )}
      <h3>Managed identities in this subscription</h3>
      <p class="hint">
        While trusted services are allowed (Networking), a container group or machine learning
        workspace whose identity holds a role on this registry gets in whatever the network rules
        say.
      </p>
      {resources && resources.length === 0 && <p>No managed identities.</p>}
      {resources && resources.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Resource</th>
              <th scope="col">Kind</th>
              <th scope="col">Principal ID</th>
              <th scope="col">Roles on this registry</th>
              <th scope="col">Trusted service</th>
            </tr>
          </thead>
          <tbody>
            {resources.map((r) => {
              const principal = principalOf(r);
              const held = principal ? (roles.get(principal) ?? []) : [];
              return (
                <tr key={r.id}>
                  <td>{r.name}</td>
                  <td>{TYPE_LABELS[r.type.toLowerCase()] ?? r.type}</td>
                  <td>
                    <code>{principal ?? '—'}</code>
                  </td>
                  <td>{held.length ? held.join(', ') : 'none'}</td>
                  <td>{TRUSTED_TYPES.includes(r.type.toLowerCase()) ? 'Yes' : 'No'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
