/**
 * Access control (IAM): role assignments that apply to the registry (inherited ones from the
 * subscription or resource group included, marked as such); add one by principal object ID and
 * built-in role; remove one assigned at this registry.
 */
import { useEffect, useState } from 'preact/hooks';
import { arm, AUTHORIZATION_API, errorText, type Registry } from '../api.js';
import { ErrorAlert } from '../error-alert.js';
import { HeadWithActions } from '../table-parts.js';

interface RoleDefinition {
  id: string;
  name: string;
  properties: { roleName: string; description?: string };
}

interface RoleAssignment {
  id: string;
  name: string;
  properties: { roleDefinitionId: string; principalId: string; scope: string };
}

export function AccessControl({ registry }: { registry: Registry }) {
  const [roles, setRoles] = useState<RoleDefinition[]>([]);
  const [assignments, setAssignments] = useState<RoleAssignment[]>();
  const [principal, setPrincipal] = useState('');
  const [role, setRole] = useState('');
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<string>();
  const base = `${registry.id}/providers/Microsoft.Authorization`;

  async function load() {
    try {
      const [definitions, listed] = await Promise.all([
        arm<{ value: RoleDefinition[] }>('GET', `${base}/roleDefinitions`, AUTHORIZATION_API),
        arm<{ value: RoleAssignment[] }>('GET', `${base}/roleAssignments`, AUTHORIZATION_API),
      ]);
      setRoles(definitions.value);
      setRole(
        (current) =>
          current || (definitions.value.find((r) => r.properties.roleName === 'AcrPull')?.id ?? ''),
      );
      setAssignments(listed.value);
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);

  const roleName = (id: string) =>
    roles.find((r) => r.name.toLowerCase() === id.split('/').at(-1)!.toLowerCase())?.properties
      .roleName ?? id.split('/').at(-1);

  async function add(event: Event) {
    event.preventDefault();
    setError(undefined);
    try {
      await arm('PUT', `${base}/roleAssignments/${crypto.randomUUID()}`, AUTHORIZATION_API, {
        properties: { roleDefinitionId: role, principalId: principal.trim() },
      });
      setStatus(`Assigned ${roleName(role)} to ${principal.trim()}.`);
      setPrincipal('');
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  }

  async function remove(assignment: RoleAssignment) {
    setError(undefined);
    try {
      await arm('DELETE', assignment.id, AUTHORIZATION_API);
      setStatus(
        `Removed ${roleName(assignment.properties.roleDefinitionId)} from ${assignment.properties.principalId}.`,
      );
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
      {assignments && (
        <table>
          <HeadWithActions columns={['Principal (object ID)', 'Role', 'Scope']} />
          <tbody>
            {assignments.map((a) => {
              const here = a.properties.scope.toLowerCase() === registry.id.toLowerCase();
              return (
                <tr key={a.id}>
                  <td>
                    <code>{a.properties.principalId}</code>
                  </td>
                  <td>{roleName(a.properties.roleDefinitionId)}</td>
                  <td>{here ? 'This registry' : `Inherited from ${a.properties.scope}`}</td>
                  <td>
                    {here && (
                      <button
                        type="button"
                        aria-label={`Remove ${roleName(a.properties.roleDefinitionId)} from ${a.properties.principalId}`}
                        onClick={() => void remove(a)}
                      >
                        Remove
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <form class="card" onSubmit={add} aria-labelledby="add-role-title">
        <h3 id="add-role-title">Add role assignment</h3>
        <div class="grid">
          <label for="role">Role</label>
          <select id="role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            {roles.map((r) => (
              <option key={r.id} value={r.id}>
                {r.properties.roleName}
              </option>
            ))}
          </select>
          <label for="principal">Principal object ID</label>
          <input
            id="principal"
            required
            value={principal}
            onInput={(e) => setPrincipal(e.currentTarget.value)}
          />
        </div>
        <button type="submit" class="primary">
          Assign
        </button>
      </form>
    </>
  );
}
